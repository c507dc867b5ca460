"""The window-function implementation of trajectories and hex-hour counts that the vectorised
per-partition pass (``jobs.aggregate.subscriber_pass``) replaced: kept here only as the
reference the equivalence tests compare the pass against (same rows, same values). Trips,
district trips, stay-put and the OD trips follow the stay rules, whose reference is
``stay_reference``."""

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from jobs.aggregate.cell_locations import res_col

KEY = ["ds", "operator", "subscriber_key"]
MAX_OSCILLATION_MINUTES = None     # any gap


def moves(located: DataFrame, dim: DataFrame, trip_res: int,
          max_oscillation_minutes: int | None = MAX_OSCILLATION_MINUTES) -> DataFrame:
    """Located events with their trip area, one-event oscillations removed."""
    w = Window.partitionBy(*KEY).orderBy("event_ts_utc", "loc_id")
    d = F.broadcast(dim.select("loc_id", F.col(res_col(trip_res)).alias("area"), "district", "x_km", "y_km"))
    ev = located.where(F.col("loc_id").isNotNull()).join(d, "loc_id")
    prev_area, next_area = F.lag("area").over(w), F.lead("area").over(w)
    gap_s = F.lead("event_ts_utc").over(w).cast("long") - F.lag("event_ts_utc").over(w).cast("long")
    oscillation = (prev_area == next_area) & (F.col("area") != prev_area)
    if max_oscillation_minutes is not None:
        oscillation = oscillation & (gap_s < 60 * max_oscillation_minutes)
    ev = ev.withColumn("_osc", F.coalesce(oscillation, F.lit(False))).where(~F.col("_osc")).drop("_osc")
    return (ev.withColumn("hop_km", F.hypot(F.col("x_km") - F.lag("x_km").over(w),
                                          F.col("y_km") - F.lag("y_km").over(w))))


def _modal(located: DataFrame, working_days: list, work_hours: tuple[int, int]) -> DataFrame:
    """Per subscriber-day: modal cell, and modal work-hours cell on working days."""
    lo, hi = work_hours
    in_work = F.col("ds").isin(working_days) & (F.col("hour") >= lo) & (F.col("hour") < hi)
    per_loc = (located.where(F.col("loc_id").isNotNull())
               .groupBy(*KEY, "loc_id")
               .agg(F.count(F.lit(1)).alias("n"), F.sum(in_work.cast("int")).alias("n_work"),
                    F.max("event_ts_utc").alias("last_ts")))
    return per_loc.groupBy(*KEY).agg(
        F.max_by("loc_id", F.struct("n", "last_ts")).alias("modal_loc"),
        F.max_by(F.when(F.col("n_work") > 0, F.col("loc_id")),
                 F.when(F.col("n_work") > 0, F.struct("n_work", "last_ts"))).alias("day_loc"))


def subscriber_days(located: DataFrame, mv: DataFrame, dim: DataFrame, working_days: list,
                    night_hours: tuple[int, int], work_hours: tuple[int, int], fine_res: int) -> DataFrame:
    """Located events (all of them, unlocated included) and their ``moves`` -> private_trajectories
    rows but trips, district_trips and stay_put."""
    n_lo, n_hi = night_hours
    counts = located.groupBy(*KEY).agg(F.count(F.lit(1)).alias("events"),
                                       F.count("loc_id").alias("located_events"))
    night = (F.col("hour") >= n_lo) & (F.col("hour") < n_hi)
    metrics = mv.groupBy(*KEY).agg(
        F.count_distinct("loc_id").alias("distinct_h3_cells"),
        F.coalesce(F.sum("hop_km"), F.lit(0.0)).alias("km_travelled"),
        F.sqrt(F.greatest(F.lit(0.0), F.avg(F.col("x_km") ** 2 + F.col("y_km") ** 2)
                          - F.avg("x_km") ** 2 - F.avg("y_km") ** 2)).alias("radius_gyration_km"),
        F.min_by("loc_id", F.struct("event_ts_utc", "loc_id")).alias("first_loc"),
        F.max_by("loc_id", F.struct("event_ts_utc", "loc_id")).alias("last_loc"),
        F.max_by(F.when(night, F.col("loc_id")), F.when(night, F.struct("event_ts_utc", "loc_id"))).alias("night_loc"))
    out = (counts.join(metrics, KEY, "left").join(_modal(located, working_days, work_hours), KEY, "left"))
    cells = dim.select("loc_id", F.col(res_col(fine_res)).alias("h3"), "district")
    for name in ("first", "last", "night", "day", "modal"):
        c = F.broadcast(cells.select(F.col("loc_id").alias(f"{name}_loc"),
                                     F.col("h3").alias(f"{name}_h3_cell"),
                                     F.col("district").alias(f"{name}_district")))
        out = out.join(c, f"{name}_loc", "left")
    located_any = F.col("located_events") > 0
    return out.select(
        *KEY, F.col("events").cast("int").alias("events"),
        F.col("located_events").cast("int").alias("located_events"),
        F.coalesce(F.col("distinct_h3_cells"), F.lit(0)).cast("int").alias("distinct_h3_cells"),
        F.when(located_any, F.col("radius_gyration_km")).alias("radius_gyration_km"),
        F.when(located_any, F.col("km_travelled")).alias("km_travelled"),
        "first_h3_cell", "last_h3_cell", "night_h3_cell", "day_h3_cell", "modal_h3_cell",
        F.coalesce(F.col("night_district"), F.col("modal_district")).alias("main_district"))


SUB_HOUR = ["ds", "hour", "operator", "subscriber_key"]


def subscriber_hours(located: DataFrame) -> DataFrame:
    """Located events -> one row per (ds, hour, operator, subscriber_key, loc_id) with events."""
    return (located.where(F.col("loc_id").isNotNull())
            .groupBy(*SUB_HOUR, "loc_id").agg(F.count(F.lit(1)).alias("events")))


def hex_hour_counts(sub_hours: DataFrame, homes: DataFrame, dim: DataFrame,
                    resolutions: list[int]) -> DataFrame:
    """-> ds, hour, operator, resolution, h3_cell, subscribers, residents, events."""
    home_loc = F.broadcast(dim.select(F.col("loc_id").alias("home_loc"),
                                      F.col(res_col(max(resolutions))).alias("home_h3_cell")))
    with_home = (sub_hours.join(homes, ["ds", "operator", "subscriber_key"], "left")
                 .join(home_loc, "home_h3_cell", "left"))
    parts = []
    for res in sorted(resolutions, reverse=True):
        cells = F.broadcast(dim.select("loc_id", F.col(res_col(res)).alias("h3_cell")))
        home_cells = F.broadcast(dim.select(F.col("loc_id").alias("home_loc"),
                                            F.col(res_col(res)).alias("home_cell")))
        x = with_home.join(cells, "loc_id").join(home_cells, "home_loc", "left")
        per_sub = (x.groupBy(*SUB_HOUR, "h3_cell")
                   .agg(F.sum("events").alias("events"),
                        F.max(F.coalesce(F.col("home_cell") == F.col("h3_cell"), F.lit(False)).cast("int"))
                        .alias("resident")))
        parts.append(per_sub.groupBy("ds", "hour", "operator", "h3_cell")
                     .agg(F.count(F.lit(1)).alias("subscribers"), F.sum("resident").alias("residents"),
                          F.sum("events").alias("events"))
                     .withColumn("resolution", F.lit(int(res))))
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out
