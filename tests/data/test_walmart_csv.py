"""Walmart-layout CSV import: round trip, the data policies and their report, one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from salesops.config import DataSection
from salesops.data.dataset import SalesDataset
from salesops.data.raw import RawData
from salesops.data.report import DataReport
from salesops.data.synthetic import generate
from salesops.data.walmart_csv import load_walmart_csv, write_walmart_csv
from salesops.errors import DataError


def write_kaggle(dataset: SalesDataset, directory: Path, **options) -> Path:
    """Write a clean data set as Kaggle's train.csv, features.csv, stores.csv."""
    return write_walmart_csv(RawData.of(dataset), directory, **options)


def load(path: Path, **policy) -> tuple[SalesDataset, DataReport]:
    return load_walmart_csv(path, DataSection(**policy))


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


def found(report: DataReport) -> dict[str, int]:
    counts: dict[str, int] = {}
    for quirk in report.found():
        counts[quirk.name] = counts.get(quirk.name, 0) + quirk.count
    return counts


def _series(frame: pd.DataFrame, store: int, dept: int) -> pd.DataFrame:
    return frame[(frame["store"] == store) & (frame["dept"] == dept)]


# --- round trip ----------------------------------------------------------------------


def test_round_trip(kaggle: Path, original: SalesDataset) -> None:
    loaded, report = load(kaggle)
    assert_same(loaded, original)
    assert report.rows_read == report.rows == len(original.sales)
    assert report.series == 6 and report.weeks == 58
    zeros = int((original.sales["weekly_sales"] == 0).sum())
    assert found(report) == ({"zero_weeks": zeros} if zeros else {})


@pytest.mark.parametrize("ending", ["CR", "CRLF"])
def test_line_endings_and_a_byte_order_mark(tmp_path: Path, original: SalesDataset,
                                            ending: str) -> None:
    path = write_kaggle(original, tmp_path / "walmart")
    for name in ("train.csv", "features.csv", "stores.csv"):
        text = (path / name).read_text()
        if name == "stores.csv":
            text = "\ufeff" + text  # what a spreadsheet's "CSV UTF-8" export starts with
        (path / name).write_bytes(text.replace("\n", "\r" if ending == "CR" else "\r\n")
                                  .encode())
    loaded, report = load(path)
    assert_same(loaded, original)
    lines = [q for q in report.found() if q.name == "line_endings"]
    assert len(lines) == 3 and all(ending in q.action for q in lines)


def test_headers_match_case_insensitively(kaggle: Path, original: SalesDataset) -> None:
    edit(kaggle, "stores.csv", lambda f: f.rename(columns=str.lower))
    edit(kaggle, "train.csv", lambda f: f.rename(columns={"Weekly_Sales": "weekly sales"}))
    assert_same(load(kaggle)[0], original)


# --- policies, each reported ---------------------------------------------------------


@pytest.mark.parametrize(("policy", "expected"), [("keep", -123.45), ("clip", 0.0),
                                                  ("drop", 0.0)])
def test_negative_sales_policy(kaggle: Path, original: SalesDataset, policy: str,
                               expected: float) -> None:
    edit(kaggle, "train.csv", lambda f: f.assign(Weekly_Sales=f["Weekly_Sales"].where(
        f.index != 5, "-123.45")))
    loaded, report = load(kaggle, negative_sales=policy)
    assert loaded.sales.loc[5, "weekly_sales"] == expected
    other = loaded.sales.index != 5
    assert loaded.sales["weekly_sales"][other].equals(original.sales["weekly_sales"][other])
    counts = found(report)
    assert counts["negative_weeks"] == 1
    # dropped, the week is a missing week, then read as a week without sales (zero)
    assert counts.get("missing_weeks", 0) == (1 if policy == "drop" else 0)
    quirk = next(q for q in report.quirks if q.name == "negative_weeks")
    assert quirk.policy == f"data.negative_sales = {policy}" and "-123.45" in quirk.examples[0]


@pytest.mark.parametrize("policy", ["zero", "skip"])
def test_missing_weeks_policy_and_late_series(kaggle: Path, original: SalesDataset,
                                              policy: str) -> None:
    # Store 1 dept 1 loses weeks 10..12; store 2 dept 2 starts 5 weeks late (not back-filled).
    sales = original.sales
    week = sales.groupby(["store", "dept"]).cumcount()
    gap = (sales["store"] == 1) & (sales["dept"] == 1) & week.between(10, 12)
    late = (sales["store"] == 2) & (sales["dept"] == 2) & (week < 5)
    edit(kaggle, "train.csv", lambda f: f[~(gap | late).to_numpy()])
    loaded, report = load(kaggle, missing_weeks=policy)
    expected = sales[~late.to_numpy()].reset_index(drop=True)
    expected.loc[gap[~late].to_numpy(), "weekly_sales"] = 0.0 if policy == "zero" else np.nan
    pd.testing.assert_frame_equal(loaded.sales, expected)
    pd.testing.assert_frame_equal(loaded.features, original.features)
    counts = found(report)
    assert counts["missing_weeks"] == 3 and counts["late_start_series"] == 1
    assert report.rows_read == len(sales) - 8 and report.rows == len(sales) - 5
    assert "store 1 dept 1" in next(q for q in report.quirks if q.name == "missing_weeks").examples


