"""Staging of the covered days of a row-oriented feed: file checks, one parse with exact row
numbers, rules to quarantine, de-duplication and the DQ checks (used by the operator event
adapters and the cell reference).

Reads the delivered files of one or more covered days (the ``Delivery`` list the framework
passes to an adapter) in one Spark pass; returns a ``StageResult``: the staged rows (one per
distinct delivered record and covered day), the quarantined rows with reason and rule,
whole-file rejections and each covered day's DQ checks. Every row carries its file's covered
day (``_day``, from the file name), which takes the place of the day in rules (``{day}`` in a
rule text is that day), de-duplication and counts, so a pass over many days gives each day
exactly what staging that day alone gives.

1. File checks before any row is read: the header line of a CSV (first line, read in Python, a
   few bytes) or the footer schema of a Parquet file must match the feed contract, else the file
   is rejected whole (``wrong_columns``; ``unreadable_file`` when it cannot be opened).
2. One Spark read of the remaining files, parsed once and persisted (gzip is decompressed once).
   Each row gets the index of the first ``Rule`` it breaks (null: none). When the reader cannot
   finish a file (e.g. a truncated gzip) the failed job names it; it is rejected whole
   (``unreadable_file``) and the read repeated without it.
3. Row numbers are exact and cost no extra pass: each row carries its file, the start of its
   split (``_metadata.file_block_start``) and ``monotonically_increasing_id`` taken right after
   the scan, which counts rows consecutively within a partition. The statistics job (rows per
   file, split and rule) also returns each split's first id, so ``source_row`` = id + a per-split
   base (lines of earlier splits, minus the header). Holds for gzip (one split per file, several
   files may share a partition) and for plain CSV or Parquet read in several splits.
4. A file with any row whose subscriber key looks like a raw MSISDN or IMSI (a rule with reason
   ``raw_identifier``) is rejected whole: none of its rows is staged or quarantined row by row.
5. Rows passing every rule are de-duplicated on the covered day and ``dedup`` (the standardised
   record) in one shuffle (clustered by ``cluster``, e.g. the subscriber key, so a distinct count on it needs no
   second shuffle): the first occurrence in delivery order (earliest file, then lowest row; kept
   as one long, file ordinal << 40 | row, so the aggregation stays a hash aggregation) is staged,
   the others counted as duplicates. Rows breaking a rule go to quarantine with the delivered
   text. With ``conflict`` set, distinct records of a day sharing that key keep the first and
   quarantine the rest.
6. DQ, per covered day: rows_received (data rows of the files read) = rows_staged + duplicates + rows_quarantined
   (by reason; a raw-identifier file counts all its rows); files rejected before their rows
   were read (wrong columns, unreadable) are counted in files_rejected, not in rows. Distinct
   counts of small sets (``distinct``, e.g. cells) are collected by the statistics job.

The parsed days and the de-duplicated rows stay persisted until the framework has written the
staged rows and the quarantine (``StageResult.persisted``): the files are parsed once.
"""

import gzip
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from urllib.parse import quote, unquote, urlparse

import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from jobs.common.contracts import Contract, load_contract
from jobs.ingest.framework import Check, Delivery, FileRejected, StageResult, conservation, dated

ROW_REASONS = ("malformed_row", "missing_value", "bad_type", "value_not_allowed", "wrong_day")
META = ["_file", "_block", "_mono"]
CASE_SPLITS = 64              # file splits numbered by a CASE expression; more: a broadcast join
ROW_BITS = 40                 # first occurrence = file ordinal << ROW_BITS | row (rows per file < 2**40)


@dataclass(frozen=True)
class Rule:
    """A row-level check: ``bad`` is true for a row that breaks it (null counts as false)."""

    reason: str          # quarantine reason code
    rule: str            # what a row must satisfy, naming the column ("{day}": the covered day)
    bad: Column

    def text(self) -> Column:
        """The rule text of a row, its covered day filled in."""
        if "{day}" not in self.rule:
            return F.lit(self.rule)
        return F.replace(F.lit(self.rule), F.lit("{day}"), F.date_format("_day", "yyyy-MM-dd"))


