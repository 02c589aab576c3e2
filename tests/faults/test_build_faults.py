"""`features build` killed at any instant, two commands at once, a read-only workspace: the
previous good build stays whole and the next command works.

Each kill is a real SIGKILL of a real `salesops` process: at a named point
(`salesops.faults.checkpoint`, deterministic) or after a delay (anywhere at all).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from salesops.workspace import Workspace
from tests.conftest import SMALL
from tests.helpers import SALESOPS, run_salesops, salesops_env

#: named points between a build's first write and its switch (the wall-clock kills below
#: land anywhere else; "build.after_files" and "build.after_apply" are left to them to keep
#: the suite's time: each point is a build, a killed build and an append)
POINTS = ["build.inside_online_write", "build.before_switch"]
BUILD_TIMEOUT_S = 180


def salesops(workspace: Path, *args: str, fault: str | None = None,
             timeout: float = BUILD_TIMEOUT_S) -> subprocess.CompletedProcess:
    return run_salesops(workspace, "-q", *args, fault=fault, timeout=timeout)


def _env(workspace: Path, fault: str | None = None) -> dict[str, str]:
    return salesops_env(workspace, fault)


def state(workspace: Path) -> dict:
    """What a later command reads: the current generation's manifest, every data file's
    content, and the online rows (read with sqlite3, as stored)."""
    ws = Workspace(workspace)
    current = ws.current.resolve()
    files = {str(p.relative_to(current)): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(current.rglob("*.parquet"))}
    with sqlite3.connect(f"file:{ws.online_db}?mode=ro", uri=True) as conn:
        tables = [row[0] for row in conn.execute(
            "select name from sqlite_master where type = 'table' order by name")]
        online = {table: conn.execute(f'select entity_key, feature_name, value, event_ts from '
                                      f'"{table}" order by 1, 2').fetchall() for table in tables}
    return {"generation": current.name, "manifest": ws.read_json(ws.build_manifest),
            "files": files, "online": online}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A workspace with one complete build (seed 1)."""
    workspace = tmp_path_factory.mktemp("faults") / "ws"
    for args in (["infra", "up"], ["features", "build", *SMALL, "--seed", "1"]):
        result = salesops(workspace, *args)
        assert result.returncode == 0, result.stderr
    return workspace


@pytest.mark.slow
@pytest.mark.parametrize("point", POINTS)
def test_a_build_killed_before_its_switch_leaves_the_previous_build_whole(built, point):
    before = state(built)
    killed = salesops(built, "features", "build", *SMALL, "--seed", "7", fault=point)
    assert killed.returncode == -9, killed.stderr
    assert state(built) == before
    # the next command works on the previous build: appending continues seed 1's data
    appended = salesops(built, "--json", "features", "build", "--append-weeks", "1")
    assert appended.returncode == 0, appended.stderr
    manifest = Workspace(built).read_json(Workspace(built).build_manifest)
    assert manifest["params"]["seed"] == 1 and manifest["appends"][-1]["weeks"] == 1
    sales = pd.read_parquet(Workspace(built).raw / "sales.parquet")
    assert sales["date"].nunique() == before_weeks(before) + 1
    assert not list(Workspace(built).generations.glob(".staging-*"))  # the killed one's cleared


def before_weeks(snapshot: dict) -> int:
    return int(snapshot["manifest"]["params"]["weeks"]) + sum(
        a["weeks"] for a in snapshot["manifest"]["appends"])


@pytest.mark.slow
def test_a_build_killed_at_any_instant_leaves_one_whole_build(built):
    """Kills at wall-clock delays spread over a build's run: whatever the instant, the
    workspace holds the old build or the new one, each whole, never a mix."""
    assert salesops(built, "features", "build", *SMALL, "--seed", "1").returncode == 0
    old = state(built)
    started = time.monotonic()
    complete = salesops(built, "features", "build", *SMALL, "--seed", "7")
    took = time.monotonic() - started
    assert complete.returncode == 0, complete.stderr
    new = state(built)
    current = "7"
    # early (the data being written) and late (Feast's apply and the online write) in a build
    # as long as the one just measured, so that each kill lands while the build runs
    for fraction in (0.25, 0.75):
        for _ in range(3):
            # each killed build is of the other seed than the current build's, so that a mix
            # of the two would show
            other = "1" if current == "7" else "7"
            process = subprocess.Popen(
                [SALESOPS, "-q", "features", "build", *SMALL, "--seed", other],
                env=_env(built), cwd=built.parent, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)
            delay = round(fraction * took, 1)
            time.sleep(delay)
            finished = process.poll() is not None
            if not finished:
                process.kill()
            process.wait(timeout=30)
            after = state(built)
            is_old = _same_build(after, old)
            assert is_old or _same_build(after, new), f"mixed state after {delay}s"
            current = "1" if is_old else "7"
            if not finished:
                break
            # the build outran the one measured (the machine's load fell): aim earlier
            took /= 2
        else:
            pytest.fail(f"three builds finished before their kill at {fraction:.0%} of a build")
    assert salesops(built, "features", "build", "--append-weeks", "1").returncode == 0


