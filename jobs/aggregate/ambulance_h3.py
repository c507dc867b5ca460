"""agg_ambulance__h3_day: ambulance calls per H3 cell, day and reason group, small counts masked.

Reads ``stg_ambulance__calls`` (the days asked for) and ``geo_h3_cells``; writes
``agg_ambulance__h3_day`` (one ``ds`` partition per day with calls) and ``dq_results``
(feed_or_table = the table). Grain: one row per (ds, h3_cell, reason_group) at every configured
resolution; a cell without calls has no row. reason_group is the staged group (the city
config's ``ambulance_reasons``, unknown codes 'other') plus 'all' = every call once.

Placing a call: only geocoded calls reach the hexes. Its cell at the finest configured
resolution comes from its coordinates (``h3geo.latlng_cell_udf``, one vectorised H3 call per
Arrow batch); its coarser cells are that cell's ancestors in ``geo_h3_cells``
(``parent_h3_cell``), the roll-up the operator tables use, so a coarser row is exactly the sum
of its children. ``district`` is each cell's district in ``geo_h3_cells``.

Nothing is dropped silently; per day ``dq_results`` holds calls_staged, calls_not_geocoded
(placed at district level only), calls_outside_h3_cells (geocoded, but the finest cell is no
cell of the city in ``geo_h3_cells``; placed at district level by the dispatcher's text),
calls_in_hexes, calls_unaccounted (staged minus the other three; must be 0) and rows_masked.

Privacy: ``privacy.mask_health`` with threshold ``privacy.health_mask_below``: a row whose calls
or hospitalised is in 1..threshold-1 gets both null and masked = true, with complementary masking
across resolutions, districts, the city and reason groups (``mask_hierarchy``).
"""

from dataclasses import replace
from datetime import date

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common import h3geo
from jobs.common.config import Paths
from jobs.common.lake import read_table, write_table
from jobs.common.privacy import Hierarchy, h3_hierarchy, health_mask_below, mask_health
from jobs.ingest.framework import Check, dq_frame

TABLE, SOURCE, CELLS = "agg_ambulance__h3_day", "stg_ambulance__calls", "geo_h3_cells"
ALL = "all"
COUNTS = ["calls", "hospitalised"]


# ---------------------------------------------------------------- shared by the point feeds
def locate(points: DataFrame, cells: DataFrame, res: int) -> DataFrame:
    """``points`` (columns lat, lon; null when unknown) plus ``h3_leaf``, the point's cell at
    resolution ``res`` when that cell is a cell of the city in ``cells`` (geo_h3_cells), else
    null, and ``cell_district``, that cell's district."""
    leaf = cells.where(F.col("resolution") == res).select(
        F.col("h3_cell").alias("_cell"), F.col("district").alias("cell_district"))
    located = points.withColumn("_cell", h3geo.latlng_cell_udf(res)(F.col("lat"), F.col("lon")))
    located = located.join(F.broadcast(leaf), "_cell", "left")
    return located.withColumn("h3_leaf", F.when(F.col("cell_district").isNotNull(), F.col("_cell"))).drop("_cell")


def cell_ancestry(cells: DataFrame, resolutions: list[int]) -> DataFrame:
    """One row per finest cell (``h3_leaf``) and each of its cells at every configured
    resolution, itself included: h3_leaf, h3_cell, resolution, district (from ``cells``)."""
    levels = sorted(resolutions, reverse=True)
    dim = cells.select("h3_cell", "resolution", "district", "parent_h3_cell")
    level = dim.where(F.col("resolution") == levels[0]).withColumn("h3_leaf", F.col("h3_cell"))
    out = level
    for _ in levels[1:]:
        level = level.select("h3_leaf", F.col("parent_h3_cell").alias("h3_cell")).join(dim, "h3_cell")
        out = out.unionByName(level)
    return out.select("h3_leaf", "h3_cell", "resolution", "district")


def with_total(df: DataFrame, group_col: str) -> DataFrame:
    """Every row twice: once in its group, once in the group 'all'."""
    return df.withColumn(group_col, F.explode(F.array(F.col(group_col), F.lit(ALL))))


def mask_hierarchy(resolutions: list[int], group_col: str) -> Hierarchy:
    """The relations a reader can subtract along in a hex-day health table: finer cells in
    their ancestors (and the part inside one district), the cells of a district and of the city
    per resolution, and the groups of a cell under its 'all' row."""
    return h3_hierarchy(resolutions=resolutions, by=("ds", group_col), periods=(),
                        category=(group_col, ALL))


