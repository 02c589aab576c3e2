"""The entity keys of a prediction request, validated: V1 JSON instances or V2 input tensors.

A request names (store, dept) pairs and nothing else; the server looks up their features.
Every problem becomes a `BadRequest` whose message names the field and what is wrong with it,
which the predictor answers with HTTP 400.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, StrictInt, ValidationError

from salesops.features.schema import ENTITY_KEYS

KEYS = ENTITY_KEYS
INTEGER_TYPES = {"INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"}


class BadRequest(ValueError):
    """The request cannot be scored; the message says why, in one line."""


class EntityKey(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    store: StrictInt
    dept: StrictInt


class V1Request(BaseModel):
    instances: list[EntityKey]


def keys_from_v1(payload: Any, max_batch: int) -> tuple[np.ndarray, np.ndarray]:
    """`{"instances": [{"store": 1, "dept": 3}, ...]}` -> (stores, depts) as int64 arrays."""
    if isinstance(payload, bytes | str):  # KServe passes on bodies sent without a JSON type
        try:
            payload = json.loads(payload)
        except ValueError:
            raise BadRequest("the request body is not JSON") from None
    if not isinstance(payload, dict):
        raise BadRequest('expected a JSON object like {"instances": [{"store": 1, "dept": 3}]}')
    instances = payload.get("instances")
    if isinstance(instances, list):
        _check_size(len(instances), max_batch)
    try:
        request = V1Request.model_validate(payload)
    except ValidationError as exc:
        raise BadRequest(_describe(exc)) from None
    stores = np.fromiter((key.store for key in request.instances), np.int64)
    depts = np.fromiter((key.dept for key in request.instances), np.int64)
    return stores, depts


def keys_from_v2(request: Any, max_batch: int) -> tuple[np.ndarray, np.ndarray]:
    """Open Inference Protocol inputs `store` and `dept` (integer tensors of one shape)."""
    inputs = {tensor.name: tensor for tensor in request.inputs}
    missing = [name for name in KEYS if name not in inputs]
    if missing:
        raise BadRequest(f"missing input(s) {', '.join(missing)}: send INT64 tensors "
                         "named store and dept")
    unexpected = sorted(set(inputs) - set(KEYS))
    if unexpected:
        raise BadRequest(f"unexpected input(s) {', '.join(unexpected)}: only store and dept")
    arrays = [_integer_tensor(inputs[name]) for name in KEYS]
    if arrays[0].shape != arrays[1].shape:
        raise BadRequest(f"inputs store and dept differ in shape: {list(arrays[0].shape)} "
                         f"and {list(arrays[1].shape)}")
    _check_size(arrays[0].size, max_batch)
    return arrays[0], arrays[1]


def _integer_tensor(tensor: Any) -> np.ndarray:
    if tensor.datatype not in INTEGER_TYPES:
        raise BadRequest(f"input {tensor.name}: datatype {tensor.datatype} is not an integer "
                         "type; use INT64")
    shape = list(tensor.shape)
    if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
        raise BadRequest(f"input {tensor.name}: shape {shape} should be [n] or [n, 1]")
    try:
        values = tensor.as_numpy()
    except (ValueError, TypeError) as exc:
        raise BadRequest(f"input {tensor.name}: data does not match datatype "
                         f"{tensor.datatype} and shape {shape}: {exc}") from None
    return values.reshape(-1).astype(np.int64)


def _check_size(count: int, max_batch: int) -> None:
    if count == 0:
        raise BadRequest("empty request: no (store, dept) entities to score")
    if count > max_batch:
        raise BadRequest(f"too many entities: {count:,} in one request, the limit is "
                         f"{max_batch:,} (serving.max_batch)")


def _describe(exc: ValidationError) -> str:
    """The first problem, as `instances[0].dept: field required`."""
    first = exc.errors()[0]
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"])
    where = where.lstrip(".") or "request"
    if first["type"] == "missing":
        problem = "field required"
    elif first["type"] == "extra_forbidden":
        problem = "unknown field (only store and dept)"
    else:
        problem = f"{first['msg'][0].lower()}{first['msg'][1:]} (got {first.get('input')!r})"
    more = len(exc.errors()) - 1
    return f"{where}: {problem}" + (f" (+{more} more)" if more else "")
