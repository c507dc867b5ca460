"""Shared logic of the operator event adapters: contract rules for delivered rows, the subscriber
key conversion, the standard event record and its de-duplication.

Reads nothing itself: each adapter (``kcell``, ``beeline``, ``tele2``) gives a reader and a pure
``standardise(frame, contract, mcc_mnc, tz, day)`` (``day``: the column of the covered day)
that adds the standard columns ``EVENT_COLUMNS`` and returns its rules; ``stage_events`` runs
the shared staging (``jobs.ingest.rowstage``, many covered days in one pass) and maps the result
onto ``stg_operator__events`` (grain: one row per distinct event of the covered day and
operator; unique on source_file and source_row by construction, so the write skips the grain
check).

Rules come from the feed contract, column by column in contract order: present (not null, not
empty), parses as the contract type (text formats), allowed values, min/max, pattern; before them
the raw-identifier rule on the subscriber key (a file with one such key is rejected whole) and,
for delimited text, the field count; after them the adapter's own rules and ``wrong_day`` (the
event's local Asia/Almaty day is not the covered day). A row is quarantined with the first rule
it breaks.

A duplicate is a row equal to an earlier row of the day on the standard record (subscriber key,
UTC instant, LAC, CI, event type). For Kcell and Tele2 this is the delivered record itself; for
Beeline the 64-hex key is reduced to its first 64 bits, so two distinct keys would also have to
share those bits, the millisecond, the cell and the type.
"""

import re
from collections.abc import Callable
from datetime import date

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common.contracts import Column as ContractColumn
from jobs.common.contracts import Contract, load_contract, spark_type
from jobs.ingest.framework import Delivery, StageResult
from jobs.ingest.rowstage import Rule, RowFeed, stage_rows

RAW_IDENTIFIER = r"^\+?[0-9]{10,15}$"        # MSISDN (77 + 9 digits) or IMSI (MCC 401, MNC, MSIN)
EVENT_COLUMNS = ("subscriber_key", "event_ts_utc", "lac", "ci", "event_type")
TABLE = "stg_operator__events"
Standardise = Callable[[DataFrame, Contract, str, str, Column], tuple[DataFrame, list[Rule]]]


# ---------------------------------------------------------------- column expressions
def key_to_int64(key: Column) -> Column:
    """First 16 hex characters of a key as a signed 64-bit integer, as the reference
    ``jobs.simulate.keys.key_to_int64``: two 32-bit halves through ``conv``, the high half
    shifted left by 32 (the shift wraps into the sign bit: two's complement)."""
    hi = F.conv(F.substring(key, 1, 8), 16, 10).try_cast("bigint")
    lo = F.conv(F.substring(key, 9, 8), 16, 10).try_cast("bigint")
    return F.shiftleft(hi, 32).bitwiseOR(lo)


def local_day(ts_utc: Column, tz: str) -> Column:
    """The city's calendar day of a UTC instant, through the tz database."""
    return F.to_date(F.from_utc_timestamp(ts_utc, tz))


def case_map(col: Column, mapping: dict) -> Column:
    """``col`` translated through ``mapping``, null when absent (a CASE: safe in ANSI mode)."""
    items = list(mapping.items())
    out = F.when(col == F.lit(items[0][0]), F.lit(items[0][1]))
    for k, v in items[1:]:
        out = out.when(col == F.lit(k), F.lit(v))
    return out


# ---------------------------------------------------------------- rules
def raw_identifier_rule(key: Column, name: str) -> Rule:
    return Rule("raw_identifier", f"{name} is a pseudonymous key, not a raw MSISDN or IMSI",
                F.coalesce(key.rlike(RAW_IDENTIFIER), F.lit(False)))


def wrong_day_rule(local: Column, day: Column, tz: str) -> Rule:
    """``local`` (the event's city day) must be the covered day ``day``; an unknown day is wrong too."""
    return Rule("wrong_day", f"event time falls on the covered day {{day}} ({tz})",
                ~F.coalesce(local == day, F.lit(False)))


def typed(text: Column, col: ContractColumn, fmt: dict) -> Column:
    """A delivered text field as its contract type; null when it does not parse."""
    if col.type == "string":
        return text
    if col.type == "timestamp":
        return F.try_to_timestamp(text, F.lit(fmt["timestamp_format"]))
    if col.type == "date":
        return F.try_to_date(text, fmt.get("date_format", "yyyy-MM-dd"))
    return text.try_cast(spark_type(col.type))


def column_rules(col: ContractColumn, value: Column, text: Column | None = None,
                 fmt: dict | None = None) -> list[Rule]:
    """The contract's rules for one column: present, parses (text only), allowed, min, max, pattern."""
    src = value if text is None else text
    present = src.isNotNull()
    if col.type == "string" or text is not None:
        present = present & (src != F.lit(""))
    rules = [] if col.nullable else [Rule("missing_value", f"{col.name} is present", ~present)]
    if text is not None and col.type != "string":
        shape = (fmt or {}).get({"timestamp": "timestamp_format", "date": "date_format"}.get(col.type, ""))
        rules.append(Rule("bad_type", f"{col.name} parses as {shape or col.type}", present & value.isNull()))
    if col.allowed is not None:
        rules.append(Rule("value_not_allowed", f"{col.name} is one of {', '.join(map(str, col.allowed))}",
                          ~value.isin(list(col.allowed))))
    if col.min is not None:
        rules.append(Rule("value_not_allowed", f"{col.name} >= {col.min:g}", value < F.lit(col.min)))
    if col.max is not None:
        rules.append(Rule("value_not_allowed", f"{col.name} <= {col.max:g}", value > F.lit(col.max)))
    if col.pattern is not None:
        rules.append(Rule("value_not_allowed", f"{col.name} matches {col.pattern}", ~value.rlike(col.pattern)))
    return rules


