"""What a person reads after `pipeline run` and `serve status` (issue 13, item 17)."""

import re

import pytest

from tests.test_pipeline import small_config  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow


def test_pipeline_says_the_server_keeps_running_and_status_shows_whole_values(
        cli, small_config, monkeypatch):  # noqa: F811
    monkeypatch.setenv("COLUMNS", "60")  # narrower than the log's path
    try:
        assert cli("infra", "up").exit_code == 0
        assert cli("features", "build").exit_code == 0
        assert cli("train", "submit", "--force-promote").exit_code == 0
        run = cli("pipeline", "run")
        assert run.exit_code == 0, run.stderr
        url = re.search(r"next-week forecasts from (\S+)", run.stdout).group(1)
        assert "P10" in run.stdout and "P90" in run.stdout  # the interval beside the forecast
        assert (f"the model server keeps running at {url} (model v1): `salesops serve stop` "
                "stops it") in run.stderr
        record = cli("serve", "status", "--json").json()
        status = cli("serve", "status")
        assert status.exit_code == 0
        assert f" {record['pid']} " in status.stdout  # not 17,726
        assert "…" not in status.stdout
        assert record["log"] in re.sub(r"[│\s]", "", status.stdout)
    finally:
        cli("serve", "stop")
