"""agg_residents__h3_month: residents and workers per H3 cell and month.

Reads ``private_home_work__subscriber_month`` and the location dimension; writes
``agg_residents__h3_month`` (partition month). Grain: (month, h3_cell), every configured
resolution. Each subscriber has one home and at most one work place, so counts add up from the
finest cells to coarser ones. Estimates: each operator's count times its people per subscriber
in the subscriber's home district (``jobs.aggregate.fusion``, calibrated on the same month's
homes, so the residents of a district add up to its population). Residents and workers are
suppressed separately below k, each complementary across resolutions, districts and the city.
"""

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.aggregate.cell_locations import res_col
from jobs.aggregate.fusion import estimate
from jobs.common.privacy import h3_hierarchy, suppress_people

TABLE = "agg_residents__h3_month"


def home_counts(hw: DataFrame) -> DataFrame:
    """month, operator, district, residents: the calibration input."""
    return (hw.where(F.col("home_district").isNotNull())
            .groupBy("month", "operator", F.col("home_district").alias("district"))
            .agg(F.count(F.lit(1)).alias("residents")))


def _counts(hw: DataFrame, dim: DataFrame, cell_col: str, res: int, factors: DataFrame,
            count: str, est: str) -> DataFrame:
    cells = F.broadcast(dim.select(F.col(res_col(max(dim_res(dim)))).alias(cell_col),
                                   F.col(res_col(res)).alias("h3_cell")).distinct())
    per_op = (hw.where(F.col(cell_col).isNotNull()).join(cells, cell_col)
              .groupBy("month", "operator", F.col("home_district").alias("district"), "h3_cell")
              .agg(F.count(F.lit(1)).alias(count)))
    e = estimate(per_op, factors, ["month"], {count: est})
    return e.groupBy("month", "h3_cell").agg(F.sum(count).alias(count), F.sum(est).alias(est)) \
            .withColumn("resolution", F.lit(int(res)))


def dim_res(dim: DataFrame) -> list[int]:
    return [int(c[4:]) for c in dim.columns if c.startswith("h3_r")]


def residents(hw: DataFrame, dim: DataFrame, cells: DataFrame, factors: DataFrame, k: int) -> DataFrame:
    """Home/work rows of a month -> the table's rows (``cells``: geo_h3_cells for districts)."""
    parts = []
    for res in sorted(dim_res(dim), reverse=True):
        r = _counts(hw, dim, "home_h3_cell", res, factors, "resident_subscribers", "residents_est")
        w = _counts(hw, dim, "work_h3_cell", res, factors, "worker_subscribers", "workers_est")
        parts.append(r.join(w, ["month", "h3_cell", "resolution"], "full"))
    rows = parts[0]
    for p in parts[1:]:
        rows = rows.unionByName(p)
    rows = (rows.join(F.broadcast(cells.select("h3_cell", "district")), "h3_cell")
            .select("month", "h3_cell", F.col("resolution").cast("int"), "district",
                    F.coalesce("resident_subscribers", F.lit(0)).cast("long").alias("resident_subscribers"),
                    F.coalesce("residents_est", F.lit(0.0)).alias("residents_est"),
                    F.coalesce("worker_subscribers", F.lit(0)).cast("long").alias("worker_subscribers"),
                    F.coalesce("workers_est", F.lit(0.0)).alias("workers_est")))
    hierarchy = h3_hierarchy(dim_res(dim), by=("month",), periods=())
    rows = suppress_people(rows, k, "resident_subscribers", value_cols=["residents_est"],
                           hierarchy=hierarchy, flag_col="residents_suppressed")
    return suppress_people(rows, k, "worker_subscribers", value_cols=["workers_est"],
                           hierarchy=hierarchy, flag_col="workers_suppressed")
