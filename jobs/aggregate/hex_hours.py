"""Per-operator counts per H3 cell and local hour: the shared core of agg_presence__h3_hour and
agg_visitors__h3_hour.

Reads nothing; pure DataFrame functions. Input: located events hash-partitioned by subscriber
(``located_events.by_subscriber``) and each subscriber's home as known on the day
(``homes.homes_to_date``). Grain of the output: (ds, hour, operator, resolution, h3_cell).

A subscriber is *present* in a cell in an hour when at least one of their events that hour is
located in it (the World Bank / FlowKit unique-subscribers indicator), at each resolution
separately (distinct counts do not add up across children). A present subscriber is a
*resident* of the cell when their home lies in it at that resolution, a *visitor* otherwise
(unknown home: visitor). Because rows are partitioned by subscriber, the first aggregation
(per subscriber, hour and cell) needs no shuffle of events, and the second one sums
per-partition counts of distinct subscribers, which is exact.
"""

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.aggregate.cell_locations import res_col

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


def fuse(counts: DataFrame, cells: DataFrame, factors: DataFrame) -> DataFrame:
    """Per-operator hex-hour counts -> all operators per (ds, hour, resolution, h3_cell) with
    district, subscribers, people_est, residents, residents_est, visitors, visitors_est, events."""
    from jobs.aggregate.fusion import estimate
    c = counts.join(F.broadcast(cells.select("h3_cell", "district")), "h3_cell")
    c = estimate(c, factors, ["ds"], {"subscribers": "people_est", "residents": "residents_est"})
    return (c.groupBy("ds", "hour", "resolution", "h3_cell", "district")
            .agg(F.sum("subscribers").alias("subscribers"), F.sum("people_est").alias("people_est"),
                 F.sum("residents").alias("residents"), F.sum("residents_est").alias("residents_est"),
                 F.sum("events").alias("events"))
            .withColumn("visitors", F.col("subscribers") - F.col("residents"))
            .withColumn("visitors_est", F.col("people_est") - F.col("residents_est")))
