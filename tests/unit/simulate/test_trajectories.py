"""Daily schedules: well-formed stays, realistic times, truth metrics, restriction effects."""

from datetime import date

import numpy as np
import pytest

from jobs.simulate.context import SimContext, SimParams
from jobs.simulate.population import build_population, place_xy
from jobs.simulate.trajectories import (DAY_S, DETOUR, HOME, TRAVEL_OVERHEAD_S, WORK, DayPlan, MobilityTruth,
                                        day_metrics, district_effects, expected_day, restriction_effects,
                                        simulate_day)

WORKING, DAY_OFF, LOCKDOWN = date(2020, 3, 4), date(2020, 3, 7), date(2020, 4, 1)   # Wed, Sat, Wed


@pytest.fixture(scope="module")
def ctx(city_cfg, tmp_path_factory):
    params = SimParams(start=date(2020, 3, 2), days=45, subscribers=40_000)
    return SimContext(city_cfg, params, tmp_path_factory.mktemp("landing"), salt="s")


@pytest.fixture(scope="module")
def pop(ctx):
    return build_population(ctx)


def plan_for(ctx, pop, day, seed=1):
    px, py = place_xy(ctx.geo, ctx.cfg)
    eff = district_effects(ctx.cfg, ctx.calendar, ctx.geo.districts, day)
    return simulate_day(pop, ctx.calendar.day_type(day), eff, ctx.cfg["behaviour"], px, py,
                        np.random.default_rng(seed))


@pytest.fixture(scope="module")
def plans(ctx, pop):
    return {d: plan_for(ctx, pop, d) for d in (WORKING, DAY_OFF, LOCKDOWN)}


def test_stays_are_well_formed(plans, pop):
    p = plans[WORKING]
    first = np.r_[True, p.sub[1:] != p.sub[:-1]]
    last = np.r_[p.sub[1:] != p.sub[:-1], True]
    assert np.array_equal(np.unique(p.sub), np.arange(pop.n))       # everyone has a day
    assert (p.start[first] == 0).all() and (p.end[last] == DAY_S).all()
    assert (p.kind[first] == HOME).all() and (p.kind[last] == HOME).all()
    assert np.allclose(p.x[first], pop.home_x) and np.allclose(p.x[last], pop.home_x[p.sub[last]])
    assert (p.end > p.start).all()
    same = ~last[:-1]
    assert (p.start[1:][same] > p.end[:-1][same]).all()              # travel takes time
    moved = np.hypot(np.diff(p.x), np.diff(p.y))[same]
    assert (moved > 0).all()                                          # a stay change is a trip
    assert not ((p.kind[1:] == HOME) & (p.kind[:-1] == HOME))[same].any()


def test_travel_time_grows_with_distance(plans, pop):
    p = plans[WORKING]
    same = p.sub[1:] == p.sub[:-1]
    gap = (p.start[1:] - p.end[:-1])[same]
    dist = np.hypot(np.diff(p.x), np.diff(p.y))[same]
    speed = pop.speed_kmh[p.sub[:-1][same]]
    assert np.allclose(gap, dist * DETOUR / speed * 3600 + TRAVEL_OVERHEAD_S, rtol=1e-4)


def test_commuters_leave_in_the_morning_and_return_in_the_evening(plans):
    p = plans[WORKING]
    work = np.flatnonzero(p.kind == WORK)
    leave_home = p.end[work - 1] / 3600
    assert 7.5 < np.median(leave_home) < 9.0 and leave_home.min() >= 6.0
    last = np.r_[p.sub[1:] != p.sub[:-1], True]
    has_work = np.zeros(p.n, bool)
    has_work[p.sub[work]] = True
    arrive_home = p.start[last & has_work[p.sub]] / 3600
    assert 17.5 < np.median(arrive_home) < 20.0
    assert np.median(p.end[work] - p.start[work]) / 3600 > 7


def test_working_days_have_more_trips_than_days_off(plans):
    w, o = day_metrics(plans[WORKING]), day_metrics(plans[DAY_OFF])
    assert w["trips"].mean() > 1.3 * o["trips"].mean()
    assert w["stay_put"].mean() < o["stay_put"].mean()
    assert (plans[WORKING].kind == WORK).sum() > 4 * (plans[DAY_OFF].kind == WORK).sum()


@pytest.mark.parametrize("day", [WORKING, DAY_OFF, LOCKDOWN])
def test_truth_matches_the_configured_behaviour(ctx, pop, plans, day):
    m = day_metrics(plans[day])
    beh = ctx.cfg["behaviour"]
    eff = district_effects(ctx.cfg, ctx.calendar, ctx.geo.districts, day)
    for kind in ("business_centre", "residential", "outskirts"):
        idx = [i for i, d in enumerate(ctx.geo.districts) if d.kind == kind]
        sel = np.isin(pop.home_district, idx)
        effect = {k: v[idx[0]] for k, v in eff.items()}
        exp = expected_day(beh, ctx.calendar.day_type(day), effect, employed_share=pop.employed[sel].mean())
        assert m["stay_put"][sel].mean() == pytest.approx(exp["stay_put_share"], abs=0.02)
        assert m["trips"][sel].mean() == pytest.approx(exp["trips_per_person"], rel=0.05)


