"""Fixtures of the analytics tests: ``indicator_city``, the session's year city (``year_city`` in
tests/conftest.py) with mart_indicator_daily built over all its days by the real job."""

import time
from types import SimpleNamespace

import pytest


@pytest.fixture(scope="session")
def indicator_city(spark, year_city):
    """``year_city`` plus mart_indicator_daily for every simulated day, in the year city's lake.

    Attributes: those of ``year_city`` (paths, manifest, cfg, days, operator_days, ...) plus
    ``indicator_rows`` (rows written) and ``indicator_seconds`` (how long the job took). Tests
    may write their own analytics tables for its days; they must not rewrite the indicators."""
    from jobs.analytics import indicators

    started = time.monotonic()
    rows = indicators.run(spark, year_city.cfg, year_city.paths, list(year_city.days))
    return SimpleNamespace(**vars(year_city), indicator_rows=rows,
                           indicator_seconds=time.monotonic() - started)
