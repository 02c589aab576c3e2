import numpy as np
import pandas as pd
import pytest

from salesops.data.dataset import SalesDataset
from salesops.data.synthetic import generate
from salesops.features.engineering import build_features
from salesops.features.schema import DEPT_FEATURES, MIN_HISTORY_WEEKS, STORE_FEATURES, TIMESTAMP
from salesops.features.validation import validate


@pytest.fixture(scope="module")
def dataset() -> SalesDataset:
    return generate(stores=3, depts=5, weeks=100, seed=7)


def _alter_from(dataset: SalesDataset, week: pd.Timestamp) -> SalesDataset:
    sales = dataset.sales.copy()
    later = sales["date"] >= week
    rng = np.random.default_rng(0)
    sales.loc[later, "weekly_sales"] = rng.uniform(0, 1e5, later.sum()).round(2)
    return SalesDataset(sales=sales, features=dataset.features, stores=dataset.stores)


@pytest.mark.parametrize("week_index", [MIN_HISTORY_WEEKS, 80, 99])
def test_inference_features_do_not_see_sales_of_their_week_or_later(dataset, week_index):
    week = dataset.weeks[week_index]
    before = build_features(dataset)
    after = build_features(_alter_from(dataset, week))
    for name, columns in (("dept_weekly", DEPT_FEATURES), ("store_weekly", STORE_FEATURES)):
        a = getattr(before, name)
        b = getattr(after, name)
        upto = a[TIMESTAMP] <= week
        pd.testing.assert_frame_equal(
            a.loc[upto, columns].reset_index(drop=True), b.loc[upto, columns].reset_index(drop=True)
        )
    # the alteration is real: the target at that week and the features after it did change
    target_a = before.sales_target.loc[before.sales_target[TIMESTAMP] == week, "weekly_sales"]
    target_b = after.sales_target.loc[after.sales_target[TIMESTAMP] == week, "weekly_sales"]
    assert not np.allclose(target_a.to_numpy(), target_b.to_numpy())
    later = before.dept_weekly[TIMESTAMP] > week
    assert not before.dept_weekly.loc[later, "sales_lag_1"].equals(
        after.dept_weekly.loc[later, "sales_lag_1"])


def test_lags_and_windows_are_the_past(dataset):
    frames = build_features(dataset)
    series = dataset.sales[(dataset.sales.store == 1) & (dataset.sales.dept == 3)]
    sales = series.set_index("date")["weekly_sales"]
    row = frames.dept_weekly[(frames.dept_weekly.store == 1) & (frames.dept_weekly.dept == 3)]
    row = row.set_index(TIMESTAMP).loc[dataset.weeks[70]]
    history = sales[sales.index < dataset.weeks[70]]
    assert row["sales_lag_1"] == pytest.approx(history.iloc[-1])
    assert row["sales_lag_52"] == pytest.approx(history.iloc[-52])
    assert row["sales_mean_4"] == pytest.approx(history.iloc[-4:].mean())
    assert row["sales_std_8"] == pytest.approx(history.iloc[-8:].std())
    assert row["sales_mean_52"] == pytest.approx(history.iloc[-52:].mean())


def test_next_week_row_per_series(dataset):
    frames = build_features(dataset)
    assert frames.next_week == dataset.weeks[-1] + pd.Timedelta(weeks=1)
    nxt = frames.dept_weekly[frames.dept_weekly[TIMESTAMP] == frames.next_week]
    assert len(nxt) == 3 * 5
    last = dataset.sales[dataset.sales["date"] == dataset.weeks[-1]].set_index(["store", "dept"])
    got = nxt.set_index(["store", "dept"])["sales_lag_1"]
    pd.testing.assert_series_equal(got.sort_index(), last["weekly_sales"].sort_index(),
                                   check_names=False, check_index_type=False)
    assert (frames.store_weekly[TIMESTAMP] == frames.next_week).sum() == 3
    assert frames.sales_target[TIMESTAMP].max() == dataset.weeks[-1]  # no target for next week


def test_frames_validate_and_timestamps_are_microsecond_utc(dataset):
    frames = build_features(dataset)
    validate(frames)
    for frame in frames.frames().values():
        assert str(frame[TIMESTAMP].dtype) == "datetime64[us, UTC]"
    assert frames.dept_weekly[TIMESTAMP].min() == dataset.weeks[MIN_HISTORY_WEEKS]


def test_validation_names_rows_and_columns(dataset):
    from salesops.errors import DataError
    from salesops.features.engineering import FeatureFrames

    frames = build_features(dataset)
    broken = frames.dept_weekly.copy()
    broken.loc[5, "sales_lag_2"] = np.nan
    broken.loc[6, "sales_std_4"] = -1.0
    bad = FeatureFrames(broken, frames.store_weekly, frames.sales_target, frames.next_week)
    with pytest.raises(DataError) as err:
        validate(bad)
    message = err.value.message
    assert "dept_weekly.sales_lag_2" in message and "not_nullable" in message
    assert "dept_weekly.sales_std_4" in message
    row = broken.loc[5]
    assert f"store={row['store']} dept={row['dept']}" in message


def test_year_features_are_null_only_in_the_first_year(dataset):
    from salesops.features.schema import YEAR_FEATURES, YEAR_HISTORY_WEEKS

    dept = build_features(dataset).dept_weekly
    position = (dept[TIMESTAMP] - dataset.weeks[0].tz_convert("UTC")) // pd.Timedelta(weeks=1)
    year = dept[YEAR_FEATURES]
    assert year[position >= YEAR_HISTORY_WEEKS].notna().all().all()
    assert year[position < 52].isna().all().all()
    others = dept.drop(columns=YEAR_FEATURES)
    assert others.notna().all().all()
