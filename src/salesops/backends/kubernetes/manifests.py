"""Typed SDK objects to plain manifests (camelCase, no nulls); `cli.output` prints them.

The `kubernetes` client (v37) models are pydantic and its `sanitize_for_serialization`
serializes them as the API expects. The `kserve` models are the older generated classes
(`openapi_types` + `attribute_map`); that sanitizer would turn them into snake_case dicts
full of nulls, so they are converted here with their own attribute map first, and the
kubernetes sanitizer does the rest (nested `kubernetes.client` models, quantities, dates).
"""

from __future__ import annotations

from typing import Any


def to_manifest(obj: Any) -> Any:
    """A plain JSON-able value for an SDK model (or a structure holding models)."""
    from kubernetes.client import ApiClient

    if _is_legacy_model(obj):
        return {obj.attribute_map[attr]: to_manifest(value)
                for attr in obj.openapi_types
                if (value := getattr(obj, attr)) is not None}
    if isinstance(obj, dict):
        return {key: to_manifest(value) for key, value in obj.items() if value is not None}
    if isinstance(obj, (list, tuple)):
        return [to_manifest(item) for item in obj]
    return ApiClient().sanitize_for_serialization(obj)


def _is_legacy_model(obj: Any) -> bool:
    return (hasattr(type(obj), "openapi_types") and hasattr(type(obj), "attribute_map")
            and isinstance(getattr(type(obj), "openapi_types"), dict))