def test_ended_series_stop_and_recent_ones_continue(kaggle: Path, original: SalesDataset) -> None:
    # store 1 dept 2 stops 6 weeks before the end: ended (past data.ended_after_weeks = 4);
    # store 3 dept 1 stops 2 weeks before: it continues, its last 2 weeks are missing weeks
    last = original.weeks[-1]
    dates = pd.to_datetime(original.sales["date"])
    ended = (original.sales["store"] == 1) & (original.sales["dept"] == 2) & (
        dates > last - pd.Timedelta(weeks=6))
    quiet = (original.sales["store"] == 3) & (original.sales["dept"] == 1) & (
        dates > last - pd.Timedelta(weeks=2))
    edit(kaggle, "train.csv", lambda f: f[~(ended | quiet).to_numpy()])
    loaded, report = load(kaggle)
    assert _series(loaded.sales, 1, 2)["date"].max() == last - pd.Timedelta(weeks=6)
    tail = _series(loaded.sales, 3, 1)
    assert tail["date"].max() == last and (tail["weekly_sales"].iloc[-2:] == 0).all()
    counts = found(report)
    assert counts["ended_series"] == 1 and counts["missing_final_weeks"] == 2
    assert counts.get("missing_weeks", 0) == 0
    ended_quirk = next(q for q in report.quirks if q.name == "ended_series")
    assert ended_quirk.examples == [f"store 1 dept 2 ({(last - pd.Timedelta(weeks=6)).date()})"]
    # with a window of 2 weeks, the quiet series has ended too
    assert found(load(kaggle, ended_after_weeks=2)[1])["ended_series"] == 2


