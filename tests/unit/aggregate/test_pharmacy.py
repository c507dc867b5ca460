"""Pharmacy aggregates: inline reference versions, receipts and lines for the rules, then the
small dirty synthetic city (districts, pharmacy reference and receipts ingested, geo_h3_cells
built) checked against the generator's truth, the dq balance and the health mask.
"""

from collections import defaultdict
from datetime import date
from types import SimpleNamespace

import h3
import pandas as pd
import pytest
from pyspark.sql import functions as F

from jobs.aggregate import pharmacy_district as pd_
from jobs.aggregate import pharmacy_h3 as ph
from jobs.common.h3geo import configured_resolutions
from jobs.common.lake import read_table
from jobs.common.privacy import audit_health, health_mask_below

D1, D2, D3, D4 = (date(2020, 3, d) for d in (1, 2, 3, 4))
PHARMACIES = ("ds date, pharmacy_id string, name string, lat double, lon double, district string, "
              "valid_from date, valid_to date")
RECEIPTS = "ds date, receipt_id string, pharmacy_id string"
ITEMS = "ds date, receipt_id string, atc_group string, qty int, amount_kzt double"
PLACED = ("ds date, receipt_id string, pharmacy_id string, atc_group string, items long, amount_kzt double, "
          "h3_leaf string, cell_district string, registered_district string, known boolean")


def test_the_version_valid_on_the_day_comes_from_the_latest_snapshot_before_it(spark):
    refs = spark.createDataFrame([
        (D1, "P1", "a", 43.20, 76.90, "Almaly", D1, D2),        # snapshot of D1: P1 moves on D3
        (D1, "P1", "a", 43.21, 76.91, "Almaly", D3, None),
        (D1, "P2", "b", 43.30, 76.95, None, D1, None),
        (D3, "P1", "a", 43.22, 76.92, "Medeu", D3, None),       # snapshot of D3 corrects P1's move
        (D3, "P1", "a", 43.20, 76.90, "Almaly", D1, D2),
    ], PHARMACIES)
    days = spark.createDataFrame([(date(2020, 2, 29),), (D2,), (D3,), (D4,)], "ds date")
    got = {(r.ds, r.pharmacy_id): (r.lat, r.registered_district) for r in ph.versions_on_days(refs, days).collect()}
    assert got == {(D2, "P1"): (43.20, "Almaly"), (D2, "P2"): (43.30, None),
                   (D3, "P1"): (43.22, "Medeu"), (D4, "P1"): (43.22, "Medeu")}   # P2 not in the D3 snapshot


def test_a_receipt_counts_once_per_group_it_has_and_once_in_all(spark):
    receipts = spark.createDataFrame([(D1, "r1", "P1"), (D1, "r2", "P1"), (D1, "r3", "P2")], RECEIPTS)
    items = spark.createDataFrame([(D1, "r1", "antipyretic", 2, 300.0), (D1, "r1", "antipyretic", 1, 100.0),
                                   (D1, "r1", "other", 1, 50.0), (D1, "r2", "other", 3, 90.0)], ITEMS)
    got = {(r.receipt_id, r.atc_group): (r["items"], r.amount_kzt)
           for r in ph.receipt_groups(receipts, items).collect()}
    assert got == {("r1", "antipyretic"): (3, 400.0), ("r1", "other"): (1, 50.0), ("r1", "all"): (4, 450.0),
                   ("r2", "other"): (3, 90.0), ("r2", "all"): (3, 90.0), ("r3", "all"): (0, 0.0)}


@pytest.fixture(scope="module")
def placed(spark):
    """Receipt-group rows: P1 and P2 in one cell of Almaly, P3 outside the city's cells but
    registered in Medeu, P4 outside and unregistered, P5 unknown that day."""
    c = "8920e6014a3ffff"
    return spark.createDataFrame([
        (D1, "r1", "P1", "antipyretic", 2, 300.0, c, "Almaly", "Almaly", True),
        (D1, "r1", "P1", "all", 3, 350.0, c, "Almaly", "Almaly", True),
        (D1, "r2", "P2", "all", 0, 0.0, c, "Almaly", "Medeu", True),
        (D1, "r3", "P3", "other", 1, 10.0, None, None, "Medeu", True),
        (D1, "r3", "P3", "all", 1, 10.0, None, None, "Medeu", True),
        (D1, "r4", "P4", "all", 1, 20.0, None, None, None, True),
        (D1, "r5", "P5", "all", 1, 30.0, None, None, None, False),
    ], PLACED)


def test_sales_count_receipts_items_amount_and_reporting_pharmacies(placed):
    got = {(r.h3_leaf, r.atc_group): (r.receipts, r["items"], r.amount_kzt, r.pharmacies)
           for r in ph.sales(placed.where("h3_leaf is not null"), ["h3_leaf"]).collect()}
    assert got == {("8920e6014a3ffff", "antipyretic"): (1, 2, 300.0, 2), ("8920e6014a3ffff", "all"): (2, 3, 350.0, 2)}


