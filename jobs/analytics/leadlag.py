"""mart_lagcorr and mart_leadlag: lagged-correlation curves and their lead/lag summaries for the
configured indicator pairs, per city, zone type and district, as of one day.

Reads mart_indicator_daily (every day up to ds; the raw daily ``value``: the transforms of
``jobs.analytics.lagcorr`` make the 7-day means themselves); writes partition ds of
mart_lagcorr (grain: window_kind, window_end, geo_level, geo_id, x_indicator, y_indicator,
series_transform, method, lag_days) and of mart_leadlag (the same without lag_days).

Settings: ``analytics.lagcorr`` in the city config (pairs x -> y, levels, max lag, minimum
overlapping days; for the full period and for the rolling windows, the methods per series
transform). Windows: ``full`` = from the pair's first reported day to ds; ``rolling`` = windows of
``rolling.window_days`` ending ds, ds - step, ds - 2 step, ... (so a relation can be followed
over time from one partition). A window where either series has fewer than ``min_pairs``
values is skipped. Each (geography, pair) is one group of ``groupBy().applyInPandas``, which
calls the pure API; the summaries are a second applyInPandas over the curves.
"""

from datetime import date

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.analytics import lagcorr
from jobs.common.config import Paths
from jobs.common.contracts import load_contract
from jobs.common.lake import read_table, table_path, write_table

SOURCE = "mart_indicator_daily"
CURVES = "mart_lagcorr"
SUMMARY = "mart_leadlag"
CURVE_KEYS = ["window_kind", "window_start", "window_end", "geo_level", "geo_id", "x_indicator",
              "y_indicator", "series_transform", "method"]

DEFAULTS = {
    "max_lag_days": 28,
    "min_pairs": 28,
    "alpha": 0.05,
    "levels": ["city", "zone_type", "district"],
    "full": {"methods": {"level": ["pearson", "spearman"],
                         "detrended": ["pearson", "spearman", "distance_correlation"]}},
    "rolling": {"window_days": 56, "step_days": 7, "methods": {"detrended": ["pearson"]}},
    "pairs": [],
}


def settings(cfg: dict) -> dict:
    """analytics.lagcorr of the city config over the defaults."""
    s = dict(DEFAULTS) | dict(cfg.get("analytics", {}).get("lagcorr", {}))
    s["pairs"] = [(p["x"], p["y"]) for p in s["pairs"]]
    return s


def _empty(table: str) -> pd.DataFrame:
    return pd.DataFrame(columns=[c.name for c in load_contract(table).columns if c.name != "ds"])


def _schema(table: str, drop: tuple[str, ...] = ("ds",)) -> str:
    c = load_contract(table)
    return ", ".join(f"{col.name} {col.type}" for col in c.columns if col.name not in drop)


# ------------------------------------------------------------ pure pandas (one group)
def group_curves(pdf: pd.DataFrame, as_of: date, s: dict) -> pd.DataFrame:
    """Every curve of one (geography, pair): ``pdf`` has geo_level, geo_id, x_indicator,
    y_indicator, role ('x' or 'y'), ds, value. Returns mart_lagcorr rows without ds."""
    key = pdf.iloc[0]
    x = pdf[pdf["role"] == "x"].set_index("ds")["value"]
    y = pdf[pdf["role"] == "y"].set_index("ds")["value"]
    seen = pdf.loc[pdf["value"].notna(), "ds"]
    if seen.empty or x.notna().sum() < s["min_pairs"] or y.notna().sum() < s["min_pairs"]:
        return _empty(CURVES)
    first = seen.min()
    x, y = x[x.index >= first].sort_index(), y[y.index >= first].sort_index()
    if as_of not in x.index:                              # the calendar runs to ds
        x = pd.concat([x, pd.Series([np.nan], index=[as_of])])
    idx, xs, ys = lagcorr.align(x, y)
    days = idx.date
    windows = [("full", days[0], as_of, s["full"])]
    r = s["rolling"]
    windows += [("rolling", a, b, r) for a, b in lagcorr.rolling_windows(days[0], as_of, r["window_days"], r["step_days"])]
    parts = []
    for transform in sorted({t for *_, w in windows for t in w["methods"]}):
        tx, ty = lagcorr.transform(xs, transform == "detrended"), lagcorr.transform(ys, transform == "detrended")
        for kind, start, end, w in windows:
            sel = (days >= start) & (days <= end)
            if np.isfinite(tx[sel]).sum() < s["min_pairs"] or np.isfinite(ty[sel]).sum() < s["min_pairs"]:
                continue
            for method in w["methods"].get(transform, []):
                c = lagcorr.curve_from_arrays(tx[sel], ty[sel], s["max_lag_days"], method, s["min_pairs"])
                parts.append(c.assign(window_kind=kind, window_start=start, window_end=end,
                                      series_transform=transform, method=method))
    if not parts:
        return _empty(CURVES)
    out = pd.concat(parts, ignore_index=True).rename(columns={"p_adj": "p_adjusted"})
    out = out.assign(geo_level=key["geo_level"], geo_id=key["geo_id"], x_indicator=key["x_indicator"],
                     y_indicator=key["y_indicator"], p_adjust_method=lagcorr.P_ADJUST_METHOD)
    return out


