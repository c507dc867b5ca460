"""The batch pipeline (`make run`) goes on past files rejected whole (quarantined, reported) but
stops when a feed breaks for any other reason: a staged table must never be silently missing."""

from datetime import date

import pytest

from jobs import pipeline
from jobs.common.config import Paths
from jobs.ingest import run as ingest_run
from jobs.ingest.framework import IngestError

DAY = date(2020, 3, 16)


@pytest.fixture
def paths(tmp_path) -> Paths:
    (tmp_path / "landing" / "ambulance" / f"dt={DAY}").mkdir(parents=True)
    return Paths(data=tmp_path, landing=tmp_path / "landing", lake=tmp_path / "lake",
                 serving_db=tmp_path / "s.duckdb", bench=tmp_path / "bench")


def failing(errors: dict):
    def run_range(spark, cfg, start, end, paths, feeds=None, workers=1):
        raise ingest_run.IngestRunError(start, errors, end)
    return run_range


def test_files_rejected_whole_are_reported_and_the_run_goes_on(paths, monkeypatch):
    monkeypatch.setattr(ingest_run, "run_range", failing({"ambulance": IngestError("ambulance", DAY, [])}))
    lines = []
    report = pipeline.run_pipeline(None, {}, paths, stages=("ingest",), log=lines.append)
    assert report.days == [DAY] and "ingest" in report.seconds
    assert any("rejected whole" in line for line in lines)


def test_a_broken_feed_stops_the_run(paths, monkeypatch):
    broken = MemoryError("Java heap space")
    monkeypatch.setattr(ingest_run, "run_range", failing({"pharmacy_receipts": broken,
                                                         "ambulance": IngestError("ambulance", DAY, [])}))
    with pytest.raises(ingest_run.IngestRunError, match="pharmacy_receipts: MemoryError: Java heap space"):
        pipeline.run_pipeline(None, {}, paths, stages=("ingest", "geo"), log=lambda _: None)
