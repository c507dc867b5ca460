"""Home and work places of subscribers, from their daily trajectories (subscriber-level, private).

Reads ``private_trajectories__subscriber_day`` rows (passed in); returns frames, writes nothing.
Keys are salted per month, so every figure is per calendar month.

- Home (DESIGN.md section 5): the modal night cell over the month (night cell = location of the
  last event of the night hours), ties to the most recent night. A subscriber never seen at night
  gets the modal location of their days instead (``home_nights`` = 0): sparse call records
  degrade to a coarser guess rather than to no home.
- Work: the modal weekday work-hours cell over the month's working days, excluding the home
  cell, kept only when seen there on at least ``min_work_days`` days.
- ``homes_to_date``: the home *as known on each day*, from the month's days up to and including
  that day (a running mode), so a daily job never needs a month that has not ended.
"""

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

SUBSCRIBER = ["month", "operator", "subscriber_key"]
MIN_WORK_DAYS = 2


def with_month(traj: DataFrame) -> DataFrame:
    return traj.withColumn("month", F.trunc("ds", "month"))


def _running_mode(traj: DataFrame, cell_col: str, out: str) -> DataFrame:
    """Adds ``out``: the mode of ``cell_col`` over the month's rows up to each row's ds (ties to
    the most recent), and ``out``_n: how often it was seen."""
    per_cell = Window.partitionBy(*SUBSCRIBER, cell_col).orderBy("ds")
    upto = Window.partitionBy(*SUBSCRIBER).orderBy("ds").rowsBetween(Window.unboundedPreceding, Window.currentRow)
    seen = F.when(F.col(cell_col).isNotNull(), F.count(cell_col).over(per_cell))
    best = F.max_by(F.struct(F.col(cell_col).alias("c"), F.col("_n").alias("n")),
                    F.when(F.col(cell_col).isNotNull(), F.struct("_n", "ds"))).over(upto)
    return (traj.withColumn("_n", seen).withColumn("_best", best)
            .withColumn(out, F.col("_best.c")).withColumn(f"{out}_n", F.col("_best.n"))
            .drop("_n", "_best"))


def homes_to_date(traj: DataFrame) -> DataFrame:
    """Trajectory rows (whole months up to the days wanted) -> ds, operator, subscriber_key,
    home_h3_cell (finest resolution) as known on ds."""
    t = with_month(traj).select(*SUBSCRIBER, "ds", "night_h3_cell", "modal_h3_cell")
    t = _running_mode(_running_mode(t, "night_h3_cell", "night_home"), "modal_h3_cell", "modal_home")
    return t.select("ds", "operator", "subscriber_key",
                    F.coalesce("night_home", "modal_home").alias("home_h3_cell"))


def home_work_month(traj: DataFrame, min_work_days: int = MIN_WORK_DAYS) -> DataFrame:
    """Trajectory rows of whole months -> month, operator, subscriber_key, home_h3_cell,
    home_nights, nights_observed, work_h3_cell, work_days, days_observed (districts not yet set)."""
    t = with_month(traj)

    def mode(col: str, name: str) -> DataFrame:
        per = (t.where(F.col(col).isNotNull()).groupBy(*SUBSCRIBER, col)
               .agg(F.count(F.lit(1)).alias("n"), F.max("ds").alias("last")))
        return per.groupBy(*SUBSCRIBER).agg(F.max_by(F.col(col), F.struct("n", "last")).alias(name),
                                            F.max_by("n", F.struct("n", "last")).alias(f"{name}_n"))

    observed = t.groupBy(*SUBSCRIBER).agg(F.count("night_h3_cell").alias("nights_observed"),
                                          F.count(F.when(F.col("located_events") > 0, 1)).alias("days_observed"))
    homes = (observed.join(mode("night_h3_cell", "night_home"), SUBSCRIBER, "left")
             .join(mode("modal_h3_cell", "modal_home"), SUBSCRIBER, "left")
             .withColumn("home_h3_cell", F.coalesce("night_home", "modal_home"))
             .withColumn("home_nights", F.coalesce(F.col("night_home_n"), F.lit(0))))
    work = (t.where(F.col("day_h3_cell").isNotNull())
            .join(homes.select(*SUBSCRIBER, "home_h3_cell"), SUBSCRIBER)
            .where(F.col("home_h3_cell").isNull() | (F.col("day_h3_cell") != F.col("home_h3_cell")))
            .groupBy(*SUBSCRIBER, "day_h3_cell").agg(F.count(F.lit(1)).alias("n"), F.max("ds").alias("last"))
            .groupBy(*SUBSCRIBER).agg(F.max_by("day_h3_cell", F.struct("n", "last")).alias("work_h3_cell"),
                                      F.max("n").alias("work_days"))
            .where(F.col("work_days") >= int(min_work_days)))
    return (homes.join(work, SUBSCRIBER, "left")
            .select(*SUBSCRIBER, "home_h3_cell", F.col("home_nights").cast("int"),
                    F.col("nights_observed").cast("int"), "work_h3_cell",
                    F.coalesce("work_days", F.lit(0)).cast("int").alias("work_days"),
                    F.col("days_observed").cast("int")))
