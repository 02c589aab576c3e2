"""The feature engineering of `features build` equals the code it replaced (issue 16's
rewrite for memory: features computed for the kept rows straight into one block), value
for value, dtype for dtype, on clean data, on a retailer's quirks (returns, late, ended and
short series), with unknown weeks skipped, and with weeks of mixed magnitudes."""

import numpy as np
import pandas as pd
import pytest

from salesops.data.dataset import SalesDataset
from salesops.data.raw import RawData
from salesops.data.retail import retail_quirks
from salesops.data.synthetic import generate
from salesops.features import engineering
from tests.features import reference_engineering as reference


def _cleaned(raw: RawData, **policy) -> SalesDataset:
    from salesops.config import DataSection
    from salesops.data.cleaning import clean

    return clean(raw, DataSection(**policy))[0]


def _clean() -> SalesDataset:
    return generate(stores=4, depts=6, weeks=130, seed=11)


def _retail() -> SalesDataset:
    return _cleaned(retail_quirks(generate(stores=6, depts=10, weeks=90, seed=42), seed=42))


def _skipped_weeks() -> SalesDataset:
    """Unknown weeks inside series (carried forward), at a series' first features and
    right before the next week."""
    data = generate(stores=3, depts=5, weeks=100, seed=7)
    raw = RawData.of(data)
    rng = np.random.default_rng(3)
    drop = rng.random(len(raw.sales)) < 0.08
    first = raw.sales.groupby(["store", "dept"]).cumcount() == 0  # a series starts recorded
    kept = raw.sales[~(drop & ~first.to_numpy())].reset_index(drop=True)
    return _cleaned(RawData(kept, raw.features, raw.stores), missing_weeks="skip")


def _magnitudes() -> SalesDataset:
    """Sales spanning ten orders of magnitude: a summation that differs in order shows."""
    data = generate(stores=3, depts=4, weeks=120, seed=5)
    sales = data.sales.copy()
    rng = np.random.default_rng(1)
    sales["weekly_sales"] = (10.0 ** rng.uniform(-2, 8, len(sales))).round(2)
    return SalesDataset(sales=sales, features=data.features, stores=data.stores)


def _one_short_series() -> SalesDataset:
    """Fewer rows than the longest window: the windows stay NaN, nothing is gathered."""
    return generate(stores=1, depts=1, weeks=30, seed=2)


@pytest.mark.parametrize("make", [_clean, _retail, _skipped_weeks, _magnitudes,
                                  _one_short_series])
def test_frames_equal_the_replaced_code_exactly(make):
    data = make()
    new, old = engineering.build_features(data), reference.build_features(data)
    for name, frame in old.tables().items():
        pd.testing.assert_frame_equal(new.tables()[name], frame, check_exact=True,
                                      obj=name)
    assert new.next_week == old.next_week
    if make is _skipped_weeks:
        assert data.sales["weekly_sales"].isna().any()  # the case is really there


@pytest.mark.parametrize("cores", [1, 3])
def test_windows_reduced_in_chunks_on_threads_are_the_same_bit_for_bit(monkeypatch, cores):
    """At 10M rows the windows are reduced 131,072 rows at a time on every core; here chunks
    of 97 rows (not a multiple of a series' length) on 1 or 3 threads."""
    data = _magnitudes()
    old = reference.build_features(data)
    monkeypatch.setattr(engineering, "_CHUNK_ROWS", 97)
    monkeypatch.setattr(engineering, "_cores", lambda: cores)
    chunk_counts = []
    reduce_chunks = engineering._each_chunk

    def counted(reduce, chunks):
        chunk_counts.append(len(chunks))
        reduce_chunks(reduce, chunks)

    monkeypatch.setattr(engineering, "_each_chunk", counted)
    new = engineering.build_features(data)
    assert min(chunk_counts) >= 9  # every window really went in many chunks
    pd.testing.assert_frame_equal(new.dept_weekly, old.dept_weekly, check_exact=True)


def test_the_feature_block_is_one_float_block_not_copies():
    """The dept frame's features are the block they were computed into: a float block of
    every feature, not per-column arrays consolidated later (the memory the rewrite saves)."""
    frames = engineering.build_features(_clean())
    blocks = frames.dept_weekly._mgr.blocks
    floats = [block for block in blocks if block.dtype == np.float64]
    assert len(floats) == 1 and floats[0].shape[0] == len(engineering.DEPT_FEATURES)
