"""Ground-truth lead/lag relations of the synthetic city's health signals.

Reads noise-free expected daily series (city level, one column per signal, indexed by day);
writes nothing. The result goes into the manifest so that the analytics can be checked.

Sign convention (as everywhere in GeoPulse): lag k > 0 means x leads y by k days, i.e.
x(t) is compared with y(t + k). The lag reported is the argmax over k in [-MAX_LAG, MAX_LAG]
of the Pearson correlation of 7-day means; a best lag at the edge of the window is flagged.
"""

import numpy as np
import pandas as pd

MAX_LAG = 28
SMOOTH_DAYS = 7

# Signal columns of the expected frame whose lags the manifest records.
LAG_SIGNALS = (
    "ambulance_respiratory", "pharmacy_antipyretic", "pharmacy_cough_cold", "pharmacy_antiviral",
    "reported_cases", "hospitalised", "deaths",
)
REFERENCES = {"infections": "new_infections", "reported_cases": "reported_cases"}


def smooth(series: pd.Series, days: int = SMOOTH_DAYS) -> pd.Series:
    """Trailing ``days``-day mean (NaN until the window is full)."""
    return series.rolling(days, min_periods=days).mean()


def cross_correlation(x: pd.Series, y: pd.Series, max_lag: int = MAX_LAG) -> pd.Series:
    """Pearson r of x(t) with y(t + k) for k = -max_lag..max_lag, aligned on the dates.

    Both series are indexed by day (dates or datetimes); days missing from either side (or NaN)
    are left out pair by pair. Returns a Series indexed by lag k (k > 0: x leads y).
    """
    idx = pd.DatetimeIndex(pd.to_datetime(x.index)).union(pd.DatetimeIndex(pd.to_datetime(y.index)))
    full = pd.date_range(idx.min(), idx.max(), freq="D")
    xs = pd.Series(np.asarray(x, dtype=float), index=pd.to_datetime(x.index)).reindex(full).to_numpy()
    ys = pd.Series(np.asarray(y, dtype=float), index=pd.to_datetime(y.index)).reindex(full).to_numpy()
    out = {}
    n = len(full)
    for k in range(-max_lag, max_lag + 1):
        if abs(k) >= n:
            out[k] = np.nan
            continue
        if k >= 0:
            a, b = xs[: n - k], ys[k:]
        else:
            a, b = xs[-k:], ys[: n + k]
        ok = np.isfinite(a) & np.isfinite(b)
        a, b = a[ok], b[ok]
        if len(a) < 3 or a.std() == 0 or b.std() == 0:
            out[k] = np.nan
        else:
            out[k] = float(np.corrcoef(a, b)[0, 1])
    return pd.Series(out, name="r").rename_axis("lag_days")


def best_lag(x: pd.Series, y: pd.Series, max_lag: int = MAX_LAG) -> dict:
    """Best lag of x versus y on 7-day means: ``{"lag_days", "r", "edge"}``."""
    cc = cross_correlation(smooth(x), smooth(y), max_lag)
    if cc.isna().all():
        return {"lag_days": None, "r": None, "edge": False}
    k = int(cc.idxmax())
    return {"lag_days": k, "r": round(float(cc[k]), 4), "edge": abs(k) == max_lag}


def true_lags(expected: pd.DataFrame, max_lag: int = MAX_LAG) -> dict:
    """Lags of every signal versus infections and versus reported cases.

    ``expected``: city-level noise-free daily series indexed by day, with a ``new_infections``
    column and the columns of ``LAG_SIGNALS`` present in it (baselines included where the
    feed has one, i.e. exactly the expectation the noisy counts are drawn from).
    Returns ``{signal: {"vs_infections": {...}, "vs_reported_cases": {...}}}`` where each
    inner dict is ``{"lag_days": int, "r": float, "edge": bool}``.
    """
    out: dict[str, dict] = {}
    for signal in LAG_SIGNALS:
        if signal not in expected:
            continue
        out[signal] = {
            f"vs_{ref}": best_lag(expected[signal], expected[col], max_lag)
            for ref, col in REFERENCES.items() if col in expected
        }
    return out
