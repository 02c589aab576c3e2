"""Validation checks big frames a slice of rows at a time (pandera's temporaries stay one
slice's) and keys over the whole frame: a failure in any slice names its own row, and a
key repeated across slices, or in a frame out of key order, is still caught."""

import pytest

from salesops.data.synthetic import generate
from salesops.errors import DataError
from salesops.features import validation
from salesops.features.engineering import FeatureFrames, build_features


@pytest.fixture(scope="module")
def frames() -> FeatureFrames:
    return build_features(generate(stores=3, depts=5, weeks=100, seed=7))


@pytest.fixture(autouse=True)
def small_slices(monkeypatch):
    monkeypatch.setattr(validation, "SLICE_ROWS", 100)


def _with(frames: FeatureFrames, dept) -> FeatureFrames:
    return FeatureFrames(dept, frames.store_weekly, frames.sales_target, frames.next_week)


def test_valid_frames_pass_slice_by_slice(frames):
    assert len(frames.dept_weekly) > 10 * validation.SLICE_ROWS
    validation.validate(frames)


def test_a_failure_in_a_later_slice_names_its_row(frames):
    broken = frames.dept_weekly.copy()
    broken.loc[1234, "sales_std_4"] = -1.0
    with pytest.raises(DataError) as err:
        validation.validate(_with(frames, broken))
    row = broken.loc[1234]
    assert "dept_weekly.sales_std_4: 1 row(s) fail" in err.value.message
    assert f"store={row['store']} dept={row['dept']}" in err.value.message


def test_a_key_repeated_across_slices_is_caught(frames):
    dept = frames.dept_weekly
    broken = dept.copy()
    broken.iloc[250, :3] = dept.iloc[50, :3].to_numpy()  # row 250 takes row 50's key
    with pytest.raises(DataError, match=r"dept_weekly: 1 row\(s\) repeat a key"):
        validation.validate(_with(frames, broken))


def test_a_frame_out_of_key_order_is_checked_by_hashing(frames):
    shuffled = frames.dept_weekly.sample(frac=1.0, random_state=0)
    validation.validate(_with(frames, shuffled))  # unique, only out of order
    repeated = shuffled.copy()
    repeated.iloc[7, :3] = shuffled.iloc[900, :3].to_numpy()
    with pytest.raises(DataError, match="repeat a key"):
        validation.validate(_with(frames, repeated))


def test_a_missing_column_is_named_once_not_once_per_slice(frames):
    broken = frames.dept_weekly.drop(columns="sales_lag_8")
    with pytest.raises(DataError) as err:
        validation.validate(_with(frames, broken))
    assert err.value.message.count("sales_lag_8") == 1, err.value.message
