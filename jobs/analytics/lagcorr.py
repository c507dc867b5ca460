"""Lagged correlation of two daily series: the pure pandas/numpy core of mart_lagcorr and
mart_leadlag, callable on any two daily series (no Spark, no lake).

Sign convention: lag k > 0 means x leads y by k days, i.e. x(t) is compared with y(t + k).

- Series are aligned on their dates (a calendar-day index from the first to the last day of
  either series); a day missing or NaN on either side drops that pair only.
- Transform: ``detrend=False`` compares trailing 7-day means (levels); ``detrend=True`` compares
  day-to-day differences of the log of the 7-day means (growth rates), which removes the shared
  trends that make unrelated series look correlated. Series with zeros use log(m + 1); series
  with negative values (percent changes) are differenced without the log.
- Methods: ``pearson``, ``spearman`` (Pearson on ranks of the overlapping pairs) and
  ``distance_correlation`` (bias-corrected distance correlation of Székely and Rizzo, which also
  catches non-monotone dependence; it is >= 0 up to sampling noise and has no sign).
- Effective sample size: Bartlett's formula as used by Pyper and Peterman (1998),
  1/n_eff = 1/n + (2/n) * sum_{j=1..n/5} (n-j)/n * rho_x(j) * rho_y(j), with the
  autocorrelations rho of the two transformed series; n_eff is kept within [2, n].
- Confidence interval (Pearson, Spearman): Fisher z, atanh(r) +- 1.96 / sqrt(n_eff - 3); the
  p-value is the two-sided normal p of atanh(r) * sqrt(n_eff - 3). With n_eff <= 3 there is
  no information: CI [-1, 1], p = 1. Distance correlation: no CI; p from the t test of
  Székely and Rizzo (2013) with n_eff in place of n.
- Multiple testing: p-values are adjusted across the lags of one curve with Holm's step-down
  method (family-wise error), so the best of 57 lags is not significant by chance.
"""

from datetime import date, timedelta

import numpy as np
import pandas as pd
from scipy import special, stats

MAX_LAG = 28
SMOOTH_DAYS = 7
MIN_PAIRS = 10
Z95 = 1.959963984540054
METHODS = ("pearson", "spearman", "distance_correlation")
P_ADJUST_METHOD = "holm"
CURVE_COLUMNS = ["lag_days", "r", "ci_low", "ci_high", "n", "n_eff", "p_adj", "p_value"]


# ------------------------------------------------------------ series preparation
def align(x: pd.Series, y: pd.Series) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray]:
    """Both series on one calendar-day index covering both (NaN where a day is missing)."""
    xi, yi = pd.to_datetime(x.index), pd.to_datetime(y.index)
    lo, hi = min(xi.min(), yi.min()), max(xi.max(), yi.max())
    full = pd.date_range(lo.normalize(), hi.normalize(), freq="D")
    xs = pd.Series(np.asarray(x, dtype=float), index=xi).groupby(level=0).mean().reindex(full)
    ys = pd.Series(np.asarray(y, dtype=float), index=yi).groupby(level=0).mean().reindex(full)
    return full, xs.to_numpy(), ys.to_numpy()


def trailing_mean(values: np.ndarray, days: int = SMOOTH_DAYS) -> np.ndarray:
    """Trailing ``days``-day mean; NaN unless all ``days`` values are present."""
    s = pd.Series(values)
    return s.rolling(days, min_periods=days).mean().to_numpy()


def transform(values: np.ndarray, detrend: bool, smooth_days: int = SMOOTH_DAYS) -> np.ndarray:
    """7-day means (levels) or the first difference of their log (detrended); see the module doc."""
    m = trailing_mean(values, smooth_days) if smooth_days > 1 else np.asarray(values, dtype=float)
    if not detrend:
        return m
    finite = m[np.isfinite(m)]
    if finite.size and finite.min() < 0:
        base = m
    elif finite.size and finite.min() == 0:
        base = np.log(m + 1.0)
    else:
        base = np.log(m)
    return np.concatenate([[np.nan], np.diff(base)])


