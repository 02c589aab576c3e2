"""`features build --append-weeks N` in a workspace that holds no build (a Job's pod: an
emptyDir) appends to the build the offline store holds (issue 15, defect 7). On the
`postgres` profile that build's manifest is the server's; its data is generated again from
the manifest, which names it fully, so the result equals the same appends made in one
workspace. A workspace whose files are behind the server's build does the same."""

from __future__ import annotations

import pytest

from tests.conftest import SMALL
from tests.features.test_postgres_profile import _use_postgres, database  # noqa: F401

pytestmark = pytest.mark.slow


def _build(cli, *args: str) -> dict:
    result = cli("--json", "features", "build", *args)
    assert result.exit_code == 0, result.stderr
    return result.json()


def test_an_append_from_an_empty_workspace_continues_the_servers_build(
        cli, tmp_path, monkeypatch, database):  # noqa: F811
    # the reference: every step in one embedded workspace
    monkeypatch.setenv("SALESOPS_PROJECT__WORKSPACE", str(tmp_path / "embedded"))
    assert cli("infra", "up").exit_code == 0
    _build(cli, *SMALL)
    _build(cli, "--append-weeks", "2", "--shift", "temperature=+12")
    one_place = _build(cli, "--append-weeks", "1")
    behind_too = _build(cli, "--append-weeks", "1")

    _use_postgres(monkeypatch, database)
    monkeypatch.setenv("SALESOPS_PROJECT__WORKSPACE", str(tmp_path / "laptop"))
    assert cli("infra", "up").exit_code == 0
    _build(cli, *SMALL)
    _build(cli, "--append-weeks", "2", "--shift", "temperature=+12")

    monkeypatch.setenv("SALESOPS_PROJECT__WORKSPACE", str(tmp_path / "pod"))
    assert cli("infra", "up").exit_code == 0  # what the Job's init container does
    in_pod = _build(cli, "--append-weeks", "1")
    assert in_pod["weeks"] == 90 + 2 + 1 and in_pod["appended_weeks"] == 1
    assert in_pod["fingerprint"] == one_place["fingerprint"]

    # the laptop's files are those of the build before the pod's: it appends to the server's
    monkeypatch.setenv("SALESOPS_PROJECT__WORKSPACE", str(tmp_path / "laptop"))
    behind = _build(cli, "--append-weeks", "1")
    assert behind["weeks"] == 90 + 2 + 1 + 1
    assert behind["fingerprint"] == behind_too["fingerprint"]
