"""mart_restriction_impact: effect of each restriction on mobility (interrupted time series).

Reads stg_restrictions__restrictions (the latest list delivered on or before ds) and
mart_indicator_daily (the mobility indicators of the city config's ``impact:`` section, every
geography, all history up to ds); writes partition ds of mart_restriction_impact.
Grain: (ds, restriction_id, geo_level, geo_id, indicator).

For every restriction that started on or before ds and every geography it covers (a city-wide
restriction covers every geography, a district-scoped one its districts), a segmented regression
(``jobs.analytics.its``) around the restriction's start: weekday and holiday effects, level and
trend change, Newey-West (HAC) confidence intervals. The pre window stops at the end of the
previous restriction in force for that geography, the post window at the restriction's end, the
next restriction's start or ds. Effects are in percent of the counterfactual for counts and
means, in percentage points for shares, in index points for the mobility index; a percent
effect and its CI are truncated at -100 % (with a note). Each series is one pandas task (Spark
groupBy + applyInPandas).
"""

from datetime import date, timedelta

import duckdb
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.analytics.its import Window, segmented_fit
from jobs.common.calendar import is_working_day
from jobs.common.config import Paths
from jobs.common.contracts import load_contract
from jobs.common.lake import read_table, table_path, write_table

TABLE = "mart_restriction_impact"
SOURCE = "mart_indicator_daily"
RESTRICTIONS = "stg_restrictions__restrictions"
METHOD = "segmented_regression"
DEFAULT_INDICATORS = ("mobility_trips_per_person", "mobility_stay_put_share", "mobility_km_travelled_per_person",
                      "mobility_radius_gyration_km_median", "mobility_trips_per_person_change_pct")
OUT_SCHEMA = ("restriction_id string, geo_level string, geo_id string, indicator string, effect_pct double, "
              "ci_low_pct double, ci_high_pct double, effect_unit string, p_value double, "
              "slope_change_per_day double, counterfactual double, pre_days int, post_days int, note string")


def settings(cfg: dict) -> dict:
    s = dict(cfg.get("impact", {}))
    s.setdefault("indicators", list(DEFAULT_INDICATORS))
    s.setdefault("geo_levels", ["city", "zone_type", "district"])
    return s


def window(s: dict) -> Window:
    return Window(pre_max=int(s.get("pre_days_max", 84)), post_max=int(s.get("post_days_max", 56)),
                  min_pre=int(s.get("min_pre_days", 21)), min_post=int(s.get("min_post_days", 14)),
                  hac_lags=int(s.get("hac_lags", 7)))


def effect_scale(indicator: str, unit: str) -> str:
    """'pp' for shares, 'points' for indices already in percent, else 'percent'."""
    if unit == "share" or indicator.endswith("_share"):
        return "pp"
    if unit == "percent" or indicator.endswith("_change_pct"):
        return "points"
    return "percent"


def covers(scope: str, geo_level: str, geo_id: str) -> bool:
    """Whether a restriction of ``scope`` ('city' or comma-separated districts) covers the geography."""
    if scope.strip().lower() == "city":
        return True
    return geo_level == "district" and geo_id in {p.strip() for p in scope.split(",")}


def impact_group(pdf: pd.DataFrame, restrictions: list[dict], ds: date, w: Window,
                 holidays: frozenset) -> pd.DataFrame:
    """One (geo_level, geo_id, indicator) series -> one row per restriction covering it."""
    key = pdf.iloc[0]
    y = pd.Series(pdf["value"].to_numpy(dtype=float), index=pd.to_datetime(pdf["ds"]))
    unit = str(pdf["unit"].dropna().iloc[0]) if pdf["unit"].notna().any() else ""
    scale = effect_scale(key["indicator"], unit)
    mine = sorted((r for r in restrictions if covers(r["scope"], key["geo_level"], key["geo_id"])),
                  key=lambda r: r["start_date"])
    rows = []
    for i, r in enumerate(mine):
        earlier = [m["end_date"] or m["start_date"] for m in mine[:i]]
        pre_from = (max(earlier) + timedelta(days=1)) if earlier else None
        later = [m["start_date"] for m in mine[i + 1:]]
        post_to = min([d - timedelta(days=1) for d in later] + ([r["end_date"]] if r["end_date"] else []),
                      default=None)
        fit = segmented_fit(y, r["start_date"], ds, w, scale, holidays, pre_from, post_to)
        effect, low, high, note = fit.effect, fit.ci_low, fit.ci_high, fit.note or None
        if scale == "percent" and low is not None and low < -100.0:
            # the indicators are counts and means: none can fall by more than all of it
            effect, low = max(effect, -100.0), -100.0
            note = "; ".join(filter(None, [note, "CI truncated at -100 % (the indicator cannot fall below zero)"]))
        rows.append({"restriction_id": r["restriction_id"], "geo_level": key["geo_level"],
                     "geo_id": key["geo_id"], "indicator": key["indicator"], "effect_pct": effect,
                     "ci_low_pct": low, "ci_high_pct": high,
                     "effect_unit": {"pp": "pp", "points": "index_points"}.get(scale, "percent"),
                     "p_value": fit.p_value, "slope_change_per_day": fit.slope_change,
                     "counterfactual": fit.counterfactual, "pre_days": fit.pre_days,
                     "post_days": fit.post_days, "note": note})
    cols = [c.split(" ")[0] for c in OUT_SCHEMA.split(", ")]
    out = pd.DataFrame(rows, columns=cols)
    return out.astype({"pre_days": "int32", "post_days": "int32"})


