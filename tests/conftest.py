"""Shared fixtures: one local SparkSession for the whole test session, a city config."""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")


@pytest.fixture(scope="session")
def spark():
    from jobs.common.spark import get_spark

    session = get_spark("geopulse-tests", master="local[2]", shuffle_partitions=4)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def city_cfg():
    from jobs.common.config import load_city

    return load_city()


# The small synthetic city every ingest and aggregate test shares: 1,500 subscribers at 40 events
# a day (dense enough for trips and stay-put), 4 days around the 2020-03-19 lockdown, 2 % dirt.
SMALL_CITY = dict(start="2020-03-16", days=4, subscribers=1500, events_per_day=40, seed=1, dirt=0.02,
                  health_scale=0.05)


@pytest.fixture(scope="session")
def small_city(tmp_path_factory):
    """``(landing, manifest, paths)`` of the small city, generated once per session; ``paths``
    points its lake at the session's folder. Tests must not change the landing (copy what they
    damage); a module that writes should use a lake of its own."""
    from datetime import date

    from jobs.common.config import Paths
    from jobs.simulate.city import run_simulation
    from jobs.simulate.context import SimParams

    root = tmp_path_factory.mktemp("small_city")
    params = SimParams(**(SMALL_CITY | {"start": date.fromisoformat(SMALL_CITY["start"])}))
    manifest = run_simulation(params, root / "landing").manifest
    paths = Paths(data=root, landing=root / "landing", lake=root / "lake",
                  serving_db=root / "serving" / "geopulse.duckdb", bench=root / "bench")
    return root / "landing", manifest, paths


@pytest.fixture(scope="session")
def aggregated_city(spark, city_cfg, small_city, tmp_path_factory):
    """The small city through every real job once per session: ingest of every delivery day,
    geo, and ``jobs.aggregate.run`` over its days, in a lake of its own. Tests read it and must
    not change what is staged (rerunning an aggregate job for its days is fine: idempotent).

    Attributes: ``paths``, ``manifest``, ``cfg``, ``days`` (the simulated days)."""
    from dataclasses import replace
    from datetime import date, timedelta
    from types import SimpleNamespace

    from jobs.aggregate import cell_coverage, geo_cells
    from jobs.aggregate.run import run as aggregate
    from jobs.ingest.framework import IngestError
    from jobs.ingest.run import run as ingest

    landing, manifest, base = small_city
    paths = replace(base, lake=tmp_path_factory.mktemp("aggregated_lake"))
    delivered = sorted({date.fromisoformat(p.name[3:]) for p in landing.glob("*/dt=*")})
    for day in delivered:
        try:
            ingest(spark, city_cfg, day, paths)
        except IngestError:             # the dirt rejects some files whole: quarantined, the rest staged
            pass
    geo_cells.run(spark, city_cfg, paths)
    cell_coverage.run(spark, city_cfg, paths)
    start = date.fromisoformat(manifest["period"]["start"])
    days = [start + timedelta(n) for n in range(manifest["period"]["days"])]
    aggregate(spark, city_cfg, paths, days, log=lambda _: None)
    return SimpleNamespace(paths=paths, manifest=manifest, cfg=city_cfg, days=days)
