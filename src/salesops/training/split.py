"""The time split's week counts, and so how many weeks of data training needs.

They are defined with the feature schema (`features.schema`), below training: `features
build` refuses data too short to train on before it replaces a store, and features may not
import training. This module is the name training reads them by.
"""

from __future__ import annotations

from salesops.features.schema import (
    MIN_FIT_WEEKS,
    VALIDATION_WEEKS,
    data_weeks_needed,
    feature_weeks_needed,
    weeks_needed_text,
)

__all__ = ["MIN_FIT_WEEKS", "VALIDATION_WEEKS", "data_weeks_needed", "feature_weeks_needed",
           "weeks_needed_text"]
