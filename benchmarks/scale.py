"""Benchmark the data path at scale: build, training set, a bare ASOF join, `train submit`.

Run by hand (not part of the tests):  .venv/bin/python benchmarks/scale.py [--sizes 65K,1M]

For each size, in a fresh workspace, every step runs in a fresh process:
- `features build` (synthetic data of that many rows);
- the training set: `load_training_set`, the point-in-time join through Feast's
  `training_features` service on the workspace's offline store (Feast imported first, so the
  time is the set's own; the process's peak RSS includes the import);
- the same join as one bare DuckDB ASOF JOIN over the same parquet files, streamed to Arrow
  (the reference the store is measured against: the issue's target is within 1.5x of it;
  from 3M rows up the store is faster than it);
- `train submit --epochs 1 --no-promote --nodes 2`: wall time, its epoch time, the rest, and
  the peak of the summed RSS of every process of the command (the ranks included); not run
  with `--no-train`.

A training set larger than memory keeps its row arrays in a mapped file
(`training.row_arrays`): its peak RSS then counts the file's resident pages, which the kernel
writes out under pressure; the anonymous memory's peak is printed beside it. A step that is
killed or runs past `--step-timeout` is reported as such and the next one runs.

Peak RSS of a single process comes from getrusage; the summed one from sampling /proc every
50 ms (psutil), so it can miss a spike shorter than that.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: label -> (stores, depts, weeks); rows are about stores x depts x weeks
SIZES = {
    "65K": (45, 14, 104),
    "1M": (100, 70, 143),
    "3M": (300, 70, 143),
    "10M": (700, 100, 143),
    "100M": (7000, 100, 143),
}
DEFAULT_SIZES = "65K,1M,3M,10M"
PYTHON = sys.executable
SALESOPS = str(Path(sys.executable).parent / "salesops")

TRAINING_SET = """
import resource, sys, threading, time
import salesops, feast, salesops.stores.asof_offline  # salesops first, as in the CLI
from salesops.config import load_settings
from salesops.training.dataset import load_training_set
anonymous = [0]
def sample():  # the peak of anonymous memory: RSS less the pages of mapped files
    while True:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("RssAnon:"):
                    anonymous[0] = max(anonymous[0], int(line.split()[1]) / 1024)
        time.sleep(0.05)
