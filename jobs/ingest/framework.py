"""What every feed's ingest shares: deliveries, the raw copy, quarantine and DQ rows, and the
run that stages a feed for a range of delivery days.

Reads ``<landing>/<feed>/dt=<delivered_ds>/``; keeps every delivered file unchanged under
``<lake>/raw/<feed>/dt=<delivered_ds>/`` (immutable); writes the staged table(s) of the feed,
``quarantine``, ``dq_results`` and, for late or corrected files, ``ops_recompute_requests``.

A staged partition is the day a row *covers* (``ds``, from the file name), not the day a file
arrived. Ingest of delivery days X..Y therefore first copies every file delivered on those days
into raw, in delivery order, then rebuilds every covered day D that the files touch from *all*
raw files covering D (earlier deliveries included), so a late part for day D joins D's other
parts instead of replacing them, and a corrected re-delivery supersedes the earlier version.
The result is the one that ingesting X, X+1, ..., Y one day at a time gives: each day's last
rebuild sees every file covering it. Rerunning any range gives the same partitions (idempotent).

An adapter (one per feed or operator format) turns deliveries, which may cover many days, into
staged frames (``ds`` = covered day) plus quarantined rows and per-day checks; it never drops a
row silently: for every file, rows received = staged + duplicates + quarantined (+ superseded,
for corrections), and the run records that identity as a DQ check per covered day. Covered days
are staged in passes of about ``PASS_BYTES`` delivered bytes, one Spark pass each, and every
table is written once per pass (dynamic partition overwrite). A file that breaks its contract
as a whole (unreadable, wrong columns, raw phone numbers/IMSIs) raises ``FileRejected`` inside
the adapter, goes to quarantine whole, never reaches staged, and makes the run fail loudly
*after* the rest of the range is written. A file whose name does not follow the feed contract
covers no day: it is quarantined whole in the partition of its delivery day.
"""

import filecmp
import re
import shutil
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from jobs.common.config import Paths
from jobs.common.conform import conform
from jobs.common.contracts import load_contract
from jobs.common.lake import table_path, write_table

PASS_BYTES = 128 << 20          # delivered bytes staged in one Spark pass (compressed files count x10)
COMPRESSION_WEIGHT = 10         # text feeds (JSON lines, CSV) gzip about 8-12 to 1
COMPRESSED = (".gz", ".parquet")


@dataclass(frozen=True)
class Delivery:
    """One delivered file. ``rel`` (landing-relative, e.g. ``ambulance/dt=2020-03-02/x.csv``)
    is the ``source_file`` recorded in staged and quarantine rows."""

    feed: str
    path: Path
    rel: str
    delivered_ds: date
    covered_ds: date | None     # None: the name does not follow the feed's pattern

    @property
    def late(self) -> bool:
        return self.covered_ds is not None and self.covered_ds < self.delivered_ds


class FileRejected(Exception):
    """A whole file broke its contract; it goes to quarantine whole and fails the run."""

    def __init__(self, delivery: Delivery, reason_code: str, rule: str, detail: str = ""):
        self.delivery, self.reason_code, self.rule, self.detail = delivery, reason_code, rule, detail
        super().__init__(f"{delivery.feed}: file {delivery.rel} rejected [{reason_code}]: {rule}"
                         + (f" ({detail})" if detail else ""))

    def quarantine_row(self) -> dict:
        d = self.delivery
        return {"feed": d.feed, "ds": d.covered_ds or d.delivered_ds, "source_file": d.rel, "source_row": 0,
                "reason_code": self.reason_code, "rule": self.rule, "raw_record": None,
                "delivered_ds": d.delivered_ds}


def _span(first: date, last: date) -> str:
    return f"delivery day {first}" if first == last else f"delivery days {first} .. {last}"


