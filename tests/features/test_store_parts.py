"""A build engineers the data a few stores at a time (`store_groups` parts, issue 16: no table
is whole in memory): the parts' frames, one after the other, are the whole data's frames,
value for value, whatever the part size, on clean data, a retailer's quirks, skipped
weeks, a part whose stores all ended early and one whose series are all too short."""

import numpy as np
import pandas as pd
import pytest

from salesops.data.dataset import SalesDataset, store_groups
from salesops.data.synthetic import generate
from salesops.features import engineering
from tests.features.test_engineering_reference import _clean, _retail, _skipped_weeks


def _ended_and_short() -> SalesDataset:
    """Store 1's series all end 20 weeks early (no next-week rows in its part), store 2's
    all start 6 weeks before the end (too short for a feature row), store 3 is ordinary."""
    data = generate(stores=3, depts=4, weeks=80, seed=9)
    sales, last = data.sales, data.sales["date"].max()
    ended = (sales["store"] == 1) & (sales["date"] > last - pd.Timedelta(weeks=20))
    late = (sales["store"] == 2) & (sales["date"] <= last - pd.Timedelta(weeks=6))
    kept = sales[~(ended | late)].reset_index(drop=True)
    return SalesDataset(sales=kept, features=data.features, stores=data.stores)


def _joined(parts: list[engineering.FeatureFrames]) -> dict[str, pd.DataFrame]:
    return {name: pd.concat([part.tables()[name] for part in parts], ignore_index=True)
            for name in parts[0].tables()}


@pytest.mark.parametrize("make", [_clean, _retail, _skipped_weeks, _ended_and_short])
@pytest.mark.parametrize("rows", [1, 150, 700, 10**9])
def test_the_parts_frames_are_the_whole_datas(make, rows):
    data = make()
    whole = engineering.build_features(data)
    parts = [engineering.build_features(part, data.weeks) for part in store_groups(data, rows)]
    stores = data.sales["store"].nunique()
    assert len(parts) == stores if rows == 1 else (len(parts) > 1) == (rows < len(data.sales))
    for name, frame in _joined(parts).items():
        pd.testing.assert_frame_equal(frame, whole.tables()[name], check_exact=True, obj=name)
    assert {part.next_week for part in parts} == {whole.next_week}
    online = {name: pd.concat([part.online_rows()[name] for part in parts], ignore_index=True)
              for name in whole.online_rows()}
    for name, frame in online.items():
        pd.testing.assert_frame_equal(frame, whole.online_rows()[name], check_exact=True)


def test_parts_hold_whole_stores_within_the_row_budget():
    data = _retail()
    sizes = data.sales.groupby("store").size()
    parts = list(store_groups(data, int(sizes.max()) * 2))
    seen = []
    for part in parts:
        stores = part.sales["store"].unique()
        assert len(part.sales) <= int(sizes.max()) * 2
        assert set(part.features["store"]) == set(stores) == set(part.stores["store"])
        assert (part.features.groupby("store").size() == len(data.features) // len(sizes)).all()
        seen.extend(stores)
    assert seen == sorted(sizes.index)  # each store once, in order
    assert sum(len(part.sales) for part in parts) == len(data.sales)


def test_store_weeks_and_stores_without_sales_stay_in_a_part():
    """A store in the features or stores table but with no sales (before, between and
    after the stores that sold) goes into the part that would hold it: nothing dropped."""
    data = generate(stores=5, depts=2, weeks=70, seed=4)
    sold = data.sales[data.sales["store"].isin([2, 4])].reset_index(drop=True)
    partial = SalesDataset(sales=sold, features=data.features, stores=data.stores)
    parts = list(store_groups(partial, 1))
    assert [sorted(part.sales["store"].unique()) for part in parts] == [[2], [4]]
    assert [sorted(part.stores["store"]) for part in parts] == [[1, 2], [3, 4, 5]]
    assert np.array_equal(pd.concat([part.features for part in parts]).index,
                          data.features.index)


def test_data_out_of_store_order_is_refused_not_split():
    data = generate(stores=3, depts=2, weeks=70, seed=4)
    shuffled = SalesDataset(sales=data.sales.sample(frac=1, random_state=1),
                            features=data.features, stores=data.stores)
    with pytest.raises(ValueError, match="sales frame is not sorted by store"):
        list(store_groups(shuffled, 100))
