"""Pharmacy reference snapshots (feed ``pharmacy_reference``) -> ``stg_pharmacy__pharmacies``.

Reads ``pharmacies_YYYYMMDD.csv`` of snapshot day D (a full list of every version of every
pharmacy known on D: id, name, lat/lon, district, valid_from/valid_to inclusive, valid_to
empty while open). Writes ``stg_pharmacy__pharmacies`` partition ``ds=D`` (grain: one row per
pharmacy version; a job for day X uses the latest partition with ds <= X and the version valid
on X), the quarantine and dq_results of (pharmacy_reference, D).

Per line, in this order (decoding and duplicates: ``jobs.ingest.text``):
  duplicate          same fields as an earlier line: removed and counted
  malformed_row      not 7 CSV fields
  missing_value      pharmacy_id, name, lat, lon or valid_from empty
  bad_type           lat/lon not decimal numbers; valid_from/valid_to not ISO dates
  value_not_allowed  lat/lon outside [-90, 90]/[-180, 180]; valid_to before valid_from;
                     (pharmacy_id, valid_from) repeated with other content
  out_of_city        the position is outside the city outline (``districts.city_outline``)
  unknown_reference  a non-empty district that names no configured district
"""

from datetime import date

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common.contracts import load_contract
from jobs.ingest.districts import city_outline, inside
from jobs.ingest.framework import Check, Delivery, StageResult, covering, dated
from jobs.ingest.text import (as_date, as_decimal, blank, by_day, csv_content, csv_fields, district_of, file_checks,
                              flag_conflicts, judge, lines_frame, mark_duplicates, ok, quarantine_rows, read_all,
                              read_csv, row_checks, tally, typed, wrong_width)

FEED, TABLE = "pharmacy_reference", "stg_pharmacy__pharmacies"
COLUMNS = load_contract(FEED).column_names


def classify_pharmacies(rows: DataFrame, cfg: dict, outline: list[list[tuple[float, float]]]) -> DataFrame:
    """Typed columns (``c_*``) plus ``_dup``/``_verdict`` for every delivered line."""
    v = csv_fields(COLUMNS)
    df = mark_duplicates(rows, csv_content()).select(
        "*", v["pharmacy_id"].alias("c_pharmacy_id"), v["name"].alias("c_name"),
        as_decimal(v["lat"]).alias("c_lat"), as_decimal(v["lon"]).alias("c_lon"),
        F.when(~blank(v["district"]), v["district"]).alias("c_district_text"),
        district_of(v["district"], cfg).alias("c_district"),
        as_date(v["valid_from"]).alias("c_valid_from"), as_date(v["valid_to"]).alias("c_valid_to"))
    c = {k[2:]: F.col(k) for k in df.columns if k.startswith("c_")}
    rules = [wrong_width(COLUMNS)]
    rules += [("missing_value", f"{k} present", blank(v[k]))
              for k in ("pharmacy_id", "name", "lat", "lon", "valid_from")]
    rules += [("bad_type", "lat and lon are decimal numbers", c["lat"].isNull() | c["lon"].isNull()),
              ("bad_type", "valid_from is an ISO date (yyyy-MM-dd)", c["valid_from"].isNull()),
              ("bad_type", "valid_to is empty or an ISO date", ~blank(v["valid_to"]) & c["valid_to"].isNull()),
              ("value_not_allowed", "lat in [-90, 90] and lon in [-180, 180]",
               (F.abs(c["lat"]) > 90) | (F.abs(c["lon"]) > 180)),
              ("value_not_allowed", "valid_to >= valid_from", c["valid_to"] < c["valid_from"]),
              ("out_of_city", "lat/lon inside the city outline (district polygons + tolerance)",
               ~inside("c_lon", "c_lat", outline)),
              ("unknown_reference", "district is empty or a district of the city config",
               c["district_text"].isNotNull() & c["district"].isNull())]
    return flag_conflicts(judge(df, rules), ["c_pharmacy_id", "c_valid_from"],
                          "one row per (pharmacy_id, valid_from) (repeated with other content)")


def staged_pharmacies(judged: DataFrame) -> DataFrame:
    """Rows of ``stg_pharmacy__pharmacies`` (``ds``: the snapshot day)."""
    return judged.where(ok()).select(
        F.col("covered_ds").alias("ds"),
        *typed("pharmacy_id", "name", "lat", "lon", "district", "valid_from", "valid_to"),
        "source_file", "source_row")


def stage(spark: SparkSession, deliveries: list[Delivery], cfg: dict, day: date | None = None) -> StageResult:
    """Stage the pharmacy snapshots the raw files hold (all of them of ``day`` when given)."""
    files, rejected = read_all(covering(deliveries, day), lambda d: read_csv(d, COLUMNS))
    judged = classify_pharmacies(lines_frame(spark, files), cfg, city_outline(cfg)).persist()
    day_ = F.col("covered_ds")
    valid = ok() & (F.col("c_valid_from") <= day_) & F.coalesce(F.col("c_valid_to") >= day_, F.lit(True))
    days = list(by_day(files, rejected))
    counts = tally(judged, [d for d, _, _ in days], open_=F.sum(F.when(valid, 1).otherwise(0)),
                   no_district=F.sum(F.when(ok() & F.col("c_district").isNull(), 1).otherwise(0)))
    checks = []
    for d, d_files, d_rejected in days:
        t = counts[d]
        checks += dated(d, file_checks(d_files, d_rejected) + row_checks(t) + [
            Check("pharmacies_open", t["open_"] or 0, None, "pass", f"versions valid on {d.isoformat()}"),
            Check("pharmacies_without_district", t["no_district"] or 0, None, "pass", "district not given"),
        ])
    return StageResult({TABLE: staged_pharmacies(judged)}, quarantine_rows(judged, FEED), rejected, checks,
                       persisted=[judged])
