"""Every core object the Kubernetes backend generates passes `kubernetes-validate` strict
(unknown fields are errors) at its newest schema; the custom resources (TrainJob,
InferenceService) are checked against their CRDs in test_dry_run.py, with
../shared/tools/validate_k8s.py. The generators are those of the restricted-profile test."""

from __future__ import annotations

import kubernetes_validate
import pytest

from salesops.config import Settings
from tests.backends.kubernetes.test_pod_security import MANIFESTS

#: kinds kubernetes-validate has no schema for (their CRDs check them)
CUSTOM_KINDS = {"TrainJob", "InferenceService"}


def _core_objects() -> list[tuple[str, dict]]:
    return [(f"{generator}: {obj['kind']}/{obj['metadata']['name']}", obj)
            for generator, build in MANIFESTS.items() for obj in build(Settings())
            if obj["kind"] not in CUSTOM_KINDS]


@pytest.mark.parametrize(("source", "obj"), _core_objects(), ids=[s for s, _ in _core_objects()])
def test_core_object_passes_kubernetes_validate_strict(source, obj):
    kubernetes_validate.validate(obj, kubernetes_validate.latest_version(), strict=True)


def test_strict_validation_refuses_an_unknown_field():
    """The test above is only as good as the validator: a misspelt field fails."""
    (_, obj), *_ = _core_objects()
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate({**obj, "metdata": {}}, kubernetes_validate.latest_version(),
                                     strict=True)
