"""Registered versions and their aliases: `challenger` for every run, `champion` by the gate.

The champion's history is kept as a registered-model tag (a JSON list of versions), so that
`rollback` restores the previous champion rather than guessing from version numbers. The
tag and the alias are two writes: the history is read up to the version the alias names,
so a promotion killed between them (history written, alias not moved) never counts, and
neither does a rollback killed between them (alias moved, history not cut).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from salesops.errors import CheckFailed, PreconditionError, UsageError
from salesops.faults import checkpoint

CHAMPION = "champion"
CHALLENGER = "challenger"
HISTORY_TAG = "salesops.champion_history"


@dataclass(frozen=True)
class Bar:
    """A forecaster the model must beat, and the model, scored on the same `rows` rows: the
    ones where that forecaster has a forecast (a baseline may lack one for young series)."""

    name: str
    wape: float | None  # None: defined on no row
    model_wape: float | None
    rows: int

    @property
    def comparable(self) -> bool:
        # a NaN WAPE (all-zero actuals on its rows) measures nothing either
        return self.rows > 0 and self.wape is not None and not math.isnan(self.wape)


@dataclass
class GateDecision:
    promote: bool
    reason: str
    required_wape: float  # the binding baseline's WAPE less the margin (NaN without one)
    champion_wape: float | None
    binding_baseline: str | None = None


def decide(baselines: list[Bar], margin: float, champion: Bar | None,
           mode: str) -> GateDecision:
    """mode: auto (the gate decides) | force | never.

    The model must beat every baseline that is defined on at least one holdout row by
    `margin`, each on that baseline's rows; the baseline it beats by the least (relative to
    its WAPE) binds and is the one the reason names. It must also do at least as well as
    the champion, on the holdout rows the champion forecasts (normally all of them).
    """
    bars = [bar for bar in baselines if bar.comparable]
    binding = max(bars, key=_ratio, default=None)  # first in order on ties
    required = binding.wape * (1 - margin) if binding else math.nan
    champion_wape = champion.wape if champion is not None else None

    def decision(promote: bool, reason: str) -> GateDecision:
        return GateDecision(promote, reason, required, champion_wape,
                            binding.name if binding else None)

    if mode == "never":
        return decision(False, "--no-promote")
    if mode == "force":
        return decision(True, "--force-promote")
    if binding is None:
        return decision(False, "no baseline forecasts any holdout row: nothing to measure "
                               "the model against")
    on_rows = f"on the {binding.rows:,} holdout rows it forecasts"
    if not binding.model_wape < required:
        return decision(False, f"WAPE {binding.model_wape:.2f}% does not beat {binding.name} "
                               f"({binding.wape:.2f}%) by the {margin:.0%} margin {on_rows} "
                               f"(needs < {required:.2f}%)")
    if champion is not None and not champion.comparable:
        return decision(False, "the champion forecasts no holdout row, so the gate cannot "
                               "compare them (`salesops models promote` decides by hand)")
    if champion is not None and not champion.model_wape <= champion.wape:
        return decision(False, f"WAPE {champion.model_wape:.2f}% is worse than the champion's "
                               f"{champion.wape:.2f}% on the same {champion.rows:,} holdout rows")
    reason = (f"WAPE {binding.model_wape:.2f}% beats {binding.name} ({binding.wape:.2f}%) by "
              f"the margin {on_rows}, and every other baseline by more")
    if champion is not None:
        than = "beats" if champion.model_wape < champion.wape else "is as good as"
        reason += f"; WAPE {champion.model_wape:.2f}% {than} the champion ({champion.wape:.2f}%)"
    return decision(True, reason)


def _ratio(bar: Bar) -> float:
    """The model's WAPE over the baseline's: the higher, the less the model beats it by."""
    return bar.model_wape / bar.wape if bar.wape > 0 else math.inf


def client():
    from mlflow import MlflowClient

    return MlflowClient()


def run_lineage(run_id: str) -> dict[str, str]:
    """What a run was trained on (`worker.lineage_tags`: data fingerprint and policies,
    feature service, salesops version, git commit): its tags less MLflow's own (`mlflow.*`).
    Each registered version carries them too, so that what reads only the registry (a
    serving runtime, the registry's UI, `models:/` URIs) knows where the model came from."""
    tags = client().get_run(run_id).data.tags
    return {key: value for key, value in tags.items() if not key.startswith("mlflow.")}


def champion_version(name: str) -> str | None:
    """The champion's version; None when the model or its alias does not exist (any other
    MLflow error is the store failing, not "no champion")."""
    from mlflow.exceptions import MlflowException

    from salesops.training.tracking import not_found, store_failed

    try:
        return str(client().get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException as exc:
        if not_found(exc):
            return None
        raise store_failed(exc) from None


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
    history = _history(name)
    _require_version(name, version)
    if history[-1:] != [version]:
        history.append(version)
    # history first: killed before the alias moves, the old champion stays champion and
    # this entry, past the alias, is ignored
    c.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))
    checkpoint("registry.after_history")
    c.set_registered_model_alias(name, CHAMPION, version)


def rollback(name: str) -> tuple[str, str]:
    """Give `champion` back to the previous champion; returns (from, to)."""
    history = _history(name)
    if len(history) < 2:
        raise CheckFailed("no earlier champion to roll back to" if history else
                          f"model {name!r} has no champion to roll back")
    current, previous = history[-1], history[-2]
    c = client()
    # alias first: killed before the history is cut, its last entry is past the alias
    c.set_registered_model_alias(name, CHAMPION, previous)
    checkpoint("registry.after_rollback_alias")
    c.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history[:-1]))
    return current, previous


def _require_version(name: str, version: str) -> None:
    from mlflow.exceptions import MlflowException

    from salesops.training.tracking import no_such_version, store_failed

    try:
        client().get_model_version(name, version)
    except MlflowException as exc:
        if not no_such_version(exc):
            raise store_failed(exc) from None
        versions = sorted((v.version for v in client().search_model_versions(
            f"name = '{name}'")), key=int)
        raise UsageError(f"model {name!r} has no version {version!r}",
                         hint=f"its versions: {', '.join(map(str, versions))}" if versions
                         else "it has none yet") from None


def list_versions(name: str) -> list[dict]:
    from mlflow.exceptions import MlflowException

    from salesops.training.tracking import not_found, store_failed

    c = client()
    try:
        versions = c.search_model_versions(f"name = '{name}'")
    except MlflowException as exc:
        if not not_found(exc):
            raise store_failed(exc) from None
        raise PreconditionError(f"no registered model {name!r} in {where()}",
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
        raise PreconditionError(f"no versions of {name!r} in {where()}",
                                hint="run `salesops train submit` first")
    return rows


def _history(name: str) -> list[str]:
    """The champions so far, oldest first, ending with the current one ([] without one)."""
    from mlflow.exceptions import MlflowException

    from salesops.training.tracking import not_found, store_failed

    try:
        model = client().get_registered_model(name)
    except MlflowException as exc:
        if not not_found(exc):
            raise store_failed(exc) from None
        raise PreconditionError(f"no registered model {name!r} in {where()}",
                                hint="run `salesops train submit` first") from None
    history = json.loads(model.tags.get(HISTORY_TAG, "[]"))
    current = (model.aliases or {}).get(CHAMPION)
    if current is None:
        return []
    current = str(current)
    if current not in history:  # moved by other means than salesops (MLflow's UI, API)
        return [*history, current]
    return history[:len(history) - history[::-1].index(current)]


def where() -> str:
    """The registry this process reads, as a message names it."""
    import mlflow

    from salesops.training.tracking import describe

    return describe(mlflow.get_registry_uri())
