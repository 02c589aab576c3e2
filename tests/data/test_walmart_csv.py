"""Walmart-layout CSV import: round trip, cleaning rules, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from salesops.data.dataset import SalesDataset
from salesops.data.synthetic import generate
from salesops.data.walmart_csv import load_walmart_csv
from salesops.errors import DataError

MARKDOWNS = [f"MarkDown{i}" for i in range(1, 6)]


def write_kaggle(dataset: SalesDataset, directory: Path) -> Path:
    """Write a data set as Kaggle's train.csv, features.csv, stores.csv (NA for no markdown)."""
    directory.mkdir(parents=True, exist_ok=True)
    sales, features = dataset.sales, dataset.features
    flag = {True: "TRUE", False: "FALSE"}
    pd.DataFrame(
        {"Store": sales["store"], "Dept": sales["dept"],
         "Date": sales["date"].dt.strftime("%Y-%m-%d"), "Weekly_Sales": sales["weekly_sales"],
         "IsHoliday": sales["is_holiday"].map(flag)}
    ).to_csv(directory / "train.csv", index=False)
    kaggle = pd.DataFrame(
        {"Store": features["store"], "Date": features["date"].dt.strftime("%Y-%m-%d"),
         "Temperature": features["temperature"], "Fuel_Price": features["fuel_price"],
         **{name: features[f"markdown{i}"].replace(0.0, np.nan)
            for i, name in enumerate(MARKDOWNS, start=1)},
         "CPI": features["cpi"], "Unemployment": features["unemployment"],
         "IsHoliday": features["is_holiday"].map(flag)}
    )
    kaggle.to_csv(directory / "features.csv", index=False, na_rep="NA")
    dataset.stores.rename(columns={"store": "Store", "type": "Type", "size": "Size"}).to_csv(
        directory / "stores.csv", index=False
    )
    return directory


@pytest.fixture(scope="module")
def original() -> SalesDataset:
    # 58 weeks: the week to forecast, 2024-02-16, is a holiday (Super Bowl) week.
    return generate(stores=3, depts=2, weeks=58)


@pytest.fixture()
def kaggle(tmp_path: Path, original: SalesDataset) -> Path:
    return write_kaggle(original, tmp_path / "walmart")


def edit(directory: Path, name: str, change) -> None:
    """Rewrite one CSV through a function of its (all-text) frame."""
    frame = pd.read_csv(directory / name, dtype=str, keep_default_na=False)
    change(frame).to_csv(directory / name, index=False)


def assert_same(left: SalesDataset, right: SalesDataset) -> None:
    for name in ("sales", "features", "stores"):
        pd.testing.assert_frame_equal(getattr(left, name), getattr(right, name))


# --- round trip and cleaning ---------------------------------------------------------


def test_round_trip(kaggle: Path, original: SalesDataset) -> None:
    assert_same(load_walmart_csv(kaggle), original)


def test_negative_sales_are_clipped(kaggle: Path, original: SalesDataset) -> None:
    edit(kaggle, "train.csv", lambda f: f.assign(Weekly_Sales=f["Weekly_Sales"].where(
        f.index != 5, "-123.45")))
    loaded = load_walmart_csv(kaggle)
    assert loaded.sales.loc[5, "weekly_sales"] == 0.0
    other = loaded.sales.index != 5
    assert loaded.sales["weekly_sales"][other].equals(original.sales["weekly_sales"][other])


def test_gaps_inside_a_series_are_filled_with_zero(kaggle: Path, original: SalesDataset) -> None:
    # Store 1 dept 1 loses weeks 10..12; store 2 dept 2 starts 5 weeks late (not back-filled).
    sales = original.sales
    week = sales.groupby(["store", "dept"]).cumcount()
    gap = (sales["store"] == 1) & (sales["dept"] == 1) & week.between(10, 12)
    late = (sales["store"] == 2) & (sales["dept"] == 2) & (week < 5)
    edit(kaggle, "train.csv", lambda f: f[~(gap | late).to_numpy()])
    loaded = load_walmart_csv(kaggle)
    expected = sales[~late.to_numpy()].reset_index(drop=True)
    expected.loc[gap[~late].to_numpy(), "weekly_sales"] = 0.0
    pd.testing.assert_frame_equal(loaded.sales, expected)
    pd.testing.assert_frame_equal(loaded.features, original.features)


