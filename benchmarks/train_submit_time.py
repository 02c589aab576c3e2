"""Wall time of the default `salesops train submit`, on a quiet machine and on a busy one.

Run by hand (not part of the tests), in a workspace with a build:
    .venv/bin/python benchmarks/train_submit_time.py [--runs 3] [--busy 0,2] [--nodes 1]

For each `--busy` count, that many processes spin on the CPU (`while True: pass`, at the
same priority as the run) for the whole measurement, and `train submit --no-promote -q`
runs `--runs` times beside them; the table gives the median, the fastest and the slowest
run, and the holdout WAPE (the same every run: training is deterministic on one machine).
Issue 17's targets, on the default data: under 20 s quiet, under 60 s beside a process
that keeps both cores busy (`--busy 2` on two cores).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

SALESOPS = str(Path(sys.executable).parent / "salesops")
SPIN = "while True: pass"


def timed_run(nodes: int) -> tuple[float, float]:
    started = time.perf_counter()
    out = subprocess.run([SALESOPS, "--json", "-q", "train", "submit", "--no-promote",
                          "--nodes", str(nodes)], check=True, capture_output=True,
                         text=True).stdout
    model = {row["name"]: row for row in json.loads(out)["metrics"]}["model"]
    return time.perf_counter() - started, model["wape"]


def measure(busy: int, runs: int, nodes: int) -> dict:
    spinners = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(busy)]
    try:
        time.sleep(1.0 if busy else 0.0)  # the spinners have their cores
        results = [timed_run(nodes) for _ in range(runs)]
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
    seconds = [s for s, _ in results]
    return {"busy": busy, "median": statistics.median(seconds), "min": min(seconds),
            "max": max(seconds), "wape": sorted({round(w, 2) for _, w in results})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--busy", default="0,2", help="spinning processes, comma-separated")
    parser.add_argument("--nodes", type=int, default=1)
    args = parser.parse_args()
    rows = [measure(int(b), args.runs, args.nodes) for b in args.busy.split(",")]
    print(f"train submit --nodes {args.nodes}, {args.runs} runs each")
    print(f"{'busy processes':>15} {'median s':>9} {'min s':>7} {'max s':>7}  holdout WAPE %")
    for row in rows:
        print(f"{row['busy']:>15} {row['median']:>9.1f} {row['min']:>7.1f} {row['max']:>7.1f}"
              f"  {', '.join(f'{w:.2f}' for w in row['wape'])}")


if __name__ == "__main__":
    main()