@dataclass(frozen=True)
class RowFeed:
    """What an adapter tells the staging about its feed."""

    contract: Contract                                              # the feed contract
    table: str                                                      # staged table
    read: Callable[[SparkSession, list[Path]], DataFrame]           # -> _path, _block, _mono + data
    parse: Callable[[DataFrame], tuple[DataFrame, list[Rule]]]      # + record, standard columns; rules
                                                                    # (the covered day: column _day)
    dedup: tuple[str, ...]                                          # the standardised record
    output: Callable[[DataFrame], DataFrame]                        # dedup + ds, source_* -> table
    measures: Callable[[DataFrame], list[Column]] = lambda df: []   # named aggregates of staged rows
    distinct: dict[str, Column] = field(default_factory=dict)      # small-cardinality distinct counts
    cluster: tuple[str, ...] = ()                                   # shuffle key of the de-duplication
    conflict: tuple[str, ...] = ()                                  # at most one staged row per key
    unique_grain: bool = False      # the staged grain holds source_file and source_row: no grain check


# ---------------------------------------------------------------- readers
def _meta() -> list[Column]:
    return [F.col("_metadata.file_path").alias("_path"), F.col("_metadata.file_block_start").alias("_block"),
            F.monotonically_increasing_id().alias("_mono")]


def read_lines(spark: SparkSession, files: list[Path]) -> DataFrame:
    """Every line of the files (header included) as ``_line``, with its file, split and row id."""
    return spark.read.text([str(f) for f in files]).select(*_meta(), F.col("value").alias("_line"))


def parquet_reader(contract: Contract) -> Callable[[SparkSession, list[Path]], DataFrame]:
    """A reader of Parquet files with the contract schema; columns come back as ``_v_<name>``."""
    schema = contract.spark_schema()

    def read(spark: SparkSession, files: list[Path]) -> DataFrame:
        df = spark.read.schema(schema).parquet(*[str(f) for f in files])
        return df.select(*_meta(), *[F.col(c).alias(f"_v_{c}") for c in contract.column_names])
    return read


def local_path(uri: str) -> Path:
    return Path(unquote(urlparse(uri).path)).resolve()


# ---------------------------------------------------------------- whole files
def _arrow_matches(t: pa.DataType, ctype: str) -> bool:
    t = t.value_type if pa.types.is_dictionary(t) else t
    return {"string": pa.types.is_string(t) or pa.types.is_large_string(t),
            "int": pa.types.is_int32(t) or pa.types.is_int16(t) or pa.types.is_int8(t),
            "bigint": pa.types.is_int64(t), "double": pa.types.is_float64(t),
            "boolean": pa.types.is_boolean(t), "date": pa.types.is_date32(t),
            "timestamp": pa.types.is_timestamp(t) and t.tz is not None}.get(ctype, False)


def _kind(fmt: dict) -> str:
    return fmt["type"] + (" (gzip)" if fmt["compression"] == "gzip" else "")


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"


def _open(path: Path, fmt: dict):
    return (gzip.open if fmt["compression"] == "gzip" else open)(path, "rb")


def file_problem(d: Delivery, contract: Contract) -> FileRejected | None:
    """Header (CSV) or footer schema (Parquet) against the contract; None when it matches."""
    fmt = contract.format
    if fmt["type"] == "parquet":
        try:
            found = {f.name: f.type for f in pq.read_schema(d.path)}
        except Exception as exc:                           # noqa: BLE001 - any reader error
            return FileRejected(d, "unreadable_file", "file is Parquet with a readable footer", _short(exc))
        if sorted(found) != sorted(contract.column_names):
            return FileRejected(d, "wrong_columns", f"columns are {', '.join(contract.column_names)}",
                                f"found {', '.join(found)}")
        for c in contract.columns:
            if not _arrow_matches(found[c.name], c.type):
                return FileRejected(d, "wrong_columns", f"column {c.name} is {c.type}", f"found {found[c.name]}")
        return None
    expected = fmt["delimiter"].join(contract.column_names)
    try:
        with _open(d.path, fmt) as fh:
            first = fh.readline(1 << 16)
    except (OSError, EOFError) as exc:
        return FileRejected(d, "unreadable_file", f"file opens as {_kind(fmt)}", _short(exc))
    if not first:
        return FileRejected(d, "unreadable_file", "file holds a header row", "empty file")
    header = first.decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r\n")
    if header != expected:
        return FileRejected(d, "wrong_columns", f"header is {expected}", f"found {header[:200]}")
    return None


