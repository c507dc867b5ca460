"""Morbidity ingest: a corrected re-delivery replaces its day's figures and asks for recompute.

A six-day dirty city holds one ``morbidity_<day>_rev2.csv`` delivered days later. The day is
ingested from its first delivery (revision 1), then from the correction's delivery day
(revision 2 replaces it), and compared with the manifest's truth either time; a range run from
the first delivery to the correction writes the same partitions of those two days.
"""

import csv
import re
from datetime import date

import pytest
from pyspark.sql import functions as F

from jobs.common.config import Paths
from jobs.common.lake import read_table
from jobs.ingest import morbidity as mo
from jobs.ingest.framework import IngestError, ingest_delivery_day, ingest_range
from jobs.ingest.text import LINES_SCHEMA
from jobs.simulate.city import run_simulation
from jobs.simulate.context import SimParams

FEED, TABLE = "morbidity", "stg_morbidity__daily"
PARAMS = SimParams(start=date(2020, 3, 16), days=6, subscribers=300, events_per_day=5, seed=1, dirt=0.02,
                   health_scale=0.05)
MEASURES = ("new_cases", "hospitalised", "deaths", "tests")


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    return run_simulation(PARAMS, tmp_path_factory.mktemp("landing"))


@pytest.fixture(scope="module")
def correction(city):
    (day, rev), = city.manifest["truth"][FEED]["revisions"].items()
    return date.fromisoformat(day), rev


def figures(spark, paths, day) -> dict:
    return {r.district: ({m: r[m] for m in MEASURES}, r.revision)
            for r in read_table(spark, TABLE, paths, ds=day).collect()}


def dq(spark, paths, day) -> dict:
    return {r.check_name: r.value for r in read_table(spark, "dq_results", paths, ds=day)
            .where(F.col("feed_or_table") == FEED).collect()}


@pytest.fixture(scope="module")
def lake(spark, city_cfg, city, correction, tmp_path_factory):
    """Ingest the corrected day as first delivered, keep its figures, then the correction's day."""
    paths = Paths.from_env({"GEOPULSE_DATA": str(tmp_path_factory.mktemp("data")),
                            "GEOPULSE_LANDING": str(city.landing)})
    day, rev = correction
    ingest_delivery_day(spark, FEED, day, city_cfg, mo.stage, paths)
    first = figures(spark, paths, day), dq(spark, paths, day)
    ingest_delivery_day(spark, FEED, date.fromisoformat(rev["delivered"]), city_cfg, mo.stage, paths)
    return paths, first


def test_the_first_delivery_stages_revision_1(lake, city, correction):
    (staged, checks), day = lake[1], correction[0].isoformat()
    assert staged == {d: (v, 1) for d, v in city.manifest["truth"][FEED]["reported"][day].items()}
    assert checks["rows_received"] == checks["rows_staged"] == 8 and checks["rows_unaccounted"] == 0


def test_the_correction_replaces_the_day_with_revision_2(spark, lake, correction):
    paths, (day, rev) = lake[0], correction
    assert figures(spark, paths, day) == {d: (v, 2) for d, v in rev["counts"].items()}
    checks = dq(spark, paths, day)
    assert (checks["rows_received"], checks["rows_staged"], checks["rows_superseded"]) == (16, 8, 8)
    assert checks["rows_unaccounted"] == 0 and checks["rows_quarantined"] == 0
    assert checks["revision_max"] == 2 and checks["rows_corrected"] == 8 and checks["files_late"] == 1


def test_the_correction_asks_for_recompute_of_its_day(spark, lake, correction):
    paths, (day, rev) = lake[0], correction
    req = read_table(spark, "ops_recompute_requests", paths).collect()
    assert [(r.feed, r.ds, r.delivered_ds.isoformat(), r.reason, r.files) for r in req] == [
        (FEED, day, rev["delivered"], "corrected_redelivery", rev["file"])]


def test_the_delivery_day_itself_is_staged_too(spark, lake, city, correction):
    paths, delivered = lake[0], correction[1]["delivered"]
    assert figures(spark, paths, delivered) == {
        d: (v, 1) for d, v in city.manifest["truth"][FEED]["reported"][delivered].items()}


def test_rerun_of_the_correction_changes_nothing(spark, lake, city_cfg, correction):
    paths, rev = lake[0], correction[1]
    tables = (TABLE, "quarantine", "dq_results", "ops_recompute_requests")
    before = {t: sorted(map(str, read_table(spark, t, paths).collect())) for t in tables}
    ingest_delivery_day(spark, FEED, date.fromisoformat(rev["delivered"]), city_cfg, mo.stage, paths)
    assert {t: sorted(map(str, read_table(spark, t, paths).collect())) for t in tables} == before


