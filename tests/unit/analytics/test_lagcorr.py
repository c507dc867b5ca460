"""The pure lagged-correlation API (jobs.analytics.lagcorr): sign convention, exact recovery of a
known lag, no spurious findings between independent random walks, n_eff, CIs and p-values."""

import math
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from jobs.analytics import lagcorr
from jobs.analytics.lagcorr import cross_correlate, curve_from_arrays, lead_lag

DAYS = pd.date_range("2020-01-01", periods=300, freq="D")


_LATENT = np.cumsum(np.random.default_rng(99).normal(0, 0.04, len(DAYS) + 200))


def _waves(shift: int, seed: int = 0, noise: float = 0.03) -> pd.Series:
    """Two epidemic-like waves (peaks near day 120 and day 250) times a shared random wobble,
    delayed by ``shift`` days, with independent multiplicative noise (seeded)."""
    t = np.arange(len(DAYS)) - shift
    level = 20 + 300 * np.exp(-0.5 * ((t - 120) / 18) ** 2) + 200 * np.exp(-0.5 * ((t - 250) / 25) ** 2)
    rng = np.random.default_rng(seed)
    return pd.Series(level * np.exp(_LATENT[t + 100] + rng.normal(0, noise, len(t))), index=DAYS)


def _walk(seed: int) -> pd.Series:
    rng = np.random.default_rng(seed)
    return pd.Series(100 * np.exp(np.cumsum(rng.normal(0, 0.05, len(DAYS)))), index=DAYS)


def test_columns_and_lags():
    c = cross_correlate(_waves(0), _waves(5, seed=1))
    assert list(c.columns[:7]) == ["lag_days", "r", "ci_low", "ci_high", "n", "n_eff", "p_adj"]
    assert c["lag_days"].tolist() == list(range(-28, 29))
    # 300 days, 7-day means start on day 7: 294 values, minus |k| at lag k
    assert c.set_index("lag_days").loc[0, "n"] == 294 and c.set_index("lag_days").loc[10, "n"] == 284


@pytest.mark.parametrize("method", ["pearson", "spearman", "distance_correlation"])
@pytest.mark.parametrize("detrend", [False, True])
def test_known_lag_recovered_exactly(method, detrend):
    x, y = _waves(0, seed=1), _waves(6, seed=2)          # y follows x by 6 days: x leads
    best = lead_lag(x, y, method=method, detrend=detrend)
    assert best["best_lag_days"] == 6
    assert best["significant"] and not best["at_edge"] and best["relation"] == "x_leads"
    back = lead_lag(y, x, method=method, detrend=detrend)
    assert back["best_lag_days"] == -6 and back["relation"] == "y_leads"


def test_alignment_is_by_date_not_position():
    x, y = _waves(0, seed=1), _waves(9, seed=2)
    x = x.iloc[30:].sample(frac=1.0, random_state=3)      # shorter, shuffled, with a gap
    x = x.drop(x.index[:10])
    assert lead_lag(x, y)["best_lag_days"] == 9


def test_negative_correlation_is_found_by_absolute_value():
    x, y = _waves(0, seed=1), _waves(4, seed=2)
    best = lead_lag(-x + 1000, y)
    assert best["best_lag_days"] == 4 and best["r"] < -0.9 and best["significant"]


def test_independent_random_walks_give_no_detrended_finding():
    """Random walks correlate strongly by chance on levels; neither the level curve (n_eff
    corrects for the autocorrelation) nor the detrended curve may call that significant."""
    seeds = range(60)
    found = {False: 0, True: 0}
    naive = 0
    for seed in seeds:
        x, y = _walk(2 * seed), _walk(2 * seed + 1)
        for detrend in (False, True):
            found[detrend] += lead_lag(x, y, detrend=detrend)["significant"]
        level = cross_correlate(x, y)
        k = level["r"].abs().idxmax()
        r, n = level.loc[k, "r"], level.loc[k, "n"]
        naive += lagcorr.fisher_ci(r, float(n))[2] * 57 < 0.05      # plain n, Bonferroni
    rate = {k: v / len(seeds) for k, v in found.items()}
    assert rate[True] <= 0.10, rate
    assert rate[False] <= 0.10, rate
    assert naive / len(seeds) > 0.5        # what the correction guards against


