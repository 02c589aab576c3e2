"""Benchmark `salesops features build`: wall time and peak memory per size. Prints a table.

Run by hand (not part of the tests):  .venv/bin/python benchmarks/features_build.py
Each size runs in a fresh workspace in a child process; peak RSS is the child's maximum
resident set size (getrusage), which includes importing Feast.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIZES = {
    "default 45×14×104": ["--stores", "45", "--depts", "14", "--weeks", "104"],
    "45×81×156": ["--stores", "45", "--depts", "81", "--weeks", "156"],
    # Walmart's shape (train.csv of ~450K rows) with every quirk of real files, imported
    "retail CSV 45×81×143": ["--source", "csv", "--path", "{csv}"],
}
#: the retail-realism files the CSV size imports: (stores, depts, weeks)
CSV_SHAPE = (45, 81, 143)
BUDGET_S = {"default 45×14×104": 30.0}


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak_kb, before) / 1024


def write_retail_csv(folder: Path) -> str:
    from salesops.data.retail import retail_quirks
    from salesops.data.synthetic import generate
    from salesops.data.walmart_csv import write_walmart_csv

    stores, depts, weeks = CSV_SHAPE
    raw = retail_quirks(generate(stores=stores, depts=depts, weeks=weeks), seed=42)
    return str(write_walmart_csv(raw, folder, cr_only=("features.csv",)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", help="run only the size whose label contains this")
    args = parser.parse_args()
    salesops = str(Path(sys.executable).parent / "salesops")
    rows = []
    for label, flags in SIZES.items():
        if args.only and args.only not in label:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            env = {**os.environ, "SALESOPS_PROJECT__WORKSPACE": f"{tmp}/ws"}
            if "{csv}" in flags:
                flags = [flag.format(csv=write_retail_csv(Path(tmp) / "walmart"))
                         for flag in flags]
            subprocess.run([salesops, "-q", "infra", "up"], env=env, check=True,
                           stdout=subprocess.DEVNULL)
            wall, peak = run([salesops, "-q", "features", "build", *flags], env)
            again, _ = run([salesops, "-q", "features", "build", *flags], env)
        budget = BUDGET_S.get(label)
        verdict = "" if budget is None else ("ok" if wall < budget else "OVER")
        rows.append((label, f"{wall:.1f}", f"{again:.1f}", f"{peak:,.0f}",
                     f"< {budget:.0f} s" if budget else "-", verdict))
    header = ("size", "first build s", "rebuild s", "peak RSS MB", "budget", "")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)))
    print(f"\n{os.cpu_count()} CPU cores; python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
