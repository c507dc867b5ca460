"""The privacy audit catches every kind of violation on hand-made frames, passes clean ones, and
stops publication: nothing reaches the serving database when it fails."""

from datetime import date, timedelta

import duckdb
import h3
import pandas as pd
import pytest

from jobs.common.contracts import load_contract
from jobs.publish.audit import PrivacyAuditError, audit_frame
from jobs.publish.run import main as publish_main
from jobs.publish.run import run as publish

DAY = date(2020, 3, 18)


def rules(violations, table=None):
    return {v.rule for v in violations if table is None or v.table == table}


def mobility(people: dict[str, float], suppressed=()) -> pd.DataFrame:
    rows = []
    for gid, value in people.items():
        hidden = gid in suppressed
        rows.append(dict(ds=DAY, geo_level="city" if gid == "Almaty" else "district", geo_id=gid, weekday=3,
                         baseline_start=date(2020, 1, 3), baseline_end=date(2020, 2, 6),
                         people_est=None if hidden else value,
                         trips_per_person_change_pct=None if hidden else -20.0, suppressed=hidden))
    return pd.DataFrame(rows)


def test_clean_frames_pass(city_cfg):
    c = load_contract("mart_mobility_index")
    assert audit_frame(c, mobility({"Almaty": 3000.0, "Almaly": 1000.0, "Auezov": 2000.0}), city_cfg) == []


def test_people_count_below_k_is_named(city_cfg):
    found = audit_frame(load_contract("mart_mobility_index"),
                        mobility({"Almaty": 3010.0, "Almaly": 3000.0, "Auezov": 10.0}), city_cfg)
    below = [v for v in found if v.rule == "published_below_k"]
    assert len(below) == 1 and below[0].table == "mart_mobility_index" and "geo_id=Auezov" in below[0].key


def test_withheld_row_with_values(city_cfg):
    df = mobility({"Almaty": 3000.0, "Almaly": 1000.0, "Auezov": 2000.0, "Medeu": 900.0},
                  suppressed=("Auezov", "Medeu"))
    df.loc[df["geo_id"] == "Auezov", "trips_per_person_change_pct"] = -12.0
    found = audit_frame(load_contract("mart_mobility_index"), df, city_cfg)
    assert [v.key for v in found if v.rule == "suppressed_value_present"] == \
        ["ds=2020-03-18, geo_level=district, geo_id=Auezov"]


def test_district_recovered_from_city_minus_districts(city_cfg):
    # the city total minus the published districts gives the withheld district: 10 < k
    df = mobility({"Almaty": 1000.0, "Almaly": 600.0, "Auezov": 390.0, "Medeu": 10.0}, suppressed=("Medeu",))
    assert "recoverable_by_difference" in rules(audit_frame(load_contract("mart_mobility_index"), df, city_cfg))
    # two withheld districts summing to >= k are safe
    df = mobility({"Almaty": 1000.0, "Almaly": 600.0, "Auezov": 380.0, "Medeu": 10.0, "Turksib": 10.0},
                  suppressed=("Medeu", "Turksib"))
    assert audit_frame(load_contract("mart_mobility_index"), df, city_cfg) == []


def zone_profile(values: dict[str, float], suppressed=()) -> pd.DataFrame:
    rows = []
    for cell, v in values.items():
        hidden = cell in suppressed
        rows.append(dict(h3_cell=cell, resolution=h3.get_resolution(cell), district="Almaly",
                         district_zone_type="business_centre", zone_type="mixed",
                         **{k: None if hidden else v for k in ("day_people_est", "night_people_est",
                                                                "residents_est", "workers_est")},
                         period_start=date(2020, 1, 3), period_end=date(2020, 2, 6), suppressed=hidden))
    return pd.DataFrame(rows)


def test_zone_profile_figures_below_k_but_partial_rows_pass(city_cfg):
    parent = h3.latlng_to_cell(43.252, 76.909, 7)
    kids = sorted(h3.cell_to_children(parent, 8))
    ok = zone_profile({parent: 1000.0} | {k: 165.0 for k in kids[:6]} | {kids[6]: 10.0}, suppressed=(kids[6],))
    ok.loc[ok["h3_cell"] == kids[0], ["residents_est", "suppressed"]] = [None, True]   # residents withheld only
    assert audit_frame(load_contract("mart_zone_profile"), ok, city_cfg) == []
    bad = zone_profile({parent: 1000.0, kids[0]: 12.0})
    found = audit_frame(load_contract("mart_zone_profile"), bad, city_cfg)
    assert {(v.rule, v.key) for v in found} == {("published_below_k", f"h3_cell={kids[0]}")}


