"""Subscribers of the synthetic city and their pseudonymous keys."""

import re
from datetime import date

import numpy as np
import pytest

from jobs.simulate.context import SimContext, SimParams
from jobs.simulate.keys import key_to_int64, raw_imsis, raw_msisdns, subscriber_keys
from jobs.simulate.population import build_population, largest_remainder, place_xy, subscriber_counts

N = 40_000


@pytest.fixture(scope="module")
def ctx(city_cfg, tmp_path_factory):
    params = SimParams(start=date(2020, 3, 2), days=2, subscribers=N, events_per_day=50)
    return SimContext(city_cfg, params, tmp_path_factory.mktemp("landing"), salt="test-salt")


@pytest.fixture(scope="module")
def pop(ctx):
    return build_population(ctx)


def test_largest_remainder_is_exact_and_proportional():
    counts = largest_remainder(10, [0.45, 0.35, 0.20])
    assert list(counts) == [5, 3, 2]
    assert largest_remainder(1001, [1, 1]).sum() == 1001


def test_subscriber_split_follows_market_shares(pop, city_cfg):
    for i, op in enumerate(city_cfg["operators"]):
        assert abs((pop.operator == i).sum() - N * op["market_share"]) <= 1
    lo, hi = pop.operator_range(1)
    assert (pop.operator[lo:hi] == 1).all() and hi - lo == (pop.operator == 1).sum()


def test_residents_per_district_follow_population(pop, ctx):
    popn = np.array([d.population for d in ctx.geo.districts], float)
    got = np.bincount(pop.home_district, minlength=len(popn))
    assert np.allclose(got / N, popn / popn.sum(), atol=1 / N)
    assert (ctx.geo.district_index(pop.home_x, pop.home_y) == pop.home_district).all()
    counts = subscriber_counts(pop, ctx)
    assert sum(sum(v.values()) for v in counts.values()) == N
    # each operator's subscribers are spread over districts like the population (+-3 points)
    share = np.array(list(counts["tele2"].values())) / sum(counts["tele2"].values())
    assert np.abs(share - popn / popn.sum()).max() < 0.03


def test_workplaces_concentrate_in_business_centres(pop, ctx, city_cfg):
    emp = pop.employed
    assert abs(emp.mean() - city_cfg["behaviour"]["employed_share"]) < 0.01
    assert np.isnan(pop.work_x[~emp]).all() and not np.isnan(pop.work_x[emp]).any()
    for b in city_cfg["business_centres"]:
        bx, by = ctx.geo.proj.to_xy(b["lat"], b["lon"])
        near = np.hypot(pop.work_x[emp] - bx, pop.work_y[emp] - by) < b["radius_km"]
        assert near.mean() > 0.8 * b["job_weight"]      # most of the centre's jobs lie inside its radius
    hx, hy = pop.home_x[emp], pop.home_y[emp]
    commute_km = np.hypot(pop.work_x[emp] - hx, pop.work_y[emp] - hy)
    assert 3 < np.median(commute_km) < 12


def test_favourite_places_prefer_near_and_attractive(pop, ctx, city_cfg):
    px, py = place_xy(ctx.geo, city_cfg)
    d_fav = np.hypot(px[pop.place] - pop.home_x, py[pop.place] - pop.home_y)
    d_all = np.hypot(px[None, :] - pop.home_x[:, None], py[None, :] - pop.home_y[:, None]).mean(axis=1)
    assert np.median(d_fav) < np.median(d_all)
    shares = np.bincount(pop.place, minlength=len(px)) / N
    names = [p["name"] for p in city_cfg["places"]]
    assert shares[names.index("Barakholka")] > shares[names.index("City Hospital No 7")]
    assert shares.min() > 0.01


def test_activity_and_night_propensity(pop, ctx):
    assert pop.activity.mean() == pytest.approx(ctx.params.events_per_day, rel=0.03)
    assert pop.activity.std() > 0.5 * pop.activity.mean()           # heavy users and quiet ones
    assert (pop.activity > 0).all()
    assert 0 <= pop.night.min() and pop.night.max() <= 1
    assert set(np.unique(pop.night_class)) <= set(range(8))


def test_keys_have_each_operators_format():
    ids = np.arange(200)
    k = subscriber_keys("salt", "kcell", "2020-03", ids)
    b = subscriber_keys("salt", "beeline", "2020-03", ids)
    t = subscriber_keys("salt", "tele2", "2020-03", ids)
    assert all(re.fullmatch(r"[0-9A-F]{16}", x.decode()) for x in k)
    assert all(re.fullmatch(r"[0-9a-f]{64}", x.decode()) for x in b)
    assert all(re.fullmatch(r"[0-9a-f]{16}", x.decode()) for x in t)
    assert len(set(k)) == len(set(b)) == len(set(t)) == 200
    assert isinstance(key_to_int64(k[0].decode()), int)
    assert key_to_int64("ffffffffffffffff") == -1


def test_keys_are_stable_within_a_month_and_change_between_months():
    ids = np.arange(500)
    a = subscriber_keys("salt", "kcell", "2020-03", ids)
    assert (a == subscriber_keys("salt", "kcell", "2020-03", ids)).all()
    assert (a == subscriber_keys("salt", "kcell", "2020-03", ids[::-1])[::-1]).all()
    april = subscriber_keys("salt", "kcell", "2020-04", ids)
    assert not np.isin(a, april).any()
    assert not np.isin(a, subscriber_keys("other-salt", "kcell", "2020-03", ids)).any()


def test_raw_identifiers_look_like_phone_numbers_and_imsis():
    rng = np.random.default_rng(0)
    assert all(re.fullmatch(r"77\d{9}", x.decode()) for x in raw_msisdns(rng, 50))
    assert all(re.fullmatch(r"40101\d{10}", x.decode()) for x in raw_imsis(rng, 50, "401-01"))


def test_population_is_deterministic(ctx, pop):
    again = build_population(ctx)
    assert np.array_equal(again.home_x, pop.home_x) and np.array_equal(again.place, pop.place)
