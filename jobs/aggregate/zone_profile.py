"""mart_zone_profile: the observed zone type of every H3 cell from day and night presence.

Reads ``agg_presence__h3_hour`` and ``agg_residents__h3_month`` over a period (by default the
city's baseline period: normal times) and ``geo_h3_cells``; writes ``mart_zone_profile``
(unpartitioned, replaced whole). Grain: one row per cell of every configured resolution.

- day_people_est: mean estimated people over the working-day work hours of the period;
  night_people_est: mean over the night hours of every day. A cell-hour without a row had
  nobody present (0); a suppressed cell-hour is unknown and left out of the mean. When fewer
  than ``zones.min_published_hours`` of the hours are known, the figure is withheld.
- zone type (thresholds under ``zones`` in the city config): outskirts when day and night
  densities are both below ``outskirts_people_per_km2``; else business centre when
  day/night >= ``business_day_night_ratio``; residential when <= ``residential_day_night_ratio``;
  mixed in between. Cells whose day or night figure is withheld are not classified (null type).
- residents_est / workers_est: means of the published monthly figures over the months of the period.
"""

from datetime import date, timedelta

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common import calendar
from jobs.common.config import Paths
from jobs.common.lake import read_table, write_table

TABLE = "mart_zone_profile"


def _mean_people(presence: DataFrame, days: list[date], hours: tuple[int, int], min_published: float) -> DataFrame:
    lo, hi = hours
    expected = len(days) * (hi - lo)
    p = presence.where(F.col("ds").isin(days) & (F.col("hour") >= lo) & (F.col("hour") < hi))
    g = p.groupBy("h3_cell").agg(F.sum(F.when(~F.col("suppressed"), F.col("people_est"))).alias("s"),
                                 F.sum(F.col("suppressed").cast("int")).alias("withheld"))
    known = F.lit(expected) - F.col("withheld")
    return g.select("h3_cell", F.when((expected > 0) & (known >= min_published * expected),
                                      F.coalesce("s", F.lit(0.0)) / known).alias("people"),
                    F.lit(True).alias("rows"))


def zone_profile(presence: DataFrame, resident_rows: DataFrame, cells: DataFrame, days: list[date],
                 working_days: list[date], night: tuple[int, int], work: tuple[int, int], zones: dict) -> DataFrame:
    m = float(zones.get("min_published_hours", 0.5))
    day = (_mean_people(presence, working_days, work, m)
           .withColumnRenamed("people", "day_people_est").withColumnRenamed("rows", "_day_rows"))
    nig = (_mean_people(presence, days, night, m)
           .withColumnRenamed("people", "night_people_est").withColumnRenamed("rows", "_night_rows"))
    res = (resident_rows.groupBy("h3_cell")
           .agg(F.avg(F.when(~F.col("residents_suppressed"), F.col("residents_est"))).alias("residents_est"),
                F.avg(F.when(~F.col("workers_suppressed"), F.col("workers_est"))).alias("workers_est")))
    x = (cells.select("h3_cell", "resolution", "district", F.col("zone_type").alias("district_zone_type"), "area_km2")
         .join(day, "h3_cell", "left").join(nig, "h3_cell", "left").join(res, "h3_cell", "left"))
    no_one = F.lit(0.0)
    for c, period in (("day", working_days), ("night", days)):   # no row at all: nobody present
        x = x.withColumn(f"{c}_people_est", F.when(F.col(f"_{c}_rows").isNull() & F.lit(bool(period)), no_one)
                         .otherwise(F.col(f"{c}_people_est")))
    ratio = F.col("day_people_est") / F.col("night_people_est")
    dense = F.greatest(F.col("day_people_est"), F.col("night_people_est")) / F.col("area_km2")
    known = F.col("day_people_est").isNotNull() & F.col("night_people_est").isNotNull()
    zone = (F.when(~known, None)
            .when(dense < float(zones["outskirts_people_per_km2"]), "outskirts")
            .when(F.col("night_people_est") <= no_one, "business_centre")
            .when(ratio >= float(zones["business_day_night_ratio"]), "business_centre")
            .when(ratio <= float(zones["residential_day_night_ratio"]), "residential")
            .otherwise("mixed"))
    return x.select(
        "h3_cell", F.col("resolution").cast("int"), "district", "district_zone_type", zone.alias("zone_type"),
        "day_people_est", "night_people_est",
        F.when(F.col("night_people_est") > 0, ratio).alias("day_night_ratio"),
        "residents_est", "workers_est",
        F.when(F.col("residents_est") > 0, F.col("workers_est") / F.col("residents_est")).alias("workers_per_resident"),
        F.lit(min(days)).cast("date").alias("period_start"), F.lit(max(days)).cast("date").alias("period_end"),
        (~known | F.col("residents_est").isNull() | F.col("workers_est").isNull()).alias("suppressed"))


def run(spark: SparkSession, cfg: dict, paths: Paths | None, start: date | None = None, end: date | None = None) -> int:
    t = cfg.get("timeline", {})
    start = start or date.fromisoformat(str(t["baseline_start"]))
    end = end or date.fromisoformat(str(t["baseline_end"]))
    days = [start + timedelta(n) for n in range((end - start).days + 1)]
    presence = read_table(spark, "agg_presence__h3_hour", paths, ds=days)
    seen = sorted(r[0] for r in presence.select("ds").distinct().collect())
    if not seen:
        raise ValueError(f"agg_presence__h3_hour: no days between {start} and {end} to profile")
    months = sorted({d.replace(day=1) for d in seen})
    residents = read_table(spark, "agg_residents__h3_month", paths).where(F.col("month").isin(months))
    out = zone_profile(presence, residents, read_table(spark, "geo_h3_cells", paths), seen,
                       [d for d in seen if calendar.is_working_day(cfg, d)], calendar.night_hours(cfg),
                       calendar.work_hours(cfg), cfg["zones"]).cache()
    write_table(out, TABLE, paths)
    n = out.count()
    out.unpersist()
    return n
