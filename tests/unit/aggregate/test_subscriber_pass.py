"""The vectorised per-partition pass (``jobs.aggregate.subscriber_pass``) against two references:
the window-function implementation it replaced (``window_reference``) for the trajectory columns
and hex-hour counts, and a plain-Python reading of the stay rules (``stay_reference``) for trips,
district trips, stay-put and the OD trips. Same rows and values, on random subscriber-days built
to hit every rule (handover oscillations and ping-pong runs, journeys through areas on the way,
unlocated events, night and work hours, non-working days, several operators), and on the small
synthetic city's staged events."""

import random
from datetime import date, datetime, timedelta

import pandas as pd
import pytest
from pyspark.sql import functions as F

from jobs.aggregate import hex_hours, trajectories
from jobs.aggregate.located_events import by_subscriber

from tests.unit.aggregate import stay_reference
from tests.unit.aggregate import window_reference as ref

D1, D2 = date(2020, 3, 20), date(2020, 3, 21)          # a Friday (working) and a Saturday
NIGHT, WORK = (0, 6), (9, 18)
EV_SCHEMA = "ds date, operator string, subscriber_key bigint, event_ts_utc timestamp, hour int, loc_id int"
DIM_SCHEMA = "loc_id int, h3_r9 string, h3_r8 string, h3_r7 string, district string, x_km double, y_km double"
FLOATS = ("radius_gyration_km", "km_travelled")
STAY_COLUMNS = ["trips", "district_trips", "stay_put"]


def random_dim(n: int = 14) -> list[tuple]:
    """Cells about 1 km apart along a road, so that some runs lie on the way between their
    neighbours (passed through) and others do not."""
    rng = random.Random(7)
    return [(i, f"c9_{i:02d}", f"c8_{i // 2}", f"c7_{i // 5}", f"D{i // 4}",
             i + rng.uniform(-0.3, 0.3), rng.uniform(-0.4, 0.4)) for i in range(n)]


def random_events(subscribers: int = 400, seed: int = 3) -> list[tuple]:
    """Random walks between a few places with handover noise (a neighbouring cell now and then),
    unlocated events, several operators and two days; timestamps unique per subscriber-day."""
    rng = random.Random(seed)
    rows = []
    for s in range(subscribers):
        op = "401-01" if s % 3 else "401-02"
        for day in (D1, D2):
            if rng.random() < 0.2:
                continue
            n = rng.choice([1, 2, 3, 5, 8, 15, 30])
            minutes = sorted(rng.sample(range(24 * 60), n))
            place = rng.randrange(14)
            for m in minutes:
                r = rng.random()
                if r < 0.15:
                    place = rng.randrange(14)                       # a move
                loc = place
                if rng.random() < 0.2:
                    loc = (place + 1) % 14                          # handover to a neighbour
                if rng.random() < 0.08:
                    loc = None                                      # unlocated
                t = datetime.combine(day, datetime.min.time()) + timedelta(minutes=m, seconds=rng.randrange(60))
                rows.append((day, op, 10_000 + s, t, t.hour, loc))
    return rows


def as_pandas(df, key: list[str]) -> pd.DataFrame:
    return df.toPandas().sort_values(key, ignore_index=True)


def assert_same(new: pd.DataFrame, old: pd.DataFrame, floats=FLOATS) -> None:
    assert len(new) == len(old) and len(new) > 0
    assert list(new.columns) == list(old.columns)
    for c in new.columns:
        if c in floats:
            assert new[c].isna().equals(old[c].isna()), c
            assert new[c].fillna(0).to_numpy() == pytest.approx(old[c].fillna(0).to_numpy(), rel=1e-9, abs=1e-9), c
        else:
            assert new[c].astype(object).where(new[c].notna(), None).tolist() == \
                old[c].astype(object).where(old[c].notna(), None).tolist(), c


