"""agg_presence__h3_hour: distinct subscribers and estimated people per H3 cell and local hour.

Reads the fused hex-hour counts of ``jobs.aggregate.hex_hours.fuse`` (all operators, every
configured resolution); writes ``agg_presence__h3_hour`` (partition ds). Grain: (ds, hour,
h3_cell). People counts go through the one suppression step (``jobs.common.privacy``) with the
H3 hierarchy (cells in their ancestors, in their district and the city, hours in the day).
"""

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.common.privacy import h3_hierarchy, suppress_people

TABLE = "agg_presence__h3_hour"


def presence(fused: DataFrame, k: int, resolutions: list[int]) -> DataFrame:
    """Fused hex-hour counts -> the table's rows, suppressed below ``k`` subscribers."""
    rows = fused.select("ds", "hour", "h3_cell", F.col("resolution").cast("int").alias("resolution"),
                        "district", F.col("subscribers").cast("long").alias("subscribers"), "people_est",
                        F.col("events").cast("long").alias("events"))
    return suppress_people(rows, k, "subscribers", value_cols=["people_est", "events"],
                           hierarchy=h3_hierarchy(resolutions, by=("ds", "hour")))
