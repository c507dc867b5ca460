"""Forecasts and rolling-origin backtests of one (geography, target) series (pure pandas/numpy;
reads and writes nothing).

Input: a wide daily frame indexed by date with the target's raw values, and for every leading
indicator its trailing 7-day mean (columns named after the indicators), all up to the
evaluation day ds. Origins: ds itself (the live forecast) and ``backtest_origins`` weekly
origins ds - horizon, ds - horizon - 7, ... whose targets are all observed by ds.

At every origin, using only the history up to it:
- each leading indicator's lead over the target is estimated with ``estimate_lead`` (the
  best non-negative lag of ``jobs.analytics.lagcorr``'s correlation curve); indicators without a
  significant positive correlation at an interior lag are left out. The lead is estimated for the regressor column as given (the trailing 7-day mean)
  against the target over the last ``lead_window_days`` days, so it is the lead at which the
  column enters the model;
- every model in ``ForecastSettings.models`` forecasts horizons 1..horizon at the 23 levels.

``forecast_series`` returns the long forecast rows (origin, target_date, horizon_days, model,
quantile, value, observed, mase_scale); ``skill`` scores them per model and horizon.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from jobs.analytics import forecast_models as fm
from jobs.analytics import scoring

MODELS = ("prophet", "persistence", "seasonal_naive", "quantile_baseline")
STRINGENCY = "restriction_stringency"


@dataclass(frozen=True)
class ForecastSettings:
    """The ``forecast:`` section of the city config (defaults in brackets in the README)."""

    targets: dict = field(default_factory=lambda: {
        "morbidity_new_cases": ["pharmacy_receipts_antipyretic", "ambulance_calls_respiratory_fever"],
        "morbidity_hospitalised": ["morbidity_new_cases", "pharmacy_receipts_antipyretic"],
        "ambulance_calls_respiratory_fever": ["pharmacy_receipts_antipyretic"],
    })
    geo_levels: tuple = ("city", "district")
    models: tuple = MODELS
    horizon_days: int = 28
    backtest_origins: int = 4
    origin_step_days: int = 7
    baseline_model: str = "seasonal_naive"
    baseline_window_days: int = 56
    min_history_days: int = 42
    max_lead_days: int = 28
    lead_window_days: int = 120
    use_stringency: bool = False
    prophet: fm.ProphetSettings = fm.ProphetSettings()

    @classmethod
    def from_config(cls, cfg: dict) -> "ForecastSettings":
        s = dict(cfg.get("forecast") or {})
        country = (cfg.get("city") or {}).get("country")
        s["prophet"] = fm.ProphetSettings.from_config(s.get("prophet"), country)
        for key in ("geo_levels", "models"):
            if key in s:
                s[key] = tuple(s[key])
        return cls(**{k: v for k, v in s.items() if k in cls.__dataclass_fields__})

    def regressors(self, target: str) -> list[str]:
        return list(self.targets.get(target) or []) + ([STRINGENCY] if self.use_stringency else [])

    def indicators(self) -> list[str]:
        return sorted({i for t in self.targets for i in [t, *self.regressors(t)]})


def origins(ds: date, settings: ForecastSettings) -> list[date]:
    """The live origin ds, then the backtest origins (newest first)."""
    first = ds - timedelta(settings.horizon_days)
    return [ds] + [first - timedelta(settings.origin_step_days * k) for k in range(settings.backtest_origins)]


def _local_curve(x: pd.Series, y: pd.Series, max_lag: int) -> pd.DataFrame:
    """lag_days, r (Pearson of 7-day means, x(t) vs y(t + k)), p_adj (0: no test) for k = 0..max_lag."""
    xs, ys = x.rolling(7).mean(), y.rolling(7).mean()
    out = []
    for k in range(0, max_lag + 1):
        pair = pd.concat([xs, ys.shift(-k)], axis=1).dropna()
        ok = len(pair) >= 14 and pair.iloc[:, 0].std() > 0 and pair.iloc[:, 1].std() > 0
        out.append((k, float(np.corrcoef(pair.iloc[:, 0], pair.iloc[:, 1])[0, 1]) if ok else np.nan, 0.0))
    return pd.DataFrame(out, columns=["lag_days", "r", "p_adj"])


def estimate_lead(x: pd.Series, y: pd.Series, max_lag: int = 28, alpha: float = 0.05) -> int | None:
    """Days (0..max_lag) by which x leads y: the lag of the largest positive correlation of
    x(t) with y(t + k) over k >= 0 (``jobs.analytics.lagcorr.cross_correlate``: 7-day means,
    p-values corrected across lags; a plain local curve when that module is missing). None when
    that correlation is not positive and significant or sits at the edge max_lag."""
    try:
        from jobs.analytics.lagcorr import cross_correlate
        curve = cross_correlate(x, y, max_lag=max_lag)
    except ImportError:
        curve = _local_curve(x, y, max_lag)
    c = curve[(curve["lag_days"] >= 0)].dropna(subset=["r"])
    if c.empty:
        return None
    best = c.loc[c["r"].idxmax()]
    if not best["r"] > 0 or not best["p_adj"] < alpha or int(best["lag_days"]) == max_lag:
        return None
    return int(best["lag_days"])


def model_quantiles(model: str, history: pd.DataFrame, target: str, leads: dict[str, int],
                    settings: ForecastSettings) -> np.ndarray:
    """(horizon, 23) forecast of ``model`` from ``history`` (the wide frame up to the origin)."""
    y, h, w = history[target], settings.horizon_days, settings.baseline_window_days
    if model == "persistence":
        return fm.persistence(y, h, w)
    if model == "seasonal_naive":
        return fm.seasonal_naive(y, h, w)
    if model == "quantile_baseline":
        return fm.quantile_baseline(y, h, w)
    if model == "prophet":
        regs = {name: (history[name], lead) for name, lead in leads.items()}
        return fm.prophet(y, h, regs, settings.prophet)
    raise ValueError(f"unknown model {model}")


def leads_at(history: pd.DataFrame, target: str, settings: ForecastSettings) -> dict[str, int]:
    """Regressor -> lead (days) for the 7-day-mean columns in ``history``; stringency at 0."""
    leads = {}
    for name in settings.regressors(target):
        if name not in history:
            continue
        if name == STRINGENCY:
            leads[name] = 0
            continue
        recent = history.iloc[-settings.lead_window_days:]
        lead = estimate_lead(recent[name], recent[target], settings.max_lead_days)
        if lead is not None:
            leads[name] = lead
    return leads


def forecast_series(wide: pd.DataFrame, target: str, ds: date, settings: ForecastSettings) -> pd.DataFrame:
    """Long forecast rows for every origin with enough history (see the module docstring)."""
    wide = wide.sort_index()
    wide.index = pd.DatetimeIndex(wide.index)
    wide = wide.reindex(pd.date_range(wide.index.min(), pd.Timestamp(ds), freq="D"))
    y_all = wide[target]
    frames = []
    for origin in origins(ds, settings):
        o = pd.Timestamp(origin)
        history = wide.loc[:o]
        if history[target].notna().sum() < settings.min_history_days:
            continue
        leads = leads_at(history, target, settings)
        days = pd.date_range(o + pd.Timedelta(days=1), periods=settings.horizon_days, freq="D")
        observed = y_all.reindex(days).to_numpy(dtype=float)
        scale = scoring.seasonal_naive_scale(history[target].to_numpy(dtype=float))
        for model in settings.models:
            q = model_quantiles(model, history, target, leads, settings)
            frames.append(pd.DataFrame({
                "origin": origin,
                "target_date": np.repeat(days.date, len(fm.LEVELS)),
                "horizon_days": np.repeat(np.arange(1, settings.horizon_days + 1), len(fm.LEVELS)),
                "model": model,
                "quantile": np.tile(fm.LEVELS, settings.horizon_days),
                "value": q.reshape(-1),
                "observed": np.repeat(observed, len(fm.LEVELS)),
                "mase_scale": scale,
                "leads": ",".join(f"{k}:{v}" for k, v in sorted(leads.items())) if model == "prophet" else "",
            }))
    cols = ["origin", "target_date", "horizon_days", "model", "quantile", "value", "observed",
            "mase_scale", "leads"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)


def skill(forecasts: pd.DataFrame, baseline_model: str = "seasonal_naive") -> pd.DataFrame:
    """Scores per (model, horizon_days) over the origins whose target is observed: mae (of the
    median), mase, wis, wis_relative (to the baseline on the same origins), coverage_50,
    coverage_95, n_origins, beats_baseline."""
    f = forecasts[forecasts["observed"].notna()]
    cols = ["model", "horizon_days", "mae", "mase", "wis", "coverage_50", "coverage_95", "n_origins",
            "wis_relative", "beats_baseline", "baseline_model"]
    if f.empty:
        return pd.DataFrame(columns=cols)
    keys = ["model", "origin", "horizon_days", "observed", "mase_scale"]
    wide = f.set_index(keys + ["quantile"])["value"].unstack("quantile").reset_index()
    levels = fm.LEVELS
    values = wide[list(levels)].to_numpy()
    y = wide["observed"].to_numpy()
    median = values[:, int(np.flatnonzero(np.isclose(levels, 0.5))[0])]
    per = wide[["model", "origin", "horizon_days"]].assign(
        ae=np.abs(median - y), wis=scoring.wis(values, levels, y),
        c50=scoring.covered(values, levels, y, 0.5), c95=scoring.covered(values, levels, y, 0.95),
        scaled=np.abs(median - y) / wide["mase_scale"].to_numpy())
    out = per.groupby(["model", "horizon_days"], as_index=False).agg(
        mae=("ae", "mean"), mase=("scaled", "mean"), wis=("wis", "mean"),
        coverage_50=("c50", "mean"), coverage_95=("c95", "mean"), n_origins=("origin", "nunique"))
    base = (per[per["model"] == baseline_model][["origin", "horizon_days", "wis"]]
            .rename(columns={"wis": "base_wis"}))
    paired = per.merge(base, on=["origin", "horizon_days"], how="inner")
    rel = paired.groupby(["model", "horizon_days"], as_index=False).agg(w=("wis", "mean"), b=("base_wis", "mean"))
    rel["wis_relative"] = np.where(rel["b"] > 0, rel["w"] / rel["b"].where(rel["b"] > 0), np.nan)
    out = out.merge(rel[["model", "horizon_days", "wis_relative"]], on=["model", "horizon_days"], how="left")
    out["beats_baseline"] = out["wis_relative"].map(lambda v: None if pd.isna(v) else bool(v < 1))
    out["baseline_model"] = baseline_model
    return out[cols]
