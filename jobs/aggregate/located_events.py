"""Operator events with their location: the input of every operator aggregate.

Reads nothing itself: takes ``stg_operator__events`` rows and the cell anchors of
``jobs.aggregate.cell_locations`` (broadcast). Grain of the output: one row per staged event.

Columns: ds, operator, subscriber_key, event_ts_utc, hour (local city hour, through the tz
database), loc_id (null when the serving cell is unknown on that day or covers nothing inside the
city: the event is *unlocated*). ``by_subscriber`` hash-partitions the rows by
(operator, subscriber_key): every later step groups by subscriber first, so with this one
exchange all of them (distinct counts, trajectories, homes) run without another shuffle of
events, and each distinct count is a two-step aggregation that is exact.
"""

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.aggregate.cell_locations import anchors_on

SUBSCRIBER = ["operator", "subscriber_key"]


def located_events(events: DataFrame, anchors: DataFrame, timezone: str) -> DataFrame:
    """Events -> ds, operator, subscriber_key, event_ts_utc, hour, loc_id (left join: no event lost)."""
    e = events.select("ds", "operator", "subscriber_key", "event_ts_utc", "cgi").alias("e")
    a = F.broadcast(anchors.select("cgi", "valid_from", "valid_to", "loc_id")).alias("a")
    joined = e.join(a, (F.col("e.cgi") == F.col("a.cgi")) & anchors_on(a, "e.ds"), "left")
    return joined.select(
        F.col("e.ds").alias("ds"), F.col("e.operator").alias("operator"),
        F.col("e.subscriber_key").alias("subscriber_key"), F.col("e.event_ts_utc").alias("event_ts_utc"),
        F.hour(F.from_utc_timestamp(F.col("e.event_ts_utc"), timezone)).alias("hour"),
        F.col("a.loc_id").alias("loc_id"))


def by_subscriber(located: DataFrame, partitions: int) -> DataFrame:
    """Hash-partition by (operator, subscriber_key) into ``partitions`` partitions."""
    return located.repartition(int(partitions), *SUBSCRIBER)


def location_counts(located: DataFrame) -> DataFrame:
    """Per ds and operator: events, located events, unlocated events (for dq_results)."""
    return (located.groupBy("ds", "operator")
            .agg(F.count(F.lit(1)).alias("events"),
                 F.count("loc_id").alias("located_events"))
            .withColumn("unlocated_events", F.col("events") - F.col("located_events")))
