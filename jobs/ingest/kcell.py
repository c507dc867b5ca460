"""Kcell (MCC-MNC 401-02) events -> ``stg_operator__events``.

Reads ``operator_kcell`` files of one or more covered days: ``;``-separated gzip CSV
``MSISDN_HASH;EVENT_TIME;LAC;CELL_ID;EVENT_TYPE`` with the local city time ``dd.MM.yyyy HH:mm:ss``.
Writes (through the framework) one staged row per distinct event. Each gzip file is one Spark
split, read once as text lines (the quarantine keeps the delivered line).

EVENT_TIME is parsed as a wall-clock time (session time zone UTC) and converted with
``to_utc_timestamp(..., 'Asia/Almaty')``: the tz database, never a fixed offset, so 2024-03-01's
change from UTC+6 to UTC+5 is applied. Its local date must be the covered day (``wrong_day``).
"""

from datetime import date

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common.contracts import Contract
from jobs.ingest.framework import Delivery, StageResult, covering
from jobs.ingest.operators import case_map, key_to_int64, parse_delimited, stage_events, wrong_day_rule
from jobs.ingest.rowstage import Rule, read_lines

FEED = "operator_kcell"
EVENT_TYPES = {"VOICE": "voice", "SMS": "sms", "DATA": "data", "HO": "handover"}


def standardise(lines: DataFrame, contract: Contract, mcc_mnc: str, tz: str, day: Column) -> tuple[DataFrame, list[Rule]]:
    """Text lines -> typed fields + the standard event columns, with the rules to check."""
    df, rules = parse_delimited(lines, contract, key="MSISDN_HASH")
    wall = F.col("_v_EVENT_TIME")
    df = df.select("*", key_to_int64(F.col("_v_MSISDN_HASH")).alias("subscriber_key"),
                   F.to_utc_timestamp(wall, tz).alias("event_ts_utc"),
                   F.col("_v_LAC").alias("lac"), F.col("_v_CELL_ID").cast("bigint").alias("ci"),
                   case_map(F.col("_v_EVENT_TYPE"), EVENT_TYPES).alias("event_type"))
    return df, rules + [wrong_day_rule(F.to_date(wall), day, tz)]


def stage(spark: SparkSession, deliveries: list[Delivery], cfg: dict, day: date | None = None) -> StageResult:
    """The framework adapter: stage the covered days of Kcell deliveries (all of them cover
    ``day`` when given)."""
    return stage_events(spark, covering(deliveries, day), cfg, FEED, read_lines, standardise)
