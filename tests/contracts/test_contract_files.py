"""The contracts in schemas/: all load, cover every feed and table, and agree with each other."""

import pytest

from jobs.common.contracts import PII_CLASSES, all_contracts, load_contract

FEEDS = {  # feed -> native columns in delivery order (the landing layout of the spec)
    "operator_kcell": ["MSISDN_HASH", "EVENT_TIME", "LAC", "CELL_ID", "EVENT_TYPE"],
    "operator_beeline": ["subscriber_id", "event_ts_utc", "tac", "eci", "event_type"],
    "operator_tele2": ["sub_key", "ts_ms", "cgi", "type"],
    "cell_reference": ["cgi", "operator", "lac", "ci", "site_id", "lat", "lon", "azimuth_deg",
                       "beam_width_deg", "range_m", "valid_from", "valid_to"],
    "ambulance": ["call_id", "received_at", "lat", "lon", "district_text", "reason_code",
                  "reason_text_ru", "reason_text_kk", "priority", "age_band", "sex", "hospitalised"],
    "pharmacy_receipts": ["receipt_id", "kkm_id", "pharmacy_id", "ts", "total", "items"],
    "pharmacy_reference": ["pharmacy_id", "name", "lat", "lon", "district", "valid_from", "valid_to"],
    "morbidity": ["report_date", "district", "new_cases", "hospitalised", "deaths", "tests", "revision"],
    "restrictions": ["restriction_id", "start_date", "end_date", "scope", "measure", "stringency"],
    "districts": ["name", "name_ru", "name_kk", "population", "district_type", "geometry"],
}
DESIGN_TABLES = [  # every table of the design's aggregates-and-marts section
    "agg_presence__h3_hour", "agg_residents__h3_month", "agg_visitors__h3_hour",
    "agg_od__district_day", "agg_mobility__district_day", "agg_ambulance__h3_day",
    "agg_ambulance__district_day", "agg_pharmacy__h3_day", "agg_pharmacy__district_day",
    "agg_morbidity__district_day", "mart_indicator_daily", "mart_mobility_index",
    "mart_zone_profile", "mart_lagcorr", "mart_leadlag", "mart_forecast", "mart_forecast_skill",
    "mart_restriction_impact", "mart_alerts", "dq_results",
]
OTHER_TABLES = [
    "stg_operator__events", "stg_operator__cells", "stg_ambulance__calls", "stg_pharmacy__receipts",
    "stg_pharmacy__receipt_items", "stg_pharmacy__pharmacies", "stg_morbidity__daily",
    "stg_restrictions__restrictions", "stg_districts__districts", "quarantine", "geo_h3_cells",
    "geo_cell_h3_weights", "private_home_work__subscriber_month",
    "private_trajectories__subscriber_day", "agg_commute__district_month", "mart_commute_flows",
    "ops_recompute_requests",
]
CONTRACTS = all_contracts()


def test_every_contract_loads_and_names_are_unique():
    names = [c.name for c in CONTRACTS]
    assert len(names) == len(set(names)) == 47
    for c in CONTRACTS:
        assert load_contract(c.name) == c


def test_every_feed_has_its_native_columns_in_order():
    feeds = {c.name: c for c in all_contracts("feed")}
    assert set(feeds) == set(FEEDS)
    for name, columns in FEEDS.items():
        assert feeds[name].column_names == columns, name
        assert feeds[name].format is not None and feeds[name].layer == "landing"


@pytest.mark.parametrize("name", DESIGN_TABLES + OTHER_TABLES)
def test_every_table_has_a_contract(name):
    c = load_contract(name)
    assert c.kind == "table" and c.columns and c.grain


def test_no_unexpected_tables():
    assert {c.name for c in all_contracts("table")} == set(DESIGN_TABLES + OTHER_TABLES)


def test_standard_operator_events_contract():
    c = load_contract("stg_operator__events")
    assert [(col.name, col.type) for col in c.columns] == [
        ("ds", "date"), ("operator", "string"), ("subscriber_key", "bigint"),
        ("event_ts_utc", "timestamp"), ("cgi", "string"), ("event_type", "string"),
        ("source_file", "string"), ("source_row", "bigint")]
    assert c.column("event_type").allowed == ("voice", "sms", "data", "handover")


