"""Ambulance ingest on a small dirty synthetic city, checked against the generator's manifest.

Four days with dirt: duplicates, malformed rows, out-of-city geocodes, missing geocodes, one
late file and one file in cp1251. Every delivery day is ingested through the framework; the
tests then read the lake, and a range run of all the days must write the same tables. Inline
frames check single rules (time zone change, districts).
"""

import csv
import io
import re
from collections import Counter
from datetime import date, datetime
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from jobs.common.config import Paths
from jobs.common.lake import read_table
from jobs.ingest import ambulance as am
from jobs.ingest.districts import city_outline
from jobs.ingest.framework import Delivery, FileRejected, IngestError, ingest_delivery_day, ingest_range
from jobs.ingest.text import (LINES_SCHEMA, decode_text, district_lookup, district_of, read_text,
                              recognise_district)

FEED = "ambulance"


def dt_folders(landing: Path, feed: str) -> list[date]:
    return sorted(date.fromisoformat(p.name[3:]) for p in (landing / feed).glob("dt=*"))


def ingest_all(spark, cfg, paths: Paths, feed: str, module) -> None:
    for dt in dt_folders(paths.landing, feed):
        ingest_delivery_day(spark, feed, dt, cfg, module.stage, paths)


@pytest.fixture(scope="module")
def lake(spark, city_cfg, city, lake_paths):
    paths = lake_paths
    ingest_all(spark, city_cfg, paths, FEED, am)
    return paths


def dq(spark, paths: Paths) -> dict:
    rows = read_table(spark, "dq_results", paths).where(F.col("feed_or_table") == FEED).collect()
    return {(r.ds.isoformat(), r.check_name): r for r in rows}


def dirt(manifest: dict, day: str, kind: str) -> int:
    return sum(e["rows"] for e in manifest["dirt"] if e["feed"] == FEED and e["day"] == day and e["kind"] == kind)


def data_lines(path: Path) -> int:
    """Lines after the header, counted on the delivered bytes."""
    return path.read_bytes().count(b"\n") - 1


def test_every_row_is_staged_duplicate_or_quarantined_as_the_manifest_says(spark, lake, city):
    m, checks = city.manifest, dq(spark, lake)
    staged = {(r.ds.isoformat(), r.geocoded): r["count"] for r in
              read_table(spark, "stg_ambulance__calls", lake).groupBy("ds", "geocoded").count().collect()}
    for rel in m["feeds"][FEED]["paths"]:
        day = rel.rsplit("_", 1)[1][:10]
        v = {k[1]: c.value for k, c in checks.items() if k[0] == day}
        assert v["rows_received"] == data_lines(city.landing / rel), rel
        assert v["rows_unaccounted"] == 0 and checks[(day, "rows_unaccounted")].status == "pass"
        assert v["duplicates"] == dirt(m, day, "duplicate_rows")
        assert v["quarantined_out_of_city"] == dirt(m, day, "out_of_city_coords")
        assert v["rows_quarantined"] - v["quarantined_out_of_city"] == dirt(m, day, "malformed_rows")
        assert v["rows_received"] == v["rows_staged"] + v["duplicates"] + v["rows_quarantined"]
        assert staged.get((day, False), 0) == dirt(m, day, "missing_geocode")
        assert staged[(day, True)] + staged.get((day, False), 0) == v["rows_staged"]
        share = dirt(m, day, "missing_geocode") / v["rows_staged"]
        assert v["share_not_geocoded"] == pytest.approx(share, abs=1e-5)
        assert v["event_time_min_epoch_s"] <= v["event_time_max_epoch_s"]


