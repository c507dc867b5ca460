"""agg_pharmacy__h3_day: pharmacy sales per H3 cell of the pharmacy, day and ATC group, masked.

Reads ``stg_pharmacy__receipts`` and ``stg_pharmacy__receipt_items`` (the days asked for),
``stg_pharmacy__pharmacies`` and ``geo_h3_cells``; writes ``agg_pharmacy__h3_day`` (one ``ds``
partition per day with receipts) and ``dq_results`` (feed_or_table = the table). Grain: one row
per (ds, h3_cell, atc_group) at every configured resolution; a cell without sales has no row.

Groups: the staged ``atc_group`` of each receipt line (the city config's ``atc_groups`` by
longest prefix, unknown codes 'other'); a receipt counts once in every group it has a line of,
and once in 'all' (receipts without lines too). items = packs (sum of qty), amount_kzt = sum of
the line amounts; pharmacies = pharmacies of the cell with a receipt that day (any group).

Placing a receipt: its pharmacy's version valid on the day (valid_from <= day <= valid_to) in
the latest reference snapshot on or before the day; the position's cell at the finest
resolution (``h3geo.latlng_cell_udf``) and that cell's ancestors in ``geo_h3_cells``, as for
ambulance calls (``ambulance_h3.locate`` / ``cell_ancestry``). Per day ``dq_results`` holds
receipts_staged, receipts_pharmacy_unknown (no reference version valid that day),
receipts_outside_h3_cells (the pharmacy's cell is no cell of the city), receipts_in_hexes and
receipts_unaccounted (staged minus the other three; must be 0), and rows_masked.

Privacy: ``privacy.mask_health`` with threshold ``privacy.health_mask_below`` on receipts:
receipts, items and amount_kzt of a row with 1..threshold-1 receipts are null with
masked = true, complementary across resolutions, districts, the city and ATC groups.
"""

from datetime import date

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from jobs.aggregate.ambulance_h3 import (ALL, CELLS, balance, cell_ancestry, checks_frame, locate,
                                         mask_hierarchy, masked_per_day)
from jobs.common import h3geo
from jobs.common.config import Paths
from jobs.common.lake import read_table, write_table
from jobs.common.privacy import health_mask_below, mask_health
from jobs.ingest.framework import Check

TABLE = "agg_pharmacy__h3_day"
RECEIPTS, ITEMS, PHARMACIES = "stg_pharmacy__receipts", "stg_pharmacy__receipt_items", "stg_pharmacy__pharmacies"
VALUES = ["receipts", "items", "amount_kzt"]


def versions_on_days(pharmacies: DataFrame, days: DataFrame) -> DataFrame:
    """Per day of ``days`` (column ds) and pharmacy: the version valid that day in the latest
    snapshot on or before it (ties: the latest valid_from). Columns ds, pharmacy_id, lat, lon,
    registered_district."""
    snaps = pharmacies.select(F.col("ds").alias("snapshot_ds")).distinct()
    latest = (days.select("ds").distinct().join(snaps, F.col("snapshot_ds") <= F.col("ds"))
              .groupBy("ds").agg(F.max("snapshot_ds").alias("snapshot_ds")))
    valid = latest.join(pharmacies.withColumnRenamed("ds", "snapshot_ds"), "snapshot_ds").where(
        (F.col("valid_from") <= F.col("ds")) & (F.col("valid_to").isNull() | (F.col("valid_to") >= F.col("ds"))))
    newest = Window.partitionBy("ds", "pharmacy_id").orderBy(F.desc("valid_from"))
    return (valid.withColumn("_n", F.row_number().over(newest)).where(F.col("_n") == 1)
            .select("ds", "pharmacy_id", "lat", "lon", F.col("district").alias("registered_district")))


def receipt_groups(receipts: DataFrame, items: DataFrame) -> DataFrame:
    """One row per receipt and group it has lines of, plus one per receipt in 'all': ds,
    receipt_id, pharmacy_id, atc_group, items (packs), amount_kzt."""
    per_group = items.groupBy("ds", "receipt_id", "atc_group").agg(
        F.sum(F.col("qty").cast("long")).alias("items"), F.sum("amount_kzt").alias("amount_kzt"))
    totals = per_group.groupBy("ds", "receipt_id").agg(
        F.sum("items").alias("items"), F.sum("amount_kzt").alias("amount_kzt")).withColumn("atc_group", F.lit(ALL))
    return (receipts.select("ds", "receipt_id", "pharmacy_id")
            .join(per_group.unionByName(totals), ["ds", "receipt_id"], "left")
            .withColumn("atc_group", F.coalesce("atc_group", F.lit(ALL)))     # a receipt without lines
            .fillna(0, ["items", "amount_kzt"]))


def place(groups: DataFrame, located: DataFrame) -> DataFrame:
    """``groups`` (see ``receipt_groups``) with the pharmacy's h3_leaf, cell_district and
    registered_district (``located``: ``versions_on_days`` through ``ambulance_h3.locate``) and
    ``known`` (a version was valid that day)."""
    pharm = located.select("ds", "pharmacy_id", "h3_leaf", "cell_district", "registered_district",
                           F.lit(True).alias("known"))
    return groups.join(pharm, ["ds", "pharmacy_id"], "left").fillna(False, ["known"])


