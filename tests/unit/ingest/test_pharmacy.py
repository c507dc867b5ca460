"""Pharmacy receipts ingest on a small dirty synthetic city, checked against the manifest.

Four days with duplicated and malformed receipts and one late file. Every delivery day
of the receipts is ingested through the framework; receipts and items per day, district (from
the delivered pharmacy reference) and ATC group are compared with the generator's exact counts,
and a range run of all the days must write the same tables.
"""

import csv
import gzip
import json
import re
from collections import defaultdict
from datetime import date, datetime, timezone

import pytest
from pyspark.sql import functions as F

from jobs.common.config import Paths
from jobs.common.lake import read_table
from jobs.ingest import pharmacy_receipts as rc
from jobs.ingest.framework import IngestError, ingest_delivery_day, ingest_range
from jobs.ingest.text import LINES_SCHEMA

FEED = "pharmacy_receipts"
GROUPS = ("antipyretic", "cough_cold", "antiviral", "other")


def dt_folders(landing, feed):
    return sorted(date.fromisoformat(p.name[3:]) for p in (landing / feed).glob("dt=*"))


@pytest.fixture(scope="module")
def lake(spark, city_cfg, city, lake_paths):
    paths = lake_paths
    for dt in dt_folders(city.landing, FEED):
        ingest_delivery_day(spark, FEED, dt, city_cfg, rc.stage, paths)
    return paths


def dq(spark, paths, feed=FEED) -> dict:
    rows = read_table(spark, "dq_results", paths).where(F.col("feed_or_table") == feed).collect()
    return {(r.ds.isoformat(), r.check_name): r.value for r in rows}


def dirt(manifest, day, kind) -> int:
    return sum(e["rows"] for e in manifest["dirt"] if e["feed"] == FEED and e["day"] == day and e["kind"] == kind)


def test_every_line_is_staged_duplicate_or_quarantined_as_the_manifest_says(spark, lake, city):
    v = dq(spark, lake)
    for rel in city.manifest["feeds"][FEED]["paths"]:
        day = re.search(r"receipts_(\d{4}-\d{2}-\d{2})", rel).group(1)
        lines = gzip.decompress((city.landing / rel).read_bytes()).decode("utf-8").splitlines()
        assert v[(day, "rows_received")] == len(lines)
        assert v[(day, "duplicates")] == dirt(city.manifest, day, "duplicate_rows")
        assert v[(day, "rows_quarantined")] == v[(day, "quarantined_malformed_row")] \
            == dirt(city.manifest, day, "malformed_rows")
        assert v[(day, "rows_staged")] + v[(day, "duplicates")] + v[(day, "rows_quarantined")] == len(lines)
        assert v[(day, "rows_unaccounted")] == 0
        for check in ("receipts_total_mismatch", "ts_offset_not_city_tz", "atc_unknown"):
            assert v[(day, check)] == 0, check
        assert v[(day, "items_staged")] == read_table(spark, "stg_pharmacy__receipt_items", lake, ds=day).count()


def test_receipts_and_items_per_day_district_and_group_equal_the_truth(spark, lake, city):
    snapshot = city.landing / city.manifest["truth"]["pharmacy_reference"]["snapshots"][0]["file"]
    with open(snapshot, encoding="utf-8", newline="") as fh:
        districts = {r["pharmacy_id"]: r["district"] for r in csv.DictReader(fh)}
    pharmacies = spark.createDataFrame(list(districts.items()), "pharmacy_id string, district string")
    receipts = read_table(spark, "stg_pharmacy__receipts", lake).join(pharmacies, "pharmacy_id", "left")
    items = read_table(spark, "stg_pharmacy__receipt_items", lake).join(
        receipts.select("ds", "receipt_id", "district"), ["ds", "receipt_id"], "left")
    got: dict = defaultdict(lambda: defaultdict(int))
    per_day = receipts.groupBy("ds", "district").agg(F.count("*").alias("n"), F.sum("total_kzt").alias("t"))
    for r in per_day.collect():
        got[(r.ds.isoformat(), r.district)].update(receipts=r.n, amount=round(r.t))
    for r in items.groupBy("ds", "district", "atc_group").agg(
            F.count("*").alias("items"), F.sum("qty").alias("qty"), F.sum("amount_kzt").alias("amount"),
            F.count_distinct("receipt_id").alias("receipts")).collect():
        got[(r.ds.isoformat(), r.district)][r.atc_group] = {
            "receipts": r.receipts, "items": r["items"], "qty": r.qty, "amount": round(r.amount)}
    zero = {"receipts": 0, "items": 0, "qty": 0, "amount": 0}
    truth = city.manifest["truth"][FEED]["receipts"]
    assert None not in {k[1] for k in got}
    for day, by_district in truth.items():
        for district, t in by_district.items():
            g = got.get((day, district), {})
            assert (g.get("receipts", 0), g.get("amount", 0)) == (t["receipts"], t["amount"]), (day, district)
            for group in GROUPS:
                assert g.get(group, zero) == t[group], (day, district, group)


def test_the_late_file_joins_its_day_and_asks_for_recompute(spark, lake, city):
    late = next(e for e in city.manifest["dirt"] if e["feed"] == FEED and e["kind"] == "late_file")
    files = read_table(spark, "stg_pharmacy__receipts", lake, ds=late["day"]).select("source_file").distinct()
    assert [r.source_file for r in files.collect()] == [late["file"]]
    assert dq(spark, lake)[(late["day"], "late_rows")] == late["rows"]
    req = read_table(spark, "ops_recompute_requests", lake).where(F.col("feed") == FEED).collect()
    assert [(r.ds.isoformat(), r.reason) for r in req] == [(late["day"], "late_file")]