def test_staged_calls_equal_the_truth_minus_out_of_city_calls(spark, lake, city, city_cfg):
    """truth["calls"] counts every genuine call, including those later geocoded outside the
    city (quarantined): staged + out-of-city per day, district and group = truth."""
    groups = {r["code"]: r["group"] for r in city_cfg["ambulance_reasons"]}
    lookup = district_lookup(city_cfg)
    got = Counter({(r.ds.isoformat(), r.district, r.reason_group): r["count"] for r in
                   read_table(spark, "stg_ambulance__calls", lake).groupBy("ds", "district", "reason_group")
                   .count().collect()})
    out = read_table(spark, "quarantine", lake).where(F.col("reason_code") == "out_of_city").collect()
    for q in out:
        row = next(csv.reader(io.StringIO(q.raw_record)))
        got[(q.ds.isoformat(), recognise_district(row[4], lookup), groups[row[5]])] += 1
    truth = Counter({(day, d, g): n for day, by_d in city.manifest["truth"][FEED]["calls"].items()
                     for d, by_g in by_d.items() for g, n in by_g.items() if n})
    assert len(out) == sum(e["rows"] for e in city.manifest["dirt"]
                           if e["feed"] == FEED and e["kind"] == "out_of_city_coords") > 0
    assert +got == truth


def test_the_cp1251_file_is_detected_and_its_russian_text_is_right(spark, lake, city, city_cfg):
    day = city.manifest["truth"][FEED]["cp1251_files"][0]
    check = dq(spark, lake)[(day, "files_cp1251")]
    assert check.value == 1 and f"calls_103_{day}.csv=cp1251" in check.detail
    ru = {r["code"]: r["ru"] for r in city_cfg["ambulance_reasons"]}
    names_ru = {d["name"]: d["name_ru"] for d in city_cfg["districts"]}
    rows = read_table(spark, "stg_ambulance__calls", lake, ds=day).collect()
    assert rows and all(r.reason_text_ru == ru[r.reason_code] for r in rows)
    assert all(names_ru[r.district].lower() in r.district_text.lower() for r in rows)
    assert any("р-н" in r.district_text for r in rows) and any(r.district_text.isupper() for r in rows)
    other = read_table(spark, "stg_ambulance__calls", lake).where(F.col("ds") != F.lit(date.fromisoformat(day)))
    assert other.where(F.col("reason_text_kk").contains("?")).count() == 0


def test_the_late_file_joins_its_day_and_asks_for_recompute(spark, lake, city):
    day = city.manifest["truth"][FEED]["late_files"][0]
    late = next(e for e in city.manifest["dirt"] if e["feed"] == FEED and e["kind"] == "late_file")
    staged = read_table(spark, "stg_ambulance__calls", lake, ds=day)
    assert {r.source_file for r in staged.select("source_file").distinct().collect()} == {late["file"]}
    assert dq(spark, lake)[(day, "late_rows")].value == late["rows"]
    req = read_table(spark, "ops_recompute_requests", lake).where(F.col("feed") == FEED).collect()
    assert [(r.ds.isoformat(), r.delivered_ds.isoformat(), r.reason, r.files) for r in req] == [
        (day, late["detail"]["delivered"], "late_file", late["file"])]


def test_a_range_run_gives_the_tables_of_the_day_by_day_runs(spark, lake, city_cfg, lake_tables, tmp_path):
    """All delivery days at once, one covered day per pass and all in one pass."""
    days = dt_folders(lake.landing, FEED)
    tables = ("stg_ambulance__calls", "quarantine", "dq_results", "ops_recompute_requests")
    for budget in (1, None):
        paths = Paths.from_env({"GEOPULSE_DATA": str(tmp_path / str(budget)), "GEOPULSE_LANDING": str(lake.landing)})
        report = ingest_range(spark, FEED, days[0], days[-1], city_cfg, am.stage, paths, budget=budget)
        assert report.days == sorted({date.fromisoformat(p.name[10:20]) for p in lake.landing.glob(f"{FEED}/*/*")})
        assert lake_tables(paths, tables, [FEED]) == lake_tables(lake, tables, [FEED])


def test_received_times_are_converted_through_the_tz_database(spark, lake, city):
    rows = read_table(spark, "stg_ambulance__calls", lake).orderBy("ds", "source_row").limit(20).collect()
    for r in rows:
        line = (city.landing / r.source_file).read_bytes()
        text = decode_text(line)[0].splitlines()[r.source_row]
        local = datetime.strptime(next(csv.reader([text]))[1], "%Y-%m-%d %H:%M:%S")
        assert (local - r.received_at_utc).total_seconds() == 6 * 3600      # Asia/Almaty in 2020: UTC+6


