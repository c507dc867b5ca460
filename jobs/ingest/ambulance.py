"""Ambulance (103) dispatch calls -> ``stg_ambulance__calls``.

Reads every raw file covering day D (``calls_103_D.csv``; a late file sits in a later ``dt=``
folder and joins its day), for one or more days D in one pass. Writes ``stg_ambulance__calls``
partition ``ds=D`` (grain: one row per call), the quarantine and dq_results of (ambulance, D).

Per line, in this order (see ``jobs.ingest.text`` for decoding and duplicates):
  duplicate          same fields as an earlier line of the day: removed and counted
  malformed_row      not 12 CSV fields
  missing_value      an empty required field, or only one of lat/lon
  bad_type           received_at not ``yyyy-MM-dd HH:mm:ss``; lat/lon not decimal numbers;
                     priority/hospitalised not integers
  value_not_allowed  priority, age_band, sex, hospitalised outside the feed contract's sets;
                     lat/lon outside [-90, 90]/[-180, 180]; a call_id repeated with other content
  wrong_day          the local received date is not the covered day
  out_of_city        geocoded outside the city outline (``jobs.ingest.districts.city_outline``)
  unknown_reference  a non-empty district_text that names no configured district
Missing geocodes are legitimate: staged with geocoded=false and null lat/lon. An empty
district_text is staged with a null district. received_at is Asia/Almaty wall-clock time
(the city config's zone) converted through the tz database (``to_utc_timestamp``), never a
fixed offset. The reason group comes from the config's ``ambulance_reasons`` (unknown codes:
other, counted). The judged lines are parsed once and persisted until the framework has
written the staged rows, the quarantine and the checks.
"""

from datetime import date

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common.contracts import load_contract
from jobs.ingest.districts import city_outline, inside
from jobs.ingest.framework import Check, Delivery, StageResult, covering, dated
from jobs.ingest.text import (as_decimal, as_integer, blank, by_day, csv_content, csv_fields, district_of, file_checks,
                              flag_conflicts, judge, lines_frame, mark_duplicates, ok, quarantine_rows, read_all,
                              read_csv, require_utc_session, row_checks, tally, time_checks, typed, wrong_width)

FEED, TABLE = "ambulance", "stg_ambulance__calls"
COLUMNS = load_contract(FEED).column_names
TIME_FORMAT = "yyyy-MM-dd HH:mm:ss"
TIME_SHAPE = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"


def _map(pairs: dict) -> Column:
    return F.create_map(*[F.lit(x) for kv in pairs.items() for x in kv])


def classify_calls(rows: DataFrame, cfg: dict, outline: list[list[tuple[float, float]]]) -> DataFrame:
    """Typed call columns (``c_*``) plus ``_dup``/``_verdict`` for every delivered line."""
    feed = load_contract(FEED)
    tz = cfg["city"]["timezone"]
    groups = {r["code"]: r["group"] for r in cfg["ambulance_reasons"]}
    v = csv_fields(COLUMNS)
    typed = F.get(F.col("fields"), COLUMNS.index("district_text"))          # as typed, untrimmed
    local = F.when(v["received_at"].rlike(TIME_SHAPE), F.try_to_timestamp(v["received_at"], F.lit(TIME_FORMAT)))
    geocoded = ~blank(v["lat"]) & ~blank(v["lon"])
    lat, lon = F.when(geocoded, as_decimal(v["lat"])), F.when(geocoded, as_decimal(v["lon"]))
    code = F.upper(v["reason_code"])
    df = mark_duplicates(rows, csv_content())
    df = df.select(
        "*", v["call_id"].alias("c_call_id"), local.alias("c_local"),
        F.to_utc_timestamp(local, tz).alias("c_received_at_utc"), geocoded.alias("c_geocoded"),
        lat.alias("c_lat"), lon.alias("c_lon"),
        F.when(~blank(typed), typed).alias("c_district_text"),
        district_of(typed, cfg).alias("c_district"), code.alias("c_reason_code"),
        F.coalesce(F.try_element_at(_map(groups), code), F.lit("other")).alias("c_reason_group"),
        code.isin(list(groups)).alias("c_known_code"),
        v["reason_text_ru"].alias("c_reason_text_ru"), v["reason_text_kk"].alias("c_reason_text_kk"),
        as_integer(v["priority"]).alias("c_priority"), v["age_band"].alias("c_age_band"),
        v["sex"].alias("c_sex"), as_integer(v["hospitalised"]).alias("c_hospitalised"))
    c = {k[2:]: F.col(k) for k in df.columns if k.startswith("c_")}
    allowed = {k: list(feed.column(k).allowed) for k in ("priority", "age_band", "sex", "hospitalised")}
    rules = [wrong_width(COLUMNS)]
    rules += [("missing_value", f"{k} present", blank(v[k])) for k in
              ("call_id", "received_at", "reason_code", "reason_text_ru", "reason_text_kk", "priority",
               "age_band", "sex", "hospitalised")]
    rules += [("missing_value", "lat and lon both present or both empty", blank(v["lat"]) != blank(v["lon"])),
              ("bad_type", f"received_at parses as {TIME_FORMAT}", c["local"].isNull()),
              ("bad_type", "lat and lon are decimal numbers",
               c["geocoded"] & (c["lat"].isNull() | c["lon"].isNull())),
              ("bad_type", "priority is an integer", c["priority"].isNull()),
              ("bad_type", "hospitalised is an integer", c["hospitalised"].isNull())]
    rules += [("value_not_allowed", f"{k} in {', '.join(map(str, a))}",
               ~(c[k] if k in ("priority", "hospitalised") else v[k]).isin(a)) for k, a in allowed.items()]
    rules += [("value_not_allowed", "lat in [-90, 90] and lon in [-180, 180]",
               c["geocoded"] & ((F.abs(c["lat"]) > 90) | (F.abs(c["lon"]) > 180))),
              ("wrong_day", "received_at (local time) is on the day in the file name",
               F.to_date(c["local"]) != F.col("covered_ds")),
              ("out_of_city", "lat/lon inside the city outline (district polygons + tolerance)",
               c["geocoded"] & ~inside("c_lon", "c_lat", outline)),
              ("unknown_reference", "district_text names a district of the city config",
               c["district_text"].isNotNull() & c["district"].isNull())]
    return flag_conflicts(judge(df, rules), ["c_call_id"],
                          "call_id unique within the day (repeated with other content)")


