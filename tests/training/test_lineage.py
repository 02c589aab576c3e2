"""A run's lineage: which data, built under which data.* policies, it was trained on."""

import numpy as np
import pandas as pd

from salesops.config import load_settings
from salesops.training.dataset import TrainingSet
from salesops.training.worker import lineage_tags

POLICIES = {"missing_weeks": "zero", "negative_sales": "keep", "ended_after_weeks": 4}


def _training_set(**manifest_parts) -> TrainingSet:
    return TrainingSet(train_inputs=None, y_train=np.empty(0), train_keys=pd.DataFrame(),
                       fit_rows=0, holdout=pd.DataFrame(),
                       holdout_start=pd.Timestamp("2024-01-05", tz="UTC"),
                       fingerprint="abc123", features=["sales_mean_4"], **manifest_parts)


def test_the_data_policies_become_data_tags(workspace):
    tags = lineage_tags(load_settings(), _training_set(policies=POLICIES, data_report={}))
    assert tags["data.negative_sales"] == "keep"
    assert tags["data.missing_weeks"] == "zero"
    assert tags["data.ended_after_weeks"] == "4"
    assert tags["data_fingerprint"] == "abc123"


def test_a_manifest_without_policies_adds_no_data_tags(workspace):
    tags = lineage_tags(load_settings(), _training_set())
    assert not [key for key in tags if key.startswith("data.")]
