"""Outbreak detectors on hand-made series: values checked by hand, alerts where they must fire,
quiet where the series is quiet, and no use of the future."""

import numpy as np
import pandas as pd
import pytest

from jobs.analytics import detectors as d


def series(values, start="2021-01-01"):
    return pd.Series(np.asarray(values, dtype=float), index=pd.date_range(start, periods=len(values)))


def poisson(mean, n, seed=0):
    return np.random.default_rng(seed).poisson(mean, n).astype(float)


def test_c1_c2_values_by_hand():
    vals = [10, 12, 14, 10, 12, 14, 10, 30, 11, 13]
    x = series(vals)
    b = d.Baseline(days=7, guard=0, min_days=7, sd_floor="none", min_sd=0.0)
    c1 = d.ears_c1_c2(x, b, z=3.0)
    base = np.array(vals[:7], dtype=float)
    mean, sd = base.mean(), base.std(ddof=1)
    assert c1["expected"].iloc[7] == pytest.approx(mean)
    assert c1["threshold"].iloc[7] == pytest.approx(mean + 3 * sd)
    assert c1["score"].iloc[7] == pytest.approx((30 - mean) / sd)
    assert bool(c1["alert"].iloc[7]) and not c1["alert"].iloc[:7].any()
    assert c1["expected"].iloc[:7].isna().all() and c1["note"].iloc[0] != ""
    # C2 on index 9: baseline = indices 0..6 (2-day guard: the spike on index 7 stays out of it)
    c2 = d.ears_c1_c2(x, d.Baseline(days=7, guard=2, min_days=7, sd_floor="none", min_sd=0.0))
    assert c2["expected"].iloc[9] == pytest.approx(mean)
    assert np.isnan(c2["expected"].iloc[8])              # only 6 baseline days before the guard


def test_poisson_floor_keeps_constant_series_quiet():
    x = series([5.0] * 40 + [7.0])
    raw = d.ears_c1_c2(x, d.Baseline(sd_floor="none", min_sd=0.0))
    floored = d.ears_c1_c2(x, d.Baseline())
    assert raw["alert"].iloc[-1]                          # sd 0: any rise alerts
    assert not floored["alert"].iloc[-1]                  # sqrt(5) floor: 7 is within mean + 3 sd
    assert floored["threshold"].iloc[-1] == pytest.approx(5 + 3 * np.sqrt(5))


def test_c3_sums_excess_of_three_days_and_threshold_matches_alert():
    vals = list(poisson(20, 60, seed=3)) + [20 + 2.5 * np.sqrt(20)] * 3
    x = series(vals)
    b = d.Baseline()
    c2 = d.ears_c1_c2(x, b)
    c3 = d.ears_c3(x, b)
    part = (c2["score"] - 1).clip(lower=0)
    assert c3["score"].iloc[-1] == pytest.approx(part.iloc[-3:].sum())
    assert not c2["alert"].iloc[-3:].any()                # each day alone is under mean + 3 sd
    assert c3["alert"].iloc[-1]                           # three days of +2.5 sd add up above 2
    ok = c3["threshold"].notna()
    assert (c3.loc[ok, "alert"] == (x[ok] > c3.loc[ok, "threshold"])).all()


def test_c3_after_two_high_days_alerts_whatever_the_count_and_says_why():
    vals = list(poisson(20, 60, seed=4)) + [20 + 4 * np.sqrt(20)] * 2 + [0.0]
    c3 = d.ears_c3(series(vals), d.Baseline())
    last = c3.iloc[-1]
    assert last["alert"] and np.isnan(last["threshold"]) and last["note"] == d.CARRIED
    assert last["score"] > 2 and not np.isnan(last["expected"])


@pytest.mark.parametrize("method", ["ears_c1", "ears_c2", "ears_c3", "ewma"])
def test_spike_fires_and_quiet_poisson_series_stays_quiet(method):
    vals = poisson(30, 400, seed=11)
    out = d.detect(series(vals))
    quiet = out[out["method"] == method]
    firings = d.episodes(quiet["alert"]).sum()
    assert firings <= 4, f"{method}: {firings} false alert episodes in 400 quiet days"
    spiked = vals.copy()
    spiked[300:303] += 40                                 # +7 sd for three days
    s = d.detect(series(spiked))
    s = s[s["method"] == method].set_index("day")
    fired = s["alert"].iloc[300:303]
    assert fired.any(), method
    assert s["alert_level"].iloc[300:303].isin(["watch", "warning"]).any()


