"""Daily morbidity reports -> ``stg_morbidity__daily``.

Reads every raw file covering report day D: ``morbidity_D.csv`` (revision 1, delivered on D)
and any correction ``morbidity_D_rev<N>.csv`` delivered in a later ``dt=`` folder. Writes
``stg_morbidity__daily`` partition ``ds=D`` (grain: one row per district, its highest revision),
the quarantine and dq_results of (morbidity, D). A correction therefore rewrites the whole
partition of the day it corrects; the framework records the day in ``ops_recompute_requests``
(reason corrected_redelivery) so that everything downstream of it is recomputed. Many report
days are staged in one pass; rows of different days are never compared.

Per line, in this order (decoding and duplicates: ``jobs.ingest.text``):
  duplicate          same fields as an earlier line of the day: removed and counted
  malformed_row      not 7 CSV fields
  missing_value      an empty field
  bad_type           report_date not an ISO date; a count or the revision not an integer
  value_not_allowed  a negative count; revision < 1 or not the file name's revision
                     (``_rev<N>``; none = 1); a district repeated within one revision
  wrong_day          report_date is not the day in the file name
  unknown_reference  district is not a district of the city config (Latin, Russian or
                     Kazakh name; staged as the config's Latin name)
Valid rows of a lower revision than the highest delivered for their district are superseded:
counted (``rows_superseded``, part of the row balance), not staged, not quarantined.
"""

import re
from datetime import date

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from jobs.common.contracts import load_contract
from jobs.ingest.framework import Check, Delivery, StageResult, covering, dated
from jobs.ingest.text import (as_date, as_integer, blank, by_day, csv_content, csv_fields, district_of, file_checks,
                              flag_conflicts, judge, lines_frame, mark_duplicates, ok, quarantine_rows, read_all,
                              read_csv, row_checks, tally, typed, wrong_width)

FEED, TABLE = "morbidity", "stg_morbidity__daily"
COLUMNS = load_contract(FEED).column_names
COUNTS = ("new_cases", "hospitalised", "deaths", "tests")
INT_MAX = 2**31 - 1


def file_revision(filename: str) -> int:
    """Revision a file name announces: ``_rev<N>`` -> N, none -> 1 (the feed contract's regex)."""
    m = re.match(load_contract(FEED).format["file_regex"], filename)
    return int(m.group("revision")) if m and m.group("revision") else 1


def classify_reports(rows: DataFrame, cfg: dict, revisions: dict[str, int]) -> DataFrame:
    """Typed columns (``c_*``), ``_dup``/``_verdict`` and ``_superseded`` for every line.

    ``revisions`` maps each source_file to the revision its name announces."""
    v = csv_fields(COLUMNS)
    announced = F.try_element_at(F.create_map(*[F.lit(x) for kv in revisions.items() for x in kv]),
                                 F.col("source_file"))
    df = mark_duplicates(rows, csv_content()).select(
        "*", as_date(v["report_date"]).alias("c_report_date"), district_of(v["district"], cfg).alias("c_district"),
        *[as_integer(v[k]).alias(f"c_{k}") for k in COUNTS + ("revision",)], announced.alias("c_announced"))
    c = {k[2:]: F.col(k) for k in df.columns if k.startswith("c_")}
    rules = [wrong_width(COLUMNS)]
    rules += [("missing_value", f"{k} present", blank(v[k])) for k in COLUMNS]
    rules += [("bad_type", "report_date is an ISO date (yyyy-MM-dd)", c["report_date"].isNull())]
    rules += [("bad_type", f"{k} is an integer", c[k].isNull()) for k in COUNTS + ("revision",)]
    rules += [("value_not_allowed", f"{k} >= 0 (and fits an int)", (c[k] < 0) | (c[k] > INT_MAX)) for k in COUNTS]
    rules += [("value_not_allowed", "revision >= 1 and equal to the file name's revision (_rev<N>, none = 1)",
               (c["revision"] < 1) | (c["revision"] != c["announced"])),
              ("wrong_day", "report_date is the day in the file name", c["report_date"] != F.col("covered_ds")),
              ("unknown_reference", "district is a district of the city config", c["district"].isNull())]
    judged = flag_conflicts(judge(df, rules), ["c_district", "c_revision"],
                            "one row per district and revision (repeated with other figures)")
    latest = Window.partitionBy(ok().alias("_ok"), "covered_ds", "c_district").orderBy(F.desc("c_revision"))
    return judged.withColumn("_superseded", ok() & (F.row_number().over(latest) > 1))


def staged_reports(judged: DataFrame) -> DataFrame:
    """Rows of ``stg_morbidity__daily``: each district's highest valid revision."""
    return judged.where(ok() & ~F.col("_superseded")).select(
        F.col("covered_ds").alias("ds"), *typed("district"),
        *[F.col(f"c_{k}").cast("int").alias(k) for k in ("revision",) + COUNTS],
        "delivered_ds", "source_file", "source_row")


def stage(spark: SparkSession, deliveries: list[Delivery], cfg: dict, day: date | None = None) -> StageResult:
    """Stage the report days the raw files cover (all of them cover ``day`` when given), each
    from its first delivery and every correction of it."""
    files, rejected = read_all(covering(deliveries, day), lambda d: read_csv(d, COLUMNS))
    revisions = {tf.delivery.rel: file_revision(tf.delivery.path.name) for tf in files}
    judged = classify_reports(lines_frame(spark, files), cfg, revisions).persist()
    staged_now = ok() & ~F.col("_superseded")
    days = list(by_day(files, rejected))
    counts = tally(judged, [d for d, _, _ in days], superseded=F.col("_superseded"),
                   districts=F.count_distinct(F.when(staged_now, F.col("c_district"))),
                   revision_max=F.max(F.when(staged_now, F.col("c_revision"))),
                   corrected=F.sum(F.when(staged_now & (F.col("c_revision") > 1), 1).otherwise(0)))
    expected = len(cfg["districts"])
    checks = []
    for d, d_files, d_rejected in days:
        t = counts[d]
        checks += dated(d, file_checks(d_files, d_rejected) + row_checks(t) + [
            Check("districts_reported", t["districts"] or 0, expected,
                  "warn" if (t["districts"] or 0) < expected else "pass", "districts with a staged row"),
            Check("revision_max", t["revision_max"], None, "pass", "highest revision staged"),
            Check("rows_corrected", t["corrected"] or 0, None, "pass", "staged rows from a correction (revision > 1)"),
        ])
    return StageResult({TABLE: staged_reports(judged)}, quarantine_rows(judged, FEED), rejected, checks,
                       persisted=[judged])
