"""The entity keys of a prediction request, validated: V1 JSON instances or V2 input tensors.

A request names (store, dept) pairs and nothing else; the server looks up their features.
Every problem becomes a `BadRequest` whose message names the field and what is wrong with it,
which the predictor answers with HTTP 400.

Types are strict in both protocols: a key is a JSON integer (not `1.9`, `true` or `"1"`),
within the range of its V2 datatype (INT8 ... UINT64) and of the int64 the feature store keys
by. numpy would truncate, coerce or overflow (a 500) instead, so JSON data is checked value by
value before it becomes an array; binary tensors are typed by their bytes and only need the
int64 check.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from salesops.features.schema import ENTITY_KEYS

KEYS = ENTITY_KEYS
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
#: the V2 integer datatypes and the values each can hold
INTEGER_TYPES = {
    **{f"INT{bits}": (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) for bits in (8, 16, 32, 64)},
    **{f"UINT{bits}": (0, 2**bits - 1) for bits in (8, 16, 32, 64)},
}
Key = Annotated[StrictInt, Field(ge=INT64_MIN, le=INT64_MAX)]


class BadRequest(ValueError):
    """The request cannot be scored; the message says why, in one line."""


class EntityKey(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    store: Key
    dept: Key


class V1Request(BaseModel):
    instances: list[EntityKey]


def keys_from_v1(payload: Any, max_batch: int) -> tuple[np.ndarray, np.ndarray]:
    """`{"instances": [{"store": 1, "dept": 3}, ...]}` -> (stores, depts) as int64 arrays."""
    # KServe hands on as bytes a body whose type is not exactly one of its JSON types, e.g.
    # `application/json; charset=utf-8`; any other type was refused (`media_type`, 415)
    if isinstance(payload, bytes | str):
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
    names = [tensor.name for tensor in request.inputs]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:  # which one would be meant? (the last one was taken silently)
        raise BadRequest(f"input {', '.join(twice)} is given more than once")
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
    name, datatype = tensor.name, tensor.datatype
    if datatype not in INTEGER_TYPES:
        raise BadRequest(f"input {name}: datatype {datatype} is not an integer type; use INT64")
    shape = list(tensor.shape)
    if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
        raise BadRequest(f"input {name}: shape {shape} should be [n] or [n, 1]")
    if any(dim < 0 for dim in shape):
        raise BadRequest(f"input {name}: shape {shape} has a negative dimension")
    if isinstance(tensor.data, list):  # JSON: check each value before numpy coerces it
        values = _json_integers(name, datatype, tensor.data)
        if len(values) != math.prod(shape):
            raise BadRequest(f"input {name}: shape {shape} holds {math.prod(shape):,} values "
                             f"but data has {len(values):,}")
        return np.array(values, dtype=np.int64)
    try:  # binary data (the binary tensor extension): its bytes have the datatype's type
        values = tensor.as_numpy().reshape(-1)
    except (ValueError, TypeError) as exc:
        raise BadRequest(f"input {name}: data does not match datatype {datatype} and shape "
                         f"{shape}: {exc}") from None
    if datatype == "UINT64" and values.size and values.max() > INT64_MAX:
        raise BadRequest(f"input {name}: {int(values.max())} is out of range for an entity "
                         f"key (at most {INT64_MAX})")
    return values.astype(np.int64)


def _json_integers(name: str, datatype: str, data: list) -> list[int]:
    """The values of JSON tensor data (flat, or nested like its shape), each an integer
    within the datatype's range and int64's."""
    low, high = INTEGER_TYPES[datatype]
    values: list[int] = []
    pending = [iter(data)]
    while pending:  # iterative: nesting depth is the sender's choice
        for value in pending[-1]:
            if isinstance(value, list):
                pending.append(iter(value))
                break
            if type(value) is not int:  # bool is an int subclass; JSON true is not a key
                raise BadRequest(f"input {name}: {json.dumps(value)} is not an integer "
                                 f"({datatype} data must be JSON integers)")
            if not low <= value <= high:
                raise BadRequest(f"input {name}: {value} is out of range for {datatype}")
            if value > INT64_MAX:
                raise BadRequest(f"input {name}: {value} is out of range for an entity key "
                                 f"(at most {INT64_MAX})")
            values.append(value)
        else:
            pending.pop()
    return values


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
