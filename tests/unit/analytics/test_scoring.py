"""Scores of quantile forecasts (WIS, interval score, coverage, MASE scale) on hand-checked
examples, and the baselines' quantiles (monotone, medians as defined)."""

import numpy as np
import pandas as pd
import pytest

from jobs.analytics import forecast_models as fm
from jobs.analytics import scoring


def test_wis_hand_checked_one_interval():
    # levels 0.25, 0.5, 0.75 = median + the central 50 % interval [8, 12]; y = 15 lies above it.
    # IS_0.5 = (12 - 8) + 2 / 0.5 * (15 - 12) = 16; WIS = (0.5 * |15 - 10| + 0.5 / 2 * 16) / 1.5
    got = scoring.wis([[8, 10, 12]], [0.25, 0.5, 0.75], [15])
    assert got == pytest.approx([(2.5 + 4.0) / 1.5])
    # inside the interval only the width and the distance to the median count
    assert scoring.wis([[8, 10, 12]], [0.25, 0.5, 0.75], [11]) == pytest.approx([(0.5 + 0.25 * 4) / 1.5])


def test_wis_hand_checked_two_intervals_below():
    # levels 0.1, 0.25, 0.5, 0.75, 0.9 -> intervals alpha 0.2 [2, 18] and alpha 0.5 [6, 14]; y = 0
    # IS_0.2 = 16 + 2 / 0.2 * 2 = 36, IS_0.5 = 8 + 2 / 0.5 * 6 = 32
    # WIS = (0.5 * 10 + 0.1 * 36 + 0.25 * 32) / 2.5 = 16.6 / 2.5
    got = scoring.wis([[2, 6, 10, 14, 18]], [0.1, 0.25, 0.5, 0.75, 0.9], [0])
    assert got == pytest.approx([16.6 / 2.5])


def test_wis_equals_mean_pinball_form_on_23_levels():
    rng = np.random.default_rng(3)
    values = np.sort(rng.normal(50, 10, size=(40, 23)), axis=1)
    y = rng.normal(50, 15, size=40)
    tau = fm.LEVELS
    pinball = ((y[:, None] - values) * (tau - (y[:, None] < values))).sum(axis=1) / 11.5
    assert scoring.wis(values, tau, y) == pytest.approx(pinball)


def test_wis_of_a_perfect_point_forecast_is_zero():
    v = np.full((1, 23), 7.0)
    assert scoring.wis(v, fm.LEVELS, [7.0]) == pytest.approx([0.0])


def test_wis_needs_symmetric_levels():
    with pytest.raises(ValueError):
        scoring.wis([[1, 2, 3]], [0.2, 0.5, 0.75], [2])


def test_coverage_hand_checked():
    levels = fm.LEVELS
    base = np.tile(np.arange(23, dtype=float), (4, 1))     # value = index of the level
    # 50 % interval: levels 0.25 (index 6) .. 0.75 (index 16); 95 %: 0.025 (1) .. 0.975 (21)
    y = np.array([6.0, 16.5, 1.0, 22.0])
    assert scoring.covered(base, levels, y, 0.5).tolist() == [True, False, False, False]
    assert scoring.covered(base, levels, y, 0.95).tolist() == [True, True, True, False]


def test_seasonal_naive_scale():
    h = np.array([1, 2, 3, 4, 5, 6, 7, 3, 2, 3, 4, 5, 6, 9], dtype=float)
    # |h[t] - h[t-7]| = 2, 0, 0, 0, 0, 0, 2 -> mean 4/7
    assert scoring.seasonal_naive_scale(h) == pytest.approx(4 / 7)
    assert np.isnan(scoring.seasonal_naive_scale(np.ones(20)))


def test_quantiles_from_samples_are_monotone_and_floored():
    rng = np.random.default_rng(0)
    q = fm.monotone_quantiles(rng.normal(1, 5, size=(28, 200)))
    assert q.shape == (28, 23)
    assert (np.diff(q, axis=1) >= 0).all()
    assert (q >= 0).all()


def _weekly_series(days=120, seed=1):
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2020-03-01", periods=days, freq="D")
    level = 100 + 30 * (idx.dayofweek == 0) - 40 * (idx.dayofweek >= 5)
    return pd.Series(rng.poisson(level).astype(float), index=idx)


@pytest.mark.parametrize("model", ["persistence", "seasonal_naive", "quantile_baseline"])
def test_baselines_give_monotone_non_negative_quantiles(model):
    y = _weekly_series()
    q = getattr(fm, model)(y, 28)
    assert q.shape == (28, 23)
    assert (np.diff(q, axis=1) >= 0).all()
    assert (q >= 0).all()
    assert (q[:, -1] > q[:, 0]).all()                      # a real spread at every horizon


def test_baseline_medians_follow_their_rules():
    y = _weekly_series()
    mid = int(np.flatnonzero(fm.LEVELS == 0.5)[0])
    assert fm.persistence(y, 28)[:, mid] == pytest.approx(np.full(28, y.iloc[-1]))
    assert fm.quantile_baseline(y, 28)[:, mid] == pytest.approx(np.full(28, y.iloc[-1]))
    last_week = y.iloc[-7:].to_numpy()
    assert fm.seasonal_naive(y, 28)[:, mid] == pytest.approx(np.tile(last_week, 4))


def test_shifted_regressor_moves_forward_and_carries_the_last_value():
    x = pd.Series([1.0, 2.0, 3.0, 4.0], index=pd.date_range("2020-01-01", periods=4))
    days = pd.date_range("2020-01-01", periods=7)
    got = fm.shifted_regressor(x, 2, days)
    assert got.tolist() == [2.5, 2.5, 1.0, 2.0, 3.0, 4.0, 4.0]
