"""Has a feed's delivery for a day arrived, and which days did a delivery touch?

Reads only the landing folder (``<landing>/<feed>/dt=<ds>/``) and ``ops_recompute_requests``
(with DuckDB, no Spark): what the delivery sensors and the day bookkeeping of the daily DAGs need
before and after a Spark job. Nothing here writes. The clock is an argument (``now``), never read.
"""

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from jobs.common.config import Paths
from jobs.ingest.framework import landing_deliveries

PARTIAL_SUFFIXES = (".tmp", ".part", ".partial", ".filepart", ".crdownload")


@dataclass(frozen=True)
class Arrival:
    """The state of one feed's delivery folder for one day."""

    feed: str
    ds: date
    files: int
    partial: tuple[str, ...]          # files still being written (temporary names)
    newest_age_s: float | None        # seconds since the newest file last changed; None: no files
    settle_s: float

    @property
    def ready(self) -> bool:
        """Files present, none partial, and none changed for ``settle_s`` seconds."""
        return self.files > 0 and not self.partial and (self.newest_age_s or 0.0) >= self.settle_s

    def describe(self) -> str:
        where = f"{self.feed}/dt={self.ds}"
        if not self.files and not self.partial:
            return f"{where}: nothing delivered yet"
        if self.partial:
            return f"{where}: still being written ({', '.join(self.partial)})"
        if not self.ready:
            return (f"{where}: {self.files} file(s), last change {self.newest_age_s:.0f} s ago "
                    f"(< {self.settle_s:.0f} s settle time)")
        return f"{where}: {self.files} file(s), unchanged for {self.newest_age_s:.0f} s: ready"


def _partial(name: str) -> bool:
    return name.startswith((".", "_")) or name.lower().endswith(PARTIAL_SUFFIXES)


def arrival(landing: Path, feed: str, ds: date, now: float, settle_s: float) -> Arrival:
    """What ``feed`` has delivered for ``ds`` at time ``now`` (epoch seconds)."""
    folder = Path(landing) / feed / f"dt={ds.isoformat()}"
    entries = [f for f in sorted(folder.iterdir()) if f.is_file()] if folder.is_dir() else []
    partial = tuple(f.name for f in entries if _partial(f.name))
    files = [f for f in entries if not _partial(f.name)]
    newest = max((f.stat().st_mtime for f in entries), default=None)
    return Arrival(feed, ds, len(files), partial, None if newest is None else now - newest, float(settle_s))


def covered_days(landing: Path, feed: str, delivered_ds: date) -> list[date]:
    """The days the files delivered on ``delivered_ds`` cover (from their names), sorted."""
    return sorted({d.covered_ds or delivered_ds for d in landing_deliveries(Path(landing), feed, delivered_ds)})


def recompute_days(paths: Paths, delivered: list[date]) -> list[date]:
    """Earlier days whose staged data a delivery on one of ``delivered`` changed (late or
    corrected files), from ``ops_recompute_requests``; empty when the table does not exist."""
    root = paths.lake / "ops_recompute_requests"
    if not delivered or not any(root.glob("**/*.parquet")):
        return []
    import duckdb

    wanted = ", ".join(f"DATE '{d.isoformat()}'" for d in sorted(set(delivered)))
    with duckdb.connect() as con:
        rows = con.execute(
            f"SELECT DISTINCT CAST(ds AS DATE) FROM read_parquet('{root}/**/*.parquet', hive_partitioning = true) "
            f"WHERE CAST(delivered_ds AS DATE) IN ({wanted}) ORDER BY 1").fetchall()
    return [r[0] for r in rows]
