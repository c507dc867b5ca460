"""The synthetic city's epidemic: two waves, delays, reporting pattern, spatial unevenness."""

import copy
from datetime import date

import numpy as np
import pandas as pd
import pytest

from jobs.simulate import epidemic as ep
from jobs.simulate.timeline import Calendar

FIRST, LAST = date(2020, 2, 1), date(2021, 2, 28)


@pytest.fixture(scope="module")
def cal(city_cfg):
    return Calendar.from_config(city_cfg)


@pytest.fixture(scope="module")
def epi(city_cfg, cal):
    return ep.simulate_epidemic(city_cfg, cal, FIRST, LAST)


@pytest.fixture(scope="module")
def city(epi):
    c = ep.city_series(epi)
    c.index = pd.to_datetime(c.index)
    return c


def test_kernels_are_distributions_peaking_where_designed():
    k = ep.delay_kernels()
    for name, w in k.items():
        assert w.sum() == pytest.approx(1.0), name
        assert (w >= 0).all(), name
    mode = {name: int(np.argmax(w)) for name, w in k.items()}
    assert 4 <= mode["pharmacy_antipyretic"] <= 5
    assert 6 <= mode["ambulance_respiratory"] <= 7
    assert 9 <= mode["reported_cases"] <= 10
    assert 12 <= mode["hospitalised"] <= 13
    assert 22 <= mode["deaths"] <= 24
    mean = {name: float((np.arange(len(w)) * w).sum()) for name, w in k.items()}
    assert mean["deaths"] - mean["reported_cases"] == pytest.approx(14, abs=0.5)
    # the ambulance kernel peaks before the report kernel but has the longer right tail
    amb, rep = k["ambulance_respiratory"], k["reported_cases"]
    assert amb[21:].sum() > 0.02 and amb[21:].sum() > 3 * rep[21:].sum()


def test_two_waves_with_realistic_peaks(city):
    reported = city["reported_cases"].rolling(7).mean()
    wave1 = reported["2020-05-01":"2020-08-31"]
    wave2 = reported["2020-10-01":"2021-01-15"]
    trough = reported["2020-08-15":"2020-10-15"].min()
    assert pd.Timestamp("2020-06-20") <= wave1.idxmax() <= pd.Timestamp("2020-07-31")
    assert pd.Timestamp("2020-10-15") <= wave2.idxmax() <= pd.Timestamp("2020-12-31")
    for peak in (wave1.max(), wave2.max()):
        assert 150 <= peak <= 1000           # hundreds of lab-confirmed cases a day at the peaks
        assert trough < 0.35 * peak
    assert reported[:"2020-03-07"].max() == 0 # nothing before the first seeding


def test_weekend_dip_with_monday_catch_up(city):
    rep = city["reported_cases"]["2020-05-01":"2021-01-31"]
    ratio = rep / rep.rolling(7, center=True).mean()
    by_dow = ratio.groupby(ratio.index.dayofweek).mean()
    assert by_dow[5] < 0.75 and by_dow[6] < 0.75
    assert by_dow[0] > 1.2
    values = np.random.default_rng(1).uniform(10, 20, 28)
    days = [date(2020, 6, 1) + pd.Timedelta(days=i) for i in range(28)]   # 2020-06-01 is a Monday
    out = ep.weekend_reporting(values, days)
    assert out.sum() == pytest.approx(values.sum() - values[-2:].sum() * (1 - ep.WEEKEND_REPORTING))


def test_window_does_not_change_the_epidemic(city_cfg, cal, epi):
    short = ep.simulate_epidemic(city_cfg, cal, date(2020, 6, 1), date(2020, 9, 30))
    full = epi.set_index(["day", "district"]).loc[short.set_index(["day", "district"]).index]
    np.testing.assert_allclose(short["new_infections"].to_numpy(), full["new_infections"].to_numpy())
    np.testing.assert_allclose(short["deaths"].to_numpy(), full["deaths"].to_numpy())


def test_districts_are_hit_unevenly(epi, city_cfg):
    june = epi[(epi["day"] >= "2020-06-01") & (epi["day"] <= "2020-06-30")]
    by_district = june.groupby("district")
    per_capita = by_district["new_infections"].sum() / by_district["population"].first()
    assert per_capita.max() / per_capita.min() > 1.3
    mult = city_cfg["epidemic"]["district_r_multiplier"]
    assert per_capita.idxmax() == max(mult, key=mult.get)
    assert per_capita.idxmin() == min(mult, key=mult.get)


def test_restrictions_cut_transmission(city_cfg, cal):
    cfg = copy.deepcopy(city_cfg)
    cfg["epidemic"]["transmission_cut"] = 0.0
    loose = ep.city_series(ep.simulate_epidemic(cfg, cal, date(2020, 3, 1), date(2020, 5, 11)))
    strict = ep.city_series(ep.simulate_epidemic(city_cfg, cal, date(2020, 3, 1), date(2020, 5, 11)))
    assert strict["new_infections"].sum() < 0.5 * loose["new_infections"].sum()


def test_signals_scale_with_configured_rates(epi, city_cfg):
    e = city_cfg["epidemic"]
    inf = epi["new_infections"].sum()
    # kernels are truncated at KERNEL_DAYS, and the window ends mid-wave: compare with tolerance
    assert epi["deaths"].sum() == pytest.approx(e["fatality_rate"] * inf, rel=0.1)
    assert epi["hospitalised"].sum() == pytest.approx(e["hospitalisation_rate"] * inf, rel=0.1)
    assert epi["reported_cases"].sum() == pytest.approx(e["ascertainment"] * inf, rel=0.1)