def parse_delimited(lines: DataFrame, contract: Contract, key: str | None = None) -> tuple[DataFrame, list[Rule]]:
    """Split each ``_line`` at the contract's delimiter into ``_t_<col>`` (text) and ``_v_<col>``
    (typed) columns. Rules: raw identifier in the first field when ``key`` is given, the field
    count, then every column's; the quarantined record is the line as delivered."""
    fmt = contract.format
    n = len(contract.columns)
    df = lines.withColumn("_fields", F.split("_line", re.escape(fmt["delimiter"]), -1))
    df = df.select("*", *[F.get("_fields", i).alias(f"_t_{c.name}") for i, c in enumerate(contract.columns)])
    df = df.select("*", *[typed(F.col(f"_t_{c.name}"), c, fmt).alias(f"_v_{c.name}") for c in contract.columns])
    rules = [raw_identifier_rule(F.get("_fields", 0), key)] if key else []
    rules.append(Rule("malformed_row", f"{n} fields separated by '{fmt['delimiter']}'", F.size("_fields") != n))
    for c in contract.columns:
        rules += column_rules(c, F.col(f"_v_{c.name}"), F.col(f"_t_{c.name}"), fmt)
    return df.withColumn("_record", F.col("_line")), rules


def parse_typed(rows: DataFrame, contract: Contract, key: str | None = None) -> tuple[DataFrame, list[Rule]]:
    """Rules for a typed read (columns ``_v_<col>``, e.g. Parquet); the quarantined record is the
    row as JSON with the delivered column names."""
    rules = [raw_identifier_rule(F.col(f"_v_{key}"), key)] if key else []
    for c in contract.columns:
        rules += column_rules(c, F.col(f"_v_{c.name}"))
    record = F.to_json(F.struct(*[F.col(f"_v_{c.name}").alias(c.name) for c in contract.columns]))
    return rows.withColumn("_record", record), rules


# ---------------------------------------------------------------- the standard event
def operator_of(cfg: dict, feed: str) -> dict:
    """The city config's operator entry of an operator feed (``operator_<name>``)."""
    name = feed.removeprefix("operator_")
    for op in cfg["operators"]:
        if op["name"] == name:
            return op
    raise KeyError(f"{feed}: no operator '{name}' in the city config")


def event_output(mcc_mnc: str) -> Callable[[DataFrame], DataFrame]:
    """De-duplicated standard records (+ ds, source_file, source_row) -> stg_operator__events."""
    def output(df: DataFrame) -> DataFrame:
        cgi = F.concat_ws("-", F.lit(mcc_mnc), F.col("lac").cast("string"), F.col("ci").cast("string"))
        return df.select("ds", F.lit(mcc_mnc).alias("operator"), "subscriber_key", "event_ts_utc",
                         cgi.alias("cgi"), "event_type", "source_file", "source_row")
    return output


def event_measures(df: DataFrame) -> list[Column]:
    """DQ measures of the staged events: first/last event as UTC epoch seconds and distinct keys
    (the de-duplication is clustered by subscriber key, so the distinct count needs no shuffle;
    distinct cells, a small set, are collected by the statistics job)."""
    return [F.min(F.unix_seconds("event_ts_utc")).alias("event_time_min_epoch_s"),
            F.max(F.unix_seconds("event_ts_utc")).alias("event_time_max_epoch_s"),
            F.count_distinct("subscriber_key").alias("distinct_subscribers")]


def stage_events(spark: SparkSession, deliveries: list[Delivery], cfg: dict, feed: str,
                 read: Callable, standardise: Standardise) -> StageResult:
    """Stage the covered days of ``deliveries`` of an operator feed onto ``stg_operator__events``."""
    session_tz = spark.conf.get("spark.sql.session.timeZone")
    if session_tz not in ("UTC", "Etc/UTC", "GMT", "Z"):
        raise RuntimeError(f"{feed}: local times are converted with to_utc_timestamp over a UTC session "
                           f"(jobs.common.spark.get_spark); spark.sql.session.timeZone is {session_tz}")
    contract = load_contract(feed)
    mcc_mnc, tz = operator_of(cfg, feed)["mcc_mnc"], cfg["city"]["timezone"]
    spec = RowFeed(contract=contract, table=TABLE, read=read,
                   parse=lambda df: standardise(df, contract, mcc_mnc, tz, F.col("_day")),
                   dedup=EVENT_COLUMNS, output=event_output(mcc_mnc), measures=event_measures,
                   distinct={"distinct_cells": F.struct("lac", "ci")}, cluster=("subscriber_key",),
                   unique_grain=True)
    return stage_rows(spark, deliveries, spec)
