"""Delivered text as rows, Russian district names, and the row verdicts every text feed shares.

Reads delivered files (raw copies, see ``jobs.ingest.framework``) as bytes; writes nothing.

Encoding: a file is decoded as UTF-8 strictly (a UTF-8 byte-order mark is dropped); when that
fails, as Windows-1251; when that fails too (or the file holds NUL bytes, is empty, is a broken
gzip stream or does not end with a line end, i.e. was cut off), the whole file is rejected
(``FileRejected``, reason ``unreadable_file``). The encoding used is kept per file for DQ.

Rows: one per physical line after the header (``source_row`` 1 = first data line). CSV lines are
split one by one with the ``csv`` module (strict quoting), so a broken line never swallows the
next; a CSV file whose header is not exactly the contract's columns is rejected whole
(``wrong_columns``). Grain of :func:`lines_frame`: one row per delivered line.

District names: dispatchers type "Алмалинский р-н", "Алмалинский район", "АЛМАЛИНСКИЙ Р-Н" or
just "Алмалинский". :func:`recognise_district` lower-cases, folds ё to е, turns punctuation
into spaces and drops the words р-н/р-он/рн/р/н/район/ауданы/аудан/district/г/город; what is
left must equal a configured district's Russian, Kazakh or Latin name, or else exactly one of
its words must (so "г. Алматы, Алмалинский р-н" is Almaly; two district names is ambiguous).
Unrecognised text is null (the feeds quarantine it as unknown_reference).
:func:`district_of` is the same rule as a Spark expression.

Verdicts: a row is a duplicate (same content as an earlier row of the covered day, in delivery
order), quarantined (``_verdict`` = first failing rule: reason code and rule text), superseded
(morbidity) or staged. Every comparison between rows stays within a covered day
(``covered_ds``), so the lines of many days are judged in one pass exactly as each day alone.
:func:`tally` counts them per covered day in one aggregation and :func:`row_checks` turns the
counts into the standard DQ checks, conservation included.
"""

import csv
import gzip
import re
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs.ingest.framework import Check, Delivery, FileRejected, conservation

ROW_REASONS = ("malformed_row", "missing_value", "bad_type", "value_not_allowed", "out_of_city",
               "unknown_reference", "wrong_day")
DISTRICT_WORDS = ("р-н", "р-он", "рн", "р", "н", "район", "ауданы", "аудан", "district", "г", "город")
_PUNCT = r"[.,;:()\"'«»/\\]"
LINES_SCHEMA = T.StructType([
    T.StructField("file_no", T.IntegerType(), False),
    T.StructField("source_file", T.StringType(), False),
    T.StructField("delivered_ds", T.DateType(), False),
    T.StructField("covered_ds", T.DateType(), False),
    T.StructField("late", T.BooleanType(), False),
    T.StructField("encoding", T.StringType(), False),
    T.StructField("source_row", T.LongType(), False),
    T.StructField("raw_record", T.StringType(), False),
    T.StructField("fields", T.ArrayType(T.StringType(), True), True),
])
VERDICT = T.StructType([T.StructField("reason", T.StringType()), T.StructField("rule", T.StringType())])


# --- reading ---------------------------------------------------------------------------------

