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


def _alter_from(dataset: SalesDataset, week: pd.Timestamp, series=None) -> SalesDataset:
    """New sales from `week` on: for every series, or only for the (store, dept) in `series`.
    Values span ten orders of magnitude, so any rounding residue that crosses rows shows."""
    sales = dataset.sales.copy()
    later = sales["date"] >= week
    if series is not None:
        later &= pd.Series(list(zip(sales["store"], sales["dept"]))).isin(series).to_numpy()
    rng = np.random.default_rng(0)
    sales.loc[later, "weekly_sales"] = (10.0 ** rng.uniform(-2, 8, later.sum())).round(2)
    return SalesDataset(sales=sales, features=dataset.features, stores=dataset.stores)


def _assert_bit_identical_up_to(before, after, week: pd.Timestamp) -> None:
    for name, columns in (("dept_weekly", DEPT_FEATURES), ("store_weekly", STORE_FEATURES)):
        a, b = getattr(before, name), getattr(after, name)
        pd.testing.assert_frame_equal(
            a.loc[a[TIMESTAMP] <= week].reset_index(drop=True),
            b.loc[b[TIMESTAMP] <= week].reset_index(drop=True), check_exact=True)


@pytest.mark.parametrize("week_index", [MIN_HISTORY_WEEKS, 30, 57, 80, 99])
@pytest.mark.parametrize("changed", [None, [(1, 2)], [(1, 1), (3, 5)]], ids=["all", "one", "two"])
def test_inference_features_at_or_before_t_are_bit_identical_when_sales_change_from_t(
        dataset, week_index, changed):
    week = dataset.weeks[week_index]
    before = build_features(dataset)
    after = build_features(_alter_from(dataset, week, changed))
    # every series, the changed ones and all the others: exact, not approximately equal
    _assert_bit_identical_up_to(before, after, week)
    # the alteration is real: the target at that week and the features after it did change
    target_a = before.sales_target.loc[before.sales_target[TIMESTAMP] == week, "weekly_sales"]
    target_b = after.sales_target.loc[after.sales_target[TIMESTAMP] == week, "weekly_sales"]
    assert not np.allclose(target_a.to_numpy(), target_b.to_numpy())
    later = before.dept_weekly[TIMESTAMP] > week
    assert not before.dept_weekly.loc[later, "sales_lag_1"].equals(
        after.dept_weekly.loc[later, "sales_lag_1"])


def test_a_series_features_do_not_depend_on_the_other_series(dataset):
    """Values of one series are the same whether other series are in the file or not."""
    alone = dataset.sales[(dataset.sales["store"] == 2) & (dataset.sales["dept"] == 4)]
    one = SalesDataset(sales=alone.reset_index(drop=True), features=dataset.features,
                       stores=dataset.stores)
    noisy = _alter_from(dataset, dataset.weeks[0],
                        [(s, d) for s in (1, 2, 3) for d in range(1, 6) if (s, d) != (2, 4)])
    for other in (one, noisy):
        a = build_features(dataset).dept_weekly
        b = build_features(other).dept_weekly
        pick = lambda f: f[(f["store"] == 2) & (f["dept"] == 4)].reset_index(drop=True)
        pd.testing.assert_frame_equal(pick(a), pick(b), check_exact=True)


def test_windows_equal_a_direct_computation_per_window(dataset):
    """Each window's mean and sample std are those of its own weeks (no running sums)."""
    sales = _alter_from(dataset, dataset.weeks[0]).sales  # ten orders of magnitude
    frames = build_features(SalesDataset(sales, dataset.features, dataset.stores))
    dept = frames.dept_weekly
    for store, dept_id in ((1, 1), (3, 5)):
        history = sales[(sales["store"] == store) & (sales["dept"] == dept_id)][
            "weekly_sales"].to_numpy()
        rows = dept[(dept["store"] == store) & (dept["dept"] == dept_id)]
        for position, row in zip(range(MIN_HISTORY_WEEKS, len(history) + 1), rows.itertuples()):
            for window in (4, 8, 52):
                if position < window:
                    continue
                weeks = history[position - window:position]
                assert getattr(row, f"sales_mean_{window}") == pytest.approx(
                    weeks.mean(), rel=1e-12)
                assert getattr(row, f"sales_std_{window}") == pytest.approx(
                    weeks.std(ddof=1), rel=1e-9, abs=1e-9)


