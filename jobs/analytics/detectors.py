"""Outbreak detectors on one daily count series: EARS C1/C2/C3, EWMA and a Farrington-style test.

Pure numpy/pandas; reads and writes nothing. Every detector takes a pandas Series of daily
values indexed by consecutive dates (NaN = no value that day) and returns a DataFrame indexed
like it with the columns

    expected        baseline mean (NaN when the history is insufficient)
    threshold       value of the observation above which the day alerts (NaN when insufficient)
    score           the method's statistic (see each function)
    alert           observed > threshold
    baseline_days   days of history the baseline used
    note            why expected is missing ('' otherwise)

Each day's result uses only values up to that day, so running over a whole series gives the
same rows as running "as of" every day in turn.

Baselines: the ``baseline_days`` values ending ``guard_days + 1`` days before the day (the guard
band keeps the first days of an outbreak out of its own baseline). The baseline standard
deviation is floored at the Poisson value sqrt(mean) (``sd_floor='poisson'``), so a quiet,
nearly constant count series does not alert on every small wobble; ``min_sd`` is an absolute
floor.

References: Hutwagner et al. (2003) The bioterrorism preparedness and response Early Aberration
Reporting System (EARS); Fricker et al. (2008) Comparing syndromic surveillance detection
methods: EARS' versus a CUSUM-based methodology; Farrington et al. (1996) A statistical algorithm
for the early detection of outbreaks of infectious disease; Noufaily et al. (2013).
"""

from dataclasses import dataclass
from math import sqrt

import numpy as np
import pandas as pd

COLUMNS = ["expected", "threshold", "score", "alert", "baseline_days", "note"]


@dataclass(frozen=True)
class Baseline:
    """Moving baseline: ``days`` values ending ``guard`` days before the day (exclusive)."""

    days: int = 28
    guard: int = 2
    min_days: int = 21           # fewer non-missing baseline values: no expectation
    sd_floor: str = "poisson"    # 'poisson': sd >= sqrt(mean); 'none'
    min_sd: float = 0.5


def _empty(index: pd.Index) -> pd.DataFrame:
    return pd.DataFrame({"expected": np.nan, "threshold": np.nan, "score": np.nan, "alert": False,
                         "baseline_days": 0, "note": ""}, index=index)


def moving_baseline(values: pd.Series, b: Baseline) -> pd.DataFrame:
    """mean, sd (floored), n of the baseline window of every day."""
    shifted = values.shift(b.guard + 1)
    roll = shifted.rolling(b.days, min_periods=1)
    mean, sd, n = roll.mean(), roll.std(ddof=1), roll.count().fillna(0).astype(int)
    sd = sd.fillna(0.0)
    if b.sd_floor == "poisson":
        sd = np.maximum(sd, np.sqrt(mean.clip(lower=0)))
    sd = np.maximum(sd, b.min_sd)
    ok = n >= b.min_days
    return pd.DataFrame({"mean": mean.where(ok), "sd": sd.where(ok), "n": n, "ok": ok})


def _insufficient(b: Baseline) -> str:
    return f"fewer than {b.min_days} of the {b.days} baseline days have a value"


def ears_c1_c2(values: pd.Series, b: Baseline, z: float = 3.0) -> pd.DataFrame:
    """EARS C1 (use ``guard=0``) or C2 (``guard=2``): score = (x - mean) / sd of the moving
    baseline; alert when score > z, i.e. threshold = mean + z * sd."""
    base = moving_baseline(values, b)
    out = _empty(values.index)
    out["expected"] = base["mean"]
    out["threshold"] = base["mean"] + z * base["sd"]
    out["score"] = (values - base["mean"]) / base["sd"]
    out["alert"] = (values > out["threshold"]).fillna(False).astype(bool)
    out["baseline_days"] = base["n"].astype(int)
    out.loc[~base["ok"], "note"] = _insufficient(b)
    return out


CARRIED = "the two days before carry the C3 score over its limit: alert whatever today's count"


