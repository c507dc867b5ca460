"""agg_morbidity__district_day: daily morbidity per district, the latest revision of each day.

Reads ``stg_morbidity__daily`` (the days asked for); writes ``agg_morbidity__district_day``
(one ``ds`` partition per day with figures) and ``dq_results`` (feed_or_table = the table).
Grain: one row per (ds, district): the figures of the highest revision delivered for that day
and district (ties: the later delivery). A district without figures for a day has no row
(missing, not zero). Not masked (district level; see the contract).

Per day ``dq_results`` holds rows_staged, rows_superseded (rows of a lower revision
than the highest of their day and district), rows_written, rows_unaccounted (staged minus
superseded and written, e.g. two rows of the same top revision; must be 0) and
districts_reported (warns when fewer than the city config's districts).
"""

from datetime import date

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from jobs.aggregate.ambulance_h3 import balance, checks_frame
from jobs.common.config import Paths
from jobs.common.contracts import load_contract
from jobs.common.lake import read_table, write_table
from jobs.ingest.framework import Check

TABLE, SOURCE = "agg_morbidity__district_day", "stg_morbidity__daily"


def latest_revision(daily: DataFrame) -> DataFrame:
    """One row per (ds, district): the highest revision (ties: the later delivered_ds)."""
    latest = Window.partitionBy("ds", "district").orderBy(F.desc("revision"), F.desc("delivered_ds"))
    return (daily.withColumn("_n", F.row_number().over(latest)).where(F.col("_n") == 1)
            .select(*load_contract(TABLE).column_names))


def superseded(daily: DataFrame) -> DataFrame:
    """Per day: rows staged and rows of a lower revision than their (ds, district)'s highest."""
    top = F.max("revision").over(Window.partitionBy("ds", "district"))
    lower = F.when(F.col("revision") < F.col("_top"), 1).otherwise(0)
    return daily.withColumn("_top", top).groupBy("ds").agg(
        F.count(F.lit(1)).alias("staged"), F.sum(lower).alias("superseded"))


def day_checks(staged: int, superseded: int, written: int, n_districts: int) -> list[Check]:
    return [
        Check("rows_staged", staged, None, "pass" if staged else "warn",
              "staged rows of the day" + ("" if staged else ": none (nothing written)")),
        Check("rows_superseded", superseded, None, "pass", "rows of a lower revision than the latest"),
        Check("rows_written", written, None, "pass", "one per district with figures"),
        balance("rows_unaccounted", staged, {"rows_superseded": superseded, "rows_written": written}),
        Check("districts_reported", written, n_districts, "warn" if written < n_districts else "pass",
              f"districts with figures, of {n_districts} in the city config"),
    ]


def run(spark: SparkSession, cfg: dict, paths: Paths | None, days: list[date]) -> int:
    """Build the table for ``days`` in one pass; returns the rows written."""
    if not days:
        return 0
    daily = read_table(spark, SOURCE, paths, ds=days).persist()
    out = latest_revision(daily).persist()
    try:
        rows = out.count()
        write_table(out, TABLE, paths)
        found = {r.ds: (r.staged, r.superseded) for r in superseded(daily).collect()}
        written = {r.ds: r["count"] for r in out.groupBy("ds").count().collect()}
        n = len(cfg["districts"])
        checks = {d: day_checks(*found.get(d, (0, 0)), written.get(d, 0), n) for d in days}
        write_table(checks_frame(spark, TABLE, checks), "dq_results", paths)
    finally:
        out.unpersist()
        daily.unpersist()
    return rows
