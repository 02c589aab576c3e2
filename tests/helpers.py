"""Helpers that several test modules need: a free port, `salesops` as a subprocess, a
process holding the workspace lock, and the normalizer for exact-output tests.

Fixtures stay in the conftest files; these are plain functions, imported by name.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from textwrap import dedent

import pytest

#: the installed console script: what a user runs (its own process, its own process group
#: rules), not `python -m salesops`
SALESOPS = str(Path(sys.executable).parent / "salesops")
SUBPROCESS_TIMEOUT_S = 180


def free_port() -> int:
    """A loopback port nothing listens on now (the OS picks it; another process could take
    it before the test binds it, which on loopback in a test run does not happen)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def salesops_env(workspace: Path, fault: str | None = None, **extra: str) -> dict[str, str]:
    """This process' environment with `workspace` selected (tests/conftest.py has already
    cleared the developer's SALESOPS_*), `fault` as the kill point, and `extra`."""
    from salesops.faults import ENV as FAULT_ENV

    env = {**os.environ, "SALESOPS_PROJECT__WORKSPACE": str(workspace), **extra}
    if fault:
        env[FAULT_ENV] = fault
    return env


def run_salesops(workspace: Path, *args: str, fault: str | None = None,
                 timeout: float = SUBPROCESS_TIMEOUT_S,
                 env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`salesops ARGS` as its own process on `workspace`, run from the workspace's parent;
    stdout and stderr captured as text. `env`: the whole environment (default:
    `salesops_env(workspace, fault)`)."""
    return subprocess.run([SALESOPS, *args], env=env or salesops_env(workspace, fault),
                          capture_output=True, text=True, timeout=timeout,
                          cwd=workspace.parent)


def wait_for(condition, timeout: float = 15, every: float = 0.1):
    """Poll `condition` until it returns something truthy; that value, or the last one."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)


#: a process that takes the workspace lock as `command` and holds it until killed
_HOLD = """
import sys, time
from pathlib import Path
from salesops.workspace import Workspace, locked
with locked(Workspace(Path(sys.argv[1])), sys.argv[2]):
    print("held", flush=True)
    time.sleep(60)
"""


@contextlib.contextmanager
def only_env(root: Path, env: dict[str, str]) -> Iterator[None]:
    """In `root`, with `env` as the only SALESOPS_* settings (for fixtures wider than one
    test, which cannot use monkeypatch)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("SALESOPS_")]:
            patch.delenv(name)
        for name, value in env.items():
            patch.setenv(name, value)
        patch.chdir(root)
        yield


def registry_versions(workspace: Path) -> dict[str, list[str]]:
    """version -> aliases in `workspace`'s model registry: what `salesops models list --json`
    prints, read in this process (a `models list` process costs ~4 s of MLflow import; tests
    that check the registry after each killed command read it here)."""
    from salesops.config import load_settings
    from salesops.training import registry
    from salesops.training.tracking import Tracking

    with only_env(workspace.parent, {"SALESOPS_PROJECT__WORKSPACE": str(workspace)}):
        settings = load_settings()
        Tracking.open(settings, read_only=True)
        return {row["version"]: row["aliases"]
                for row in registry.list_versions(settings.mlflow.model_name)}


@contextlib.contextmanager
def holding_lock(workspace: Path, command: str) -> Iterator[subprocess.Popen]:
    """Another process holds `workspace`'s lock as `command` while the block runs."""
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(workspace), command],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        yield holder
    finally:
        holder.kill()
        holder.wait()


#: elapsed times as the CLI writes them: `   0.4s` before a step, `apply 4.9s` in a table
_SECONDS = re.compile(r"(?<![\w.])\d+\.\ds\b")
_TABLE_LINE = re.compile(r"^[┏┃┡│└╭╰├┗┣]")


def normalize(text: str, squeeze: bool = False, **paths: Path | str) -> str:
    """`text` with only what truly varies between runs made constant, for exact-output
    tests: each of `paths` becomes `<name>` (in a table cell padded to the path's width, so
    the table keeps its shape), every elapsed time `0.0s` (right-aligned in the width it
    had), and trailing spaces go.

    `squeeze`: where a time sits in a table, its width sets the table's (`apply 12.3s` is
    one column wider than `apply 4.9s`), so table lines lose their padding: one space
    between words and borders, one stroke for each run of rule."""
    for name, path in sorted(paths.items(), key=lambda item: -len(str(item[1]))):
        text = _replace_path(text, str(path), f"<{name}>")
    text = _SECONDS.sub(lambda m: "0.0s".rjust(len(m.group())), text)
    lines = [line.rstrip() for line in text.split("\n")]
    if squeeze:
        lines = [_squeeze(line) if _TABLE_LINE.match(line) else line for line in lines]
    return "\n".join(lines)


def text(block: str) -> str:
    """An expected output written as an indented triple-quoted block in a test."""
    return dedent(block).removeprefix("\n")


def _squeeze(line: str) -> str:
    return re.sub(r"([━─])\1+", r"\1", re.sub(r" {2,}", " ", line))


def _replace_path(text: str, path: str, token: str) -> str:
    cell = re.compile(re.escape(path) + r"(?= *│)")
    text = cell.sub(token.ljust(len(path)), text)
    return text.replace(path, token)


@contextlib.contextmanager
def fixed_workspace() -> Iterator[Path]:
    """A workspace path of the same length on every run (`/tmp/salesops-XXXXXXXX/ws`, not
    yet created): a table's columns are as wide as their widest cell, and a path may be it,
    so exact-output tests need one whose width does not change (pytest's tmp_path does)."""
    import shutil
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="salesops-", dir="/tmp"))
    try:
        yield root / "ws"
    finally:
        shutil.rmtree(root, ignore_errors=True)