def commute_flows(flows: dict[tuple[str, str], int], suppressed=()) -> pd.DataFrame:
    zones = {"Almaly": "business_centre", "Auezov": "residential", "Nauryzbay": "outskirts"}
    return pd.DataFrame([dict(month=date(2020, 3, 1), home_district=h, work_district=w, home_zone_type=zones[h],
                              work_zone_type=zones[w], cross_district=h != w,
                              commuters=None if (h, w) in suppressed else n,
                              commuters_est=None if (h, w) in suppressed else 40.0 * n, suppressed=(h, w) in suppressed)
                         for (h, w), n in flows.items()])


def test_a_lone_withheld_commuting_flow_of_a_district_is_caught(city_cfg):
    c = load_contract("mart_commute_flows")
    flows = {("Auezov", "Auezov"): 60, ("Auezov", "Almaly"): 90, ("Auezov", "Nauryzbay"): 7,
             ("Almaly", "Almaly"): 80, ("Almaly", "Nauryzbay"): 30, ("Nauryzbay", "Nauryzbay"): 50}
    # Auezov's residents minus its two published flows would give the withheld one
    lone = audit_frame(c, commute_flows(flows, suppressed={("Auezov", "Nauryzbay")}), city_cfg)
    assert {v.rule for v in lone} == {"single_suppressed_under_published_total"}
    assert any("home_district=Auezov" in v.key for v in lone) and any("work_district=Nauryzbay" in v.key for v in lone)
    # withheld in pairs along both the home and the work district: nothing follows
    safe = {("Auezov", "Nauryzbay"), ("Auezov", "Almaly"), ("Almaly", "Nauryzbay"), ("Almaly", "Almaly")}
    assert audit_frame(c, commute_flows(flows, suppressed=safe), city_cfg) == []
    assert {v.rule for v in audit_frame(c, commute_flows(flows), city_cfg)} == {"published_below_k"}


def indicator_rows(rows) -> pd.DataFrame:
    return pd.DataFrame([dict(ds=d, geo_level=lvl, geo_id=gid, indicator=ind, value=val, value_7d_mean=mean,
                              unit=unit, missing_code="suppressed" if sup else "not_missing", suppressed=sup,
                              source_table="agg_presence__h3_hour")
                         for d, lvl, gid, ind, val, mean, unit, sup in rows])


def test_parent_hex_minus_published_children(city_cfg):
    parent = h3.latlng_to_cell(43.252, 76.909, 7)
    kids = sorted(h3.cell_to_children(parent, 8))
    cells = pd.DataFrame({"h3_cell": [parent] + kids, "district": "Almaly", "zone_type": "business_centre"})
    rows = [(DAY, "h3", parent, "people_present", 1000.0, None, "people", False)]
    rows += [(DAY, "h3", k, "people_present", 165.0, None, "people", False) for k in kids[:6]]
    rows += [(DAY, "h3", kids[6], "people_present", None, None, "people", True)]   # true value 10
    found = audit_frame(load_contract("mart_indicator_daily"), indicator_rows(rows), city_cfg, cells)
    hits = [v for v in found if v.rule == "recoverable_by_difference"]
    assert [(v.key, v.detail) for v in hits] == [
        (f"ds={DAY}, h3_cell={kids[6]}, indicator=people_present", "withheld value [10.0]")]


def test_one_withheld_cell_under_a_published_district(city_cfg):
    parent = h3.latlng_to_cell(43.252, 76.909, 7)
    kids = sorted(h3.cell_to_children(parent, 8))
    cells = pd.DataFrame({"h3_cell": kids, "district": "Almaly", "zone_type": "business_centre"})
    rows = [(DAY, "h3", k, "people_present", 500.0, None, "people", False) for k in kids[:6]]
    rows.append((DAY, "h3", kids[6], "people_present", None, None, "people", True))
    found = audit_frame(load_contract("mart_indicator_daily"), indicator_rows(rows), city_cfg, cells)
    assert "single_suppressed_under_published_total" in rules(found)