def _probe(d: Delivery, contract: Contract) -> str | None:
    """Read a file to its end in Python (only after a failed Spark read): the error or None."""
    try:
        if contract.format["type"] == "parquet":
            pq.read_table(d.path)
        else:
            with _open(d.path, contract.format) as fh:
                while fh.read(1 << 24):
                    pass
    except Exception as exc:                               # noqa: BLE001 - any reader error
        return _short(exc)
    return None


def unreadable(exc: Exception, files: list[Delivery], contract: Contract) -> list[FileRejected]:
    """The files a failed Spark read could not finish: the one named in the error, else those
    a Python read cannot finish either."""
    text = str(exc)
    rule = f"file reads to its end as {_kind(contract.format)}"
    named = re.search(r"Encountered error while reading file (\S+?)\.?\s", text)
    if named:
        cause = re.search(r"Caused by: [\w.$]*?(\w+: [^\n]*)", text)
        hit = [d for d in files if Path(d.path).resolve() == local_path(named.group(1))]
        if hit:
            return [FileRejected(hit[0], "unreadable_file", rule, cause.group(1)[:300] if cause else "")]
    probed = [(d, _probe(d, contract)) for d in files]
    return [FileRejected(d, "unreadable_file", rule, err) for d, err in probed if err]


# ---------------------------------------------------------------- one read, numbered
def file_ordinal(files: list[Delivery]) -> Column:
    """The position in ``files`` of a row's file (``_file``), looked up by the end of ``_path``,
    ``dt=<delivered>/<name>`` (unique within a feed; its URI-quoted form is mapped too)."""
    keys = {}
    for i, d in enumerate(files):
        key = f"{d.path.parent.name}/{d.path.name}"
        keys[key] = keys[quote(key)] = i
    pairs = [F.lit(x) for kv in keys.items() for x in kv]
    return F.try_element_at(F.create_map(*pairs), F.substring_index("_path", "/", -2))


def _parse(spark: SparkSession, feed: RowFeed, files: list[Delivery]) -> tuple[DataFrame, list[Rule]]:
    """The files read and judged: META, the covered day, the first broken rule and the record."""
    rows = feed.read(spark, [d.path for d in files]).withColumn("_file", file_ordinal(files))
    rows = rows.withColumn("_day", F.get(F.array(*[F.lit(d.covered_ds) for d in files]), F.col("_file")))
    df, rules = feed.parse(rows)
    verdict = F.lit(None).cast("struct<i:int,r:string>")
    for i, r in enumerate(rules):                    # one CASE: (first broken rule, delivered record)
        hit = F.struct(F.lit(i).alias("i"), F.col("_record").alias("r"))
        verdict = F.when(r.bad, hit) if i == 0 else verdict.when(r.bad, hit)
    df = df.withColumn("_verdict", verdict)
    return df.select(*META, "_day", F.col("_verdict.i").alias("_fail"), *feed.dedup,
                     F.col("_verdict.r").alias("_raw")), rules


