"""mart_lagcorr / mart_leadlag: the per-group function of the Spark job, then the real job on the
year city, which must recover every true lead/lag of the synthetic city's manifest."""

from datetime import date, timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest

from jobs.analytics import leadlag
from jobs.common.conform import conform
from jobs.common.lake import read_table, table_path

# manifest signal -> mart_indicator_daily indicator (all compared with reported cases)
SIGNALS = {
    "ambulance_respiratory": "ambulance_calls_respiratory_fever",
    "pharmacy_antipyretic": "pharmacy_receipts_antipyretic",
    "pharmacy_cough_cold": "pharmacy_receipts_cough_cold",
    "pharmacy_antiviral": "pharmacy_receipts_antiviral",
    "hospitalised": "morbidity_hospitalised",
    "deaths": "morbidity_deaths",
    "mobility_trips_per_person": "mobility_trips_per_person",
}
CASES = "morbidity_new_cases"


def _group(shift: int, days: int = 200) -> pd.DataFrame:
    d0 = date(2020, 3, 1)
    t = np.arange(days)
    rng = np.random.default_rng(4)
    wobble = np.cumsum(rng.normal(0, 0.05, days + 50))
    wave = lambda s: (20 + 300 * np.exp(-0.5 * ((t - 100 - s) / 20) ** 2)) * np.exp(wobble[t - s + 25])  # noqa: E731
    rows = [("city", "C", "a", "b", role, d0 + timedelta(int(i)), float(v))
            for role, s in (("x", 0), ("y", shift)) for i, v in zip(t, wave(s))]
    return pd.DataFrame(rows, columns=["geo_level", "geo_id", "x_indicator", "y_indicator", "role", "ds", "value"])


def test_group_curves_windows_and_contract():
    s = leadlag.settings({"analytics": {"lagcorr": {"pairs": [{"x": "a", "y": "b"}]}}})
    pdf = _group(5)
    as_of = date(2020, 9, 16)                        # the data end 2020-09-16 (200 days)
    out = leadlag.group_curves(pdf, as_of, s)
    conform(out.assign(ds=as_of), "mart_lagcorr")        # every column, type and rule of the contract
    full = out[out["window_kind"] == "full"]
    assert set(full["window_start"]) == {date(2020, 3, 1)} and set(full["window_end"]) == {as_of}
    assert len(full) == 57 * (2 + 3)                     # lags x (level: 2 methods, detrended: 3)
    rolling = out[out["window_kind"] == "rolling"]
    ends = sorted(set(rolling["window_end"]))
    assert ends[-1] == as_of and all((b - a).days == 7 for a, b in zip(ends, ends[1:]))
    assert (rolling["window_end"] - rolling["window_start"]).map(lambda d: d.days).eq(55).all()
    assert set(rolling["series_transform"]) == {"detrended"} and set(rolling["method"]) == {"pearson"}
    summ = pd.concat([leadlag.curve_summary(c, s) for _, c in out.groupby(leadlag.CURVE_KEYS)])
    conform(summ.assign(ds=as_of), "mart_leadlag")
    best = summ[(summ["window_kind"] == "full")].set_index(["series_transform", "method"])
    assert (best["best_lag_days"] == 5).all() and (best["relation"] == "x_leads").all()


def test_group_without_enough_data_gives_no_rows():
    s = leadlag.settings({"analytics": {"lagcorr": {"pairs": [{"x": "a", "y": "b"}]}}})
    assert leadlag.group_curves(_group(5, days=20), date(2020, 3, 20), s).empty


@pytest.fixture(scope="module")
def leadlag_city(analysed_year_city):
    """The lead/lag job's tables as the session's analytics stage wrote them."""
    ds = analysed_year_city.days[-1]
    rows, seconds = (analysed_year_city.analytics["leadlag"][k] for k in ("rows", "seconds"))
    print(f"lagcorr job on the year city: {rows} curve rows in {seconds:.1f} s")
    path = table_path(leadlag.SUMMARY, analysed_year_city.paths) / f"ds={ds.isoformat()}"
    summary = duckdb.connect().execute(f"select * from read_parquet('{path}/*.parquet')").df()
    return analysed_year_city, ds, rows, seconds, summary


def test_city_tables_conform(spark, leadlag_city):
    city, ds, rows, seconds, summary = leadlag_city
    curves = read_table(spark, leadlag.CURVES, city.paths, ds=ds)
    conform(curves, leadlag.CURVES)
    assert curves.count() == rows > 0
    conform(read_table(spark, leadlag.SUMMARY, city.paths, ds=ds), leadlag.SUMMARY)
    assert set(summary["geo_level"]) == {"city", "zone_type", "district"}
    assert {"full", "rolling"} <= set(summary["window_kind"])
    assert not summary.loc[summary["at_window_edge"], "relation"].ne("none").any()


def _overlap(city, window: list[str]) -> int:
    lo, hi = (date.fromisoformat(w) for w in window)
    return sum(lo <= d <= hi for d in city.operator_days)


def test_manifest_lags_recovered(leadlag_city):
    """Every true lag of the manifest (signal vs reported cases, 7-day means, Pearson) is found
    at city level within +-1 day and with the right sign."""
    city, ds, _, _, summary = leadlag_city
    truth = city.manifest["ground_truth"]["lags"]
    full = summary[(summary["window_kind"] == "full") & (summary["geo_level"] == "city")
                   & (summary["series_transform"] == "level") & (summary["method"] == "pearson")
                   & (summary["y_indicator"] == CASES)].set_index("x_indicator")
    checked = []
    for signal, indicator in SIGNALS.items():
        true = truth[signal]["vs_reported_cases"]
        if signal == "mobility_trips_per_person" and _overlap(city, true["window"]) < 56:
            continue            # its window is after the operator feeds: see test_mobility_lag.py
        got = full.loc[indicator]
        k = int(got["best_lag_days"])
        assert abs(k - true["lag_days"]) <= 1, (signal, k, true)
        assert np.sign(k) == np.sign(true["lag_days"]), (signal, k, true)
        assert np.sign(got["r"]) == np.sign(true["r"]) and not got["at_window_edge"], (signal, got.to_dict())
        checked.append(signal)
    assert len(checked) >= 6, checked


def test_detrended_city_curves(leadlag_city):
    """On growth rates (detrended) the morbidity series still follow cases significantly; the
    level curves of the same pairs are stronger (shared waves), as they should be."""
    _, _, _, _, summary = leadlag_city
    city = summary[(summary["window_kind"] == "full") & (summary["geo_level"] == "city")
                   & (summary["method"] == "pearson") & (summary["y_indicator"] == CASES)]
    det = city[city["series_transform"] == "detrended"].set_index("x_indicator")
    lvl = city[city["series_transform"] == "level"].set_index("x_indicator")
    for indicator in ("morbidity_hospitalised", "morbidity_deaths"):
        row = det.loc[indicator]
        assert row["significant"] and row["ci_low"] > 0 and row["best_lag_days"] < 0, row.to_dict()
        assert row["relation"] == "y_leads"
        assert abs(lvl.loc[indicator, "r"]) >= abs(row["r"])


def test_summary_lines(leadlag_city):
    city, ds, *_ = leadlag_city
    lines = leadlag.summary(city.paths, ds)
    assert lines[0].startswith("lead/lag") and len(lines) >= 2
    assert any("ambulance_calls_respiratory_fever" in line or "pharmacy" in line for line in lines)
