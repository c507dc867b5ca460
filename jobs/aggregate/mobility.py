"""agg_mobility__district_day: daily mobility of the residents of each district and the city.

Reads ``private_trajectories__subscriber_day`` rows joined with each subscriber's home as known
on the day (``homes.homes_to_date``) and the fusion factors; writes ``agg_mobility__district_day``
(partition ds). Grain: (ds, geo_level, district). Subscribers are those with at least one
located event that day; measures are per person means (trips, km travelled), the share staying
put, and the median radius of gyration. Suppression: fewer than k subscribers withholds the row,
complementary between the districts and the city row.
"""

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.aggregate.fusion import estimate
from jobs.common.privacy import Hierarchy, Nesting, suppress_people

TABLE = "agg_mobility__district_day"
HIERARCHY = Hierarchy((Nesting("districts in city", ("ds",), "geo_level", ("district",), "city"),))


def _measures() -> list:
    return [F.avg("trips").alias("trips_per_person"),
            F.median("radius_gyration_km").alias("radius_gyration_km_median"),
            F.avg(F.col("stay_put").cast("double")).alias("stay_put_share"),
            F.avg("km_travelled").alias("km_travelled_per_person")]


def mobility(traj: DataFrame, home_district: DataFrame, factors: DataFrame, city: str, k: int) -> DataFrame:
    """``traj``: trajectory rows; ``home_district``: ds, operator, subscriber_key, district (home
    as known that day) -> the table's rows, suppressed below ``k`` subscribers."""
    t = (traj.where(F.col("located_events") > 0)
         .join(home_district, ["ds", "operator", "subscriber_key"], "left")
         .withColumn("district", F.coalesce("district", "main_district")))
    subs = estimate(t.groupBy("ds", "operator", "district").agg(F.count(F.lit(1)).alias("subscribers")),
                    factors, ["ds"], {"subscribers": "people_est"})
    people = subs.groupBy("ds", "district").agg(F.sum("subscribers").alias("subscribers"),
                                                F.sum("people_est").alias("people_est"))
    by_district = t.groupBy("ds", "district").agg(*_measures()).join(people, ["ds", "district"])
    city_people = people.groupBy("ds").agg(F.sum("subscribers").alias("subscribers"),
                                           F.sum("people_est").alias("people_est"))
    by_city = (t.groupBy("ds").agg(*_measures()).join(city_people, "ds")
               .withColumn("district", F.lit(city)))
    cols = ["ds", "geo_level", "district", F.col("subscribers").cast("long").alias("subscribers"),
            "people_est", "trips_per_person", "radius_gyration_km_median", "stay_put_share",
            "km_travelled_per_person"]
    rows = (by_district.withColumn("geo_level", F.lit("district")).select(*cols)
            .unionByName(by_city.withColumn("geo_level", F.lit("city")).select(*cols)))
    return suppress_people(rows, k, "subscribers",
                           value_cols=["people_est", "trips_per_person", "radius_gyration_km_median",
                                       "stay_put_share", "km_travelled_per_person"],
                           hierarchy=HIERARCHY)
