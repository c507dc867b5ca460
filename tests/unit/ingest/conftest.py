"""Fixtures of the ingest tests: one small synthetic city with dirt, generated once per session.

``small_city`` gives ``(landing, manifest, paths)``: the landing folder, the manifest (ground truth
and the dirt log) and ``Paths`` whose lake is the session's own folder. Tests must not change the
landing (copy what they damage); a module that writes should take ``lake_paths`` for a lake of
its own. ``lake_tables`` reads what ingest wrote for some feeds, to compare two lakes.
"""

from dataclasses import replace
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest

from pyspark.sql import functions as F

from jobs.common.config import Paths
from jobs.common.lake import read_table
from jobs.simulate.city import run_simulation
from jobs.simulate.context import SimParams

SMALL_CITY = SimParams(start=date(2020, 3, 16), days=4, subscribers=1500, events_per_day=10, seed=1,
                       dirt=0.02, health_scale=0.05)


@pytest.fixture(scope="session")
def small_city(tmp_path_factory) -> tuple[Path, dict, Paths]:
    root = tmp_path_factory.mktemp("small_city")
    landing = root / "landing"
    manifest = run_simulation(SMALL_CITY, landing).manifest
    paths = Paths(data=root, landing=landing, lake=root / "lake", serving_db=root / "serving" / "geopulse.duckdb",
                  bench=root / "bench")
    return landing, manifest, paths


@pytest.fixture(scope="module")
def lake_paths(small_city, tmp_path_factory) -> Paths:
    """The small city's landing with an empty lake for one test module."""
    return replace(small_city[2], lake=tmp_path_factory.mktemp("lake"))


@pytest.fixture(scope="session")
def delivery_days(small_city) -> list[date]:
    """Every landing dt= day of the small city: its period plus the days late files arrive on."""
    manifest = small_city[1]
    late = [date.fromisoformat(e["detail"]["delivered"]) for e in manifest["dirt"] if e["kind"] == "late_file"]
    start, end = date.fromisoformat(manifest["period"]["start"]), date.fromisoformat(manifest["period"]["end"])
    return sorted({date.fromordinal(o) for o in range(start.toordinal(), end.toordinal() + 1)} | set(late))


@pytest.fixture(scope="session")
def city(small_city) -> SimpleNamespace:
    """The small city as attributes: ``landing``, ``manifest`` and its first day ``start``."""
    landing, manifest, _ = small_city
    return SimpleNamespace(landing=landing, manifest=manifest,
                           start=date.fromisoformat(manifest["period"]["start"]))


FEED_COLUMN = {"quarantine": "feed", "dq_results": "feed_or_table", "ops_recompute_requests": "feed"}


@pytest.fixture(scope="session")
def lake_tables(spark):
    """``read(paths, tables, feeds)``: every row of each table in the lake, sorted, only those of
    ``feeds`` in the shared tables (quarantine, dq_results, ops_recompute_requests)."""
    def read(paths: Paths, tables: tuple[str, ...], feeds: list[str]) -> dict[str, list[tuple]]:
        out = {}
        for table in tables:
            df = read_table(spark, table, paths)
            if table in FEED_COLUMN:
                df = df.where(F.col(FEED_COLUMN[table]).isin(feeds))
            out[table] = sorted(tuple(r) for r in df.collect())
        return out
    return read
