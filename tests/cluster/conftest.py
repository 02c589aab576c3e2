"""Fixtures: a simulated cluster per test, and `salesops` run against it from a "laptop"
folder with `--config k8s.toml` (backend.kind = "kubernetes", KUBECONFIG = the stand-in).

Outside CI a machine without root, `ip netns` or Postgres skips these tests with the
reason; under CI=true they must run, so a missing precondition fails instead.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.cluster.cluster import Cluster, missing
from tests.cluster.image import OTHER_SRC
from tests.helpers import SALESOPS

NAMESPACE = "salesops"
#: small enough for 2 cores: the history features need 56 weeks, plus a holdout
CONFIG = """\
[backend]
kind = "kubernetes"

[data]
stores = 3
depts = 4
weeks = 90

[training]
epochs = 3
patience = 2

[drift]
min_rows = 50

[serving]
log_flush_s = 1.0

[kubernetes]
namespace = "salesops"
image = "salesops-sim.local/salesops:dev"
ready_timeout_s = 150
"""


@dataclass
class Laptop:
    """Where the user runs `salesops`: a folder with k8s.toml and the laptop's workspace."""

    folder: Path
    cluster: Cluster
    timings: list[tuple[str, float, str]] = field(default_factory=list)

    @property
    def config(self) -> Path:
        return self.folder / "k8s.toml"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SALESOPS_")}
        return {**env, "KUBECONFIG": str(self.cluster.kubeconfig),
                "SALESOPS_PROJECT__WORKSPACE": str(self.folder / "ws"), "TQDM_DISABLE": "1",
                **OTHER_SRC}

    def run(self, *args: str, timeout: float = 280) -> subprocess.CompletedProcess:
        """`salesops --config k8s.toml ARGS`; stopped early when a pod fails meanwhile (the
        command would only wait for its timeout), with the failure in its stderr."""
        seen = len(self.cluster.failures)
        argv = [SALESOPS, "--config", str(self.config), *args]
        with subprocess.Popen(argv, env=self.env(), cwd=self.folder, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) as process:
            deadline, failed_at = time.monotonic() + timeout, None
            while process.poll() is None and time.monotonic() < deadline:
                if failed_at is None and len(self.cluster.failures) > seen:
                    failed_at = time.monotonic()
                if failed_at is not None and time.monotonic() - failed_at > 5:
                    break
                time.sleep(0.2)
            if process.poll() is None:
                process.kill()
            out, err = process.communicate()
        if failed_at is not None and process.returncode != 0:
            err += "\n[simulation] stopped the command: a pod failed:\n" + "\n".join(
                self.cluster.failures[seen:])
        return subprocess.CompletedProcess(argv, process.returncode, out, err)

    def step(self, title: str, *args: str, expect: int = 0, timeout: float = 280):
        """Run one lifecycle step, time it, and fail with the command's and the pods'
        output when it exits otherwise than `expect`."""
        start = time.monotonic()
        result = self.run(*args, timeout=timeout)
        elapsed = time.monotonic() - start
        self.timings.append((title, elapsed, "ok" if result.returncode == expect
                             else f"exit {result.returncode}"))
        assert result.returncode == expect, (
            f"{title}: `salesops {' '.join(args)}` exited {result.returncode}\n"
            f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-5000:]}\n"
            f"pods:\n{self.cluster.report()}")
        return result

    def table(self) -> str:
        rows = [f"{title:<44} {seconds:7.1f} s  {state}" for title, seconds, state in self.timings]
        total = sum(seconds for _, seconds, _ in self.timings)
        return "\n".join(["simulated cluster lifecycle", *rows, f"{'total':<44} {total:7.1f} s"])


@pytest.fixture
def cluster(tmp_path_factory):
    reason = missing()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)
    # a SIGTERM (a CI job's timeout) would end pytest without finalizers: make it an
    # interrupt, so that the namespaces, links and the database still go
    previous = signal.signal(signal.SIGTERM, _interrupt)
    sim = Cluster(Path("/tmp") / f"salesops-sim-{os.getpid()}-{time.monotonic_ns()}")
    try:
        yield sim
    finally:
        sim.close()
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture
def laptop(cluster, tmp_path) -> Laptop:
    folder = tmp_path / "laptop"
    folder.mkdir()
    (folder / "k8s.toml").write_text(CONFIG)
    return Laptop(folder, cluster)
