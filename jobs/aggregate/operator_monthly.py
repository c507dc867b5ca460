"""The monthly operator aggregation: homes and work places, residents, commuting.

Reads ``private_trajectories__subscriber_day`` of whole months (written by the daily job),
``geo_h3_cells`` and the district populations; writes, for exactly those months:
``private_home_work__subscriber_month``, ``agg_residents__h3_month``,
``agg_commute__district_month`` and its published form ``mart_commute_flows``. Run it once a
month has all its days (the residents_monthly DAG), or for a partial month to see it so far: the
figures cover the days present.

    python -m jobs.aggregate.operator_monthly --month 2020-03
"""

import argparse
from datetime import date

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs.aggregate import commute, home_work, residents
from jobs.aggregate.cell_locations import res_col
from jobs.aggregate.fusion import market_shares, scale_factors
from jobs.aggregate.operator_daily import TRAJECTORIES, load_geo
from jobs.common.config import Paths, load_city
from jobs.common.lake import read_table, write_table
from jobs.common.privacy import k_anonymity


def month_start(day: date) -> date:
    return day.replace(day=1)


def run(spark: SparkSession, cfg: dict, paths: Paths | None, months: list[date]) -> dict[str, int]:
    """Aggregate the months starting on ``months`` (first days); rows written per table."""
    paths = paths or Paths.from_env()
    months = sorted({month_start(m) for m in months})
    traj = read_table(spark, TRAJECTORIES, paths).where(F.trunc("ds", "month").isin(months))
    last = traj.agg(F.max("ds")).first()[0]
    if last is None:
        raise ValueError(f"{TRAJECTORIES}: no days in {', '.join(m.strftime('%Y-%m') for m in months)}; "
                         "run the daily operator aggregation first")
    geo = load_geo(spark, cfg, paths, last)
    fine = geo.resolutions[0]
    cell_districts = geo.dim.select(F.col(res_col(fine)).alias("h3_cell"), "district")
    hw = home_work.home_work(traj, cell_districts).cache()
    write_table(hw, home_work.TABLE, paths)
    factors = scale_factors(residents.home_counts(hw), geo.population, market_shares(spark, cfg), ["month"]).cache()
    k = k_anonymity(cfg)
    out = {home_work.TABLE: hw.count()}
    flows = commute.commute(hw, factors, k).cache()
    for table, df in {residents.TABLE: residents.residents(hw, geo.dim, geo.cells, factors, k),
                      commute.TABLE: flows, commute.MART: commute.flows_mart(flows, geo.cells)}.items():
        df = df.cache()
        write_table(df, table, paths)
        out[table] = df.count()
        df.unpersist()
    flows.unpersist()
    hw.unpersist()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--month", action="append", required=True, help="YYYY-MM (repeatable)")
    p.add_argument("--config")
    a = p.parse_args(argv)
    from jobs.common.spark import get_spark
    months = [date.fromisoformat(m + "-01") for m in a.month]
    for t, n in run(get_spark("geopulse-operator-monthly"), load_city(a.config), Paths.from_env(), months).items():
        print(f"{t}: {n} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