def compare(spark, located, dim, trip_res: int, working: list, fine_res: int, resolutions: list[int],
            homes, parts: int, max_minutes=None) -> dict:
    """The pass against both references on the same located events; returns what was compared."""
    located = by_subscriber(located, parts).cache()
    summaries = trajectories.summaries(located, dim, trip_res, working, NIGHT, WORK, max_minutes).cache()
    mv = ref.moves(located, dim, trip_res, max_minutes)
    old = ref.subscriber_days(located, mv, dim, working, NIGHT, WORK, fine_res)
    key = ["ds", "operator", "subscriber_key"]
    new_days = as_pandas(trajectories.subscriber_days(summaries), key)
    window_cols = [c for c in trajectories.COLUMNS if c not in STAY_COLUMNS]
    assert_same(new_days[window_cols], as_pandas(old.select(*window_cols), key))

    stay_days, stay_od = stay_reference.subscriber_days(located.toPandas(), dim.toPandas(), trip_res, max_minutes)
    stay_days = stay_days.sort_values(key, ignore_index=True)
    assert_same(new_days[key + STAY_COLUMNS], stay_days[key + STAY_COLUMNS].astype(new_days[key + STAY_COLUMNS].dtypes))
    od_key = key + ["origin_district", "destination_district"]
    new_od = trajectories.district_trips(summaries).groupBy(*od_key).agg(F.count(F.lit(1)).alias("trips"))
    new_od_pd = as_pandas(new_od, od_key).astype({"trips": "int64"})
    assert_same(new_od_pd, stay_od.astype({"trips": "int64"}).sort_values(od_key, ignore_index=True))

    hex_key = ["ds", "hour", "operator", "resolution", "h3_cell"]
    cols = hex_key + ["subscribers", "residents", "events"]
    new_hex = hex_hours.hex_hour_counts(located, homes, dim, resolutions, parts).select(*cols)
    old_hex = ref.hex_hour_counts(ref.subscriber_hours(located), homes, dim, resolutions).select(*cols)
    new_hex_pd, old_hex_pd = as_pandas(new_hex, hex_key), as_pandas(old_hex, hex_key)
    for c in ("resolution", "subscribers", "residents", "events"):
        new_hex_pd[c], old_hex_pd[c] = new_hex_pd[c].astype("int64"), old_hex_pd[c].astype("int64")
    assert_same(new_hex_pd, old_hex_pd)
    n = {"days": len(new_days), "od": len(new_od_pd), "hex": len(new_hex_pd),
         "stay_put": int(new_days["stay_put"].sum()), "trips": int(new_days["trips"].sum()),
         "ping_pong": int(stay_days["ping_pong"].sum()), "pass_by": int(stay_days["pass_by"].sum())}
    summaries.unpersist()
    located.unpersist()
    return n


@pytest.mark.parametrize("max_minutes", [None, 30])
def test_pass_equals_window_functions_on_random_days(spark, max_minutes):
    dim = spark.createDataFrame(random_dim(), DIM_SCHEMA)
    located = spark.createDataFrame(random_events(), EV_SCHEMA)
    rng = random.Random(5)
    homes = spark.createDataFrame([(d, "401-01" if s % 3 else "401-02", 10_000 + s, f"c9_{rng.randrange(14):02d}")
                                   for s in range(0, 400, 2) for d in (D1, D2)],
                                  "ds date, operator string, subscriber_key bigint, home_h3_cell string")
    n = compare(spark, located, dim, 8, [D1], 9, [9, 8, 7], homes, 3, max_minutes)
    # the random days exercise every branch: trips, people at rest, district trips, residents,
    # runs passed through on the way and (without a time limit: random events are sparse)
    # ping-pong runs
    assert n["days"] > 500 and n["od"] > 100 and n["stay_put"] > 50 and n["trips"] > 200
    assert n["pass_by"] > 20 and (max_minutes is not None or n["ping_pong"] > 20), str(n)


def test_pass_equals_window_functions_on_the_small_city(spark, city_cfg, aggregated_city, period):
    """The staged events of the small city, located as the daily job does, through both."""
    from jobs.aggregate.located_events import located_events
    from jobs.aggregate.operator_daily import EVENTS, load_geo
    from jobs.common import calendar
    from jobs.common.lake import read_table

    paths = aggregated_city.paths
    geo = load_geo(spark, city_cfg, paths, period[-1])
    located = located_events(read_table(spark, EVENTS, paths, ds=period), geo.anchors, city_cfg["city"]["timezone"])
    homes = read_table(spark, "private_trajectories__subscriber_day", paths, ds=period) \
        .select("ds", "operator", "subscriber_key", F.col("night_h3_cell").alias("home_h3_cell"))
    working = [d for d in period if calendar.is_working_day(city_cfg, d)]
    n = compare(spark, located, geo.dim, int(city_cfg["h3"]["map_resolution"]), working, geo.resolutions[0],
                geo.resolutions, homes, 4)
    assert n["days"] > 4000 and n["od"] > 1000 and n["hex"] > 1000
    assert n["ping_pong"] > 1000 and n["pass_by"] > 10_000, str(n)