def _read(spark: SparkSession, feed: RowFeed, files: list[Delivery]):
    """(parsed and persisted days, rules, per-split stats, files read, files found unreadable)."""
    rejected: list[FileRejected] = []
    while files:
        parsed, rules = _parse(spark, feed, files)
        parsed = parsed.persist()
        try:
            sets = [F.collect_set(F.when(F.col("_fail").isNull(), e)).alias(k) for k, e in feed.distinct.items()]
            stats = parsed.groupBy("_file", "_block", "_fail").agg(
                F.count(F.lit(1)).alias("n"), F.min("_mono").alias("m0"), *sets).collect()
            return parsed, rules, stats, files, rejected
        except Exception as exc:                           # noqa: BLE001 - diagnosed, else re-raised
            parsed.unpersist()
            bad = unreadable(exc, files, feed.contract)
            if not bad:
                raise
            rejected += bad
            gone = {b.delivery.rel for b in bad}
            files = [d for d in files if d.rel not in gone]
    return None, [], [], [], rejected


@dataclass
class _File:
    delivery: Delivery
    ord: int
    rows: int = 0                                            # data rows (header excluded)
    fails: dict = field(default_factory=lambda: defaultdict(int))   # rule index (None: passed) -> rows
    sets: dict = field(default_factory=lambda: defaultdict(set))     # RowFeed.distinct name -> values


def number_rows(stats: list, files: list[Delivery], header: bool,
                distinct: tuple[str, ...] = ()) -> tuple[dict[str, _File], list[tuple]]:
    """Per-file row counts by rule, and (file ordinal, split, base) rows such that
    ``source_row = _mono + base`` (the header line gets 0)."""
    if any(s["_file"] is None for s in stats):
        raise RuntimeError(f"{files[0].feed}: rows read from a file that is not among those listed")
    blocks: dict = {}                                        # (file, split) -> [lines, first id]
    for s in stats:
        b = blocks.setdefault((s["_file"], s["_block"]), [0, s["m0"]])
        b[0], b[1] = b[0] + s["n"], min(b[1], s["m0"])
    info = {d.rel: _File(d, i) for i, d in enumerate(files)}
    for s in stats:
        f = info[files[s["_file"]].rel]
        head = int(header and s["_block"] == 0 and s["m0"] == blocks[(s["_file"], 0)][1])
        f.fails[s["_fail"]] += s["n"] - head
        f.rows += s["n"] - head
        for k in distinct:
            f.sets[k].update(s[k])
    bases, before = [], defaultdict(int)
    for (ord_, block), (lines, first) in sorted(blocks.items()):
        bases.append((ord_, block, before[ord_] + 1 - int(header) - first))
        before[ord_] += lines
    return info, bases


# ---------------------------------------------------------------- the days
def stage_rows(spark: SparkSession, deliveries: list[Delivery], feed: RowFeed) -> StageResult:
    """Stage the covered days of ``deliveries`` (each its file's ``covered_ds``) of a
    row-oriented feed in one pass (see the module docstring)."""
    contract = feed.contract
    checked = [(d, file_problem(d, contract)) for d in deliveries]
    rejected = [p for _, p in checked if p is not None]
    parsed, rules, stats, files, unread = _read(spark, feed, [d for d, p in checked if p is None])
    rejected += unread
    header = contract.format["type"] == "csv" and bool(contract.format.get("header"))
    info, bases = number_rows(stats, files, header, tuple(feed.distinct))
    raw_rule = next((r for r in rules if r.reason == "raw_identifier"), None)
    raw_idx = {i for i, r in enumerate(rules) if r.reason == "raw_identifier"}
    for f in info.values():
        n_raw = sum(n for i, n in f.fails.items() if i in raw_idx)
        if n_raw:
            rejected.append(FileRejected(f.delivery, "raw_identifier", raw_rule.rule,
                                         f"{n_raw} of {f.rows} rows carry a key like a raw MSISDN or IMSI"))
    refused = {r.delivery.rel for r in rejected}
    kept = [f for f in info.values() if f.delivery.rel not in refused]
    if parsed is None:
        staged, quarantine, persisted, counts = spark.createDataFrame([], load_contract(feed.table).spark_schema()), \
            None, [], {}
    else:
        staged, quarantine, dedup, counts = _split(spark, parsed, rules, feed, files, bases, {f.ord for f in kept})
        persisted = [dedup, parsed]
    checks = []
    for day in sorted({d.covered_ds for d in deliveries}):
        d_info = {rel: f for rel, f in info.items() if f.delivery.covered_ds == day}
        d_kept = [f for f in kept if f.delivery.covered_ds == day]
        d_rejected = [r for r in rejected if r.delivery.covered_ds == day]
        n_files = sum(d.covered_ds == day for d in deliveries)
        if not d_info:                                   # no file of the day could be read
            checks += dated(day, day_checks(d_info, d_kept, d_rejected, [], 0, 0, {}, n_files))
            continue
        c = dict(counts[day])
        c.update({k: len(set().union(*[f.sets[k] for f in d_kept])) for k in feed.distinct})
        checks += dated(day, day_checks(d_info, d_kept, d_rejected, rules, c.pop("rows_staged"),
                                        c.pop("conflicts"), c, n_files))
    return StageResult({feed.table: staged}, quarantine, rejected, checks, persisted,
                       {feed.table} if feed.unique_grain else set())


