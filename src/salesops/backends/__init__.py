"""Where work runs. `local` and `kubernetes` are peers behind one small interface per
concern (`base`): infrastructure, feature builds, training, serving, schedules. This module
is the one place that maps `backend.kind` to their classes (a type string to a class path,
as Feast maps store types), and imports the chosen one lazily: a local command never loads
the Kubernetes client. `features build --local` asks it for the local class whatever the
kind (`HERE`)."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from salesops.config import Settings

if TYPE_CHECKING:
    from salesops.backends.base import (FeatureBackend, InfraBackend, ScheduleBackend,
                                        ServingBackend, TrainingBackend)

#: concern -> backend.kind -> "module:Class"
BACKENDS: dict[str, dict[str, str]] = {
    "infra": {"local": "salesops.backends.local.infra:LocalInfra",
              "kubernetes": "salesops.backends.kubernetes.infra:KubernetesInfra"},
    "training": {"local": "salesops.backends.local.training:LocalTraining",
                 "kubernetes": "salesops.backends.kubernetes.trainjob:TrainJobs"},
    "serving": {"local": "salesops.backends.local.serving:LocalServing",
                "kubernetes": "salesops.backends.kubernetes.inference_service:InferenceServices"},
    "features": {"local": "salesops.backends.local.features:LocalFeatures",
                 "kubernetes": "salesops.backends.kubernetes.feature_jobs:FeatureJobs"},
    "schedule": {"local": "salesops.backends.local.schedule:LocalSchedule",
                 "kubernetes": "salesops.backends.kubernetes.schedules:DriftSchedule"},
}
#: the backend.kind that runs work in this process (what `--local` asks for)
HERE = "local"


def _backend(concern: str, settings: Settings, kind: str | None = None) -> Any:
    module, _, name = BACKENDS[concern][kind or settings.backend.kind].partition(":")
    return getattr(import_module(module), name)(settings)


def infra_backend(settings: Settings) -> InfraBackend:
    return _backend("infra", settings)


def training_backend(settings: Settings) -> TrainingBackend:
    return _backend("training", settings)


def serving_backend(settings: Settings) -> ServingBackend:
    return _backend("serving", settings)


def feature_backend(settings: Settings, here: bool = False) -> FeatureBackend:
    """`here`: build in this process whatever the backend (`features build --local`: from a
    laptop against the cluster's Postgres, through a port-forward)."""
    return _backend("features", settings, HERE if here else None)


def schedule_backend(settings: Settings) -> ScheduleBackend:
    return _backend("schedule", settings)
