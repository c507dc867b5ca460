"""Cell reference ingest: snapshots of every version per day, the renamed and the moved cell as
separate versions, every row accounted for, bad rows quarantined with their reason."""

from datetime import date, timedelta

import pytest
from pyspark.sql import functions as F

from jobs.common.lake import read_table
from jobs.ingest import cells
from jobs.ingest.framework import Delivery
from jobs.ingest.run import run

HEADER = "cgi,operator,lac,ci,site_id,lat,lon,azimuth_deg,beam_width_deg,range_m,valid_from,valid_to"


@pytest.fixture(scope="module")
def snapshots(spark, city_cfg, small_city, lake_paths, delivery_days):
    for ds in delivery_days:
        run(spark, city_cfg, ds, lake_paths, ["cell_reference"])
    return read_table(spark, "stg_operator__cells", lake_paths)


def test_every_delivered_row_is_a_staged_version(spark, small_city, lake_paths, snapshots):
    landing, manifest, _ = small_city
    files = manifest["feeds"]["cell_reference"]["paths"]
    staged = {(r.ds, r.source_file): r["count"] for r in snapshots.groupBy("ds", "source_file").count().collect()}
    expected = {}
    for rel in files:
        day = date.fromisoformat(rel.split("/dt=")[1][:10])
        expected[(day, rel)] = len((landing / rel).read_text(encoding="utf-8").splitlines()) - 1
    assert staged == expected
    checks = {(r.ds, r.check_name): r.value for r in read_table(spark, "dq_results", lake_paths)
              .where(F.col("feed_or_table") == "cell_reference").collect()}
    for day in {d for d, _ in expected}:
        assert checks[(day, "rows_unaccounted")] == 0
        assert checks[(day, "rows_received")] == checks[(day, "rows_staged")] == sum(
            n for (d, _), n in expected.items() if d == day)
        assert checks[(day, "files")] == sum(1 for d, _ in expected if d == day)


def test_the_renamed_cell_is_two_versions(small_city, snapshots):
    change = small_city[1]["ground_truth"]["network_changes"]["renamed_cell"]
    day = date.fromisoformat(change["day"])
    rows = snapshots.where(F.col("cgi").isin(change["cgi_old"], change["cgi_new"])).collect()
    at_change = sorted((r.cgi, r.valid_to) for r in rows if r.ds == day)
    assert at_change == [(change["cgi_old"], day - timedelta(days=1)), (change["cgi_new"], None)]
    new = [r for r in rows if r.ds == day and r.cgi == change["cgi_new"]]
    assert new[0].valid_from == day and new[0].site_id == change["site_id"]
    assert sorted((r.cgi, r.valid_to) for r in rows if r.ds < day) == [(change["cgi_old"], None)]


def test_the_moved_site_keeps_its_cgis_with_a_second_version(small_city, snapshots):
    moved = small_city[1]["ground_truth"]["network_changes"]["moved_cell"]
    day = date.fromisoformat(moved["day"])
    rows = snapshots.where(F.col("cgi").isin(moved["cgis"]) & (F.col("ds") == day)).collect()
    assert len(rows) == 2 * len(moved["cgis"])
    for cgi in moved["cgis"]:
        old, new = sorted((r for r in rows if r.cgi == cgi), key=lambda r: r.valid_from)
        assert old.valid_to == day - timedelta(days=1) and new.valid_from == day and new.valid_to is None
        assert (old.lat, old.lon) == pytest.approx((moved["lat_before"], moved["lon_before"]), abs=1e-6)
        assert (new.lat, new.lon) == pytest.approx((moved["lat_after"], moved["lon_after"]), abs=1e-6)


def test_bad_rows_are_quarantined_with_their_reason(spark, city_cfg, tmp_path):
    good = "401-02-10101-1,401-02,10101,1,K1,43.2,76.9,120,65,500,2015-01-01,"
    rows = [
        good,
        good,                                                                  # exact duplicate
        good.replace(",120,", ",240,"),                                        # same version, other content
        "401-02-10101-9,401-02,10101,2,K1,43.2,76.9,120,65,500,2015-01-01,",   # cgi is not operator-lac-ci
        "401-01-10101-4,401-01,10101,4,K1,43.2,76.9,120,65,500,2015-01-01,",   # not Kcell's MCC-MNC
        "401-02-10101-5,401-02,10101,5,K1,abc,76.9,120,65,500,2015-01-01,",    # lat not a number
        "401-02-10101-6,401-02,10101,6,K1,95,76.9,120,65,500,2015-01-01,",     # lat out of range
        "401-02-10101-7,401-02,10101,7,,43.2,76.9,120,65,500,2015-01-01,",     # no site
        "401-02-10101-8,401-02,10101,8,K1,43.2,76.9,120,65,500,2015-01-01",    # a field short
        "401-02-10101-2,401-02,10101,2,K1,43.2,76.9,120,65,500,2015-01-01,2014-12-31",  # ends before it starts
        "401-02-10101-3,401-02,10101,3,K1,43.2,76.9,0,360,900,2015-01-01,",
    ]
    day = date(2020, 3, 16)
    path = tmp_path / f"cell_reference/dt={day}/cells_kcell_{day:%Y%m%d}.csv"
    path.parent.mkdir(parents=True)
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    delivery = Delivery("cell_reference", path, str(path.relative_to(tmp_path)), day, day)
    res = cells.stage(spark, [delivery], city_cfg, day)
    try:
        staged = sorted((r.cgi, r.source_row) for r in res.staged["stg_operator__cells"].collect())
        assert staged == [("401-02-10101-1", 1), ("401-02-10101-3", 11)]
        got = {r.source_row: (r.reason_code, r.rule) for r in res.quarantine.collect()}
        assert {k: v[0] for k, v in got.items()} == {
            3: "value_not_allowed", 4: "value_not_allowed", 5: "value_not_allowed", 6: "bad_type",
            7: "value_not_allowed", 8: "missing_value", 9: "malformed_row", 10: "value_not_allowed"}
        assert got[4][1] == "cgi is <operator>-<lac>-<ci>" and got[6][1] == "lat parses as double"
        assert got[7][1] == "lat <= 90" and got[8][1] == "site_id is present"
        assert got[3][1].startswith("(cgi, valid_from) identifies one row")
        checks = {c.name: c.value for c in res.checks}
        balance = [checks[k] for k in ("rows_received", "rows_staged", "duplicates", "rows_quarantined")]
        assert balance == [11, 2, 1, 8]
        assert checks["rows_unaccounted"] == 0
    finally:
        for frame in res.persisted:
            frame.unpersist()
