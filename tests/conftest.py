"""Shared fixtures: every test gets a fresh workspace, a clean environment and a CLI runner."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from salesops.cli import main

#: a small dataset that still has the 56 weeks of history features need, and a holdout
SMALL = ["--stores", "3", "--depts", "4", "--weeks", "90"]


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


#: The suite's models are one network, not the default ensemble of two: the lifecycle
#: tests train dozens of models, and a second network would double their time (the
#: suite's 15-minute budget). The ensemble has tests of its own, with the default members:
#: tests/training/test_loop.py, test_rank_equivalence.py, test_nodes_equivalence.py (the
#: whole command) and test_pyfunc.py (saved and loaded).
SUITE_MEMBERS = {"SALESOPS_TRAINING__MEMBERS": "1"}
os.environ.update(SUITE_MEMBERS)  # for module- and session-scoped fixtures too


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No SALESOPS_* from the developer's shell (but SUITE_MEMBERS); run in a temporary
    directory."""
    for name in list(os.environ):
        if name.startswith("SALESOPS_"):
            monkeypatch.delenv(name)
    for name, value in SUITE_MEMBERS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TQDM_DISABLE", "1")


@pytest.fixture
def workspace(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "ws"
    monkeypatch.setenv("SALESOPS_PROJECT__WORKSPACE", str(path))
    return path


@pytest.fixture
def cli(capsys):
    """Run `salesops ARGS` in-process; returns exit code, stdout and stderr."""

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            main(list(args))
        out, err = capsys.readouterr()
        return CliResult(int(exit_info.value.code or 0), out, err)

    return run


#: the longest modules (serial seconds on 2 cores: 215, 219, 146, 111, 131, 127). The one-test
#: lifecycle goes first: xdist queues a second module behind a module of two tests or
#: fewer at once, so the shorter handover, not postgres_profile, waits behind it.
LONGEST = ["tests/cluster/test_lifecycle.py", "tests/training/test_faults.py",
           "tests/faults/test_build_faults.py", "tests/serving/test_handover.py",
           "tests/features/test_postgres_profile.py", "tests/stores/test_ray_profile.py",
           "tests/training/test_nodes_equivalence.py"]


def pytest_collection_modifyitems(config, items):
    """The longest modules first, then the other modules with slow tests, then the rest,
    each module whole and in its order. The suite runs under `-n 3 --dist loadscope
    --no-loadscope-reorder` (pyproject.toml): xdist hands whole modules to the workers in
    this order, so the long ones start at once and the quick ones fill in behind them (the
    lifecycle handed out last was the run's last 3 minutes)."""
    def module(item) -> str:
        return item.nodeid.split("::")[0]

    slow = {module(item) for item in items if item.get_closest_marker("slow")}
    first: dict[str, int] = {}
    for index, item in enumerate(items):
        first.setdefault(module(item), index)

    def rank(name: str) -> int:
        return LONGEST.index(name) if name in LONGEST else len(LONGEST) + (name not in slow)

    position = {id(item): index for index, item in enumerate(items)}
    items.sort(key=lambda item: (rank(module(item)), first[module(item)], position[id(item)]))


def pytest_unconfigure(config):
    """Keep the run's closing summary the last thing printed (see salesops.cli main).
    Registered with atexit: pytest restores its captured file descriptors after this hook."""
    import atexit

    from salesops.teardown import silence_native_teardown

    atexit.register(silence_native_teardown)