# ------------------------------------------------------------ statistics
def autocorr(v: np.ndarray, max_lag: int) -> np.ndarray:
    """Autocorrelations rho(1..max_lag) of a series with gaps (pairs with both values)."""
    out = np.zeros(max_lag)
    ok = np.isfinite(v)
    if ok.sum() < 3:
        return out
    mu, var = v[ok].mean(), v[ok].var()
    if var == 0:
        return out
    c = np.where(ok, v - mu, 0.0)
    n = ok.sum()
    for j in range(1, max_lag + 1):
        if j >= len(v):
            break
        out[j - 1] = np.sum(c[:-j] * c[j:]) / (n * var)
    return out


def effective_n(n, rho_x: np.ndarray, rho_y: np.ndarray):
    """Bartlett / Pyper-Peterman effective sample size of the correlation of two series with
    ``n`` overlapping days (an int or an array of them), autocorrelations summed up to n/5."""
    n_arr = np.atleast_1d(np.asarray(n, dtype=float))
    prod = rho_x * rho_y
    j = np.arange(1, len(prod) + 1)
    s1, s2 = np.concatenate([[0.0], np.cumsum(prod)]), np.concatenate([[0.0], np.cumsum(j * prod)])
    J = np.clip((n_arr // 5).astype(int), 1, len(prod)) if len(prod) else np.zeros(len(n_arr), int)
    with np.errstate(invalid="ignore", divide="ignore"):
        inv = 1.0 / n_arr + (2.0 / n_arr) * (s1[J] - s2[J] / n_arr)
        out = np.where(inv > 0, 1.0 / inv, n_arr)
    out = np.where(n_arr < 3, n_arr, np.clip(out, 2.0, np.maximum(n_arr, 2.0)))
    return float(out[0]) if np.ndim(n) == 0 else out


def fisher_ci(r, n_eff):
    """(ci_low, ci_high, p_value) of correlations r with effective sample sizes n_eff (arrays
    or scalars); NaN r gives NaN, n_eff <= 3 gives CI [-1, 1] and p = 1 (no information)."""
    r, n_eff = np.asarray(r, dtype=float), np.asarray(n_eff, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.arctanh(np.clip(r, -0.999999, 0.999999))
        se = 1.0 / np.sqrt(np.where(n_eff > 3, n_eff - 3.0, np.nan))
        lo, hi = np.tanh(z - Z95 * se), np.tanh(z + Z95 * se)
        p = 2.0 * special.ndtr(-np.abs(z) / se)
    few = np.isfinite(r) & ~(n_eff > 3)
    lo, hi, p = np.where(few, -1.0, lo), np.where(few, 1.0, hi), np.where(few, 1.0, p)
    return (float(lo), float(hi), float(p)) if r.ndim == 0 else (lo, hi, p)


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment (NaN stays NaN)."""
    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.isfinite(p)
    m = ok.sum()
    if m == 0:
        return out
    pv = p[ok]
    order = np.argsort(pv)
    adj = np.maximum.accumulate((m - np.arange(m)) * pv[order])
    res = np.empty(m)
    res[order] = np.minimum(adj, 1.0)
    out[ok] = res
    return out


def _centred_distances(a: np.ndarray) -> np.ndarray:
    """U-centred distance matrix (for the bias-corrected distance correlation)."""
    n = len(a)
    u = np.abs(a[:, None] - a[None, :])
    row = u.sum(axis=1) / (n - 2)
    total = row.sum() / (n - 1)
    u -= row[:, None]
    u -= row[None, :]
    u += total
    np.fill_diagonal(u, 0.0)
    return u


def distance_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Bias-corrected distance correlation R* (Székely and Rizzo 2013); NaN below 4 pairs."""
    if len(a) < 4:
        return np.nan
    A, B = _centred_distances(a), _centred_distances(b)
    xy, xx, yy = (np.einsum("ij,ij->", A, B), np.einsum("ij,ij->", A, A), np.einsum("ij,ij->", B, B))
    if xx <= 0 or yy <= 0:
        return np.nan
    return float(xy / np.sqrt(xx * yy))


def dcor_p(r: float, n_eff: float) -> float:
    """t test of independence for the bias-corrected distance correlation (n_eff for n)."""
    if not np.isfinite(r) or n_eff < 4:
        return 1.0
    M = n_eff * (n_eff - 3) / 2.0
    r = min(r, 0.999999)
    t = np.sqrt(M - 1) * r / np.sqrt(1 - r * r)
    return float(stats.t.sf(t, df=M - 1))


# ------------------------------------------------------------ the curve
def lag_matrix(xs: np.ndarray, ys: np.ndarray, max_lag: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lags, X, Y): row i holds the pairs (x(t), y(t + lags[i])) over t, NaN where either is
    unknown, so that every row can be reduced at once."""
    n_all = len(xs)
    lags = np.arange(-max_lag, max_lag + 1)
    X = np.full((len(lags), n_all), np.nan)
    Y = np.full((len(lags), n_all), np.nan)
    for i, k in enumerate(lags):
        if abs(k) >= n_all:
            continue
        if k >= 0:
            X[i, : n_all - k], Y[i, : n_all - k] = xs[: n_all - k], ys[k:]
        else:
            X[i, : n_all + k], Y[i, : n_all + k] = xs[-k:], ys[: n_all + k]
    both = np.isfinite(X) & np.isfinite(Y)
    return lags, np.where(both, X, np.nan), np.where(both, Y, np.nan)


def _row_ranks(M: np.ndarray) -> np.ndarray:
    """Average ranks within each row, NaN kept."""
    return pd.DataFrame(M).rank(axis=1, method="average").to_numpy()


def _row_pearson(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    m = np.isfinite(X)
    cnt = np.maximum(m.sum(axis=1), 1)
    dx = np.where(m, X - (np.nansum(X, axis=1) / cnt)[:, None], 0.0)
    dy = np.where(m, Y - (np.nansum(Y, axis=1) / cnt)[:, None], 0.0)
    den = np.sqrt(np.einsum("ij,ij->i", dx, dx) * np.einsum("ij,ij->i", dy, dy))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.einsum("ij,ij->i", dx, dy) / den
    return np.where(den > 1e-12 * np.maximum(1.0, den.max(initial=0.0)), np.clip(r, -1.0, 1.0), np.nan)


def curve_from_arrays(xs: np.ndarray, ys: np.ndarray, max_lag: int = MAX_LAG, method: str = "pearson",
                      min_pairs: int = MIN_PAIRS) -> pd.DataFrame:
    """The correlation curve of two already transformed, aligned arrays (see cross_correlate)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    J = max(1, len(xs) // 5)
    rho_x, rho_y = autocorr(xs, J), autocorr(ys, J)
    lags, X, Y = lag_matrix(xs, ys, max_lag)
    n = np.isfinite(X).sum(axis=1).astype("int32")
    if method == "distance_correlation":
        r = np.array([distance_correlation(X[i][np.isfinite(X[i])], Y[i][np.isfinite(Y[i])])
                      if n[i] >= min_pairs else np.nan for i in range(len(lags))])
    elif method == "spearman":
        r = _row_pearson(_row_ranks(X), _row_ranks(Y))
    else:
        r = _row_pearson(X, Y)
    r = np.where(n >= min_pairs, r, np.nan)
    n_eff = np.where(np.isfinite(r), effective_n(n, rho_x, rho_y), np.nan)
    if method == "distance_correlation":
        lo = hi = np.full(len(lags), np.nan)
        p = np.array([dcor_p(v, m) if np.isfinite(v) else np.nan for v, m in zip(r, n_eff)])
    else:
        lo, hi, p = fisher_ci(r, n_eff)
    out = pd.DataFrame({"lag_days": lags.astype("int32"), "r": r, "ci_low": lo, "ci_high": hi,
                        "n": n, "n_eff": n_eff, "p_value": p})
    out["p_adj"] = holm(out["p_value"].to_numpy())
    return out[CURVE_COLUMNS]


def cross_correlate(x: pd.Series, y: pd.Series, max_lag: int = MAX_LAG, method: str = "pearson",
                    detrend: bool = False, smooth_days: int = SMOOTH_DAYS,
                    min_pairs: int = MIN_PAIRS) -> pd.DataFrame:
    """Correlation of x(t) with y(t + k) for k = -max_lag..max_lag (k > 0: x leads y).

    ``x``, ``y``: daily pandas Series indexed by date. Returns one row per lag with columns
    ``lag_days, r, ci_low, ci_high, n, n_eff, p_adj`` (and ``p_value``, before adjustment);
    r is NaN where fewer than ``min_pairs`` days overlap or a side is constant."""
    _, xs, ys = align(x, y)
    return curve_from_arrays(transform(xs, detrend, smooth_days), transform(ys, detrend, smooth_days),
                             max_lag, method, min_pairs)


# ------------------------------------------------------------ lead/lag summary
def summarise(curve: pd.DataFrame, max_lag: int | None = None, alpha: float = 0.05) -> dict:
    """The best lag of a curve (largest |r|; for distance correlation the largest r).

    Returns best_lag_days, r, ci_low, ci_high, p_adj, n, n_eff, significant, at_edge, relation
    and note. A best lag at +-max_lag is flagged at_edge with note "no interior peak": the
    true peak may lie outside the window, so it is not a finding (relation 'none')."""
    c = curve.dropna(subset=["r"])
    empty = {"best_lag_days": None, "r": None, "ci_low": None, "ci_high": None, "p_adj": None,
             "n": 0, "n_eff": None, "significant": False, "at_edge": False, "relation": "none",
             "note": "too few overlapping days"}
    if c.empty:
        return empty
    edge = int(max_lag if max_lag is not None else curve["lag_days"].abs().max())
    score = c["r"].abs()
    best = c.loc[score.idxmax()]
    k = int(best["lag_days"])
    p = float(best["p_adj"]) if np.isfinite(best["p_adj"]) else None
    significant = p is not None and p < alpha
    at_edge = abs(k) == edge
    relation = "none" if (not significant or at_edge) else (
        "x_leads" if k > 0 else "y_leads" if k < 0 else "synchronous")
    note = "no interior peak" if at_edge else ("" if significant else "not significant")
    nan = lambda v: None if v is None or not np.isfinite(v) else float(v)  # noqa: E731
    return {"best_lag_days": k, "r": float(best["r"]), "ci_low": nan(best["ci_low"]),
            "ci_high": nan(best["ci_high"]), "p_adj": p, "n": int(best["n"]),
            "n_eff": nan(best["n_eff"]), "significant": bool(significant), "at_edge": bool(at_edge),
            "relation": relation, "note": note}


def lead_lag(x: pd.Series, y: pd.Series, max_lag: int = MAX_LAG, method: str = "pearson",
             detrend: bool = False, alpha: float = 0.05, **kwargs) -> dict:
    """The best lag of x versus y with its r, CI, significance and edge flag (see summarise)."""
    return summarise(cross_correlate(x, y, max_lag, method, detrend, **kwargs), max_lag, alpha)


# ------------------------------------------------------------ rolling windows
def rolling_windows(first: date, last: date, window_days: int = 56, step_days: int = 7) -> list[tuple[date, date]]:
    """(start, end) of windows of ``window_days`` ending on ``last``, ``last - step``, ... while
    they fit after ``first``; oldest first."""
    out = []
    end = last
    while end - timedelta(window_days - 1) >= first:
        out.append((end - timedelta(window_days - 1), end))
        end -= timedelta(step_days)
    return out[::-1]


def rolling_cross_correlate(x: pd.Series, y: pd.Series, window_days: int = 56, step_days: int = 7,
                            **kwargs) -> pd.DataFrame:
    """cross_correlate in each rolling window (the transform is computed on the whole series
    first, so a window's first days keep their 7-day means); adds window_start, window_end."""
    idx, xs, ys = align(x, y)
    detrend, smooth_days = kwargs.pop("detrend", False), kwargs.pop("smooth_days", SMOOTH_DAYS)
    tx, ty = transform(xs, detrend, smooth_days), transform(ys, detrend, smooth_days)
    days = idx.date
    parts = []
    for start, end in rolling_windows(days[0], days[-1], window_days, step_days):
        sel = (days >= start) & (days <= end)
        c = curve_from_arrays(tx[sel], ty[sel], **kwargs)
        parts.append(c.assign(window_start=start, window_end=end))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=CURVE_COLUMNS + ["window_start", "window_end"])
