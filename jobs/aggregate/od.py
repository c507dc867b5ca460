"""agg_od__district_day: daily trips between districts.

Reads the district trips of ``jobs.aggregate.trajectories.district_trips`` (one row per change
of district between consecutive located events) and the fusion factors; writes ``agg_od__district_day`` (partition ds).
Grain: (ds, origin_district, destination_district). A trip is a change of district between two
consecutive located events of a subscriber (handover oscillations left out); travellers are the
distinct subscribers making it. People estimates use the origin district's factors. Suppression:
fewer than k travellers withholds the row, complementary within each origin's destinations.
"""

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.aggregate.fusion import estimate
from jobs.common.privacy import flow_hierarchy, suppress_people

TABLE = "agg_od__district_day"
HIERARCHY = flow_hierarchy(("ds",), "origin_district", "destination_district")


def od(district_trips: DataFrame, factors: DataFrame, k: int) -> DataFrame:
    """``district_trips``: ds, operator, subscriber_key, origin_district, destination_district,
    one row per trip -> the table's rows, suppressed below ``k`` travellers."""
    trips = (district_trips.groupBy("ds", "operator", "subscriber_key", "origin_district", "destination_district")
             .agg(F.count(F.lit(1)).alias("trips")))
    per_op = (trips.groupBy("ds", "operator", "origin_district", "destination_district")
              .agg(F.count(F.lit(1)).alias("travellers"), F.sum("trips").alias("trips"))
              .withColumn("district", F.col("origin_district")))
    est = estimate(per_op, factors, ["ds"], {"travellers": "travellers_est", "trips": "trips_est"})
    rows = (est.groupBy("ds", "origin_district", "destination_district")
            .agg(F.sum("travellers").cast("long").alias("travellers"), F.sum("travellers_est").alias("travellers_est"),
                 F.sum("trips").cast("long").alias("trips"), F.sum("trips_est").alias("trips_est")))
    return suppress_people(rows, k, "travellers", value_cols=["travellers_est", "trips", "trips_est"],
                           hierarchy=HIERARCHY)
