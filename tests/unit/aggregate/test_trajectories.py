"""Trajectories, homes and hex-hour counts on a few inline events whose answers are obvious."""

from datetime import date, datetime, timedelta

import pytest
from pyspark.sql import functions as F

from jobs.aggregate import hex_hours, trajectories
from jobs.aggregate.homes import home_work_month, homes_to_date

D = date(2020, 3, 16)           # a Monday, a working day
MIDNIGHT = datetime(2020, 3, 16, 0, 0)
# three cells in a row, 1 km apart; cells 0 and 1 in district A, cell 2 in B; map-resolution
# areas: cells 0 and 1 share area "a0" only in the oscillation test's dim
DIM = [(0, "c0", "a0", "A", 0.0, 0.0), (1, "c1", "a1", "A", 1.0, 0.0), (2, "c2", "a2", "B", 2.0, 0.0)]
DIM_SCHEMA = "loc_id int, h3_r9 string, h3_r8 string, district string, x_km double, y_km double"
EV_SCHEMA = "ds date, operator string, subscriber_key bigint, event_ts_utc timestamp, hour int, loc_id int"


def ev(sub, minute, loc, ds=D):
    t = datetime.combine(ds, datetime.min.time()) + timedelta(minutes=minute)
    return (ds, "401-02", sub, t, t.hour, loc)


@pytest.fixture(scope="module")
def dim(spark):
    return spark.createDataFrame(DIM, DIM_SCHEMA)


def days(spark, dim, rows, max_minutes=None):
    located = spark.createDataFrame(rows, EV_SCHEMA).repartition(2, "operator", "subscriber_key")
    out = trajectories.subscriber_days(trajectories.summaries(located, dim, 8, [D], (0, 6), (9, 18), max_minutes))
    return {r["subscriber_key"]: r for r in out.collect()}


def test_trips_distance_gyration_and_stay_put(spark, dim):
    rows = [ev(1, 60, 0), ev(1, 70, 0), ev(1, 600, 2), ev(1, 610, 2),    # home -> B -> home: 2 trips, 4 km
            ev(1, 1200, 0), ev(1, 1210, 0),
            ev(2, 60, 1), ev(2, 700, 1), ev(2, 800, None)]        # one place all day, one unlocated
    t = days(spark, dim, rows)
    assert (t[1]["trips"], t[1]["district_trips"], t[1]["km_travelled"]) == (2, 2, pytest.approx(4.0))
    # x = 0, 0, 2, 2, 0, 0: rms distance from the mean = sqrt(mean(x^2) - mean(x)^2) = sqrt(8/9)
    assert t[1]["radius_gyration_km"] == pytest.approx((8 / 9) ** 0.5)
    assert not t[1]["stay_put"] and t[2]["stay_put"]
    assert (t[2]["events"], t[2]["located_events"], t[2]["trips"]) == (3, 2, 0)
    assert t[1]["night_h3_cell"] == "c0" and t[1]["day_h3_cell"] == "c2" and t[1]["main_district"] == "A"


def test_a_one_event_handover_oscillation_is_not_a_trip(spark, dim):
    quick = [ev(1, 600, 0), ev(1, 605, 1), ev(1, 610, 0)]                 # A-B-A within 10 minutes
    slow = [ev(2, 600, 0), ev(2, 700, 1), ev(2, 800, 0)]                  # A-B-A over 200 minutes
    stay = [ev(3, 500, 0), ev(3, 600, 0), ev(3, 700, 1), ev(3, 710, 1),  # two events at B: a stay
            ev(3, 800, 0), ev(3, 900, 0)]
    t = days(spark, dim, quick + slow + stay)
    assert (t[1]["trips"], t[1]["stay_put"]) == (0, True)
    assert (t[2]["trips"], t[2]["stay_put"]) == (0, True)
    assert (t[3]["trips"], t[3]["stay_put"]) == (2, False)
    limited = days(spark, dim, quick + slow, max_minutes=30)               # rule limited to 30 minutes
    assert (limited[1]["trips"], limited[2]["trips"]) == (0, 2)


def test_stay_put_is_a_day_without_a_trip_handover_noise_left_out(spark, dim):
    # at rest all day: B is the second-best cell's area (one-event oscillations at 151 and 451),
    # so two events in a row on B (301, 302) and a first event on B are ping-pong, not trips
    rest = [ev(1, 30 * i, 0) for i in range(1, 21)] + [ev(1, 151, 1), ev(1, 301, 1), ev(1, 302, 1), ev(1, 451, 1)]
    edge = [ev(2, 5, 1)] + [ev(2, 30 * i, 0) for i in range(1, 10)] + [ev(2, 100, 1)]
    unknown = [ev(3, 30 * i, 0) for i in range(1, 16)] + [ev(3, 301, 1), ev(3, 302, 1)]    # no oscillation to B
    out = [ev(4, 30 * i, 0) for i in range(1, 7)] + [ev(4, 300 + i, 2) for i in range(4)]  # 4 of 10 at C
    t = days(spark, dim, rest + edge + unknown + out)
    assert (t[1]["trips"], t[1]["stay_put"]) == (0, True)
    assert (t[2]["trips"], t[2]["stay_put"]) == (0, True)
    assert (t[3]["trips"], t[3]["stay_put"]) == (2, False)      # a short stay next door: it counts
    assert (t[4]["trips"], t[4]["stay_put"]) == (1, False)
    assert t[1]["distinct_h3_cells"] == 2                      # every event still locates the subscriber


