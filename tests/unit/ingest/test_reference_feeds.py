"""Reference feeds: districts (GeoJSON), restrictions and the pharmacy reference, plus the city
outline that ambulance and pharmacy coordinates are tested against."""

import csv
import json
import re
from datetime import date

import numpy as np
import pytest
import shapely
from pyspark.sql import functions as F
from shapely.geometry import Polygon, shape

from jobs.common.config import Paths
from jobs.common.lake import read_table
from jobs.ingest import districts as di
from jobs.ingest import pharmacies as ph
from jobs.ingest import restrictions as rs
from jobs.ingest.framework import IngestError, ingest_delivery_day
from jobs.ingest.text import LINES_SCHEMA

ADAPTERS = {"districts": di.stage, "restrictions": rs.stage, "pharmacy_reference": ph.stage}


@pytest.fixture(scope="module")
def lake(spark, city_cfg, city, lake_paths):
    paths = lake_paths
    for feed, stage in ADAPTERS.items():
        ingest_delivery_day(spark, feed, city.start, city_cfg, stage, paths)
    return paths


def dq(spark, paths, feed) -> dict:
    return {r.check_name: r.value for r in read_table(spark, "dq_results", paths)
            .where(F.col("feed_or_table") == feed).collect()}


def test_districts_are_staged_with_the_configured_populations(spark, lake, city, city_cfg):
    rows = {r.district: r for r in read_table(spark, "stg_districts__districts", lake).collect()}
    populations = {d["name"]: d["population"] for d in city_cfg["districts"]}
    assert len(populations) == 8 and {n: r.population for n, r in rows.items()} == populations
    assert {n: r.name_ru for n, r in rows.items()} == {d["name"]: d["name_ru"] for d in city_cfg["districts"]}
    truth = {d["name"]: d for d in city.manifest["city"]["districts"]}
    for name, r in rows.items():
        assert r.ds == city.start and r.district_type == truth[name]["district_type"]
        assert r.area_km2 == pytest.approx(truth[name]["area_km2"], rel=2e-3)
        assert shape(json.loads(r.boundary_geojson)).is_valid
    checks = dq(spark, lake, "districts")
    assert checks["population_total"] == city.manifest["city"]["population"]
    assert checks["districts_missing"] == 0 and checks["rows_unaccounted"] == 0


def test_the_city_outline_holds_every_district_and_nothing_far_outside(spark, lake, city_cfg):
    union = shapely.union_all([shape(json.loads(r.boundary_geojson)) for r in
                               read_table(spark, "stg_districts__districts", lake).collect()])
    outline = Polygon(di.city_outline(city_cfg)[0])
    exact = Polygon(di.city_outline(city_cfg, tolerance_km=1e-9)[0])
    assert outline.contains(union) and exact.symmetric_difference(union).area < 1e-3 * union.area
    rng = np.random.default_rng(5)
    x0, y0, x1, y1 = outline.bounds
    lon, lat = rng.uniform(x0 - 0.2, x1 + 0.2, 400), rng.uniform(y0 - 0.2, y1 + 0.2, 400)
    pts = spark.createDataFrame([(float(a), float(b)) for a, b in zip(lon, lat)], "lon double, lat double")
    test = di.inside("lon", "lat", [list(outline.exterior.coords)]).alias("inside")
    got = [r.inside for r in pts.select(test).collect()]
    assert got == list(shapely.contains_xy(outline, lon, lat))
    assert 0 < sum(got) < len(got)


def test_inside_uses_the_even_odd_rule_for_holes_and_parts(spark):
    square = [(0.0, 0.0), (4.0, 0.0), (4.0, 4.0), (0.0, 4.0), (0.0, 0.0)]
    hole = [(1.0, 1.0), (3.0, 1.0), (3.0, 3.0), (1.0, 3.0), (1.0, 1.0)]
    island = [(10.0, 0.0), (11.0, 0.0), (11.0, 1.0), (10.0, 0.0)]
    pts = spark.createDataFrame([(0.5, 0.5), (2.0, 2.0), (10.8, 0.2), (10.2, 0.8), (5.0, 2.0)], "lon double, lat double")
    got = [r.i for r in pts.select(di.inside("lon", "lat", [square, hole, island]).alias("i")).collect()]
    assert got == [True, False, True, False, False]


def test_restrictions_are_staged_as_configured(spark, lake, city_cfg):
    rows = read_table(spark, "stg_restrictions__restrictions", lake).orderBy("restriction_id").collect()
    assert [(r.restriction_id, r.start_date.isoformat(), r.end_date.isoformat(), r.scope, r.measure, r.stringency)
            for r in rows] == [(c["id"], c["start"], c["end"], c["scope"], c["measure"], float(c["stringency"]))
                               for c in city_cfg["restrictions"]]
    assert dq(spark, lake, "restrictions")["rows_unaccounted"] == 0


def test_the_pharmacy_reference_is_staged_whole(spark, lake, city):
    truth = city.manifest["truth"]["pharmacy_reference"]
    staged = read_table(spark, "stg_pharmacy__pharmacies", lake)
    assert {r.district: r["count"] for r in staged.groupBy("district").count().collect()} == truth["by_district"]
    checks = dq(spark, lake, "pharmacy_reference")
    assert checks["rows_received"] == checks["rows_staged"] == truth["snapshots"][0]["rows"]
    assert checks["pharmacies_open"] == truth["pharmacies"] and checks["rows_unaccounted"] == 0


