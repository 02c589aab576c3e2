"""`data.realism = "retail"`: every quirk of real files is there, seeded, and survives CSV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from salesops.config import DataSection
from salesops.data.cleaning import clean
from salesops.data.retail import UNPUBLISHED_WEEKS, retail_quirks
from salesops.data.synthetic import generate
from salesops.data.walmart_csv import load_walmart_csv, write_walmart_csv


@pytest.fixture(scope="module")
def clean_data():
    return generate(stores=6, depts=10, weeks=90, seed=42)


@pytest.fixture(scope="module")
def raw(clean_data):
    return retail_quirks(clean_data, seed=42)


def _counts(report) -> dict[str, int]:
    counts: dict[str, int] = {}
    for quirk in report.found():
        counts[quirk.name] = counts.get(quirk.name, 0) + quirk.count
    return counts


def test_every_quirk_of_real_files_is_there(clean_data, raw):
    _, report = clean(raw, DataSection())
    counts = _counts(report)
    for quirk in ("negative_weeks", "zero_weeks", "missing_weeks", "missing_final_weeks",
                  "late_start_series", "ended_series", "markdown_not_recorded",
                  "markdown_gaps", "covariate_gaps", "feature_rows_ignored"):
        assert counts.get(quirk, 0) > 0, quirk
    assert report.rows_read == len(raw.sales) < len(clean_data.sales)
    # short series: a few weeks only, at the end (not forecast yet) or in the middle
    lengths = raw.sales.groupby(["store", "dept"]).size()
    assert (lengths < 9).sum() >= 2
    # CPI and unemployment are not published for the file's last weeks
    last_dates = np.sort(raw.features["date"].unique())[-UNPUBLISHED_WEEKS:]
    tail = raw.features[raw.features["date"].isin(last_dates)]
    assert tail[["cpi", "unemployment"]].isna().all().all()
    assert raw.features["date"].max() > clean_data.weeks[-1] + pd.Timedelta(weeks=1)


def test_seeded(clean_data, raw):
    again = retail_quirks(clean_data, seed=42)
    other = retail_quirks(clean_data, seed=7)
    pd.testing.assert_frame_equal(raw.sales, again.sales)
    pd.testing.assert_frame_equal(raw.features, again.features)
    assert len(other.sales) != len(raw.sales) or not other.sales.equals(raw.sales)


def test_as_walmart_files_with_cr_line_endings_it_cleans_the_same(raw, tmp_path: Path):
    folder = write_walmart_csv(raw, tmp_path / "walmart", cr_only=("features.csv",))
    assert b"\n" not in (folder / "features.csv").read_bytes()
    from_files, file_report = load_walmart_csv(folder, DataSection())
    direct, report = clean(raw, DataSection())
    for name in ("sales", "features", "stores"):
        pd.testing.assert_frame_equal(getattr(from_files, name), getattr(direct, name))
    line_endings = [q for q in file_report.found() if q.name == "line_endings"]
    assert [q.action for q in line_endings] == ["features.csv ends its lines with CR; read as "
                                                "line breaks"]
    assert _counts(file_report) == {**_counts(report), "line_endings": 1}
