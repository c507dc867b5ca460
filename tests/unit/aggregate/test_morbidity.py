"""Morbidity aggregate: inline revisions for the rule, then the small synthetic city's morbidity
reports ingested day by day, with a corrected re-delivery (``_rev2``) of one day arriving later:
the table first holds revision 1 everywhere, and after the correction's day is ingested and the
days it asks to recompute are rerun, revision 2 of the corrected day.
"""

import shutil
from datetime import date

import pytest
from pyspark.sql import functions as F

from jobs.aggregate import morbidity_district as md
from jobs.common.config import Paths
from jobs.common.lake import read_table
from jobs.ingest import morbidity as mo
from jobs.ingest.framework import ingest_delivery_day

D1, D2 = date(2020, 4, 1), date(2020, 4, 2)
DAILY = ("ds date, district string, revision int, new_cases int, hospitalised int, deaths int, tests int, "
         "delivered_ds date, source_file string, source_row long")
MEASURES = ("new_cases", "hospitalised", "deaths", "tests")


def test_the_highest_revision_of_each_day_and_district_wins(spark):
    daily = spark.createDataFrame([
        (D1, "Almaly", 1, 5, 1, 0, 100, D1, "f1", 1),
        (D1, "Almaly", 2, 7, 2, 0, 120, D2, "f2", 1),
        (D1, "Medeu", 1, 3, 0, 0, 80, D1, "f1", 2),
        (D2, "Almaly", 1, 4, 0, 1, 90, D2, "f3", 1),
    ], DAILY)
    got = {(r.ds, r.district): (r.new_cases, r.revision, r.delivered_ds) for r in md.latest_revision(daily).collect()}
    assert got == {(D1, "Almaly"): (7, 2, D2), (D1, "Medeu"): (3, 1, D1), (D2, "Almaly"): (4, 1, D2)}
    assert {r.ds: (r.staged, r.superseded) for r in md.superseded(daily).collect()} == {D1: (3, 1), D2: (1, 0)}


def test_dq_balances_staged_rows_and_flags_a_lost_row_and_a_missing_district():
    ok = {c.name: c for c in md.day_checks(staged=9, superseded=1, written=8, n_districts=8)}
    assert (ok["rows_unaccounted"].value, ok["rows_unaccounted"].status, ok["districts_reported"].status) == \
        (0, "pass", "pass")
    tie = {c.name: c for c in md.day_checks(staged=9, superseded=0, written=8, n_districts=8)}
    assert (tie["rows_unaccounted"].value, tie["rows_unaccounted"].status) == (1, "fail")
    short = {c.name: c for c in md.day_checks(staged=7, superseded=0, written=7, n_districts=8)}
    assert short["districts_reported"].status == "warn"


# ---------------------------------------------------------------- the small city
CORRECTED, ARRIVES = date(2020, 3, 17), date(2020, 3, 19)


def figures(spark, paths, days=None) -> dict:
    return {(r.ds, r.district): ({m: r[m] for m in MEASURES}, r.revision, r.delivered_ds)
            for r in read_table(spark, md.TABLE, paths, ds=days).collect()}


@pytest.fixture(scope="module")
def city(spark, city_cfg, small_city, period, tmp_path_factory):
    """The city's morbidity feed plus a correction of CORRECTED (every count + 1) delivered on
    ARRIVES; the table after the days before ARRIVES, then after ARRIVES and its recomputes."""
    landing, manifest, _ = small_city
    root = tmp_path_factory.mktemp("morbidity")
    shutil.copytree(landing / "morbidity", root / "landing" / "morbidity")
    reported = manifest["truth"]["morbidity"]["reported"][CORRECTED.isoformat()]
    lines = ["report_date,district,new_cases,hospitalised,deaths,tests,revision"]
    lines += [f"{CORRECTED},{d},{','.join(str(v[m] + 1) for m in MEASURES)},2" for d, v in reported.items()]
    rev2 = root / "landing" / "morbidity" / f"dt={ARRIVES}" / f"morbidity_{CORRECTED}_rev2.csv"
    rev2.write_text("\n".join(lines) + "\n", encoding="utf-8")
    paths = Paths.from_env({"GEOPULSE_DATA": str(root), "GEOPULSE_LANDING": str(root / "landing")})
    before = [d for d in period if d < ARRIVES]
    for day in before:
        ingest_delivery_day(spark, "morbidity", day, city_cfg, mo.stage, paths)
    written_before = md.run(spark, city_cfg, paths, before)
    first = figures(spark, paths)
    report = ingest_delivery_day(spark, "morbidity", ARRIVES, city_cfg, mo.stage, paths)
    rerun = sorted(set(report.recompute) | {ARRIVES})
    written_after = md.run(spark, city_cfg, paths, rerun)
    return paths, manifest, first, (written_before, written_after, rerun)


def truth(manifest, days) -> dict:
    rep = manifest["truth"]["morbidity"]["reported"]
    return {(d, district): ({m: v[m] for m in MEASURES}, 1, d)
            for d in days for district, v in rep[d.isoformat()].items()}


def test_before_the_correction_every_day_holds_revision_1(city, period):
    _, manifest, first, (written, _, _) = city
    before = [d for d in period if d < ARRIVES]
    assert first == truth(manifest, before) and written == 8 * len(before)


def test_after_the_correction_its_day_holds_revision_2_and_the_others_are_unchanged(spark, city, period):
    paths, manifest, _, (_, written, rerun) = city
    assert rerun == [CORRECTED, ARRIVES] and written == 16
    want = truth(manifest, period)
    for d, v in manifest["truth"]["morbidity"]["reported"][CORRECTED.isoformat()].items():
        want[(CORRECTED, d)] = ({m: v[m] + 1 for m in MEASURES}, 2, ARRIVES)
    assert figures(spark, paths) == want


def test_dq_balances_every_day(spark, city, period):
    paths = city[0]
    checks = {(r.ds, r.check_name): r for r in read_table(spark, "dq_results", paths)
              .where(F.col("feed_or_table") == md.TABLE).collect()}
    for d in period:
        assert checks[(d, "rows_unaccounted")].value == 0 and checks[(d, "rows_unaccounted")].status == "pass"
        assert checks[(d, "districts_reported")].value == 8 and checks[(d, "districts_reported")].status == "pass"
        assert checks[(d, "rows_written")].value == 8
