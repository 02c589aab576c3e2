"""The promotion gate: the model against each baseline on the rows that baseline forecasts."""

import math

import pytest

from salesops.training.registry import Bar, decide

MARGIN = 0.05


def _bars(**wapes: tuple[float, float, int]) -> list[Bar]:
    """name=(baseline WAPE, model WAPE on the baseline's rows, rows)."""
    return [Bar(name, wape, model_wape, rows) for name, (wape, model_wape, rows) in wapes.items()]


def test_the_model_is_compared_with_a_baseline_on_that_baseline_s_rows():
    # Over all rows the model (10 %) is worse than seasonal_naive's 9 %, but seasonal_naive
    # only forecasts the older series, where the model does 8 %: it beats it there.
    bars = _bars(last_week=(20.0, 10.0, 1000), seasonal_naive=(9.0, 8.0, 600))
    decision = decide(bars, MARGIN, None, "auto")
    assert decision.promote, decision.reason
    assert decision.binding_baseline == "seasonal_naive"
    assert "seasonal_naive" in decision.reason and "600" in decision.reason
    assert decision.required_wape == pytest.approx(9.0 * (1 - MARGIN))


def test_a_model_that_loses_on_a_baseline_s_rows_is_refused_naming_that_baseline():
    # Over all rows the model (5 %) beats every baseline's WAPE; on seasonal_naive's rows it
    # does 12 % against 10 %.
    bars = _bars(last_week=(20.0, 5.0, 1000), seasonal_naive=(10.0, 12.0, 600),
                 mean_4w=(15.0, 5.0, 1000))
    decision = decide(bars, MARGIN, None, "auto")
    assert not decision.promote
    assert decision.binding_baseline == "seasonal_naive"
    assert "12.00%" in decision.reason and "seasonal_naive (10.00%)" in decision.reason
    assert "margin" in decision.reason and "600" in decision.reason


def test_the_binding_baseline_is_the_one_beaten_by_the_least_relative_margin():
    # last_week is beaten by 2 points of 10 (20 %), mean_4w by 3 points of 30 (10 %)
    bars = _bars(last_week=(10.0, 8.0, 100), mean_4w=(30.0, 27.0, 100))
    decision = decide(bars, MARGIN, None, "auto")
    assert decision.promote and decision.binding_baseline == "mean_4w"
    decision = decide(bars, 0.15, None, "auto")  # mean_4w's 10 % is not enough now
    assert not decision.promote and decision.binding_baseline == "mean_4w"
    assert decision.required_wape == pytest.approx(30.0 * 0.85)


def test_a_baseline_defined_on_no_row_is_ignored():
    bars = _bars(last_week=(10.0, 8.0, 100)) + [Bar("seasonal_naive", None, None, 0)]
    decision = decide(bars, MARGIN, None, "auto")
    assert decision.promote and decision.binding_baseline == "last_week"


def test_without_any_defined_baseline_nothing_is_promoted():
    decision = decide([Bar("seasonal_naive", None, None, 0)], MARGIN, None, "auto")
    assert not decision.promote and "no baseline" in decision.reason
    assert math.isnan(decision.required_wape)


def test_the_champion_is_compared_on_the_full_holdout():
    bars = _bars(last_week=(20.0, 10.0, 1000))
    worse = decide(bars, MARGIN, Bar("champion", 9.0, 10.0, 1000), "auto")
    assert not worse.promote and "champion's 9.00%" in worse.reason
    assert worse.champion_wape == 9.0
    better = decide(bars, MARGIN, Bar("champion", 11.0, 10.0, 1000), "auto")
    assert better.promote and "champion (11.00%)" in better.reason


def test_a_champion_that_forecasts_no_holdout_row_is_not_replaced_by_the_gate():
    decision = decide(_bars(last_week=(20.0, 10.0, 1000)), MARGIN,
                      Bar("champion", None, None, 0), "auto")
    assert not decision.promote and "salesops models promote" in decision.reason


@pytest.mark.parametrize("mode, promote", [("force", True), ("never", False)])
def test_the_operator_overrides_the_gate(mode, promote):
    decision = decide(_bars(last_week=(10.0, 50.0, 10)), MARGIN, None, mode)
    assert decision.promote is promote
    assert decision.reason == ("--force-promote" if promote else "--no-promote")


def test_a_baseline_with_a_nan_wape_measures_nothing_and_is_ignored():
    # all-zero actuals on its rows make a baseline's WAPE NaN
    bars = _bars(last_week=(10.0, 8.0, 100), mean_4w=(math.nan, 1.0, 50))
    decision = decide(bars, MARGIN, None, "auto")
    assert decision.promote and decision.binding_baseline == "last_week"


def test_a_model_exactly_at_the_required_wape_does_not_beat_the_margin():
    bars = _bars(last_week=(10.0, 10.0 * (1 - MARGIN), 100))
    decision = decide(bars, MARGIN, None, "auto")
    assert not decision.promote and "needs < 9.50%" in decision.reason


def test_a_baseline_with_zero_wape_binds_and_cannot_be_beaten():
    bars = _bars(last_week=(10.0, 1.0, 100), perfect=(0.0, 1.0, 100))
    decision = decide(bars, MARGIN, None, "auto")
    assert not decision.promote and decision.binding_baseline == "perfect"


def test_on_equal_ratios_the_first_baseline_binds():
    bars = _bars(last_week=(10.0, 5.0, 100), mean_4w=(20.0, 10.0, 100))
    assert decide(bars, MARGIN, None, "auto").binding_baseline == "last_week"


def test_a_model_as_good_as_the_champion_replaces_it():
    bars = _bars(last_week=(20.0, 10.0, 1000))
    decision = decide(bars, MARGIN, Bar("champion", 10.0, 10.0, 800), "auto")
    assert decision.promote and "10.00% is as good as the champion (10.00%)" in decision.reason
    assert "every other baseline by more" in decision.reason
    better = decide(bars, MARGIN, Bar("champion", 10.0, 9.0, 800), "auto")
    assert better.promote and "9.00% beats the champion (10.00%)" in better.reason


@pytest.mark.parametrize("mode, promote", [("force", True), ("never", False)])
def test_the_operator_overrides_the_gate_without_baselines_or_over_a_champion(mode, promote):
    for bars, champion in (([], None), (_bars(last_week=(10.0, 5.0, 10)),
                                        Bar("champion", 1.0, 5.0, 10))):
        decision = decide(bars, MARGIN, champion, mode)
        assert decision.promote is promote
        assert decision.reason == ("--force-promote" if promote else "--no-promote")
