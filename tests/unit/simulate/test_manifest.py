"""manifest.json: the ground truth is complete and agrees with what was simulated."""

from datetime import date
from pathlib import Path

import h3
import pytest

from jobs.simulate.city import run_simulation
from jobs.simulate.context import SimParams

HEALTH_SIGNALS = {"ambulance_respiratory", "pharmacy_antipyretic", "pharmacy_cough_cold",
                  "pharmacy_antiviral", "reported_cases", "hospitalised", "deaths"}


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    # Two working weeks before the 2020-03-19 lockdown and ten days into it.
    params = SimParams(start=date(2020, 3, 2), days=28, subscribers=6000, events_per_day=8,
                       seed=5, dirt=0.01, health_scale=0.05)
    out = tmp_path_factory.mktemp("manifest_city")
    result = run_simulation(params, out)
    return result.manifest | {"_landing": str(out)}


def test_realised_lockdown_effect_matches_the_model(manifest):
    r1 = manifest["ground_truth"]["restriction_effects"]["R1"]
    assert r1["measure"] == "lockdown" and r1["start"] == "2020-03-19"
    for kind in ("business_centre", "residential", "outskirts"):
        model = r1["model"][kind]["working_day"]
        seen = r1["observed"][kind]["working_day"]
        assert seen["trips_per_person"]["change_pct"] < -30
        assert seen["trips_per_person"]["change_pct"] == pytest.approx(
            model["trips_per_person"]["change_pct"], abs=6)
        assert seen["stay_put_share"]["change_pp"] > 15
        assert seen["stay_put_share"]["change_pp"] == pytest.approx(
            model["stay_put_share"]["change_pp"], abs=5)
    # per home district: the subscriber-days of a type's districts add up to the type's
    by_district = r1["observed_by_district"]
    kinds = {d["name"]: d["district_type"] for d in manifest["city"]["districts"]}
    assert set(by_district) == set(kinds)
    for kind in ("business_centre", "residential", "outskirts"):
        members = [name for name, k in kinds.items() if k == kind]
        days = sum(by_district[m]["working_day"]["subscriber_days"]["restricted"] for m in members)
        assert days == r1["observed"][kind]["working_day"]["subscriber_days"]["restricted"]


def test_residents_cover_every_subscriber_and_district(manifest):
    res = manifest["ground_truth"]["residents"]
    assert sum(d["population"] for d in res.values()) == 2_161_695
    assert sum(d["subscribers_total"] for d in res.values()) == 6000
    for name, d in res.items():
        share_people = d["population"] / 2_161_695
        share_subs = d["subscribers_total"] / 6000
        assert share_subs == pytest.approx(share_people, rel=0.12), name
        assert d["people_per_subscriber"] * d["subscribers_total"] == pytest.approx(d["population"], rel=1e-3)


def test_home_work_sample_is_usable_as_ground_truth(manifest):
    sample = manifest["ground_truth"]["home_work_sample"]
    assert len(sample) >= 400
    assert {s["operator"] for s in sample} == {"kcell", "beeline", "tele2"}
    for s in sample:
        assert h3.get_resolution(s["home_h3"]) == 8
        assert s["keys"] and all(len(k) in (16, 64) for k in s["keys"].values())
        if s["employed"]:
            assert h3.get_resolution(s["work_h3"]) == 8


def test_every_health_lag_is_recorded_with_its_sign_convention(manifest):
    lags = manifest["ground_truth"]["lags"]
    assert HEALTH_SIGNALS <= set(lags)
    assert "lag_days > 0 means the signal leads" in manifest["ground_truth"]["lag_definition"]
    assert lags["mobility_trips_per_person"]["vs_reported_cases"]["lag_days"] is None  # window too short


def test_dirt_entries_point_at_delivered_files(manifest):
    landing = Path(manifest["_landing"])
    kinds = {e["kind"] for e in manifest["dirt"]}
    assert {"duplicate_rows", "malformed_rows", "raw_identifier_file", "late_file",
            "renamed_cell", "moved_cell", "cp1251_file"} <= kinds
    for e in manifest["dirt"]:
        assert (landing / e["file"]).is_file(), e


def test_network_changes_are_in_the_ground_truth(manifest):
    changes = manifest["ground_truth"]["network_changes"]
    assert changes["renamed_cell"]["cgi_old"] != changes["renamed_cell"]["cgi_new"]
    assert changes["moved_cell"]["distance_m"] > 300


@pytest.fixture(scope="module")
def year(tmp_path_factory):
    """A whole sparse year (call-record density) so mobility meets the epidemic."""
    params = SimParams(start=date(2020, 1, 1), days=366, subscribers=3000, events_per_day=3,
                       seed=9, health_scale=0.05)
    return run_simulation(params, tmp_path_factory.mktemp("year")).manifest


def test_simulated_mobility_recovers_the_manifest_mobility_lag(year):
    import pandas as pd

    from jobs.simulate.lags import cross_correlation, smooth

    truth = year["ground_truth"]["lags"]["mobility_trips_per_person"]["vs_reported_cases"]
    assert truth["window"] == ["2020-08-03", "2020-12-31"]       # after the second quarantine
    assert truth["r"] < -0.7 and not truth["edge"]
    assert truth["lag_days"] < 0                                 # cases lead, mobility answers
    lo, hi = truth["plateau_lag_days"]
    assert lo <= truth["lag_days"] <= hi
    # The same measure on the subscribers' realised (noisy) trips finds the same lag.
    mob = year["truth"]["cell_reference"]["mobility"]
    trips = pd.Series({pd.Timestamp(d): sum(v["trips_per_person"] * v["subscribers"] for v in x.values())
                       / sum(v["subscribers"] for v in x.values()) for d, x in mob.items()})
    cases = pd.Series({pd.Timestamp(d): sum(v["new_cases"] for v in x.values())      # as published
                       for d, x in year["truth"]["morbidity"]["reported"].items()})
    w = slice(*truth["window"])
    cc = cross_correlation(smooth(trips).loc[w], smooth(cases).loc[w], 28)
    k = int(cc.abs().idxmax())
    assert lo - 1 <= k <= hi + 1
    assert cc[k] == pytest.approx(truth["r"], abs=0.05)