def test_a_small_window_after_large_sales_is_exact(dataset):
    """[0.01, 0, 0, 0] after weeks of millions has std 0.005 exactly as computed alone:
    a running sum would leave residue of the millions in it."""
    sales = dataset.sales.copy()
    series = (sales["store"] == 1) & (sales["dept"] == 1)
    values = np.full(series.sum(), 3.3e6)
    values[40:44] = [0.01, 0.0, 0.0, 0.0]
    sales.loc[series, "weekly_sales"] = values
    dept = build_features(SalesDataset(sales, dataset.features, dataset.stores)).dept_weekly
    row = dept[(dept["store"] == 1) & (dept["dept"] == 1)
               & (dept[TIMESTAMP] == dataset.weeks[44])].iloc[0]
    assert row["sales_mean_4"] == 0.01 / 4
    assert row["sales_std_4"] == np.array([0.01, 0, 0, 0]).std(ddof=1)
    assert row["sales_zero_share_8"] == 3 / 8


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


# --- real data's quirks --------------------------------------------------------------


def _cleaned(raw, **policy):
    from salesops.config import DataSection
    from salesops.data.cleaning import clean

    return clean(raw, DataSection(**policy))[0]


def test_unknown_weeks_have_no_target_and_features_carry_the_last_recorded_week(dataset):
    from salesops.data.raw import RawData

    raw = RawData.of(dataset)
    series = (raw.sales["store"] == 2) & (raw.sales["dept"] == 3)
    gap = series & raw.sales["date"].isin(dataset.weeks[40:43])
    sales = _cleaned(RawData(raw.sales[~gap], raw.features, raw.stores), missing_weeks="skip")
    frames = build_features(sales)
    mine = lambda f: f[(f["store"] == 2) & (f["dept"] == 3)].set_index(TIMESTAMP)
    target, dept = mine(frames.sales_target), mine(frames.dept_weekly)
    assert not target.index.isin(dataset.weeks[40:43]).any()
    assert len(target) == len(dataset.weeks) - MIN_HISTORY_WEEKS - 3
    recorded = dataset.sales[series.to_numpy()].set_index("date")["weekly_sales"]
    last_recorded = recorded[dataset.weeks[39]]
    for week in dataset.weeks[41:44]:  # lag 1 of the weeks after each unknown week
        assert dept.loc[week, "sales_lag_1"] == last_recorded
    assert dept.loc[dataset.weeks[44], "sales_lag_1"] == recorded[dataset.weeks[43]]
    # with `zero`, the same weeks are weeks without sales: trained on as 0
    zero = mine(build_features(_cleaned(RawData(raw.sales[~gap], raw.features, raw.stores)))
                .sales_target)
    assert (zero.loc[dataset.weeks[40:43], "weekly_sales"] == 0).all()


def test_series_table_and_next_week_rows_on_retail_data():
    from salesops.data.retail import retail_quirks

    clean = generate(stores=6, depts=10, weeks=90, seed=42)
    frames = build_features(_cleaned(retail_quirks(clean, seed=42)))
    series = frames.series.set_index(["store", "dept"])
    assert set(series["status"]) == {"current", "ended", "short"}
    last_week = frames.next_week - pd.Timedelta(weeks=1)
    current = series["status"] == "current"
    assert (series.loc[current, "last_week"] == last_week).all()
    assert (series.loc[series["status"] == "ended", "last_week"] < last_week).all()
    assert (series.loc[series["status"] == "short", "weeks"] < MIN_HISTORY_WEEKS).all()
    online = frames.dept_weekly[frames.dept_weekly[TIMESTAMP] == frames.next_week]
    assert set(zip(online["store"], online["dept"])) == set(series.index[current])
    assert (series["first_week"] > clean.weeks[0]).any()  # late starters are in there


def test_returns_are_kept_in_history_and_target():
    from salesops.data.retail import retail_quirks

    dataset = _cleaned(retail_quirks(generate(stores=6, depts=10, weeks=90, seed=42), seed=42))
    frames = build_features(dataset)
    validate(frames)
    assert (frames.sales_target["weekly_sales"] < 0).any()
    assert (frames.dept_weekly["sales_lag_1"] < 0).any()
    assert (frames.dept_weekly["sales_std_4"] >= 0).all()