def latest_restrictions(spark: SparkSession, paths: Paths | None, ds: date) -> list[dict]:
    """The restriction list as delivered last on or before ds, restrictions started by ds."""
    r = read_table(spark, RESTRICTIONS, paths).where(F.col("ds") <= ds)
    last = r.agg(F.max("ds")).first()[0]
    if last is None:
        return []
    rows = r.where((F.col("ds") == last) & (F.col("start_date") <= ds)).collect()
    return [{k: row[k] for k in ("restriction_id", "start_date", "end_date", "scope", "measure", "stringency")}
            for row in rows]


def impact(indicators: DataFrame, restrictions: list[dict], ds: date, s: dict, holidays: frozenset) -> DataFrame:
    """mart_indicator_daily rows -> mart_restriction_impact rows as of ds."""
    w = window(s)
    rows = (indicators.where(F.col("indicator").isin(list(s["indicators"])))
            .where(F.col("geo_level").isin(list(s["geo_levels"])))
            .where(F.col("ds") <= ds)
            .select("ds", "geo_level", "geo_id", "indicator", "value", "unit"))
    fits = rows.groupBy("geo_level", "geo_id", "indicator").applyInPandas(
        lambda pdf: impact_group(pdf.sort_values("ds"), restrictions, ds, w, holidays), OUT_SCHEMA)
    meta = indicators.sparkSession.createDataFrame(
        [(r["restriction_id"], r["measure"], r["start_date"], r["end_date"], float(r["stringency"]))
         for r in restrictions],
        "restriction_id string, measure string, start_date date, end_date date, stringency double")
    return (fits.join(F.broadcast(meta), "restriction_id")
            .withColumn("ds", F.lit(ds).cast("date")).withColumn("method", F.lit(METHOD)))


def holidays_for(cfg: dict, first: date, last: date) -> frozenset:
    """Public holidays falling on weekdays between first and last (the city's calendar)."""
    days = (first + timedelta(days=n) for n in range((last - first).days + 1))
    return frozenset(d for d in days if d.weekday() < 5 and not is_working_day(cfg, d))


def run(spark: SparkSession, cfg: dict, paths: Paths | None, ds: date) -> int:
    """mart_restriction_impact as of ``ds``; rows written."""
    s = settings(cfg)
    restrictions = latest_restrictions(spark, paths, ds)
    if not restrictions:
        return 0
    first = min(r["start_date"] for r in restrictions) - timedelta(days=window(s).pre_max)
    out = impact(read_table(spark, SOURCE, paths).where(F.col("ds") >= first), restrictions, ds, s,
                 holidays_for(cfg, first, ds)).cache()
    write_table(out, TABLE, paths)
    n = out.count()
    out.unpersist()
    return n


def summary(paths: Paths | None, ds: date) -> list[str]:
    """The largest city-level effects of each restriction as of ds."""
    path = table_path(load_contract(TABLE), paths) / f"ds={ds.isoformat()}"
    if not path.exists():
        return [f"restriction impact: none computed for {ds}"]
    rows = duckdb.connect().execute(
        "select restriction_id, measure, indicator, effect_pct, ci_low_pct, ci_high_pct, effect_unit "
        "from read_parquet(?) where geo_level = 'city' and effect_pct is not null "
        "order by restriction_id, abs(effect_pct) desc", [str(path / "*.parquet")]).fetchall()
    if not rows:
        return [f"restriction impact as of {ds}: no restriction with enough data around its start"]
    lines = [f"restriction impact as of {ds} (city, segmented regression, 95% HAC CI):"]
    shown: dict = {}
    for rid, measure, ind, eff, lo, hi, unit in rows:
        if shown.get(rid, 0) >= 3:
            continue
        shown[rid] = shown.get(rid, 0) + 1
        u = {"percent": "%", "pp": " pp", "index_points": " pts"}[unit]
        lines.append(f"  {rid} {measure}: {ind} {eff:+.1f}{u} [{lo:+.1f}, {hi:+.1f}]")
    return lines
