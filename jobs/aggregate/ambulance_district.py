"""agg_ambulance__district_day: ambulance calls per district, day and reason group.

Reads ``stg_ambulance__calls`` (the days asked for) and ``geo_h3_cells``; writes
``agg_ambulance__district_day`` (one ``ds`` partition per day with calls) and ``dq_results``
(feed_or_table = the table). Grain: one row per (ds, district, reason_group) for every district
of the city config and every reason group of its ``ambulance_reasons`` plus 'all', zeros
included, on each day with staged calls. Not masked (district level; see the contract).

Placing a call, first rule that applies:
1. geocoded and its finest H3 cell is a cell of the city: the cell's district in
   ``geo_h3_cells`` (as in agg_ambulance__h3_day, so the hexes of a district add up to it);
2. else (not geocoded, or geocoded outside every cell of the city) the district recognised from
   the dispatcher's text at ingest; counted in ``calls_located_by_text``;
3. else the call is not placed: counted as calls_unlocated in ``dq_results``.
Per day ``dq_results`` holds calls_staged, calls_located_by_coordinates, calls_located_by_text,
calls_unlocated, calls_unaccounted (staged minus the three; must be 0) and
calls_district_differs_from_text (geocoded calls whose cell lies in another district than the
dispatcher typed: a measure of geocoding and border effects, informational).
"""

from datetime import date

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.aggregate.ambulance_h3 import ALL, CELLS, SOURCE, balance, checks_frame, locate, with_total
from jobs.common import h3geo
from jobs.common.config import Paths
from jobs.common.lake import read_table, write_table
from jobs.ingest.framework import Check

TABLE = "agg_ambulance__district_day"
COUNTS = ("calls", "hospitalised", "calls_located_by_text")


def reason_groups(cfg: dict) -> list[str]:
    """The config's reason groups in order of appearance ('other' always: unknown codes), then 'all'."""
    groups = list(dict.fromkeys(r["group"] for r in cfg["ambulance_reasons"]))
    return groups + ["other"] * ("other" not in groups) + [ALL]


def placed(located: DataFrame) -> DataFrame:
    """``located`` (see ``ambulance_h3.locate``) plus ``placed_district`` (rules 1-2 of the
    module docstring; null when unplaced) and ``by_text`` (rule 2 applied)."""
    by_text = F.col("h3_leaf").isNull() & F.col("district").isNotNull()
    return located.withColumn("placed_district", F.coalesce("cell_district", "district")) \
                  .withColumn("by_text", by_text)


def district_counts(calls: DataFrame) -> DataFrame:
    """Calls, hospitalised and calls located by text per (ds, district, reason_group) with
    'all', from placed calls (see ``placed``); only combinations that occur."""
    return (with_total(calls.where(F.col("placed_district").isNotNull()), "reason_group")
            .groupBy("ds", F.col("placed_district").alias("district"), "reason_group")
            .agg(F.count(F.lit(1)).alias("calls"),
                 F.sum(F.col("hospitalised").cast("long")).alias("hospitalised"),
                 F.sum(F.col("by_text").cast("long")).alias("calls_located_by_text")))


def complete(counts: DataFrame, days: DataFrame, districts: list[str], groups: list[str],
             group_col: str) -> DataFrame:
    """``counts`` on the full grid days x districts x groups, absent combinations as 0."""
    spark = counts.sparkSession
    grid = (days.select("ds").distinct()
            .crossJoin(spark.createDataFrame([(d,) for d in districts], "district string"))
            .crossJoin(spark.createDataFrame([(g,) for g in groups], f"{group_col} string")))
    values = [c for c in counts.columns if c not in ("ds", "district", group_col)]
    return grid.join(counts, ["ds", "district", group_col], "left").fillna(0, values)


def placement(calls: DataFrame) -> DataFrame:
    """Per day: calls staged, placed by coordinates, by text, unplaced, and geocoded calls
    whose cell district differs from the typed district."""
    n = lambda cond: F.sum(F.when(cond, 1).otherwise(0))          # noqa: E731
    by_cell = F.col("h3_leaf").isNotNull()
    return calls.groupBy("ds").agg(
        F.count(F.lit(1)).alias("calls_staged"),
        n(by_cell).alias("calls_located_by_coordinates"), n(F.col("by_text")).alias("calls_located_by_text"),
        n(F.col("placed_district").isNull()).alias("calls_unlocated"),
        n(by_cell & (F.col("cell_district") != F.col("district"))).alias("calls_district_differs_from_text"))


def day_checks(p: dict) -> list[Check]:
    parts = {k: p.get(k, 0) for k in ("calls_located_by_coordinates", "calls_located_by_text", "calls_unlocated")}
    staged, unlocated = p.get("calls_staged", 0), parts["calls_unlocated"]
    return [
        Check("calls_staged", staged, None, "pass" if staged else "warn",
              "staged calls of the day" + ("" if staged else ": none (nothing written)")),
        Check("calls_located_by_coordinates", parts["calls_located_by_coordinates"], None, "pass",
              "district of the call's finest H3 cell (geo_h3_cells)"),
        Check("calls_located_by_text", parts["calls_located_by_text"], None, "pass",
              "not geocoded or outside the city's cells: district from the dispatcher's text"),
        Check("calls_unlocated", unlocated, 0, "warn" if unlocated else "pass",
              "neither a city cell nor a district text: not in the table"),
        balance("calls_unaccounted", staged, parts),
        Check("calls_district_differs_from_text", p.get("calls_district_differs_from_text", 0), None, "pass",
              "geocoded calls whose cell district is not the district the dispatcher typed"),
    ]


def run(spark: SparkSession, cfg: dict, paths: Paths | None, days: list[date]) -> int:
    """Build the table for ``days`` in one pass; returns the rows written."""
    if not days:
        return 0
    cells = read_table(spark, CELLS, paths)
    if cells.isEmpty():
        raise ValueError(f"{TABLE}: {CELLS} is empty; build it first (geopulse geo)")
    finest = h3geo.configured_resolutions(cfg)[0]
    calls = placed(locate(read_table(spark, SOURCE, paths, ds=days), cells, finest)).persist()
    districts = [d["name"] for d in cfg["districts"]]
    out = complete(district_counts(calls), calls, districts, reason_groups(cfg), "reason_group").persist()
    try:
        rows = out.count()
        write_table(out, TABLE, paths)
        found = {r.ds: r.asDict() for r in placement(calls).collect()}
        write_table(checks_frame(spark, TABLE, {d: day_checks(found.get(d, {})) for d in days}),
                    "dq_results", paths)
    finally:
        out.unpersist()
        calls.unpersist()
    return rows