def lines(spark, texts, rel="x/dt=2020-03-16/f.csv"):
    return spark.createDataFrame([(0, rel, date(2020, 3, 16), date(2020, 3, 16), False, "utf-8", i + 1, t,
                                   next(csv.reader([t]))) for i, t in enumerate(texts)], LINES_SCHEMA)


def verdicts(judged) -> list:
    got = {r.source_row: "duplicate" if r._dup else r._verdict.reason if r._verdict else None
           for r in judged.collect()}
    return [got[i + 1] for i in range(len(got))]


def test_restriction_rules_on_inline_rows(spark, city_cfg):
    texts = ['R1,2020-03-19,2020-05-11,city,lockdown,85', 'R2,2020-07-05,,"Almaly, Медеуский р-н",curfew,40.5',
             'R3,2020-07-05,,"Almaly,Atlantis",curfew,40', 'R4,2020-07-05,2020-07-01,city,x,40',
             'R5,2020-07-05,,city,x,120', 'R6,2020-13-05,,city,x,10', 'R1,2020-03-19,2020-05-11,city,lockdown,85']
    judged = rs.classify_restrictions(lines(spark, texts), city_cfg)
    assert verdicts(judged) == [None, None, "unknown_reference", "value_not_allowed", "value_not_allowed",
                                "bad_type", "duplicate"]
    staged = {r.restriction_id: (r.scope, r.end_date) for r in rs.staged_restrictions(judged).collect()}
    assert staged == {"R1": ("city", date(2020, 5, 11)), "R2": ("Almaly,Medeu", None)}


def test_pharmacy_rules_on_inline_rows(spark, city_cfg):
    texts = ["P1,Аптека 1,43.25,76.91,Almaly,2020-01-01,", "P2,Дәрі-Дәрмек,43.25,76.91,,2020-01-01,2020-02-01",
             "P3,X,44.90,76.91,Almaly,2020-01-01,", "P4,X,43.25,76.91,Atlantis,2020-01-01,",
             "P5,X,43.25,76.91,Almaly,2020-02-01,2020-01-01", "P6,X,43.25,,Almaly,2020-01-01,",
             "P1,Аптека 1b,43.25,76.91,Almaly,2020-01-01,"]
    judged = ph.classify_pharmacies(lines(spark, texts), city_cfg, di.city_outline(city_cfg))
    assert verdicts(judged) == [None, None, "out_of_city", "unknown_reference", "value_not_allowed",
                                "missing_value", "value_not_allowed"]
    staged = {r.pharmacy_id: (r.name, r.district, r.valid_to) for r in
              ph.staged_pharmacies(judged).collect()}
    assert staged == {"P1": ("Аптека 1", "Almaly", None), "P2": ("Дәрі-Дәрмек", None, date(2020, 2, 1))}


def test_district_feature_rules(city, city_cfg):
    fc = json.loads((city.landing / city.manifest["feeds"]["districts"]["paths"][0]).read_text(encoding="utf-8"))
    feats = fc["features"]
    broken = [json.loads(json.dumps(f)) for f in feats[:4]]
    broken[0]["properties"]["population"] = "many"
    broken[1]["properties"]["name"] = "Atlantis"
    broken[2]["geometry"] = {"type": "Point", "coordinates": [76.9, 43.2]}
    del broken[3]["properties"]["name_kk"]
    rows = di.feature_rows({"features": feats + [feats[0]] + broken}, city_cfg)
    assert [("duplicate" if r["dup"] else r["reason"]) for r in rows] == [None] * 8 + [
        "duplicate", "bad_type", "unknown_reference", "bad_type", "missing_value"]


@pytest.mark.parametrize("damage, reason, rule", [
    ("truncate", "unreadable_file", "file is complete, valid JSON"),
    ("no_population", "wrong_columns", "features carry the properties"),
])
def test_a_broken_districts_file_is_quarantined_whole(spark, city, city_cfg, tmp_path, damage, reason, rule):
    rel = city.manifest["feeds"]["districts"]["paths"][0]
    data = (city.landing / rel).read_bytes()
    if damage == "truncate":
        data = data[: len(data) // 3]
    else:
        fc = json.loads(data)
        for f in fc["features"]:
            del f["properties"]["population"]
        data = json.dumps(fc).encode()
    (tmp_path / "landing" / rel).parent.mkdir(parents=True)
    (tmp_path / "landing" / rel).write_bytes(data)
    paths = Paths.from_env({"GEOPULSE_DATA": str(tmp_path), "GEOPULSE_LANDING": str(tmp_path / "landing")})
    with pytest.raises(IngestError, match=re.escape(f"{rel} rejected [{reason}]: {rule}")):
        ingest_delivery_day(spark, "districts", city.start, city_cfg, di.stage, paths)
    q = read_table(spark, "quarantine", paths).collect()
    assert [(r.source_file, r.source_row, r.reason_code) for r in q] == [(rel, 0, reason)]
    assert read_table(spark, "stg_districts__districts", paths).count() == 0


def test_rerun_gives_the_same_partitions(spark, lake, city, city_cfg):
    tables = ("stg_districts__districts", "quarantine", "dq_results")
    before = {t: sorted(map(str, read_table(spark, t, lake).collect())) for t in tables}
    ingest_delivery_day(spark, "districts", city.start, city_cfg, di.stage, lake)
    assert {t: sorted(map(str, read_table(spark, t, lake).collect())) for t in tables} == before
