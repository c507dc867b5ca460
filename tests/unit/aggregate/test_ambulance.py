"""Ambulance aggregates: inline calls for the placing and counting rules, then the small dirty
synthetic city (districts and 103 calls ingested, geo_h3_cells built) checked against the
generator's truth, the dq balance and the health mask.
"""

import csv
import io
from collections import Counter
from datetime import date
from types import SimpleNamespace

import h3
import pandas as pd
import pytest
from pyspark.sql import functions as F

from jobs.aggregate import ambulance_district as ad
from jobs.aggregate import ambulance_h3 as ah
from jobs.common.h3geo import configured_resolutions
from jobs.common.lake import read_table
from jobs.common.privacy import audit_health, health_mask_below
from jobs.ingest.text import district_lookup, recognise_district

DAY = date(2020, 3, 16)
CALLS = "ds date, call_id string, lat double, lon double, district string, reason_group string, hospitalised boolean"
CELLS = "h3_cell string, resolution int, parent_h3_cell string, district string"

# one res-7 cell, one of its res-8 children and two res-9 children of that
C9 = h3.latlng_to_cell(43.25, 76.91, 9)
C8, C7 = h3.cell_to_parent(C9, 8), h3.cell_to_parent(C9, 7)
C9B = next(c for c in sorted(h3.cell_to_children(C8, 9)) if c != C9)
P, PB = h3.cell_to_latlng(C9), h3.cell_to_latlng(C9B)


@pytest.fixture(scope="module")
def cells(spark):
    return spark.createDataFrame([(C9, 9, C8, "Almaly"), (C9B, 9, C8, "Almaly"), (C8, 8, C7, "Almaly"),
                                  (C7, 7, None, "Almaly")], CELLS)


@pytest.fixture(scope="module")
def inline(spark, cells):
    calls = spark.createDataFrame([
        (DAY, "a", *P, "Almaly", "cardiac", True),
        (DAY, "b", *P, "Almaly", "cardiac", False),
        (DAY, "c", *P, "Medeu", "trauma", True),              # typed Medeu, its cell lies in Almaly
        (DAY, "d", *PB, "Almaly", "cardiac", False),
        (DAY, "e", None, None, "Medeu", "other", True),       # not geocoded: placed by text
        (DAY, "f", 44.5, 76.9, "Auezov", "other", False),     # outside every cell: placed by text
        (DAY, "g", None, None, None, "other", False),          # neither: not placed
    ], CALLS)
    return ah.locate(calls, cells, 9)


def rows(df, *cols) -> set:
    return {tuple(r) for r in df.select(*cols).collect()}


def test_a_call_counts_in_its_cell_and_every_ancestor_once_per_group_and_in_all(inline, cells):
    got = rows(ah.hex_counts(inline, ah.cell_ancestry(cells, [9, 8, 7])),
               "h3_cell", "resolution", "reason_group", "calls", "hospitalised")
    want = {(C9, 9, "cardiac", 2, 1), (C9, 9, "trauma", 1, 1), (C9, 9, "all", 3, 2),
            (C9B, 9, "cardiac", 1, 0), (C9B, 9, "all", 1, 0)}
    want |= {(c, r, g, n, k) for c, r in ((C8, 8), (C7, 7))
             for g, n, k in (("cardiac", 3, 1), ("trauma", 1, 1), ("all", 4, 2))}
    assert got == want


def test_every_call_is_in_hexes_or_counted_as_why_not(inline):
    (p,) = ah.placement(inline).collect()
    assert (p.calls_staged, p.calls_not_geocoded, p.calls_outside_h3_cells, p.calls_in_hexes) == (7, 2, 1, 4)
    checks = {c.name: c for c in ah.day_checks(p.asDict(), rows_masked=0)}
    assert checks["calls_unaccounted"].value == 0 and checks["calls_unaccounted"].status == "pass"
    lost = {c.name: c for c in ah.day_checks({**p.asDict(), "calls_in_hexes": 3}, 0)}["calls_unaccounted"]
    assert (lost.value, lost.status) == (1, "fail")


