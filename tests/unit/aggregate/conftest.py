"""Fixtures of the aggregate tests, on the session's small city (``small_city`` and
``aggregated_city`` in tests/conftest.py): ``period``, the simulated days (what the aggregate
jobs run over), and ``health_lake``, the aggregated city's lake. Test modules may rerun their
jobs into it (idempotent) but must not change what is staged; a module that needs other staged
data builds a lake of its own."""

from datetime import date, timedelta

import pytest

from jobs.common.config import Paths


@pytest.fixture(scope="session")
def period(small_city) -> list[date]:
    p = small_city[1]["period"]
    start, end = date.fromisoformat(p["start"]), date.fromisoformat(p["end"])
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


@pytest.fixture(scope="session")
def health_lake(aggregated_city) -> Paths:
    """The lake of ``aggregated_city`` (every feed staged, geo built, every aggregate written)."""
    return aggregated_city.paths