class IngestError(RuntimeError):
    """Raised at the end of a feed's run when files were rejected (everything else is written)."""

    def __init__(self, feed: str, delivered_ds: date, rejected: list[FileRejected], last: date | None = None):
        self.rejected = rejected
        lines = "\n".join(f"  - {r}" for r in rejected)
        super().__init__(f"ingest {feed} for {_span(delivered_ds, last or delivered_ds)}: {len(rejected)} "
                         f"file(s) quarantined whole:\n{lines}")


@dataclass
class Check:
    """One data-quality measurement of a feed and covered day (a row of dq_results)."""

    name: str
    value: float | None            # None: could not be measured (e.g. min time of an empty day)
    threshold: float | None = None
    status: str = "pass"           # pass | warn | fail
    detail: str = ""
    ds: date | None = None         # the covered day measured


def dated(day: date, checks: list[Check]) -> list[Check]:
    """``checks`` marked as measurements of covered day ``day``."""
    for c in checks:
        c.ds = day
    return checks


@dataclass
class StageResult:
    """What an adapter made of deliveries covering one or more days."""

    staged: dict[str, DataFrame]                     # staged table name -> rows (ds = covered day)
    quarantine: DataFrame | None = None              # row-level rejects (quarantine contract)
    rejected: list[FileRejected] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)           # each with its covered day (ds)
    persisted: list[DataFrame] = field(default_factory=list)    # cached frames, released after the writes
    unique: set[str] = field(default_factory=set)    # staged tables unique on their grain by construction


# stage(spark, deliveries, cfg, day=None): ``day`` given, every delivery is taken to cover it.
Adapter = Callable[..., StageResult]


# --- deliveries and the raw copy -------------------------------------------------------------

def covered_day(feed: str, filename: str, delivered_ds: date | None = None) -> date | None:
    """The day a file covers, from its name and the feed contract's ``file_regex``/``day_format``;
    files of feeds whose names carry no day (snapshots such as ``districts.geojson``) cover
    their delivery day. None when the name does not follow the contract."""
    fmt = load_contract(feed).format or {}
    m = re.match(fmt["file_regex"], filename)
    if not m:
        return None
    if "day" not in m.groupdict():
        return delivered_ds
    return datetime.strptime(m.group("day"), fmt.get("day_format", "%Y-%m-%d")).date()


def covering(deliveries: list[Delivery], day: date | None = None) -> list[Delivery]:
    """The deliveries an adapter stages: as given, or all taken to cover ``day``."""
    return list(deliveries) if day is None else [replace(d, covered_ds=day) for d in deliveries]


def _deliveries_in(root: Path, feed: str, folder: Path) -> list[Delivery]:
    delivered = date.fromisoformat(folder.name.removeprefix("dt="))
    return [Delivery(feed, f, str(f.relative_to(root)), delivered, covered_day(feed, f.name, delivered))
            for f in sorted(folder.iterdir()) if f.is_file()]


def landing_deliveries(landing: Path, feed: str, delivered_ds: date) -> list[Delivery]:
    """Files delivered for ``feed`` on ``delivered_ds`` (empty when nothing arrived)."""
    folder = Path(landing) / feed / f"dt={delivered_ds.isoformat()}"
    return _deliveries_in(Path(landing), feed, folder) if folder.is_dir() else []


def raw_root(paths: Paths) -> Path:
    return paths.lake / "raw"


def archive_raw(deliveries: list[Delivery], paths: Paths) -> None:
    """Copy delivered files into raw unchanged. Raw is immutable: the same name delivered
    again with other bytes is an error (a correction must come under a new name)."""
    for d in deliveries:
        target = raw_root(paths) / d.rel
        if target.exists():
            if not filecmp.cmp(d.path, target, shallow=False):
                raise RuntimeError(f"{d.feed}: {d.rel} differs from the copy already in raw; "
                                   "raw files are never rewritten, deliver a correction under a new name")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(d.path, target)


def raw_deliveries(paths: Paths, feed: str, covered: date) -> list[Delivery]:
    """Every raw file of ``feed`` that covers day ``covered``, in delivery order."""
    return raw_by_day(paths, feed)[0].get(covered, [])


