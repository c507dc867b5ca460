"""The daily operator aggregation: one Spark pass over the staged events of one or more days.

Reads ``stg_operator__events`` (the days asked for), ``geo_cell_h3_weights``, ``geo_h3_cells``,
``stg_districts__districts`` (populations) and the month's earlier
``private_trajectories__subscriber_day`` (homes as known on each day). Writes, for exactly those
days: ``private_trajectories__subscriber_day``, ``agg_presence__h3_hour``,
``agg_visitors__h3_hour``, ``agg_mobility__district_day``, ``agg_od__district_day``, and
dq_results rows for ``agg_presence__h3_hour`` (events, located and unlocated events).

Order: locate events (broadcast join, no H3 call per event) -> one hash exchange by subscriber
-> one vectorised pass per partition for the subscriber-day summaries (trajectories, district
trips) -> trajectories (written first: homes as known on a day read the month's trajectories up to that
day) -> homes and the fusion factors -> hex-hour counts -> the tables. A range of days runs in
one session and one pass (backfills); rerunning a day replaces exactly its partitions.

    python -m jobs.aggregate.operator_daily --ds 2020-03-16
"""

import argparse
from dataclasses import dataclass, replace
from datetime import date, timedelta

import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.aggregate import hex_hours, mobility, od, presence, trajectories, visitors
from jobs.aggregate.cell_locations import cell_anchors, location_dim, res_col, to_spark
from jobs.aggregate.fusion import market_shares, scale_factors
from jobs.aggregate.geo_cells import latest_districts
from jobs.aggregate.homes import homes_to_date
from jobs.aggregate.located_events import by_subscriber, located_events, location_counts
from jobs.common import calendar, h3geo
from jobs.common.config import Paths, load_city
from jobs.common.contracts import load_contract
from jobs.common.lake import read_table, write_table
from jobs.common.privacy import k_anonymity

EVENTS = "stg_operator__events"
TRAJECTORIES = "private_trajectories__subscriber_day"


@dataclass(frozen=True)
class Geo:
    """The small frames every operator job broadcasts."""
    anchors: DataFrame          # cell version -> loc_id
    dim: DataFrame              # loc_id -> cells per resolution, district, x/y km
    cells: DataFrame            # geo_h3_cells
    population: DataFrame       # district, population
    resolutions: list[int]      # finest first


def load_geo(spark: SparkSession, cfg: dict, paths: Paths, ds: date) -> Geo:
    res = h3geo.configured_resolutions(cfg)
    cells = read_table(spark, "geo_h3_cells", paths)
    cells_pd = cells.toPandas()
    weights = read_table(spark, "geo_cell_h3_weights", paths).toPandas()
    if cells_pd.empty or weights.empty:
        raise ValueError("geo_h3_cells / geo_cell_h3_weights are empty: run `geopulse geo` first")
    dim_pd = location_dim(cells_pd, res)
    anchors, dim = to_spark(spark, cell_anchors(weights, dim_pd), dim_pd, res)
    districts = latest_districts(read_table(spark, "stg_districts__districts", paths), ds)
    population = districts.select("district", F.col("population").cast("double").alias("population"))
    return Geo(anchors.cache(), dim.cache(), cells.cache(), population.cache(), res)


