"""mart_mobility_index: mobility against normal times, like Google's Community Mobility Reports.

Reads ``agg_mobility__district_day`` for the days asked for and for the baseline period
(``timeline.baseline_start`` .. ``baseline_end`` in the city config; Google used 3 Jan - 6 Feb
2020); writes ``mart_mobility_index`` (partition ds). Grain: (ds, geo_level, geo_id).
For each measure: baseline = median of the same ISO weekday over the baseline days (published
rows only), change_pct = 100 * (value - baseline) / baseline. Days whose weekday has no baseline
day, and suppressed rows, get null changes (never a made-up zero).
"""

from datetime import date, timedelta

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common.config import Paths
from jobs.common.lake import read_table, write_table

TABLE = "mart_mobility_index"
SOURCE = "agg_mobility__district_day"
MEASURES = {"trips_per_person": "trips_per_person_change_pct",
            "radius_gyration_km_median": "radius_gyration_change_pct",
            "stay_put_share": "stay_put_share_change_pct",
            "km_travelled_per_person": "km_travelled_change_pct"}


def iso_weekday(col: str = "ds"):
    return ((F.dayofweek(col) + 5) % 7 + 1).cast("int")


def baseline_medians(baseline_rows: DataFrame) -> DataFrame:
    """geo_level, geo_id, weekday, <measure>_baseline (median over the baseline days)."""
    b = baseline_rows.where(~F.col("suppressed")).withColumn("weekday", iso_weekday())
    return (b.groupBy("geo_level", F.col("district").alias("geo_id"), "weekday")
            .agg(*[F.median(m).alias(f"{m}_baseline") for m in MEASURES]))


def mobility_index(rows: DataFrame, baseline_rows: DataFrame, baseline_start: date, baseline_end: date) -> DataFrame:
    base = baseline_medians(baseline_rows)
    x = (rows.withColumn("weekday", iso_weekday()).withColumnRenamed("district", "geo_id")
         .join(base, ["geo_level", "geo_id", "weekday"], "left"))
    changes = [(100 * (F.col(m) - F.col(f"{m}_baseline")) / F.col(f"{m}_baseline")).alias(c)
               for m, c in MEASURES.items()]
    cols = [c for m in MEASURES for c in (m, f"{m}_baseline")]
    return x.select("ds", "geo_level", "geo_id", "weekday",
                    F.lit(baseline_start).cast("date").alias("baseline_start"),
                    F.lit(baseline_end).cast("date").alias("baseline_end"),
                    "people_est", *cols, *changes, "suppressed")


def baseline_period(cfg: dict) -> tuple[date, date]:
    t = cfg.get("timeline", {})
    return date.fromisoformat(str(t["baseline_start"])), date.fromisoformat(str(t["baseline_end"]))


def run(spark: SparkSession, cfg: dict, paths: Paths | None, days: list[date]) -> int:
    start, end = baseline_period(cfg)
    base_days = [start + timedelta(n) for n in range((end - start).days + 1)]
    rows = read_table(spark, SOURCE, paths, ds=days)
    out = mobility_index(rows, read_table(spark, SOURCE, paths, ds=base_days), start, end).cache()
    write_table(out, TABLE, paths)
    n = out.count()
    out.unpersist()
    return n
