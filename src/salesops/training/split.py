"""The time split's week counts, and so how many weeks of data training needs.

Light on purpose (no pandas, no torch): `features build` asks it before replacing a feature
store with data too short to train on.
"""

from __future__ import annotations

from salesops.features.schema import MIN_HISTORY_WEEKS

#: early stopping watches the last weeks before the holdout, never the holdout itself,
#: so the holdout metrics that the promotion gate reads stay unbiased
VALIDATION_WEEKS = 4
#: the fewest weeks a model is fitted on
MIN_FIT_WEEKS = 8


def feature_weeks_needed(holdout_weeks: int) -> int:
    """Weeks of training rows: fitting, early-stopping validation and holdout."""
    return MIN_FIT_WEEKS + VALIDATION_WEEKS + holdout_weeks


def data_weeks_needed(history_weeks: int, holdout_weeks: int) -> int:
    """Weeks of sales data before the first training row exists, plus the rows' weeks."""
    return max(history_weeks, MIN_HISTORY_WEEKS) + feature_weeks_needed(holdout_weeks)


def weeks_needed_text(history_weeks: int, holdout_weeks: int) -> str:
    return (f"{max(history_weeks, MIN_HISTORY_WEEKS)} of history before the first training "
            f"row (training.history_weeks), {MIN_FIT_WEEKS} to fit on, {VALIDATION_WEEKS} for "
            f"early stopping and {holdout_weeks} holdout weeks (training.holdout_weeks)")
