"""Ingest a range of delivery days (or one) of every feed, or of the listed ones.

Reads ``<landing>/<feed>/dt=<ds>/`` for each feed and delivery day; writes, through
``jobs.ingest.framework.ingest_range``, the feed's staged table(s), ``quarantine``,
``dq_results`` and ``ops_recompute_requests`` for every covered day the deliveries touch.
``run_range`` stages all the days of one feed in a few Spark passes (each table written once per
pass) and gives the tables that running ``run`` day by day in delivery order gives; ``run`` is
the range of one day (what the daily DAGs call).

``ADAPTERS`` maps each feed (a ``schemas/feeds`` contract name) to its adapter as
``"module:function"``. A module is imported only when its feed runs, so a missing or broken
adapter fails that feed alone. Feeds run in registry order (reference data before the events
that refer to it); a failing feed does not stop the others: ``run`` raises one
``IngestRunError`` (an ``IngestError``) at the end, naming every failed feed, after everything
else is written. Feeds are independent and may run side by side (``workers``); the days of one
feed are staged together, in delivery order (a late file rebuilds its day).

    python -m jobs.ingest.run --ds 2020-03-16 [--end 2020-03-31] [--feed operator_kcell ...]
"""

import argparse
import importlib
import sys
import traceback
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from functools import partial

from pyspark.sql import SparkSession

from jobs.common.config import Paths
from jobs.ingest.framework import Adapter, IngestError, IngestReport, ingest_range

ADAPTERS: dict[str, str] = {
    "districts": "jobs.ingest.districts:stage",
    "restrictions": "jobs.ingest.restrictions:stage",
    "cell_reference": "jobs.ingest.cells:stage",
    "pharmacy_reference": "jobs.ingest.pharmacies:stage",
    "operator_kcell": "jobs.ingest.kcell:stage",
    "operator_beeline": "jobs.ingest.beeline:stage",
    "operator_tele2": "jobs.ingest.tele2:stage",
    "ambulance": "jobs.ingest.ambulance:stage",
    "pharmacy_receipts": "jobs.ingest.pharmacy_receipts:stage",
    "morbidity": "jobs.ingest.morbidity:stage",
}


class IngestRunError(IngestError):
    """Some feeds of a run failed; ``errors`` maps each to its exception and ``rejected`` lists
    every file quarantined whole."""

    def __init__(self, delivered_ds: date, errors: dict[str, BaseException], last: date | None = None):
        self.errors = errors
        self.rejected = [r for e in errors.values() if isinstance(e, IngestError) for r in e.rejected]
        parts = [str(e) if isinstance(e, IngestError) else
                 f"{feed}: {type(e).__name__}: {e}\n" + "".join(getattr(e, "__notes__", [])).rstrip()
                 for feed, e in errors.items()]
        span = f"delivery day {delivered_ds}" if last in (None, delivered_ds) else \
            f"delivery days {delivered_ds} .. {last}"
        RuntimeError.__init__(self, f"ingest for {span}: {len(errors)} feed(s) failed "
                                    f"({', '.join(errors)}):\n" + "\n".join(parts))


def load_adapter(feed: str) -> Adapter:
    """Import the adapter registered for ``feed``."""
    if feed not in ADAPTERS:
        raise KeyError(f"no adapter registered for feed '{feed}' (jobs.ingest.run.ADAPTERS)")
    module, _, name = ADAPTERS[feed].partition(":")
    return getattr(importlib.import_module(module), name or "stage")


def _ingest(spark: SparkSession, cfg: dict, start: date, end: date, paths: Paths,
            feed: str) -> IngestReport | BaseException:
    try:
        return ingest_range(spark, feed, start, end, cfg, load_adapter(feed), paths)
    except IngestError as exc:
        return exc
    except Exception as exc:                      # noqa: BLE001 - reported with the others at the end
        exc.add_note(traceback.format_exc(limit=8))
        return exc


def run(spark: SparkSession, cfg: dict, ds: date, paths: Paths, feeds: list[str] | None = None,
        workers: int = 1) -> dict[str, IngestReport]:
    """Ingest what each feed delivered on ``ds``: ``run_range`` over one day."""
    return run_range(spark, cfg, ds, ds, paths, feeds, workers)


def run_range(spark: SparkSession, cfg: dict, start: date, end: date, paths: Paths,
              feeds: list[str] | None = None, workers: int = 1) -> dict[str, IngestReport]:
    """Ingest what each feed delivered on days ``start`` .. ``end``; raise ``IngestRunError`` at
    the end if any feed failed (its rejected files, or any other error), after the rest is written.

    ``workers`` > 1 ingests that many feeds at a time in the same session (feeds write disjoint
    partitions); this hides Spark's per-job latency and the Python reading of text feeds."""
    feeds = list(ADAPTERS) if feeds is None else list(feeds)
    unknown = [f for f in feeds if f not in ADAPTERS]
    if unknown:
        raise KeyError(f"no adapter registered for feed(s) {', '.join(unknown)} (jobs.ingest.run.ADAPTERS)")
    one = partial(_ingest, spark, cfg, start, end, paths)
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="geopulse-ingest") as pool:
            outcomes = list(pool.map(one, feeds))
    else:
        outcomes = [one(feed) for feed in feeds]
    errors = {f: o for f, o in zip(feeds, outcomes) if isinstance(o, BaseException)}
    if errors:
        raise IngestRunError(start, errors, end) from next(iter(errors.values()))
    return {f: o for f, o in zip(feeds, outcomes)}


def main(argv: list[str] | None = None) -> int:
    from jobs.common.config import load_city
    from jobs.common.spark import get_spark

    p = argparse.ArgumentParser(prog="python -m jobs.ingest.run", description=__doc__.splitlines()[0])
    p.add_argument("--ds", type=date.fromisoformat, required=True, help="delivery day (landing dt= folder)")
    p.add_argument("--end", type=date.fromisoformat, help="last delivery day of a range starting at --ds")
    p.add_argument("--feed", action="append", choices=sorted(ADAPTERS), help="feed to ingest (repeatable; default all)")
    p.add_argument("--workers", type=int, default=1, help="feeds ingested at a time (default 1)")
    args = p.parse_args(argv)
    try:
        reports = run_range(get_spark("geopulse-ingest"), load_city(), args.ds, args.end or args.ds, Paths.from_env(),
                            args.feed, args.workers)
    except IngestError as exc:
        print(exc, file=sys.stderr)
        return 1
    for feed, r in reports.items():
        print(f"{feed}: {r.files} file(s), days {', '.join(map(str, r.days)) or '-'}"
              + (f", recompute {', '.join(map(str, r.recompute))}" if r.recompute else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
