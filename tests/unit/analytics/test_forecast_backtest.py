"""Rolling-origin backtests of one series (pure pandas): origins, lead estimation, and the skill
table checked by hand."""

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from jobs.analytics import forecast_backtest as fb
from jobs.analytics.forecast_models import LEVELS


def test_origins_are_the_live_day_then_weekly_origins_fully_observed():
    s = fb.ForecastSettings(backtest_origins=3)
    assert fb.origins(date(2020, 10, 26), s) == [date(2020, 10, 26), date(2020, 9, 28),
                                                 date(2020, 9, 21), date(2020, 9, 14)]


def _leading_pair(lead=5, days=200, seed=4):
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2020-01-01", periods=days, freq="D")
    wave = 50 + 400 * np.exp(-0.5 * ((np.arange(days + lead) - 120) / 18) ** 2)
    x = pd.Series(rng.poisson(3 * wave[lead:]).astype(float), index=idx)      # x(t) = 3 wave(t + lead)
    y = pd.Series(rng.poisson(wave[:days]).astype(float), index=idx)          # y(t + lead) follows x(t)
    return x, y


def test_estimate_lead_finds_a_known_lead():
    x, y = _leading_pair(lead=5)
    assert fb.estimate_lead(x, y, max_lag=28) in (4, 5, 6)
    assert fb.estimate_lead(y, x, max_lag=28) in (None, 0)          # y does not lead x


def test_forecast_series_rows_and_skill_counts():
    x, y = _leading_pair()
    wide = pd.DataFrame({"t": y, "x": x.rolling(7).mean()})
    s = fb.ForecastSettings(targets={"t": ["x"]}, backtest_origins=2,
                            models=("persistence", "seasonal_naive"), horizon_days=14)
    ds = date(2020, 6, 30)
    rows = fb.forecast_series(wide.loc[:pd.Timestamp(ds)], "t", ds, s)
    assert sorted(rows["origin"].unique()) == [date(2020, 6, 9), date(2020, 6, 16), ds]
    assert len(rows) == 3 * 2 * 14 * 23
    live = rows[rows["origin"] == ds]
    assert live["observed"].isna().all()                              # nothing after ds is known
    past = rows[rows["origin"] < ds]
    truth = y.reindex(pd.DatetimeIndex(past["target_date"])).to_numpy()
    assert np.array_equal(past["observed"].to_numpy(), truth)
    sk = fb.skill(past, "seasonal_naive")
    assert len(sk) == 2 * 14 and (sk["n_origins"] == 2).all()
    assert np.allclose(sk.loc[sk["model"] == "seasonal_naive", "wis_relative"], 1.0)


def _rows(model, origin, values, observed, scale=2.0):
    """Forecast rows of one origin, horizon 1, given the 23 quantile values."""
    return pd.DataFrame({"origin": origin, "target_date": origin + timedelta(1), "horizon_days": 1,
                         "model": model, "quantile": LEVELS, "value": values, "observed": observed,
                         "mase_scale": scale, "leads": ""})


def test_skill_by_hand():
    o1, o2 = date(2020, 5, 1), date(2020, 5, 8)
    flat = lambda v: np.full(23, float(v))                           # noqa: E731  a point forecast
    f = pd.concat([_rows("a", o1, flat(10), 12.0), _rows("a", o2, flat(10), 10.0),
                   _rows("b", o1, flat(14), 12.0), _rows("b", o2, flat(14), 10.0)])
    sk = fb.skill(f, baseline_model="b").set_index("model")
    # a point forecast (all quantiles equal) missing by e: each interval scores alpha/2 * 2/alpha * |e|
    # = |e| and the median 0.5 |e|, so WIS = (0.5 + 11) |e| / 11.5 = |e|
    assert sk.loc["a", "wis"] == pytest.approx(np.mean([2.0, 0.0]))
    assert sk.loc["b", "wis"] == pytest.approx(np.mean([2.0, 4.0]))
    assert sk.loc["a", "wis_relative"] == pytest.approx(1.0 / 3.0)
    assert bool(sk.loc["a", "beats_baseline"]) and not bool(sk.loc["b", "beats_baseline"])
    assert sk.loc["a", "mae"] == pytest.approx(1.0)
    assert sk.loc["a", "mase"] == pytest.approx(0.5)                 # mean(|e| / 2)
    assert sk.loc["a", "coverage_95"] == pytest.approx(0.5)          # only the exact hit is inside
    assert (sk["n_origins"] == 2).all()


def test_prophet_is_seeded_and_monotone():
    from jobs.analytics import forecast_models as fm

    x, y = _leading_pair(lead=5, days=110)
    x7 = x.rolling(7).mean()
    a = fm.prophet(y, 14, {"x": (x7, 2)})
    b = fm.prophet(y, 14, {"x": (x7, 2)})
    assert np.array_equal(a, b)                                   # seeded
    assert a.shape == (14, 23) and (np.diff(a, axis=1) >= 0).all() and (a >= 0).all()
    assert (a[:, -1] > a[:, 0]).all()                             # a real predictive spread
