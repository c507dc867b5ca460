"""What every feed's ingest shares: deliveries, the raw copy, quarantine and DQ rows, the
per-day run that stages a feed.

Reads ``<landing>/<feed>/dt=<delivered_ds>/``; keeps every delivered file unchanged under
``<lake>/raw/<feed>/dt=<delivered_ds>/`` (immutable); writes the staged table(s) of the feed,
``quarantine``, ``dq_results`` and, for late or corrected files, ``ops_recompute_requests``.

A staged partition is the day a row *covers* (``ds``, from the file name), not the day a file
arrived. Ingest for delivery day X therefore rebuilds every covered day D that the day's files
touch from *all* raw files covering D (earlier deliveries included), so a late part for day D
joins D's other parts instead of replacing them, and a corrected re-delivery supersedes the
earlier version. Rerunning any day gives the same partitions (idempotent).

An adapter (one per feed or operator format) turns the deliveries of one covered day into
staged frames plus quarantined rows; it never drops a row silently: for every file,
rows received = staged + duplicates + quarantined (+ superseded, for corrections), and the run
records that identity as a DQ check. A file that breaks its contract as a whole (unreadable,
wrong columns, raw phone numbers/IMSIs) raises ``FileRejected`` inside the adapter, goes to
quarantine whole, never reaches staged, and makes the run fail loudly *after* the rest of the
day is written.
"""

import filecmp
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from jobs.common.config import Paths
from jobs.common.contracts import load_contract
from jobs.common.lake import write_table


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


class IngestError(RuntimeError):
    """Raised at the end of a feed-day run when files were rejected (everything else is written)."""

    def __init__(self, feed: str, delivered_ds: date, rejected: list[FileRejected]):
        self.rejected = rejected
        lines = "\n".join(f"  - {r}" for r in rejected)
        super().__init__(f"ingest {feed} for delivery day {delivered_ds}: {len(rejected)} file(s) "
                         f"quarantined whole:\n{lines}")


@dataclass
class Check:
    """One data-quality measurement of a feed-day (a row of dq_results)."""

    name: str
    value: float | None            # None: could not be measured (e.g. min time of an empty day)
    threshold: float | None = None
    status: str = "pass"           # pass | warn | fail
    detail: str = ""


@dataclass
class StageResult:
    """What an adapter made of one covered day's deliveries."""

    staged: dict[str, DataFrame]                     # staged table name -> rows for the day
    quarantine: DataFrame | None = None              # row-level rejects (quarantine contract)
    rejected: list[FileRejected] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    persisted: list[DataFrame] = field(default_factory=list)  # cached frames, released after the writes


Adapter = Callable[[SparkSession, list[Delivery], dict, date], StageResult]


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
    root = raw_root(paths) / feed
    if not root.is_dir():
        return []
    out = []
    for folder in sorted(root.glob("dt=*")):
        out += [d for d in _deliveries_in(raw_root(paths), feed, folder) if d.covered_ds == covered]
    return out


# --- quarantine and DQ rows -------------------------------------------------------------------

def quarantine_frame(spark: SparkSession, rows: list[dict]) -> DataFrame:
    c = load_contract("quarantine")
    return spark.createDataFrame([tuple(r.get(k) for k in c.column_names) for r in rows], c.spark_schema())


def dq_frame(spark: SparkSession, feed: str, ds: date, checks: list[Check]) -> DataFrame:
    c = load_contract("dq_results")
    rows = [{"feed_or_table": feed, "ds": ds, "check_name": ch.name,
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


# --- the per-day run -------------------------------------------------------------------------

@dataclass
class IngestReport:
    feed: str
    delivered_ds: date
    days: list[date]                                # covered days rebuilt
    files: int
    rejected: list[FileRejected]
    recompute: list[date]                           # earlier days that changed


def ingest_delivery_day(spark: SparkSession, feed: str, delivered_ds: date, cfg: dict,
                        adapter: Adapter, paths: Paths | None = None, fail_on_rejects: bool = True) -> IngestReport:
    """Stage everything ``feed`` delivered on ``delivered_ds`` (see the module docstring)."""
    paths = paths or Paths.from_env()
    delivered = landing_deliveries(paths.landing, feed, delivered_ds)
    archive_raw(delivered, paths)
    unnamed = [d for d in delivered if d.covered_ds is None]
    rejected = [FileRejected(d, "unreadable_file", f"file name follows {load_contract(feed).format['file_pattern']}")
                for d in unnamed]
    days = sorted({d.covered_ds for d in delivered if d.covered_ds is not None})
    for day in days:
        result = adapter(spark, raw_deliveries(paths, feed, day), cfg, day)
        try:
            for table, frame in result.staged.items():
                write_table(frame, table, paths)
            bad = [r.quarantine_row() for r in result.rejected]
            bad += [r.quarantine_row() for r in rejected if r.delivery.covered_ds == day]
            qf = quarantine_frame(spark, bad)
            if result.quarantine is not None:
                qf = qf.unionByName(result.quarantine)
            write_table(qf, "quarantine", paths)
            write_table(dq_frame(spark, feed, day, result.checks), "dq_results", paths)
        finally:
            for frame in result.persisted:
                frame.unpersist()
        rejected += [r for r in result.rejected if r.delivery.delivered_ds == delivered_ds]
    for r in [r for r in rejected if r.delivery.covered_ds is None]:
        write_table(quarantine_frame(spark, [r.quarantine_row()]), "quarantine", paths)
    recompute = [d for d in days if d < delivered_ds]
    if recompute:
        rows = []
        for day in recompute:
            late = [d for d in delivered if d.covered_ds == day]
            reason = "corrected_redelivery" if any("_rev" in d.path.name for d in late) else "late_file"
            rows.append((delivered_ds, feed, day, reason, ",".join(d.rel for d in late)))
        c = load_contract("ops_recompute_requests")
        write_table(spark.createDataFrame(rows, c.spark_schema()), c, paths)
    report = IngestReport(feed, delivered_ds, days, len(delivered), rejected, recompute)
    if rejected and fail_on_rejects:
        raise IngestError(feed, delivered_ds, rejected)
    return report
