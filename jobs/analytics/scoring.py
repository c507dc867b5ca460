"""Scores of probabilistic forecasts in quantile form (pure numpy; reads and writes nothing).

A forecast is a vector of values at quantile levels that come in symmetric pairs around the
median (tau, 1 - tau), as in the forecast hubs. The scores follow Bracher et al. (2021),
"Evaluating epidemic forecasts in an interval format":

- interval score of the central (1 - alpha) interval [l, u]:
  IS = (u - l) + 2/alpha * (l - y) * [y < l] + 2/alpha * (y - u) * [y > u]
- weighted interval score over the median m and K central intervals:
  WIS = (0.5 * |y - m| + sum_k alpha_k / 2 * IS_k) / (K + 0.5)
- coverage of the central (1 - alpha) interval: share of observations with l <= y <= u
- MASE: mean absolute error of the median, divided by the in-sample mean absolute error of the
  seasonal naive forecast (y_t - y_{t-7}) on the history the forecast was made from.
"""

import numpy as np

SEASON_DAYS = 7


def _pairs(levels: np.ndarray) -> list[tuple[int, int, float]]:
    """(index of lower, index of upper, alpha) for every central interval of the levels."""
    out = []
    for i, tau in enumerate(levels):
        if tau < 0.5:
            j = int(np.argmin(np.abs(levels - (1 - tau))))
            if not np.isclose(levels[j], 1 - tau):
                raise ValueError(f"quantile level {tau} has no symmetric partner {1 - tau}")
            out.append((i, j, 2 * tau))
    return out


def interval_score(lower, upper, y, alpha: float) -> np.ndarray:
    """Interval score of the central (1 - alpha) interval [lower, upper] for observations y."""
    lower, upper, y = (np.asarray(a, dtype=float) for a in (lower, upper, y))
    return ((upper - lower) + 2 / alpha * np.clip(lower - y, 0, None)
            + 2 / alpha * np.clip(y - upper, 0, None))


def wis(values, levels, y) -> np.ndarray:
    """Weighted interval score of each forecast row.

    ``values``: (n, q) forecast values at ``levels`` (q levels: the median and symmetric pairs);
    ``y``: (n,) observations. Returns (n,) scores in the unit of y (lower is better)."""
    values = np.atleast_2d(np.asarray(values, dtype=float))
    levels = np.asarray(levels, dtype=float)
    y = np.asarray(y, dtype=float).reshape(-1)
    mid = np.flatnonzero(np.isclose(levels, 0.5))
    if len(mid) != 1:
        raise ValueError("the levels must contain the median 0.5 exactly once")
    pairs = _pairs(levels)
    total = 0.5 * np.abs(y - values[:, mid[0]])
    for lo, hi, alpha in pairs:
        total = total + alpha / 2 * interval_score(values[:, lo], values[:, hi], y, alpha)
    return total / (len(pairs) + 0.5)


def covered(values, levels, y, central: float) -> np.ndarray:
    """Whether each observation lies inside the forecast's central ``central`` interval
    (e.g. 0.5 -> between the 0.25 and 0.75 quantiles, bounds included)."""
    values = np.atleast_2d(np.asarray(values, dtype=float))
    levels = np.asarray(levels, dtype=float)
    y = np.asarray(y, dtype=float).reshape(-1)
    lo = np.flatnonzero(np.isclose(levels, (1 - central) / 2))
    hi = np.flatnonzero(np.isclose(levels, (1 + central) / 2))
    if len(lo) != 1 or len(hi) != 1:
        raise ValueError(f"the levels have no central {central:.0%} interval")
    return (values[:, lo[0]] <= y) & (y <= values[:, hi[0]])


def seasonal_naive_scale(history, season: int = SEASON_DAYS) -> float:
    """In-sample mean absolute error of the seasonal naive forecast on ``history`` (the MASE
    denominator); NaN when there are no pairs or they are all equal."""
    h = np.asarray(history, dtype=float)
    if len(h) <= season:
        return float("nan")
    d = np.abs(h[season:] - h[:-season])
    d = d[~np.isnan(d)]
    scale = float(d.mean()) if len(d) else float("nan")
    return scale if scale > 0 else float("nan")
