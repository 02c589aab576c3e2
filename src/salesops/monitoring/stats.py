"""Two-sample drift statistics: population stability index plus a significance test.

A feature drifts when **both** say so: PSI (how much the distribution moved, the effect
size) reaches `drift.psi_threshold`, and the test's p-value (Kolmogorov-Smirnov for numeric
values, chi-square for categories) falls below `drift.ks_pvalue`. Each alone misleads: with
a few hundred rows PSI fluctuates by chance, with tens of thousands KS calls differences
far too small to matter significant.

scipy does the tests; PSI is a few lines and needs no library (Evidently would bring a large
dependency tree for the same two numbers).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: quantile bins of the reference for numeric PSI
BINS = 10
#: a numeric feature with at most this many distinct reference values is compared as
#: categories (flags, codes, shares of 8 weeks)
MAX_CATEGORIES = 20
#: floor for empty bins, so that PSI stays finite
EPS = 1e-4


@dataclass(frozen=True)
class Comparison:
    kind: str  # numeric | categorical
    test: str  # ks | chi2
    psi: float
    pvalue: float
    statistic: float

    def drifted(self, psi_threshold: float, pvalue: float) -> bool:
        """The rule of this module's docstring: a large PSI that is not noise."""
        return self.psi >= psi_threshold and self.pvalue < pvalue


def compare(reference: np.ndarray, current: np.ndarray) -> Comparison:
    """Compare two samples of one feature (NaN-free, float)."""
    if len(np.unique(reference)) <= MAX_CATEGORIES:
        return categorical(reference, current)
    return numeric(reference, current)


def numeric(reference: np.ndarray, current: np.ndarray) -> Comparison:
    from scipy.stats import ks_2samp

    edges = _edges(reference)
    ref = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=len(edges) + 1)
    cur = np.bincount(np.searchsorted(edges, current, side="right"), minlength=len(edges) + 1)
    result = ks_2samp(reference, current)
    return Comparison("numeric", "ks", psi(ref, cur), float(result.pvalue),
                      float(result.statistic))


def _edges(reference: np.ndarray) -> np.ndarray:
    """Inner bin edges: reference deciles; zeros (no markdown this week) get a bin of their
    own when they are common, else ties would merge most bins into one."""
    inner = np.linspace(0, 1, BINS + 1)[1:-1]
    zero = reference == 0
    if zero.mean() <= 1 / BINS or zero.all():
        return np.unique(np.quantile(reference, inner))
    rest = np.quantile(reference[~zero], inner)
    return np.unique(np.concatenate([[np.nextafter(0.0, 1.0)], rest[rest > 0]]))


def categorical(reference: np.ndarray, current: np.ndarray) -> Comparison:
    from scipy.stats import chi2_contingency

    values, inverse = np.unique(np.concatenate([reference, current]), return_inverse=True)
    ref = np.bincount(inverse[: len(reference)], minlength=len(values))
    cur = np.bincount(inverse[len(reference):], minlength=len(values))
    if len(values) < 2:
        return Comparison("categorical", "chi2", 0.0, 1.0, 0.0)
    result = chi2_contingency(np.vstack([ref, cur]))
    return Comparison("categorical", "chi2", psi(ref, cur), float(result.pvalue),
                      float(result.statistic))


def psi(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """sum((c - r) * ln(c / r)) over bins of shares, empty bins floored at EPS."""
    r = np.maximum(reference_counts / max(reference_counts.sum(), 1), EPS)
    c = np.maximum(current_counts / max(current_counts.sum(), 1), EPS)
    return float(np.sum((c - r) * np.log(c / r)))
