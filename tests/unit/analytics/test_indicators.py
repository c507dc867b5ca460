"""mart_indicator_daily: roll-ups that never make up or reveal a figure, 7-day means, missing codes,
restriction stringency; then the real job on the year city against its aggregates."""

from datetime import date, timedelta

import duckdb
import pandas as pd
import pytest

from jobs.analytics import indicators as ind
from jobs.common.conform import conform
from jobs.common.lake import read_table, table_path

TINY = {"city": {"name": "C"},
        "districts": [{"name": "A", "population": 100}, {"name": "B", "population": 300}],
        "district_types": {"residential": ["A"], "outskirts": ["B"]}}
D = [date(2020, 3, 1) + timedelta(n) for n in range(10)]


def _by_key(df) -> dict:
    return {(r.ds, r.geo_level, r.geo_id, r.indicator): (r.value, r.suppressed) for r in df.collect()}


def test_sum_rollup_needs_every_member(spark):
    rows = [(D[0], "A", "x_calls", 3.0, False), (D[0], "B", "x_calls", 4.0, False),
            (D[1], "A", "x_calls", 5.0, False),                                     # B not reported
            (D[2], "A", "x_calls", None, True), (D[2], "B", "x_calls", 2.0, False)]  # A withheld
    long = spark.createDataFrame(rows, "ds date, district string, indicator string, value double, suppressed boolean")
    out = _by_key(ind.sum_rollup(long, spark.createDataFrame(ind.geographies(TINY)),
                                 spark.createDataFrame([(d,) for d in D[:3]], "ds date")))
    assert out[(D[0], "city", "C", "x_calls")] == (7.0, False)
    assert out[(D[0], "zone_type", "residential", "x_calls")] == (3.0, False)
    assert out[(D[0], "district", "B", "x_calls")] == (4.0, False)
    assert out[(D[1], "city", "C", "x_calls")] == (None, False)        # a missing member: no total
    assert out[(D[1], "district", "B", "x_calls")] == (None, False)
    assert out[(D[2], "city", "C", "x_calls")] == (None, True)         # B alone would reveal A
    assert out[(D[2], "zone_type", "outskirts", "x_calls")] == (2.0, False)


def test_complete_codes_and_seven_day_mean(spark):
    values = [(d, "city", "C", "morbidity_new_cases", float(i + 1), False) for i, d in enumerate(D) if i != 1]
    values.append((D[3], "city", "C", "people_present", None, True))
    spine = spark.createDataFrame([(d, "city", "C", i, "u", "t") for d in D for i in ("morbidity_new_cases", "people_present")],
                                  "ds date, geo_level string, geo_id string, indicator string, unit string, source_table string")
    out = {(r.ds, r.indicator): r for r in ind.complete(spark.createDataFrame(values, ind.VALUES_SCHEMA), spine).collect()}
    cases = {d: out[(d, "morbidity_new_cases")] for d in D}
    assert cases[D[1]].value is None and cases[D[1]].missing_code == "not_reported" and not cases[D[1]].suppressed
    assert cases[D[0]].missing_code == "not_missing"
    assert cases[D[6]].value_7d_mean is None                  # days 1..7 include the gap
    assert cases[D[8]].value_7d_mean == pytest.approx(sum(range(3, 10)) / 7)   # days 3..9
    assert cases[D[9]].value_7d_mean == pytest.approx(sum(range(4, 11)) / 7)
    people = out[(D[3], "people_present")]
    assert people.value is None and people.suppressed and people.missing_code == "suppressed"
    assert out[(D[4], "people_present")].missing_code == "not_reported"


def test_people_values_withheld_when_any_cell_hour_is(spark):
    cells = spark.createDataFrame([("a1", "A"), ("a2", "A"), ("b1", "B")], "h3_cell string, district string")
    hourly = spark.createDataFrame(
        [(D[0], "a1", 48.0, False), (D[0], "a2", 24.0, False), (D[0], "b1", None, True),
         (D[1], "a1", 24.0, False), (D[1], "b1", 240.0, False)],
        "ds date, h3_cell string, people_est double, suppressed boolean")
    out = _by_key(ind.people_values(hourly, cells, spark.createDataFrame(ind.geographies(TINY)), "people_est", "people_present"))
    assert out[(D[0], "district", "A", "people_present")] == (3.0, False)       # (48 + 24) / 24 hours
    assert out[(D[0], "district", "B", "people_present")] == (None, True)
    assert out[(D[0], "city", "C", "people_present")] == (None, True)
    assert out[(D[1], "city", "C", "people_present")] == (11.0, False)         # (24 + 240) / 24


