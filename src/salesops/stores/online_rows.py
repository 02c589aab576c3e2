"""A frame's online rows in Feast's encoding, computed a column at a time.

Feast's `write_to_online_store` turns every value into a `ValueProto` object, then every
row's entity into an `EntityKeyProto`, in Python, one value at a time: at 10M rows the
build's 70,000 online series of 13 features each took 7 s of conversion before the first
row reached SQLite. The same bytes come from whole columns here:

- a double (float) value is its protobuf field: the tag byte `0x29` (`0x35`) and the 8 (4)
  little-endian bytes, packed by numpy for the whole column; a null (NaN) is the empty
  message, as in Feast;
- any other type, and a column whose dtype is not the one its field declares, goes through
  Feast's own `python_values_to_proto_values`, once per distinct value where that is exact
  (integers, strings, booleans), else per value;
- `value_text` is what Feast's `extract_text_and_num` makes of the proto (`str()` of the
  number, the string itself, None for a null);
- entity keys of INT64/INT32/STRING join keys are packed as `serialize_entity_key`'s
  version 3 layout (key count, each name, each value, sorted by name); other types use
  Feast's function per row;
- timestamps are converted as Feast converts them (to naive UTC `datetime`s), once per
  distinct value.

`tests/stores/test_sqlite_online.py` checks the rows against Feast's own write, byte for
byte, on edge values (NaN, infinities, -0.0, int64 bounds, nulls, strings).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:
    import pandas as pd
    from feast.feature_view import FeatureView

#: ValueType -> (protobuf tag byte, numpy dtype of the value's little-endian bytes, the
#: Arrow type a column must have to be packed)
_FIXED = {"DOUBLE": (0x29, "<f8", pa.float64()), "FLOAT": (0x35, "<f4", pa.float32())}
#: ValueType -> (Feast's entity key type code, struct format of the value), for packed keys
_KEY_FORMATS = {"INT64": "q", "INT32": "i"}


@dataclass(frozen=True)
class OnlineRows:
    """What an online store writes for a frame: per row the serialized entity key and
    timestamps, per feature the serialized values and their text."""

    entity_keys: list[bytes]
    values: dict[str, list[bytes]]
    texts: dict[str, list[str | None]]
    event_ts: list[datetime]
    created_ts: list[datetime | None]

    def __len__(self) -> int:
        return len(self.entity_keys)


def online_rows(view: FeatureView, frame: pd.DataFrame, key_version: int) -> OnlineRows:
    """`frame`'s rows for `view`, encoded as Feast encodes them for `write_to_online_store`
    (the same table the provider converts: `pa.Table.from_pandas(frame)`)."""
    table = pa.Table.from_pandas(frame)
    join_keys = {entity.name: entity.dtype.to_value_type() for entity in view.entity_columns}
    values, texts = {}, {}
    for feature in view.features:
        values[feature.name], texts[feature.name] = feature_column(
            _plain(table.column(feature.name)), feature.dtype.to_value_type())
    keys = entity_keys({name: _plain(table.column(name)) for name in join_keys}, join_keys,
                       key_version)
    source = view.batch_source
    event = _timestamps(_plain(table.column(source.timestamp_field)))
    created = (_timestamps(_plain(table.column(source.created_timestamp_column)))
               if source.created_timestamp_column else [None] * table.num_rows)
    return OnlineRows(keys, values, texts, event, created)


def _plain(column: pa.ChunkedArray) -> pa.Array:
    """One array of the column's values, a categorical's decoded: a dictionary column's
    `to_numpy` would read a null as some category (pyarrow ignores the nulls there), where
    Feast's record batch reads None. All of a column's chunks: Feast's conversion reads only
    the table's first record batch, so for a frame that arrives in several (a column made of
    several Arrow chunks) it writes the first batch's rows only; this writes them all."""
    array = column.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.cast(array.type.value_type)
    return array


def feature_column(column: pa.Array, value_type: Any) -> tuple[list[bytes],
                                                                      list[str | None]]:
    """(serialized ValueProto, value_text) per value of one feature column."""
    fixed = _FIXED.get(value_type.name)
    if fixed is not None and column.type == fixed[2]:
        return _fixed_column(column, *fixed[:2])
    if value_type.name in ("INT64", "INT32", "STRING", "BOOL") and len(column):
        return _by_distinct_value(column, value_type)
    return _feast_way(column.to_numpy(zero_copy_only=False), value_type)


def _fixed_column(column: pa.Array, tag: int, dtype: str) -> tuple[list[bytes],
                                                                   list[str | None]]:
    numbers = column.to_numpy(zero_copy_only=False).astype(dtype, copy=False)
    packed = np.empty(len(numbers), dtype=[("tag", "u1"), ("value", dtype)])
    packed["tag"], packed["value"] = tag, numbers
    raw, size = packed.tobytes(), packed.dtype.itemsize
    values = [raw[at:at + size] for at in range(0, len(raw), size)]
    texts: list[str | None] = list(map(str, numbers.tolist()))
    for at in np.flatnonzero(np.isnan(numbers)).tolist():
        values[at], texts[at] = b"", None
    return values, texts


