"""`salesops pipeline run`: the local lifecycle in one command, idempotent on re-run.

infra up -> features build -> train submit -> serve deploy -> a sample of predictions.
A re-run does only what is out of date: the feature store is rebuilt when the configured
data differs from what it holds, a model is trained when the champion was not trained on
the current features (its `data_fingerprint` lineage tag), and the server is redeployed
when it is not running the champion. `force` redoes every step.

Each step is the same code as its own command, so a failure stops the run where the
command alone would have stopped, leaving the earlier steps' results in place.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from salesops.config import Settings
from salesops.errors import CheckFailed, UsageError
from salesops.workspace import Workspace, locked

Progress = Callable[[str], None]
#: entities whose forecasts the last step asks the server for
SAMPLE_SIZE = 3


@dataclass
class Step:
    name: str
    state: str  # done | skipped
    seconds: float
    detail: str


@dataclass
class PipelineResult:
    steps: list[Step] = field(default_factory=list)
    predictions: list[dict[str, Any]] = field(default_factory=list)
    url: str | None = None
    model_version: str | None = None
    drift: dict[str, Any] | None = None  # `drift` step's result (with `monitor`)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "seconds": round(sum(s.seconds for s in self.steps), 2)}


def run(settings: Settings, config: Path | None, progress: Progress, force: bool = False,
        epoch_progress: str = "lines", monitor: bool = False) -> PipelineResult:
    """`epoch_progress`: how training shows its epochs (a `training.progress` mode);
    `monitor`: end with `drift` (the champion's training data against the newest weeks)."""
    from salesops.backends import training_backend

    # the later steps serve and query the model this process trained: a backend whose
    # training ends elsewhere (a TrainJob) has no model to deploy when `submit` returns
    if not training_backend(settings).completes_in_submit:
        raise UsageError("pipeline run drives the local lifecycle; on Kubernetes run `infra up`, "
                         "`features build`, `train submit --wait` and `serve deploy --wait`")
    result = PipelineResult()

    def step(name: str, action: Callable[[], tuple[str, str]]) -> None:
        progress(f"pipeline: {name}")
        started = time.perf_counter()
        state, detail = action()
        result.steps.append(Step(name, state, round(time.perf_counter() - started, 2), detail))

    step("infra up", lambda: _infra(settings, progress))
    # one lock across the steps that follow: no other command changes the data between them
    with locked(Workspace(settings.workspace)):
        step("features build", lambda: _features(settings, progress, force))
        step("train submit", lambda: _train(settings, force, epoch_progress))
        step("serve deploy", lambda: _serve(settings, config, progress, force, result))
        step("predict", lambda: _predict(settings, result))
        if monitor:
            step("drift", lambda: _drift(settings, result))
    return result


def _infra(settings: Settings, progress: Progress) -> tuple[str, str]:
    from salesops.backends import infra_backend
    from salesops.features.repo import repo_files

    report = infra_backend(settings).up(progress, partial(repo_files, settings))
    changed = [c.name for c in report.components if c.state != "unchanged"]
    return ("done", f"created or updated: {', '.join(changed)}") if changed else (
        "skipped", f"up to date at {report.location}")


def _features(settings: Settings, progress: Progress, force: bool) -> tuple[str, str]:
    from salesops.features.build import build
    from salesops.features.offline import read_manifest

    # the server's copy on the `postgres` profile: what training and serving will read
    manifest = read_manifest(settings, Workspace(settings.workspace))
    if not force and manifest is not None and _same_data(settings, manifest):
        return "skipped", f"up to date (fingerprint {manifest['fingerprint']})"
    built = build(settings, progress=progress)
    return "done", (f"{built.rows:,} rows, {built.online_entities:,} series online "
                    f"(fingerprint {built.fingerprint})")


def _same_data(settings: Settings, manifest: dict[str, Any]) -> bool:
    """Whether the store holds the configured data (appended weeks are kept, not undone)."""
    from salesops.data.cleaning import policies_of
    from salesops.features.build import data_identity

    wanted = data_identity(settings.data)
    return (all(manifest.get(key) == value for key, value in wanted.items())
            and manifest.get("policies") == policies_of(settings.data))


def _train(settings: Settings, force: bool, epoch_progress: str) -> tuple[str, str]:
    from salesops.features.offline import read_manifest
    from salesops.training import registry
    from salesops.training.submit import submit
    from salesops.training.tracking import Tracking

    workspace = Workspace(settings.workspace)
    fingerprint = read_manifest(settings, workspace)["fingerprint"]
    Tracking.open(settings, read_only=False)
    champion = registry.champion_lineage(settings.mlflow.model_name)
    if not force and champion is not None and champion[1] == fingerprint:
        return "skipped", f"champion v{champion[0]} was trained on these features"
    summary = submit(settings, "auto", epoch_progress)
    model = next(row for row in summary["metrics"] if row["name"] == "model")
    detail = (f"v{summary['version']}: WAPE {model['wape']:.2f}% "
              f"({'champion' if summary['promoted'] else 'challenger'}: {summary['reason']})")
    if not summary["promoted"] and registry.champion_version(settings.mlflow.model_name) is None:
        raise CheckFailed(f"no champion to serve: {detail}")
    return "done", detail


def _serve(settings: Settings, config: Path | None, progress: Progress, force: bool,
           result: PipelineResult) -> tuple[str, str]:
    from salesops.serving import deployment
    from salesops.serving.scorer import resolve_version

    champion = resolve_version(settings, None, None)
    current = deployment.status(settings)
    if not force and current.get("ready") and str(current.get("model_version")) == champion:
        result.url, result.model_version = current["url"], champion
        return "skipped", f"v{champion} already serving at {current['url']}"
    record = deployment.deploy(settings, config, champion, None, progress)
    result.url, result.model_version = record["url"], str(record["model_version"])
    return "done", f"v{record['model_version']} at {record['url']} (pid {record['pid']})"


def _predict(settings: Settings, result: PipelineResult) -> tuple[str, str]:
    import pandas as pd

    from salesops.serving.client import predict

    workspace = Workspace(settings.workspace)
    online = pd.read_parquet(workspace.offline_data / "dept_weekly.parquet",
                             columns=["store", "dept", "event_timestamp"])
    latest = online[online["event_timestamp"] == online["event_timestamp"].max()]
    sample = latest[["store", "dept"]].drop_duplicates().head(SAMPLE_SIZE)
    answer = predict(result.url, settings.mlflow.model_name, sample["store"].tolist(),
                     sample["dept"].tolist())
    result.predictions = answer["predictions"]
    return "done", f"{len(result.predictions)} forecasts in {answer['latency_ms']:.1f} ms"


def _drift(settings: Settings, result: PipelineResult) -> tuple[str, str]:
    """Too little data is no verdict, and no reason to fail the run: the step says so."""
    from salesops.errors import DataError
    from salesops.monitoring import drift

    try:
        found = drift.run(settings)
    except DataError as exc:
        return "skipped", exc.one_line()
    result.drift = found.to_dict()
    drifted = ", ".join(found.drifted_features) or "no feature"
    return "done", f"{'DRIFT' if found.drift else 'no drift'} ({drifted} drifted)"
