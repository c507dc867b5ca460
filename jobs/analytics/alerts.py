"""mart_alerts: early warning on respiratory ambulance calls and antipyretic/cough pharmacy receipts.

Reads mart_indicator_daily (the monitored indicators of the city config's ``alerts:`` section,
city and district level, raw daily values, all history up to the day); writes mart_alerts, one
``ds`` partition per day asked for. Grain: (ds, geo_level, geo_id, indicator, method).

Methods (``jobs.analytics.detectors``): EARS C1, C2, C3 and EWMA on a 28-day moving baseline
(C2, C3 and EWMA behind a 2-day guard band), and a Farrington-style comparison with the same
time of past years where a year of history exists (otherwise the row says so in ``note`` and has
no expectation). One row per method and day with a value, also when nothing is raised. Each
series runs in its own pandas task (Spark groupBy + applyInPandas). Every detector only looks
back, so ``run_days`` over a range writes the same rows as ``run`` day by day; ``run(ds)``
rewrites the last ``alerts.history_days`` partitions up to ds (the recent alert history).
"""

from datetime import date, timedelta

import duckdb
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.analytics.detectors import detect
from jobs.common.config import Paths
from jobs.common.contracts import load_contract
from jobs.common.lake import read_table, table_path, write_table

TABLE = "mart_alerts"
SOURCE = "mart_indicator_daily"
DEFAULT_INDICATORS = ("ambulance_calls_respiratory_fever", "pharmacy_receipts_antipyretic",
                      "pharmacy_receipts_cough_cold")
OUT_SCHEMA = ("ds date, geo_level string, geo_id string, indicator string, method string, observed double, "
              "expected double, threshold double, score double, baseline_days int, alert_level string, "
              "note string")


def settings(cfg: dict) -> dict:
    """The ``alerts:`` section of the city config (defaults where it is silent)."""
    s = dict(cfg.get("alerts", {}))
    s.setdefault("indicators", list(DEFAULT_INDICATORS))
    s.setdefault("geo_levels", ["city", "district"])
    return s


def detect_group(pdf: pd.DataFrame, s: dict, first: date | None = None) -> pd.DataFrame:
    """One (geo_level, geo_id, indicator) series -> its mart rows from ``first`` on."""
    key = pdf.iloc[0]
    series = pd.Series(pdf["value"].to_numpy(dtype=float), index=pd.to_datetime(pdf["ds"]))
    out = detect(series, s)
    if first is not None:
        out = out[out["day"] >= pd.Timestamp(first)]
    out = out.assign(ds=out["day"].dt.date, geo_level=key["geo_level"], geo_id=key["geo_id"],
                     indicator=key["indicator"])
    out["note"] = out["note"].astype(object).where(out["note"] != "", None)
    out["baseline_days"] = out["baseline_days"].astype("int32")
    return out[["ds", "geo_level", "geo_id", "indicator", "method", "observed", "expected", "threshold",
                "score", "baseline_days", "alert_level", "note"]]


def alerts(indicators: DataFrame, s: dict, first: date) -> DataFrame:
    """mart_indicator_daily rows (history included) -> mart_alerts rows for days >= ``first``."""
    rows = (indicators.where(F.col("indicator").isin(list(s["indicators"])))
            .where(F.col("geo_level").isin(list(s["geo_levels"])))
            .select("ds", "geo_level", "geo_id", "indicator", "value"))
    return (rows.groupBy("geo_level", "geo_id", "indicator")
            .applyInPandas(lambda pdf: detect_group(pdf.sort_values("ds"), s, first), OUT_SCHEMA))


def run_days(spark: SparkSession, cfg: dict, paths: Paths | None, days: list[date]) -> int:
    """Write the partitions of ``days`` (each day judged on the history up to it); rows written."""
    if not days:
        return 0
    s = settings(cfg)
    source = read_table(spark, SOURCE, paths).where(F.col("ds") <= max(days))
    out = alerts(source, s, min(days)).where(F.col("ds").isin(sorted(set(days)))).cache()
    write_table(out, TABLE, paths)
    n = out.count()
    out.unpersist()
    return n


def run(spark: SparkSession, cfg: dict, paths: Paths | None, ds: date) -> int:
    """mart_alerts as of ``ds``: the partitions of ds and the ``alerts.history_days`` - 1 days
    before it (default 28 days in all), so the recent alert history is there after a range run;
    each day's rows only use data up to that day, so rewriting them changes nothing unless late
    data arrived."""
    n = max(int(settings(cfg).get("history_days", 28)), 1)
    return run_days(spark, cfg, paths, [ds - timedelta(days=i) for i in range(n)])


def summary(paths: Paths | None, ds: date) -> list[str]:
    """Alerts active on ``ds`` (watch/warning), counted by method, and the strongest ones."""
    path = table_path(load_contract(TABLE), paths) / f"ds={ds.isoformat()}"
    if not path.exists():
        return [f"alerts: none computed for {ds}"]
    con = duckdb.connect()
    rows = con.execute(
        "select geo_id, indicator, method, alert_level, observed, threshold from read_parquet(?) "
        "where alert_level <> 'none' order by alert_level = 'warning' desc, score desc nulls last",
        [str(path / "*.parquet")]).fetchall()
    total = con.execute("select count(*) from read_parquet(?)", [str(path / "*.parquet")]).fetchone()[0]
    if not rows:
        return [f"alerts on {ds}: none raised ({total} checks)"]
    lines = [f"alerts on {ds}: {len(rows)} raised of {total} checks "
             f"({sum(r[3] == 'warning' for r in rows)} warnings)"]
    for geo, ind, method, level, obs, thr in rows[:5]:
        why = "held by the 2 days before" if thr is None else f"> {thr:.1f}"
        lines.append(f"  {level:<7} {geo:<10} {ind} [{method}]: {obs:.0f} {why}")
    return lines
