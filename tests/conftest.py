"""Shared fixtures: one local SparkSession for the whole test session, a city config."""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")


def pytest_collection_modifyitems(config, items):
    """Tests that need the year city (directly or through another fixture) carry the ``year_city``
    marker (``-m "not year_city"`` leaves them out of a quick local run; `make test` runs them)."""
    for item in items:
        if "year_city" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.year_city)


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


# The year city every analytics, DAG-independent publish and dashboard test shares: health feeds over
# 300 days (both epidemic waves of 2020), operator feeds over the lockdown (120 days from 2020-01-03,
# enough for the mobility baseline weeks and the restriction's effect), few subscribers but events
# as dense as the small city's (at 12 a day the unseen short stays bias stay-put shares by 10 points).
YEAR_CITY = dict(start="2020-01-01", days=300, subscribers=800, events_per_day=40, seed=7, dirt=0.002,
                 health_scale=0.3, operator_start="2020-01-03", operator_days=120)


@pytest.fixture(scope="session")
def year_city(spark, city_cfg, tmp_path_factory):
    """The year city through the real pipeline (range ingest, geo, every aggregate) into a lake of
    its own, once per session. Tests may add their own tables for its days but must not change
    what is staged or aggregated.

    Attributes: ``paths``, ``manifest``, ``cfg``, ``days`` (all simulated days),
    ``operator_days``, ``report`` (the pipeline's seconds per stage)."""
    from datetime import date, timedelta
    from types import SimpleNamespace

    from jobs.common.config import Paths
    from jobs.pipeline import run_pipeline
    from jobs.simulate.city import run_simulation
    from jobs.simulate.context import SimParams

    root = tmp_path_factory.mktemp("year_city")
    dated = {k: date.fromisoformat(v) for k, v in YEAR_CITY.items() if k in ("start", "operator_start")}
    params = SimParams(**(YEAR_CITY | dated))
    manifest = run_simulation(params, root / "landing").manifest
    paths = Paths(data=root, landing=root / "landing", lake=root / "lake",
                  serving_db=root / "serving" / "geopulse.duckdb", bench=root / "bench")
    report = run_pipeline(spark, city_cfg, paths, stages=("ingest", "geo", "aggregate"), log=lambda _: None)
    return SimpleNamespace(paths=paths, manifest=manifest, cfg=city_cfg, days=params.all_days(),
                           operator_days=params.operator_days_list(), report=report)



@pytest.fixture(scope="session")
def analysed_year_city(spark, year_city):
    """``year_city`` plus every analytics mart, written into its own lake by the real analytics
    stage (``jobs.analytics.run``) as of its last day, once per session: the dashboards' serving
    database and the analytics tests on the year city read the same run.

    Attributes: those of ``year_city`` plus ``analytics`` (per module short name: indicators,
    leadlag, forecast_job, impact, alerts -> ``{"rows", "seconds"}``, from the stage's log).
    Tests may rewrite a mart for settings of their own; they must not rewrite the indicators."""
    from types import SimpleNamespace

    from jobs.analytics.run import INDICATORS, MARTS, parse_log
    from jobs.analytics.run import run as analytics

    lines: list[str] = []
    written = analytics(spark, year_city.cfg, year_city.paths, list(year_city.days), log=lines.append)
    modules = parse_log("\n".join(lines))
    assert {k: v["rows"] for k, v in modules.items()} == {n.rsplit(".", 1)[1]: r for n, r in written.items()}
    assert list(modules) == [m.rsplit(".", 1)[1] for m in (INDICATORS, *MARTS)]
    return SimpleNamespace(**vars(year_city), analytics=modules)
