"""Pharmacy fiscal receipts -> ``stg_pharmacy__receipts`` and ``stg_pharmacy__receipt_items``.

Reads every raw file covering day D (``receipts_D.jsonl.gz``, gzip JSON lines; a late file sits
in a later ``dt=`` folder and joins its day), for one or more days D in one pass. Writes ``stg_pharmacy__receipts`` partition
``ds=D`` (grain: one row per receipt), ``stg_pharmacy__receipt_items`` partition ``ds=D`` (one
row per receipt line, ``item_no`` 1 = first) and the quarantine and dq_results of
(pharmacy_receipts, D). A receipt is staged with all its lines or quarantined whole.

Per line, in this order (decoding and duplicates: ``jobs.ingest.text``):
  duplicate          same receipt (every field) as an earlier line of the day: removed, counted
  malformed_row      not one complete JSON object (e.g. a line cut short)
  missing_value      receipt_id, kkm_id, pharmacy_id, ts, total or items missing; an item
                     without atc, qty or amount
  bad_type           ts not ISO 8601 with an offset; total/amount not numbers; qty not an integer
  value_not_allowed  a negative total, qty or amount; a receipt_id repeated with other content
  wrong_day          the sale's local date (city time zone) is not the covered day
``ts`` carries its own UTC offset, so the instant is exact as delivered; the local date comes
from the tz database (``from_utc_timestamp`` with the city's zone) and a delivered offset that
differs from the zone's offset at that instant is counted (``ts_offset_not_city_tz``). ATC
codes map to the config's ``atc_groups`` by longest prefix (``N02BE01`` -> ``N02B``); unknown
codes count as ``other``.
"""

from datetime import date

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs.ingest.framework import Check, Delivery, StageResult, covering, dated
from jobs.ingest.text import (blank, by_day, file_checks, flag_conflicts, judge, lines_frame, mark_duplicates, ok,
                              quarantine_rows, read_all, read_text, require_utc_session, row_checks, tally,
                              time_checks, typed)

FEED, RECEIPTS, ITEMS = "pharmacy_receipts", "stg_pharmacy__receipts", "stg_pharmacy__receipt_items"
TS_FORMAT = "yyyy-MM-dd'T'HH:mm:ssXXX"
TS_SHAPE = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$"
NUMBER = r"^-?\d+(\.\d+)?([eE][+-]?\d+)?$"
INTEGER = r"^-?\d+$"
_S = T.StringType()
LINE_SCHEMA = T.StructType([
    *[T.StructField(n, _S) for n in ("receipt_id", "kkm_id", "pharmacy_id", "ts", "total")],
    T.StructField("items", T.ArrayType(T.StructType([T.StructField(n, _S) for n in ("atc", "qty", "amount")]))),
    T.StructField("_corrupt_record", _S),
])