def test_areas_passed_through_on_a_journey_are_not_trips(spark):
    # a road of areas 1 km apart from home (x = 0) to work (x = 6), district A up to x = 2
    road = [(i, f"c{i}", f"a{i}", "A" if i < 3 else "B", float(i), 0.0) for i in range(7)]
    road += [(7, "c7", "a7", "A", 0.0, 3.0)]                  # a shop 3 km off the road
    dim = spark.createDataFrame(road, DIM_SCHEMA)
    home, work = [ev(1, m, 0) for m in (60, 300, 470)], [ev(1, m, 6) for m in (540, 700, 1000)]
    commute = home + [ev(1, 480 + 10 * i, i) for i in range(1, 6)] + work           # 5 areas crossed in 50 min
    stop = ([ev(2, m, 0) for m in (60, 470)] + [ev(2, 480, 1), ev(2, 490, 2), ev(2, 510, 2)]
            + [ev(2, 540, 4), ev(2, 560, 6), ev(2, 900, 6)])                        # 20 minutes at x = 2
    shop = [ev(3, m, 0) for m in (60, 600)] + [ev(3, 620, 7), ev(3, 630, 7)] + [ev(3, m, 0) for m in (650, 900)]
    t = days(spark, dim, commute + stop + shop)
    assert (t[1]["trips"], t[1]["district_trips"], t[1]["stay_put"]) == (1, 1, False)
    assert t[1]["km_travelled"] == pytest.approx(6.0)          # the whole way is still travelled
    assert (t[2]["trips"], t[2]["district_trips"]) == (2, 1)    # home -> stop (x = 2, district A) -> work
    assert t[3]["trips"] == 2                                  # 10 minutes at the shop, off the way: a stay
    od = (trajectories.district_trips(trajectories.summaries(
        spark.createDataFrame(commute, EV_SCHEMA).repartition(1), dim, 8, [D], (0, 6), (9, 18))).collect())
    assert [(r["origin_district"], r["destination_district"]) for r in od] == [("A", "B")]


def test_subscriber_with_only_unlocated_events_is_kept(spark, dim):
    t = days(spark, dim, [ev(7, 60, None), ev(7, 90, None)])
    assert (t[7]["events"], t[7]["located_events"], t[7]["stay_put"]) == (2, 0, False)
    assert t[7]["radius_gyration_km"] is None and t[7]["main_district"] is None


TRAJ_SCHEMA = ("ds date, operator string, subscriber_key bigint, located_events int, "
               "night_h3_cell string, day_h3_cell string, modal_h3_cell string")


def test_home_is_the_running_mode_of_nights_ties_to_the_latest(spark):
    d = [D + timedelta(n) for n in range(4)]
    rows = [(d[0], "op", 1, 5, "h1", "w", "h1"), (d[1], "op", 1, 5, "h2", "w", "h2"),
            (d[2], "op", 1, 5, None, "w", "x"), (d[3], "op", 1, 5, "h1", "w", "h1"),
            (d[0], "op", 2, 5, None, None, "m1"), (d[1], "op", 2, 5, None, None, "m2"),
            (d[2], "op", 2, 5, None, None, "m2")]
    homes = {(r["subscriber_key"], r["ds"]): r["home_h3_cell"]
             for r in homes_to_date(spark.createDataFrame(rows, TRAJ_SCHEMA)).collect()}
    assert [homes[(1, x)] for x in d] == ["h1", "h2", "h2", "h1"]     # tie h1/h2 -> the later h2
    assert [homes[(2, x)] for x in d[:3]] == ["m1", "m2", "m2"]       # never at night: modal cell


def test_month_home_and_work(spark):
    d = [D + timedelta(n) for n in range(4)]
    rows = [(x, "op", 1, 5, "h", "w" if i < 3 else "h", "h") for i, x in enumerate(d)]
    rows += [(d[0], "op", 2, 5, "h", "w", "h")]                       # work seen once: no work place
    hw = {r["subscriber_key"]: r for r in home_work_month(spark.createDataFrame(rows, TRAJ_SCHEMA)).collect()}
    assert (hw[1]["home_h3_cell"], hw[1]["home_nights"], hw[1]["work_h3_cell"], hw[1]["work_days"]) == ("h", 4, "w", 3)
    assert hw[2]["work_h3_cell"] is None and hw[2]["work_days"] == 0


def test_hex_hour_counts_are_distinct_per_resolution(spark, dim):
    # subscriber 1 twice in c0 and once in c1 in hour 1; c0 and c1 share the coarser cell "A8"
    coarse = dim.withColumn("h3_r8", F.when(F.col("loc_id") < 2, "A8").otherwise("B8"))
    located = (spark.createDataFrame([ev(1, 60, 0), ev(1, 70, 0), ev(1, 80, 1), ev(2, 65, 1)], EV_SCHEMA)
               .repartition(2, "operator", "subscriber_key"))
    homes = spark.createDataFrame([(D, "401-02", 1, "c1")], "ds date, operator string, subscriber_key bigint, home_h3_cell string")
    counts = hex_hours.hex_hour_counts(located, homes, coarse, [9, 8], 2)
    got = {(r["resolution"], r["h3_cell"]): (r["subscribers"], r["residents"], r["events"]) for r in counts.collect()}
    assert got == {(9, "c0"): (1, 0, 2), (9, "c1"): (2, 1, 2), (8, "A8"): (2, 1, 4)}
