"""Multi-operator fusion: from each operator's subscriber counts to an estimate of people.

Reads nothing; pure DataFrame functions used by every people-count aggregate.

Each operator sees only its own customers, and not every resident carries a phone of one of
the operators. For operator o and district d (the district of the counted cell, or of the
subscriber's home for home-based counts):

    people_per_subscriber(o, d) = population(d) * market_share(o) / residents(o, d)

where residents(o, d) are the operator's subscribers whose home is in d (as known on the day,
or over the month for monthly tables) — the residents-per-subscriber calibration against the
district population. An operator count c(o) then stands for c(o) * people_per_subscriber(o, d)
people of that operator's share of the market, and the estimate of people is

    people_est = sum over operators present of c(o) * people_per_subscriber(o, d) / S

with S the summed market share of the operators that delivered data for the period (1 when all
did), so a day on which one operator's file was rejected is still an unbiased estimate instead of
a dip. Market shares come from the city config (``operators``); populations from the staged
district reference.
"""

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def market_shares(spark, cfg: dict) -> DataFrame:
    """operator (MCC-MNC), market_share from the city config."""
    rows = [(o["mcc_mnc"], float(o["market_share"])) for o in cfg["operators"]]
    return spark.createDataFrame(rows, "operator string, market_share double")


def scale_factors(home_counts: DataFrame, population: DataFrame, shares: DataFrame,
                  keys: list[str]) -> DataFrame:
    """``home_counts``: keys..., operator, district, residents (subscribers whose home is in the
    district); ``population``: district, population -> keys..., operator, district, population,
    residents, market_share, share_present, people_per_subscriber and
    factor (= people_per_subscriber / share_present)."""
    present = (home_counts.select(*keys, "operator").distinct().join(shares, "operator")
               .groupBy(*keys).agg(F.sum("market_share").alias("share_present")))
    out = (home_counts.where(F.col("residents") > 0).join(population, "district").join(shares, "operator")
           .join(present, keys)
           .withColumn("people_per_subscriber",
                       F.col("population") * F.col("market_share") / F.col("residents")))
    return out.select(*keys, "operator", "district", "population", "residents", "market_share",
                      "share_present", "people_per_subscriber",
                      (F.col("people_per_subscriber") / F.col("share_present")).alias("factor"))


def estimate(counts: DataFrame, factors: DataFrame, keys: list[str], count_cols: dict[str, str]) -> DataFrame:
    """Adds, for each ``count_col: est_col``, the people estimate of a per-operator count
    (``counts`` carries keys..., operator, district). A district without residents of an
    operator (no calibration) falls back on that operator's city-wide factor."""
    city = (factors.groupBy(*keys, "operator")
            .agg((F.first("market_share") * F.sum("population") / F.sum("residents")
                  / F.first("share_present")).alias("_city_factor")))
    f = factors.select(*keys, "operator", "district", F.col("factor").alias("_factor"))
    out = counts.join(F.broadcast(f), keys + ["operator", "district"], "left") \
                .join(F.broadcast(city), keys + ["operator"], "left")
    factor = F.coalesce(F.col("_factor"), F.col("_city_factor"))
    for count_col, est_col in count_cols.items():
        out = out.withColumn(est_col, F.col(count_col) * factor)
    return out.drop("_factor", "_city_factor")