def _sql(text: str) -> str:
    """``text`` as a Spark SQL string literal (backslashes and quotes escaped)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _any_item(cond: str) -> Column:
    """True when some item (``it``) meets the SQL condition ``cond``."""
    return F.expr(f"exists(items_, it -> {cond})")


def classify_receipts(rows: DataFrame, tz: str) -> DataFrame:
    """Parsed receipt columns (``c_*``, items as ``items_``) plus ``_dup``/``_verdict`` per line."""
    parsed = F.from_json("raw_record", LINE_SCHEMA, {"mode": "PERMISSIVE",
                                                     "columnNameOfCorruptRecord": "_corrupt_record"})
    df = rows.withColumn("_p", parsed)
    line = F.trim("raw_record")
    broken = (blank(F.col("raw_record")) | F.col("_p._corrupt_record").isNotNull()
              | ~line.startswith("{") | ~line.endswith("}"))
    fields = F.struct(*[F.col(f"_p.{n}") for n in ("receipt_id", "kkm_id", "pharmacy_id", "ts", "total", "items")])
    df = mark_duplicates(df.withColumn("_broken", broken),
                         F.when(broken, F.concat(F.lit("r:"), "raw_record"))
                         .otherwise(F.concat(F.lit("j:"), F.to_json(fields))))
    p = {n: F.trim(F.col(f"_p.{n}")) for n in ("receipt_id", "kkm_id", "pharmacy_id", "ts", "total")}
    utc = F.when(p["ts"].rlike(TS_SHAPE), F.try_to_timestamp(p["ts"], F.lit(TS_FORMAT)))
    local = F.from_utc_timestamp(utc, tz)
    df = df.select(
        "*", p["receipt_id"].alias("c_receipt_id"), p["kkm_id"].alias("c_kkm_id"),
        p["pharmacy_id"].alias("c_pharmacy_id"), utc.alias("c_sold_at_utc"), local.alias("c_local"),
        (F.regexp_replace(F.substring(p["ts"], 1, 19), "T", " ")
         != F.date_format(local, "yyyy-MM-dd HH:mm:ss")).alias("c_offset_off"),
        F.when(p["total"].rlike(NUMBER), p["total"].cast("double")).alias("c_total"),
        F.col("_p.items").alias("items_"))
    rules = [("malformed_row", "line is one complete JSON object (a receipt)", F.col("_broken"))]
    rules += [("missing_value", f"{n} present", blank(p[n])) for n in p]
    rules += [("missing_value", "items present (a list, may be empty)", F.col("items_").isNull()),
              ("missing_value", "every item has atc, qty and amount",
               _any_item("it IS NULL OR trim(coalesce(it.atc, '')) = '' OR it.qty IS NULL OR it.amount IS NULL")),
              ("bad_type", f"ts parses as {TS_FORMAT}", F.col("c_sold_at_utc").isNull()),
              ("bad_type", "total is a number", F.col("c_total").isNull()),
              ("bad_type", "item qty is an integer", _any_item(f"NOT trim(it.qty) RLIKE {_sql(INTEGER)}")),
              ("bad_type", "item amount is a number", _any_item(f"NOT trim(it.amount) RLIKE {_sql(NUMBER)}")),
              ("value_not_allowed", "total >= 0", F.col("c_total") < 0),
              ("value_not_allowed", "item qty a whole number >= 0 (int) and amount >= 0",
               _any_item("try_cast(trim(it.qty) AS INT) < 0 OR try_cast(trim(it.amount) AS DOUBLE) < 0"
                         " OR try_cast(trim(it.qty) AS INT) IS NULL")),
              ("wrong_day", "ts (local city time) is on the day in the file name",
               F.to_date("c_local") != F.col("covered_ds"))]
    return flag_conflicts(judge(df, rules), ["c_receipt_id"],
                          "receipt_id unique within the day (repeated with other content)")


def atc_group(code: Column, groups: dict[str, str]) -> Column:
    """Config group of an ATC code by longest matching prefix; ``other`` when none matches."""
    out = F.lit("other")
    for prefix in sorted(groups, key=len):           # longest prefix evaluated last, wins
        out = F.when(F.upper(F.trim(code)).startswith(prefix.upper()), F.lit(groups[prefix])).otherwise(out)
    return out


def staged_receipts(judged: DataFrame) -> DataFrame:
    """Rows of ``stg_pharmacy__receipts`` (``ds``: the covered day)."""
    return judged.where(ok()).select(
        F.col("covered_ds").alias("ds"), *typed("receipt_id", "kkm_id", "pharmacy_id", "sold_at_utc"),
        F.col("c_total").alias("total_kzt"), F.size("items_").alias("n_items"), "source_file", "source_row")


def staged_items(judged: DataFrame, groups: dict[str, str]) -> DataFrame:
    """Rows of ``stg_pharmacy__receipt_items``: one per line of every staged receipt."""
    lines = judged.where(ok()).select("covered_ds", "c_receipt_id", "source_file", "source_row",
                                      F.posexplode("items_").alias("pos", "it"))
    return lines.select(
        F.col("covered_ds").alias("ds"), *typed("receipt_id"), (F.col("pos") + 1).alias("item_no"),
        F.trim("it.atc").alias("atc_code"), atc_group(F.col("it.atc"), groups).alias("atc_group"),
        F.trim("it.qty").try_cast("int").alias("qty"), F.trim("it.amount").try_cast("double").alias("amount_kzt"),
        "source_file", "source_row")


def _count(cond: Column) -> Column:
    return F.sum(F.when(ok() & cond, 1).otherwise(0))


def stage(spark: SparkSession, deliveries: list[Delivery], cfg: dict, day: date | None = None) -> StageResult:
    """Stage the receipts of the days the raw files cover (all of them cover ``day`` when given),
    each day from every raw file that covers it."""
    require_utc_session(spark)
    groups = {a["atc"]: a["group"] for a in cfg["atc_groups"]}
    files, rejected = read_all(covering(deliveries, day), lambda d: read_text(d, gzipped=True, allow_empty=True))
    judged = classify_receipts(lines_frame(spark, files), cfg["city"]["timezone"]).persist()
    known = "array(" + ", ".join(_sql(c.upper()) for c in groups) + ")"
    days = list(by_day(files, rejected))
    counts = tally(judged, [d for d, _, _ in days],
                   t_min=F.min(F.when(ok(), F.unix_seconds("c_sold_at_utc"))),
                   t_max=F.max(F.when(ok(), F.unix_seconds("c_sold_at_utc"))),
                   items=F.sum(F.when(ok(), F.size("items_")).otherwise(0)),
                   atc_unknown=F.sum(F.when(ok(), F.expr(
                       f"size(filter(items_, it -> NOT exists({known}, k -> startswith(upper(trim(it.atc)), k))))"))),
                   mismatch=_count(F.abs(F.col("c_total") - F.expr(
                       "aggregate(items_, 0D, (s, it) -> s + try_cast(trim(it.amount) AS DOUBLE))")) > 0.005),
                   offset_off=_count(F.col("c_offset_off")))
    checks = []
    for d, d_files, d_rejected in days:
        t = counts[d]
        checks += dated(d, file_checks(d_files, d_rejected) + row_checks(t) + time_checks(t) + [
            Check("items_staged", t["items"] or 0),
            Check("atc_unknown", t["atc_unknown"] or 0, None, "warn" if t["atc_unknown"] else "pass",
                  "item codes matching no atc_groups prefix of the config, grouped as other"),
            Check("receipts_total_mismatch", t["mismatch"] or 0, None, "warn" if t["mismatch"] else "pass",
                  "staged receipts whose total differs from the sum of their item amounts"),
            Check("ts_offset_not_city_tz", t["offset_off"] or 0, None, "warn" if t["offset_off"] else "pass",
                  "staged receipts whose delivered UTC offset is not the city zone's offset at that instant"),
        ])
    staged = {RECEIPTS: staged_receipts(judged), ITEMS: staged_items(judged, groups)}
    # one staged receipt per (day, receipt_id) by flag_conflicts, items numbered by posexplode
    return StageResult(staged, quarantine_rows(judged, FEED), rejected, checks, persisted=[judged],
                       unique={RECEIPTS, ITEMS})