def curve_summary(curve: pd.DataFrame, s: dict) -> pd.DataFrame:
    """One mart_leadlag row (without ds) from the rows of one curve of mart_lagcorr."""
    best = lagcorr.summarise(curve.rename(columns={"p_adjusted": "p_adj"}), s["max_lag_days"], s["alpha"])
    row = {k: curve.iloc[0][k] for k in CURVE_KEYS}
    row |= {"best_lag_days": best["best_lag_days"], "r": best["r"], "ci_low": best["ci_low"],
            "ci_high": best["ci_high"], "p_adjusted": best["p_adj"], "n": best["n"], "n_eff": best["n_eff"],
            "significant": best["significant"], "at_window_edge": best["at_edge"], "relation": best["relation"]}
    out = pd.DataFrame([row])
    out["best_lag_days"] = out["best_lag_days"].astype("Int32")
    out["n"] = out["n"].astype("int32")
    for col in ("r", "ci_low", "ci_high", "p_adjusted", "n_eff"):
        out[col] = out[col].astype("float64")
    return out


# ------------------------------------------------------------ Spark
def pair_rows(indicators: DataFrame, pairs: DataFrame) -> DataFrame:
    """Rows of each pair's two series: geo_level, geo_id, x_indicator, y_indicator, role, ds, value.

    ``pairs``: x_indicator, y_indicator."""
    cols = ["geo_level", "geo_id", "x_indicator", "y_indicator", "role", "ds", "value"]
    xs = indicators.join(pairs, indicators["indicator"] == pairs["x_indicator"]).withColumn("role", F.lit("x"))
    ys = indicators.join(pairs, indicators["indicator"] == pairs["y_indicator"]).withColumn("role", F.lit("y"))
    return xs.select(*cols).unionByName(ys.select(*cols))


def curves(rows: DataFrame, as_of: date, s: dict) -> DataFrame:
    return (rows.groupBy("geo_level", "geo_id", "x_indicator", "y_indicator")
            .applyInPandas(lambda pdf: group_curves(pdf, as_of, s), _schema(CURVES))
            .withColumn("ds", F.lit(as_of)))


def summaries(curve_rows: DataFrame, as_of: date, s: dict) -> DataFrame:
    return (curve_rows.drop("ds").groupBy(*CURVE_KEYS)
            .applyInPandas(lambda pdf: curve_summary(pdf, s), _schema(SUMMARY))
            .withColumn("ds", F.lit(as_of)))


def run(spark: SparkSession, cfg: dict, paths: Paths | None, ds: date) -> int:
    """Write partition ds of mart_lagcorr and mart_leadlag; returns the curve rows written."""
    s = settings(cfg)
    if not s["pairs"]:
        return 0
    names = sorted({n for p in s["pairs"] for n in p})
    ind = (read_table(spark, SOURCE, paths).where((F.col("ds") <= F.lit(ds)) & F.col("indicator").isin(names)
                                                 & F.col("geo_level").isin(s["levels"]))
           .select("ds", "geo_level", "geo_id", "indicator", "value"))
    pairs = spark.createDataFrame(s["pairs"], "x_indicator string, y_indicator string")
    c = curves(pair_rows(ind, pairs), ds, s).cache()
    try:
        n = c.count()
        if n == 0:
            return 0
        write_table(c, CURVES, paths)
        write_table(summaries(c, ds, s), SUMMARY, paths)
        return n
    finally:
        c.unpersist()


# ------------------------------------------------------------ end-of-run summary
def summary(paths: Paths | None, ds: date, top: int = 6) -> list[str]:
    """Top lead/lag findings of the city over the full period (significant, interior peaks)."""
    import duckdb

    path = table_path(SUMMARY, paths) / f"ds={ds.isoformat()}"
    if not path.exists():
        return ["lead/lag: no results for this day"]
    q = f"""
        select x_indicator, y_indicator, series_transform, method, best_lag_days, r, ci_low, ci_high, relation
        from read_parquet('{path}/*.parquet')
        where window_kind = 'full' and geo_level = 'city' and relation <> 'none'
          and method in ('pearson', 'spearman')
        order by abs(r) desc limit {int(top)}"""
    rows = duckdb.connect().execute(q).fetchall()
    if not rows:
        return ["lead/lag: no significant interior lead/lag at city level"]
    lines = ["lead/lag (city, full period; lag > 0: first leads):"]
    for x, y, t, m, k, r, lo, hi, rel in rows:
        ci = f" [{lo:.2f}, {hi:.2f}]" if lo is not None else ""
        lines.append(f"  {x} vs {y}: {k:+d} d, r={r:.2f}{ci} ({t}, {m})")
    return lines
