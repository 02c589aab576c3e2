"""One simulated pod: its containers' processes, exit codes and logs."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.cluster.image import IMAGE_USER


def suffix() -> str:
    """The random part of a generated pod name."""
    return secrets.token_hex(3)[:5]



class PodError(Exception):
    """A reference the kubelet could not resolve (the pod would stay in CreateContainerConfigError)."""


@dataclass
class Pod:
    """One pod: its init containers run one after the other to success, then its (one) main
    container; `poll()` moves it along and answers the main container's exit code, or the
    first failing init container's."""

    name: str
    namespace: str
    labels: dict
    spec: dict
    netns: str
    ip: str
    folder: Path
    hostname: str
    launch: object = None  # Kubelet.launch
    extra_env: list = field(default_factory=list)
    process: subprocess.Popen | None = None
    step: int = 0
    env: dict[str, str] = field(default_factory=dict)
    exit_code: int | None = None
    #: container name -> exit code, in the order they ran
    exits: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    uid: int = IMAGE_USER
    #: the readiness probe has passed (it stays so: liveness is not simulated)
    ready: bool = False
    #: stopped by a controller (a rollout, a failed JobSet), not a failure of its own
    stopping: bool = False

    @property
    def steps(self) -> list[dict]:
        if len(self.spec["containers"]) != 1:
            raise PodError(f"pod {self.name}: {len(self.spec['containers'])} containers; the "
                           "simulation runs one (plus init containers)")
        return [*(self.spec.get("initContainers") or []), self.spec["containers"][0]]

    @property
    def container(self) -> dict:
        return self.spec["containers"][0]

    @property
    def running(self) -> dict:
        """The container that runs now (or ran last)."""
        return self.steps[min(self.step, len(self.steps) - 1)]

    def log_path(self, container: str | None = None) -> Path:
        return self.folder / f"{container or self.container['name']}.log"

    def log(self, container: str | None = None) -> str:
        path = self.log_path(container)
        return path.read_text(errors="replace") if path.exists() else ""

    def poll(self) -> int | None:
        while self.exit_code is None and self.process is not None:
            code = self.process.poll()
            if code is None:
                return None
            self.exits[self.running["name"]] = code
            if code != 0 or self.step == len(self.steps) - 1 or self.stopping:
                self.exit_code = code
            else:
                self.step += 1
                self.launch(self)
        return self.exit_code

    def stop(self, grace_s: float = 5.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.process.wait(wait_s)
                return
            except subprocess.TimeoutExpired:
                continue
