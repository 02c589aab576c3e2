"""`drift --retrain` writes (a model version, maybe a champion): it holds the workspace lock."""

import subprocess
import sys
import time

HOLD = """
import sys, time
from salesops.workspace import Workspace, locked
with locked(Workspace(__import__("pathlib").Path(sys.argv[1])), "salesops features build"):
    print("held", flush=True)
    time.sleep(60)
"""


def test_drift_retrain_waits_for_no_one_and_says_who_holds_the_workspace(cli, workspace):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(workspace)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        started = time.perf_counter()
        busy = cli("drift", "--retrain")
        assert busy.exit_code == 75, busy.stderr
        assert f"pid {holder.pid}" in busy.stderr and "salesops features build" in busy.stderr
        assert time.perf_counter() - started < 10
        assert cli("drift").exit_code == 4  # reading is not refused: no feature store here
    finally:
        holder.kill()
        holder.wait()