def test_missing_covariates_are_filled_and_counted(kaggle: Path, original: SalesDataset) -> None:
    def blank(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[[3, 4], "CPI"] = "NA"  # store 1, filled forward from row 2
        frame.loc[0, "Unemployment"] = ""  # store 1's first row: filled backward from row 1
        return frame

    edit(kaggle, "features.csv", blank)
    features, report = load(kaggle)
    features = features.features
    cpi, unemployment = original.features["cpi"], original.features["unemployment"]
    assert features.loc[[3, 4], "cpi"].tolist() == [cpi[2], cpi[2]]
    assert features.loc[0, "unemployment"] == unemployment[1]
    assert not features.isna().any().any()
    gaps = {q.action.split(":")[0]: q.count for q in report.found() if q.name == "covariate_gaps"}
    assert gaps == {"cpi": 2, "unemployment": 1}


@pytest.mark.parametrize("policy", ["unknown", "zero"])
def test_markdowns_not_recorded_are_unknown_not_zero(kaggle: Path, original: SalesDataset,
                                                     policy: str) -> None:
    markdowns = [f"MarkDown{i}" for i in range(1, 6)]
    first_weeks = original.weeks[:20].strftime("%Y-%m-%d")

    def unrecorded(frame: pd.DataFrame) -> pd.DataFrame:
        early = frame["Date"].isin(first_weeks)
        frame.loc[early, markdowns] = "NA"  # nothing recorded in the first 20 weeks
        frame.loc[(frame["Store"] == "2") & ~early, "MarkDown3"] = "NA"  # type 3 not run
        return frame

    edit(kaggle, "features.csv", unrecorded)
    loaded, report = load(kaggle, missing_markdown=policy)
    early = loaded.features["date"].isin(original.weeks[:20])
    known = loaded.features["markdown_known"]
    assert known[~early].all()
    assert (~known[early]).all() if policy == "unknown" else known[early].all()
    assert (loaded.features.loc[early, "markdown1"] == 0).all()
    counts = found(report)
    assert counts["markdown_not_recorded"] == 3 * 20
    assert counts["markdown_gaps"] == len(original.weeks) + 1 - 20  # store 2's type 3


def test_week_to_forecast_is_carried_when_absent(kaggle: Path, original: SalesDataset) -> None:
    next_week = original.weeks[-1] + pd.Timedelta(weeks=1)
    text = next_week.strftime("%Y-%m-%d")
    edit(kaggle, "features.csv", lambda f: f[f["Date"] != text])
    features, report = load(kaggle)
    features = features.features
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
    assert found(report)["next_week_covariates_carried"] == 3


def test_features_outside_the_sales_range_and_other_stores_are_ignored(
    kaggle: Path, original: SalesDataset
) -> None:
    def extend(frame: pd.DataFrame) -> pd.DataFrame:
        extra = frame[frame["Store"] == "1"].head(1).assign(Date="2020-01-03")
        other = frame[frame["Store"] == "1"].assign(Store="9")
        later = frame.tail(1).assign(Date="2030-01-04")
        off_grid = frame.iloc[[9]].assign(Date="2023-02-01")  # a Wednesday inside the range
        return pd.concat([extra, frame, other, later, off_grid])

    edit(kaggle, "features.csv", extend)
    loaded, report = load(kaggle)
    pd.testing.assert_frame_equal(loaded.features, original.features)
    assert found(report)["feature_rows_ignored"] == 3 + len(original.weeks) + 1


def test_stores_without_sales_are_reported(kaggle: Path, original: SalesDataset) -> None:
    edit(kaggle, "stores.csv", lambda f: pd.concat([f, f.tail(1).assign(Store="7")]))
    loaded, report = load(kaggle)
    assert_same(loaded, original)
    assert found(report)["stores_without_sales"] == 1


# --- errors --------------------------------------------------------------------------


def load_error(path: Path) -> str:
    with pytest.raises(DataError) as caught:
        load(path)
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
     ("train.csv", "Store", "0", "'0' is not an id"),
     ("features.csv", "Store", "-3", "'-3' is not an id"),
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


def test_a_sales_week_without_a_features_row_is_filled_and_counted(
        kaggle: Path, original: SalesDataset) -> None:
    edit(kaggle, "features.csv", lambda f: f[~((f["Store"] == "3") & (f["Date"] == "2023-03-03"))])
    loaded, report = load(kaggle)
    features = loaded.features.set_index(["store", "date"])
    expected = original.features.set_index(["store", "date"])
    week, before = pd.Timestamp("2023-03-03", tz="UTC"), pd.Timestamp("2023-02-24", tz="UTC")
    assert len(features) == len(expected)
    for column in ("temperature", "fuel_price", "cpi", "unemployment"):
        assert features.loc[(3, week), column] == expected.loc[(3, before), column]
    assert (features.loc[(3, week), [f"markdown{i}" for i in range(1, 6)]] == 0).all()
    assert features.loc[(3, week), "is_holiday"] == expected.loc[(3, week), "is_holiday"]
    assert found(report)["feature_rows_missing"] == 1
    pd.testing.assert_frame_equal(loaded.sales, original.sales)


def test_weeks_off_the_weekly_grid(kaggle: Path) -> None:
    edit(kaggle, "train.csv", lambda f: f.assign(Date=f["Date"].where(f.index != 3, "2023-01-28")))
    assert "not a whole number of weeks" in load_error(kaggle)


def test_ragged_csv(kaggle: Path) -> None:
    with open(kaggle / "train.csv", "a") as handle:
        handle.write("1,1,2030-01-04,5.0,FALSE,extra,fields\n")
    assert "train.csv is not a readable CSV file" in load_error(kaggle)


def test_blank_lines_are_skipped_and_lines_still_counted(kaggle: Path,
                                                         original: SalesDataset) -> None:
    text = (kaggle / "train.csv").read_text().splitlines(keepends=True)
    (kaggle / "train.csv").write_text("".join(text[:3] + ["\n", "\n"] + text[3:]))
    assert_same(load(kaggle)[0], original)
    edit_line = text[18].split(",")  # line 19 of the file before, line 21 now
    edit_line[4] = "maybe\n"
    text[18] = ",".join(edit_line)
    (kaggle / "train.csv").write_text("".join(text[:3] + ["\n", "\n"] + text[3:]))
    assert load_error(kaggle).endswith("cannot read 'maybe' as TRUE/FALSE (line 21)")


def test_spaces_around_values_are_not_part_of_them(kaggle: Path, original: SalesDataset) -> None:
    edit(kaggle, "train.csv", lambda f: f.assign(Date=f["Date"] + " ", Store=f["Store"] + " ")
         .rename(columns={"Date": "Date "}))
    assert_same(load(kaggle)[0], original)
    edit(kaggle, "train.csv", lambda f: f.assign(**{"Date ": f["Date "].where(
        f.index != 4, "2023-13-01 ")}))
    assert load_error(kaggle) == ("train.csv: column Date: cannot read '2023-13-01' as a "
                                  "YYYY-MM-DD date (line 6)")


def test_negative_markdowns_are_kept_and_counted(kaggle: Path, original: SalesDataset) -> None:
    edit(kaggle, "features.csv", lambda f: f.assign(MarkDown2=f["MarkDown2"].where(
        f.index != 7, "-265.76")))
    loaded, report = load(kaggle)
    assert loaded.features.loc[7, "markdown2"] == -265.76
    assert found(report)["negative_markdowns"] == 1


@pytest.mark.parametrize("policy", ["keep", "drop"])
def test_a_series_of_returns_only_is_reported(kaggle: Path, original: SalesDataset,
                                              policy: str) -> None:
    series = (original.sales["store"] == 2) & (original.sales["dept"] == 2)
    edit(kaggle, "train.csv", lambda f: f.assign(Weekly_Sales=f["Weekly_Sales"].where(
        ~series.to_numpy(), "-20.5")))
    loaded, report = load(kaggle, negative_sales=policy)
    quirk = next(q for q in report.quirks if q.name == "series_without_sales")
    assert quirk.count == 1 and quirk.examples == ["store 2 dept 2"]
    assert ("lose every row" in quirk.action) == (policy == "drop")
    assert report.series == (5 if policy == "drop" else 6)