def test_every_method_alerts_exactly_when_observed_exceeds_threshold():
    vals = np.concatenate([poisson(15, 120, seed=5), 15 * np.exp(0.08 * np.arange(60))])
    out = d.detect(series(vals))
    ok = out["threshold"].notna()
    assert ok.sum() > 400
    assert (out.loc[ok, "alert"] == (out.loc[ok, "observed"] > out.loc[ok, "threshold"])).all()
    carried = out["note"] == d.CARRIED                   # C3 held over its limit by the days before
    assert not out.loc[~ok & ~carried, "alert"].any()
    assert out.loc[carried, "alert"].all() and set(out.loc[carried, "method"]) <= {"ears_c3"}


def test_guard_band_keeps_an_outbreak_out_of_its_own_baseline():
    vals = list(poisson(20, 60, seed=8)) + [45.0] * 5
    out = d.detect(series(vals)).set_index(["method", "day"])
    day3 = series(vals).index[62]                       # third day of the step
    assert out.loc[("ears_c2", day3), "expected"] < out.loc[("ears_c1", day3), "expected"]
    assert out.loc[("ears_c2", day3), "score"] > out.loc[("ears_c1", day3), "score"]


def test_ewma_catches_a_small_sustained_shift_that_c1_misses():
    rng = np.random.default_rng(21)
    vals = np.concatenate([rng.normal(100, 10, 80), rng.normal(115, 10, 20)])   # +1.5 sd step
    out = d.detect(series(vals))
    settings_free = out[out["day"] >= series(vals).index[80]]
    ewma = settings_free[settings_free["method"] == "ewma"]["alert"]
    c1 = settings_free[settings_free["method"] == "ears_c1"]["alert"]
    assert ewma.iloc[:10].any()
    assert ewma.sum() > c1.sum()


def test_ewma_recursion_by_hand():
    x = series([10.0] * 30 + [20.0])
    b = d.Baseline(days=28, guard=2, min_days=21, sd_floor="none", min_sd=1.0)
    e = d.ewma(x, b, lam=0.5, width=3.0)
    # baseline mean 10, sd floored at 1; s = 10 until day 30, then 0.5 * 20 + 0.5 * 10 = 15
    sigma = np.sqrt(0.5 / 1.5)
    assert e["score"].iloc[-1] == pytest.approx((15 - 10) / sigma)
    assert e["threshold"].iloc[-1] == pytest.approx((10 + 3 * sigma - 0.5 * 10) / 0.5)
    assert e["alert"].iloc[-1]


def test_results_do_not_depend_on_later_days():
    vals = np.concatenate([poisson(25, 150, seed=2), 25 * np.exp(0.05 * np.arange(50))])
    full = d.detect(series(vals)).set_index(["method", "day"]).sort_index()
    for cut in (60, 160, 199):
        part = d.detect(series(vals[: cut + 1])).set_index(["method", "day"]).sort_index()
        last = series(vals).index[cut]
        a = part.xs(last, level="day")
        b = full.xs(last, level="day")
        pd.testing.assert_frame_equal(a, b)


def test_farrington_needs_a_year_and_then_flags_the_outbreak():
    days = 800
    t = np.arange(days)
    mean = 20 * (1 + 0.3 * np.cos(2 * np.pi * t / 365.25))
    vals = np.random.default_rng(4).poisson(mean).astype(float)
    vals[700:705] += 35
    f = d.farrington(series(vals))
    assert f["expected"].iloc[:364].isna().all()
    assert "needs" in f["note"].iloc[100]
    assert f["expected"].iloc[400:].notna().all()
    assert f["alert"].iloc[700:705].all()
    quiet = f["alert"].iloc[400:700]
    assert d.episodes(quiet).sum() <= 3
    # the seasonal expectation follows the same time of year
    assert f["expected"].iloc[730] > f["expected"].iloc[550]


def test_alert_levels_and_episodes():
    a = pd.Series([False, True, True, False, True, True, True])
    assert d.alert_levels(a).tolist() == ["none", "watch", "warning", "none", "watch", "warning", "warning"]
    assert d.episodes(a).tolist() == [False, True, False, False, True, False, False]


def test_missing_days_are_kept_out_of_rows_and_baselines():
    x = series(poisson(10, 50, seed=1))
    x.iloc[40] = np.nan
    gappy = x.drop(x.index[45])                          # a day without any row at all
    out = d.detect(gappy)
    assert set(out["method"]) == set(d.METHODS)
    per_method = out.groupby("method").size()
    assert (per_method == 48).all()
    c1 = out[out["method"] == "ears_c1"].set_index("day")
    assert c1.loc[x.index[46], "baseline_days"] == 26   # 28 days minus the two missing ones