def ears_c3(values: pd.Series, b: Baseline, z_excess: float = 1.0, limit: float = 2.0) -> pd.DataFrame:
    """EARS C3: score = sum over the day and the 2 days before of max(0, C2 score - z_excess);
    alert when score > limit. threshold = the observation that brings today's sum to the limit;
    when the two previous days alone already exceed the limit the day alerts whatever its count:
    no threshold then, and the note says so."""
    c2 = ears_c1_c2(values, b, z=np.inf)
    part = (c2["score"] - z_excess).clip(lower=0)
    prior = part.shift(1).fillna(0) + part.shift(2).fillna(0)
    base = moving_baseline(values, b)
    out = c2.copy()
    out["score"] = part + prior
    out.loc[c2["score"].isna(), "score"] = np.nan
    out["threshold"] = base["mean"] + base["sd"] * (z_excess + (limit - prior))
    out["alert"] = (out["score"] > limit).fillna(False).astype(bool)
    carried = (prior > limit) & base["ok"]
    out.loc[carried, "threshold"] = np.nan
    out.loc[carried, "note"] = CARRIED
    return out


def ewma(values: pd.Series, b: Baseline, lam: float = 0.3, width: float = 3.0) -> pd.DataFrame:
    """EWMA chart: s_t = lam * x_t + (1 - lam) * s_{t-1} (a missing day carries s forward; s
    starts at the first baseline mean). Alert when s_t > mean + width * sd * sqrt(lam / (2 - lam))
    with mean, sd from the moving baseline. score = (s_t - mean) / (sd * sqrt(lam / (2 - lam)));
    threshold = the observation that would put s_t exactly on the control limit."""
    base = moving_baseline(values, b)
    x = values.to_numpy(dtype=float)
    mean = base["mean"].to_numpy()
    s = np.full(len(x), np.nan)
    prev_s = np.full(len(x), np.nan)
    cur = np.nan
    for i, v in enumerate(x):
        if np.isnan(cur) and not np.isnan(mean[i]):
            cur = mean[i]
        prev_s[i] = cur
        if not np.isnan(cur) and not np.isnan(v):
            cur = lam * v + (1 - lam) * cur
        s[i] = cur
    sigma = base["sd"].to_numpy() * sqrt(lam / (2 - lam))
    limit = mean + width * sigma
    out = _empty(values.index)
    out["expected"] = base["mean"]
    out["score"] = np.where(base["ok"], (s - mean) / sigma, np.nan)
    out["threshold"] = np.where(base["ok"], (limit - (1 - lam) * prev_s) / lam, np.nan)
    out["alert"] = (values > out["threshold"]).fillna(False).astype(bool)
    out["baseline_days"] = base["n"].astype(int)
    out.loc[~base["ok"], "note"] = _insufficient(b)
    return out


def farrington(values: pd.Series, years_back: int = 3, half_window: int = 14, z: float = 2.58,
               min_years: int = 1, min_baseline: int = 10) -> pd.DataFrame:
    """Farrington-style test on the same time of year in past years.

    Baseline of day t: the values on t - 364*y + k for y = 1..years_back and |k| <= half_window
    (364 keeps the weekday), where they exist. Quasi-Poisson: mu = baseline mean, dispersion
    phi = max(1, var / mean); threshold U = mu * (1 + 2/3 * z * sqrt(phi * mu + phi * mu / n) / mu)
    ** (3/2) (Farrington's 2/3-power transformation); score = (x - mu) / (U - mu). Simplified:
    no trend term and no down-weighting of past outbreaks. Days with fewer than ``min_years`` of
    history get no expectation and a note saying so."""
    x = values.to_numpy(dtype=float)
    out = _empty(values.index)
    need = 364 * min_years + half_window
    exp_, thr, score, nb, note = (np.full(len(x), np.nan), np.full(len(x), np.nan),
                                  np.full(len(x), np.nan), np.zeros(len(x), int), [""] * len(x))
    for t in range(len(x)):
        if t < need:
            note[t] = f"needs {need} days of history (a year and {half_window} days), has {t}"
            continue
        idx = [t - 364 * y + k for y in range(1, years_back + 1) for k in range(-half_window, half_window + 1)
               if 0 <= t - 364 * y + k and t - 364 * y + k < t]
        base = x[idx]
        base = base[~np.isnan(base)]
        nb[t] = len(base)
        if len(base) < min_baseline:
            note[t] = f"only {len(base)} baseline values in past years"
            continue
        mu = float(base.mean())
        phi = max(1.0, float(base.var(ddof=1)) / mu) if mu > 0 else 1.0
        mu_eff = max(mu, 0.5)
        upper = mu_eff * (1 + (2 / 3) * z * sqrt(phi * mu_eff * (1 + 1 / len(base))) / mu_eff) ** 1.5
        exp_[t], thr[t] = mu, upper
        score[t] = (x[t] - mu) / (upper - mu) if upper > mu else np.nan
    out["expected"], out["threshold"], out["score"], out["baseline_days"] = exp_, thr, score, nb
    out["note"] = note
    out["alert"] = (values > out["threshold"]).fillna(False).astype(bool)
    return out