threading.Thread(target=sample, daemon=True).start()
settings = load_settings()
start = time.perf_counter()
training_set = load_training_set(settings)
print(anonymous[0])
print(time.perf_counter() - start, training_set.rows,
      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""

BARE_JOIN = """
import resource, sys, time
import duckdb
data = sys.argv[1]
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
def features(view, keys):
    names = [c for c in con.sql(f"SELECT * FROM read_parquet('{data}/{view}.parquet') LIMIT 0").columns
             if c not in (*keys, "event_timestamp")]
    return ", ".join(f"{view[0]}.{c}" for c in names)
query = f'''
SELECT e.store, e.dept, e.event_timestamp, {features("dept_weekly", ("store", "dept"))},
       {features("store_weekly", ("store",))}, t.weekly_sales
FROM read_parquet('{data}/sales_target.parquet') e
ASOF LEFT JOIN read_parquet('{data}/dept_weekly.parquet') d
  ON e.store = d.store AND e.dept = d.dept AND e.event_timestamp >= d.event_timestamp
ASOF LEFT JOIN read_parquet('{data}/store_weekly.parquet') s
  ON e.store = s.store AND e.event_timestamp >= s.event_timestamp
ASOF LEFT JOIN read_parquet('{data}/sales_target.parquet') t
  ON e.store = t.store AND e.dept = t.dept AND e.event_timestamp >= t.event_timestamp'''
start = time.perf_counter()
rows = sum(batch.num_rows for batch in con.sql(query).to_arrow_reader(1 << 17))
print(time.perf_counter() - start, rows, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def peak_of_tree(cmd: list[str], env: dict[str, str],
                 timeout_s: float | None = None) -> tuple[float, float, str]:
    """(wall s, peak of the summed RSS of the process and its descendants in MB, stdout);
    killed past `timeout_s`. A failure exits naming the command and its stderr's tail."""
    import psutil

    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
        root, peak = psutil.Process(proc.pid), 0.0
        while proc.poll() is None:
            if timeout_s is not None and time.perf_counter() - start > timeout_s:
                for child in root.children(recursive=True):  # Ray's daemons too
                    with contextlib.suppress(psutil.Error):
                        child.kill()
                proc.kill()
            try:
                tree = [root, *root.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.05)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            err.seek(0)
            raise SystemExit(f"{' '.join(cmd[:3])} failed ({proc.returncode}): "
                             f"{err.read()[-2000:]}")
        out.seek(0)
        return wall, peak / 1e6, out.read()


def print_table(rows: list[dict[str, str]], header: list[str]) -> None:
    """`rows` as columns `header`, each as wide as its widest cell."""
    widths = [max(len(h), *(len(r.get(h, "")) for r in rows)) for h in header]
    for row in [dict(zip(header, header)), *rows]:
        print("  ".join(row.get(h, "").ljust(w) for h, w in zip(header, widths)))


def measure(label: str, shape: tuple[int, int, int], root: Path, train: bool,
            step_timeout: float) -> dict[str, str]:
    stores, depts, weeks = shape
    env = {**os.environ, "SALESOPS_PROJECT__WORKSPACE": str(root / "ws")}
    subprocess.run([SALESOPS, "-q", "infra", "up"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    size = ["--stores", str(stores), "--depts", str(depts), "--weeks", str(weeks)]
    build_s, build_mb, out = peak_of_tree([SALESOPS, "--json", "features", "build", *size], env)
    built = json.loads(out)
    row = {"size": label, "rows": f"{built['rows']:,}",
           "build": f"{build_s:.1f} s / {build_mb / 1e3:.1f} GB"}
    again_s, _, _ = peak_of_tree([SALESOPS, "-q", "features", "build", *size], env)
    row["rebuild"] = f"{again_s:.1f} s"
    try:
        set_s, set_mb, out = _script(TRAINING_SET, env, timeout=step_timeout)
        anonymous = float(out.split()[-4])
        mapped = f" ({anonymous / 1e3:.1f} GB anonymous)" if set_mb - anonymous > 500 else ""
        row["training set"] = f"{set_s:.1f} s / {set_mb / 1e3:.1f} GB{mapped}"
    except StepFailed as failed:
        set_s, row["training set"] = None, str(failed)
    data = root / "ws" / "current" / "data"
    try:
        bare_s, bare_mb, _ = _script(BARE_JOIN, env, str(data), timeout=step_timeout)
        row["bare ASOF join"] = f"{bare_s:.1f} s / {bare_mb / 1e3:.1f} GB"
        row["set / bare"] = f"{set_s / bare_s:.2f}x" if set_s else "-"
    except StepFailed as failed:
        row["bare ASOF join"], row["set / bare"] = str(failed), "-"
    if not train:
        row["train submit (2 procs)"] = "not run (--no-train)"
        return row
    try:
        wall, peak, out = peak_of_tree([SALESOPS, "--json", "train", "submit", "--epochs", "1",
                                        "--no-promote", "--nodes", "2"], env)
        epoch = float(json.loads(out).get("train_seconds", 0.0))
        row["train submit (2 procs)"] = (f"{wall:.0f} s / {peak / 1e3:.1f} GB; epoch "
                                         f"{epoch:.1f} s, rest {wall - epoch:.0f} s")
    except SystemExit as failed:
        row["train submit (2 procs)"] = str(failed)
    return row


class StepFailed(Exception):
    """A step that did not complete: killed (out of memory), timed out, or failed."""


def _script(code: str, env: dict[str, str], *args: str,
            timeout: float | None = None) -> tuple[float, float, str]:
    """Run `code` in a fresh interpreter that prints `seconds rows peak_mb` (its own) last;
    returns them and its whole output."""
    try:
        done = subprocess.run([PYTHON, "-c", code, *args], env=env, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise StepFailed(f"not done in {timeout:.0f} s") from None
    if done.returncode:
        why = ("killed (out of memory?)" if done.returncode in (-9, 137) else
               f"failed ({done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
        raise StepFailed(why)
    seconds, _, peak = done.stdout.split()[-3:]
    return float(seconds), float(peak), done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=DEFAULT_SIZES,
                        help=f"comma-separated, of {', '.join(SIZES)} (default {DEFAULT_SIZES})")
    parser.add_argument("--keep", action="store_true", help="keep the workspaces")
    parser.add_argument("--no-train", action="store_true",
                        help="skip `train submit` (the 100M-row target is the build and the set)")
    parser.add_argument("--step-timeout", type=float, default=1800,
                        help="seconds a training-set or bare-join step may take (default 1800)")
    args = parser.parse_args()
    rows = []
    for label in args.sizes.split(","):
        root = Path(tempfile.mkdtemp(prefix=f"salesops-scale-{label}-"))
        try:
            rows.append(measure(label, SIZES[label], root, not args.no_train,
                                args.step_timeout))
        finally:
            if not args.keep:
                subprocess.run(["rm", "-rf", str(root)], check=False)
        print(json.dumps(rows[-1]), file=sys.stderr)
    print_table(rows, list(rows[0]))
    print(f"\n{os.cpu_count()} CPU cores; python {sys.version.split()[0]}; each step a fresh "
          "process; times are wall, memory is peak RSS")


if __name__ == "__main__":
    main()