def test_hex_health_count_below_mask_but_district_counts_allowed(city_cfg):
    cell = h3.latlng_to_cell(43.252, 76.909, 8)
    cells = pd.DataFrame({"h3_cell": [cell], "district": ["Almaly"], "zone_type": ["business_centre"]})
    rows = [(DAY, "h3", cell, "ambulance_calls_all", 3.0, None, "calls", False),
            (DAY, "district", "Almaly", "ambulance_calls_all", 3.0, None, "calls", False)]
    found = audit_frame(load_contract("mart_indicator_daily"), indicator_rows(rows), city_cfg, cells)
    assert [(v.rule, v.key.split(", ")[1]) for v in found] == [("published_below_k", f"h3_cell={cell}")]
    assert "[3.0] < 5" in found[0].detail                      # the health mask, not k


def test_overlapping_seven_day_means_reveal_a_withheld_day(city_cfg):
    days = [DAY + timedelta(n) for n in range(7)]
    true = [100.0, 100.0, 100.0, 10.0, 100.0, 100.0, 100.0]          # day 4 withheld (10 people)
    rows = [(d, "district", "Almaly", "people_visitors", None if n == 3 else true[n],
             sum(true) / 7 if n == 6 else None, "people", n == 3) for n, d in enumerate(days)]
    found = audit_frame(load_contract("mart_indicator_daily"), indicator_rows(rows), city_cfg)
    hit = [v for v in found if v.rule == "recoverable_by_overlapping_periods"]
    assert len(hit) == 1 and "ds=2020-03-21" in hit[0].key and "withheld value 10" in hit[0].detail


def test_subscriber_level_and_unknown_columns(city_cfg):
    df = mobility({"Almaty": 3000.0, "Almaly": 1000.0, "Auezov": 2000.0}).assign(msisdn="77011234567", note="x")
    found = audit_frame(load_contract("mart_mobility_index"), df, city_cfg)
    assert {(v.rule, v.key) for v in found} == {("subscriber_level_column", "msisdn"),
                                                ("uncontracted_column", "note")}


def test_unpublished_table_is_refused(city_cfg):
    c = load_contract("agg_mobility__district_day")
    assert "unpublished_table" in rules(audit_frame(c, pd.DataFrame({"ds": [DAY]}), city_cfg))


def test_failed_audit_publishes_nothing(mini_lake, mini, write_lake, city_cfg, capsys):
    DAYS, mobility_frame = mini.days, mini.mobility
    publish(None, city_cfg, mini_lake, DAYS[-1], log=lambda _: None)
    con = duckdb.connect(str(mini_lake.serving_db), read_only=True)
    before = con.execute("SELECT * FROM mart_mobility_index ORDER BY ALL").fetchall()
    con.close()
    bad = mobility_frame(DAYS[-1:])
    bad.loc[bad["geo_id"] == "Almaly", "people_est"] = 7.0                      # below k, unflagged
    write_lake(mini_lake, "mart_mobility_index", bad)
    with pytest.raises(PrivacyAuditError) as err:
        publish(None, city_cfg, mini_lake, DAYS[-1], log=lambda _: None)
    assert "mart_mobility_index [published_below_k]" in str(err.value) and "geo_id=Almaly" in str(err.value)
    con = duckdb.connect(str(mini_lake.serving_db), read_only=True)
    assert con.execute("SELECT * FROM mart_mobility_index ORDER BY ALL").fetchall() == before
    con.close()
    import os

    os.environ["GEOPULSE_LAKE"], os.environ["GEOPULSE_SERVING_DB"] = str(mini_lake.lake), str(mini_lake.serving_db)
    try:
        assert publish_main(["--ds", DAYS[-1].isoformat()]) == 1
    finally:
        del os.environ["GEOPULSE_LAKE"], os.environ["GEOPULSE_SERVING_DB"]
    assert "privacy audit failed" in capsys.readouterr().err


def test_consecutive_seven_day_means_reveal_a_withheld_day(city_cfg):
    days = [DAY + timedelta(n) for n in range(8)]
    true = [100.0] * 7 + [10.0]                                       # the last day withheld
    rows = [(d, "district", "Almaly", "people_visitors", None if n == 7 else true[n],
             sum(true[n - 6:n + 1]) / 7 if n >= 6 else None, "people", n == 7) for n, d in enumerate(days)]
    found = audit_frame(load_contract("mart_indicator_daily"), indicator_rows(rows), city_cfg)
    hits = {(v.key.split(",")[0], v.detail) for v in found if v.rule == "recoverable_by_overlapping_periods"}
    assert ("ds=2020-03-25", "difference of consecutive 7-day means: withheld value 10") in hits
