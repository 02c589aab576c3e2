"""Idempotent apply: create, and on 409 (it exists) read it and merge-patch only when it
differs, and only what salesops created (its managed-by label): an object of the same name
that someone else made (a team's namespace, a Helm release of charts/salesops) is never
patched, so it never takes salesops' label and `infra down` never deletes it. Deleting
tolerates objects that are already gone."""

from __future__ import annotations

from typing import Any

from salesops.backends.base import Progress
from salesops.backends.kubernetes import names
from salesops.backends.kubernetes.resources import Resource
from salesops.errors import PreconditionError


def resource_for(api_client, manifest: dict) -> Resource:
    namespace = manifest["metadata"].get("namespace", "")
    return Resource(api_client, manifest["kind"], namespace)


def apply(api_client, manifest: dict, progress: Progress,
          foreign: str = "refuse") -> tuple[str, dict]:
    """Returns (`created` | `updated` | `unchanged` | `kept`, the object as the server has
    it). An existing object salesops did not create is `kept` as it is (`foreign="keep"`:
    infrastructure someone else provides) or refused (PreconditionError)."""
    from kubernetes.client.exceptions import ApiException

    resource = resource_for(api_client, manifest)
    name = manifest["metadata"]["name"]
    try:
        created = resource.create(manifest)
        progress(f"created {manifest['kind']}/{name}")
        return "created", created
    except ApiException as exc:
        if exc.status != 409:
            raise
    existing = resource.read(name)
    if not ours(existing):
        if foreign == "keep":
            progress(f"kept {manifest['kind']}/{name} ({owner(existing)})")
            return "kept", existing
        raise PreconditionError(
            f"{manifest['kind']} {name!r} exists in namespace {manifest['metadata'].get('namespace')!r} "
            f"and is {owner(existing)}: salesops does not change it",
            hint=f"delete it, or use another kubernetes.namespace")
    if contains(existing, manifest):
        return "unchanged", existing
    updated = resource.patch(name, manifest)
    progress(f"updated {manifest['kind']}/{name}")
    return "updated", updated


def ours(obj: dict) -> bool:
    """Whether salesops created `obj` (its managed-by label)."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in names.MANAGED_BY.items())


def owner(obj: dict) -> str:
    """Who made an object salesops did not, as far as its labels say."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    if labels.get(names.MANAGED_BY_KEY) == names.HELM:
        return "managed by Helm"
    return "not created by salesops"


def delete(api_client, manifest: dict, progress: Progress) -> str:
    """`removed`, or `missing` when there was nothing to delete."""
    from kubernetes.client.exceptions import ApiException

    name = manifest["metadata"]["name"]
    try:
        resource_for(api_client, manifest).delete(name)
    except ApiException as exc:
        if exc.status == 404:
            return "missing"
        raise
    progress(f"deleted {manifest['kind']}/{name}")
    return "removed"


def contains(actual: Any, desired: Any) -> bool:
    """Whether everything `desired` says is already true of `actual` (the server adds
    defaults and status; those do not count as a difference)."""
    if isinstance(desired, dict):
        return isinstance(actual, dict) and all(
            key in actual and contains(actual[key], value) for key, value in desired.items())
    if isinstance(desired, list):
        return (isinstance(actual, list) and len(actual) == len(desired)
                and all(contains(a, d) for a, d in zip(actual, desired, strict=True)))
    return actual == desired or str(actual) == str(desired)
