"""The local launcher: ranks die with their parent, report errors as one process would, must
exit 0, and get their share of the cores.

Entry functions live at module level so that spawned ranks can import them by name.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from salesops.backends.local import threads
from salesops.backends.local.launch import LaunchFailed, launch_local
from salesops.errors import SalesOpsError, WorkspaceBusy

LAUNCH_TIMEOUT_S = 120
ROOT = Path(__file__).resolve().parents[3]


def _busy_error_entry():
    if int(os.environ["RANK"]) == 0:  # an error whose __init__ is not (message,)
        raise WorkspaceBusy("/ws", {"pid": 42, "command": "salesops features build"})
    time.sleep(60)


class Unbuilt(SalesOpsError):
    """An error whose __init__ takes other arguments than its message, with its own code."""

    exit_code = 7
    kind = "unbuilt"

    def __init__(self, command: str, issue: int) -> None:
        super().__init__(f"`salesops {command}` is not built yet (tracked in issue #{issue})")


def _not_built_entry():
    raise Unbuilt("train submit --backend x", 99)


def _threads_entry():
    import torch

    return (torch.get_num_threads(), torch.get_num_interop_threads(),
            os.environ.get("OMP_WAIT_POLICY"))


def _bad_exit_entry():
    """Reports success, then its process exits 3 (a crash in teardown, say)."""
    atexit.register(os._exit, 3)
    return "done"


@pytest.mark.slow
def test_an_error_with_its_own_init_keeps_its_type_message_and_exit_code():
    with pytest.raises(WorkspaceBusy) as err:
        launch_local(2, _busy_error_entry, timeout_s=LAUNCH_TIMEOUT_S)
    assert err.value.exit_code == 75 and "pid 42" in err.value.message
    assert err.value.hint == "retry when it has finished"


def test_the_same_error_and_exit_code_with_one_process_or_two():
    for nodes in (1, 2):
        with pytest.raises(Unbuilt) as err:
            launch_local(nodes, _not_built_entry, timeout_s=LAUNCH_TIMEOUT_S)
        assert err.value.exit_code == 7 and "issue #99" in err.value.message


def test_a_rank_that_exits_non_zero_after_its_report_fails_the_launch():
    with pytest.raises(LaunchFailed, match="rank . exited with code 3 after reporting success"):
        launch_local(2, _bad_exit_entry, timeout_s=LAUNCH_TIMEOUT_S)


def test_each_rank_gets_its_share_of_the_cores_and_passive_waits(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    share = threads.per_process(2)
    assert launch_local(2, _threads_entry, timeout_s=LAUNCH_TIMEOUT_S) == (
        share, share, "PASSIVE")


def test_one_process_uses_the_available_cores_not_torch_s_default(monkeypatch):
    import torch

    before = torch.get_num_threads()
    monkeypatch.setattr(threads, "available_cores", lambda: 1)
    try:
        assert launch_local(1, _threads_entry)[0] == 1
    finally:
        torch.set_num_threads(before)


def test_the_launching_process_never_imports_torch():
    """Its ranks do (1.5 s of a `train submit` that the launcher spent waiting)."""
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from salesops.backends.local.launch import launch_local
        from tests.backends.local.test_launch import _threads_entry
        threads = launch_local(2, _threads_entry, timeout_s={LAUNCH_TIMEOUT_S})
        print(threads[2], "torch" in sys.modules)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=LAUNCH_TIMEOUT_S, check=True, cwd=ROOT)
    assert done.stdout.split() == ["PASSIVE", "False"]


PARENT = textwrap.dedent("""
    import sys, time
    from salesops.backends.local.launch import launch_local
    sys.path.insert(0, {root!r})
    from tests.backends.local.test_launch import _sleep_entry
    launch_local(2, _sleep_entry, ({pids!r},))
""")


def _sleep_entry(pids: str):
    with open(pids, "a") as out:
        out.write(f"{os.getpid()}\n")
    time.sleep(300)


def _alive(pid: int) -> bool:
    """Running (a zombie has finished; init reaps it when it gets to it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_ranks_die_with_their_parent_killed_by_sigkill(tmp_path):
    pids_file = tmp_path / "pids"
    # its stderr to a file: the resource tracker of a killed parent reports leaked semaphores
    with open(tmp_path / "parent.log", "w") as log:
        parent = subprocess.Popen([sys.executable, "-c", PARENT.format(
            root=str(ROOT), pids=str(pids_file))], stderr=log)
    try:
        deadline = time.monotonic() + LAUNCH_TIMEOUT_S
        while time.monotonic() < deadline:
            pids = [int(p) for p in pids_file.read_text().split()] if pids_file.exists() else []
            if len(pids) == 2:
                break
            assert parent.poll() is None, "the launching process ended early"
            time.sleep(0.2)
        assert len(pids) == 2, "the ranks did not start"
        assert all(_alive(pid) for pid in pids)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        survivors = [pid for pid in pids if _alive(pid)]
    finally:
        if parent.poll() is None:
            parent.kill()
    for pid in survivors:  # clean up after a failure, then report it
        os.kill(pid, signal.SIGKILL)
    assert not survivors, f"ranks {survivors} outlived their parent"


def test_a_rank_that_fails_before_torch_reports_without_importing_it():
    """A settings error, say: its report goes out at once, and needs no torch to go out."""
    code = textwrap.dedent("""
        import sys
        from salesops.backends.local.launch import _failure
        failure = _failure(ValueError("bad settings"))
        print(failure.summary, failure.collective, "torch" in sys.modules)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.split() == ["ValueError:", "bad", "settings", "False", "False"]
