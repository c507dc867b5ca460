"""Every aggregate for a range of days, in one Spark session (the batch path and backfills).

Reads the staged tables; writes every ``agg_`` table of DESIGN.md section 5 plus
``mart_mobility_index`` and ``mart_zone_profile`` for exactly the days (and months) asked for.
Order: health aggregates (independent of the operators), the daily operator aggregation (days
with staged operator events only), the monthly one for each month touched, the mobility index,
and the zone profile over the baseline period (or, when no baseline day has operator data, over
the operator days of the range). Each step is one job module with its own ``run``; the Airflow
DAGs call the same functions one day at a time.

    python -m jobs.aggregate.run --start 2020-03-16 --end 2020-03-19
"""

import argparse
import importlib
from datetime import date, timedelta

from pyspark.sql import SparkSession

from jobs.aggregate import mobility_index, operator_daily, operator_monthly, zone_profile
from jobs.common.config import Paths, load_city
from jobs.common.lake import read_table

HEALTH_JOBS = ("ambulance_h3", "ambulance_district", "pharmacy_h3", "pharmacy_district", "morbidity_district")


def operator_days(spark: SparkSession, paths: Paths, days: list[date]) -> list[date]:
    staged = read_table(spark, operator_daily.EVENTS, paths, ds=days).select("ds").distinct().collect()
    return sorted(r[0] for r in staged)


def run(spark: SparkSession, cfg: dict, paths: Paths | None, days: list[date], log=print) -> dict[str, int]:
    paths = paths or Paths.from_env()
    days = sorted(set(days))
    written: dict[str, int] = {}
    for name in HEALTH_JOBS:
        module = importlib.import_module(f"jobs.aggregate.{name}")
        n = module.run(spark, cfg, paths, days)
        written[name] = n
        log(f"[aggregate] {name}: {n} rows")
    op_days = operator_days(spark, paths, days)
    if not op_days:
        log("[aggregate] no staged operator events in the range: operator aggregates skipped")
        return written
    for table, n in operator_daily.run(spark, cfg, paths, op_days).items():
        written[table] = n
        log(f"[aggregate] {table}: {n} rows ({op_days[0]}..{op_days[-1]}, {len(op_days)} days)")
    months = sorted({d.replace(day=1) for d in op_days})
    for table, n in operator_monthly.run(spark, cfg, paths, months).items():
        written[table] = n
        log(f"[aggregate] {table}: {n} rows ({len(months)} months)")
    written[mobility_index.TABLE] = mobility_index.run(spark, cfg, paths, op_days)
    log(f"[aggregate] {mobility_index.TABLE}: {written[mobility_index.TABLE]} rows")
    start, end = mobility_index.baseline_period(cfg)
    base = operator_days(spark, paths, [start + timedelta(n) for n in range((end - start).days + 1)])
    period = (base[0], base[-1]) if base else (op_days[0], op_days[-1])
    written[zone_profile.TABLE] = zone_profile.run(spark, cfg, paths, *period)
    log(f"[aggregate] {zone_profile.TABLE}: {written[zone_profile.TABLE]} rows ({period[0]}..{period[1]})")
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ds", type=date.fromisoformat)
    p.add_argument("--start", type=date.fromisoformat)
    p.add_argument("--end", type=date.fromisoformat)
    p.add_argument("--config")
    a = p.parse_args(argv)
    days = [a.ds] if a.ds else [a.start + timedelta(n) for n in range((a.end - a.start).days + 1)]
    from jobs.common.spark import get_spark
    run(get_spark("geopulse-aggregate"), load_city(a.config), Paths.from_env(), days)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