def _numbered(spark: SparkSession, parsed: DataFrame, bases: list[tuple]) -> DataFrame:
    """The rows of the kept files (``_file``: file ordinal) with ``source_row``; the header goes.
    A CASE over the splits for up to ``CASE_SPLITS`` of them, else a broadcast join."""
    if len(bases) > CASE_SPLITS:
        mapping = spark.createDataFrame(bases, "_file int, _block bigint, _base bigint")
        rows = parsed.join(F.broadcast(mapping), ["_file", "_block"])
    else:
        base = F.lit(None).cast("bigint")
        for i, (ord_, block, b) in enumerate(bases):                 # one flat CASE
            hit = (F.col("_file") == F.lit(ord_)) & (F.col("_block") == F.lit(block))
            base = F.when(hit, F.lit(b)) if i == 0 else base.when(hit, F.lit(b))
        rows = parsed.select("*", base.alias("_base")).where(F.col("_base").isNotNull())
    return rows.withColumn("source_row", F.col("_mono") + F.col("_base")).where(F.col("source_row") >= 1)


def _ord_of(first: str) -> Column:
    return F.shiftright(first, ROW_BITS).cast("int")


def _row_of(first: str) -> Column:
    return F.col(first).bitwiseAND(F.lit((1 << ROW_BITS) - 1))


def _day_counts(staged: DataFrame, feed: RowFeed, days: set[date]) -> dict[date, dict]:
    """rows_staged and the feed's measures per covered day (a day without staged rows gets what
    the measures give on no rows)."""
    aggs = [F.count(F.lit(1)).alias("rows_staged"), *feed.measures(staged)]
    counts = {r["ds"]: r.asDict() for r in staged.groupBy("ds").agg(*aggs).collect()}
    if days - set(counts):
        none = staged.where(F.lit(False)).agg(*aggs).collect()[0].asDict()
        counts.update({day: dict(none, ds=day) for day in days - set(counts)})
    for c in counts.values():
        del c["ds"]
    return counts