def test_published_is_exactly_marts_geo_cells_and_ops():
    published = {c.name for c in CONTRACTS if c.published}
    expected = {c.name for c in CONTRACTS if c.layer == "marts"} | {"geo_h3_cells", "dq_results",
                                                                    "ops_recompute_requests"}
    assert published == expected
    assert all(c.pii != "pseudonymous" for c in CONTRACTS if c.published)


def test_table_pii_is_its_most_sensitive_column():
    for c in CONTRACTS:
        assert c.pii == max((col.pii for col in c.columns), key=PII_CLASSES.index), c.name
    for name in ("private_home_work__subscriber_month", "private_trajectories__subscriber_day",
                 "stg_operator__events"):
        assert load_contract(name).pii == "pseudonymous"


def test_people_counts_are_suppressed_beside_raw_subscribers():
    presence = load_contract("agg_presence__h3_hour")
    assert presence.grain == ("ds", "hour", "h3_cell") and presence.partition_by == ("ds",)
    for col in ("subscribers", "people_est"):
        assert presence.column(col).suppression == "people_count"
        assert presence.column(col).nullable
    assert presence.column("suppressed").type == "boolean"
    hex_health = load_contract("agg_ambulance__h3_day")
    assert hex_health.column("calls").suppression == "health_count"
    assert hex_health.column("masked").type == "boolean"
    for c in CONTRACTS:
        for col in c.columns:
            if col.suppression:
                assert c.column(col.suppressed_by).type == "boolean", (c.name, col.name)


def test_conventions_shared_by_all_tables():
    for c in CONTRACTS:
        for col in c.columns:
            if col.name == "ds":
                assert col.type == "date" and not col.nullable, c.name
            if col.name.endswith("h3_cell"):
                assert col.pattern == "^[0-9a-f]{15}$", (c.name, col.name)
            if col.name.endswith("_km") or col.name.endswith("_km_median"):
                assert col.unit == "km", (c.name, col.name)
            assert col.description and col.description[-1] in ".)'\"", (c.name, col.name)
        if c.layer == "staged":
            assert "source_file" in c.column_names, c.name
        if c.partition_by:
            assert c.column_names[: len(c.partition_by)] == list(c.partition_by)


def test_analytics_conventions():
    quantiles = load_contract("mart_forecast").column("quantile").allowed
    assert len(quantiles) == 23 and list(quantiles) == sorted(quantiles)
    assert all(abs(q + p - 1) < 1e-12 for q, p in zip(quantiles, reversed(quantiles)))
    lag = load_contract("mart_lagcorr").column("lag_days")
    assert (lag.min, lag.max, lag.type) == (-28, 28, "int")
    assert "x leads y" in lag.description
    mobility = load_contract("agg_mobility__district_day").column_names
    for col in ("trips_per_person", "radius_gyration_km_median", "stay_put_share",
                "km_travelled_per_person", "people_est", "subscribers"):
        assert col in mobility


def test_feed_read_options():
    kcell = load_contract("operator_kcell").read_options()
    assert kcell["sep"] == ";" and kcell["timestampFormat"] == "dd.MM.yyyy HH:mm:ss"
    assert kcell["timeZone"] == "Asia/Almaty" and kcell["header"] == "true"
    assert "timestampFormat" not in load_contract("operator_tele2").read_options()
    with pytest.raises(ValueError, match="only feeds"):
        load_contract("dq_results").read_options()


def test_feed_file_regex_matches_the_delivered_names():
    import re

    examples = {
        "operator_kcell": "events_401-02_20200301_p001.csv.gz",
        "operator_beeline": "beeline_events_2020-03-01_part000.parquet",
        "operator_tele2": "t2_cdr_20200301_002.csv",
        "cell_reference": "cells_kcell_20200301.csv",
        "ambulance": "calls_103_2020-03-01.csv",
        "pharmacy_receipts": "receipts_2020-03-01.jsonl.gz",
        "pharmacy_reference": "pharmacies_20200301.csv",
        "morbidity": "morbidity_2020-03-01_rev2.csv",
        "restrictions": "restrictions.csv",
        "districts": "districts.geojson",
    }
    from datetime import datetime

    for feed, filename in examples.items():
        fmt = load_contract(feed).format
        m = re.match(fmt["file_regex"], filename)
        assert m, (feed, filename)
        if "day" in m.groupdict():
            assert datetime.strptime(m["day"], fmt["day_format"]).date().isoformat() == "2020-03-01"
