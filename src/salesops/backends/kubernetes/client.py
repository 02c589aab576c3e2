"""Connecting to the cluster and turning the client's failures into one-line `ClusterError`s.

Kubeconfig first (`kubernetes.context`, else its current context), then the in-cluster
service account; neither gives a clear error. Every API call goes through `call`, which
retries 5xx answers and names the verb, resource and namespace when the server refuses.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

from salesops.config import Settings
from salesops.errors import ClusterError

T = TypeVar("T")
RETRIES = 3
RETRY_WAIT_S = 0.5
REQUEST_TIMEOUT_S = 30
#: which product brings which custom resource, for "not installed" messages
CRD_OWNERS = {"trainjobs": "Kubeflow Trainer (trainer.kubeflow.org/v1alpha1 TrainJob)",
              "inferenceservices": "KServe (serving.kserve.io/v1beta1 InferenceService)",
              "rayclusters": "KubeRay (ray.io/v1 RayCluster, the ray profile's)"}


def connect(settings: Settings):
    """An `ApiClient` for the configured context; ClusterError when there is no configuration."""
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    context = settings.kubernetes.context
    # read KUBECONFIG now: the client reads it once, when it is first imported
    config_file = os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    try:
        api_client = config.new_client_from_config(config_file=config_file, context=context)
    except (ConfigException, FileNotFoundError) as kube_error:
        if context:
            raise ClusterError(f"cannot use kubeconfig context {context!r}: {kube_error}") from None
        try:
            config.load_incluster_config()
        except ConfigException:
            raise ClusterError(
                "no Kubernetes configuration: no kubeconfig (KUBECONFIG or ~/.kube/config) and "
                "not running inside a cluster", hint="point KUBECONFIG at your cluster") from None
        api_client = client.ApiClient()
    return api_client


def call(verb: str, resource: str, namespace: str | None, fn: Callable[[], T]) -> T:
    """Run one API call; 5xx is retried, everything else becomes a ClusterError (404 and 409
    are re-raised as ApiException for the caller to handle)."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    for attempt in range(RETRIES + 1):
        try:
            return fn()
        except ApiException as exc:
            if exc.status and exc.status >= 500 and attempt < RETRIES:
                time.sleep(RETRY_WAIT_S * (attempt + 1))
                continue
            if exc.status in (404, 409):
                raise
            raise ClusterError(describe(exc, verb, resource, namespace)) from None
        except HTTPError as exc:
            raise ClusterError(f"cannot reach the Kubernetes API server: {_reason(exc)}",
                               hint="is the cluster running and the kubeconfig right?") from None
    raise AssertionError("unreachable")


def describe(exc, verb: str, resource: str, namespace: str | None) -> str:
    where = f" in namespace {namespace!r}" if namespace else ""
    message = status_message(exc)
    if exc.status == 403:
        return (f"forbidden: cannot {verb} {resource}{where}; the account needs the RBAC "
                f"permission {verb!r} on {resource.split('/')[0]}" + (f" ({message})" if message else ""))
    if exc.status == 401:
        return "the Kubernetes API server refused the credentials (401 Unauthorized)"
    return f"cannot {verb} {resource}{where}: {exc.status} {exc.reason}" + (
        f": {message}" if message else "")


def status_message(exc) -> str:
    try:
        return json.loads(exc.body or "{}").get("message", "")
    except (ValueError, AttributeError):
        return str(exc.body or "")[:200]


class CrdMissing(ClusterError):
    """A custom resource's CRD is not installed (Trainer or KServe missing)."""


def missing_crd(exc, plural: str) -> CrdMissing | None:
    """A 404 on a custom resource *collection* means its CRD is not installed (a missing
    object has `details.name`; a missing namespace has `details.kind == namespaces`)."""
    if exc.status != 404 or plural not in CRD_OWNERS:
        return None
    try:
        details = json.loads(exc.body or "{}").get("details") or {}
    except ValueError:
        details = {}
    if details.get("name") or details.get("kind") == "namespaces":
        return None
    return CrdMissing(f"{CRD_OWNERS[plural]} is not installed in this cluster: the API server "
                      f"does not serve {plural}")


def _reason(exc: Any) -> str:
    return str(getattr(exc, "reason", None) or exc)


#: seconds between two looks at an object being waited for
POLL_S = 2.0


class ClusterBackend:
    """What every Kubernetes backend class shares: its settings, namespace, poll interval
    and the cluster connection, opened on first use (`--dry-run` needs no cluster)."""

    def __init__(self, settings: Settings, poll_s: float | None = None, api_client=None) -> None:
        self.settings = settings
        self.namespace = settings.kubernetes.namespace
        self.poll_s = POLL_S if poll_s is None else poll_s
        self._api = api_client

    @property
    def api(self):
        if self._api is None:
            self._api = connect(self.settings)
        return self._api
