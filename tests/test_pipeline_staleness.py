"""`pipeline run` rebuilds the features when the configured data changed, not only its name."""

from pathlib import Path

from salesops.config import load_settings
from salesops.data.cleaning import policies_of
from salesops.data.synthetic import generate
from salesops.features.build import data_identity
from salesops.pipeline import _same_data
from tests.data.test_walmart_csv import write_kaggle


def test_new_weeks_in_the_same_csv_folder_make_the_features_stale(tmp_path: Path, monkeypatch):
    folder = write_kaggle(generate(stores=2, depts=2, weeks=40), tmp_path / "walmart")
    monkeypatch.setenv("SALESOPS_DATA__SOURCE", "csv")
    monkeypatch.setenv("SALESOPS_DATA__PATH", str(folder))
    settings = load_settings()
    manifest = {**data_identity(settings.data), "appends": [],
                "policies": policies_of(settings.data)}
    assert _same_data(settings, manifest)
    with open(folder / "train.csv", "a") as handle:  # the retailer adds a week
        handle.write("1,1,2023-10-13,123.0,FALSE\n")
    assert not _same_data(settings, manifest)


def test_another_policy_makes_the_features_stale(tmp_path: Path, monkeypatch):
    settings = load_settings()
    manifest = {**data_identity(settings.data), "appends": [],
                "policies": policies_of(settings.data)}
    assert _same_data(settings, manifest)
    monkeypatch.setenv("SALESOPS_DATA__NEGATIVE_SALES", "clip")
    assert not _same_data(load_settings(), manifest)
