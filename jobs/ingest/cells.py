"""Cell reference snapshots -> ``stg_operator__cells``.

Reads ``cell_reference`` files of one or more snapshot days: one CSV per operator,
``cells_<operator>_YYYYMMDD.csv``, each the full list of every version of every cell of that
operator (``valid_from``/``valid_to``, inclusive; empty ``valid_to``: still valid). Writes
(through the framework) partition ``ds`` = the snapshot day: one row per (cgi, valid_from) of the
operators delivered that day. A renamed cell is two rows (old cgi ending the day before, new cgi
from the change day); a moved site is two versions of the same cgi.

Rules beyond the contract's: the operator column is the MCC-MNC of the operator the file is
named after (``operators`` of the city config), the cgi is ``<operator>-<lac>-<ci>``, and
``valid_to`` is not before ``valid_from``. Exact duplicate rows are removed and counted; two
different rows for one (cgi, valid_from) keep the first delivered and quarantine the other.
"""

from datetime import date

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common.contracts import Contract, load_contract
from jobs.ingest.framework import Delivery, StageResult, covering
from jobs.ingest.operators import case_map, parse_delimited
from jobs.ingest.rowstage import Rule, RowFeed, read_lines, stage_rows

FEED = "cell_reference"
TABLE = "stg_operator__cells"
FILE_OPERATOR = r"cells_([a-z0-9]+)_\d{8}\.csv$"


def standardise(lines: DataFrame, contract: Contract, mcc_by_name: dict[str, str]) -> tuple[DataFrame, list[Rule]]:
    """Text lines -> typed columns under their contract names, with the rules to check."""
    df, rules = parse_delimited(lines, contract)
    df = df.select("*", *[F.col(f"_v_{c}").alias(c) for c in contract.column_names])
    named = case_map(F.regexp_extract("_path", FILE_OPERATOR, 1), mcc_by_name)
    cgi = F.concat_ws("-", F.col("operator"), F.col("lac").cast("string"), F.col("ci").cast("string"))
    rules += [
        Rule("value_not_allowed", "operator is the MCC-MNC of the operator the file is named after",
             ~F.coalesce(F.col("operator") == named, F.lit(False))),
        Rule("value_not_allowed", "cgi is <operator>-<lac>-<ci>", F.col("cgi") != cgi),
        Rule("value_not_allowed", "valid_to is not before valid_from", F.col("valid_to") < F.col("valid_from")),
    ]
    return df, rules


def output(df: DataFrame) -> DataFrame:
    return df.select("ds", *load_contract(FEED).column_names, "source_file", "source_row")


def stage(spark: SparkSession, deliveries: list[Delivery], cfg: dict, day: date | None = None) -> StageResult:
    """The framework adapter: stage the snapshot days of cell reference files (all of them of
    ``day`` when given)."""
    contract = load_contract(FEED)
    mcc_by_name = {op["name"]: op["mcc_mnc"] for op in cfg["operators"]}
    spec = RowFeed(contract=contract, table=TABLE, read=read_lines,
                   parse=lambda df: standardise(df, contract, mcc_by_name),
                   dedup=tuple(contract.column_names), output=output, conflict=("cgi", "valid_from"),
                   distinct={"distinct_cells": F.col("cgi"), "distinct_sites": F.struct("operator", "site_id"),
                             "operators": F.col("operator")})
    return stage_rows(spark, covering(deliveries, day), spec)
