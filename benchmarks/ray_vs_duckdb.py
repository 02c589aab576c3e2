"""Benchmark the `ray` profile against `embedded` (DuckDB) on one build: the training set and
materialization, each in a fresh process.

Run by hand (not part of the tests), holding the big-run lock on a shared machine:
    flock /tmp/salesops-bigrun.lock .venv/bin/python benchmarks/ray_vs_duckdb.py --sizes 1M

For each size one workspace is built (synthetic data of that many rows, the shapes of
benchmarks/scale.py, its weeks ending this week: Feast's Ray engine materializes only rows
within the views' TTL of the wall clock). Then, for each profile, `infra up` renders its
feature_store.yaml over the same files and a fresh process runs:
- the training set: `load_training_set` (Feast's `get_historical_features` on the ASOF DuckDB
  store, or on Feast's Ray store with a local Ray runtime of `ray.num_cpus` CPUs);
- materialization: `FeatureStore.materialize` of the online views over every week into a
  fresh SQLite online store (Feast's in-process engine, or its Ray engine).
Printed per step: the call's time, the process' wall time (imports and, on ray, starting Ray
included), the driver's peak RSS (getrusage) and the peak of the summed RSS of the process
tree (Ray's GCS, raylet and workers are its descendants; sampled every 50 ms with psutil).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

# the sizes, the training-set script and the process-tree sampler are scale.py's (a sibling:
# the script's folder is on sys.path)
from scale import PYTHON, SALESOPS, SIZES, TRAINING_SET, peak_of_tree, print_table

#: a step's most seconds by default: Ray's start and tasks on a small machine are slow, not
#: hung (`--step-timeout`)
STEP_TIMEOUT_S = 1800

MATERIALIZE = """
import resource, sys, time
from pathlib import Path
import pandas as pd, yaml
import salesops  # first, as in the CLI: Feast imported the way salesops imports it
from feast import FeatureStore
from salesops.features import feast_ops
from salesops.workspace import Workspace
workspace = Workspace(Path(sys.argv[1]))
config = yaml.safe_load(workspace.feature_store_yaml.read_text())
config["online_store"] = {"type": "sqlite", "path": sys.argv[2]}
path = Path(sys.argv[2]).with_suffix(".yaml")
path.write_text(yaml.safe_dump(config))
with feast_ops.quiet_feast(workspace):
    store = FeatureStore(repo_path=str(workspace.feature_repo), fs_yaml_file=path)
    views = [v for v in store.list_feature_views() if v.online]
    store._get_provider().update_infra(store.project, tables_to_delete=[], tables_to_keep=views,
        entities_to_delete=[], entities_to_keep=store.list_entities(), partial=False)
    engine = type(store._get_provider().batch_engine).__name__
    start = time.perf_counter()
    store.materialize(pd.Timestamp("2000-01-01", tz="UTC").to_pydatetime(),
                      pd.Timestamp("2100-01-01", tz="UTC").to_pydatetime(),
                      [v.name for v in views])
    took = time.perf_counter() - start
import sqlite3
rows = sum(sqlite3.connect(sys.argv[2]).execute(f"select count(*) from {t}").fetchone()[0]
           for (t,) in sqlite3.connect(sys.argv[2]).execute(
               "select name from sqlite_master where type = 'table'"))
print(engine, file=sys.stderr)
print(took, rows, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def recent_start(weeks: int) -> str:
    """The first Friday of `weeks` weeks ending with the latest Friday."""
    today = pd.Timestamp.now().normalize()
    friday = today - pd.Timedelta(days=(today.weekday() - 4) % 7)
    return (friday - pd.Timedelta(weeks=weeks - 1)).strftime("%Y-%m-%d")


def measure(label: str, root: Path, num_cpus: int,
            timeout_s: float = STEP_TIMEOUT_S) -> list[dict[str, str]]:
    stores, depts, weeks = SIZES[label]
    ws = root / "ws"
    base = {**os.environ, "SALESOPS_PROJECT__WORKSPACE": str(ws),
            "SALESOPS_DATA__START_DATE": recent_start(weeks),
            "SALESOPS_RAY__NUM_CPUS": str(num_cpus)}
    subprocess.run([SALESOPS, "-q", "infra", "up"], env=base, check=True, stdout=subprocess.DEVNULL)
    size = ["--stores", str(stores), "--depts", str(depts), "--weeks", str(weeks)]
    out = subprocess.run([SALESOPS, "--json", "features", "build", *size], env=base, check=True,
                         capture_output=True, text=True).stdout
    built = json.loads(out)["rows"]
    rows = []
    for profile in ("embedded", "ray"):
        env = {**base, "SALESOPS_FEATURE_STORE__PROFILE": profile}
        subprocess.run([SALESOPS, "-q", "infra", "up"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        steps = {"training set": [PYTHON, "-c", TRAINING_SET],
                 "materialize": [PYTHON, "-c", MATERIALIZE, str(ws),
                                 str(root / f"online_{profile}.db")]}
        for step, cmd in steps.items():
            row = {"size": label, "built rows": f"{built:,}", "step": step, "profile": profile}
            try:
                wall, tree_mb, out = peak_of_tree(cmd, env, timeout_s)
                call_s, result_rows, driver_mb = out.split()[-3:]
                row.update({"rows out": f"{int(float(result_rows)):,}",
                            "call": f"{float(call_s):.1f} s", "process": f"{wall:.1f} s",
                            "driver peak RSS": f"{float(driver_mb) / 1e3:.2f} GB",
                            "tree peak RSS": f"{tree_mb / 1e3:.2f} GB"})
            except SystemExit as failed:
                timed_out = "failed (-9)" in str(failed)
                row["call"] = (f"not done in {timeout_s:.0f} s (killed)" if timed_out
                               else str(failed).splitlines()[-1][:120])
            print(json.dumps(row), file=sys.stderr)
            rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1M", help=f"comma-separated, of {', '.join(SIZES)}")
    parser.add_argument("--num-cpus", type=int, default=2, help="the local Ray runtime's CPUs")
    parser.add_argument("--step-timeout", type=float, default=STEP_TIMEOUT_S,
                        help=f"seconds before a step is killed (default {STEP_TIMEOUT_S})")
    parser.add_argument("--keep", action="store_true", help="keep the workspaces")
    args = parser.parse_args()
    rows = []
    for label in args.sizes.split(","):
        root = Path(tempfile.mkdtemp(prefix=f"salesops-ray-{label}-"))
        try:
            rows.extend(measure(label, root, args.num_cpus, args.step_timeout))
        finally:
            if not args.keep:
                subprocess.run(["rm", "-rf", str(root)], check=False)
    header = ["size", "built rows", "step", "profile", "rows out", "call", "process",
              "driver peak RSS", "tree peak RSS"]
    print_table(rows, header)
    print(f"\n{os.cpu_count()} CPU cores; Ray local runtime {args.num_cpus} CPUs; each step a "
          "fresh process; call = the measured call, process = its whole wall time")


if __name__ == "__main__":
    main()
