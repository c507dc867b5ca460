"""Beeline (MCC-MNC 401-01) events -> ``stg_operator__events``.

Reads ``operator_beeline`` Parquet files of one or more covered days (``subscriber_id`` 64 hex,
``event_ts_utc`` timestamp[ms, UTC], ``tac`` int32, ``eci`` int64, ``event_type``) with the
contract schema; a file whose footer schema differs from the contract is rejected whole before
the read. Writes (through the framework) one staged row per distinct event; the cgi is
``401-01-<tac>-<eci>``. A Parquet row has no text form: the quarantine keeps it as JSON. Row
numbers count rows in file order across row groups (1 = first row).
"""

from datetime import date

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common.contracts import Contract, load_contract
from jobs.ingest.framework import Delivery, StageResult, covering
from jobs.ingest.operators import key_to_int64, local_day, parse_typed, stage_events, wrong_day_rule
from jobs.ingest.rowstage import Rule, parquet_reader

FEED = "operator_beeline"


def standardise(rows: DataFrame, contract: Contract, mcc_mnc: str, tz: str, day: Column) -> tuple[DataFrame, list[Rule]]:
    """Typed rows -> the standard event columns, with the rules to check."""
    df, rules = parse_typed(rows, contract, key="subscriber_id")
    df = df.select("*", key_to_int64(F.col("_v_subscriber_id")).alias("subscriber_key"),
                   F.col("_v_event_ts_utc").alias("event_ts_utc"), F.col("_v_tac").alias("lac"),
                   F.col("_v_eci").alias("ci"), F.col("_v_event_type").alias("event_type"))
    return df, rules + [wrong_day_rule(local_day(F.col("event_ts_utc"), tz), day, tz)]


def stage(spark: SparkSession, deliveries: list[Delivery], cfg: dict, day: date | None = None) -> StageResult:
    """The framework adapter: stage the covered days of Beeline deliveries (all of them cover
    ``day`` when given)."""
    return stage_events(spark, covering(deliveries, day), cfg, FEED, parquet_reader(load_contract(FEED)), standardise)
