"""One small handle per kind over the typed `kubernetes` APIs: create, read, patch, delete,
list. Core kinds use CoreV1Api / AppsV1Api / BatchV1Api / RbacAuthorizationV1Api with the
client's own models; TrainJob and InferenceService use CustomObjectsApi. Results are plain
dicts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from salesops.backends.kubernetes.client import REQUEST_TIMEOUT_S, call, missing_crd
from salesops.backends.kubernetes.manifests import to_manifest
from salesops.errors import PreconditionError

MERGE_PATCH = "application/merge-patch+json"
#: kind -> (API class, method suffix, model class, plural for messages)
TYPED = {
    "Namespace": ("CoreV1Api", "namespace", "V1Namespace", "namespaces"),
    "ServiceAccount": ("CoreV1Api", "namespaced_service_account", "V1ServiceAccount",
                       "serviceaccounts"),
    "Secret": ("CoreV1Api", "namespaced_secret", "V1Secret", "secrets"),
    "ConfigMap": ("CoreV1Api", "namespaced_config_map", "V1ConfigMap", "configmaps"),
    "PersistentVolumeClaim": ("CoreV1Api", "namespaced_persistent_volume_claim",
                              "V1PersistentVolumeClaim", "persistentvolumeclaims"),
    "Service": ("CoreV1Api", "namespaced_service", "V1Service", "services"),
    "Pod": ("CoreV1Api", "namespaced_pod", "V1Pod", "pods"),
    "Role": ("RbacAuthorizationV1Api", "namespaced_role", "V1Role", "roles"),
    "RoleBinding": ("RbacAuthorizationV1Api", "namespaced_role_binding", "V1RoleBinding",
                    "rolebindings"),
    "StatefulSet": ("AppsV1Api", "namespaced_stateful_set", "V1StatefulSet", "statefulsets"),
    "Deployment": ("AppsV1Api", "namespaced_deployment", "V1Deployment", "deployments"),
    "Job": ("BatchV1Api", "namespaced_job", "V1Job", "jobs"),
    "CronJob": ("BatchV1Api", "namespaced_cron_job", "V1CronJob", "cronjobs"),
}
CUSTOM = {
    "TrainJob": ("trainer.kubeflow.org", "v1alpha1", "trainjobs"),
    "InferenceService": ("serving.kserve.io", "v1beta1", "inferenceservices"),
    "RayCluster": ("ray.io", "v1", "rayclusters"),
}


@dataclass
class Resource:
    api_client: Any
    kind: str
    namespace: str

    @property
    def plural(self) -> str:
        return CUSTOM[self.kind][2] if self.kind in CUSTOM else TYPED[self.kind][3]

    @property
    def namespaced(self) -> bool:
        return self.kind != "Namespace"

    def _ns(self) -> str | None:
        return self.namespace if self.namespaced else None

    def _typed(self, verb: str):
        from kubernetes import client

        api_name, suffix, _, _ = TYPED[self.kind]
        return getattr(getattr(client, api_name)(self.api_client), f"{verb}_{suffix}")

    def _custom(self):
        from kubernetes import client

        return client.CustomObjectsApi(self.api_client)

    def _call(self, verb: str, fn):
        from kubernetes.client.exceptions import ApiException

        try:
            return call(verb, self.plural, self._ns(), fn)
        except ApiException as exc:
            crd_error = missing_crd(exc, self.plural)
            if crd_error is not None:
                raise crd_error from None
            if exc.status == 404 and verb in ("create", "list"):  # the collection's namespace
                raise PreconditionError(f"namespace {self.namespace!r} does not exist",
                                        hint="run `salesops infra up` first") from None
            raise

    def _where(self) -> dict:
        return {"namespace": self.namespace} if self.namespaced else {}

    def create(self, manifest: dict) -> dict:
        if self.kind in CUSTOM:
            group, version, plural = CUSTOM[self.kind]
            return self._call("create", lambda: self._custom().create_namespaced_custom_object(
                group, version, self.namespace, plural, manifest,
                _request_timeout=REQUEST_TIMEOUT_S))
        from kubernetes import client

        body = getattr(client, TYPED[self.kind][2]).from_dict(manifest)
        return to_manifest(self._call("create", lambda: self._typed("create")(
            body=body, _request_timeout=REQUEST_TIMEOUT_S, **self._where())))

    def read(self, name: str) -> dict:
        if self.kind in CUSTOM:
            group, version, plural = CUSTOM[self.kind]
            return self._call("get", lambda: self._custom().get_namespaced_custom_object(
                group, version, self.namespace, plural, name, _request_timeout=REQUEST_TIMEOUT_S))
        return to_manifest(self._call("get", lambda: self._typed("read")(
            name=name, _request_timeout=REQUEST_TIMEOUT_S, **self._where())))

    def patch(self, name: str, body: dict) -> dict:
        """A JSON merge patch (RFC 7386): maps merge, lists and scalars replace, null deletes."""
        if self.kind in CUSTOM:
            group, version, plural = CUSTOM[self.kind]
            return self._call("patch", lambda: self._custom().patch_namespaced_custom_object(
                group, version, self.namespace, plural, name, body, _content_type=MERGE_PATCH,
                _request_timeout=REQUEST_TIMEOUT_S))
        return to_manifest(self._call("patch", lambda: self._typed("patch")(
            name=name, body=body, _content_type=MERGE_PATCH, _request_timeout=REQUEST_TIMEOUT_S,
            **self._where())))

    def delete(self, name: str) -> None:
        if self.kind in CUSTOM:
            group, version, plural = CUSTOM[self.kind]
            self._call("delete", lambda: self._custom().delete_namespaced_custom_object(
                group, version, self.namespace, plural, name, propagation_policy="Foreground",
                _request_timeout=REQUEST_TIMEOUT_S))
            return
        self._call("delete", lambda: self._typed("delete")(
            name=name, propagation_policy="Foreground", _request_timeout=REQUEST_TIMEOUT_S,
            **self._where()))

    def list(self, label_selector: str | None = None) -> list[dict]:
        if self.kind in CUSTOM:
            group, version, plural = CUSTOM[self.kind]
            answer = self._call("list", lambda: self._custom().list_namespaced_custom_object(
                group, version, self.namespace, plural, label_selector=label_selector,
                _request_timeout=REQUEST_TIMEOUT_S))
            return list(answer.get("items") or [])
        answer = self._call("list", lambda: self._typed("list")(
            label_selector=label_selector, _request_timeout=REQUEST_TIMEOUT_S, **self._where()))
        return list(to_manifest(answer).get("items") or [])

    def get(self, name: str) -> dict | None:
        """`read`, or None when the object does not exist."""
        from kubernetes.client.exceptions import ApiException

        try:
            return self.read(name)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