def test_districts_come_from_the_cell_else_the_registration_and_the_rest_is_counted(spark, placed):
    rows = pd_.with_district(placed)
    grid = pd_.district_sales(rows, rows, ["Almaly", "Medeu"], ["antipyretic", "other", "all"])
    got = {(r.district, r.atc_group): (r.receipts, r["items"], r.amount_kzt, r.pharmacies) for r in grid.collect()}
    assert got == {("Almaly", "antipyretic"): (1, 2, 300.0, 2), ("Almaly", "other"): (0, 0, 0.0, 2),
                   ("Almaly", "all"): (2, 3, 350.0, 2), ("Medeu", "antipyretic"): (0, 0, 0.0, 1),
                   ("Medeu", "other"): (1, 1, 10.0, 1), ("Medeu", "all"): (1, 1, 10.0, 1)}
    (p,) = pd_.placement(rows).collect()
    assert (p.receipts_staged, p.receipts_located_by_position, p.receipts_located_by_registered_district,
            p.receipts_pharmacy_unknown, p.receipts_unlocated, p.pharmacies_district_differs) == (5, 2, 1, 1, 1, 1)
    assert {c.name: c.value for c in pd_.day_checks(p.asDict())}["receipts_unaccounted"] == 0
    (h,) = ph.placement(placed).collect()
    assert (h.receipts_pharmacy_unknown, h.receipts_outside_h3_cells, h.receipts_in_hexes) == (1, 2, 2)


def test_atc_groups_follow_the_config_with_other_and_all(city_cfg):
    assert pd_.atc_groups(city_cfg) == ["antipyretic", "cough_cold", "antiviral", "other", "all"]


# ---------------------------------------------------------------- the small city
@pytest.fixture(scope="module")
def lake(spark, city_cfg, health_lake, period):
    written = {t.TABLE: t.run(spark, city_cfg, health_lake, period) for t in (ph, pd_)}
    return SimpleNamespace(paths=health_lake, written=written)


@pytest.fixture(scope="module")
def lines(spark, lake, city_cfg):
    """Staged receipt lines, again under group 'all', plus an empty 'all' line per receipt (so
    receipts without lines count), with the pharmacy's registered district and the district of
    its H3 cell, found here with h3-py."""
    cells = read_table(spark, "geo_h3_cells", lake.paths).select("h3_cell", "district").toPandas()
    district_of = dict(zip(cells.h3_cell, cells.district))
    refs = read_table(spark, "stg_pharmacy__pharmacies", lake.paths).toPandas()
    res = configured_resolutions(city_cfg)[0]
    refs["cell_district"] = [district_of.get(h3.latlng_to_cell(la, lo, res)) for la, lo in zip(refs.lat, refs.lon)]
    receipts = read_table(spark, "stg_pharmacy__receipts", lake.paths).select("ds", "receipt_id", "pharmacy_id")
    items = read_table(spark, "stg_pharmacy__receipt_items", lake.paths).select(
        "ds", "receipt_id", "atc_group", "qty", "amount_kzt").toPandas()
    receipts = receipts.toPandas()
    assert len(refs) == refs.pharmacy_id.nunique()             # one version each in this city
    items = items.merge(receipts, on=["ds", "receipt_id"])
    out = pd.concat([items, items.assign(atc_group="all"), receipts.assign(atc_group="all", qty=0, amount_kzt=0.0)])
    return out.merge(refs[["pharmacy_id", "district", "cell_district"]], on="pharmacy_id", how="left")


def test_district_day_sales_equal_the_truth_with_border_pharmacies_accounted(spark, lake, small_city, lines):
    """truth = sales by the pharmacy's registered district; the table places a pharmacy by its
    H3 cell, so the sales of each pharmacy whose cell lies across a district border move."""
    expected = defaultdict(lambda: [0, 0, 0.0])
    for day, by_d in small_city[1]["truth"]["pharmacy_receipts"]["receipts"].items():
        for d, t in by_d.items():
            groups = {g: v for g, v in t.items() if isinstance(v, dict)}
            expected[(date.fromisoformat(day), d, "all")] = [t["receipts"], sum(v["qty"] for v in groups.values()),
                                                             t["amount"]]
            for g, v in groups.items():
                expected[(date.fromisoformat(day), d, g)] = [v["receipts"], v["qty"], v["amount"]]
    moved = lines[lines.cell_district != lines.district]
    sales = moved.groupby(["ds", "district", "cell_district", "atc_group"]).agg(
        receipts=("receipt_id", "nunique"), items=("qty", "sum"), amount=("amount_kzt", "sum")).reset_index()
    for r in sales.itertuples():
        for d, sign in ((r.district, -1), (r.cell_district, 1)):
            e = expected[(r.ds, d, r.atc_group)]
            e[0], e[1], e[2] = e[0] + sign * r.receipts, e[1] + sign * r.items, e[2] + sign * r.amount
    table = read_table(spark, pd_.TABLE, lake.paths).toPandas()
    got = {(r.ds, r.district, r.atc_group): [r.receipts, r.items, round(r.amount_kzt)] for r in table.itertuples()}
    assert got == {k: [v[0], v[1], round(v[2])] for k, v in expected.items()}
    assert 0 < moved.pharmacy_id.nunique() <= 0.02 * lines.pharmacy_id.nunique()


