"""Tele2/Altel (MCC-MNC 401-77) call detail records -> ``stg_operator__events``.

Reads ``operator_tele2`` plain CSV files of one or more covered days: ``sub_key,ts_ms,cgi,type`` with the
instant in epoch milliseconds (UTC), the cell as ``401-77-<LAC>-<CI>`` and type 1-4. Writes
(through the framework) one staged row per distinct event; the cgi is rebuilt from its parsed
LAC and CI, so it is canonical (no leading zeros). Files are read as text lines; a large file
may be read in several splits, and row numbers stay exact (see ``jobs.ingest.rowstage``).
"""

from datetime import date

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common.contracts import Contract
from jobs.ingest.framework import Delivery, StageResult, covering
from jobs.ingest.operators import case_map, key_to_int64, local_day, parse_delimited, stage_events, wrong_day_rule
from jobs.ingest.rowstage import Rule, read_lines

FEED = "operator_tele2"
EVENT_TYPES = {1: "voice", 2: "sms", 3: "data", 4: "handover"}
MAX_MS = 253_402_300_799_999          # 9999-12-31T23:59:59.999Z: later instants are not timestamps


def standardise(lines: DataFrame, contract: Contract, mcc_mnc: str, tz: str, day: Column) -> tuple[DataFrame, list[Rule]]:
    """Text lines -> typed fields + the standard event columns, with the rules to check."""
    df, rules = parse_delimited(lines, contract, key="sub_key")
    ms, parts = F.col("_v_ts_ms"), F.split(F.col("_v_cgi"), "-", -1)
    df = df.select("*", key_to_int64(F.col("_v_sub_key")).alias("subscriber_key"),
                   F.when(ms.between(0, MAX_MS), F.timestamp_millis(ms)).alias("event_ts_utc"),
                   F.get(parts, 2).try_cast("int").alias("lac"), F.get(parts, 3).try_cast("bigint").alias("ci"),
                   case_map(F.col("_v_type"), EVENT_TYPES).alias("event_type"))
    cell = [Rule("bad_type", "cgi LAC and CI are int and bigint", F.col("lac").isNull() | F.col("ci").isNull())]
    return df, rules + cell + [wrong_day_rule(local_day(F.col("event_ts_utc"), tz), day, tz)]


def stage(spark: SparkSession, deliveries: list[Delivery], cfg: dict, day: date | None = None) -> StageResult:
    """The framework adapter: stage the covered days of Tele2 deliveries (all of them cover
    ``day`` when given)."""
    return stage_events(spark, covering(deliveries, day), cfg, FEED, read_lines, standardise)