def alert_levels(alert: pd.Series) -> pd.Series:
    """'warning' when the day and the day before alert, 'watch' when only the day, else 'none'."""
    a = alert.fillna(False).astype(bool)
    prev = a.shift(1, fill_value=False)
    return pd.Series(np.where(a & prev, "warning", np.where(a, "watch", "none")), index=alert.index)


def episodes(alert: pd.Series) -> pd.Series:
    """True on the first day of each run of alerting days (an alert 'fires' once per run)."""
    a = alert.fillna(False).astype(bool)
    return a & ~a.shift(1, fill_value=False)


METHODS = ("ears_c1", "ears_c2", "ears_c3", "ewma", "farrington")


def daily(values: pd.Series) -> pd.Series:
    """The series on every calendar day from its first to its last (missing days as NaN)."""
    v = values.astype(float).copy()
    v.index = pd.DatetimeIndex(pd.to_datetime(v.index)).normalize()
    v = v.groupby(level=0).last().sort_index()
    if v.empty:
        return v
    return v.reindex(pd.date_range(v.index.min(), v.index.max(), freq="D"))


def detect(values: pd.Series, settings: dict | None = None) -> pd.DataFrame:
    """Every method on one series (see the city config's ``alerts:`` section for ``settings``).

    Returns a long frame: day, method, observed, expected, threshold, score, baseline_days,
    alert, alert_level, note; days without an observation are left out."""
    s = settings or {}
    x = daily(values)
    base = dict(days=int(s.get("baseline_days", 28)), min_days=int(s.get("min_baseline_days", 21)),
                sd_floor=str(s.get("sd_floor", "poisson")), min_sd=float(s.get("min_sd", 0.5)))
    guarded = Baseline(guard=int(s.get("guard_days", 2)), **base)
    far = s.get("farrington", {})
    results = {
        "ears_c1": ears_c1_c2(x, Baseline(guard=0, **base), z=float(s.get("ears_z", 3.0))),
        "ears_c2": ears_c1_c2(x, guarded, z=float(s.get("ears_z", 3.0))),
        "ears_c3": ears_c3(x, guarded, z_excess=float(s.get("c3_excess", 1.0)), limit=float(s.get("c3_limit", 2.0))),
        "ewma": ewma(x, guarded, lam=float(s.get("ewma_lambda", 0.3)), width=float(s.get("ewma_width", 3.0))),
        "farrington": farrington(x, years_back=int(far.get("years_back", 3)),
                                 half_window=int(far.get("half_window_days", 14)), z=float(far.get("z", 2.58))),
    }
    frames = []
    for method, r in results.items():
        r = r.assign(method=method, observed=x, alert_level=alert_levels(r["alert"]))
        frames.append(r[x.notna()].rename_axis("day").reset_index())
    return pd.concat(frames, ignore_index=True)[
        ["day", "method", "observed", "expected", "threshold", "score", "baseline_days", "alert",
         "alert_level", "note"]]
