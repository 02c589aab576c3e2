"""`drift --retrain` writes (a model version, maybe a champion): it holds the workspace lock."""

import time

from tests.helpers import holding_lock


def test_drift_retrain_waits_for_no_one_and_says_who_holds_the_workspace(cli, workspace):
    with holding_lock(workspace, "salesops features build") as holder:
        started = time.perf_counter()
        busy = cli("drift", "--retrain")
        assert busy.exit_code == 75, busy.stderr
        assert f"pid {holder.pid}" in busy.stderr and "salesops features build" in busy.stderr
        assert time.perf_counter() - started < 10
        assert cli("drift").exit_code == 4  # reading is not refused: no feature store here
