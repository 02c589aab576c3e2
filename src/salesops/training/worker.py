"""What every training process runs (`salesops train run`; a local worker or a TrainJob pod).

Rank 0 builds the point-in-time training set once and shares the arrays; every rank trains
under DDP; rank 0 alone evaluates on the holdout, decides the promotion gate and logs the
run and its model to MLflow. Nothing is registered here: `training.publish` registers the
version and moves the aliases once every rank has succeeded, in the process that launched
them (`train submit`) or on rank 0 after the ranks' last barrier (`train run` in a pod).
A run killed before that leaves an MLflow run without a registered version, and the
champion untouched.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import os
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from salesops import __version__
from salesops.config import Settings
from salesops.faults import checkpoint

# MLflow's artifact upload bars would interleave with the epoch lines on stderr, and its
# INFO lines (database migrations, signature checks) are noise in a training log
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")


def run_worker(settings_data: dict[str, Any], promote_mode: str = "auto",
               progress: str = "lines") -> dict | None:
    """Entry point of each rank. Returns, on rank 0, the logged run for `publish.publish`
    (None elsewhere), once every rank has finished training.

    `progress` is a `training.progress` mode: "bar", "lines" or "off".
    """
    from salesops.backends.local import threads as cpu
    from salesops.training.reference import check_available

    # a pod's `train run` too, before any training
    check_available(settings_data.get("training", {}).get("reference", "none"))
    cpu.prefer_passive_wait()  # before torch loads (a pod's `train run`)
    from salesops.training.distributed import init_from_env, shutdown

    settings = Settings(**settings_data)
    info = init_from_env()
    # this node's cores among this node's ranks: a local launch's or a pod's (its CPU limit)
    cpu.apply(cpu.per_process(int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))
    try:
        candidate = _train(settings, info, promote_mode, progress)
    finally:
        _before_exit()
    # Only after success: tearing the process group down on a failure would fail the peers
    # with "connection closed" before this rank's own report is out. The local launcher
    # tears it down after the report; a pod's exit closes it.
    shutdown(info)
    return candidate


def _before_exit() -> None:
    """A spawned local worker exits right after its report (a pod's `train run` and
    `--nodes 1`, in the command's own process, go on)."""
    if multiprocessing.parent_process() is None:
        return
    from salesops.teardown import silence_native_teardown

    silence_native_teardown()
    # The interpreter's last collections walked every object that torch, Feast and MLflow
    # had made: 3-4 s per rank after the run was over, which `train submit` waited for.
    # They skip frozen objects, which go with the process.
    gc.freeze()


def _all_finished(info) -> None:
    """Wait for every rank to finish training: rank 0 logs and registers the run only if
    all of them got here."""
    from salesops.errors import CheckFailed
    from salesops.training.distributed import barrier

    try:
        barrier(info)
    except RuntimeError as exc:  # gloo: a plain RuntimeError ("Connection closed by peer")
        first_line = (str(exc).strip().splitlines() or [""])[0]
        raise CheckFailed(f"training rank {info.rank}: another rank failed before all had "
                          f"finished ({first_line}); nothing was registered") from None


def _train(settings: Settings, info, promote_mode: str, progress: str) -> dict | None:
    from salesops.backends.local.threads import describe
    from salesops.training.loop import TrainConfig, member_workers, train_encoded
    from salesops.training.progress import epoch_progress
    from salesops.training.shared_rows import share_rows

    timings = _Timings()
    training_set = None
    if info.is_main:
        from salesops.training.dataset import load_training_set

        with timings("training_set"):
            training_set = load_training_set(settings)  # checked: see check_training_frame
    with timings("share_rows"):
        shared = share_rows(info, training_set)
    if training_set is not None:
        training_set = _without_train_rows(training_set)
    config = TrainConfig.from_section(settings.training)
    started = time.perf_counter()
    mode = progress if info.is_main else "off"
    with epoch_progress(mode, config.epochs, describe(info.world_size, _threads()),
                        config.members, member_workers(config.members, info)) as on_epoch:
        result = train_encoded(shared.train, shared.val.take(slice(info.rank, None,
                                                                     info.world_size)),
                               shared.id_sizes, config, info, on_epoch=on_epoch)
    seconds = time.perf_counter() - started
    timings.seconds["train"] = seconds
    # Every rank's part ends here: the others leave while rank 0 fits the reference and
    # logs, which can take longer than a collective may wait (LightGBM on 10M rows).
    checkpoint("train.before_barrier")
    _all_finished(info)
    scalers = shared.scalers
    reference = None
    if info.is_main and settings.training.reference != "none":
        with timings("reference"):
            reference = _reference(shared, training_set)
    del shared  # unmaps the rows
    if not info.is_main:
        return None
    checkpoint("train.after_epochs")
    with quiet_mlflow():
        candidate = _log_run(settings, training_set, result, scalers, info, promote_mode,
                             seconds, timings, reference)
    checkpoint("train.after_log")
    return candidate


class _Timings:
    """Seconds per phase of a rank's run, for the summary (`timings`)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, phase: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] = time.perf_counter() - started

    def rounded(self) -> dict[str, float]:
        return {phase: round(value, 2) for phase, value in self.seconds.items()}


def _reference(shared, training_set) -> dict | None:
    """LightGBM on the rows the model trained on, its holdout forecasts (`reference`); None,
    with a warning, if it fails: a row that the gate does not read must not cost the run."""
    from salesops.training.inputs import model_inputs
    from salesops.training.reference import lightgbm_forecasts

    holdout = model_inputs(training_set.holdout, training_set.features)
    try:
        return lightgbm_forecasts(shared.train, shared.val, shared.scalers,
                                  shared.scalers.encode_x(holdout.x), holdout.ids, _threads())
    except Exception as exc:  # LightGBM's own errors (memory, a bad config) are its own
        logging.getLogger("salesops.training").warning(
            "the LightGBM reference failed, the run goes on without it: %s", exc)
        return None


def _without_train_rows(training_set):
    """The set as logging reads it (holdout, features, lineage, row count): the training
    rows live encoded in the shared files now, and their raw arrays (1.5 GB at 10M rows)
    would stay in rank 0's memory through every epoch."""
    import dataclasses

    import numpy as np

    from salesops.training.inputs import ModelInputs

    inputs = training_set.train_inputs
    none = ModelInputs(np.empty((0, inputs.x.shape[1]), inputs.x.dtype),
                       np.empty((0, 2), inputs.ids.dtype), np.empty(0, inputs.level.dtype))
    return dataclasses.replace(training_set, train_inputs=none,
                               train_keys=training_set.train_keys.iloc[:0].copy())


@contextlib.contextmanager
def quiet_mlflow():
    """MLflow logs INFO lines, library warnings and `print`s registry messages to stdout;
    stdout carries our JSON, so keep warnings and above, on stderr."""
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _log_run(settings, training_set, result, scalers, info, promote_mode, seconds,
             timings: _Timings, reference: dict | None = None) -> dict:
    """Score the holdout, decide the gate, log the run and its model (not registered)."""
    import mlflow

    from salesops.training.inputs import model_inputs
    from salesops.training.intervals import interval_metrics
    from salesops.training.metrics import holdout_metrics, metrics_rows, regression_metrics
    from salesops.training.model import median_column, predict
    from salesops.training.tracking import Tracking

    holdout = training_set.holdout
    with timings("holdout"):
        quantiles = predict(result.model, scalers, model_inputs(holdout, training_set.features))
        predictions = quantiles[:, median_column(result.model)]
        model_metrics, baselines = holdout_metrics(holdout, predictions)
        model_metrics.update(interval_metrics(holdout["weekly_sales"].to_numpy(), quantiles))
    with timings("gate"):
        tracking = Tracking.open(settings, read_only=False)
        name = settings.mlflow.model_name
        champion, decision = _gate(settings, name, holdout, predictions, baselines,
                                   promote_mode)
    references = {}
    if reference is not None:
        references[settings.training.reference] = {
            **regression_metrics(holdout["weekly_sales"].to_numpy(), reference["forecast"]),
            "rounds": reference["rounds"], "seconds": round(reference["seconds"], 2)}
    rows = metrics_rows(model_metrics, baselines, references)

    with timings("log_run"), mlflow.start_run(experiment_id=tracking.experiment_id) as run:
        _log_params(settings, training_set, info)
        _log_metrics(result.history, model_metrics, baselines, references)
        mlflow.log_dict({"holdout": rows, "gate": decision.__dict__}, "holdout_metrics.json")
        mlflow.set_tags(lineage_tags(settings, training_set))
        if training_set.data_report is not None:
            mlflow.log_dict(training_set.data_report, "data_report.json")
        mlflow.log_figure(_forecast_plot(holdout, quantiles, median_column(result.model)),
                          "forecast_vs_actual.png")
        with timings("log_model"):
            logged = _log_model(result.model, scalers, training_set)
    return {
        "run_id": run.info.run_id, "model_name": name,
        "model_uri": f"runs:/{run.info.run_id}/{logged.name}",
        "promote": decision.promote, "reason": decision.reason,
        "previous_champion": champion, "metrics": rows,
        # the baseline that binds the gate: the one the model beats by the least
        "best_baseline": decision.binding_baseline,
        "references": list(references),
        "epochs_run": result.epochs_run, "best_epochs": result.best_epochs,
        "stopped_early": result.stopped_early, "train_seconds": round(seconds, 2),
        **_run_shape(training_set, info),
        # rank 0's seconds per phase; log_run includes log_model
        "timings": timings.rounded(),
    }


def _gate(settings: Settings, name: str, holdout, predictions, baselines: dict,
          promote_mode: str):
    """(the champion's version or None, the gate's decision) for this model."""
    from salesops.training import registry

    champion = registry.champion_version(name)
    champion_bar = _champion_bar(name, holdout, predictions) if champion is not None else None
    decision = registry.decide(
        [registry.Bar(b, m["wape"], m["model_wape"], m["rows"]) for b, m in baselines.items()],
        settings.training.promote_margin, champion_bar, promote_mode)
    return champion, decision


def _run_shape(training_set, info) -> dict:
    """Where and on how much the model was trained: a run param and a summary field each."""
    return {"world_size": info.world_size, "threads": _threads(), "backend": info.backend,
            "train_rows": training_set.train_rows, "holdout_rows": len(training_set.holdout),
            "holdout_start": training_set.holdout_start.date().isoformat()}


def _log_params(settings: Settings, training_set, info) -> None:
    import mlflow

    mlflow.log_params({**settings.training.model_dump(), **_run_shape(training_set, info),
                       "features": len(training_set.features)})


def _log_metrics(history: list[dict], model_metrics: dict, baselines: dict,
                 references: dict) -> None:
    import mlflow

    epochs = max(entry["epoch"] for entry in history) if history else 0
    for entry in history:  # network after network: step = (member - 1) * epochs + epoch
        mlflow.log_metrics({"train_loss": entry["train_loss"], "val_loss": entry["val_loss"]},
                           step=(entry.get("member", 1) - 1) * epochs + entry["epoch"])
    mlflow.log_metrics({f"holdout_{k}": v for k, v in model_metrics.items()})
    for baseline, values in baselines.items():
        # a baseline defined on no holdout row has only its row count
        mlflow.log_metrics({f"baseline_{baseline}_{k}": v for k, v in values.items()
                            if v is not None})
    for name, values in references.items():
        mlflow.log_metrics({f"reference_{name}_{k}": v for k, v in values.items()})


def _log_model(model, scalers, training_set):
    """The pyfunc model in the active run: its code, pinned requirements, signature and an
    input example (see `pyfunc_model.log_model`)."""
    from salesops.training.pyfunc_model import log_model

    return log_model(model, scalers, training_set.features, training_set.holdout)


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def _champion_bar(name: str, holdout, predictions):
    """The champion and this model, both scored on the holdout rows the champion can
    forecast: all of them, unless it reads features (training.history_weeks) that young
    series lack."""
    import mlflow
    import numpy as np

    from salesops.training import registry
    from salesops.training.metrics import regression_metrics

    champion_model = mlflow.pyfunc.load_model(f"models:/{name}@{registry.CHAMPION}")
    columns = champion_model.metadata.get_input_schema().input_names()
    defined = np.isfinite(holdout[columns].to_numpy(dtype=np.float64, na_value=np.nan)).all(1)
    if not defined.any():
        return registry.Bar("champion", None, None, 0)
    from salesops.forecasts import point_forecast

    actual = holdout["weekly_sales"].to_numpy()[defined]
    champion_pred = point_forecast(champion_model.predict(holdout.loc[defined, columns]))
    return registry.Bar("champion", regression_metrics(actual, champion_pred)["wape"],
                        regression_metrics(actual, predictions[defined])["wape"],
                        int(defined.sum()))


def lineage_tags(settings: Settings, training_set) -> dict[str, str]:
    """What the run was trained on: code, features, data and the data.* policies that
    cleaned it (`data.<key>`; builds made before those policies existed record none)."""
    tags = {"salesops.version": __version__, "feature_service": training_set.feature_service,
            "data_fingerprint": training_set.fingerprint, "feature_store.profile":
            settings.feature_store.profile, "python": platform.python_version()}
    tags.update({f"data.{key}": str(value) for key, value in training_set.policies.items()})
    commit = _git_commit()
    if commit:
        tags["git_commit"] = commit
    return tags


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, cwd=Path(__file__).parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def _forecast_plot(holdout, quantiles, median: int):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # the sums of the rows' P10 and P90 are not the total's quantiles: a band of the
    # rows' bounds, drawn as such
    weekly = holdout.assign(low=quantiles[:, 0], predicted=quantiles[:, median],
                            high=quantiles[:, -1]).groupby("event_timestamp")[
        ["weekly_sales", "low", "predicted", "high"]].sum()
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.fill_between(weekly.index, weekly["low"], weekly["high"], alpha=0.2,
                    label="sum of the rows' P10 and P90")
    ax.plot(weekly.index, weekly["weekly_sales"], label="actual", marker="o")
    ax.plot(weekly.index, weekly["predicted"], label="forecast (P50)", marker="x")
    ax.set_title("Holdout: total weekly sales, actual vs forecast")
    ax.legend()
    fig.autofmt_xdate()
    return fig

