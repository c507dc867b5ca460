"""The analytics stage: ``mart_indicator_daily`` for the given days, then every analytics mart as
of the last of them (all history up to that day), then a short summary.

Order: indicators -> lead/lag -> forecasts (which use the estimated leads) -> restriction impact
-> alerts. Each mart module has ``run(spark, cfg, paths, ds) -> rows`` and
``summary(paths, ds) -> lines``.

    python -m jobs.analytics.run --ds 2020-10-26
    python -m jobs.analytics.run --start 2020-01-01 --end 2020-10-26
"""

import argparse
import importlib
import re
import time
from collections.abc import Callable
from datetime import date, timedelta

from pyspark.sql import SparkSession

from jobs.common.config import Paths, load_city

INDICATORS = "jobs.analytics.indicators"
MARTS = ("jobs.analytics.leadlag", "jobs.analytics.forecast_job", "jobs.analytics.impact",
         "jobs.analytics.alerts")
HISTORY_DAYS = 6          # mart_indicator_daily's 7-day means need the 6 days before the first day
_LOG_LINE = re.compile(r"^\[analytics\] (\w+): (\d+) rows in (\d+) s$")     # what ``run`` logs per module


def run(spark: SparkSession, cfg: dict, paths: Paths, days: list[date],
        log: Callable[[str], None] = print) -> dict[str, int]:
    """Indicators for ``days``, every mart as of ``max(days)``; returns rows written per module."""
    days = sorted(set(days))
    written: dict[str, int] = {}
    for name in (INDICATORS, *MARTS):
        module = importlib.import_module(name)
        started = time.monotonic()
        written[name] = module.run(spark, cfg, paths, days) if name == INDICATORS else \
            module.run(spark, cfg, paths, days[-1])
        log(f"[analytics] {name.rsplit('.', 1)[1]}: {written[name]} rows in {time.monotonic() - started:.0f} s")
    return written


def parse_log(text: str) -> dict[str, dict]:
    """Per module (short name): rows written and seconds, from the lines ``run`` logged."""
    out = {}
    for line in text.splitlines():
        m = _LOG_LINE.match(line.strip())
        if m:
            out[m.group(1)] = {"rows": int(m.group(2)), "seconds": float(m.group(3))}
    return out


def summary_text(paths: Paths, ds: date) -> str:
    """The end-of-run summary: top lead/lag findings, forecast skill, restriction effects, alerts."""
    lines = [f"Analytics as of {ds}:"]
    for name in MARTS:
        lines += [f"  {line}" for line in importlib.import_module(name).summary(paths, ds)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m jobs.analytics.run", description=__doc__.splitlines()[0])
    p.add_argument("--ds", type=date.fromisoformat, help="the day (indicators for it, marts as of it)")
    p.add_argument("--start", type=date.fromisoformat, help="first day of a range of indicators")
    p.add_argument("--end", type=date.fromisoformat, help="last day (inclusive); the marts are as of it")
    p.add_argument("--config", help="city config YAML (default: $GEOPULSE_CITY or Almaty)")
    a = p.parse_args(argv)
    if bool(a.ds) == bool(a.start or a.end) or (a.start is None) != (a.end is None):
        p.error("give --ds or both --start and --end")
    first, last = (a.ds, a.ds) if a.ds else (a.start, a.end)
    days = [first + timedelta(n) for n in range((last - first).days + 1)]
    from jobs.common.spark import get_spark

    paths = Paths.from_env()
    run(get_spark("geopulse-analytics"), load_city(a.config), paths, days)
    print(summary_text(paths, last))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