def raw_by_day(paths: Paths, feed: str) -> tuple[dict[date, list[Delivery]], dict[date, list[Delivery]]]:
    """Every raw file of ``feed`` in delivery order, by the day it covers, and the files whose
    names follow no pattern by their delivery day."""
    root = raw_root(paths) / feed
    by_day, unnamed = defaultdict(list), defaultdict(list)
    for folder in sorted(root.glob("dt=*")) if root.is_dir() else []:
        for d in _deliveries_in(raw_root(paths), feed, folder):
            (by_day[d.covered_ds] if d.covered_ds else unnamed[d.delivered_ds]).append(d)
    return dict(by_day), dict(unnamed)


def passes(days: list[date], files: dict[date, list[Delivery]], budget: int) -> list[list[date]]:
    """Consecutive covered days grouped so that each group's files hold about ``budget`` bytes
    (compressed files weigh ``COMPRESSION_WEIGHT`` times their size); at least one day per group."""
    out, size = [], budget
    for day in days:
        weight = sum(d.path.stat().st_size * (COMPRESSION_WEIGHT if d.path.name.endswith(COMPRESSED) else 1)
                     for d in files[day])
        if size + weight > budget:
            out.append([])
            size = 0
        out[-1].append(day)
        size += weight
    return out


# --- quarantine and DQ rows -------------------------------------------------------------------

def quarantine_frame(spark: SparkSession, rows: list[dict]) -> DataFrame:
    c = load_contract("quarantine")
    return spark.createDataFrame([tuple(r.get(k) for k in c.column_names) for r in rows], c.spark_schema())


def dq_frame(spark: SparkSession, feed: str, ds: date | None, checks: list[Check]) -> DataFrame:
    """dq_results rows of ``checks``, each of its own day (``Check.ds``), else of ``ds``."""
    c = load_contract("dq_results")
    rows = [{"feed_or_table": feed, "ds": ch.ds or ds, "check_name": ch.name,
             "value": None if ch.value is None else float(ch.value),
             "threshold": None if ch.threshold is None else float(ch.threshold), "status": ch.status,
             "detail": ch.detail} for ch in checks]
    return spark.createDataFrame([tuple(r.get(k) for k in c.column_names) for r in rows], c.spark_schema())


def conservation(received: int, staged: int, duplicates: int, quarantined: int, superseded: int = 0) -> Check:
    """rows received = staged + duplicates + quarantined (+ superseded); fails otherwise."""
    lost = received - staged - duplicates - quarantined - superseded
    return Check("rows_unaccounted", lost, 0, "pass" if lost == 0 else "fail",
                 f"received {received} = staged {staged} + duplicates {duplicates} + quarantined "
                 f"{quarantined}" + (f" + superseded {superseded}" if superseded else ""))


def write_rows(df: DataFrame, table: str, paths: Paths, check_keys: bool = True) -> None:
    """``jobs.common.lake.write_table``; ``check_keys=False`` skips conform's grain check for
    rows unique on the grain by construction (one row per source file and row)."""
    if check_keys:
        write_table(df, table, paths)
        return
    c = load_contract(table)
    writer = conform(df, c, check_keys=False).write.mode("overwrite").option("partitionOverwriteMode", "dynamic")
    writer.partitionBy(*c.partition_by).parquet(str(table_path(c, paths)))


# --- the run ---------------------------------------------------------------------------------

@dataclass
class IngestReport:
    feed: str
    delivered_ds: date                              # first delivery day of the run
    days: list[date]                                # covered days rebuilt
    files: int
    rejected: list[FileRejected]
    recompute: list[date]                           # earlier days that changed
    last_ds: date | None = None                     # last delivery day (None: one day)


def ingest_delivery_day(spark: SparkSession, feed: str, delivered_ds: date, cfg: dict,
                        adapter: Adapter, paths: Paths | None = None, fail_on_rejects: bool = True) -> IngestReport:
    """Stage everything ``feed`` delivered on ``delivered_ds`` (a range of one day)."""
    return ingest_range(spark, feed, delivered_ds, delivered_ds, cfg, adapter, paths, fail_on_rejects)