def test_hex_people_mean_over_published_hours_only(spark):
    rows = [(D[0], "a1", h, 100.0 + h, False) for h in range(6)]            # 6 hours seen, 18 with nobody
    rows += [(D[0], "a2", h, 50.0, False) for h in range(20)] + [(D[0], "a2", h, None, True) for h in range(20, 24)]
    rows += [(D[0], "b1", h, None, True) for h in range(24)]                # every hour withheld
    rows += [(D[0], "b2", h, 80.0, False) for h in range(24)] + [(D[0], "b3", h, 90.0, False) for h in range(24)]
    hourly = spark.createDataFrame(rows, "ds date, h3_cell string, hour int, people_est double, suppressed boolean")
    cells = spark.createDataFrame([("a1", "A"), ("a2", "A"), ("a3", "A"), ("b1", "B"), ("b2", "B"), ("b3", "B")],
                                  "h3_cell string, district string")
    out = _by_key(ind.hex_people_values(hourly, cells, "people_est", "people_present"))
    assert out[(D[0], "h3", "a1", "people_present")] == (pytest.approx(sum(100 + h for h in range(6)) / 24), False)
    assert out[(D[0], "h3", "a2", "people_present")] == (50.0, False)      # 20 published hours of 50
    assert out[(D[0], "h3", "b1", "people_present")] == (None, True)
    assert out[(D[0], "h3", "b2", "people_present")] == (None, True)       # B's smallest: b1 is not alone
    assert out[(D[0], "h3", "b3", "people_present")] == (90.0, False)
    assert out[(D[0], "h3", "a3", "people_present")] == (0.0, False)       # no row all day: nobody there
    assert {k[0] for k in out} == {D[0]}                                    # days with operator data only
    spine = ind.hex_spine(spark.createDataFrame([(D[0], "h3", "a1", "people_visitors", 1.0, False),
                                                 (D[0], "city", "C", "people_visitors", 1.0, False)],
                                                ind.VALUES_SCHEMA)).collect()
    assert [(r.ds, r.geo_id, r.indicator, r.source_table) for r in spine] == [(D[0], "a1", "people_visitors", ind.VISITORS)]


def test_stringency_latest_list_and_population_weights():
    lists = pd.DataFrame([
        (D[0], "R1", D[2], D[4], "city", 80.0), (D[0], "R2", D[3], None, "B", 40.0),
        (D[5], "R1", D[2], D[6], "city", 60.0), (D[5], "R2", D[3], None, "B", 40.0),   # a revised list
    ], columns=["ds", "restriction_id", "start_date", "end_date", "scope", "stringency"])
    out = ind.stringency_frame(lists, TINY, D).set_index(["ds", "geo_level", "geo_id"])["value"]
    assert out[(D[1], "city", "C")] == 0.0
    assert out[(D[2], "district", "A")] == 80.0 and out[(D[3], "district", "B")] == 80.0
    assert out[(D[5], "district", "A")] == 60.0 and out[(D[5], "district", "B")] == 60.0  # the new list
    assert out[(D[8], "district", "A")] == 0.0 and out[(D[8], "district", "B")] == 40.0   # open-ended
    assert out[(D[8], "city", "C")] == pytest.approx(40.0 * 300 / 400)
    before = ind.stringency_frame(lists.iloc[:0], TINY, D[:1])
    assert (before["value"] == 0.0).all()


# ------------------------------------------------------------ the year city
@pytest.fixture(scope="module")
def mart(analysed_year_city) -> pd.DataFrame:
    path = table_path(ind.TABLE, analysed_year_city.paths)
    return duckdb.connect().execute(
        f"select * from read_parquet('{path}/*/*.parquet', hive_partitioning = true)").df()


def _source(paths, table: str) -> pd.DataFrame:
    path = table_path(table, paths)
    return duckdb.connect().execute(
        f"select * from read_parquet('{path}/*/*.parquet', hive_partitioning = true)").df()


def test_city_table_conforms_and_is_complete(spark, analysed_year_city, mart):
    c = analysed_year_city
    df = read_table(spark, ind.TABLE, c.paths)
    conform(df, ind.TABLE)                                   # raises on any broken rule
    spine = ind.spine_frame(spark, c.cfg, [c.days[0]]).count()
    areas = mart[mart["geo_level"] != "h3"]
    assert spine * len(c.days) == len(areas)
    hexes = mart[mart["geo_level"] == "h3"]                  # every map cell on each operator day
    assert c.analytics["indicators"]["rows"] == len(mart) == len(areas) + len(hexes)
    assert len(hexes) == hexes["geo_id"].nunique() * 2 * len(c.operator_days)
    assert set(hexes["indicator"]) == {"people_present", "people_visitors"}
    assert mart["ds"].nunique() == len(c.days)
    present = mart["value"].notna()
    assert ((mart["missing_code"] == "not_missing") == present).all()
    assert (mart.loc[mart["suppressed"], "missing_code"] == "suppressed").all()
    print(f"mart_indicator_daily: {len(mart)} rows for {len(c.days)} days in {c.analytics['indicators']['seconds']:.0f} s")


