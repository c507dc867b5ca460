"""private_home_work__subscriber_month: home and work cell of every subscriber per month.

Reads ``private_trajectories__subscriber_day`` for whole months (rules in
``jobs.aggregate.homes``) and the location dimension for districts; writes
``private_home_work__subscriber_month`` (partition month; subscriber-level, under private/, never
published). Grain: (month, operator, subscriber_key).
"""

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.aggregate.homes import MIN_WORK_DAYS, home_work_month

TABLE = "private_home_work__subscriber_month"


def home_work(traj: DataFrame, cell_districts: DataFrame, min_work_days: int = MIN_WORK_DAYS) -> DataFrame:
    """Trajectory rows of whole months; ``cell_districts``: h3_cell, district (finest cells)."""
    d = F.broadcast(cell_districts.select("h3_cell", "district"))
    hw = home_work_month(traj, min_work_days)
    return (hw.join(d.withColumnRenamed("h3_cell", "home_h3_cell").withColumnRenamed("district", "home_district"),
                    "home_h3_cell", "left")
            .join(d.withColumnRenamed("h3_cell", "work_h3_cell").withColumnRenamed("district", "work_district"),
                  "work_h3_cell", "left"))
