"""The model against a gradient-boosted global model, on exactly the project's training set.

Run by hand (not part of the tests), in a workspace with a build:
    .venv/bin/python benchmarks/lightgbm_reference.py [--nodes 1,2]

For each `--nodes` value, `salesops train submit --no-promote --nodes N` trains the model
and reports its holdout metrics and the naive baselines'. LightGBM (`.[reference]` extra,
installed by scripts/install.sh) then trains on the same rows, inputs and split that the
model reads, `training.dataset.load_training_set`: the fitted weeks to fit, the 4
early-stopping weeks to stop on, the holdout weeks only to score. Its configs are fixed
here in advance, never tuned on the holdout; the store and dept ids are categorical. The
target is the raw weekly sales (clipped at 0 for Tweedie, which needs it; returns make a
few weeks negative). Prints the holdout WAPE of each, as the issue's table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

SALESOPS = str(Path(sys.executable).parent / "salesops")
#: fixed before any run; the same for every data set
COMMON = {"learning_rate": 0.05, "num_leaves": 63, "min_data_in_leaf": 50,
          "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1,
          "lambda_l2": 1.0, "verbose": -1, "seed": 0, "num_threads": os.cpu_count() or 1}
CONFIGS = {"tweedie on raw sales": {"objective": "tweedie", "tweedie_variance_power": 1.2},
           "l1 on raw sales": {"objective": "l1"}}
ROUNDS, PATIENCE = 3000, 100


def salesops_run(nodes: int) -> dict:
    started = time.perf_counter()
    out = subprocess.run([SALESOPS, "--json", "train", "submit", "--no-promote", "--nodes",
                          str(nodes)], check=True, capture_output=True, text=True).stdout
    run = json.loads(out)
    run["wall_s"] = time.perf_counter() - started
    return run


def lightgbm_runs() -> dict[str, tuple[float, int, float]]:
    """Config -> (holdout WAPE, rounds kept, seconds)."""
    import lightgbm
    import numpy as np

    from salesops.config import load_settings
    from salesops.features.schema import TARGET
    from salesops.training.dataset import load_training_set
    from salesops.training.inputs import model_inputs
    from salesops.training.metrics import regression_metrics

    data = load_training_set(load_settings())
    arrays = data.arrays()
    holdout = model_inputs({c: data.holdout[c].to_numpy() for c in data.holdout.columns},
                           data.features)

    def table(inputs) -> np.ndarray:
        return np.column_stack([np.asarray(inputs.x, dtype=np.float32),
                                np.asarray(inputs.ids, dtype=np.float32)])

    width = np.shape(arrays["train"].x)[1]
    categorical = [width, width + 1]  # store, dept
    results = {}
    for name, config in CONFIGS.items():
        started = time.perf_counter()
        target = (lambda y: np.clip(y, 0, None)) if config["objective"] == "tweedie" else (
            lambda y: y)
        fit = lightgbm.Dataset(table(arrays["train"]), target(arrays["y_train"]),
                               categorical_feature=categorical, free_raw_data=False)
        val = lightgbm.Dataset(table(arrays["val"]), target(arrays["y_val"]), reference=fit,
                               categorical_feature=categorical)
        booster = lightgbm.train({**COMMON, **config, "metric": "l1"}, fit, ROUNDS,
                                 valid_sets=[val],
                                 callbacks=[lightgbm.early_stopping(PATIENCE, verbose=False)])
        forecast = np.clip(booster.predict(table(holdout),
                                           num_iteration=booster.best_iteration), 0, None)
        wape = regression_metrics(data.holdout[TARGET].to_numpy(), forecast)["wape"]
        results[name] = (wape, booster.best_iteration, time.perf_counter() - started)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", default="1,2", help="comma-separated (default 1,2)")
    args = parser.parse_args()
    from salesops.training.metrics import BASELINES

    rows, baselines = [], {}
    for nodes in (int(n) for n in args.nodes.split(",")):
        run = salesops_run(nodes)
        metrics = {m["name"]: m for m in run["metrics"]}
        baselines = {k: metrics[k]["wape"] for k in BASELINES}
        model = metrics["model"]
        note = (f"{run['epochs_run']} epochs, {run['wall_s']:.1f} s; P10-P90 holds "
                f"{model['coverage']:.1f} %, pinball {model['pinball']:.1f}")
        rows.append((f"salesops, train submit --nodes {nodes}", model["wape"], note))
    for name, (wape, rounds, seconds) in lightgbm_runs().items():
        rows.append((f"LightGBM, {name}", wape, f"{rounds} rounds, {seconds:.0f} s"))
    best = min(baselines, key=baselines.get)
    rows.append((f"best naive baseline ({best})", baselines[best], ""))
    lightgbm = min(wape for name, wape, _ in rows if name.startswith("LightGBM"))
    rows.append(("target: 0.95 x the best LightGBM", 0.95 * lightgbm, ""))
    width = max(len(r[0]) for r in rows)
    print(f"{'':{width}}  holdout WAPE %  ")
    for name, wape, note in rows:
        print(f"{name:{width}}  {wape:13.2f}  {note}")


if __name__ == "__main__":
    main()