def staged_calls(judged: DataFrame) -> DataFrame:
    """Rows of ``stg_ambulance__calls`` (``ds``: the covered day)."""
    return judged.where(ok()).select(
        F.col("covered_ds").alias("ds"),
        *typed("call_id", "received_at_utc", "lat", "lon", "geocoded", "district_text", "district", "reason_code",
               "reason_group", "reason_text_ru", "reason_text_kk"),
        F.col("c_priority").cast("int").alias("priority"), *typed("age_band", "sex"),
        (F.col("c_hospitalised") == 1).alias("hospitalised"), "source_file", "source_row")


def _count(cond: Column) -> Column:
    return F.sum(F.when(ok() & cond, 1).otherwise(0))


def stage(spark: SparkSession, deliveries: list[Delivery], cfg: dict, day: date | None = None) -> StageResult:
    """Stage the calls of the days the raw files cover (all of them cover ``day`` when given),
    each day from every raw file that covers it."""
    require_utc_session(spark)
    files, rejected = read_all(covering(deliveries, day), lambda d: read_csv(d, COLUMNS))
    judged = classify_calls(lines_frame(spark, files), cfg, city_outline(cfg)).persist()
    days = list(by_day(files, rejected))
    counts = tally(judged, [d for d, _, _ in days],
                   t_min=F.min(F.when(ok(), F.unix_seconds("c_received_at_utc"))),
                   t_max=F.max(F.when(ok(), F.unix_seconds("c_received_at_utc"))),
                   not_geocoded=_count(~F.col("c_geocoded")), no_district=_count(F.col("c_district").isNull()),
                   unknown_code=_count(~F.col("c_known_code")),
                   kk_lossy=_count(F.col("c_reason_text_kk").contains("?") & (F.col("encoding") == "cp1251")))
    checks = []
    for d, d_files, d_rejected in days:
        t = counts[d]
        staged = t["staged"] or 0
        share = (t["not_geocoded"] or 0) / staged if staged else 0.0
        checks += dated(d, file_checks(d_files, d_rejected) + row_checks(t) + time_checks(t) + [
            Check("share_not_geocoded", round(share, 6), None, "pass",
                  f"{t['not_geocoded'] or 0} of {staged} staged calls without lat/lon (kept, no H3)"),
            Check("calls_without_district", t["no_district"] or 0, None, "pass", "empty district_text"),
            Check("reason_code_unknown", t["unknown_code"] or 0, None, "warn" if t["unknown_code"] else "pass",
                  "codes missing from the config's ambulance_reasons, grouped as other"),
            Check("kk_text_lossy_cp1251", t["kk_lossy"] or 0, None, "warn" if t["kk_lossy"] else "pass",
                  "Kazakh letters missing from cp1251 arrive as '?' in reason_text_kk"),
        ])
    return StageResult({TABLE: staged_calls(judged)}, quarantine_rows(judged, FEED), rejected, checks,
                       persisted=[judged], unique={TABLE})        # one call per (day, call_id): flag_conflicts
