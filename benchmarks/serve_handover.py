"""Benchmark `serve deploy` under load: requests dropped while a server hands over. Prints a table.

Run by hand (not part of the tests):  .venv/bin/python benchmarks/serve_handover.py
It builds a small workspace (a short training run promoted by force) unless `--workspace`
names one with a champion, deploys the model server on a free loopback port, then keeps
`--concurrency` clients sending V1 requests (half on one keep-alive connection each, half on
a new connection per request) while `serve deploy` replaces the running server
`--handovers` times, and goes on until `--requests` requests have been answered. Every
10th request of a client asks the info route instead, to see which server answered.

Budget: 0 errors (no reset connection, no 5xx, no timeout) across every handover.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np

MODEL = "salesops-demand"
INFO_PATH = "/salesops/server"
SMALL = ["--stores", "3", "--depts", "4", "--weeks", "90"]


def salesops(env: dict[str, str], *args: str) -> float:
    """Run `salesops ARGS`; its wall time in seconds."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "salesops", "-q", *args], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare(workspace: Path, env: dict[str, str]) -> None:
    if (workspace / "mlflow.db").exists():
        return
    salesops(env, "infra", "up")
    salesops(env, "features", "build", *SMALL)
    salesops(env, "train", "submit", "--epochs", "2", "--force-promote")


class Load:
    def __init__(self, url: str, clients: int) -> None:
        self.url = url
        self.latencies: list[list[float]] = [[] for _ in range(clients)]
        self.errors: list[str] = []
        self.answered_by: Counter[int] = Counter()
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.threads = [threading.Thread(target=self.client, args=(i,)) for i in range(clients)]

    @property
    def answered(self) -> int:
        return sum(len(times) for times in self.latencies)

    def client(self, slot: int) -> None:
        keep_alive = slot % 2 == 0
        pool = httpx.Client(timeout=30) if keep_alive else None
        body = {"instances": [{"store": 1 + slot % 3, "dept": 1 + slot % 4}]}
        count = 0
        while not self.done.is_set():
            count += 1
            info = count % 10 == 0
            started = time.perf_counter()
            try:
                client = pool or httpx.Client(timeout=30)
                try:
                    response = (client.get(self.url + INFO_PATH) if info else
                                client.post(f"{self.url}/v1/models/{MODEL}:predict", json=body))
                finally:
                    if pool is None:
                        client.close()
            except httpx.HTTPError as exc:
                with self.lock:
                    self.errors.append(repr(exc))
                continue
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                with self.lock:
                    self.errors.append(f"HTTP {response.status_code}: {response.text[:100]}")
                continue
            self.latencies[slot].append(elapsed)
            if info:
                with self.lock:
                    self.answered_by[response.json()["pid"]] += 1
        if pool is not None:
            pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", type=Path, help="reuse this workspace (has a champion)")
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--handovers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workspace = (args.workspace or Path(tmp) / "ws").absolute()
        port = free_port()
        env = {**os.environ, "SALESOPS_PROJECT__WORKSPACE": str(workspace),
               "SALESOPS_SERVING__PORT": str(port)}
        prepare(workspace, env)
        salesops(env, "serve", "deploy")
        url = f"http://127.0.0.1:{port}"
        load = Load(url, args.concurrency)
        deploys: list[float] = []
        started = time.perf_counter()
        try:
            for thread in load.threads:
                thread.start()
            for _ in range(args.handovers):
                deploys.append(salesops(env, "serve", "deploy"))
            while load.answered + len(load.errors) < args.requests:
                time.sleep(0.1)
        finally:
            load.done.set()
            for thread in load.threads:
                thread.join()
            seconds = time.perf_counter() - started
            salesops(env, "serve", "stop")
    latencies = np.concatenate([np.array(t) for t in load.latencies]) * 1000
    total = load.answered + len(load.errors)
    rows = [
        (f"requests at concurrency {args.concurrency}", f"{total:,}",
         f"{total / seconds:,.0f} req/s over {seconds:.1f} s", "", ""),
        ("errors (resets, 5xx, timeouts)", f"{len(load.errors):,}",
         "; ".join(sorted(set(load.errors))[:3]), "0",
         "ok" if not load.errors else "OVER"),
        (f"servers that answered ({args.handovers} handovers)", f"{len(load.answered_by)}",
         ", ".join(f"pid {pid}: {n:,} info answers" for pid, n in load.answered_by.items()),
         f"{args.handovers + 1}", "ok" if len(load.answered_by) == args.handovers + 1 else "?"),
        ("serve deploy (each, under load)", ", ".join(f"{s:.1f} s" for s in deploys), "",
         "", ""),
        ("latency", f"p50 {np.percentile(latencies, 50):.1f} ms",
         f"p99 {np.percentile(latencies, 99):.1f} ms, max {latencies.max():.0f} ms", "", ""),
    ]
    header = ("what", "result", "", "budget", "")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)))
    print(f"\n{os.cpu_count()} CPU cores; python {sys.version.split()[0]}; clients, servers and "
          "the deploys on the same machine; half the clients keep one connection, half open "
          "one per request")


if __name__ == "__main__":
    main()
