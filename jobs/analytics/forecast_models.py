"""Forecasting models for one daily series (pure pandas/numpy/Prophet; reads and writes nothing).

Every model takes the history up to and including the forecast origin (a pandas Series indexed
by consecutive dates; NaN = not observed) and returns an array (horizon, 23) of forecast values
at the 23 standard quantile levels ``QUANTILES`` for days origin+1 .. origin+horizon,
non-negative and monotone in the level.

- ``persistence``: median = the last observed value; spread = empirical h-day changes
  y(t+h) - y(t) over the recent history, symmetrised so the median stays the last value.
- ``seasonal_naive``: median = the value of the same weekday in the last observed week;
  spread = empirical errors of that rule over the recent history, symmetrised.
- ``quantile_baseline`` (Forecast Hub style): the last value times the quantiles of past h-day
  relative changes (log1p scale), symmetrised: flat median, spread growing with h.
- ``prophet``: Prophet on log1p(y) of the last ``fit_days`` days with a flat trend, weekly
  seasonality, the country's holidays, and leading indicators (log of their excess over their
  history's 5 % quantile) and optionally restriction stringency as extra regressors at their
  estimated lead (x shifted forward by its lead; days beyond the last known value carry that
  value); quantiles from its predictive samples, back-transformed, floored at 0. Without a
  leading indicator the trend is linear. Backtests on the synthetic city chose these defaults:
  a linear trend extrapolates epidemic waves far too steeply; counts on their own scale give an
  additive weekly pattern that overshoots the Monday catch-up of weekend reports at low levels.
"""

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

QUANTILES = (0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5,
             0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.975, 0.99)
LEVELS = np.array(QUANTILES)
SEASON_DAYS = 7
BASELINES = ("persistence", "seasonal_naive", "quantile_baseline")


def monotone_quantiles(samples: np.ndarray, levels=LEVELS, floor: float | None = 0.0) -> np.ndarray:
    """Quantiles (horizon, len(levels)) of predictive samples (horizon, n_samples), made
    non-decreasing in the level (a running maximum guards against rounding) and floored."""
    q = np.quantile(np.asarray(samples, dtype=float), levels, axis=1).T
    q = np.maximum.accumulate(q, axis=1)
    return q if floor is None else np.clip(q, floor, None)


def _symmetric_quantiles(changes: np.ndarray) -> np.ndarray:
    """Quantiles at LEVELS of the changes and their negatives (median exactly 0)."""
    c = changes[~np.isnan(changes)]
    if len(c) == 0:
        return np.zeros(len(LEVELS))
    return np.quantile(np.concatenate([c, -c]), LEVELS)


def _recent(y: pd.Series, window: int) -> np.ndarray:
    return np.asarray(y.iloc[-window:], dtype=float)


def _last(y: pd.Series) -> float:
    v = y.dropna()
    return float(v.iloc[-1]) if len(v) else 0.0


def persistence(y: pd.Series, horizon: int, window: int = 56) -> np.ndarray:
    h_ = _recent(y, window + horizon)
    last = _last(y)
    out = np.empty((horizon, len(LEVELS)))
    for h in range(1, horizon + 1):
        out[h - 1] = last + _symmetric_quantiles(h_[h:] - h_[:-h])
    return np.clip(np.maximum.accumulate(out, axis=1), 0, None)


def seasonal_naive_point(values: np.ndarray, horizon: int, season: int = SEASON_DAYS) -> np.ndarray:
    """The seasonal naive forecast of ``values`` (ending at the origin) for h = 1..horizon:
    y(origin + h - season * ceil(h / season))."""
    n = len(values)
    return np.array([values[n - 1 + h - season * int(np.ceil(h / season))] for h in range(1, horizon + 1)])


def seasonal_naive(y: pd.Series, horizon: int, window: int = 56, season: int = SEASON_DAYS) -> np.ndarray:
    v = np.asarray(y.ffill().fillna(0.0), dtype=float)
    point = seasonal_naive_point(v, horizon, season)
    recent = v[-(window + horizon + season):]
    out = np.empty((horizon, len(LEVELS)))
    for h in range(1, horizon + 1):
        back = season * int(np.ceil(h / season))          # the rule uses the value `back` days earlier
        errors = recent[back:] - recent[:-back]
        out[h - 1] = point[h - 1] + _symmetric_quantiles(errors)
    return np.clip(np.maximum.accumulate(out, axis=1), 0, None)


def quantile_baseline(y: pd.Series, horizon: int, window: int = 56) -> np.ndarray:
    logy = np.log1p(np.clip(_recent(y, window + horizon), 0, None))
    last = np.log1p(max(_last(y), 0.0))
    out = np.empty((horizon, len(LEVELS)))
    for h in range(1, horizon + 1):
        out[h - 1] = np.expm1(last + _symmetric_quantiles(logy[h:] - logy[:-h]))
    return np.clip(np.maximum.accumulate(out, axis=1), 0, None)


