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

from jobs.aggregate import subscriber_pass


def hex_hour_counts(located: DataFrame, homes: DataFrame, dim: DataFrame, resolutions: list[int],
                    partitions: int) -> DataFrame:
    """Located events (``by_subscriber`` into ``partitions``) and homes (ds, operator,
    subscriber_key, home_h3_cell) -> ds, hour, operator, resolution, h3_cell, subscribers,
    residents, events. Distinct subscribers per partition (one vectorised pass), then summed."""
    partials = subscriber_pass.partial_hex_hours(located, homes, dim, resolutions, partitions)
    return subscriber_pass.hex_hour_counts(partials)


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