def test_city_counts_are_sums_of_districts(analysed_year_city, mart):
    m = mart[mart["indicator"].str.match(r"^(ambulance|pharmacy|morbidity)_")]
    city = m[m["geo_level"] == "city"].set_index(["ds", "indicator"])["value"]
    districts = m[m["geo_level"] == "district"]
    complete = districts.groupby(["ds", "indicator"])["value"].agg(["sum", "count"])
    n = len(analysed_year_city.cfg["districts"])
    full = complete[complete["count"] == n]
    assert full.reset_index()["ds"].nunique() > 250        # most days have every district
    pd.testing.assert_series_equal(city.loc[full.index], full["sum"], check_names=False)
    partial = complete[complete["count"] < n].index
    assert city.loc[partial].isna().all()
    zones = m[m["geo_level"] == "zone_type"].groupby(["ds", "indicator"])["value"].sum(min_count=1)
    both = zones.dropna().index.intersection(full.index)
    pd.testing.assert_series_equal(zones.loc[both], full.loc[both, "sum"], check_names=False)


def test_values_match_the_aggregates(analysed_year_city, mart):
    amb = _source(analysed_year_city.paths, "agg_ambulance__district_day")
    resp = amb[amb["reason_group"] == "respiratory_fever"].groupby("ds")["calls"].sum()
    got = mart[(mart["indicator"] == "ambulance_calls_respiratory_fever") & (mart["geo_level"] == "city")]
    got = got.set_index(pd.to_datetime(got["ds"]).dt.date)["value"].dropna()
    resp.index = pd.to_datetime(resp.index).date
    assert len(got) > 250
    assert (got == resp.loc[got.index].astype(float)).all()
    mor = _source(analysed_year_city.paths, "agg_morbidity__district_day")
    almaly = mor[mor["district"] == "Almaly"].set_index(pd.to_datetime(mor.loc[mor["district"] == "Almaly", "ds"]).dt.date)
    mine = mart[(mart["indicator"] == "morbidity_deaths") & (mart["geo_id"] == "Almaly")]
    mine = mine.set_index(pd.to_datetime(mine["ds"]).dt.date)["value"].dropna()
    assert (mine == almaly.loc[mine.index, "deaths"].astype(float)).all()


def test_seven_day_mean_by_hand(analysed_year_city, mart):
    s = mart[(mart["indicator"] == "morbidity_new_cases") & (mart["geo_level"] == "city")]
    s = s.set_index(pd.to_datetime(s["ds"]).dt.date).sort_index()
    for day in (date(2020, 4, 20), date(2020, 7, 8), date(2020, 10, 1)):
        window = [day - timedelta(k) for k in range(7)]
        values = s.loc[window, "value"]
        if values.notna().all():
            assert s.loc[day, "value_7d_mean"] == pytest.approx(values.mean())
        else:
            assert pd.isna(s.loc[day, "value_7d_mean"])
    first = min(s.index)
    assert s.loc[[first + timedelta(k) for k in range(6)], "value_7d_mean"].isna().all()


def test_missing_codes_on_the_city(analysed_year_city, mart):
    c = analysed_year_city
    op = set(c.operator_days)
    trips = mart[(mart["indicator"] == "mobility_trips_per_person") & (mart["geo_level"] == "city")]
    outside = trips[~pd.to_datetime(trips["ds"]).dt.date.isin(op)]
    inside = trips[pd.to_datetime(trips["ds"]).dt.date.isin(op)]
    assert len(outside) and (outside["missing_code"] == "not_reported").all()
    assert (inside["missing_code"] != "not_reported").all()
    people = mart[mart["indicator"] == "people_present"]
    assert set(people["missing_code"]) <= {"not_missing", "suppressed", "not_reported"}
    withheld = people[people["suppressed"]]
    assert withheld["value"].isna().all() and withheld["value_7d_mean"].isna().all()


def test_restriction_stringency_on_the_city(analysed_year_city, mart):
    s = mart[(mart["indicator"] == "restriction_stringency") & (mart["geo_level"] == "city")]
    s = s.set_index(pd.to_datetime(s["ds"]).dt.date)["value"]
    assert s[date(2020, 2, 1)] == 0.0 and s[date(2020, 4, 1)] == 85.0 and s[date(2020, 7, 10)] == 70.0