def _split(spark, parsed, rules, feed, files, bases, keep):
    """Staged rows (de-duplicated per covered day, persisted) and quarantined rows of the kept
    files, with counts per covered day."""
    name = feed.contract.name
    rels = F.array(*[F.lit(d.rel) for d in files])
    delivered = F.array(*[F.lit(d.delivered_ds) for d in files])
    rows = _numbered(spark, parsed, [b for b in bases if b[0] in keep])
    good = rows.where(F.col("_fail").isNull())
    good = good.repartition(*feed.cluster) if feed.cluster else good
    first = F.shiftleft(F.col("_file").cast("bigint"), ROW_BITS).bitwiseOR(F.col("source_row"))
    dedup = good.groupBy("_day", *feed.dedup).agg(F.min(first).alias("_first")).persist()   # a long: hash aggregate
    if feed.conflict:
        by_key = Window.partitionBy("_day", *feed.conflict).orderBy("_first")
        ranked = dedup.withColumn("_rank", F.row_number().over(by_key))
        kept, clash = ranked.where(F.col("_rank") == 1), ranked.where(F.col("_rank") > 1)
    else:
        kept, clash = dedup, None
    src = kept.select(*feed.dedup, F.col("_day").alias("ds"), F.get(rels, _ord_of("_first")).alias("source_file"),
                      _row_of("_first").alias("source_row"))
    staged = feed.output(src)
    counts = _day_counts(staged, feed, {d.covered_ds for d in files})
    quarantine = rows.where(F.col("_fail").isNotNull()).select(
        F.lit(name).alias("feed"), F.col("_day").alias("ds"), F.get(rels, F.col("_file")).alias("source_file"),
        "source_row", F.get(F.array(*[F.lit(r.reason) for r in rules]), F.col("_fail")).alias("reason_code"),
        F.get(F.array(*[r.text() for r in rules]), F.col("_fail")).alias("rule"),
        F.col("_raw").alias("raw_record"), F.get(delivered, F.col("_file")).alias("delivered_ds"))
    conflicts = {}
    if clash is not None:
        clash = clash.select(
            F.lit(name).alias("feed"), F.col("_day").alias("ds"), F.get(rels, _ord_of("_first")).alias("source_file"),
            _row_of("_first").alias("source_row"), F.lit("value_not_allowed").alias("reason_code"),
            F.lit(f"({', '.join(feed.conflict)}) identifies one row; the first delivered is kept").alias("rule"),
            F.to_json(F.struct(*feed.dedup)).alias("raw_record"),
            F.get(delivered, _ord_of("_first")).alias("delivered_ds"))
        conflicts = {r["ds"]: r["count"] for r in clash.groupBy("ds").count().collect()}
        quarantine = quarantine.unionByName(clash)
    for day, c in counts.items():
        c["conflicts"] = conflicts.get(day, 0)
    return staged, quarantine, dedup, counts


def _utc(epoch_s: int | None) -> str:
    if epoch_s is None:
        return "no staged rows"
    return datetime.fromtimestamp(epoch_s, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def day_checks(info: dict, kept: list, rejected: list[FileRejected], rules: list[Rule], staged: int,
               conflicts: int, measures: dict, n_files: int) -> list[Check]:
    """The DQ checks of one covered day (see the module docstring, point 6)."""
    possible = [r.reason for r in rules] + (["value_not_allowed"] if conflicts else [])
    known = ROW_REASONS + ("raw_identifier",)
    order = [r for r in known if r in possible or not rules] + [r for r in possible if r not in known]
    quarantined = dict.fromkeys(order, 0)
    for f in kept:
        for idx, n in f.fails.items():
            if idx is not None:
                quarantined[rules[idx].reason] += n
    quarantined["value_not_allowed"] += conflicts
    kept_rels = {f.delivery.rel for f in kept}
    raw_rows = sum(f.rows for f in info.values() if f.delivery.rel not in kept_rels)
    if raw_rows or "raw_identifier" in quarantined:
        quarantined["raw_identifier"] = raw_rows
    received = sum(f.rows for f in info.values())
    duplicates = sum(f.fails.get(None, 0) for f in kept) - staged - conflicts
    total_q = sum(quarantined.values())
    bad_files = "; ".join(f"{r.delivery.rel} [{r.reason_code}] {r.rule}" for r in rejected)
    checks = [Check("files", n_files),
              Check("files_rejected", len(rejected), 0, "fail" if rejected else "pass", bad_files),
              Check("rows_received", received), Check("rows_staged", staged),
              Check("duplicates", duplicates, None, "warn" if duplicates else "pass",
                    "exact duplicates of an earlier row of the day, removed"),
              Check("rows_quarantined", total_q, None, "warn" if total_q else "pass"),
              *[Check(f"quarantined_{r}", n) for r, n in quarantined.items()],
              Check("late_rows", sum(f.rows for f in info.values() if f.delivery.late),
                    detail="rows of files delivered after their day")]
    checks += [Check(k, v, detail=_utc(v) if k.endswith("_epoch_s") else "") for k, v in measures.items()]
    return checks + [conservation(received, staged, duplicates, total_q)]