@dataclass(frozen=True)
class ProphetSettings:
    """Settings of the Prophet model (section ``forecast.prophet`` of the city config)."""

    uncertainty_samples: int = 200
    growth: str = "flat"              # "flat": the level comes from the regressors; or "linear"
    log_scale: bool = True            # model log1p(y) instead of the counts (weekly pattern multiplicative)
    log_regressors: bool = True       # regressors as log1p(x)
    regressor_excess: bool = True     # regressors as their excess over their history's 5 % quantile (>= 1)
    raw_regressors: tuple = ("restriction_stringency",)   # never transformed
    changepoint_prior_scale: float = 0.05
    changepoint_range: float = 0.9
    seasonality_prior_scale: float = 10.0
    country_holidays: str | None = "KZ"
    fit_days: int = 90                # fit on the last fit_days days only (0: the whole history)
    seed: int = 20200101

    @classmethod
    def from_config(cls, section: dict | None, country: str | None = None) -> "ProphetSettings":
        s = dict(section or {})
        s.setdefault("country_holidays", country)
        return cls(**{k: v for k, v in s.items() if k in cls.__dataclass_fields__})


def _silence_prophet() -> None:
    logging.getLogger("prophet.plot").disabled = True
    logging.getLogger("prophet").setLevel(logging.ERROR)


def shifted_regressor(x: pd.Series, lead: int, days: pd.DatetimeIndex) -> pd.Series:
    """x shifted forward by ``lead`` days on ``days``: value on day t = x(t - lead). Days whose
    source value is missing or not yet observed carry the last known value (before any value:
    the mean of the first 7 known ones; no value at all: 0)."""
    s = pd.Series(np.asarray(x, dtype=float), index=pd.DatetimeIndex(x.index)).sort_index()
    moved = s.copy()
    moved.index = moved.index + pd.Timedelta(days=lead)
    out = moved.reindex(days)
    known = s.dropna()
    fill = float(known.iloc[:7].mean()) if len(known) else 0.0
    return out.ffill().fillna(fill)


def prophet(y: pd.Series, horizon: int, regressors: dict[str, tuple[pd.Series, int]] | None = None,
            settings: ProphetSettings = ProphetSettings()) -> np.ndarray:
    """Prophet forecast of y. ``regressors``: name -> (series x up to the origin, lead in days
    >= 0); x enters as x(t - lead), transformed as the settings say (stringency never is); a
    regressor without variation is left out. Seeded: the same input gives the same quantiles."""
    _silence_prophet()
    from prophet import Prophet
    logging.getLogger("cmdstanpy").disabled = True

    y = y.copy()
    y.index = pd.DatetimeIndex(y.index)
    if settings.fit_days:
        y = y.iloc[-settings.fit_days:]
    origin = y.index.max()
    future_days = pd.date_range(origin + pd.Timedelta(days=1), periods=horizon, freq="D")
    all_days = y.index.append(future_days)
    tf, inv = (np.log1p, np.expm1) if settings.log_scale else (lambda a: a, lambda a: a)
    frame = pd.DataFrame({"ds": all_days, "y": tf(np.clip(y.reindex(all_days).to_numpy(), 0, None))})
    for name, (x, lead) in (regressors or {}).items():
        xs = shifted_regressor(x, int(lead), all_days).to_numpy()
        transformed = name not in settings.raw_regressors
        if settings.regressor_excess and transformed:
            xs = np.clip(xs - np.nanquantile(np.asarray(x, dtype=float), 0.05), 1.0, None)
        col = np.log1p(np.clip(xs, 0, None)) if settings.log_regressors and transformed else xs
        if np.isfinite(col).all() and col[: len(y)].std() > 0:
            frame[name] = col
    used = [c for c in frame.columns if c not in ("ds", "y")]
    leading = [n for n in used if n not in settings.raw_regressors]
    growth = settings.growth if leading else "linear"     # no indicator to carry the level
    m = Prophet(growth=growth, weekly_seasonality=True, yearly_seasonality=False, daily_seasonality=False,
                uncertainty_samples=settings.uncertainty_samples,
                changepoint_prior_scale=settings.changepoint_prior_scale,
                changepoint_range=settings.changepoint_range,
                seasonality_prior_scale=settings.seasonality_prior_scale)
    if settings.country_holidays:
        m.add_country_holidays(country_name=settings.country_holidays)
    for name in used:
        m.add_regressor(name, standardize=True)
    train = frame.iloc[: len(y)].dropna(subset=["y"])
    m.fit(train, seed=settings.seed)
    np.random.seed(settings.seed)
    samples = m.predictive_samples(frame.iloc[len(y):].drop(columns="y"))["yhat"]
    return monotone_quantiles(inv(np.clip(samples, -50, 50) if settings.log_scale else samples))