def test_city_totals_per_day_equal_the_truth(spark, lake, small_city):
    """Exact without any border adjustment."""
    got = {r.ds: r.n for r in read_table(spark, pd_.TABLE, lake.paths).where("atc_group = 'all'")
           .groupBy("ds").agg(F.sum("receipts").alias("n")).collect()}
    truth = small_city[1]["truth"]["pharmacy_receipts"]["receipts"]
    assert got == {date.fromisoformat(day): sum(t["receipts"] for t in by_d.values()) for day, by_d in truth.items()}


def test_reporting_pharmacies_per_district(spark, lake, lines):
    want = lines[lines.atc_group == "all"].groupby(["ds", "cell_district"]).pharmacy_id.nunique().to_dict()
    table = read_table(spark, pd_.TABLE, lake.paths).toPandas()
    assert (table.groupby(["ds", "district"]).pharmacies.nunique() == 1).all()   # same on every group row
    got = table[table.atc_group == "all"].set_index(["ds", "district"]).pharmacies
    assert got[got > 0].to_dict() == want


def test_every_staged_receipt_is_placed_or_counted_in_dq(spark, lake, lines, period):
    for table in (ph.TABLE, pd_.TABLE):
        checks = {(r.ds, r.check_name): r.value for r in read_table(spark, "dq_results", lake.paths)
                  .where(F.col("feed_or_table") == table).collect()}
        for d in period:
            assert checks[(d, "receipts_staged")] == lines[lines.ds == d].receipt_id.nunique() > 0
            assert checks[(d, "receipts_unaccounted")] == 0 and checks[(d, "receipts_pharmacy_unknown")] == 0
        assert all(checks[(d, "receipts_in_hexes" if table == ph.TABLE else "receipts_located_by_position")]
                   == checks[(d, "receipts_staged")] for d in period)


def test_the_hex_rows_are_every_receipt_in_its_pharmacy_cell_and_ancestors(spark, lake, city_cfg, lines):
    """The table's rows against sales counted here with h3-py: the same keys, unmasked values
    equal, every resolution holding every receipt once."""
    res = configured_resolutions(city_cfg)
    refs = read_table(spark, "stg_pharmacy__pharmacies", lake.paths).toPandas()
    leaf = {p: h3.latlng_to_cell(la, lo, res[0]) for p, la, lo in zip(refs.pharmacy_id, refs.lat, refs.lon)}
    per_res = pd.concat([lines.assign(h3_cell=[h3.cell_to_parent(leaf[p], r) for p in lines.pharmacy_id],
                                      resolution=r) for r in res])
    keys = ["ds", "h3_cell", "atc_group"]
    want = per_res.groupby(keys).agg(receipts=("receipt_id", "nunique"), items=("qty", "sum"),
                                     amount_kzt=("amount_kzt", "sum"))
    reporting = per_res[per_res.atc_group == "all"].groupby(["ds", "h3_cell"]).pharmacy_id.nunique()
    want["pharmacies"] = reporting.loc[want.index.droplevel("atc_group")].to_numpy()
    table = read_table(spark, ph.TABLE, lake.paths).toPandas().set_index(keys)
    assert sorted(table.index) == sorted(want.index) and len(table) == lake.written[ph.TABLE]
    pub = table[~table.masked]
    exact = ["receipts", "items", "pharmacies"]
    assert (pub[exact] == want.loc[pub.index, exact]).all().all()
    assert (pub.amount_kzt.round(2) == want.loc[pub.index, "amount_kzt"].round(2)).all()
    assert (table.pharmacies == want.pharmacies.loc[table.index]).all()
    totals = want.xs("all", level="atc_group").reset_index()
    per_day = totals.groupby(["ds", totals.h3_cell.map(h3.get_resolution)]).receipts.sum().unstack()
    assert all(per_day[r].to_dict() == lines.groupby("ds").receipt_id.nunique().to_dict() for r in res)


def test_the_published_hex_table_holds_no_small_count_and_passes_the_audit(spark, lake, city_cfg):
    df = read_table(spark, ph.TABLE, lake.paths).toPandas()
    k = health_mask_below(city_cfg)
    assert not (df.receipts.between(1, k - 1) & ~df.masked).any()
    assert df.loc[df.masked, ph.VALUES].isna().all().all() and df.loc[~df.masked, ph.VALUES].notna().all().all()
    assert 0 < df.masked.sum() < len(df)
    hierarchy = ph.mask_hierarchy(configured_resolutions(city_cfg), "atc_group")
    assert audit_health(df, k, ph.VALUES, hierarchy, count_cols=["receipts"], table=ph.TABLE) == []
