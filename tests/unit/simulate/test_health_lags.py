"""Ground-truth lags: sign convention, date alignment, edge flag, the designed health lags."""

from datetime import date

import numpy as np
import pandas as pd
import pytest

from jobs.simulate import epidemic as ep
from jobs.simulate.lags import best_lag, cross_correlation, true_lags
from jobs.simulate.timeline import Calendar


def _bump(days: pd.DatetimeIndex, centre: str, width: float = 12.0) -> pd.Series:
    t = (days - pd.Timestamp(centre)).days.to_numpy()
    return pd.Series(np.exp(-0.5 * (t / width) ** 2) + 0.3 * np.exp(-0.5 * ((t - 90) / 20) ** 2), index=days)


def test_positive_lag_means_x_leads_y():
    days = pd.date_range("2020-03-01", periods=200, freq="D")
    y = _bump(days, "2020-05-10")
    x = _bump(days, "2020-05-07")              # x peaks 3 days before y: x leads by 3
    cc = cross_correlation(x, y, 10)
    assert cc.idxmax() == 3 and cc.max() == pytest.approx(1.0, abs=1e-6)
    assert cross_correlation(y, x, 10).idxmax() == -3
    assert best_lag(x, y) == {"lag_days": 3, "r": 1.0, "edge": False}


def test_alignment_uses_dates_not_positions():
    days = pd.date_range("2020-03-01", periods=200, freq="D")
    y = _bump(days, "2020-05-10")
    x = _bump(days, "2020-05-15").iloc[20:].sample(frac=1.0, random_state=1)  # shuffled, shorter
    x = x.drop(x.index[:15])                                                   # and with gaps
    assert cross_correlation(x, y, 10).idxmax() == -5


def test_edge_is_flagged():
    days = pd.date_range("2020-03-01", periods=300, freq="D")
    y = _bump(days, "2020-06-01")
    x = _bump(days, "2020-07-15")              # 44 days behind: outside +-28
    out = best_lag(x, y, 28)
    assert out["edge"] is True and abs(out["lag_days"]) == 28


def test_designed_health_lags(city_cfg):
    cal = Calendar.from_config(city_cfg)
    city = ep.city_series(ep.simulate_epidemic(city_cfg, cal, date(2020, 3, 1), date(2020, 12, 31)))
    lags = true_lags(city)
    assert set(lags) == {"ambulance_respiratory", "pharmacy_antipyretic", "pharmacy_cough_cold",
                         "pharmacy_antiviral", "reported_cases", "hospitalised", "deaths"}
    vs_cases = {k: v["vs_reported_cases"]["lag_days"] for k, v in lags.items()}
    vs_inf = {k: v["vs_infections"]["lag_days"] for k, v in lags.items()}
    assert vs_cases["deaths"] == -14 and lags["deaths"]["vs_reported_cases"]["r"] > 0.9
    assert vs_cases["reported_cases"] == 0
    assert 1 <= vs_cases["ambulance_respiratory"] <= 3          # calls come before lab reports
    assert 4 <= vs_cases["pharmacy_antipyretic"] <= 6           # purchases at symptom onset
    assert vs_cases["hospitalised"] == -3
    assert all(v < 0 for v in vs_inf.values())                 # everything follows infections
    assert vs_inf["pharmacy_antipyretic"] == -5 and vs_inf["deaths"] == -24
    assert not any(v[ref]["edge"] for v in lags.values() for ref in v)
