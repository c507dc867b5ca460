"""agg_commute__district_month: home -> work (commuting, pendulum migration) flows per month.

Reads ``private_home_work__subscriber_month``; writes ``agg_commute__district_month`` (partition
month). Grain: (month, home_district, work_district). Subscribers with both a home and a work
place; estimates use the home district's people per subscriber. Suppression below k,
complementary within each home district's and each work district's flows.
"""

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.aggregate.fusion import estimate
from jobs.common.privacy import Hierarchy, Nesting, suppress_people

TABLE = "agg_commute__district_month"
HIERARCHY = Hierarchy((Nesting("work districts of a home district", ("month", "home_district")),
                       Nesting("home districts of a work district", ("month", "work_district"))))


def commute(hw: DataFrame, factors: DataFrame, k: int) -> DataFrame:
    per_op = (hw.where(F.col("home_district").isNotNull() & F.col("work_district").isNotNull())
              .groupBy("month", "operator", "home_district", "work_district")
              .agg(F.count(F.lit(1)).alias("commuters"))
              .withColumn("district", F.col("home_district")))
    est = estimate(per_op, factors, ["month"], {"commuters": "commuters_est"})
    rows = (est.groupBy("month", "home_district", "work_district")
            .agg(F.sum("commuters").cast("long").alias("commuters"), F.sum("commuters_est").alias("commuters_est")))
    return suppress_people(rows, k, "commuters", value_cols=["commuters_est"], hierarchy=HIERARCHY)
