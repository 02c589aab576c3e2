"""Exit codes and one-line messages for ordinary failures (issue 13): never 70, never an
empty `error:` line, never a credential."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SMALL


def salesops(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "salesops", *args], text=True,
                          stderr=subprocess.PIPE, timeout=120, **kwargs)


@pytest.mark.parametrize("args", [(), ("infra",), ("models",)])
def test_no_command_prints_help_and_no_empty_error(cli, args):
    result = cli(*args)
    assert result.exit_code == 2
    assert "Usage: salesops" in result.stdout
    assert "error" not in result.stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("json_flag", [(), ("--json",)])
def test_full_disk_is_exit_2_with_one_line(json_flag):
    with open("/dev/full", "w") as full:
        result = salesops("config", "show", *json_flag, stdout=full)
    assert result.returncode == 2, result.stderr
    assert result.stderr == "error: cannot write <stdout>: No space left on device\n"


def permissions_apply() -> bool:
    """False for root (CAP_DAC_OVERRIDE writes read-only files), whose tests would prove
    nothing; `setpriv --inh-caps=-dac_override ...` runs them as root without it."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        probe = Path(folder) / "probe"
        probe.touch(mode=0o444)
        try:
            probe.open("a").close()
        except PermissionError:
            return True
        return False


@pytest.mark.skipif(not permissions_apply(), reason="this user ignores file permissions (root)")
def test_read_only_workspace_is_exit_2_naming_the_path(cli, workspace, tmp_path):
    assert cli("infra", "up").exit_code == 0
    config = tmp_path / "salesops.toml"
    config.write_text("[data]\nstores = 3\n")
    subprocess.run(["chmod", "-R", "a-w", str(workspace)], check=True)
    try:
        for args in (["features", "build", *SMALL], ["infra", "up"], ["infra", "down", "--yes"]):
            result = cli(*args)
            assert result.exit_code == 2, (args, result.stderr)
            assert result.stderr.count("\n") == 1 and str(workspace) in result.stderr
        config.chmod(0)
        unreadable = cli("config", "show")
        assert unreadable.exit_code == 2
        assert unreadable.stderr == f"error: cannot read config file {config}: Permission denied\n"
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(workspace)], check=True)
        config.chmod(0o644)


def test_secrets_never_reach_an_error_message(cli, monkeypatch):
    """The tracking server's "does not answer" error names the server, not its password."""
    monkeypatch.setenv("SALESOPS_MLFLOW__TRACKING_URI", "http://alice:hunter2@127.0.0.1:9/")
    result = cli("models", "list", "--json")
    assert result.exit_code == 5
    assert "hunter2" not in result.stderr + result.stdout
    assert "http://alice:***@127.0.0.1:9/ does not answer" in result.json()["error"]


def test_tracking_error_is_masked_at_its_source(monkeypatch):
    """The Python API's error too, not only what the CLI prints."""
    from salesops.config import load_settings
    from salesops.errors import ServiceUnavailable
    from salesops.training.tracking import check_reachable

    monkeypatch.setenv("SALESOPS_MLFLOW__TRACKING_URI", "http://alice:hunter2@127.0.0.1:9")
    with pytest.raises(ServiceUnavailable) as err:
        check_reachable(load_settings())
    assert "hunter2" not in err.value.one_line() and "alice:***@127.0.0.1:9" in err.value.message


def test_debug_traceback_is_masked_too(cli, monkeypatch, tmp_path):
    """An internal error's traceback quotes the values it failed on: no password in it."""
    monkeypatch.setenv("SALESOPS_FEATURE_STORE__PROFILE", "postgres")
    monkeypatch.setenv("SALESOPS_FEATURE_STORE__POSTGRES_URL",
                       "postgresql://alice:hunter2@127.0.0.1:1/db")
    monkeypatch.setattr("salesops.cli.config_cmd._to_toml", _explode)
    result = cli("config", "show", "--debug")
    assert result.exit_code == 70 and "Traceback" in result.stderr
    assert "hunter2" not in result.stderr and "alice:***@127.0.0.1:1" in result.stderr


def _explode(data):
    raise RuntimeError(f"cannot render {data['feature_store']['postgres_url']} "
                       "postgresql://alice:hunter2@127.0.0.1:1/db")


def test_main_called_in_process_leaves_the_garbage_collector_as_it_was():
    """Only the console command freezes the heap before its exit (the interpreter's last
    collections would walk torch's, Feast's and MLflow's objects); tests and other callers
    of main(argv) go on living, and frozen objects would never be collected."""
    import gc

    from salesops.cli import main

    before = gc.get_freeze_count()
    with pytest.raises(SystemExit):
        main(["--version"])
    assert gc.get_freeze_count() == before


def test_the_console_command_still_exits_cleanly_after_freezing():
    done = subprocess.run([sys.executable, "-c", "from salesops.cli import main; main()",
                           "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip()
