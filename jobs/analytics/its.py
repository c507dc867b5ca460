"""Interrupted time series: segmented regression of one daily series around one change day.

Pure numpy/pandas/statsmodels; reads and writes nothing.

Model, fitted by OLS on the days of the pre window and the post window (days without a value are
left out):

    y_t = a + b * t + weekday_t + h * holiday_t + L * post_t + S * t * post_t + e_t

with t = days since the change (0 on its first day), weekday dummies (Monday the reference), a
dummy for public holidays on weekdays (they behave like days off), post_t = 1 from the change on.
L is the level change at the change day, S the change of the daily trend. Standard errors are
heteroskedasticity- and autocorrelation-consistent (Newey-West HAC, Bartlett kernel,
``hac_lags`` lags, default 7 days; statsmodels), because daily mobility residuals are autocorrelated.

The effect is the mean change over the post window: D = L + S * mean(t over the post days), against
the counterfactual C = the pre-change model (a + b * t + weekday and holiday terms) averaged over
the same post days; i.e. "how far the indicator was, on average while the change held, from where
its pre-change course would have put it". Both are linear in the coefficients, so the CI and the
p-value (of D = 0) come from the HAC covariance (the delta method for the ratio).

Effect scale (``scale``):
- 'percent': 100 * D / C;
- 'pp': 100 * D, for shares (percentage points);
- 'points': D, for series that already are percentages (a mobility index).
"""

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

Z95 = float(stats.norm.ppf(0.975))


@dataclass(frozen=True)
class Window:
    """Fit settings: at most ``pre_max`` days before and ``post_max`` days from the change; fewer
    than ``min_pre`` / ``min_post`` days with a value leave the effect empty."""

    pre_max: int = 84
    post_max: int = 56
    min_pre: int = 21
    min_post: int = 14
    hac_lags: int = 7


@dataclass
class Fit:
    effect: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    slope_change: float | None
    level_change: float | None
    counterfactual: float | None
    pre_days: int
    post_days: int
    note: str = ""


def design(days: pd.DatetimeIndex, change: date, holidays: frozenset) -> pd.DataFrame:
    """The regressors of the model for ``days`` (see the module docstring)."""
    t = np.asarray((days - pd.Timestamp(change)).days, dtype=float)
    post = (t >= 0).astype(float)
    x = pd.DataFrame({"const": 1.0, "t": t}, index=days)
    for wd in range(1, 7):
        x[f"wd{wd}"] = (days.weekday == wd).astype(float)
    x["holiday"] = [float(d.date() in holidays and d.weekday() < 5) for d in days]
    x["post"] = post
    x["t_post"] = t * post
    return x


def window_days(change: date, last: date, w: Window, pre_from: date | None = None,
                post_to: date | None = None) -> tuple[date, date]:
    """First and last day of the fit: pre window clipped at ``pre_from`` (e.g. the day after a
    previous restriction), post window clipped at ``post_to`` (its end or the next change) and
    at ``last`` (the analysis day)."""
    first = change - timedelta(days=w.pre_max)
    if pre_from is not None:
        first = max(first, pre_from)
    end = min(change + timedelta(days=w.post_max - 1), last)
    if post_to is not None:
        end = min(end, post_to)
    return first, end


def segmented_fit(y: pd.Series, change: date, last: date, w: Window = Window(), scale: str = "percent",
                  holidays: frozenset = frozenset(), pre_from: date | None = None,
                  post_to: date | None = None) -> Fit:
    """Fit the model to ``y`` (daily values indexed by date) around ``change``; see the module."""
    first, end = window_days(change, last, w, pre_from, post_to)
    s = y.copy()
    s.index = pd.DatetimeIndex(pd.to_datetime(s.index))
    s = s[(s.index >= pd.Timestamp(first)) & (s.index <= pd.Timestamp(end))].dropna().sort_index()
    pre = int((s.index < pd.Timestamp(change)).sum())
    post = int(len(s) - pre)
    if pre < w.min_pre or post < w.min_post:
        return Fit(None, None, None, None, None, None, None, pre, post,
                   f"needs {w.min_pre} days before and {w.min_post} from the change with a value")
    x = design(s.index, change, holidays)
    x = x.loc[:, (x != 0).any(axis=0)]                  # e.g. no holiday in the window
    cols = list(x.columns)
    res = sm.OLS(s.to_numpy(dtype=float), x.to_numpy()).fit(
        cov_type="HAC", cov_kwds={"maxlags": w.hac_lags, "use_correction": True})
    beta, cov = np.asarray(res.params), np.asarray(res.cov_params())
    i_post, i_slope = cols.index("post"), cols.index("t_post")
    level, slope = float(beta[i_post]), float(beta[i_slope])
    # mean effect over the post window (level change plus slope change at each post day) against
    # the mean counterfactual of those days (the pre-change model: trend, weekday and holiday terms)
    post_rows = x[x["post"] == 1.0]
    c = np.array([0.0 if name in ("post", "t_post") else float(post_rows[name].mean()) for name in cols])
    e = np.zeros(len(cols))
    e[i_post], e[i_slope] = 1.0, float(post_rows["t_post"].mean())
    cf, change_abs = float(c @ beta), float(e @ beta)
    se_abs = float(np.sqrt(max(e @ cov @ e, 0.0)))
    p = float(2 * stats.norm.sf(abs(change_abs) / se_abs)) if se_abs > 0 else 0.0
    if scale == "percent":
        if cf <= 0:
            return Fit(None, None, None, p, slope, level, cf, pre, post, "counterfactual not positive")
        effect = 100.0 * change_abs / cf
        grad = 100.0 * (e / cf - change_abs * c / cf ** 2)
        se = float(np.sqrt(max(grad @ cov @ grad, 0.0)))
    else:
        k = 100.0 if scale == "pp" else 1.0
        effect, se = k * change_abs, k * se_abs
    return Fit(effect, effect - Z95 * se, effect + Z95 * se, p, slope, level, cf, pre, post)
