"""Seeded synthetic weekly sales with the structure of the Walmart data, at any size.

Sales of series (store s, dept d) in week t are log-additive:

    log y = store level (grows with store size) + dept level (log-normal, tiny to huge)
          + series offset + (store + series trend) * years (saturating)
          + yearly seasonality (dept amplitude and peak: December, summer or flat;
            scaled per store) + holiday effects with lead-up weeks (dept loadings)
          + markdown lift (dept elasticity x log of the store's markdown spend)
          + temperature-anomaly effect (dept sign) - fuel-price effect - unemployment effect
          + permanent level shifts (rare, per series) + AR(1) noise (sd 0.08-0.15)

then a few intermittent departments are zeroed in random weeks. No single naive forecast
explains this: lag 52 misses the noise, promotions, weather and shifts; lag 1 misses
seasonality, holidays and promotions.

Reproducibility: every random draw comes from ``np.random.default_rng(key)`` where the key
is ``(seed, stream)`` for constants (sized by the store / dept counts only) and
``(seed, stream, week index)`` for anything that varies by week; recursions (AR noise,
random walks, cumulative shifts) only run forward. So ``generate(weeks=W + N)`` restricted
to its first W weeks equals ``generate(weeks=W)`` exactly: the feature store appends weeks
by regenerating with more of them.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from salesops.data.calendar import HOLIDAYS, holiday_calendar, holiday_dates
from salesops.data.dataset import MARKDOWNS, SalesDataset
from salesops.errors import UsageError

SHIFT_KEYS = ("temperature", "fuel_price", "markdown", "demand")
#: with ``shifts`` but no ``shift_from_week``, the drift covers this many final weeks.
DEFAULT_SHIFT_WEEKS = 8

# Random stream ids for the RNG keys. Never renumber: every data set would change.
_STORES, _DEPTS, _SERIES, _COVARIATES, _SALES = 1, 2, 3, 4, 5

# Holiday effect shape in weeks relative to the holiday week (negative: before), scaled by
# each dept's loading. Christmas peaks the week *before* the flagged week (which ends
# Dec 25-31) and January slumps, as in the Walmart data; Thanksgiving's flagged week holds
# Black Friday.
_KERNELS = {
    "super_bowl": {-1: 0.35, 0: 1.0},
    "labor_day": {-1: 0.3, 0: 1.0},
    "thanksgiving": {-2: 0.15, -1: 0.35, 0: 1.0, 1: 0.2},
    "christmas": {-3: 0.45, -2: 0.75, -1: 1.0, 0: 0.35, 1: -0.25},
}
_MARKDOWN_PRESENCE = np.array([0.85, 0.5, 0.4, 0.6, 0.9])  # share of promo weeks using each
_SHIFT_HAZARD = 0.0005  # per series and week: ~5 % of series shift within two years
_FUEL_MEAN = 3.3


class GenerateError(UsageError, ValueError):
    """A bad argument to :func:`generate`: a ``ValueError`` that the CLI reports in one line."""


def generate(
    stores: int = 45,
    depts: int = 14,
    weeks: int = 104,
    seed: int = 42,
    start_date: str = "2023-01-06",
    shifts: Mapping[str, float] | None = None,
    shift_from_week: int | None = None,
) -> SalesDataset:
    """Generate ``stores x depts x weeks`` weekly sales rows with covariates.

    ``start_date`` must be a Friday (weeks end on Fridays, as in the Walmart data). The
    features frame has one extra week (index ``weeks``): the covariates of the week to
    forecast. Store ids are ``1..stores``, dept ids ``1..depts``.

    ``shifts`` injects drift, for demos and tests, into weeks with index
    ``>= shift_from_week`` (default: the last 8 sales weeks, ``weeks - 8``; the extra
    feature week is always included). Keys:

    * ``"temperature"``: added to temperature (degrees F);
    * ``"fuel_price"``: added to fuel price ($);
    * ``"markdown"``: multiplies markdown1..markdown5;
    * ``"demand"``: multiplies weekly sales.

    Covariate shifts act on the world, not only on the recorded features: sales respond to
    a shifted temperature or markdown through the usual dept effects (covariate drift);
    ``"demand"`` changes sales alone (concept drift). Unknown keys raise ``ValueError``.
    """
    start, shift = _check_args(stores, depts, weeks, seed, start_date, shifts, shift_from_week)
    if shift_from_week is None:
        shift_from_week = max(0, weeks - DEFAULT_SHIFT_WEEKS)
    store_p = store_profiles(stores, seed)
    dept_p = department_profiles(depts, seed)
    # Weeks 0..weeks: covariates include the week to forecast; sales stop one week earlier.
    dates = start + np.arange(weeks + 1) * np.timedelta64(7, "D")
    cov = _covariates(store_p, dates, seed, shift, shift_from_week)
    y = _sales(store_p, dept_p, dates, cov, seed, weeks)
    if "demand" in shift:
        y[shift_from_week:] *= shift["demand"]
    y = np.round(np.clip(y, 0.0, None), 2)
    return _frames(store_p, depts, dates, cov, y)


def store_profiles(stores: int, seed: int = 42) -> pd.DataFrame:
    """Per-store constants: type and size (Walmart-like mix), level, trend, climate, economy."""
    rng = np.random.default_rng([seed, _STORES])
    # Walmart's 45 stores are 22 A, 17 B, 6 C; keep that mix at any store count.
    counts = np.round(np.array([22, 17, 6]) / 45 * stores).astype(int)
    counts[0] = stores - counts[1:].sum()
    kind = rng.permutation(np.repeat(np.arange(3), counts))
    size = _by_kind(rng, kind, (150e3, 220e3), (40e3, 140e3), (30e3, 45e3)).round()
    cpi_high = rng.random(stores) < 0.6  # Walmart's CPI comes in two regional clusters
    return pd.DataFrame(
        {
            "store": np.arange(1, stores + 1, dtype="int32"),
            "type": np.array(["A", "B", "C"], dtype=object)[kind],
            "size": size.astype("int64"),
            # Sales grow with floor space, a little less than proportionally.
            "level": 0.75 * np.log(size / 150e3) + rng.normal(0, 0.15, stores),
            "trend": rng.normal(0.015, 0.04, stores),  # log growth per year
            "season_scale": rng.lognormal(0, 0.15, stores),
            "promo_prob": rng.uniform(0.1, 0.3, stores),
            "markdown_scale": rng.uniform(0.05, 0.15, stores),  # $ per sq ft in a promo week
            "temp_mean": rng.uniform(35, 75, stores),
            "temp_amp": rng.uniform(12, 30, stores),
            "fuel_offset": rng.normal(0, 0.12, stores),
            "cpi_base": np.where(
                cpi_high, 211 + rng.normal(0, 4, stores), 130 + rng.normal(0, 3, stores)
            ),
            "unemp_base": rng.uniform(4, 11, stores),
        }
    )


def department_profiles(depts: int, seed: int = 42) -> pd.DataFrame:
    """Per-dept constants: level, seasonality kind, holiday loadings, sensitivities.

    ``season_kind`` is ``"december"`` (~40 %), ``"summer"`` (~30 %) or ``"flat"``;
    ``intermittent`` depts (~17 %) are zero with probability ``zero_prob`` each week.
    """
    rng = np.random.default_rng([seed, _DEPTS])
    kinds = np.array(["december", "summer", "flat"], dtype=object)
    n_dec, n_sum = round(0.4 * depts), round(0.3 * depts)
    kind = rng.permutation(np.repeat([0, 1, 2], [n_dec, n_sum, depts - n_dec - n_sum]))
    amp = _by_kind(rng, kind, (0.2, 0.45), (0.15, 0.35), (0, 0.03))
    peak = _by_kind(rng, kind, (340, 360), (165, 215), (0, 365))  # day of year
    temp = _by_kind(rng, kind, (-0.06, 0), (0.02, 0.08), (-0.01, 0.01))
    n_int = round(0.17 * depts)
    intermittent = rng.permutation(np.arange(depts) < n_int)
    level = np.clip(np.log(9000) + rng.normal(0, 1.1, depts), np.log(300), np.log(250e3))
    profile = pd.DataFrame(
        {
            "dept": np.arange(1, depts + 1, dtype="int32"),
            # Intermittent departments are small ones, as in real stores.
            "level": level + np.where(intermittent, np.log(0.35), 0.0),
            "season_kind": kinds[kind],
            "season_amp": amp,
            "season_peak_doy": peak,
            "season2_amp": rng.uniform(0, 0.06, depts),
            "season2_phase": rng.uniform(0, 2 * np.pi, depts),
            "markdown_elasticity": np.where(
                rng.random(depts) < 0.3, rng.uniform(0, 0.02, depts), rng.uniform(0.05, 0.22, depts)
            ),
            "temp_sensitivity": temp,  # log effect per +10 F above the seasonal norm
            "fuel_sensitivity": rng.uniform(0, 0.06, depts),  # log drop per +$1
            "ar_phi": rng.uniform(0.3, 0.7, depts),
            "intermittent": intermittent,
            "zero_prob": np.where(intermittent, rng.uniform(0.2, 0.5, depts), 0.0),
        }
    )
    # Holiday loadings: a few strongly sensitive depts per holiday, a small effect elsewhere;
    # Christmas hits the December-peaking departments.
    for name, share, low, high in (
        ("super_bowl", 0.25, (0, 0.03), (0.1, 0.3)),
        ("labor_day", 0.2, (0, 0.03), (0.08, 0.2)),
        ("thanksgiving", 0.3, (0.02, 0.1), (0.35, 0.9)),
    ):
        sensitive = rng.permutation(np.arange(depts) < max(1, round(share * depts)))
        profile[name] = _by_kind(rng, sensitive.astype(int), low, high)
    profile["christmas"] = _by_kind(rng, (kind == 0).astype(int), (0, 0.08), (0.25, 0.6))
    return profile


def _covariates(
    store_p: pd.DataFrame, dates: np.ndarray, seed: int, shift: dict, shift_from: int
) -> dict[str, np.ndarray]:
    """Store-week covariates, each an array (weeks + 1, stores[, 5])."""
    n_weeks, n_stores = len(dates), len(store_p)
    # Each week's shocks come from its own keyed RNG, drawn in a fixed order; everything
    # after this loop is vectorised (or a recursion forward in time).
    uniform, normal = np.empty((n_weeks, n_stores, 11)), np.empty((n_weeks, n_stores, 4))
    national = np.empty((n_weeks, 3))
    for t in range(n_weeks):
        rng = np.random.default_rng([seed, _COVARIATES, t])
        uniform[t], normal[t], national[t] = rng.random((n_stores, 11)), rng.standard_normal(
            (n_stores, 4)), rng.standard_normal(3)
    promo_u, present_u, weight_u = uniform[..., 0], uniform[..., 1:6], uniform[..., 6:]
    temp_z, intensity_z, fuel_z, unemp_z = np.moveaxis(normal, 2, 0)

    # Markdowns: a store runs a promotion in some weeks and splits its spend over one or
    # more markdown types (exponential weights); spend scales with floor space.
    present = present_u < _MARKDOWN_PRESENCE
    present[..., 4] |= ~present.any(axis=2)  # at least the most common type
    weight = -np.log1p(-weight_u) * present
    size = store_p["size"].to_numpy(dtype="float64")
    promo = promo_u < store_p["promo_prob"].to_numpy()
    total = promo * store_p["markdown_scale"].to_numpy() * size * np.exp(0.5 * intensity_z - 0.125)
    markdowns = total[..., None] * weight / _sum_last(weight)[..., None]
    # Temperature: the store's seasonal norm (coldest around January 20) plus persistent
    # weather anomalies.
    doy = _day_of_year(dates)[:, None]
    norm = store_p["temp_mean"].to_numpy() - store_p["temp_amp"].to_numpy() * np.cos(
        2 * np.pi * (doy - 20) / 365.25
    )
    temperature = norm + _ar1(temp_z, 0.6, 6.0)
    # Fuel: a national mean-reverting log price, a regional offset, a little local noise.
    log_fuel = np.log(_FUEL_MEAN) + _ar1(national[:, 0], 0.985, 0.1)
    fuel = np.exp(log_fuel)[:, None] + store_p["fuel_offset"].to_numpy() + 0.015 * fuel_z
    shifted = np.arange(n_weeks) >= shift_from
    temperature[shifted] += shift.get("temperature", 0.0)
    fuel[shifted] += shift.get("fuel_price", 0.0)
    markdowns[shifted] *= shift.get("markdown", 1.0)
    cpi = store_p["cpi_base"].to_numpy() * np.exp(
        np.cumsum(0.00035 + 0.0004 * national[:, 1])  # ~1.8 % inflation a year
    )[:, None]
    unemployment = np.clip(
        store_p["unemp_base"].to_numpy() + _ar1(national[:, 2], 0.995, 0.4)[:, None]
        + _ar1(unemp_z, 0.98, 0.15), 2.0, 25.0,
    )
    return {
        "temperature": np.round(temperature, 2),
        "temp_anomaly": temperature - norm,  # what sales react to (includes any shift)
        "fuel_price": np.round(fuel, 3),
        "markdowns": np.round(markdowns, 2),
        "cpi": np.round(cpi, 4),
        "unemployment": np.round(unemployment, 3),
        "is_holiday": holiday_calendar(pd.DatetimeIndex(dates))["is_holiday"].to_numpy(),
    }


def _ar1(shocks: np.ndarray, phi: float | np.ndarray, sd: float | np.ndarray) -> np.ndarray:
    """Stationary AR(1) along axis 0 with marginal sd ``sd``; causal, so prefix-stable."""
    out = np.empty(np.broadcast_shapes(shocks.shape, np.shape(sd)))
    out[0] = sd * shocks[0]
    innovation = sd * np.sqrt(1 - np.square(phi))
    for t in range(1, len(shocks)):
        out[t] = phi * out[t - 1] + innovation * shocks[t]
    return out


def _sales(
    store_p: pd.DataFrame, dept_p: pd.DataFrame, dates: np.ndarray, cov: dict, seed: int,
    n_weeks: int,
) -> np.ndarray:
    """Weekly sales as an array (weeks, stores, depts)."""
    n_stores, n_depts = len(store_p), len(dept_p)
    rng = np.random.default_rng([seed, _SERIES])
    offset = rng.normal(0, 0.35, (n_stores, n_depts))  # dept mix differs between stores
    slope = rng.normal(0, 0.03, (n_stores, n_depts)) + store_p["trend"].to_numpy()[:, None]
    sd = rng.uniform(0.08, 0.15, (n_stores, n_depts))
    # Growth saturates over ~5 years (5 * tanh(years / 5)): linear over the usual two
    # years, yet a 50-year run (10M rows) does not compound into absurd levels.
    years = 5.0 * np.tanh(np.arange(n_weeks)[:, None, None] / 52.0 / 5.0)
    dates = dates[:n_weeks]

    log_y = np.empty((n_weeks, n_stores, n_depts))
    log_y[:] = store_p["level"].to_numpy()[:, None] + dept_p["level"].to_numpy() + offset
    log_y += years * slope
    angle = 2 * np.pi * _day_of_year(dates)[:, None] / 365.25
    season = dept_p["season_amp"].to_numpy() * np.cos(
        angle - 2 * np.pi * dept_p["season_peak_doy"].to_numpy() / 365.25
    ) + dept_p["season2_amp"].to_numpy() * np.cos(2 * angle - dept_p["season2_phase"].to_numpy())
    log_y += store_p["season_scale"].to_numpy()[:, None] * season[:, None, :]
    # Products are spelled out term by term rather than as matrix products: BLAS may
    # block (and so round) differently for different week counts, which would break
    # exact prefix stability.
    kernel = _holiday_matrix(dates)
    for j, name in enumerate(HOLIDAYS):
        log_y += (kernel[:, j, None] * dept_p[name].to_numpy())[:, None, :]
    size = store_p["size"].to_numpy(dtype="float64")
    promo = np.log1p(_sum_last(cov["markdowns"][:n_weeks]) / (0.05 * size))
    for driver, sensitivity in (
        (promo, dept_p["markdown_elasticity"]),
        (cov["temp_anomaly"][:n_weeks] / 10.0, dept_p["temp_sensitivity"]),
        (cov["fuel_price"][:n_weeks] - _FUEL_MEAN, -dept_p["fuel_sensitivity"]),
    ):
        log_y += driver[:, :, None] * sensitivity.to_numpy()
    # Local unemployment above the store's normal depresses every department a little.
    log_y -= (0.02 * (cov["unemployment"][:n_weeks] - store_p["unemp_base"].to_numpy()))[
        :, :, None
    ]

    phi = dept_p["ar_phi"].to_numpy()
    innovation = sd * np.sqrt(1 - phi**2)  # keeps the stationary noise sd equal to `sd`
    zero_prob = dept_p["zero_prob"].to_numpy()
    noise, level = np.zeros((n_stores, n_depts)), np.zeros((n_stores, n_depts))
    for t in range(n_weeks):
        rng = np.random.default_rng([seed, _SALES, t])
        z = rng.standard_normal((n_stores, n_depts))
        hit = rng.random((n_stores, n_depts)) < _SHIFT_HAZARD
        zero = rng.random((n_stores, n_depts)) < zero_prob
        noise = sd * z if t == 0 else phi * noise + innovation * z
        n_hit = int(np.count_nonzero(hit))
        if n_hit:  # permanent level change: +-15..45 % in log terms, from this week on
            level[hit] += rng.uniform(0.15, 0.45, n_hit) * rng.choice([-1.0, 1.0], n_hit)
        row = log_y[t]
        row += noise + level
        row[zero] = -np.inf  # exp(-inf) == 0: an intermittent dept sold nothing
    return np.exp(log_y, out=log_y)


def _holiday_matrix(dates: np.ndarray) -> np.ndarray:
    """(weeks, holidays) kernel weights: how strongly each week feels each holiday.

    Holiday weeks come from the calendar of the years spanned ±1, not from the weeks
    present, so a lead-up week gets its effect even when its holiday lies beyond the last
    generated week (prefix stability).
    """
    years = dates.astype("datetime64[Y]").astype("int64") + 1970
    table = holiday_dates(int(years.min()) - 1, int(years.max()) + 1)
    holiday_week = table["week"].dt.tz_localize(None).to_numpy().astype("datetime64[D]")
    index = (holiday_week - dates[0].astype("datetime64[D]")).astype("int64") // 7
    matrix = np.zeros((len(dates), len(HOLIDAYS)))
    for j, name in enumerate(HOLIDAYS):
        for offset, weight in _KERNELS[name].items():
            target = index[table["holiday"].to_numpy() == name] + offset
            matrix[target[(target >= 0) & (target < len(dates))], j] += weight
    return matrix


def _frames(
    store_p: pd.DataFrame, depts: int, dates: np.ndarray, cov: dict, y: np.ndarray
) -> SalesDataset:
    """Lay the arrays out as contract frames: C order of (store, dept, week) is the sort."""
    n_weeks, n_stores, _ = y.shape
    ids = store_p["store"].to_numpy()
    week_us = dates.astype("datetime64[us]")
    sales = pd.DataFrame({
        "store": np.repeat(ids, depts * n_weeks),
        "dept": np.tile(np.repeat(np.arange(1, depts + 1, dtype="int32"), n_weeks), n_stores),
        "date": _utc(np.tile(week_us[:n_weeks], n_stores * depts)),
        "weekly_sales": y.transpose(1, 2, 0).ravel(),
        "is_holiday": np.tile(cov["is_holiday"][:n_weeks], n_stores * depts),
    })
    markdowns = cov["markdowns"].transpose(1, 0, 2).reshape(-1, len(MARKDOWNS))
    features = pd.DataFrame({
        "store": np.repeat(ids, len(dates)),
        "date": _utc(np.tile(week_us, n_stores)),
        "temperature": cov["temperature"].T.ravel(),
        "fuel_price": cov["fuel_price"].T.ravel(),
        **{name: markdowns[:, i] for i, name in enumerate(MARKDOWNS)},
        "cpi": cov["cpi"].T.ravel(),
        "unemployment": cov["unemployment"].T.ravel(),
        "is_holiday": np.tile(cov["is_holiday"], n_stores),
        "markdown_known": True,
    })
    stores = store_p[["store", "type", "size"]].copy()
    return SalesDataset(sales=sales, features=features, stores=stores)


def _check_args(
    stores: int, depts: int, weeks: int, seed: int, start_date: str,
    shifts: Mapping[str, float] | None, shift_from_week: int | None,
) -> tuple[np.datetime64, dict[str, float]]:
    # Checked at run time too: the CLI and TOML config pass whatever the user typed.
    for name, value, low in (("stores", stores, 1), ("depts", depts, 1), ("weeks", weeks, 1),
                             ("seed", seed, 0)):
        if not _is_int(value) or value < low:
            raise GenerateError(f"{name} must be an integer >= {low}, got {value!r}")
    if shift_from_week is not None and not (_is_int(shift_from_week)
                                            and 0 <= shift_from_week <= weeks):
        raise GenerateError(f"shift_from_week must be an integer in 0..{weeks}, "
                            f"got {shift_from_week!r}")
    try:
        start = pd.Timestamp(start_date)
    except (ValueError, TypeError):
        start = pd.NaT
    if pd.isna(start):
        raise GenerateError(f"start_date is not a date: {start_date!r}")
    start = start.tz_convert("UTC").tz_localize(None) if start.tzinfo else start
    if start.dayofweek != 4:
        raise GenerateError(f"start_date must be a Friday (weeks end on Fridays), got "
                            f"{start.date()} ({start.day_name()})")
    shifts = dict(shifts or {})
    unknown = [key for key in shifts if key not in SHIFT_KEYS]
    if unknown:
        raise GenerateError(f"unknown shift key {unknown[0]!r}; expected one of "
                            f"{', '.join(SHIFT_KEYS)}")
    for key, amount in shifts.items():
        if isinstance(amount, bool) or not isinstance(amount, (int, float, np.number)) or not (
            np.isfinite(amount)
        ):
            raise GenerateError(f"shift {key!r} must be a finite number, got {amount!r}")
    return np.datetime64(start.date(), "D"), {k: float(v) for k, v in shifts.items()}


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _by_kind(
    rng: np.random.Generator, kind: np.ndarray, *ranges: tuple[float, float]
) -> np.ndarray:
    """Uniform draws from the range of each element's kind (all ranges drawn: fixed order)."""
    return np.choose(kind, [rng.uniform(low, high, len(kind)) for low, high in ranges])


def _sum_last(values: np.ndarray) -> np.ndarray:
    """Sum over the (short) last axis in a fixed left-to-right order, whatever the shape."""
    total = values[..., 0].copy()
    for i in range(1, values.shape[-1]):
        total += values[..., i]
    return total


def _day_of_year(dates: np.ndarray) -> np.ndarray:
    days = dates.astype("datetime64[D]")
    return (days - days.astype("datetime64[Y]")).astype("int64") + 1


def _utc(values: np.ndarray) -> pd.arrays.DatetimeArray:
    return pd.array(values.astype("datetime64[us]"), dtype=pd.DatetimeTZDtype("us", "UTC"))