def test_a_range_run_gives_the_tables_of_the_day_by_day_runs(spark, lake, city, city_cfg, lake_tables, tmp_path):
    days = dt_folders(city.landing, FEED)
    paths = Paths.from_env({"GEOPULSE_DATA": str(tmp_path), "GEOPULSE_LANDING": str(city.landing)})
    ingest_range(spark, FEED, days[0], days[-1], city_cfg, rc.stage, paths)
    tables = ("stg_pharmacy__receipts", "stg_pharmacy__receipt_items", "quarantine", "dq_results",
              "ops_recompute_requests")
    assert lake_tables(paths, tables, [FEED]) == lake_tables(lake, tables, [FEED])


def test_sale_times_keep_their_offset(spark, lake, city):
    rows = read_table(spark, "stg_pharmacy__receipts", lake).orderBy("ds", "source_row").limit(30).collect()
    for r in rows:
        text = gzip.decompress((city.landing / r.source_file).read_bytes()).decode().splitlines()[r.source_row - 1]
        sold = datetime.fromisoformat(json.loads(text)["ts"])
        assert sold.astimezone(timezone.utc).replace(tzinfo=None) == r.sold_at_utc
        assert sold.date() == r.ds


def lines(spark, texts, day=date(2020, 3, 16)):
    rel = "pharmacy_receipts/dt=x/r.jsonl.gz"
    return spark.createDataFrame([(0, rel, day, day, False, "utf-8", i + 1, t, None) for i, t in enumerate(texts)],
                                 LINES_SCHEMA)


def receipt(rid, ts="2020-03-16T10:00:00+06:00", total=500.0, items='[{"atc":"N02B","qty":1,"amount":500.0}]'):
    return f'{{"receipt_id":"{rid}","kkm_id":"K1","pharmacy_id":"P1","ts":"{ts}","total":{total},"items":{items}}}'


CASES = [
    (receipt("r1"), None),
    (receipt("r1"), "duplicate"),
    (receipt("r2", items='[{"atc":"N02BE01","qty":2,"amount":300.0},{"atc":"X99","qty":1,"amount":200.0}]'), None),
    (receipt("r3")[:40], "malformed_row"),
    ("", "malformed_row"),
    (receipt("r4").replace('"kkm_id":"K1",', ""), "missing_value"),
    (receipt("r5", ts="2020-03-16 10:00:00"), "bad_type"),
    (receipt("r6", items='[{"atc":"N02B","qty":"two","amount":5.0}]'), "bad_type"),
    (receipt("r7", items='[{"atc":"N02B","qty":-1,"amount":5.0}]'), "value_not_allowed"),
    (receipt("r8", ts="2020-03-16T23:30:00+05:00"), "wrong_day"),       # 00:30 on the 17th in Almaty
    (receipt("r1", total=600.0), "value_not_allowed"),                   # same id, other content
]


def test_rules_on_inline_receipts(spark, city_cfg):
    judged = rc.classify_receipts(lines(spark, [t for t, _ in CASES]), "Asia/Almaty")
    got = {r.source_row: "duplicate" if r._dup else r._verdict.reason if r._verdict else None
           for r in judged.collect()}
    assert [got[i + 1] for i in range(len(CASES))] == [e for _, e in CASES]
    groups = {a["atc"]: a["group"] for a in city_cfg["atc_groups"]}
    items = {(r.receipt_id, r.item_no): (r.atc_code, r.atc_group, r.qty, r.amount_kzt)
             for r in rc.staged_items(judged, groups).collect()}
    assert items == {("r1", 1): ("N02B", "antipyretic", 1, 500.0), ("r2", 1): ("N02BE01", "antipyretic", 2, 300.0),
                     ("r2", 2): ("X99", "other", 1, 200.0)}
    (r2,) = [r for r in rc.staged_receipts(judged).collect() if r.receipt_id == "r2"]
    assert r2.n_items == 2 and r2.sold_at_utc == datetime(2020, 3, 16, 4)


def test_a_truncated_gzip_file_is_quarantined_whole(spark, city, city_cfg, tmp_path):
    rel = city.manifest["feeds"][FEED]["paths"][0]
    target = tmp_path / "landing" / rel
    target.parent.mkdir(parents=True)
    data = (city.landing / rel).read_bytes()
    target.write_bytes(data[: len(data) // 2])
    paths = Paths.from_env({"GEOPULSE_DATA": str(tmp_path), "GEOPULSE_LANDING": str(tmp_path / "landing")})
    day = date.fromisoformat(rel.split("dt=")[1][:10])
    rule = "file is a complete gzip stream"
    with pytest.raises(IngestError, match=re.escape(f"{rel} rejected [unreadable_file]: {rule}")):
        ingest_delivery_day(spark, FEED, day, city_cfg, rc.stage, paths)
    q = read_table(spark, "quarantine", paths).collect()
    assert [(r.source_file, r.source_row, r.reason_code) for r in q] == [(rel, 0, "unreadable_file")]
    assert read_table(spark, "stg_pharmacy__receipts", paths).count() == 0


def test_rerun_gives_the_same_partitions(spark, lake, city, city_cfg):
    tables = ("stg_pharmacy__receipts", "stg_pharmacy__receipt_items", "quarantine", "dq_results")
    before = {t: sorted(map(str, read_table(spark, t, lake).collect())) for t in tables}
    ingest_delivery_day(spark, FEED, city.start, city_cfg, rc.stage, lake)
    assert {t: sorted(map(str, read_table(spark, t, lake).collect())) for t in tables} == before
