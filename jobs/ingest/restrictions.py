"""Public-health restrictions -> ``stg_restrictions__restrictions``.

Reads ``restrictions.csv`` delivered on day D (the complete list; its name carries no day, so it
covers its delivery day). Writes ``stg_restrictions__restrictions`` partition ``ds=D`` (grain:
one row per restriction; a job for day X uses the latest partition with ds <= X), the
quarantine and dq_results of (restrictions, D).

Per line, in this order (decoding and duplicates: ``jobs.ingest.text``):
  duplicate          same fields as an earlier line: removed and counted
  malformed_row      not 6 CSV fields
  missing_value      restriction_id, start_date, scope, measure or stringency empty
  bad_type           dates not ISO dates; stringency not a decimal number
  value_not_allowed  stringency outside 0-100; end_date before start_date; a restriction_id
                     repeated with other content
  unknown_reference  a scope that is neither ``city`` nor a comma-separated list of
                     configured districts (staged with the config's Latin names)
"""

from datetime import date

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common.contracts import load_contract
from jobs.ingest.framework import Check, Delivery, StageResult, covering, dated
from jobs.ingest.text import (as_date, as_decimal, blank, by_day, csv_content, csv_fields, district_of, file_checks,
                              flag_conflicts, judge, lines_frame, mark_duplicates, ok, quarantine_rows, read_all,
                              read_csv, row_checks, tally, typed, wrong_width)

FEED, TABLE = "restrictions", "stg_restrictions__restrictions"
COLUMNS = load_contract(FEED).column_names


def scope_of(text: Column, cfg: dict) -> Column:
    """``city``, or the config names of the listed districts joined by commas; null when any
    listed district is unknown."""
    names = F.transform(F.split(text, ","), lambda part: district_of(part, cfg))
    listed = F.when(~F.exists(names, lambda n: n.isNull()), F.array_join(names, ","))
    return F.when(F.lower(F.trim(text)) == "city", F.lit("city")).otherwise(listed)


def classify_restrictions(rows: DataFrame, cfg: dict) -> DataFrame:
    """Typed columns (``c_*``) plus ``_dup``/``_verdict`` for every delivered line."""
    v = csv_fields(COLUMNS)
    df = mark_duplicates(rows, csv_content()).select(
        "*", v["restriction_id"].alias("c_restriction_id"), as_date(v["start_date"]).alias("c_start_date"),
        as_date(v["end_date"]).alias("c_end_date"), scope_of(v["scope"], cfg).alias("c_scope"),
        v["measure"].alias("c_measure"), as_decimal(v["stringency"]).alias("c_stringency"))
    c = {k[2:]: F.col(k) for k in df.columns if k.startswith("c_")}
    rules = [wrong_width(COLUMNS)]
    rules += [("missing_value", f"{k} present", blank(v[k]))
              for k in ("restriction_id", "start_date", "scope", "measure", "stringency")]
    rules += [("bad_type", "start_date is an ISO date (yyyy-MM-dd)", c["start_date"].isNull()),
              ("bad_type", "end_date is empty or an ISO date", ~blank(v["end_date"]) & c["end_date"].isNull()),
              ("bad_type", "stringency is a decimal number", c["stringency"].isNull()),
              ("value_not_allowed", "stringency in [0, 100]", (c["stringency"] < 0) | (c["stringency"] > 100)),
              ("value_not_allowed", "end_date >= start_date", c["end_date"] < c["start_date"]),
              ("unknown_reference", "scope is 'city' or comma-separated districts of the city config",
               c["scope"].isNull())]
    return flag_conflicts(judge(df, rules), ["c_restriction_id"],
                          "restriction_id unique (repeated with other content)")


def staged_restrictions(judged: DataFrame) -> DataFrame:
    """Rows of ``stg_restrictions__restrictions`` (``ds``: the delivery day of the list)."""
    return judged.where(ok()).select(
        F.col("covered_ds").alias("ds"),
        *typed("restriction_id", "start_date", "end_date", "scope", "measure", "stringency"),
        "source_file", "source_row")


def stage(spark: SparkSession, deliveries: list[Delivery], cfg: dict, day: date | None = None) -> StageResult:
    """Stage the restriction lists the raw files hold (all of them of ``day`` when given)."""
    files, rejected = read_all(covering(deliveries, day), lambda d: read_csv(d, COLUMNS))
    judged = classify_restrictions(lines_frame(spark, files), cfg).persist()
    day_ = F.col("covered_ds")
    in_force = ok() & (F.col("c_start_date") <= day_) & F.coalesce(F.col("c_end_date") >= day_, F.lit(True))
    days = list(by_day(files, rejected))
    counts = tally(judged, [d for d, _, _ in days], in_force=F.sum(F.when(in_force, 1).otherwise(0)))
    checks = []
    for d, d_files, d_rejected in days:
        t = counts[d]
        checks += dated(d, file_checks(d_files, d_rejected) + row_checks(t) + [
            Check("restrictions_in_force", t["in_force"] or 0, None, "pass", f"in force on {d.isoformat()}")])
    return StageResult({TABLE: staged_restrictions(judged)}, quarantine_rows(judged, FEED), rejected,
                       checks, persisted=[judged])
