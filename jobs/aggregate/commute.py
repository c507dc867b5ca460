"""Commuting (pendulum migration) flows per month: agg_commute__district_month and its
published form, mart_commute_flows.

``commute`` reads ``private_home_work__subscriber_month`` and returns ``agg_commute__district_month``
(grain: month, home_district, work_district): subscribers with both a home and a work place;
estimates use the home district's people per subscriber. Suppression below k, complementary
within each home district's and each work district's flows (``privacy.flow_hierarchy``).
``flows_mart`` adds the districts' zone types and the cross-district flag to those suppressed
rows: ``mart_commute_flows``, the table the Mobility dashboard's arcs read.
"""

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.aggregate.fusion import estimate
from jobs.common.privacy import flow_hierarchy, suppress_people

TABLE = "agg_commute__district_month"
MART = "mart_commute_flows"
HIERARCHY = flow_hierarchy(("month",), "home_district", "work_district")


def commute(hw: DataFrame, factors: DataFrame, k: int) -> DataFrame:
    per_op = (hw.where(F.col("home_district").isNotNull() & F.col("work_district").isNotNull())
              .groupBy("month", "operator", "home_district", "work_district")
              .agg(F.count(F.lit(1)).alias("commuters"))
              .withColumn("district", F.col("home_district")))
    est = estimate(per_op, factors, ["month"], {"commuters": "commuters_est"})
    rows = (est.groupBy("month", "home_district", "work_district")
            .agg(F.sum("commuters").cast("long").alias("commuters"), F.sum("commuters_est").alias("commuters_est")))
    return suppress_people(rows, k, "commuters", value_cols=["commuters_est"], hierarchy=HIERARCHY)


def flows_mart(flows: DataFrame, cells: DataFrame) -> DataFrame:
    """mart_commute_flows from the suppressed flows and geo_h3_cells (district -> zone type)."""
    zones = cells.groupBy("district").agg(F.min("zone_type").alias("zone_type"))
    home = zones.select(F.col("district").alias("home_district"), F.col("zone_type").alias("home_zone_type"))
    work = zones.select(F.col("district").alias("work_district"), F.col("zone_type").alias("work_zone_type"))
    return (flows.join(F.broadcast(home), "home_district").join(F.broadcast(work), "work_district")
            .select("month", "home_district", "work_district", "home_zone_type", "work_zone_type",
                    (F.col("home_district") != F.col("work_district")).alias("cross_district"),
                    "commuters", "commuters_est", "suppressed"))