def decode_text(data: bytes) -> tuple[str, str]:
    """(text, encoding): UTF-8 when the bytes are valid UTF-8, else cp1251; raises
    UnicodeDecodeError when neither decodes them."""
    try:
        return data.decode("utf-8").removeprefix("\ufeff"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("cp1251"), "cp1251"


@dataclass
class TextFile:
    """One delivered file, decoded: data lines (header removed) and, for CSV, their fields."""

    delivery: Delivery
    encoding: str
    lines: list[str]
    fields: list[list[str] | None] = field(default_factory=list)


def read_text(d: Delivery, gzipped: bool = False, allow_empty: bool = False) -> TextFile:
    """Decode a delivered file into lines; ``FileRejected`` (unreadable_file) when it cannot be.
    ``allow_empty``: an empty file is a day without rows (headerless JSON lines), not an error."""
    data = d.path.read_bytes()
    if gzipped:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise FileRejected(d, "unreadable_file", "file is a complete gzip stream", str(exc)) from None
    if not data:
        if allow_empty:
            return TextFile(d, "utf-8", [])
        raise FileRejected(d, "unreadable_file", "file is not empty")
    if b"\x00" in data:
        raise FileRejected(d, "unreadable_file", "text file holds no NUL bytes (binary or corrupt)")
    try:
        text, encoding = decode_text(data)
    except UnicodeDecodeError as exc:
        raise FileRejected(d, "unreadable_file", "text decodes as UTF-8 or cp1251", str(exc)) from None
    if not text.endswith("\n"):
        raise FileRejected(d, "unreadable_file", "file ends with a line end (not truncated)",
                           f"last line {text.rsplit(chr(10), 1)[-1][:60]!r}")
    return TextFile(d, encoding, [line.removesuffix("\r") for line in text[:-1].split("\n")])


def split_csv_line(line: str, delimiter: str = ",") -> list[str] | None:
    """Fields of one CSV line (strict quoting); None when the line does not parse."""
    try:
        rows = list(csv.reader([line], delimiter=delimiter, strict=True))
    except csv.Error:
        return None
    return rows[0] if len(rows) == 1 else None


def read_csv(d: Delivery, columns: list[str], delimiter: str = ",") -> TextFile:
    """A delivered CSV file: the header must be exactly ``columns`` (else ``wrong_columns``)."""
    tf = read_text(d)
    header = split_csv_line(tf.lines[0], delimiter) if tf.lines else None
    if header is None or [h.strip() for h in header] != list(columns):
        raise FileRejected(d, "wrong_columns", f"header is {delimiter.join(columns)}",
                           f"got {tf.lines[0][:200] if tf.lines else 'no header'!r}")
    tf.lines = tf.lines[1:]
    tf.fields = [split_csv_line(line, delimiter) for line in tf.lines]
    return tf


def lines_frame(spark: SparkSession, files: list[TextFile]) -> DataFrame:
    """One row per delivered line of ``files`` (in delivery order: ``file_no``), see LINES_SCHEMA.

    The covered day travels as a column (``covered_ds``), not as a literal in the rules, so the
    generated code of a feed is the same every day and Spark compiles it once."""
    parts = []
    for no, tf in enumerate(files):
        n, d = len(tf.lines), tf.delivery
        parts.append(pd.DataFrame({
            "file_no": [no] * n, "source_file": [d.rel] * n, "delivered_ds": [d.delivered_ds] * n,
            "covered_ds": [d.covered_ds or d.delivered_ds] * n, "late": [d.late] * n,
            "encoding": [tf.encoding] * n, "source_row": range(1, n + 1), "raw_record": tf.lines,
            "fields": tf.fields or [None] * n}))
    pdf = pd.concat(parts, ignore_index=True) if parts else None
    if pdf is None or pdf.empty:
        return spark.createDataFrame([], LINES_SCHEMA)
    return spark.createDataFrame(pdf, LINES_SCHEMA)


def read_all(deliveries: list[Delivery], reader) -> tuple[list[TextFile], list[FileRejected]]:
    """Apply ``reader`` to every delivery, collecting whole-file rejections instead of raising."""
    files, rejected = [], []
    for d in sorted(deliveries, key=lambda x: (x.delivered_ds, x.rel)):
        try:
            files.append(reader(d))
        except FileRejected as exc:
            rejected.append(exc)
    return files, rejected


def by_day(files: list[TextFile], rejected: list[FileRejected]):
    """(covered day, its files, its rejected files) for every day the files cover, in order."""
    days = sorted({tf.delivery.covered_ds for tf in files} | {r.delivery.covered_ds for r in rejected})
    for day in days:
        yield (day, [tf for tf in files if tf.delivery.covered_ds == day],
               [r for r in rejected if r.delivery.covered_ds == day])


def file_checks(files: list[TextFile], rejected: list[FileRejected]) -> list[Check]:
    """files (delivered for the day), files_late, files_rejected and the encodings used
    (files_cp1251; every file=encoding in its detail)."""
    enc = ", ".join(f"{tf.delivery.rel}={tf.encoding}" for tf in files)
    n_cp = sum(tf.encoding == "cp1251" for tf in files)
    return [
        Check("files", len(files) + len(rejected)),
        Check("files_late", sum(tf.delivery.late for tf in files)),
        Check("files_rejected", len(rejected), 0, "fail" if rejected else "pass",
              "; ".join(str(r) for r in rejected)),
        Check("files_cp1251", n_cp, None, "warn" if n_cp else "pass", enc),
    ]


# --- district names --------------------------------------------------------------------------

def district_words(text: str | None) -> list[str]:
    """Lower-cased words of a typed district name, ё folded to е, punctuation and the generic
    words (р-н, район, ауданы, ...) dropped."""
    words = re.sub(_PUNCT, " ", (text or "").lower().replace("ё", "е")).split()
    return [w for w in words if w not in DISTRICT_WORDS]


def district_key(text: str | None) -> str:
    """Comparable form of a district name: its :func:`district_words` joined by a space."""
    return " ".join(district_words(text))


def district_lookup(cfg: dict) -> dict[str, str]:
    """district_key of every configured name (Russian, Kazakh, Latin) -> config district name."""
    return {district_key(n): d["name"] for d in cfg["districts"]
            for n in (d["name"], d.get("name_ru"), d.get("name_kk")) if district_key(n)}


def recognise_district(text: str | None, lookup: dict[str, str]) -> str | None:
    """The config district a typed name means: its whole key, else the one district whose name
    is among its words (e.g. "г. Алматы, Алмалинский р-н"); None when none or several."""
    if district_key(text) in lookup:
        return lookup[district_key(text)]
    hits = {lookup[w] for w in district_words(text) if w in lookup}
    return hits.pop() if len(hits) == 1 else None


def district_of(col: Column, cfg: dict) -> Column:
    """:func:`recognise_district` as a Spark expression: config district name or null."""
    names = F.create_map(*[F.lit(x) for kv in district_lookup(cfg).items() for x in kv])
    raw = F.split(F.trim(F.regexp_replace(F.translate(F.lower(col), "ё", "е"), _PUNCT, " ")), r"\s+")
    stop = F.array(*[F.lit(w) for w in DISTRICT_WORDS])
    words = F.filter(raw, lambda w: (w != "") & ~F.array_contains(stop, w))
    hits = F.array_distinct(F.filter(F.transform(words, lambda w: F.try_element_at(names, w)),
                                     lambda n: n.isNotNull()))
    return F.coalesce(F.try_element_at(names, F.array_join(words, " ")),
                      F.when(F.size(hits) == 1, F.get(hits, 0)))


# --- typed fields of CSV rows ----------------------------------------------------------------

DECIMAL = r"^[+-]?\d+(\.\d+)?$"
INTEGER = r"^[+-]?\d+$"
DATE_SHAPE = r"^\d{4}-\d{2}-\d{2}$"


def csv_fields(columns: list[str]) -> dict[str, Column]:
    """Each column's trimmed text from the ``fields`` array (null when the row is short)."""
    return {c: F.trim(F.get(F.col("fields"), i)) for i, c in enumerate(columns)}


def as_decimal(text: Column) -> Column:
    """A plain decimal number (no exponent, NaN or infinity) as double; null otherwise."""
    return F.when(text.rlike(DECIMAL), text.cast("double"))


def as_integer(text: Column) -> Column:
    return F.when(text.rlike(INTEGER), text.try_cast("bigint"))


def as_date(text: Column) -> Column:
    """An ISO date ``yyyy-MM-dd`` (a real calendar day); null otherwise."""
    return F.when(text.rlike(DATE_SHAPE), F.to_date(F.try_to_timestamp(text, F.lit("yyyy-MM-dd"))))


def wrong_width(columns: list[str]) -> tuple[str, str, Column]:
    """The malformed_row rule of a CSV feed: the line does not split into the contract's fields."""
    return ("malformed_row", f"row has {len(columns)} fields ({','.join(columns)})",
            F.col("fields").isNull() | (F.size("fields") != len(columns)))


def csv_content() -> Column:
    """What makes two CSV lines duplicates: the same fields (unparseable lines: the same text)."""
    return F.coalesce(F.concat(F.lit("f:"), F.to_json("fields")), F.concat(F.lit("r:"), "raw_record"))


# --- verdicts --------------------------------------------------------------------------------

def blank(col: Column) -> Column:
    return col.isNull() | (F.trim(col) == "")


def first_failure(rules: list[tuple[str, str, Column]]) -> Column:
    """struct(reason, rule) of the first rule whose condition holds; null when none does."""
    return F.coalesce(*[F.when(F.coalesce(cond, F.lit(False)),
                               F.struct(F.lit(reason).alias("reason"), F.lit(rule).alias("rule")))
                        for reason, rule, cond in rules], F.lit(None).cast(VERDICT))


def mark_duplicates(df: DataFrame, content: Column) -> DataFrame:
    """``_dup``: the row repeats the content of an earlier row (file delivery order, then line)."""
    w = Window.partitionBy("covered_ds", content).orderBy("file_no", "source_row")
    return df.withColumn("_dup", F.row_number().over(w) > 1)


def judge(df: DataFrame, rules: list[tuple[str, str, Column]]) -> DataFrame:
    """``_verdict`` for rows that are not duplicates (duplicates are only counted)."""
    return df.withColumn("_verdict", F.when(~F.col("_dup"), first_failure(rules)))


def typed(*names: str) -> list[Column]:
    """The typed columns ``c_<name>`` renamed to ``<name>`` (for the staged selects)."""
    return [F.col(f"c_{n}").alias(n) for n in names]


def ok() -> Column:
    return ~F.col("_dup") & F.col("_verdict").isNull()


def flag_conflicts(df: DataFrame, keys: list[str], rule: str) -> DataFrame:
    """Later valid rows whose key repeats an earlier valid row with other content go to
    quarantine (value_not_allowed); the first delivered stays."""
    w = Window.partitionBy(ok().alias("_ok"), "covered_ds", *keys).orderBy("file_no", "source_row")
    clash = ok() & (F.row_number().over(w) > 1)
    verdict = F.struct(F.lit("value_not_allowed").alias("reason"), F.lit(rule).alias("rule"))
    return df.withColumn("_verdict", F.when(clash, verdict).otherwise(F.col("_verdict")))


def quarantine_rows(df: DataFrame, feed: str) -> DataFrame:
    """Quarantine-contract rows for every judged row with a verdict."""
    return (df.where(~F.col("_dup") & F.col("_verdict").isNotNull())
            .select(F.lit(feed).alias("feed"), F.col("covered_ds").alias("ds"), "source_file", "source_row",
                    F.col("_verdict.reason").alias("reason_code"), F.col("_verdict.rule").alias("rule"),
                    "raw_record", "delivered_ds"))


def tally(df: DataFrame, days: list[date], superseded: Column | None = None, **extra: Column) -> dict[date, dict]:
    """One aggregation per covered day: received, duplicates, staged, superseded, late, per
    reason, plus ``extra``. A day of ``days`` without rows (its files rejected whole) gets what
    an aggregation over no rows gives: received 0, every other value unknown."""
    sup = F.coalesce(superseded, F.lit(False)) if superseded is not None else F.lit(False)
    n = lambda cond: F.sum(F.when(cond, 1).otherwise(0))  # noqa: E731
    agg = df.groupBy("covered_ds").agg(
        F.count(F.lit(1)).alias("received"), n(F.col("_dup")).alias("duplicates"),
        n(ok() & ~sup).alias("staged"), n(ok() & sup).alias("superseded"), n(F.col("late")).alias("late"),
        *[n(~F.col("_dup") & (F.col("_verdict.reason") == r)).alias(f"q_{r}") for r in ROW_REASONS],
        *[c.alias(k) for k, c in extra.items()])
    counts = {r["covered_ds"]: r.asDict() for r in agg.collect()}
    empty = dict.fromkeys(agg.columns) | {"received": 0}
    return {day: counts.get(day, empty) for day in days}


def row_checks(t: dict) -> list[Check]:
    """The standard row-accounting checks of a feed-day from :func:`tally`'s counts."""
    quarantined = sum(t[f"q_{r}"] or 0 for r in ROW_REASONS)
    received, dup, staged, sup = (t[k] or 0 for k in ("received", "duplicates", "staged", "superseded"))
    checks = [Check("rows_received", received), Check("rows_staged", staged),
              Check("duplicates", dup, None, "warn" if dup else "pass"),
              Check("rows_quarantined", quarantined, None, "warn" if quarantined else "pass"),
              *[Check(f"quarantined_{r}", t[f"q_{r}"] or 0) for r in ROW_REASONS],
              Check("late_rows", t["late"] or 0)]
    if sup:
        checks.append(Check("rows_superseded", sup, None, "pass", "lower revisions replaced by a correction"))
    return checks + [conservation(received, staged, dup, quarantined, sup)]


def time_checks(t: dict, lo: str = "t_min", hi: str = "t_max") -> list[Check]:
    """event_time_min/max_epoch_s of the staged rows: ``lo``/``hi`` are epoch seconds (e.g. from
    ``F.min(F.unix_seconds(ts))``); the detail gives the instant in UTC; None when nothing staged."""
    out = []
    for name, key in (("event_time_min_epoch_s", lo), ("event_time_max_epoch_s", hi)):
        v = t[key]
        if v is None:
            out.append(Check(name, None, None, "pass", "no staged rows"))
        else:
            when = datetime.fromtimestamp(v, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
            out.append(Check(name, float(v), None, "pass", when))
    return out


def require_utc_session(spark: SparkSession) -> None:
    """Local-time parsing relies on ``to_utc_timestamp`` over a UTC session (jobs.common.spark)."""
    tz = spark.conf.get("spark.sql.session.timeZone")
    if tz not in ("UTC", "Etc/UTC", "GMT", "Z"):
        raise RuntimeError(f"ingest needs spark.sql.session.timeZone=UTC (jobs.common.spark.get_spark), not {tz}")
