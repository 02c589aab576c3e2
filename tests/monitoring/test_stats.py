"""The drift statistics on known samples (no workspace needed)."""

import numpy as np

from salesops.monitoring import stats


def test_same_distribution_is_stable_and_a_shift_is_not():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=5_000)
    same = stats.compare(reference, rng.normal(size=2_000))
    assert same.kind == "numeric" and same.psi < 0.05 and same.pvalue > 0.001
    shifted = stats.compare(reference, rng.normal(loc=1.0, size=2_000))
    assert shifted.psi > 0.5 and shifted.pvalue < 1e-10


def test_few_distinct_values_are_categories():
    rng = np.random.default_rng(1)
    reference = rng.integers(0, 3, 3_000).astype(float)
    same = stats.compare(reference, rng.integers(0, 3, 1_000).astype(float))
    assert (same.kind, same.test) == ("categorical", "chi2") and same.psi < 0.05
    moved = stats.compare(reference, np.zeros(1_000))
    assert moved.psi > 1 and moved.pvalue < 1e-10
    constant = stats.compare(np.ones(100), np.ones(100))
    assert (constant.psi, constant.pvalue) == (0.0, 1.0)


def test_psi_of_known_shares():
    # sum((c - r) ln(c / r)) over the two bins
    expected = (0.25 - 0.5) * np.log(0.25 / 0.5) + (0.75 - 0.5) * np.log(0.75 / 0.5)
    assert np.isclose(stats.psi(np.array([50, 50]), np.array([25, 75])), expected)


def test_common_zeros_get_their_own_bin():
    """Markdown spend is zero in most weeks; doubling the rest must still show."""
    rng = np.random.default_rng(2)

    def spend(n, scale=1.0):
        return np.where(rng.random(n) < 0.6, 0.0, scale * rng.lognormal(0, 0.3, n))

    reference = spend(4_000)
    assert stats.compare(reference, spend(400)).psi < 0.1
    assert stats.compare(reference, spend(400, scale=2.0)).psi > 0.3
