"""Where work runs. `local` and `kubernetes` are peers behind one small interface per
concern (`base`): infrastructure, training, serving. This module is the one place that maps
`backend.kind` to their classes (a type string to a class path, as Feast maps store types),
and imports the chosen one lazily: a local command never loads the Kubernetes client."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from salesops.config import Settings

if TYPE_CHECKING:
    from salesops.backends.base import InfraBackend, ServingBackend, TrainingBackend

#: concern -> backend.kind -> "module:Class"
BACKENDS: dict[str, dict[str, str]] = {
    "infra": {"local": "salesops.backends.local.infra:LocalInfra",
              "kubernetes": "salesops.backends.kubernetes.infra:KubernetesInfra"},
    "training": {"local": "salesops.backends.local.training:LocalTraining",
                 "kubernetes": "salesops.backends.kubernetes.trainjob:TrainJobs"},
    "serving": {"local": "salesops.backends.local.serving:LocalServing",
                "kubernetes": "salesops.backends.kubernetes.inference_service:InferenceServices"},
}


def _backend(concern: str, settings: Settings) -> Any:
    module, _, name = BACKENDS[concern][settings.backend.kind].partition(":")
    return getattr(import_module(module), name)(settings)


def infra_backend(settings: Settings) -> InfraBackend:
    return _backend("infra", settings)


def training_backend(settings: Settings) -> TrainingBackend:
    return _backend("training", settings)


def serving_backend(settings: Settings) -> ServingBackend:
    return _backend("serving", settings)
