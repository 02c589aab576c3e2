"""The synthetic generator: contract, determinism, prefix stability, structure, drift."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesops.data.calendar import holiday_calendar
from salesops.data.dataset import COVARIATES, SalesDataset
from salesops.data.synthetic import department_profiles, generate

SMALL = {"stores": 6, "depts": 5, "weeks": 60}


@pytest.fixture(scope="module")
def default() -> SalesDataset:
    return generate()


@pytest.fixture(scope="module")
def cube(default: SalesDataset) -> np.ndarray:
    """Default weekly sales as (store, dept, week): rows are sorted that way."""
    return default.sales["weekly_sales"].to_numpy().reshape(45, 14, 104)


@pytest.fixture(scope="module")
def depts() -> pd.DataFrame:
    return department_profiles(14, seed=42)


def mape(actual: np.ndarray, forecast: np.ndarray) -> float:
    nonzero = actual != 0
    return float(np.mean(np.abs(actual[nonzero] - forecast[nonzero]) / actual[nonzero]) * 100)


# --- contract ------------------------------------------------------------------------


def test_shapes_dtypes_and_order(default: SalesDataset) -> None:
    sales, features, stores = default.sales, default.features, default.stores
    assert len(sales) == 45 * 14 * 104 == 65_520
    assert sales.dtypes.astype(str).to_dict() == {
        "store": "int32", "dept": "int32", "date": "datetime64[us, UTC]",
        "weekly_sales": "float64", "is_holiday": "bool",
    }
    assert features.dtypes.astype(str).to_dict() == {
        "store": "int32", "date": "datetime64[us, UTC]", **{c: "float64" for c in COVARIATES},
        "is_holiday": "bool", "markdown_known": "bool",
    }
    assert stores.dtypes.astype(str).to_dict() == {"store": "int32", "type": "object",
                                                   "size": "int64"}
    assert sales.equals(sales.sort_values(["store", "dept", "date"]).reset_index(drop=True))
    assert features.equals(features.sort_values(["store", "date"]).reset_index(drop=True))
    assert not sales.duplicated(["store", "dept", "date"]).any()
    assert not features.isna().any().any()
    assert (sales["weekly_sales"] >= 0).all()
    assert (sales["weekly_sales"] == sales["weekly_sales"].round(2)).all()
    weeks = default.weeks
    assert len(weeks) == 104 and (weeks.dayofweek == 4).all()
    assert (np.diff(weeks.asi8) == 7 * 86_400 * 10**6).all()
    assert weeks[0] == pd.Timestamp("2023-01-06", tz="UTC")


def test_features_cover_every_sales_week_and_the_next(default: SalesDataset) -> None:
    features = default.features
    next_week = default.weeks[-1] + pd.Timedelta(weeks=1)
    per_store = features.groupby("store")["date"].agg(["min", "max", "count"])
    assert (per_store["min"] == default.weeks[0]).all()
    assert (per_store["max"] == next_week).all()
    assert (per_store["count"] == 105).all()
    # Flags agree with the calendar, in features and in sales.
    expected = holiday_calendar(features["date"])["is_holiday"]
    assert (features["is_holiday"] == expected).all()
    merged = default.sales.merge(features, on=["store", "date"], suffixes=("", "_f"))
    assert (merged["is_holiday"] == merged["is_holiday_f"]).all()


def test_stores_look_like_walmart(default: SalesDataset) -> None:
    stores = default.stores.set_index("store")
    assert stores["type"].value_counts().to_dict() == {"A": 22, "B": 17, "C": 6}
    for kind, (low, high) in {"A": (150e3, 220e3), "B": (40e3, 140e3), "C": (30e3, 45e3)}.items():
        assert stores.loc[stores["type"] == kind, "size"].between(low, high).all()
    # Bigger stores sell more.
    per_store = default.sales.groupby("store")["weekly_sales"].sum()
    assert np.corrcoef(np.log(per_store), np.log(stores["size"]))[0, 1] > 0.6


def test_summary(default: SalesDataset) -> None:
    summary = default.summary()
    assert summary["rows"] == 65_520 and summary["stores"] == 45 and summary["depts"] == 14
    assert summary["weeks"] == 104
    assert (summary["first_week"], summary["last_week"]) == ("2023-01-06", "2024-12-27")
    assert 0.02 < summary["zero_share"] < 0.2


# --- determinism ---------------------------------------------------------------------


def test_same_seed_same_data_other_seed_other_data() -> None:
    first, again, other = generate(**SMALL), generate(**SMALL), generate(**SMALL, seed=7)
    for name in ("sales", "features", "stores"):
        pd.testing.assert_frame_equal(getattr(first, name), getattr(again, name))
    assert not np.allclose(first.sales["weekly_sales"], other.sales["weekly_sales"])
    assert not np.allclose(first.features["temperature"], other.features["temperature"])


def test_prefix_stable_when_weeks_are_appended() -> None:
    short, long = generate(**SMALL), generate(**(SMALL | {"weeks": 73}))
    cut = long.weeks[59]
    pd.testing.assert_frame_equal(
        short.sales, long.sales[long.sales["date"] <= cut].reset_index(drop=True)
    )
    # Including the extra week of the short set (week index 60): same covariates.
    next_week = cut + pd.Timedelta(weeks=1)
    pd.testing.assert_frame_equal(
        short.features, long.features[long.features["date"] <= next_week].reset_index(drop=True)
    )
    pd.testing.assert_frame_equal(short.stores, long.stores)


# --- structure -----------------------------------------------------------------------


def test_yearly_seasonality(cube: np.ndarray, depts: pd.DataFrame) -> None:
    seasonal = (depts["season_amp"] >= 0.15).to_numpy() & ~depts["intermittent"].to_numpy()
    assert seasonal.sum() >= 5
    log = np.log1p(cube[:, seasonal])
    a, b = log[:, :, 52:], log[:, :, :52]
    a = a - a.mean(axis=2, keepdims=True)
    b = b - b.mean(axis=2, keepdims=True)
    corr = (a * b).sum(axis=2) / np.sqrt((a * a).sum(axis=2) * (b * b).sum(axis=2))
    assert corr.mean() > 0.5
    # December matters a lot for some departments and not for others.
    december = (pd.DatetimeIndex(generate(stores=1, depts=1).weeks).month == 12)
    uplift = cube[:, :, december].mean(axis=(0, 2)) / cube.mean(axis=(0, 2))
    kind = depts["season_kind"].to_numpy()
    assert uplift[kind == "december"].min() > uplift[kind == "summer"].max()
    assert uplift.max() - uplift.min() > 0.4


@pytest.mark.parametrize("holiday", ["thanksgiving", "super_bowl", "labor_day"])
def test_holiday_weeks_lift_sensitive_departments(
    default: SalesDataset, cube: np.ndarray, depts: pd.DataFrame, holiday: str
) -> None:
    calendar = holiday_calendar(default.weeks)
    at = np.flatnonzero(calendar["holiday"].to_numpy() == holiday)
    neighbours = np.concatenate([at - 4, at - 3, at + 3, at + 4])
    sensitive = (depts[holiday] > 0.08).to_numpy() & ~depts["intermittent"].to_numpy()
    assert sensitive.any()
    log = np.log(cube[:, sensitive])
    lift = log[:, :, at].mean() - log[:, :, neighbours].mean()
    assert lift > 0.08


def test_christmas_lead_up(default: SalesDataset, cube: np.ndarray, depts: pd.DataFrame) -> None:
    calendar = holiday_calendar(default.weeks)
    christmas = np.flatnonzero(calendar["holiday"].to_numpy() == "christmas")
    lead_up = np.concatenate([christmas - 1, christmas - 2, christmas - 3])
    november = christmas - 7  # the first half of November, before Thanksgiving
    regular = ~depts["intermittent"].to_numpy()  # (their zeros would make ratios infinite)
    sensitive = (depts["christmas"] > 0.2).to_numpy()[regular]
    other = ~sensitive
    sales = cube[:, regular]
    ratio = sales[:, :, lead_up].mean(axis=2) / sales[:, :, november].mean(axis=2)
    assert ratio[:, sensitive].mean() > 1.25
    assert ratio[:, sensitive].mean() > ratio[:, other].mean() + 0.3


def test_zeros_only_in_intermittent_departments(cube: np.ndarray, depts: pd.DataFrame) -> None:
    zero_share = (cube == 0).mean(axis=(0, 2))
    intermittent = depts["intermittent"].to_numpy()
    assert 1 <= intermittent.sum() <= 3  # ~17 % of 14
    assert (zero_share[intermittent] > 0.15).all()
    assert (zero_share[~intermittent] == 0).all()


def test_markdown_weeks_lift_sales(default: SalesDataset, depts: pd.DataFrame) -> None:
    features = default.features
    promo = features[[f"markdown{i}" for i in range(1, 6)]].sum(axis=1) > 0
    promo = promo.to_numpy().reshape(45, 105)[:, :104]
    assert 0.1 < promo.mean() < 0.35
    elastic = (depts["markdown_elasticity"] > 0.1).to_numpy() & ~depts["intermittent"].to_numpy()
    log = np.log(default.sales["weekly_sales"].to_numpy().reshape(45, 14, 104)[:, elastic])
    log = log - log.mean(axis=2, keepdims=True)
    mask = np.broadcast_to(promo[:, None, :], log.shape)
    assert log[mask].mean() - log[~mask].mean() > 0.05


def test_naive_forecasts_are_far_from_perfect(cube: np.ndarray, depts: pd.DataFrame) -> None:
    actual = cube[:, :, -13:]
    last_week = cube[:, :, -14:-1]
    seasonal = cube[:, :, -65:-52]
    assert mape(actual, seasonal) > 8
    assert mape(actual, last_week) > 8
    # Also without the intermittent departments, whose zeros inflate errors.
    regular = ~depts["intermittent"].to_numpy()
    assert mape(actual[:, regular], seasonal[:, regular]) > 8
    assert mape(actual[:, regular], last_week[:, regular]) > 8


# --- drift injection -----------------------------------------------------------------


def test_shifts_apply_from_the_shift_week_only() -> None:
    base = generate(**SMALL)
    shifted = generate(**SMALL, shifts={"temperature": 10, "fuel_price": 0.5, "markdown": 2},
                       shift_from_week=50)
    cut = base.weeks[50]
    before, after = base.features["date"] < cut, base.features["date"] >= cut
    assert after.sum() == 6 * 11  # weeks 50..59 and the week to forecast
    pd.testing.assert_frame_equal(base.features[before], shifted.features[before])
    for column, added, atol in (("temperature", 10, 0.011), ("fuel_price", 0.5, 0.0011)):
        diff = shifted.features.loc[after, column] - base.features.loc[after, column]
        assert np.allclose(diff, added, atol=atol)
    markdown = [f"markdown{i}" for i in range(1, 6)]
    doubled = 2 * base.features.loc[after, markdown]
    assert np.allclose(shifted.features.loc[after, markdown], doubled, atol=0.011)
    # Sales respond to the shifted covariates from the shift week on, not before.
    sales_before = base.sales["date"] < cut
    pd.testing.assert_frame_equal(base.sales[sales_before], shifted.sales[sales_before])
    assert not np.allclose(base.sales.loc[~sales_before, "weekly_sales"],
                           shifted.sales.loc[~sales_before, "weekly_sales"])


def test_demand_shift_defaults_to_the_last_eight_weeks() -> None:
    base, shifted = generate(**SMALL), generate(**SMALL, shifts={"demand": 1.5})
    late = (base.sales["date"] >= base.weeks[-8]).to_numpy()
    y0, y1 = base.sales["weekly_sales"].to_numpy(), shifted.sales["weekly_sales"].to_numpy()
    assert (y0[~late] == y1[~late]).all()
    assert np.allclose(y1[late], 1.5 * y0[late], atol=0.011)
    pd.testing.assert_frame_equal(base.features, shifted.features)


def test_bad_arguments_raise_value_error() -> None:
    with pytest.raises(ValueError, match="'humidity'"):
        generate(**SMALL, shifts={"humidity": 3.0})
    with pytest.raises(ValueError, match="Friday"):
        generate(**SMALL, start_date="2023-01-07")
    with pytest.raises(ValueError, match="weeks"):
        generate(stores=2, depts=2, weeks=0)
    with pytest.raises(ValueError, match="shift_from_week"):
        generate(**SMALL, shifts={"demand": 2.0}, shift_from_week=61)