def ingest_range(spark: SparkSession, feed: str, first: date, last: date, cfg: dict, adapter: Adapter,
                 paths: Paths | None = None, fail_on_rejects: bool = True,
                 budget: int | None = None) -> IngestReport:
    """Stage everything ``feed`` delivered on days ``first`` .. ``last`` (see the module docstring);
    ``budget``: delivered bytes per Spark pass (default ``PASS_BYTES``)."""
    paths = paths or Paths.from_env()
    delivered: dict[date, list[Delivery]] = {}
    broken: list[RuntimeError] = []                   # delivery days whose files clash with raw
    day = first
    while day <= last:
        got = landing_deliveries(paths.landing, feed, day)
        try:
            archive_raw(got, paths)
            delivered[day] = got
        except RuntimeError as exc:
            broken.append(exc)
        day += timedelta(days=1)
    mine = {d.rel for got in delivered.values() for d in got}
    raw, unnamed_raw = raw_by_day(paths, feed)
    pattern = load_contract(feed).format["file_pattern"]
    unnamed = {x: [FileRejected(d, "unreadable_file", f"file name follows {pattern}") for d in files]
               for x, files in unnamed_raw.items()}
    rejected = [r for rs in unnamed.values() for r in rs if r.delivery.rel in mine]
    alone = {r.delivery.delivered_ds for r in rejected}
    days = sorted({d.covered_ds for got in delivered.values() for d in got if d.covered_ds} | (alone & set(raw)))
    for chunk in passes(days, raw, budget or PASS_BYTES):
        result = adapter(spark, [d for day in chunk for d in raw[day]], cfg)
        try:
            for table, frame in result.staged.items():
                write_rows(frame, table, paths, check_keys=table not in result.unique)
            bad = [r.quarantine_row() for r in result.rejected]
            bad += [r.quarantine_row() for day in chunk for r in unnamed.get(day, [])]
            qf = quarantine_frame(spark, bad)
            write_table(qf if result.quarantine is None else qf.unionByName(result.quarantine), "quarantine", paths)
            write_table(dq_frame(spark, feed, None, result.checks), "dq_results", paths)
        finally:
            for frame in result.persisted:
                frame.unpersist()
        rejected += [r for r in result.rejected if r.delivery.rel in mine]
    if alone := sorted(alone - set(days)):          # delivery days without a covered day of their own
        write_table(quarantine_frame(spark, [r.quarantine_row() for x in alone for r in unnamed[x]]),
                    "quarantine", paths)
    recompute = _recompute(spark, feed, delivered, paths)
    report = IngestReport(feed, first, days, sum(map(len, delivered.values())), rejected, recompute,
                          None if last == first else last)
    if broken:
        for exc in broken[1:] + ([IngestError(feed, first, rejected, last)] if rejected else []):
            broken[0].add_note(str(exc))
        raise broken[0]
    if rejected and fail_on_rejects:
        raise IngestError(feed, first, rejected, last)
    return report


def _recompute(spark: SparkSession, feed: str, delivered: dict[date, list[Delivery]], paths: Paths) -> list[date]:
    """ops_recompute_requests rows for covered days older than the delivery that touched them."""
    rows = []
    for x, got in delivered.items():
        for day in sorted({d.covered_ds for d in got if d.covered_ds and d.covered_ds < x}):
            late = [d for d in got if d.covered_ds == day]
            reason = "corrected_redelivery" if any("_rev" in d.path.name for d in late) else "late_file"
            rows.append((x, feed, day, reason, ",".join(d.rel for d in late)))
    if rows:
        c = load_contract("ops_recompute_requests")
        write_table(spark.createDataFrame(rows, c.spark_schema()), c, paths)
    return sorted({r[2] for r in rows})