def test_districts_come_from_the_cell_else_the_text_and_the_grid_is_complete(spark, inline):
    calls = ad.placed(inline)
    counts = ad.district_counts(calls)
    grid = ad.complete(counts, calls, ["Almaly", "Medeu", "Auezov", "Zhetysu"],
                       ["cardiac", "trauma", "other", "all"], "reason_group")
    got = {(r.district, r.reason_group): (r.calls, r.hospitalised, r.calls_located_by_text)
           for r in grid.collect() if r.calls}
    assert got == {("Almaly", "cardiac"): (3, 1, 0), ("Almaly", "trauma"): (1, 1, 0), ("Almaly", "all"): (4, 2, 0),
                   ("Medeu", "other"): (1, 1, 1), ("Medeu", "all"): (1, 1, 1),
                   ("Auezov", "other"): (1, 0, 1), ("Auezov", "all"): (1, 0, 1)}
    assert grid.count() == 16 and grid.where("calls = 0").count() == 16 - len(got)
    (p,) = ad.placement(calls).collect()
    assert (p.calls_located_by_coordinates, p.calls_located_by_text, p.calls_unlocated,
            p.calls_district_differs_from_text) == (4, 2, 1, 1)


def test_reason_groups_follow_the_config_with_other_and_all(city_cfg):
    assert ad.reason_groups(city_cfg) == ["respiratory_fever", "cardiac", "trauma", "other", "all"]
    assert ad.reason_groups({"ambulance_reasons": [{"group": "cardiac"}]}) == ["cardiac", "other", "all"]


def test_the_mask_withholds_small_calls_and_small_hospitalised(spark):
    kids = sorted(h3.cell_to_children(C8, 9))
    hosp = [5, 3, 5, 5, 5, 5, 5]                      # 10 calls each; one hex with 3 hospitalised
    data = [(DAY, c, 9, "Almaly", "all", 10, k) for c, k in zip(kids, hosp)]
    data += [(DAY, C8, 8, "Almaly", "all", 70, 33), (DAY, C7, 7, "Almaly", "all", 70, 33)]
    counts = spark.createDataFrame(data, "ds date, h3_cell string, resolution int, district string, "
                                         "reason_group string, calls long, hospitalised long")
    out = ah.masked(counts, 5, [9, 8, 7]).toPandas()
    flags = dict(zip(out.h3_cell, out.masked))
    assert flags[kids[1]] and sum(flags[c] for c in kids) == 2         # hospitalised 3, and a complement
    assert not flags[C8] and not flags[C7]
    assert out.loc[out.masked, ah.COUNTS].isna().all().all()
    assert (out.loc[~out.masked, "calls"] >= 10).all()
    assert audit_health(out, 5, ah.COUNTS, ah.mask_hierarchy([9, 8, 7], "reason_group"), count_cols=ah.COUNTS) == []


# ---------------------------------------------------------------- the small city
@pytest.fixture(scope="module")
def lake(spark, city_cfg, health_lake, period):
    written = {t.TABLE: t.run(spark, city_cfg, health_lake, period) for t in (ah, ad)}
    return SimpleNamespace(paths=health_lake, written=written)


def dq(spark, paths, table) -> dict:
    rows = read_table(spark, "dq_results", paths).where(F.col("feed_or_table") == table).collect()
    return {(r.ds, r.check_name): r for r in rows}


def dirt(manifest, kind) -> Counter:
    return Counter({date.fromisoformat(e["day"]): e["rows"] for e in manifest["dirt"]
                    if e["feed"] == "ambulance" and e["kind"] == kind})


