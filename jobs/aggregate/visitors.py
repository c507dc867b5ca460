"""agg_visitors__h3_hour: residents present vs visitors present per H3 cell and local hour.

Reads the fused hex-hour counts of ``jobs.aggregate.hex_hours.fuse``; writes
``agg_visitors__h3_hour`` (partition ds). Grain: (ds, hour, h3_cell). A present subscriber is a
resident of the cell when their home (as known that day, ``jobs.aggregate.homes``) is in it at
that resolution, a visitor otherwise; cells where visitors dominate are the congestion places
(markets, malls, stations, hospitals). A row is withheld when either count is below k, with
complementary suppression across resolutions, districts and hours.
"""

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.common.privacy import h3_hierarchy, suppress_people

TABLE = "agg_visitors__h3_hour"


def visitors(fused: DataFrame, k: int, resolutions: list[int]) -> DataFrame:
    """Fused hex-hour counts -> the table's rows, suppressed below ``k``."""
    rows = fused.select(
        "ds", "hour", "h3_cell", F.col("resolution").cast("int").alias("resolution"), "district",
        F.col("residents").cast("long").alias("resident_subscribers"), "residents_est",
        F.col("visitors").cast("long").alias("visitor_subscribers"), "visitors_est",
        (F.col("visitors") / F.col("subscribers")).alias("visitor_share"))
    return suppress_people(rows, k, ["resident_subscribers", "visitor_subscribers"],
                           value_cols=["residents_est", "visitors_est", "visitor_share"],
                           hierarchy=h3_hierarchy(resolutions, by=("ds", "hour")))
