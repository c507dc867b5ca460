"""The early-warning and restriction-impact methods on the year city's true series, without the
pipeline: the simulator's exact counts per district and day (what staging keeps) and its
subscribers' true mobility (area_* measures, defined as the pipeline defines them). Pure pandas,
so it runs in about two minutes; test_alerts.py and test_impact.py check the same on the
pipeline's mart_indicator_daily."""

from datetime import date, timedelta

import pandas as pd
import pytest

from jobs.analytics.detectors import detect, episodes
from jobs.analytics.impact import holidays_for
from jobs.analytics.its import Window, segmented_fit

EARLY = ("ears_c1", "ears_c2", "ears_c3", "ewma")
WINDOW = 7


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    from jobs.simulate.city import run_simulation
    from jobs.simulate.context import SimParams
    from tests.conftest import YEAR_CITY

    dated = {k: date.fromisoformat(v) for k, v in YEAR_CITY.items() if k in ("start", "operator_start")}
    return run_simulation(SimParams(**(YEAR_CITY | dated)), tmp_path_factory.mktemp("truth_city")).manifest


@pytest.fixture(scope="module")
def detections(simulated, city_cfg):
    amb, ph = simulated["truth"]["ambulance"]["calls"], simulated["truth"]["pharmacy_receipts"]["receipts"]
    days = sorted(amb)
    idx = pd.to_datetime(days)
    out = {}
    for district in simulated["truth"]["ambulance"]["districts"]:
        series = {"ambulance_calls_respiratory_fever": [amb[d][district]["respiratory_fever"] for d in days],
                  "pharmacy_receipts_antipyretic": [ph[d][district]["antipyretic"]["receipts"] for d in days],
                  "pharmacy_receipts_cough_cold": [ph[d][district]["cough_cold"]["receipts"] for d in days]}
        out[district] = pd.concat([detect(pd.Series(v, index=idx, dtype=float), city_cfg["alerts"]).assign(indicator=k)
                                   for k, v in series.items()])
    return out


def test_true_counts_alert_within_7_days_of_every_wave_onset(simulated, detections):
    waves = simulated["ground_truth"]["waves"]["waves"]
    late = {}
    for wave, by_district in waves.items():
        for district, w in by_district.items():
            onset = pd.Timestamp(w["onset"])
            r = detections[district]
            hit = r[r["method"].isin(EARLY) & r["alert"] & (r["day"] >= onset - pd.Timedelta(days=WINDOW))]
            first = (hit["day"].min() - onset).days if len(hit) else None
            if first is None or first > WINDOW:
                late[(wave, district)] = first
    assert not late, late


def test_true_counts_give_at_most_one_false_alert_per_district_per_100_days(simulated, detections):
    waves = simulated["ground_truth"]["waves"]["waves"]
    rates = {}
    for district, r in detections.items():
        w1, w2 = waves["1"][district], waves["2"][district]
        quiet = set(pd.date_range("2020-01-01", pd.Timestamp(w1["onset"]) - pd.Timedelta(days=WINDOW + 1))) | set(
            pd.date_range(pd.Timestamp(w1["peak"]) + pd.Timedelta(days=14), w2["trough"]))
        judged = r[r["day"].isin(quiet) & r["expected"].notna()]
        for method in EARLY:
            fired = days = 0
            for _, stream in judged[judged["method"] == method].groupby("indicator"):
                a = stream.set_index("day")["alert"].sort_index()
                fired += int(episodes(a.reindex(pd.date_range(a.index.min(), a.index.max()), fill_value=False)).sum())
                days += len(a)
            rates[(district, method)] = 100 * fired / days
    assert max(rates.values()) <= 1.0, sorted(rates.items(), key=lambda kv: -kv[1])[:5]


def _true_effect(observed: dict, key: str) -> float:
    w = {dt: v["subscriber_days"]["restricted"] for dt, v in observed.items()}
    base = sum(w[dt] * v[key]["baseline"] for dt, v in observed.items()) / sum(w.values())
    rest = sum(w[dt] * v[key]["restricted"] for dt, v in observed.items()) / sum(w.values())
    return 100 * (rest - base) / base if key.endswith("per_person") else 100 * (rest - base)


@pytest.mark.parametrize("key,scale", [("area_trips_per_person", "percent"), ("area_stay_put_share", "pp")])
def test_true_mobility_gives_the_manifest_lockdown_effect_per_district_type(simulated, city_cfg, key, scale):
    mobility = simulated["truth"]["cell_reference"]["mobility"]
    truth = simulated["ground_truth"]["restriction_effects"]["R1"]["observed"]
    days = sorted(mobility)
    hol = holidays_for(city_cfg, date.fromisoformat(days[0]), date.fromisoformat(days[-1]))
    for kind, members in city_cfg["district_types"].items():
        y = pd.Series({pd.Timestamp(d): sum(mobility[d][m][key] * mobility[d][m]["subscribers"] for m in members)
                       / sum(mobility[d][m]["subscribers"] for m in members) for d in days})
        fit = segmented_fit(y, date(2020, 3, 19), date.fromisoformat(days[-1]) + timedelta(days=1), Window(),
                            scale, hol, post_to=date(2020, 5, 11))
        expected = _true_effect(truth[kind], key)
        assert abs(fit.effect - expected) <= 5.0, (kind, fit.effect, expected)
        assert fit.ci_low < fit.effect < fit.ci_high
