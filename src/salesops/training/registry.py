"""Registered versions and their aliases: `challenger` for every run, `champion` by the gate.

The champion's history is kept as a registered-model tag (a JSON list of versions), so that
`rollback` restores the previous champion rather than guessing from version numbers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from salesops.errors import CheckFailed, PreconditionError, UsageError

CHAMPION = "champion"
CHALLENGER = "challenger"
HISTORY_TAG = "salesops.champion_history"


@dataclass
class GateDecision:
    promote: bool
    reason: str
    required_wape: float
    champion_wape: float | None


def decide(model_wape: float, best_baseline: tuple[str, float], margin: float,
           champion_wape: float | None, mode: str) -> GateDecision:
    """mode: auto (the gate decides) | force | never."""
    name, baseline_wape = best_baseline
    required = baseline_wape * (1 - margin)
    beats_baseline = model_wape < required
    beats_champion = champion_wape is None or model_wape <= champion_wape
    if mode == "never":
        return GateDecision(False, "--no-promote", required, champion_wape)
    if mode == "force":
        return GateDecision(True, "--force-promote", required, champion_wape)
    if not beats_baseline:
        reason = (f"WAPE {model_wape:.2f}% does not beat {name} ({baseline_wape:.2f}%) "
                  f"by the {margin:.0%} margin (needs < {required:.2f}%)")
        return GateDecision(False, reason, required, champion_wape)
    if not beats_champion:
        reason = (f"WAPE {model_wape:.2f}% is worse than the champion's {champion_wape:.2f}% "
                  "on the same holdout")
        return GateDecision(False, reason, required, champion_wape)
    reason = f"WAPE {model_wape:.2f}% beats {name} ({baseline_wape:.2f}%) by the margin"
    if champion_wape is not None:
        reason += f" and the champion ({champion_wape:.2f}%)"
    return GateDecision(True, reason, required, champion_wape)


def client():
    from mlflow import MlflowClient

    return MlflowClient()


def champion_version(name: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(client().get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException:
        return None


def champion_run(name: str):
    """(version, MLflow run that trained it) of the champion, None without one."""
    version = champion_version(name)
    if version is None:
        return None
    c = client()
    run_id = c.get_model_version(name, version).run_id
    return version, (c.get_run(run_id) if run_id else None)


def champion_lineage(name: str) -> tuple[str, str | None] | None:
    """(version, data fingerprint it was trained on) of the champion, None without one."""
    found = champion_run(name)
    if found is None:
        return None
    version, run = found
    return version, (run.data.tags if run else {}).get("data_fingerprint")


def promote(name: str, version: str) -> None:
    c = client()
    c.get_model_version(name, version)  # raises when the version does not exist
    history = _history(name)
    if history[-1:] != [version]:
        history.append(version)
    c.set_registered_model_alias(name, CHAMPION, version)
    c.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))


def rollback(name: str) -> tuple[str, str]:
    """Give `champion` back to the previous champion; returns (from, to)."""
    history = _history(name)
    if len(history) < 2:
        raise CheckFailed("no earlier champion to roll back to")
    current, previous = history[-1], history[-2]
    c = client()
    c.set_registered_model_alias(name, CHAMPION, previous)
    c.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history[:-1]))
    return current, previous


def list_versions(name: str) -> list[dict]:
    from mlflow.exceptions import MlflowException

    c = client()
    try:
        versions = c.search_model_versions(f"name = '{name}'")
    except MlflowException as exc:
        raise PreconditionError(f"no registered model {name!r}: {exc}",
                                hint="run `salesops train submit` first") from None
    rows = []
    for found in sorted(versions, key=lambda v: int(v.version)):
        v = c.get_model_version(name, found.version)  # search results omit the aliases
        run = c.get_run(v.run_id) if v.run_id else None
        metrics = run.data.metrics if run else {}
        rows.append({"version": str(v.version), "aliases": sorted(v.aliases),
                     "wape": metrics.get("holdout_wape"), "mape": metrics.get("holdout_mape"),
                     "run_id": v.run_id, "created": v.creation_timestamp})
    if not rows:
        raise PreconditionError(f"no versions of {name!r}", hint="run `salesops train submit`")
    return rows


def _history(name: str) -> list[str]:
    from mlflow.exceptions import MlflowException

    try:
        model = client().get_registered_model(name)
    except MlflowException:
        raise UsageError(f"no registered model {name!r}") from None
    return json.loads(model.tags.get(HISTORY_TAG, "[]"))
