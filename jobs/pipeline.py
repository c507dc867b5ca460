"""The batch path over a whole landing folder: what `make run` (`geopulse pipeline`) does.

Stages, in one Spark session: ingest of every delivery day (one pass per feed over the range),
the geography tables, every aggregate over the simulated (or delivered) period, the analytics
as of the last day, and publication to the serving database. The daily DAGs run the same job
entry points one day at a time; this path is the backfill of a whole period at once.
"""

import importlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from pyspark.sql import SparkSession

from jobs.common.config import Paths

STAGES = ("ingest", "geo", "aggregate", "analytics", "publish")


@dataclass
class PipelineReport:
    """What a pipeline run did: seconds per stage, files rejected whole at ingest, the days."""
    days: list[date]
    seconds: dict[str, float] = field(default_factory=dict)
    rejected: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def delivery_days(paths: Paths) -> list[date]:
    """Every ``dt=`` delivery day present under the landing folder, sorted."""
    return sorted({date.fromisoformat(p.name[3:]) for p in paths.landing.glob("*/dt=*")})


def period_days(paths: Paths, delivered: list[date]) -> list[date]:
    """The days to aggregate: the simulated period of the manifest when there is one, otherwise
    from the first to the last delivery day."""
    if paths.manifest.exists():
        period = json.loads(paths.manifest.read_text(encoding="utf-8"))["period"]
        first, n = date.fromisoformat(period["start"]), int(period["days"])
    else:
        first, n = delivered[0], (delivered[-1] - delivered[0]).days + 1
    return [first + timedelta(i) for i in range(n)]


def _available(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            return False
        raise
    return True


def run_pipeline(spark: SparkSession, cfg: dict, paths: Paths, stages: tuple[str, ...] = STAGES,
                 log: Callable[[str], None] = print) -> PipelineReport:
    """Run ``stages`` (in the order of ``STAGES``) over everything delivered under ``paths.landing``."""
    from jobs.ingest.framework import IngestError
    from jobs.ingest.run import IngestRunError, run_range

    delivered = delivery_days(paths)
    if not delivered:
        raise FileNotFoundError(f"nothing delivered under {paths.landing} (run `make simulate`)")
    report = PipelineReport(days=period_days(paths, delivered))
    days = report.days

    def timed(stage: str, work: Callable[[], object]) -> None:
        started = time.monotonic()
        work()
        report.seconds[stage] = round(time.monotonic() - started, 1)
        log(f"[pipeline] {stage} done in {report.seconds[stage]:.0f} s")

    if "ingest" in stages:
        log(f"[pipeline] ingest of delivery days {delivered[0]} .. {delivered[-1]}")

        def ingest() -> None:
            try:
                run_range(spark, cfg, delivered[0], delivered[-1], paths, workers=2)
            except IngestRunError as err:       # rejected files are quarantined; the rest is staged
                if any(not isinstance(e, IngestError) for e in err.errors.values()):
                    raise                       # a feed broke (not a data verdict): stop here
                report.rejected = [f"{r.delivery.rel} [{r.reason_code}]" for r in err.rejected]
                log(f"[pipeline] {len(err.rejected)} file(s) rejected whole (quarantined): "
                    + "; ".join(report.rejected[:5]) + (" ..." if len(err.rejected) > 5 else ""))
        timed("ingest", ingest)
    if "geo" in stages:
        from jobs.aggregate import cell_coverage, geo_cells

        timed("geo", lambda: (geo_cells.run(spark, cfg, paths), cell_coverage.run(spark, cfg, paths)))
    if "aggregate" in stages:
        from jobs.aggregate.run import run as aggregate

        log(f"[pipeline] aggregates over {days[0]} .. {days[-1]}")
        timed("aggregate", lambda: aggregate(spark, cfg, paths, days, log=log))
    for stage, module in (("analytics", "jobs.analytics.run"), ("publish", "jobs.publish.run")):
        if stage not in stages:
            continue
        if not _available(module):
            report.skipped.append(stage)
            log(f"[pipeline] {stage}: not part of this build, skipped")
            continue
        job = importlib.import_module(module)
        if stage == "analytics":
            timed(stage, lambda: job.run(spark, cfg, paths, days, log=log))
            log(job.summary_text(paths, days[-1]))
        else:
            timed(stage, lambda: job.run(spark, cfg, paths, days[-1]))
    return report