def test_missing_covariates_are_filled(kaggle: Path, original: SalesDataset) -> None:
    def blank(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[[3, 4], "CPI"] = "NA"  # store 1, filled forward from row 2
        frame.loc[0, "Unemployment"] = ""  # store 1's first row: filled backward from row 1
        return frame

    edit(kaggle, "features.csv", blank)
    features = load_walmart_csv(kaggle).features
    cpi, unemployment = original.features["cpi"], original.features["unemployment"]
    assert features.loc[[3, 4], "cpi"].tolist() == [cpi[2], cpi[2]]
    assert features.loc[0, "unemployment"] == unemployment[1]
    assert not features.isna().any().any()


def test_week_to_forecast_is_synthesized_when_absent(
    kaggle: Path, original: SalesDataset
) -> None:
    next_week = original.weeks[-1] + pd.Timedelta(weeks=1)
    text = next_week.strftime("%Y-%m-%d")
    edit(kaggle, "features.csv", lambda f: f[f["Date"] != text])
    features = load_walmart_csv(kaggle).features
    added = features[features["date"] == next_week].reset_index(drop=True)
    last = original.features[original.features["date"] == original.weeks[-1]].reset_index(
        drop=True
    )
    assert len(added) == 3
    covariates = [c for c in features.columns if c not in ("date", "is_holiday")]
    pd.testing.assert_frame_equal(added[covariates], last[covariates])
    # The week to forecast (2024-02-16) holds the Super Bowl (Sunday 2024-02-11), the carried
    # week does not: the calendar decides the flag, not the carried row.
    assert not last["is_holiday"].any()
    assert added["is_holiday"].all()


def test_features_outside_the_sales_range_and_other_stores_are_dropped(
    kaggle: Path, original: SalesDataset
) -> None:
    def extend(frame: pd.DataFrame) -> pd.DataFrame:
        extra = frame[frame["Store"] == "1"].head(1).assign(Date="2020-01-03")
        other = frame[frame["Store"] == "1"].assign(Store="9")
        later = frame.tail(1).assign(Date="2030-01-04")
        off_grid = frame.iloc[[9]].assign(Date="2023-02-01")  # a Wednesday inside the range
        return pd.concat([extra, frame, other, later, off_grid])

    edit(kaggle, "features.csv", extend)
    pd.testing.assert_frame_equal(load_walmart_csv(kaggle).features, original.features)


def test_headers_match_case_insensitively(kaggle: Path, original: SalesDataset) -> None:
    edit(kaggle, "stores.csv", lambda f: f.rename(columns=str.lower))
    edit(kaggle, "train.csv", lambda f: f.rename(columns={"Weekly_Sales": "weekly sales"}))
    assert_same(load_walmart_csv(kaggle), original)


# --- errors --------------------------------------------------------------------------


def load_error(path: Path) -> str:
    with pytest.raises(DataError) as caught:
        load_walmart_csv(path)
    message = caught.value.one_line()
    assert "\n" not in message and caught.value.exit_code == 3
    return message


def test_missing_directory(tmp_path: Path) -> None:
    assert "not found" in load_error(tmp_path / "nowhere")
    (tmp_path / "file.csv").write_text("x\n")
    assert "not a directory" in load_error(tmp_path / "file.csv")


@pytest.mark.parametrize("name", ["train.csv", "features.csv", "stores.csv"])
def test_missing_file(kaggle: Path, name: str) -> None:
    (kaggle / name).unlink()
    assert f"{name} not found" in load_error(kaggle)


def test_empty_file(kaggle: Path) -> None:
    (kaggle / "stores.csv").write_text("")
    assert "stores.csv is empty" in load_error(kaggle)


def test_missing_columns(kaggle: Path) -> None:
    edit(kaggle, "train.csv", lambda f: f.drop(columns=["Weekly_Sales", "IsHoliday"]))
    message = load_error(kaggle)
    assert "train.csv" in message and "Weekly_Sales, IsHoliday" in message


@pytest.mark.parametrize(
    ("name", "column", "value", "expected"),
    [("train.csv", "Date", "2010-13-45", "cannot read '2010-13-45'"),
     ("train.csv", "Weekly_Sales", "lots", "cannot read 'lots' as a number"),
     ("train.csv", "Dept", "2.5", "as an integer"),
     ("train.csv", "IsHoliday", "maybe", "TRUE/FALSE"),
     ("features.csv", "Temperature", "hot", "cannot read 'hot'"),
     ("features.csv", "Date", "", "missing value"),
     ("stores.csv", "Size", "big", "as an integer"),
     ("stores.csv", "Type", "D", "A or B or C")],
)
def test_unreadable_values_name_file_column_and_line(
    kaggle: Path, name: str, column: str, value: str, expected: str
) -> None:
    row = 1 if name == "stores.csv" else 7
    edit(kaggle, name, lambda f: f.assign(**{column: f[column].where(f.index != row, value)}))
    message = load_error(kaggle)
    assert message.startswith(f"{name}: column {column}:")
    assert expected in message and f"(line {row + 2})" in message


def test_duplicate_sales_row(kaggle: Path) -> None:
    edit(kaggle, "train.csv", lambda f: pd.concat([f.iloc[:11], f.iloc[[4]], f.iloc[11:]]))
    message = load_error(kaggle)
    assert "train.csv: duplicate row for Store 1, Dept 1, Date 2023-02-03 (line 13)" == message


def test_sales_for_an_unknown_store(kaggle: Path) -> None:
    edit(kaggle, "stores.csv", lambda f: f[f["Store"] != "2"])
    message = load_error(kaggle)
    assert "Store 2 has sales but is not in stores.csv" in message and "train.csv" in message


def test_sales_week_without_features(kaggle: Path) -> None:
    edit(kaggle, "features.csv", lambda f: f[~((f["Store"] == "3") & (f["Date"] == "2023-03-03"))])
    message = load_error(kaggle)
    assert message.startswith("features.csv has no row for Store 3, Date 2023-03-03")


def test_weeks_off_the_weekly_grid(kaggle: Path) -> None:
    edit(kaggle, "train.csv", lambda f: f.assign(Date=f["Date"].where(f.index != 3, "2023-01-28")))
    assert "not a whole number of weeks" in load_error(kaggle)


def test_ragged_csv(kaggle: Path) -> None:
    with open(kaggle / "train.csv", "a") as handle:
        handle.write("1,1,2030-01-04,5.0,FALSE,extra,fields\n")
    assert "train.csv is not a readable CSV file" in load_error(kaggle)