def lines(spark, texts: list[str], day: date = date(2024, 3, 1)):
    rows = [(0, "ambulance/dt=x/f.csv", day, day, False, "utf-8", i + 1, t, next(csv.reader([t]), None))
            for i, t in enumerate(texts)]
    return spark.createDataFrame(rows, LINES_SCHEMA)


OK = "2024-03-01 10:00:00,43.25,76.91,Алмалинский р-н,J06,ОРВИ,ЖРВИ,2,18-39,F,0"
CASES = [                                                   # (line, expected verdict)
    ("c1," + OK, None),
    ("c1," + OK, "duplicate"),
    ("c2,2024-03-01 10:00:00,,,АЛМАЛИНСКИЙ РАЙОН,I21,Боль,Ауыру,1,65+,M,1", None),     # not geocoded: staged
    ("c3,2024-03-01 10:00:00,43.25", "malformed_row"),
    ("c4,2024-03-01 10:00:00,43.25,,Алмалинский,J06,a,b,2,18-39,F,0", "missing_value"),
    ("c5,2024-02-30 10:00:00,43.25,76.91,Алмалинский,J06,a,b,2,18-39,F,0", "bad_type"),
    ("c6,2024-03-01 10:00:00,43.2x,76.91,Алмалинский,J06,a,b,2,18-39,F,0", "bad_type"),
    ("c7,2024-03-01 10:00:00,43.25,76.91,Алмалинский,J06,a,b,7,18-39,F,0", "value_not_allowed"),
    ("c8,2024-03-02 00:00:01,43.25,76.91,Алмалинский,J06,a,b,2,18-39,F,0", "wrong_day"),
    ("c9,2024-03-01 10:00:00,44.50,76.91,Алмалинский,J06,a,b,2,18-39,F,0", "out_of_city"),
    ("c10,2024-03-01 10:00:00,43.25,76.91,Неизвестный р-н,J06,a,b,2,18-39,F,0", "unknown_reference"),
    ("c1,2024-03-01 11:00:00,43.25,76.91,Алмалинский р-н,J06,a,b,2,18-39,F,0", "value_not_allowed"),
]


def verdicts(judged) -> list:
    """Per line in order: "duplicate", the quarantine reason, or None (staged)."""
    got = {r.source_row: "duplicate" if r._dup else r._verdict.reason if r._verdict else None
           for r in judged.collect()}
    return [got[i + 1] for i in range(len(got))]


def test_rules_on_inline_rows(spark, city_cfg):
    judged = am.classify_calls(lines(spark, [t for t, _ in CASES]), city_cfg, city_outline(city_cfg))
    assert verdicts(judged) == [e for _, e in CASES]
    staged = {r.call_id: r for r in am.staged_calls(judged).collect()}
    assert set(staged) == {"c1", "c2"}
    assert staged["c1"].district == "Almaly" and staged["c2"].district == "Almaly"
    assert staged["c2"].geocoded is False and staged["c2"].lat is None and staged["c2"].hospitalised is True
    assert staged["c1"].reason_group == "respiratory_fever" and staged["c2"].reason_group == "cardiac"
    assert staged["c1"].received_at_utc == datetime(2024, 3, 1, 5)        # UTC+5 from 2024-03-01


def test_kazakhstan_time_zone_change_of_2024_comes_from_the_tz_database(spark, city_cfg):
    texts = ["a,2024-02-29 10:00:00,,,,J06,a,b,2,18-39,F,0", "b,2024-03-01 10:00:00,,,,J06,a,b,2,18-39,F,0"]
    for day, text, utc_hour in ((date(2024, 2, 29), texts[0], 4), (date(2024, 3, 1), texts[1], 5)):
        judged = am.classify_calls(lines(spark, [text], day), city_cfg, city_outline(city_cfg))
        (row,) = am.staged_calls(judged).collect()
        assert row.received_at_utc == datetime(day.year, day.month, day.day, utc_hour)