def test_a_range_run_writes_the_partitions_of_the_day_by_day_runs(spark, lake, city, city_cfg, correction, tmp_path):
    paths, (day, rev) = lake[0], correction
    delivered = date.fromisoformat(rev["delivered"])
    ranged = Paths.from_env({"GEOPULSE_DATA": str(tmp_path), "GEOPULSE_LANDING": str(city.landing)})
    report = ingest_range(spark, FEED, day, delivered, city_cfg, mo.stage, ranged)
    assert day in report.recompute and report.days[0] == day and report.days[-1] == delivered
    for table in (TABLE, "quarantine", "dq_results"):
        got, want = (sorted(map(str, read_table(spark, table, p, ds=[day, delivered]).collect())) for p in (ranged, paths))
        assert got == want, table
    requests = [sorted(map(str, read_table(spark, "ops_recompute_requests", p)
                           .where(F.col("delivered_ds").isin(day, delivered)).collect())) for p in (ranged, paths)]
    assert requests[0] == requests[1] != []


def lines(spark, files: dict[str, list[str]]):
    rows = [(no, rel, date(2020, 4, 1 + no), date(2020, 4, 1), no > 0, "utf-8", i + 1, t, next(csv.reader([t])))
            for no, (rel, texts) in enumerate(files.items()) for i, t in enumerate(texts)]
    return spark.createDataFrame(rows, LINES_SCHEMA)


def test_rules_and_partial_corrections_on_inline_rows(spark, city_cfg):
    rev1 = ["2020-04-01,Almaly,5,1,0,100,1", "2020-04-01,Medeu,3,0,0,80,1", "2020-04-01,Auezov,2,0,0,50,1",
            "2020-04-01,Almaly,5,1,0,100,1",            # duplicate
            "2020-04-01,Бостандыкский р-н,4,1,0,70,1",  # Russian name: Bostandyk
            "2020-04-01,Atlantis,1,0,0,10,1",          # unknown district
            "2020-04-01,Zhetysu,-1,0,0,10,1",          # negative
            "2020-04-02,Turksib,1,0,0,10,1",           # wrong day
            "2020-04-01,Alatau,1,0,0,10,2",            # revision 2 in a revision-1 file
            "2020-04-01,Nauryzbay,x,0,0,10,1",         # not an integer
            "2020-04-01,Medeu,9,0,0,80,1"]             # Medeu twice in revision 1
    rev2 = ["2020-04-01,Almaly,7,2,0,120,2"]            # corrects Almaly only
    files = {"morbidity/dt=2020-04-01/morbidity_2020-04-01.csv": rev1,
             "morbidity/dt=2020-04-02/morbidity_2020-04-01_rev2.csv": rev2}
    judged = mo.classify_reports(lines(spark, files), city_cfg,
                                 {rel: mo.file_revision(rel.rsplit("/", 1)[1]) for rel in files})
    got = {(r.source_file, r.source_row): "duplicate" if r._dup else "superseded" if r._superseded
           else r._verdict.reason if r._verdict else None for r in judged.collect()}
    first, second = files
    assert got[(second, 1)] is None
    assert [got[(first, i + 1)] for i in range(len(rev1))] == [
        "superseded", None, None, "duplicate", None, "unknown_reference", "value_not_allowed", "wrong_day",
        "value_not_allowed", "bad_type", "value_not_allowed"]
    staged = {r.district: (r.new_cases, r.revision) for r in mo.staged_reports(judged).collect()}
    assert staged == {"Almaly": (7, 2), "Medeu": (3, 1), "Auezov": (2, 1), "Bostandyk": (4, 1)}


def test_a_file_with_wrong_columns_is_quarantined_whole(spark, city, city_cfg, tmp_path):
    rel = next(p for p in city.manifest["feeds"][FEED]["paths"] if "_rev" not in p)
    target = tmp_path / "landing" / rel
    target.parent.mkdir(parents=True)
    target.write_bytes((city.landing / rel).read_bytes().replace(b"new_cases,", b"cases,", 1))
    paths = Paths.from_env({"GEOPULSE_DATA": str(tmp_path), "GEOPULSE_LANDING": str(tmp_path / "landing")})
    day = date.fromisoformat(rel.split("dt=")[1][:10])
    with pytest.raises(IngestError, match=re.escape(f"{rel} rejected [wrong_columns]: header is report_date,")):
        ingest_delivery_day(spark, FEED, day, city_cfg, mo.stage, paths)
    q = read_table(spark, "quarantine", paths).collect()
    assert [(r.source_file, r.source_row, r.reason_code, r.raw_record) for r in q] == [
        (rel, 0, "wrong_columns", None)]
    assert read_table(spark, TABLE, paths).count() == 0