@pytest.fixture(scope="module")
def staged(spark, lake, city_cfg):
    """Staged calls with the district of their finest cell, found here with h3-py."""
    cells = read_table(spark, "geo_h3_cells", lake.paths).select("h3_cell", "district").toPandas()
    district_of = dict(zip(cells.h3_cell, cells.district))
    calls = read_table(spark, "stg_ambulance__calls", lake.paths).toPandas()
    res = configured_resolutions(city_cfg)[0]
    calls["cell_district"] = [district_of.get(h3.latlng_to_cell(la, lo, res)) if g else None
                              for la, lo, g in zip(calls.lat, calls.lon, calls.geocoded)]
    return calls


def test_district_day_calls_equal_the_truth_less_out_of_city_calls_with_border_cells_accounted(
        spark, lake, small_city, city_cfg, staged, period):
    """truth = every genuine call by the district it was made in; the table = truth, minus the
    calls quarantined as geocoded out of the city (found in quarantine), with each geocoded call
    whose H3 cell lies across a district border moved to the cell's district."""
    manifest = small_city[1]
    groups = {r["code"]: r["group"] for r in city_cfg["ambulance_reasons"]}
    truth = manifest["truth"]["ambulance"]["calls"]
    expected = Counter({(date.fromisoformat(day), d, g): n for day, by_d in truth.items()
                        for d, by_g in by_d.items() for g, n in by_g.items()})
    out_of_city = read_table(spark, "quarantine", lake.paths).where(F.col("reason_code") == "out_of_city").collect()
    lookup = district_lookup(city_cfg)
    for q in out_of_city:
        row = next(csv.reader(io.StringIO(q.raw_record)))
        expected[(q.ds, recognise_district(row[4], lookup), groups.get(row[5], "other"))] -= 1
    moved = staged[staged.cell_district.notna() & (staged.cell_district != staged.district)]
    for r in moved.itertuples():
        expected[(r.ds, r.district, r.reason_group)] -= 1
        expected[(r.ds, r.cell_district, r.reason_group)] += 1
    for (day, d, g), n in list(expected.items()):
        expected[(day, d, "all")] += n
    table = read_table(spark, ad.TABLE, lake.paths).toPandas()
    got = {(r.ds, r.district, r.reason_group): r.calls for r in table.itertuples()}
    assert got == dict(expected)
    assert len(out_of_city) == sum(dirt(manifest, "out_of_city_coords").values()) > 0
    assert 0 < len(moved) <= 0.03 * staged.geocoded.sum()               # a few border cells, not a bug
    checks = dq(spark, lake.paths, ad.TABLE)
    assert {d: checks[(d, "calls_district_differs_from_text")].value for d in period} == \
        {d: (moved.ds == d).sum() for d in period}


def test_city_totals_per_day_and_group_equal_the_truth_less_out_of_city_calls(spark, lake, small_city):
    """Exact without any border adjustment: moving between districts keeps the city total."""
    manifest = small_city[1]
    table = read_table(spark, ad.TABLE, lake.paths).groupBy("ds", "reason_group").agg(F.sum("calls").alias("n"))
    got = {(r.ds, r.reason_group): r.n for r in table.collect()}
    out = dirt(manifest, "out_of_city_coords")
    for day, by_d in manifest["truth"]["ambulance"]["calls"].items():
        d = date.fromisoformat(day)
        truth = Counter()
        for by_g in by_d.values():
            truth.update(by_g)
        assert got[(d, "all")] == sum(truth.values()) - out[d]
        assert sum(got[(d, g)] for g in truth) == got[(d, "all")]


def test_calls_located_by_text_are_the_calls_the_dispatch_could_not_geocode(spark, lake, small_city, period):
    missing = dirt(small_city[1], "missing_geocode")
    by_text = {r.ds: r.n for r in read_table(spark, ad.TABLE, lake.paths).where("reason_group = 'all'")
               .groupBy("ds").agg(F.sum("calls_located_by_text").alias("n")).collect()}
    assert by_text == {d: missing[d] for d in period} and sum(missing.values()) > 0
    hexes = dq(spark, lake.paths, ah.TABLE)
    assert all(hexes[(d, "calls_not_geocoded")].value == missing[d] for d in period)
    assert all(hexes[(d, "calls_outside_h3_cells")].value == 0 for d in period)


