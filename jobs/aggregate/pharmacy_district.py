"""agg_pharmacy__district_day: pharmacy sales per district of the pharmacy, day and ATC group.

Reads ``stg_pharmacy__receipts`` and ``stg_pharmacy__receipt_items`` (the days asked for),
``stg_pharmacy__pharmacies`` and ``geo_h3_cells``; writes ``agg_pharmacy__district_day`` (one
``ds`` partition per day with receipts) and ``dq_results`` (feed_or_table = the table). Grain:
one row per (ds, district, atc_group) for every district of the city config and every group of
its ``atc_groups`` ('other' always) plus 'all', zeros included, on each day with staged
receipts. Groups, items, amount and pharmacies as in agg_pharmacy__h3_day. Not masked.

Placing a receipt (its pharmacy's version valid that day, see ``pharmacy_h3``), first rule that
applies:
1. the district of the cell of the pharmacy's position in ``geo_h3_cells`` (as in the hex
   table, so the hexes of a district add up to it);
2. else (position in no cell of the city) the district the pharmacy is registered in;
3. else not placed. Receipts of a pharmacy with no version valid that day are not placed either.
Per day ``dq_results`` holds receipts_staged, receipts_located_by_position,
receipts_located_by_registered_district, receipts_pharmacy_unknown, receipts_unlocated,
receipts_unaccounted (staged minus the four; must be 0) and pharmacies_district_differs
(pharmacies with receipts whose cell district is not their registered district; informational).
"""

from datetime import date

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.aggregate.ambulance_district import complete
from jobs.aggregate.ambulance_h3 import ALL, balance, checks_frame
from jobs.aggregate.pharmacy_h3 import placed_receipts, sales
from jobs.common.config import Paths
from jobs.common.lake import write_table
from jobs.ingest.framework import Check

TABLE = "agg_pharmacy__district_day"


def atc_groups(cfg: dict) -> list[str]:
    """The config's ATC indicator groups in order of appearance ('other' always), then 'all'."""
    groups = list(dict.fromkeys(a["group"] for a in cfg["atc_groups"]))
    return groups + ["other"] * ("other" not in groups) + [ALL]


def with_district(placed: DataFrame) -> DataFrame:
    """``placed`` (see ``pharmacy_h3.place``) plus ``district`` (rules 1-2; null when unplaced)."""
    return placed.withColumn("district", F.coalesce("cell_district", "registered_district"))


def district_sales(placed: DataFrame, days: DataFrame, districts: list[str], groups: list[str]) -> DataFrame:
    """Sales per (ds, district, atc_group) on the full grid of ``days`` x districts x groups."""
    counts = sales(placed.where(F.col("district").isNotNull()), ["district"])
    reporting = counts.where(F.col("atc_group") == ALL).select("ds", "district", "pharmacies")
    grid = complete(counts.drop("pharmacies"), days, districts, groups, "atc_group")
    return grid.join(reporting, ["ds", "district"], "left").fillna(0, ["pharmacies"])


def placement(placed: DataFrame) -> DataFrame:
    """Per day, over receipts (their 'all' rows): how each was placed, and the pharmacies whose
    cell district differs from their registered district."""
    n = lambda cond: F.sum(F.when(cond, 1).otherwise(0))          # noqa: E731
    known, by_cell = F.col("known"), F.col("cell_district").isNotNull()
    by_reg = known & ~by_cell & F.col("registered_district").isNotNull()
    differs = by_cell & (F.col("cell_district") != F.col("registered_district"))
    return placed.where(F.col("atc_group") == ALL).groupBy("ds").agg(
        F.count(F.lit(1)).alias("receipts_staged"), n(by_cell).alias("receipts_located_by_position"),
        n(by_reg).alias("receipts_located_by_registered_district"),
        n(~known).alias("receipts_pharmacy_unknown"), n(known & F.col("district").isNull()).alias("receipts_unlocated"),
        F.count_distinct(F.when(differs, F.col("pharmacy_id"))).alias("pharmacies_district_differs"))


def day_checks(p: dict) -> list[Check]:
    parts = {k: p.get(k, 0) for k in ("receipts_located_by_position", "receipts_located_by_registered_district",
                                      "receipts_pharmacy_unknown", "receipts_unlocated")}
    staged = p.get("receipts_staged", 0)
    warn = lambda v: "warn" if v else "pass"                       # noqa: E731
    return [
        Check("receipts_staged", staged, None, "pass" if staged else "warn",
              "staged receipts of the day" + ("" if staged else ": none (nothing written)")),
        Check("receipts_located_by_position", parts["receipts_located_by_position"], None, "pass",
              "district of the pharmacy's H3 cell (geo_h3_cells)"),
        Check("receipts_located_by_registered_district", parts["receipts_located_by_registered_district"], None,
              "pass", "pharmacy position in no cell of the city: its registered district"),
        Check("receipts_pharmacy_unknown", parts["receipts_pharmacy_unknown"], 0,
              warn(parts["receipts_pharmacy_unknown"]), "no pharmacy reference version valid that day"),
        Check("receipts_unlocated", parts["receipts_unlocated"], 0, warn(parts["receipts_unlocated"]),
              "pharmacy outside the city's cells and without a registered district"),
        balance("receipts_unaccounted", staged, parts),
        Check("pharmacies_district_differs", p.get("pharmacies_district_differs", 0), None, "pass",
              "pharmacies with receipts whose cell district is not their registered district"),
    ]


def run(spark: SparkSession, cfg: dict, paths: Paths | None, days: list[date]) -> int:
    """Build the table for ``days`` in one pass; returns the rows written."""
    if not days:
        return 0
    placed = with_district(placed_receipts(spark, cfg, paths, days)).persist()
    districts = [d["name"] for d in cfg["districts"]]
    out = district_sales(placed, placed, districts, atc_groups(cfg)).persist()
    try:
        rows = out.count()
        write_table(out, TABLE, paths)
        found = {r.ds: r.asDict() for r in placement(placed).collect()}
        write_table(checks_frame(spark, TABLE, {d: day_checks(found.get(d, {})) for d in days}),
                    "dq_results", paths)
    finally:
        out.unpersist()
        placed.unpersist()
    return rows
