"""Helpers for tests of deployed model servers: who runs, who answers, and a request load."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Self

import httpx

MODEL = "salesops-demand"
INFO_PATH = "/salesops/server"


def server_pids(workspace: Path) -> list[int]:
    """The `serve run` processes serving `workspace` (from their environment), whoever
    started them."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if b"serve\x00run" not in (proc / "cmdline").read_bytes():
                continue
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"SALESOPS_PROJECT__WORKSPACE={workspace}".encode() in environ:
            pids.append(int(proc.name))
    return sorted(pids)


def info(url: str) -> dict | None:
    try:
        response = httpx.get(url + INFO_PATH, timeout=2)
    except httpx.HTTPError:
        return None
    return response.json() if response.status_code == 200 else None


def record(workspace: Path) -> dict | None:
    path = workspace / "serve.json"
    return json.loads(path.read_text()) if path.is_file() else None


def salesops(env: dict[str, str], *args: str, **popen) -> subprocess.Popen:
    """`salesops ARGS` as a subprocess with `env` added to this process' environment."""
    return subprocess.Popen([sys.executable, "-m", "salesops", "-q", *args],
                            env={**os.environ, **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


class Load:
    """`threads` clients posting V1 requests until stopped: half keep one keep-alive
    connection, half open a new connection per request; every 10th request of each asks the
    info route instead, to see which server answered."""

    def __init__(self, url: str, threads: int = 8) -> None:
        self.url = url
        self.ok = 0
        self.errors: list[str] = []
        self.answered_by: Counter[int] = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._work, args=(i % 2 == 0,), daemon=True)
                         for i in range(threads)]

    def __enter__(self) -> Self:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    @property
    def total(self) -> int:
        return self.ok + len(self.errors)

    def _work(self, keep_alive: bool) -> None:
        body = {"instances": [{"store": 1, "dept": 1}]}
        client = httpx.Client(timeout=10) if keep_alive else None
        count = 0
        try:
            while not self._stop.is_set():
                count += 1
                path = INFO_PATH if count % 10 == 0 else f"/v1/models/{MODEL}:predict"
                try:
                    if client is not None:
                        response = (client.get(self.url + path) if path == INFO_PATH
                                    else client.post(self.url + path, json=body))
                    else:
                        with httpx.Client(timeout=10) as fresh:
                            response = (fresh.get(self.url + path) if path == INFO_PATH
                                        else fresh.post(self.url + path, json=body))
                except httpx.HTTPError as exc:
                    with self._lock:
                        self.errors.append(repr(exc))
                    continue
                with self._lock:
                    if response.status_code != 200:
                        self.errors.append(f"{response.status_code} {response.text[:200]}")
                    else:
                        self.ok += 1
                        if path == INFO_PATH:
                            self.answered_by[response.json()["pid"]] += 1
        finally:
            if client is not None:
                client.close()
