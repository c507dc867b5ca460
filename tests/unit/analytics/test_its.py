"""Segmented regression on hand-made daily series: known level changes recovered with honest CIs."""

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from jobs.analytics.its import Window, design, segmented_fit

CHANGE = date(2020, 3, 19)
WEEKLY = np.array([1.05, 1.0, 1.0, 1.0, 1.08, 0.85, 0.7])    # Monday..Sunday


def series(level_before, factor_after, noise=0.02, seed=0, days=130, start=date(2020, 1, 3), ar=0.0,
           holidays=frozenset(), holiday_factor=1.0):
    rng = np.random.default_rng(seed)
    idx = pd.date_range(start, periods=days)
    e = np.zeros(days)
    for i in range(days):
        e[i] = (ar * e[i - 1] if i else 0.0) + rng.normal(0, noise)
    base = level_before * WEEKLY[idx.weekday] * np.where([d.date() in holidays for d in idx], holiday_factor, 1.0)
    after = np.where(idx >= pd.Timestamp(CHANGE), factor_after, 1.0)
    return pd.Series(base * after * (1 + e), index=idx)


def test_known_drop_recovered_in_percent_with_ci_covering_it():
    y = series(3.0, 0.6)
    fit = segmented_fit(y, CHANGE, date(2020, 5, 11))
    assert fit.effect == pytest.approx(-40.0, abs=2.0)
    assert fit.ci_low < -40.0 < fit.ci_high
    assert fit.ci_high - fit.ci_low < 8
    assert fit.p_value < 1e-6
    assert fit.pre_days == 76 and fit.post_days == 54
    assert fit.counterfactual == pytest.approx(3.0 * WEEKLY.mean(), rel=0.05)


def test_share_effect_in_percentage_points():
    idx = pd.date_range("2020-01-03", periods=120)
    rng = np.random.default_rng(1)
    y = pd.Series(np.where(idx >= pd.Timestamp(CHANGE), 0.42, 0.15) + rng.normal(0, 0.01, len(idx)), index=idx)
    fit = segmented_fit(y, CHANGE, date(2020, 5, 1), scale="pp")
    assert fit.effect == pytest.approx(27.0, abs=1.0)
    assert fit.ci_low < 27.0 < fit.ci_high


def test_no_change_gives_an_interval_around_zero():
    fits = [segmented_fit(series(3.0, 1.0, seed=s), CHANGE, date(2020, 5, 11)) for s in range(20)]
    covered = sum(f.ci_low <= 0 <= f.ci_high for f in fits)
    assert covered >= 17                                 # nominal 95 % of 20
    assert all(abs(f.effect) < 5 for f in fits)


def test_hac_intervals_stay_honest_with_autocorrelated_noise():
    ys = [series(3.0, 0.7, noise=0.03, ar=0.7, seed=s) for s in range(20)]
    hac = [segmented_fit(y, CHANGE, date(2020, 5, 11)) for y in ys]
    white = [segmented_fit(y, CHANGE, date(2020, 5, 11), w=Window(hac_lags=0)) for y in ys]
    covered_hac = sum(f.ci_low <= -30 <= f.ci_high for f in hac)
    covered_white = sum(f.ci_low <= -30 <= f.ci_high for f in white)
    assert covered_hac >= 16                             # nominal 95 % of 20; HAC is a bit liberal at AR 0.7
    assert covered_white <= covered_hac
    width = np.mean([f.ci_high - f.ci_low for f in hac]) / np.mean([f.ci_high - f.ci_low for f in white])
    assert width > 1.1                                   # autocorrelation widens the interval


def test_holidays_do_not_bias_the_effect():
    hol = frozenset({date(2020, 3, 20), date(2020, 3, 23), date(2020, 3, 24), date(2020, 3, 25),
                     date(2020, 1, 7), date(2020, 3, 9)})
    y = series(3.0, 0.6, holidays=hol, holiday_factor=0.6)
    with_h = segmented_fit(y, CHANGE, date(2020, 5, 11), holidays=hol)
    without = segmented_fit(y, CHANGE, date(2020, 5, 11))
    assert with_h.effect == pytest.approx(-40.0, abs=2.0)
    assert abs(without.effect + 40) > abs(with_h.effect + 40)


def test_too_few_days_give_no_effect_and_a_note():
    y = series(3.0, 0.6)
    fit = segmented_fit(y, CHANGE, CHANGE + timedelta(days=5))
    assert fit.effect is None and fit.post_days == 6 and "needs" in fit.note
    late = segmented_fit(y.loc["2020-03-05":], CHANGE, date(2020, 5, 11))
    assert late.effect is None and late.pre_days == 14


def test_windows_stop_at_neighbouring_restrictions_and_the_analysis_day():
    y = series(3.0, 0.6, days=200)
    # a previous restriction until 2020-02-10 cut the level in half: the pre window must skip it
    y.loc[:"2020-02-10"] *= 0.5
    fit = segmented_fit(y, CHANGE, date(2020, 7, 1), pre_from=date(2020, 2, 11), post_to=date(2020, 4, 30))
    assert fit.pre_days == (CHANGE - date(2020, 2, 11)).days
    assert fit.post_days == (date(2020, 4, 30) - CHANGE).days + 1
    assert fit.effect == pytest.approx(-40.0, abs=3.0)
    unclipped = segmented_fit(y, CHANGE, date(2020, 7, 1), w=Window(pre_max=84), post_to=date(2020, 4, 30))
    assert abs(unclipped.effect + 40) > abs(fit.effect + 40)


def test_design_has_weekday_holiday_and_segment_columns():
    days = pd.date_range("2020-03-16", periods=7)
    x = design(days, CHANGE, frozenset({date(2020, 3, 20), date(2020, 3, 21)}))
    assert x["t"].tolist() == [-3, -2, -1, 0, 1, 2, 3]
    assert x["post"].tolist() == [0, 0, 0, 1, 1, 1, 1]
    assert x["t_post"].tolist() == [0, 0, 0, 0, 1, 2, 3]
    assert x["holiday"].tolist() == [0, 0, 0, 0, 1, 0, 0]   # a Saturday holiday is already a day off
    assert x[[f"wd{i}" for i in range(1, 7)]].sum(axis=1).tolist() == [0, 1, 1, 1, 1, 1, 1]


def test_effect_is_the_mean_change_over_the_post_window_when_the_change_fades():
    """A drop of 60 % that recovers linearly to 20 % over the 44 post days: the effect is the
    mean drop of those days (40 %), not the drop on the change day; the slope says it fades."""
    idx = pd.date_range("2020-01-03", periods=120)
    t = np.asarray((idx - pd.Timestamp(CHANGE)).days, dtype=float)
    drop = np.where(t >= 0, 0.6 - 0.4 * t / 43, 0.0)
    y = pd.Series(2.0 * (1 - drop) * (1 + np.random.default_rng(3).normal(0, 0.01, len(idx))), index=idx)
    fit = segmented_fit(y, CHANGE, date(2020, 5, 1))
    assert fit.post_days == 44
    assert fit.effect == pytest.approx(-40.0, abs=1.5)
    assert fit.level_change == pytest.approx(-1.2, abs=0.05)          # -60 % of 2.0 on the change day
    assert fit.slope_change == pytest.approx(0.8 / 43, rel=0.1)      # recovering: positive slope
    assert fit.ci_low < -40.0 < fit.ci_high and fit.p_value < 1e-6
