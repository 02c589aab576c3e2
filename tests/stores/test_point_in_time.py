"""`match_rows` against a row-by-row reading of Feast's rule, on keys of every kind the
codes treat differently: small and wide integer ranges, strings, nulls, keys only one side
has, composite codes that must be made dense, and view rows in no order."""

from __future__ import annotations

import numpy as np
import pytest

from salesops.stores import point_in_time
from salesops.stores.point_in_time import Entity, match_rows

HOUR = 3_600 * 10**9


def _rule(entity_keys, entity_times, view_keys, view_times, view_created, ttl):
    """Feast's rule, one entity row at a time: the latest view row with equal keys at or
    before the entity's time (the last created among equals), within the TTL."""
    out = []
    for i in range(len(entity_times)):
        best = -1
        for j in range(len(view_times)):
            if any(_null(e[i]) or _null(v[j]) or e[i] != v[j]
                   for e, v in zip(entity_keys, view_keys)):
                continue
            if view_times[j] > entity_times[i]:
                continue
            if ttl is not None and view_times[j] < entity_times[i] - ttl:
                continue
            rank = (view_times[j], view_created[j] if view_created is not None else 0)
            if best < 0 or rank > (view_times[best],
                                   view_created[best] if view_created is not None else 0):
                best = j
        out.append(best)
    return np.array(out)


def _match(entity_keys, entity_times, view_keys, view_times, created, ttl):
    keys = {f"key{i}": values for i, values in enumerate(entity_keys)}
    return match_rows(Entity(entity_times), keys, view_keys, view_times, created, ttl)


def _null(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _case(rng, kind: str, rows: int = 300):
    def keys(n):
        if kind == "small-ints":
            return [rng.integers(0, 4, n), rng.integers(10, 13, n).astype(np.int32)]
        if kind == "wide-ints":  # a span past the direct coding: hashed
            return [rng.choice([-(2**40), 7, 2**50], n), rng.integers(0, 3, n)]
        if kind == "strings-and-nulls":
            values = np.array(["a", "b", "c", None], dtype=object)
            return [values[rng.integers(0, 4, n)],
                    np.where(rng.random(n) < 0.1, np.nan, rng.integers(0, 3, n).astype(float))]
        raise AssertionError(kind)

    entity_keys, view_keys = keys(rows), keys(rows // 2)
    if kind == "small-ints":  # a key value no entity row has, and one no view row has
        view_keys[0][:5] = 9
        entity_keys[0][:5] = -3
        view_keys[1][5:40] = 14  # past the entity range of the second key: no match either
    # a few distinct times, so that ties and rows between entity times both occur
    entity_times = rng.integers(0, 40, rows) * HOUR
    view_times = rng.integers(0, 40, rows // 2) * HOUR + rng.choice([0, HOUR // 2], rows // 2)
    created = rng.permutation(rows // 2).astype(np.int64)
    return entity_keys, entity_times, view_keys, view_times, created


@pytest.fixture(params=["lookup-table", "binary-search"])
def search(request, monkeypatch):
    """Both ways of finding the last view row at or below an entity row's code."""
    if request.param == "binary-search":
        monkeypatch.setattr(point_in_time, "_TABLE_FACTOR", 0)
        monkeypatch.setattr(point_in_time, "_TABLE_MIN", 0)
    return request.param


@pytest.mark.usefixtures("search")
@pytest.mark.parametrize("kind", ["small-ints", "wide-ints", "strings-and-nulls"])
@pytest.mark.parametrize("ttl", [None, 5 * HOUR], ids=["no-ttl", "ttl"])
@pytest.mark.parametrize("with_created", [True, False], ids=["created", "no-created"])
def test_each_entity_row_gets_the_row_feasts_rule_gives(kind, ttl, with_created):
    rng = np.random.default_rng(len(kind))
    entity_keys, entity_times, view_keys, view_times, created = _case(rng, kind)
    if not with_created:  # ties at one time are then arbitrary: keep the times distinct
        view_times = view_times + np.arange(len(view_times))
        created = None
    got = _match(entity_keys, entity_times, view_keys, view_times, created, ttl)
    want = _rule(entity_keys, entity_times, view_keys, view_times, created, ttl)
    np.testing.assert_array_equal(got, want)
    assert (got >= 0).sum() > 20 and (got < 0).sum() > 5  # both outcomes were exercised


def test_codes_made_dense_give_the_same_rows(monkeypatch):
    rng = np.random.default_rng(3)
    case = _case(rng, "small-ints")
    want = _match(*case, 5 * HOUR)
    monkeypatch.setattr(point_in_time, "_CODE_LIMIT", 16)  # every combination densifies
    np.testing.assert_array_equal(_match(*case, 5 * HOUR), want)


def test_null_times_and_an_empty_view_match_nothing():
    null = np.iinfo(np.int64).min
    entity_times = np.array([5 * HOUR, null, 9 * HOUR])
    keys = [np.array([1, 1, 1])]
    got = _match(keys, entity_times, [np.array([1, 1])], np.array([null, 4 * HOUR]),
                 None, None)
    np.testing.assert_array_equal(got, [1, -1, 1])
    empty = _match(keys, entity_times, [np.array([], dtype=np.int64)],
                   np.array([], dtype=np.int64), None, None)
    np.testing.assert_array_equal(empty, [-1, -1, -1])


def test_integer_entity_keys_match_a_view_key_read_as_floats_for_its_nulls():
    """A view's integer key with nulls reads as floats with NaN: coded by value, not offset
    (after the entity's ints were coded by offset for another view)."""
    entity = Entity(np.array([5, 5, 5]) * HOUR)
    keys = {"store": np.array([1, 2, 3])}
    ints = match_rows(entity, keys, [np.array([2])], np.array([HOUR]), None, None)
    np.testing.assert_array_equal(ints, [-1, 0, -1])
    floats = match_rows(entity, keys, [np.array([np.nan, 3.0, 1.0])],
                        np.array([HOUR, HOUR, HOUR]), None, None)
    np.testing.assert_array_equal(floats, [2, -1, 1])


def test_times_are_microseconds_truncated_naive_as_utc_and_past_2262():
    """DuckDB's resolution: Feast's store and this one agree on a time 1 ns past a TTL edge
    (the time the result shows is the time the join compared), and on a year-2999 row."""
    import pandas as pd

    from salesops.stores.point_in_time import microseconds

    edge = pd.Timestamp("2024-01-15", tz="UTC")
    given = pd.Series([edge + pd.Timedelta(nanoseconds=1), edge.tz_convert("Asia/Tokyo"),
                       pd.NaT], dtype="datetime64[ns, UTC]")
    micros = edge.value // 1000
    np.testing.assert_array_equal(microseconds(given)[:2], [micros, micros])
    assert microseconds(given)[2] == np.iinfo(np.int64).min
    naive = pd.Series([edge.tz_localize(None)])
    assert microseconds(naive)[0] == micros
    from datetime import datetime

    far = pd.Series([datetime(2999, 1, 1)], dtype="datetime64[us]")
    assert microseconds(far)[0] == (datetime(2999, 1, 1) - datetime(1970, 1, 1)) // (
        datetime(1970, 1, 1, microsecond=1) - datetime(1970, 1, 1))