def test_n_eff_white_noise_and_ar1():
    rng = np.random.default_rng(5)
    n = 2000
    white = curve_from_arrays(rng.normal(size=n), rng.normal(size=n), max_lag=0, method="pearson")
    assert white.loc[0, "n_eff"] == pytest.approx(n, rel=0.1)

    def ar1(phi):
        e = rng.normal(size=n)
        out = np.empty(n)
        out[0] = e[0]
        for i in range(1, n):
            out[i] = phi * out[i - 1] + e[i]
        return out

    phi = 0.8
    c = curve_from_arrays(ar1(phi), ar1(phi), max_lag=0, method="pearson")
    expected = n * (1 - phi ** 2) / (1 + phi ** 2)     # Bartlett for two AR(1) series
    assert c.loc[0, "n_eff"] == pytest.approx(expected, rel=0.25)


def test_ci_covers_true_correlation():
    rho, n, covered = 0.5, 80, 0
    trials = 300
    rng = np.random.default_rng(11)
    for _ in range(trials):
        a = rng.normal(size=n)
        b = rho * a + np.sqrt(1 - rho ** 2) * rng.normal(size=n)
        c = curve_from_arrays(a, b, max_lag=0).iloc[0]
        assert c["ci_low"] < c["r"] < c["ci_high"]
        covered += c["ci_low"] <= rho <= c["ci_high"]
    assert 0.90 <= covered / trials <= 0.99


def test_fisher_ci_by_hand():
    lo, hi, p = lagcorr.fisher_ci(0.5, 28.0)
    se = 1 / 5.0
    assert lo == pytest.approx(np.tanh(np.arctanh(0.5) - 1.959964 * se), abs=1e-6)
    assert hi == pytest.approx(np.tanh(np.arctanh(0.5) + 1.959964 * se), abs=1e-6)
    assert p == pytest.approx(math.erfc(np.arctanh(0.5) * 5 / math.sqrt(2)), rel=1e-9)  # 2 (1 - Phi(z/se))
    assert p == pytest.approx(0.006023, abs=1e-6)
    assert lagcorr.fisher_ci(0.9, 3.0) == (-1.0, 1.0, 1.0)  # no information


def test_holm_matches_statsmodels():
    p = np.array([0.001, 0.04, 0.03, 0.2, np.nan, 0.0004])
    ok = np.isfinite(p)
    expect = multipletests(p[ok], method="holm")[1]
    got = lagcorr.holm(p)
    assert np.isnan(got[4]) and np.allclose(got[ok], expect)


def test_distance_correlation_sees_non_linear_dependence():
    rng = np.random.default_rng(2)
    a = rng.normal(size=150)
    b = a ** 2 + 0.1 * rng.normal(size=150)
    pear = curve_from_arrays(a, b, max_lag=3, method="pearson").set_index("lag_days")
    dcor = curve_from_arrays(a, b, max_lag=3, method="distance_correlation").set_index("lag_days")
    assert dcor.loc[0, "p_adj"] < 0.001 and dcor.loc[0, "r"] > 0.2
    assert pear.loc[0, "p_adj"] > 0.05
    assert dcor.loc[[-3, -2, -1, 1, 2, 3], "r"].abs().max() < 0.1
    assert dcor["ci_low"].isna().all()


def test_peak_at_the_edge_is_not_a_finding():
    x, y = _waves(0, seed=1), _waves(-40, seed=2)        # x follows y by 40 days: outside +-28
    best = lead_lag(x, y)
    assert best["at_edge"] and best["best_lag_days"] == -28
    assert best["relation"] == "none" and best["note"] == "no interior peak"


def test_too_few_days():
    short = _waves(0).iloc[:12]
    best = lead_lag(short, short)
    assert best["best_lag_days"] is None and best["relation"] == "none" and not best["significant"]


def test_rolling_windows():
    w = lagcorr.rolling_windows(date(2020, 1, 1), date(2020, 3, 31), 56, 7)
    assert w[-1] == (date(2020, 2, 5), date(2020, 3, 31))
    assert all((b - a).days == 55 for a, b in w) and w[0][0] >= date(2020, 1, 1)
    assert [(w[i + 1][1] - w[i][1]).days for i in range(len(w) - 1)] == [7] * (len(w) - 1)
    roll = lagcorr.rolling_cross_correlate(_waves(0, seed=1), _waves(3, seed=2), detrend=True)
    assert roll["window_end"].nunique() == len(lagcorr.rolling_windows(DAYS[0].date(), DAYS[-1].date()))
    best = roll.loc[roll.groupby("window_end")["r"].idxmax(), "lag_days"]
    assert (best == 3).mean() > 0.8


def test_readme_example_runs(capsys):
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Lead/lag analysis in Python", 1)[1]
    code = section.split("```python", 1)[1].split("```", 1)[0]
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)      # noqa: S102 - our own documentation
    assert scope["lead_lag"](scope["calls"], scope["cases"])["best_lag_days"] == 3
    assert "best_lag_days" in capsys.readouterr().out