def test_restriction_cuts_trips_and_raises_stay_put_by_the_configured_effect(ctx, pop, plans):
    assert ctx.calendar.day_type(LOCKDOWN) == ctx.calendar.day_type(WORKING) == "working_day"
    assert ctx.calendar.active(LOCKDOWN).id == "R1" and ctx.calendar.active(WORKING) is None
    base, lock = day_metrics(plans[WORKING]), day_metrics(plans[LOCKDOWN])
    effects = restriction_effects(ctx.cfg, ctx.calendar)["R1"]["by_district_type"]
    for kind in ("business_centre", "outskirts"):
        sel = np.isin(pop.home_district, [i for i, d in enumerate(ctx.geo.districts) if d.kind == kind])
        want = effects[kind]["working_day"]
        trips_pct = 100 * (lock["trips"][sel].mean() / base["trips"][sel].mean() - 1)
        put_pct = 100 * (lock["stay_put"][sel].mean() / base["stay_put"][sel].mean() - 1)
        assert trips_pct == pytest.approx(want["trips_per_person"]["change_pct"], abs=5)
        assert put_pct == pytest.approx(want["stay_put_share"]["change_pct"], abs=10)
        assert trips_pct < -50 and put_pct > 50
    # stricter response in business-centre districts than in the outskirts, as configured
    assert effects["business_centre"]["working_day"]["trips_per_person"]["change_pct"] < \
        effects["outskirts"]["working_day"]["trips_per_person"]["change_pct"]


def test_day_metrics_on_a_hand_made_day():
    # subscriber 0: home (0,0) -> work (3,4) -> home; subscriber 1 stays home
    plan = DayPlan(2, np.array([0, 0, 0, 1], np.int32), np.array([HOME, WORK, HOME, HOME], np.int8),
                   np.array([0.0, 3.0, 0.0, 1.0]), np.array([0.0, 4.0, 0.0, 1.0]),
                   np.array([0.0, 30_000.0, 70_000.0, 0.0]), np.array([28_800.0, 66_400.0, DAY_S, DAY_S]))
    m = day_metrics(plan)
    assert list(m["trips"]) == [2, 0] and list(m["stay_put"]) == [False, True]
    assert m["km"] == pytest.approx([10.0, 0.0])
    w = np.array([28_800.0, 36_400.0, 16_400.0])
    cx, cy = 3 * w[1] / w.sum(), 4 * w[1] / w.sum()
    rg = np.sqrt((w * (np.array([0, 3, 0]) - cx) ** 2 + w * (np.array([0, 4, 0]) - cy) ** 2).sum() / w.sum())
    assert m["rg"] == pytest.approx([rg, 0.0])
    truth = MobilityTruth(["A", "B"])
    truth.add(WORKING, "all", np.array([0, 1]), m, np.array([10, 4]))
    truth.close_day(WORKING)
    a = truth.days["all"][WORKING.isoformat()]
    assert a["A"]["trips_per_person"] == 2 and a["B"]["stay_put_share"] == 1 and a["A"]["events"] == 10
    assert a["A"]["km_travelled_mean"] == pytest.approx(10.0)


def test_voluntary_caution_follows_lagged_cases_and_saturates(city_cfg):
    from datetime import date, timedelta

    from jobs.simulate.trajectories import voluntary_caution, with_caution

    vr = city_cfg["behaviour"]["voluntary_response"]
    pop = sum(d["population"] for d in city_cfg["districts"])
    day = date(2020, 10, 20)
    seen = day - timedelta(days=vr["lag_days"])
    half = vr["saturation_per_100k"] / 2 * pop / 1e5
    cases = {seen - timedelta(days=i): half for i in range(7)}
    assert voluntary_caution(city_cfg, {}, day) == 0.0
    assert voluntary_caution(city_cfg, cases, day) == pytest.approx(vr["max_response"] / 2)
    assert voluntary_caution(city_cfg, cases, day + timedelta(days=7)) == 0.0   # news not yet seen
    flood = {k: v * 10 for k, v in cases.items()}
    assert voluntary_caution(city_cfg, flood, day) == pytest.approx(vr["max_response"])
    base = {"commute": 1.0, "visit": 1.0, "errand": 1.0, "add_stay_home": 0.0}
    eff = with_caution(base, 0.3)
    assert eff["commute"] == 1.0 and eff["visit"] == pytest.approx(0.7) and eff["add_stay_home"] > 0
