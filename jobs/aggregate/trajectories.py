"""private_trajectories__subscriber_day: one row per subscriber and day, the daily movement of
each subscriber as the network saw it. Subscriber-level: stays under ``private/``, never published.

Reads located events (``jobs.aggregate.located_events``) and the location dimension
(``jobs.aggregate.cell_locations.location_dim``, broadcast). Grain: (ds, operator, subscriber_key).

Definitions (the field's standard ones, DESIGN.md section 5):
- the located events of a subscriber-day in time order form a sequence of areas (cells at the
  map resolution, ``trip_res``); a *trip* is a change of area between consecutive located
  events, a *district trip* a change of district. A single event in another area between two
  events in the same area (A -> B -> A) is read as a handover oscillation between neighbouring
  cells (a subscriber at rest is served now and then by the second-best cell) and left out of
  the sequence, not counted as two trips; ``max_oscillation_minutes`` can limit the rule to
  short excursions. On the synthetic city this brings trips per person within a few percent
  of the true count; without it, oscillations double the trips of people at rest.
- radius of gyration: root-mean-square distance of the located events from their centroid (km);
  km travelled: summed distance between consecutive locations (cell centres);
- stay-put: the day's located events in a single area, up to handover noise: oscillations left
  out, a first or last event in another area than its neighbour left out, and at most
  ``STAY_PUT_TOLERANCE`` (10 %) of the rest elsewhere (two consecutive events on the second-best
  cell happen to people at rest all day long with dense records);
- night cell: location of the last event in the night hours (``timeline.night_hours``);
  day cell: modal location in the work hours (``timeline.work_hours``) of a working day;
  modal cell: the day's most frequent location (ties: the latest) — the inputs of home and
  work detection.
Subscribers whose events of the day are all unlocated get a row with located_events = 0 and
null locations (they are counted, never dropped).
"""

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from jobs.aggregate.cell_locations import res_col

KEY = ["ds", "operator", "subscriber_key"]
MAX_OSCILLATION_MINUTES = None     # any gap
STAY_PUT_TOLERANCE = 0.1


def moves(located: DataFrame, dim: DataFrame, trip_res: int,
          max_oscillation_minutes: int | None = MAX_OSCILLATION_MINUTES) -> DataFrame:
    """Located events with their trip area and the previous one, oscillations removed."""
    w = Window.partitionBy(*KEY).orderBy("event_ts_utc", "loc_id")
    d = F.broadcast(dim.select("loc_id", F.col(res_col(trip_res)).alias("area"), "district", "x_km", "y_km"))
    ev = located.where(F.col("loc_id").isNotNull()).join(d, "loc_id")
    prev_area, next_area = F.lag("area").over(w), F.lead("area").over(w)
    gap_s = F.lead("event_ts_utc").over(w).cast("long") - F.lag("event_ts_utc").over(w).cast("long")
    oscillation = (prev_area == next_area) & (F.col("area") != prev_area)
    if max_oscillation_minutes is not None:
        oscillation = oscillation & (gap_s < 60 * max_oscillation_minutes)
    ev = ev.withColumn("_osc", F.coalesce(oscillation, F.lit(False))).where(~F.col("_osc")).drop("_osc")
    return (ev.withColumn("prev_area", F.lag("area").over(w))
            .withColumn("prev_district", F.lag("district").over(w))
            .withColumn("hop_km", F.hypot(F.col("x_km") - F.lag("x_km").over(w),
                                          F.col("y_km") - F.lag("y_km").over(w))))


def _stay_put(mv: DataFrame, tolerance: float = STAY_PUT_TOLERANCE) -> DataFrame:
    """Per subscriber-day: at_rest, the stay-put rule of the module docstring."""
    w = Window.partitionBy(*KEY).orderBy("event_ts_utc", "loc_id")
    nxt, n = F.lead("area").over(w), F.count(F.lit(1)).over(Window.partitionBy(*KEY))
    edge = (n > 2) & ((F.col("prev_area").isNull() & (F.col("area") != nxt))
                      | (nxt.isNull() & (F.col("area") != F.col("prev_area"))))
    core = mv.withColumn("_edge", F.coalesce(edge, F.lit(False))).where(~F.col("_edge"))
    per_area = core.groupBy(*KEY, "area").agg(F.count(F.lit(1)).alias("n"))
    return per_area.groupBy(*KEY).agg(
        ((F.sum("n") - F.max("n")) <= F.lit(tolerance) * F.sum("n")).alias("at_rest"))


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
    """Located events (all of them, unlocated included) and their ``moves`` -> private_trajectories rows."""
    n_lo, n_hi = night_hours
    counts = located.groupBy(*KEY).agg(F.count(F.lit(1)).alias("events"),
                                       F.count("loc_id").alias("located_events"))
    night = (F.col("hour") >= n_lo) & (F.col("hour") < n_hi)
    metrics = mv.groupBy(*KEY).agg(
        F.sum((F.col("prev_area").isNotNull() & (F.col("area") != F.col("prev_area"))).cast("int")).alias("trips"),
        F.sum((F.col("prev_district").isNotNull() & (F.col("district") != F.col("prev_district"))).cast("int"))
        .alias("district_trips"),
        F.count_distinct("loc_id").alias("distinct_h3_cells"),
        F.coalesce(F.sum("hop_km"), F.lit(0.0)).alias("km_travelled"),
        F.sqrt(F.greatest(F.lit(0.0), F.avg(F.col("x_km") ** 2 + F.col("y_km") ** 2)
                          - F.avg("x_km") ** 2 - F.avg("y_km") ** 2)).alias("radius_gyration_km"),
        F.min_by("loc_id", F.struct("event_ts_utc", "loc_id")).alias("first_loc"),
        F.max_by("loc_id", F.struct("event_ts_utc", "loc_id")).alias("last_loc"),
        F.max_by(F.when(night, F.col("loc_id")), F.when(night, F.struct("event_ts_utc", "loc_id"))).alias("night_loc"))
    out = (counts.join(metrics, KEY, "left").join(_stay_put(mv), KEY, "left")
           .join(_modal(located, working_days, work_hours), KEY, "left"))
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
        F.coalesce(F.col("trips"), F.lit(0)).cast("int").alias("trips"),
        F.coalesce(F.col("district_trips"), F.lit(0)).cast("int").alias("district_trips"),
        F.when(located_any, F.col("radius_gyration_km")).alias("radius_gyration_km"),
        F.when(located_any, F.col("km_travelled")).alias("km_travelled"),
        (located_any & F.coalesce(F.col("at_rest"), F.lit(False))).alias("stay_put"),
        "first_h3_cell", "last_h3_cell", "night_h3_cell", "day_h3_cell", "modal_h3_cell",
        F.coalesce(F.col("night_district"), F.col("modal_district")).alias("main_district"))