def partitions_for(events: int) -> int:
    """Shuffle partitions of the subscriber exchange: about 4M events each, at least 8."""
    return max(8, min(512, events // 4_000_000 + 1))


def dq_location(counts: pd.DataFrame, spark: SparkSession) -> DataFrame:
    from jobs.ingest.framework import Check, dq_frame
    rows = []
    for ds, g in counts.groupby("ds"):
        ev, loc = int(g["events"].sum()), int(g["located_events"].sum())
        un = ev - loc
        share = un / ev if ev else 0.0
        checks = [Check("events_in", ev, None, "pass", "staged operator events of the day"),
                  Check("events_located", loc, None, "pass", "events whose serving cell covers the city"),
                  Check("events_unlocated", un, None, "pass",
                        "unknown cell on the day or coverage wholly outside the city; counted, not placed"),
                  Check("events_unlocated_share", share, 0.05, "pass" if share <= 0.05 else "warn",
                        "unlocated / staged events")]
        checks += [Check(f"events_unlocated_{op.replace('-', '_')}", int(r.events - r.located_events), None, "pass",
                         f"operator {op}") for op, r in g.set_index("operator").iterrows()]
        rows += [replace(ch, ds=ds) for ch in checks]
    return dq_frame(spark, presence.TABLE, None, rows)


def run(spark: SparkSession, cfg: dict, paths: Paths | None, days: list[date]) -> dict[str, int]:
    """Aggregate the staged events of ``days``; returns rows written per table."""
    paths = paths or Paths.from_env()
    days = sorted(set(days))
    geo = load_geo(spark, cfg, paths, days[-1])
    k, tz = k_anonymity(cfg), cfg["city"]["timezone"]
    fine, trip_res = geo.resolutions[0], int(cfg["h3"]["map_resolution"])
    events = read_table(spark, EVENTS, paths, ds=days)
    counts = location_counts(located_events(events, geo.anchors, tz)).toPandas()
    if counts.empty:
        raise ValueError(f"{EVENTS}: no staged events on {days[0]}..{days[-1]}")
    parts = partitions_for(int(counts["events"].sum()))
    located = by_subscriber(located_events(events, geo.anchors, tz), parts).persist(StorageLevel.MEMORY_AND_DISK)
    working = [d for d in days if calendar.is_working_day(cfg, d)]
    summaries = trajectories.summaries(located, geo.dim, trip_res, working, calendar.night_hours(cfg),
                                       calendar.work_hours(cfg)).persist(StorageLevel.MEMORY_AND_DISK)
    traj = trajectories.subscriber_days(summaries)
    out: dict[str, int] = {}
    write_table(traj, TRAJECTORIES, paths)
    month_days = [days[0].replace(day=1) + timedelta(n) for n in range((days[-1] - days[0].replace(day=1)).days + 1)]
    traj = read_table(spark, TRAJECTORIES, paths, ds=month_days).persist(StorageLevel.MEMORY_AND_DISK)
    homes = homes_to_date(traj).where(F.col("ds").isin(days)).persist(StorageLevel.MEMORY_AND_DISK)
    cell_district = geo.dim.select(F.col(res_col(fine)).alias("home_h3_cell"), "district")
    home_district = homes.join(F.broadcast(cell_district), "home_h3_cell", "left").drop("home_h3_cell")
    seen = traj.where(F.col("ds").isin(days) & (F.col("located_events") > 0)).select("ds", "operator", "subscriber_key")
    home_counts = (seen.join(home_district, ["ds", "operator", "subscriber_key"])
                   .where(F.col("district").isNotNull())
                   .groupBy("ds", "operator", "district").agg(F.count(F.lit(1)).alias("residents")))
    factors = scale_factors(home_counts, geo.population, market_shares(spark, cfg), ["ds"]).cache()
    counts_hex = hex_hours.hex_hour_counts(located, homes, geo.dim, geo.resolutions, parts)
    fused = hex_hours.fuse(counts_hex, geo.cells, factors).persist(StorageLevel.MEMORY_AND_DISK)
    tables = {
        presence.TABLE: presence.presence(fused, k, geo.resolutions),
        visitors.TABLE: visitors.visitors(fused, k, geo.resolutions),
        mobility.TABLE: mobility.mobility(traj.where(F.col("ds").isin(days)), home_district, factors,
                                          cfg["city"]["name"], k),
        od.TABLE: od.od(trajectories.district_trips(summaries), factors, k),
    }
    for table, df in tables.items():
        df = df.persist(StorageLevel.MEMORY_AND_DISK)
        write_table(df, table, paths)
        out[table] = df.count()
        df.unpersist()
    write_table(dq_location(counts, spark), "dq_results", paths)
    for df in (fused, homes, traj, summaries, located, factors):
        df.unpersist()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ds", type=date.fromisoformat)
    p.add_argument("--start", type=date.fromisoformat)
    p.add_argument("--end", type=date.fromisoformat)
    p.add_argument("--config")
    a = p.parse_args(argv)
    days = [a.ds] if a.ds else [a.start + timedelta(n) for n in range((a.end - a.start).days + 1)]
    from jobs.common.spark import get_spark
    written = run(get_spark("geopulse-operator-daily"), load_city(a.config), Paths.from_env(), days)
    for t, n in written.items():
        print(f"{t}: {n} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
