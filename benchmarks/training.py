"""Benchmark the training loop: wall time and holdout WAPE on the default data. Prints a table.

Run by hand (not part of the tests):

    .venv/bin/python benchmarks/training.py                 # 1 and 2 processes, CPU (gloo)
    python3 benchmarks/training.py --nodes 1 --epochs 20    # on a GPU box: CUDA + bf16 autocast

It builds the same features as `salesops features build` and the same time split as
`train submit`, but joins the feature frames in memory instead of through Feast and skips
MLflow, so it runs where only torch, numpy and pandas are installed (PYTHONPATH=src). For
the end-to-end figure, time `salesops train submit --nodes 2 --epochs 20`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def training_set(stores: int, depts: int, weeks: int, holdout_weeks: int = 13):
    from salesops.data.synthetic import generate
    from salesops.features.engineering import build_features
    from salesops.features.schema import TIMESTAMP
    from salesops.training.dataset import TrainingSet, model_features

    frames = build_features(generate(stores=stores, depts=depts, weeks=weeks))
    keys = ["store", "dept", TIMESTAMP]
    # Weekly rows on the same timestamps: the point-in-time join is an exact join here.
    frame = (frames.dept_weekly.merge(frames.store_weekly, on=["store", TIMESTAMP])
             .merge(frames.sales_target, on=keys).sort_values(keys).reset_index(drop=True))
    week_list = np.sort(frame[TIMESTAMP].unique())
    return TrainingSet.from_frame(frame, pd.Timestamp(week_list[-holdout_weeks]),
                                  fingerprint="benchmark", features=model_features(8))


def _entry(stores: int, depts: int, weeks: int, epochs: int):
    """One rank: build the set (each rank alone: no broadcast to time), train, evaluate."""
    import torch

    from salesops.training.distributed import init_from_env, shutdown
    from salesops.training.inputs import model_inputs
    from salesops.training.loop import TrainConfig, train
    from salesops.training.metrics import baseline_metrics, best_baseline, regression_metrics
    from salesops.training.model import Scalers, predict

    info = init_from_env()
    try:
        data = training_set(stores, depts, weeks)
        arrays = data.arrays()
        scalers = Scalers.fit(arrays["train"].x, arrays["y_train"])
        if info.device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        result = train(arrays["train"], arrays["y_train"], arrays["val"], arrays["y_val"],
                       scalers, TrainConfig(epochs=epochs, patience=epochs), info)
        if info.device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - started
        holdout = data.holdout
        predicted = predict(result.model, scalers, model_inputs(holdout, data.features))
        wape = regression_metrics(holdout["weekly_sales"].to_numpy(), predicted)["wape"]
        baseline, metrics = best_baseline(baseline_metrics(holdout))
        device = torch.cuda.get_device_name(info.device) if info.device.type == "cuda" else "cpu"
        return {"rows": len(arrays["train"]), "seconds": seconds, "epochs": result.epochs_run,
                "wape": wape, "baseline": f"{baseline} {metrics['wape']:.2f}",
                "backend": info.backend, "device": device,
                "autocast": "bf16" if info.device.type == "cuda" else "-"}
    finally:
        shutdown(info)


def main() -> None:
    from salesops.training.distributed import launch_local

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, action="append",
                        help="processes (repeatable; default 1 and 2)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--stores", type=int, default=45)
    parser.add_argument("--depts", type=int, default=14)
    parser.add_argument("--weeks", type=int, default=104)
    args = parser.parse_args()
    rows = []
    for nodes in args.nodes or [1, 2]:
        wall = time.perf_counter()
        out = launch_local(nodes, _entry, (args.stores, args.depts, args.weeks, args.epochs))
        wall = time.perf_counter() - wall
        rows.append((nodes, out["backend"], out["device"], out["autocast"], f"{out['rows']:,}",
                     out["epochs"], f"{out['seconds']:.1f}", f"{wall:.1f}", f"{out['wape']:.2f}",
                     out["baseline"]))
    header = ("procs", "backend", "device", "autocast", "train rows", "epochs", "train s",
              "wall s", "WAPE %", "best baseline WAPE %")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)))
    print(f"\n{os.cpu_count()} CPU cores; python {sys.version.split()[0]}; budget: 20 epochs on "
          "2 processes < 60 s (2 CPU cores)")


if __name__ == "__main__":
    main()