def test_every_staged_call_is_placed_or_counted_in_dq(spark, lake, staged, period):
    for table in (ah.TABLE, ad.TABLE):
        checks = dq(spark, lake.paths, table)
        for d in period:
            assert checks[(d, "calls_staged")].value == (staged.ds == d).sum() > 0
            assert (checks[(d, "calls_unaccounted")].value, checks[(d, "calls_unaccounted")].status) == (0, "pass")
    assert all(dq(spark, lake.paths, ad.TABLE)[(d, "calls_unlocated")].value == 0 for d in period)


def test_the_hex_rows_are_every_geocoded_call_in_its_cell_and_ancestors(spark, lake, city_cfg, staged):
    """The table's rows against counts made here with h3-py (parents by ``h3.cell_to_parent``):
    the same keys, and unmasked values equal; every resolution holds every geocoded call once,
    and the finest hexes of a district add up to its calls placed by coordinates."""
    res = configured_resolutions(city_cfg)
    calls = staged[staged.cell_district.notna()].assign(h3_cell=lambda f: [
        h3.latlng_to_cell(la, lo, res[0]) for la, lo in zip(f.lat, f.lon)])
    per_res = [calls.assign(h3_cell=[h3.cell_to_parent(c, r) for c in calls.h3_cell], resolution=r) for r in res]
    both = pd.concat(per_res + [p.assign(reason_group="all") for p in per_res])
    want = both.groupby(["ds", "h3_cell", "resolution", "reason_group"]).agg(
        calls=("call_id", "size"), hospitalised=("hospitalised", "sum"))
    table = read_table(spark, ah.TABLE, lake.paths).toPandas().set_index(want.index.names)
    assert sorted(table.index) == sorted(want.index)
    pub = table[~table.masked]
    assert (pub[ah.COUNTS] == want.loc[pub.index, ah.COUNTS]).all().all()
    totals = want.xs("all", level="reason_group").groupby(["ds", "resolution"]).calls.sum().unstack()
    assert all(totals[r].to_dict() == staged[staged.geocoded].groupby("ds").size().to_dict() for r in res)
    district = read_table(spark, ad.TABLE, lake.paths).where("reason_group = 'all'").toPandas()
    by_coords = dict(zip(zip(district.ds, district.district), district.calls - district.calls_located_by_text))
    finest = calls.groupby(["ds", "cell_district"]).size().to_dict()
    assert {k: v for k, v in by_coords.items() if v} == finest


def test_the_published_hex_table_holds_no_small_count_and_passes_the_audit(spark, lake, city_cfg):
    df = read_table(spark, ah.TABLE, lake.paths).toPandas()
    assert lake.written[ah.TABLE] == len(df) > 0
    small = df[["calls", "hospitalised"]].apply(lambda s: s.between(1, health_mask_below(city_cfg) - 1))
    assert not (small.any(axis=1) & ~df.masked).any()
    assert df.loc[df.masked, ["calls", "hospitalised"]].isna().all().all()
    hierarchy = ah.mask_hierarchy(configured_resolutions(city_cfg), "reason_group")
    assert audit_health(df, health_mask_below(city_cfg), ah.COUNTS, hierarchy, count_cols=ah.COUNTS,
                        table=ah.TABLE) == []
    assert set(df.resolution) == set(configured_resolutions(city_cfg))


def test_rerunning_one_day_replaces_that_day_only(spark, lake, city_cfg, period):
    before = sorted(map(str, read_table(spark, ad.TABLE, lake.paths).collect()))
    assert ad.run(spark, city_cfg, lake.paths, period[1:2]) == 8 * 5
    assert sorted(map(str, read_table(spark, ad.TABLE, lake.paths).collect())) == before