def sales(placed: DataFrame, keys: list[str]) -> DataFrame:
    """Receipts, items, amount_kzt per (ds, *keys, atc_group) and ``pharmacies``: distinct
    pharmacies with a receipt (the 'all' group's count) per (ds, *keys)."""
    counts = placed.groupBy("ds", *keys, "atc_group").agg(
        F.count(F.lit(1)).alias("receipts"), F.sum("items").alias("items"),
        F.sum("amount_kzt").alias("amount_kzt"), F.count_distinct("pharmacy_id").alias("_ph"))
    reporting = F.max(F.when(F.col("atc_group") == ALL, F.col("_ph"))).over(Window.partitionBy("ds", *keys))
    return counts.withColumn("pharmacies", reporting.cast("int")).drop("_ph")


def hex_sales(placed: DataFrame, ancestry: DataFrame) -> DataFrame:
    """Sales per (ds, h3_cell, atc_group) at every resolution, from receipts with an h3_leaf."""
    rows = (placed.where(F.col("h3_leaf").isNotNull())
            .select("ds", "h3_leaf", "pharmacy_id", "atc_group", "items", "amount_kzt")
            .join(F.broadcast(ancestry), "h3_leaf"))
    return sales(rows, ["h3_cell", "resolution", "district"])


def masked(counts: DataFrame, threshold: int, resolutions: list[int]) -> DataFrame:
    """``counts`` through the health mask (rule in the module docstring)."""
    return mask_health(counts, threshold, VALUES, mask_hierarchy(resolutions, "atc_group"), count_cols=["receipts"])


def placement(placed: DataFrame) -> DataFrame:
    """Per day, over receipts (their 'all' rows): staged, pharmacy unknown, outside the
    city's cells, in hexes."""
    n = lambda cond: F.sum(F.when(cond, 1).otherwise(0))          # noqa: E731
    known = F.col("known")
    return placed.where(F.col("atc_group") == ALL).groupBy("ds").agg(
        F.count(F.lit(1)).alias("receipts_staged"), n(~known).alias("receipts_pharmacy_unknown"),
        n(known & F.col("h3_leaf").isNull()).alias("receipts_outside_h3_cells"),
        n(F.col("h3_leaf").isNotNull()).alias("receipts_in_hexes"))


def day_checks(p: dict, rows_masked: int) -> list[Check]:
    parts = {k: p.get(k, 0) for k in ("receipts_pharmacy_unknown", "receipts_outside_h3_cells", "receipts_in_hexes")}
    staged = p.get("receipts_staged", 0)
    warn = lambda v: "warn" if v else "pass"                       # noqa: E731
    return [
        Check("receipts_staged", staged, None, "pass" if staged else "warn",
              "staged receipts of the day" + ("" if staged else ": none (nothing written)")),
        Check("receipts_pharmacy_unknown", parts["receipts_pharmacy_unknown"], 0,
              warn(parts["receipts_pharmacy_unknown"]), "no pharmacy reference version valid that day"),
        Check("receipts_outside_h3_cells", parts["receipts_outside_h3_cells"], 0,
              warn(parts["receipts_outside_h3_cells"]), "pharmacy position in no cell of the city (geo_h3_cells)"),
        Check("receipts_in_hexes", parts["receipts_in_hexes"], None, "pass", "receipts counted in the hexes"),
        balance("receipts_unaccounted", staged, parts),
        Check("rows_masked", rows_masked, None, "pass", "rows withheld by the health mask"),
    ]


def placed_receipts(spark: SparkSession, cfg: dict, paths: Paths | None, days: list[date]) -> DataFrame:
    """Receipt-group rows of ``days`` placed at their pharmacy (see ``place``); the I/O shared
    with agg_pharmacy__district_day."""
    cells = read_table(spark, CELLS, paths)
    if cells.isEmpty():
        raise ValueError(f"{CELLS} is empty; build it first (geopulse geo)")
    receipts = read_table(spark, RECEIPTS, paths, ds=days)
    pharmacies = read_table(spark, PHARMACIES, paths).where(F.col("ds") <= F.lit(max(days)))
    versions = versions_on_days(pharmacies, receipts)
    located = locate(versions, cells, h3geo.configured_resolutions(cfg)[0])
    return place(receipt_groups(receipts, read_table(spark, ITEMS, paths, ds=days)), located)


def run(spark: SparkSession, cfg: dict, paths: Paths | None, days: list[date]) -> int:
    """Build the table for ``days`` in one pass; returns the rows written."""
    if not days:
        return 0
    resolutions = h3geo.configured_resolutions(cfg)
    rows_in = placed_receipts(spark, cfg, paths, days).persist()
    ancestry = cell_ancestry(read_table(spark, CELLS, paths), resolutions)
    out = masked(hex_sales(rows_in, ancestry), health_mask_below(cfg), resolutions).persist()
    try:
        rows = out.count()
        write_table(out, TABLE, paths)
        found = {r.ds: r.asDict() for r in placement(rows_in).collect()}
        n_masked = masked_per_day(out)
        checks = {d: day_checks(found.get(d, {}), n_masked.get(d, 0)) for d in days}
        write_table(checks_frame(spark, TABLE, checks), "dq_results", paths)
    finally:
        out.unpersist()
        rows_in.unpersist()
    return rows
