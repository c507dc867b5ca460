"""agg_od__district_day: daily trips between districts.

Reads the moves of ``jobs.aggregate.trajectories.moves`` (located events in time order with the
previous district) and the fusion factors; writes ``agg_od__district_day`` (partition ds).
Grain: (ds, origin_district, destination_district). A trip is a change of district between two
consecutive located events of a subscriber (handover oscillations left out); travellers are the
distinct subscribers making it. People estimates use the origin district's factors. Suppression:
fewer than k travellers withholds the row, complementary within each origin's destinations.
"""

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.aggregate.fusion import estimate
from jobs.common.privacy import Hierarchy, Nesting, suppress_people

TABLE = "agg_od__district_day"
HIERARCHY = Hierarchy((Nesting("destinations of an origin", ("ds", "origin_district")),
                       Nesting("origins of a destination", ("ds", "destination_district"))))


def od(moves: DataFrame, factors: DataFrame, k: int) -> DataFrame:
    trips = (moves.where(F.col("prev_district").isNotNull() & (F.col("district") != F.col("prev_district")))
             .groupBy("ds", "operator", "subscriber_key", F.col("prev_district").alias("origin_district"),
                      F.col("district").alias("destination_district"))
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