def _same_build(a: dict, b: dict) -> bool:
    """Two builds of the same data: same files, rows and manifest (but for timings)."""
    return a["files"] == b["files"] and a["online"].keys() == b["online"].keys() and all(
        [row[:3] for row in a["online"][t]] == [row[:3] for row in b["online"][t]]
        for t in a["online"]) and a["manifest"] == b["manifest"]


@pytest.mark.slow
def test_two_builds_at_once_one_runs_the_other_is_refused(built):
    """The race that corrupted raw/sales.parquet: a full build and an append together."""
    commands = [["features", "build", *SMALL, "--seed", "7"],
                ["features", "build", "--append-weeks", "1"]]
    processes = [subprocess.Popen([SALESOPS, "-q", *args], env=_env(built), cwd=built.parent,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for args in commands]
    results = [(p.wait(timeout=BUILD_TIMEOUT_S), p.stderr.read()) for p in processes]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 75], results
    refused = next(err for code, err in results if code == 75)
    assert "another salesops command" in refused and "holds the workspace" in refused
    assert len(refused.strip().splitlines()) == 1
    # whatever ran, the data is readable and the next append works
    assert salesops(built, "features", "build", "--append-weeks", "1").returncode == 0


def test_the_lock_of_a_killed_command_is_not_stale(workspace):
    """flock dies with its process: a `kill -9`'d holder does not block the next command."""
    code = ("import os, signal; from pathlib import Path; "
            "from salesops.workspace import Workspace, locked\n"
            f"with locked(Workspace(Path({str(workspace)!r})), 'holder'):\n"
            "    os.kill(os.getpid(), signal.SIGKILL)")
    holder = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert holder.returncode == -9
    assert json.loads((workspace / "lock").read_text())["command"] == "holder"  # left behind
    from salesops.workspace import locked

    with locked(Workspace(workspace), "next"):  # not refused
        assert json.loads((workspace / "lock").read_text())["command"] == "next"


def test_a_held_lock_refuses_with_who_holds_it(workspace):
    code = ("import sys, time; from pathlib import Path; "
            "from salesops.workspace import Workspace, locked\n"
            f"with locked(Workspace(Path({str(workspace)!r})), 'salesops features build'):\n"
            "    print('held', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        result = salesops(workspace, "infra", "up", timeout=60)
        assert result.returncode == 75
        line = result.stderr.strip()
        assert f"pid {holder.pid}" in line and "`salesops features build`" in line, line
        assert "since " in line and len(line.splitlines()) == 1
    finally:
        holder.kill()
        holder.wait()


def _read_only(workspace: Path, *args: str) -> subprocess.CompletedProcess:
    """Run salesops with the workspace mounted read-only (a private mount namespace; as root,
    a chmod would not stop writes), else with its permissions removed."""
    if os.geteuid() == 0:
        script = ('mount --bind -o ro "$0" "$0" && exec "$@"')
        command = ["unshare", "--mount", "sh", "-c", script, str(workspace), SALESOPS, "-q",
                   *args]
    else:
        command = [SALESOPS, "-q", *args]
        for path in [workspace, *workspace.rglob("*")]:
            if not path.is_symlink():
                path.chmod(path.stat().st_mode & ~0o222)
    return subprocess.run(command, env=_env(workspace), capture_output=True, text=True,
                          timeout=BUILD_TIMEOUT_S, cwd=workspace.parent)


@pytest.mark.slow
def test_a_read_only_workspace_refuses_writes_in_one_line_and_still_reads(built):
    if os.geteuid() == 0 and subprocess.run(["unshare", "--mount", "true"]).returncode != 0:
        pytest.skip("running as root without mount namespaces: cannot make a read-only mount")
    before = state(built)
    try:
        build = _read_only(built, "features", "build", *SMALL, "--seed", "7")
        assert build.returncode == 2, build.stderr
        assert f"cannot write the workspace {built}" in build.stderr
        assert len(build.stderr.strip().splitlines()) == 1
        status = _read_only(built, "--json", "infra", "status")
        assert status.returncode == 0, status.stderr
    finally:
        for path in [built, *built.rglob("*")]:
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | 0o200)
    assert state(built) == before
