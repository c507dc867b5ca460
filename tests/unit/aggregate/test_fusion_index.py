"""Multi-operator fusion, the mobility index and zone typing on inline frames."""

from datetime import date, timedelta

import pytest

from jobs.aggregate.fusion import estimate, scale_factors
from jobs.aggregate.mobility_index import mobility_index
from jobs.aggregate.zone_profile import zone_profile

D = date(2020, 3, 16)
SHARES = [("op1", 0.6), ("op2", 0.4)]


def test_factors_calibrate_each_operator_to_its_share_of_the_population(spark):
    homes = spark.createDataFrame([(D, "op1", "A", 60), (D, "op2", "A", 20), (D, "op1", "B", 30), (D, "op2", "B", 40)],
                                  "ds date, operator string, district string, residents long")
    pop = spark.createDataFrame([("A", 1000.0), ("B", 500.0)], "district string, population double")
    f = scale_factors(homes, pop, spark.createDataFrame(SHARES, "operator string, market_share double"), ["ds"])
    got = {(r["operator"], r["district"]): r["factor"] for r in f.collect()}
    assert got == pytest.approx({("op1", "A"): 10.0, ("op2", "A"): 20.0, ("op1", "B"): 10.0, ("op2", "B"): 5.0})
    # the residents themselves add up to the district populations
    est = estimate(homes, f, ["ds"], {"residents": "people"}).groupBy("district").sum("people").collect()
    assert {r[0]: r[1] for r in est} == pytest.approx({"A": 1000.0, "B": 500.0})


def test_a_missing_operator_is_made_up_by_market_share(spark):
    homes = spark.createDataFrame([(D, "op1", "A", 60)], "ds date, operator string, district string, residents long")
    pop = spark.createDataFrame([("A", 1000.0)], "district string, population double")
    f = scale_factors(homes, pop, spark.createDataFrame(SHARES, "operator string, market_share double"), ["ds"])
    # op1 alone: 60 residents stand for the whole district (600 people of its share / 0.6 present)
    assert f.first()["factor"] == pytest.approx(1000.0 / 60)


def test_unknown_district_falls_back_on_the_city_factor(spark):
    homes = spark.createDataFrame([(D, "op1", "A", 10), (D, "op1", "B", 30)], "ds date, operator string, district string, residents long")
    pop = spark.createDataFrame([("A", 100.0), ("B", 300.0)], "district string, population double")
    f = scale_factors(homes, pop, spark.createDataFrame([("op1", 1.0)], "operator string, market_share double"), ["ds"])
    counts = spark.createDataFrame([(D, "op1", "C", 4)], "ds date, operator string, district string, n long")
    assert estimate(counts, f, ["ds"], {"n": "est"}).first()["est"] == pytest.approx(40.0)


MOB = "ds date, geo_level string, district string, people_est double, trips_per_person double, " \
      "radius_gyration_km_median double, stay_put_share double, km_travelled_per_person double, suppressed boolean"


def test_mobility_index_is_change_against_the_same_weekday_median(spark):
    base_days = [date(2020, 1, 6) + timedelta(7 * n) for n in range(5)]           # five Mondays
    base = spark.createDataFrame([(d, "district", "A", 100.0, t, 1.0, 0.2, 10.0, False)
                                  for d, t in zip(base_days, [1.0, 2.0, 3.0, 4.0, 50.0])]
                                 + [(date(2020, 1, 7), "district", "A", 100.0, 9.0, 1.0, 0.2, 10.0, False)], MOB)
    rows = spark.createDataFrame([(D, "district", "A", 100.0, 1.5, 2.0, 0.5, 5.0, False),        # a Monday
                                  (D, "district", "B", None, None, None, None, None, True)], MOB)
    out = {r["geo_id"]: r for r in mobility_index(rows, base, base_days[0], base_days[-1]).collect()}
    a = out["A"]
    assert (a["weekday"], a["trips_per_person_baseline"]) == (1, 3.0)              # median of 1,2,3,4,50
    assert a["trips_per_person_change_pct"] == pytest.approx(-50.0)
    assert a["stay_put_share_change_pct"] == pytest.approx(150.0)
    assert a["km_travelled_change_pct"] == pytest.approx(-50.0)
    assert out["B"]["suppressed"] and out["B"]["trips_per_person_change_pct"] is None


PRES = "ds date, hour int, h3_cell string, people_est double, suppressed boolean"
CELLS = "h3_cell string, resolution int, district string, zone_type string, area_km2 double"
RES = "month date, h3_cell string, residents_est double, residents_suppressed boolean, workers_est double, workers_suppressed boolean"


def test_zone_types_follow_day_and_night_presence(spark):
    cells = spark.createDataFrame([(c, 8, "A", "residential", 1.0) for c in ("biz", "home", "mix", "edge", "quiet")], CELLS)
    pres = []
    for h in range(24):
        day = 9 <= h < 18
        night = h < 6
        pres += [(D, h, "biz", 5000.0 if day else 1000.0, False),
                 (D, h, "home", 1500.0 if day else 4000.0, False),
                 (D, h, "mix", 3000.0 if day else 2500.0, False),
                 (D, h, "edge", 100.0, False)]
        if night:
            pres.append((D, h, "quiet", None, True))          # withheld at night: not classified
        elif day:
            pres.append((D, h, "quiet", 2000.0, False))
    res = spark.createDataFrame([(D.replace(day=1), "home", 4000.0, False, 500.0, False)], RES)
    out = {r["h3_cell"]: r for r in zone_profile(spark.createDataFrame(pres, PRES), res, cells, [D], [D],
                                                 (0, 6), (9, 18), {"business_day_night_ratio": 1.5,
                                                                   "residential_day_night_ratio": 0.9,
                                                                   "outskirts_people_per_km2": 1500}).collect()}
    assert {c: out[c]["zone_type"] for c in out} == {"biz": "business_centre", "home": "residential", "mix": "mixed",
                                                     "edge": "outskirts", "quiet": None}
    assert out["biz"]["day_night_ratio"] == pytest.approx(5.0)
    assert out["home"]["workers_per_resident"] == pytest.approx(0.125)
    assert out["quiet"]["suppressed"] and out["quiet"]["night_people_est"] is None