def test_text_is_utf8_else_cp1251_else_the_file_is_rejected(tmp_path):
    text = "call_id,district_text\n1,Алмалинский р-н\n"
    assert decode_text(text.encode("utf-8")) == (text, "utf-8")
    assert decode_text(b"\xef\xbb\xbf" + text.encode("utf-8")) == (text, "utf-8")
    assert decode_text(text.encode("cp1251")) == (text, "cp1251")
    with pytest.raises(UnicodeDecodeError):
        decode_text(b"\x98\xff")                       # 0x98 is unassigned in cp1251
    for data, rule in [(b"", "file is not empty"), (b"a,b\n\x00\x01\n", "NUL"),
                       (text.encode()[:-1], "line end"), (b"\x98\n", "UTF-8 or cp1251")]:
        (tmp_path / "f.csv").write_bytes(data)
        d = Delivery(FEED, tmp_path / "f.csv", "ambulance/dt=2020-03-16/f.csv", date(2020, 3, 16), date(2020, 3, 16))
        with pytest.raises(FileRejected, match=rule) as err:
            read_text(d)
        assert err.value.reason_code == "unreadable_file"


@pytest.mark.parametrize("text", ["Алмалинский р-н", "Алмалинский район", "АЛМАЛИНСКИЙ Р-Н", "Алмалинский",
                                  " алмалинский  р-н. ", "Алмалы ауданы", "Almaly", "г. Алматы, Алмалинский р-н"])
def test_district_text_variants_are_recognised(city_cfg, text):
    assert recognise_district(text, district_lookup(city_cfg)) == "Almaly"


def test_spark_and_python_district_rules_agree(spark, city_cfg):
    variants = ["Алмалинский р-н", "АУЭЗОВСКИЙ РАЙОН", "Жетысуский", "Медеу ауданы", "Турксиб", "", None,
                "г. Алматы, Бостандыкский р-н", "Наурызбайский р-он", "Медеуский/Алмалинский", "Ёлкинский"]
    df = spark.createDataFrame([(v,) for v in variants], "t string")
    df = df.select("t", district_of(F.col("t"), city_cfg).alias("d"))
    lookup = district_lookup(city_cfg)
    got = {r.t: r.d for r in df.collect()}
    assert got == {v: recognise_district(v, lookup) for v in variants}
    assert got["Медеуский/Алмалинский"] is None and got["Турксиб"] is None and got["Медеу ауданы"] == "Medeu"


def test_rerun_gives_the_same_partitions(spark, lake, city, city_cfg):
    def snapshot():
        return {t: sorted(map(str, read_table(spark, t, lake).collect()))
                for t in ("stg_ambulance__calls", "quarantine", "dq_results", "ops_recompute_requests")}
    before = snapshot()
    ingest_delivery_day(spark, FEED, city.start, city_cfg, am.stage, lake)
    assert snapshot() == before


@pytest.mark.parametrize("damage, reason, rule", [
    ("truncate", "unreadable_file", "file ends with a line end (not truncated)"),
    ("header", "wrong_columns", "header is call_id,received_at"),
])
def test_a_broken_file_is_quarantined_whole_and_fails_the_run(spark, city, city_cfg, tmp_path, damage, reason,
                                                               rule):
    rel = city.manifest["feeds"][FEED]["paths"][0]
    target = tmp_path / "landing" / rel
    target.parent.mkdir(parents=True)
    data = (city.landing / rel).read_bytes()
    if damage == "truncate":
        data = data[: int(len(data) * 0.6)].rstrip(b"\n") + b"9"
    else:
        data = data.replace(b"district_text", b"district", 1)
    target.write_bytes(data)
    paths = Paths.from_env({"GEOPULSE_DATA": str(tmp_path), "GEOPULSE_LANDING": str(tmp_path / "landing")})
    day = date.fromisoformat(rel.split("dt=")[1][:10])
    with pytest.raises(IngestError, match=re.escape(f"{rel} rejected [{reason}]: {rule}")):
        ingest_delivery_day(spark, FEED, day, city_cfg, am.stage, paths)
    q = read_table(spark, "quarantine", paths).collect()
    assert [(r.source_file, r.source_row, r.reason_code) for r in q] == [(rel, 0, reason)]
    assert read_table(spark, "stg_ambulance__calls", paths).count() == 0
    checks = {r.check_name: r for r in read_table(spark, "dq_results", paths).collect()}
    assert checks["files_rejected"].value == 1 and checks["files_rejected"].status == "fail"