def checks_frame(spark: SparkSession, table: str, checks: dict[date, list[Check]]) -> DataFrame:
    """The dq_results rows of ``table``: one per day and check (one local frame, not a union
    per day: a year of days made the write's plan 300 branches deep)."""
    return dq_frame(spark, table, None, [replace(ch, ds=day) for day, day_checks in sorted(checks.items())
                                         for ch in day_checks])


def masked_per_day(out: DataFrame) -> dict[date, int]:
    """Rows withheld by the mask per day of a masked table."""
    return {r.ds: r["count"] for r in out.where(F.col("masked")).groupBy("ds").count().collect()}


def balance(name: str, staged: int, parts: dict[str, int]) -> Check:
    """``name`` = staged minus the parts it splits into; fails unless 0."""
    lost = staged - sum(parts.values())
    return Check(name, lost, 0, "pass" if lost == 0 else "fail",
                 f"staged {staged} = " + " + ".join(f"{k} {v}" for k, v in parts.items()))


# ---------------------------------------------------------------- this table
def hex_counts(located: DataFrame, ancestry: DataFrame) -> DataFrame:
    """Calls and hospitalised per (ds, h3_cell, reason_group) at every resolution, 'all'
    included, from calls with an ``h3_leaf`` (see ``locate``); unmasked."""
    calls = with_total(located.where(F.col("h3_leaf").isNotNull())
                       .select("ds", "h3_leaf", "reason_group", "hospitalised"), "reason_group")
    return (calls.join(F.broadcast(ancestry), "h3_leaf")
            .groupBy("ds", "h3_cell", "resolution", "district", "reason_group")
            .agg(F.count(F.lit(1)).alias("calls"),
                 F.sum(F.col("hospitalised").cast("long")).alias("hospitalised")))


def masked(counts: DataFrame, threshold: int, resolutions: list[int]) -> DataFrame:
    """``counts`` through the health mask (rule in the module docstring)."""
    return mask_health(counts, threshold, COUNTS, mask_hierarchy(resolutions, "reason_group"),
                       count_cols=COUNTS)


def placement(located: DataFrame) -> DataFrame:
    """Per day: calls staged, not geocoded, geocoded outside the city's cells, in hexes."""
    geocoded = F.col("lat").isNotNull() & F.col("lon").isNotNull()
    n = lambda cond: F.sum(F.when(cond, 1).otherwise(0))          # noqa: E731
    return located.groupBy("ds").agg(
        F.count(F.lit(1)).alias("calls_staged"), n(~geocoded).alias("calls_not_geocoded"),
        n(geocoded & F.col("h3_leaf").isNull()).alias("calls_outside_h3_cells"),
        n(F.col("h3_leaf").isNotNull()).alias("calls_in_hexes"))


def day_checks(p: dict, rows_masked: int) -> list[Check]:
    parts = {k: p.get(k, 0) for k in ("calls_not_geocoded", "calls_outside_h3_cells", "calls_in_hexes")}
    staged = p.get("calls_staged", 0)
    return [
        Check("calls_staged", staged, None, "pass" if staged else "warn",
              "staged calls of the day" + ("" if staged else ": none (nothing written)")),
        Check("calls_not_geocoded", parts["calls_not_geocoded"], None, "pass", "counted at district level only"),
        Check("calls_outside_h3_cells", parts["calls_outside_h3_cells"], 0,
              "warn" if parts["calls_outside_h3_cells"] else "pass",
              "geocoded, finest H3 cell not a cell of the city (geo_h3_cells); placed by district text"),
        Check("calls_in_hexes", parts["calls_in_hexes"], None, "pass", "calls counted in the hexes"),
        balance("calls_unaccounted", staged, parts),
        Check("rows_masked", rows_masked, None, "pass", "rows withheld by the health mask"),
    ]


def run(spark: SparkSession, cfg: dict, paths: Paths | None, days: list[date]) -> int:
    """Build the table for ``days`` in one pass; returns the rows written."""
    if not days:
        return 0
    resolutions = h3geo.configured_resolutions(cfg)
    cells = read_table(spark, CELLS, paths)
    if cells.isEmpty():
        raise ValueError(f"{TABLE}: {CELLS} is empty; build it first (geopulse geo)")
    located = locate(read_table(spark, SOURCE, paths, ds=days), cells, resolutions[0]).persist()
    out = masked(hex_counts(located, cell_ancestry(cells, resolutions)), health_mask_below(cfg),
                 resolutions).persist()
    try:
        rows = out.count()
        write_table(out, TABLE, paths)
        placed = {r.ds: r.asDict() for r in placement(located).collect()}
        n_masked = masked_per_day(out)
        checks = {d: day_checks(placed.get(d, {}), n_masked.get(d, 0)) for d in days}
        write_table(checks_frame(spark, TABLE, checks), "dq_results", paths)
    finally:
        out.unpersist()
        located.unpersist()
    return rows