def _by_distinct_value(column: pa.Array, value_type: Any) -> tuple[list[bytes],
                                                                          list[str | None]]:
    """Feast's conversion of each distinct value, spread over the rows. Exact: Feast's
    result for a value depends on the value alone once the type check of the column's
    first value passes, and the distinct values start with it (Arrow numbers them in the
    order they first appear). A column with nulls (numbers arrive as floats then, and Feast's
    check may refuse them) takes Feast's own way, except strings (None stays None)."""
    if column.null_count and not pa.types.is_string(column.type):
        return _feast_way(column.to_numpy(zero_copy_only=False), value_type)
    encoded = column.dictionary_encode()
    distinct = encoded.dictionary.to_numpy(zero_copy_only=False)
    values, texts = _feast_way(distinct, value_type)
    values.append(b"")  # a null: the empty message, no text
    texts.append(None)
    codes = encoded.indices.fill_null(len(distinct)).to_numpy(zero_copy_only=False).tolist()
    return [values[code] for code in codes], [texts[code] for code in codes]


def _feast_way(values: np.ndarray, value_type: Any) -> tuple[list[bytes], list[str | None]]:
    from feast.infra.online_stores.helpers import extract_text_and_num
    from feast.type_map import python_values_to_proto_values

    protos = python_values_to_proto_values(values, value_type)
    return ([proto.SerializeToString() for proto in protos],
            [extract_text_and_num(proto, False)[0] for proto in protos])


def entity_keys(columns: dict[str, pa.Array], join_keys: dict[str, Any],
                version: int) -> list[bytes]:
    """`serialize_entity_key(EntityKeyProto(join_keys, values), version)` per row."""
    names = sorted(join_keys)
    if version >= 3 and all(_packable(columns[n], join_keys[n]) for n in names):
        return _packed_keys(names, columns, join_keys)
    return _feast_keys(columns, join_keys, version)


def _packable(column: pa.Array, value_type: Any) -> bool:
    if column.null_count:
        return False
    name = value_type.name
    return ((name == "INT64" and pa.types.is_int64(column.type))
            or (name == "INT32" and pa.types.is_int32(column.type))
            or (name == "STRING" and pa.types.is_string(column.type)))


def _packed_keys(names: Sequence[str], columns: dict[str, pa.Array],
                 join_keys: dict[str, Any]) -> list[bytes]:
    from feast.value_type import ValueType

    head = [struct.pack("<I", len(names))]
    for name in names:
        encoded = name.encode("utf8")
        head += [struct.pack("<II", ValueType.STRING.value, len(encoded)), encoded]
    prefix = b"".join(head)
    parts: list[Callable[[Any], bytes]] = []
    lists = []
    for name in names:
        value_type = join_keys[name]
        values = columns[name].to_pylist()
        lists.append(values)
        if value_type.name in _KEY_FORMATS:
            fmt = struct.Struct(f"<II{_KEY_FORMATS[value_type.name]}")
            code, size = value_type.value, fmt.size - 8
            parts.append(lambda v, fmt=fmt, code=code, size=size: fmt.pack(code, size, v))
        else:
            code = ValueType.STRING.value
            parts.append(lambda v, code=code: _string_key(code, v))
    if len(parts) == 1:
        (part,), (values,) = parts, lists
        return [prefix + part(v) for v in values]
    return [prefix + b"".join(part(v) for part, v in zip(parts, row))
            for row in zip(*lists)]


def _string_key(code: int, value: str) -> bytes:
    encoded = value.encode("utf8")
    return struct.pack("<II", code, len(encoded)) + encoded


def _feast_keys(columns: dict[str, pa.Array], join_keys: dict[str, Any],
                version: int) -> list[bytes]:
    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
    from feast.type_map import python_values_to_proto_values

    protos = {name: python_values_to_proto_values(
        columns[name].to_numpy(zero_copy_only=False), value_type)
        for name, value_type in join_keys.items()}
    rows = len(next(iter(columns.values()))) if columns else 0
    return [serialize_entity_key(EntityKeyProto(
        join_keys=list(join_keys), entity_values=[protos[k][at] for k in join_keys]),
        entity_key_serialization_version=version) for at in range(rows)]


def _timestamps(column: pa.Array) -> list[datetime]:
    """Feast's conversion (`pd.to_datetime`, `_coerce_datetime`, `to_naive_utc`), once per
    distinct value."""
    import pandas as pd
    from feast.utils import _coerce_datetime, to_naive_utc

    raw = column.to_numpy(zero_copy_only=False)
    distinct, inverse = np.unique(raw, return_inverse=True)
    converted = [to_naive_utc(_coerce_datetime(value)) for value in pd.to_datetime(distinct)]
    return [converted[at] for at in inverse.tolist()]
