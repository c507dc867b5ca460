"""mart_alerts on the year city: each epidemic wave raises an alert within 7 days of its onset
(manifest ground truth) in every district, and quiet periods stay quiet at the default thresholds."""

from datetime import date, timedelta

import pandas as pd
import pytest

from jobs.analytics import alerts
from jobs.analytics.detectors import CARRIED, METHODS, episodes

WINDOW = 7
MAX_FALSE_PER_100_DAYS = 1.0
EARLY = ("ears_c1", "ears_c2", "ears_c3", "ewma")


@pytest.fixture(scope="module")
def alert_rows(spark, analysed_year_city):
    city = analysed_year_city
    n = alerts.run_days(spark, city.cfg, city.paths, list(city.days))
    rows = alerts.read_table(spark, alerts.TABLE, city.paths).toPandas()
    assert n == len(rows) > 0
    rows["ds"] = pd.to_datetime(rows["ds"])
    rows["alerting"] = rows["alert_level"] != "none"
    return rows


def onsets(manifest: dict) -> list[tuple[str, str, date]]:
    waves = manifest["ground_truth"]["waves"]["waves"]
    return [(wave, district, date.fromisoformat(w["onset"]))
            for wave, by_district in sorted(waves.items()) for district, w in sorted(by_district.items())
            if w["onset"] is not None]


def quiet_days(manifest: dict, district: str, first: date, last: date) -> list[date]:
    """Days without a rising epidemic in the district: before wave 1's onset (less the test
    window), and from two weeks after wave 1's peak (the ambulance tail) to wave 2's trough."""
    w = manifest["ground_truth"]["waves"]["waves"]
    w1, w2 = w["1"][district], w["2"][district]
    spans = [(first, date.fromisoformat(w1["onset"]) - timedelta(days=WINDOW + 1)),
             (date.fromisoformat(w1["peak"]) + timedelta(days=14), date.fromisoformat(w2["trough"]))]
    return [lo + timedelta(n) for lo, hi in spans for n in range((hi - lo).days + 1) if lo + timedelta(n) <= last]


def test_every_wave_onset_is_in_the_manifest(analysed_year_city):
    found = onsets(analysed_year_city.manifest)
    districts = {d["name"] for d in analysed_year_city.cfg["districts"]}
    assert {(w, d) for w, d, _ in found} == {(w, d) for w in ("1", "2") for d in districts}


def test_an_alert_fires_within_7_days_of_each_wave_onset(alert_rows, analysed_year_city):
    last = pd.Timestamp(analysed_year_city.days[-1])
    missed, lead = [], []
    for wave, district, onset in onsets(analysed_year_city.manifest):
        lo, hi = pd.Timestamp(onset) - pd.Timedelta(days=WINDOW), pd.Timestamp(onset) + pd.Timedelta(days=WINDOW)
        assert lo <= last, f"wave {wave} onset {onset} is after the simulated period"
        hit = alert_rows[(alert_rows["geo_id"] == district) & alert_rows["method"].isin(EARLY)
                         & (alert_rows["ds"] >= lo) & (alert_rows["ds"] <= min(hi, last)) & alert_rows["alerting"]]
        if hit.empty:
            missed.append((wave, district, onset))
        else:
            lead.append((pd.Timestamp(onset) - hit["ds"].min()).days)
    assert not missed, f"no alert within {WINDOW} days of the onset: {missed}"


def test_quiet_periods_give_at_most_one_false_alert_per_district_per_100_days(alert_rows, analysed_year_city):
    """Each monitored series (indicator) of a district is its own alarm stream; a run of alerting
    days is one alert. Per district and method: false alerts per 100 quiet days of a stream, over
    the district's streams together."""
    first, last = analysed_year_city.days[0], analysed_year_city.days[-1]
    rates = {}
    for district in sorted({d["name"] for d in analysed_year_city.cfg["districts"]}):
        quiet = pd.to_datetime(quiet_days(analysed_year_city.manifest, district, first, last))
        rows = alert_rows[(alert_rows["geo_id"] == district) & alert_rows["ds"].isin(quiet)]
        judged = rows[rows["expected"].notna()]
        for method in EARLY:
            fired = stream_days = 0
            for _, stream in judged[judged["method"] == method].groupby("indicator"):
                day = stream.set_index("ds")["alerting"].sort_index()
                day = day.reindex(pd.date_range(day.index.min(), day.index.max()), fill_value=False)
                fired += int(episodes(day).sum())
                stream_days += len(stream)
            assert stream_days >= 3 * 100
            rates[(district, method)] = 100 * fired / stream_days
    worst = max(rates.items(), key=lambda kv: kv[1])
    assert worst[1] <= MAX_FALSE_PER_100_DAYS, sorted(rates.items(), key=lambda kv: -kv[1])[:8]


def test_rows_follow_the_contract_and_say_when_history_is_short(alert_rows, analysed_year_city):
    r = alert_rows
    assert set(r["method"]) == set(METHODS)
    assert set(r["geo_level"]) == {"city", "district"}
    assert set(r["indicator"]) == set(analysed_year_city.cfg["alerts"]["indicators"])
    assert r.duplicated(["ds", "geo_level", "geo_id", "indicator", "method"]).sum() == 0
    per_day = r.groupby("ds").size()
    assert (per_day == 9 * 3 * len(METHODS)).all()       # city + 8 districts, 3 indicators, every method
    far = r[r["method"] == "farrington"]                 # 300 days: never a year of history
    assert far["expected"].isna().all() and far["note"].str.contains("needs").all()
    assert (far["alert_level"] == "none").all()
    early = r[r["method"] == "ears_c2"]
    assert early[early["ds"] < pd.Timestamp("2020-01-23")]["expected"].isna().all()
    assert early[early["ds"] >= pd.Timestamp("2020-02-01")]["expected"].notna().all()
    judged = r[r["threshold"].notna()]
    assert (judged["alerting"] == (judged["observed"] > judged["threshold"])).all()
    carried = r[r["note"] == CARRIED]                      # EARS C3 held up by the two days before
    assert len(carried) > 0 and set(carried["method"]) == {"ears_c3"}
    assert carried["alerting"].all() and carried["threshold"].isna().all() and carried["expected"].notna().all()
    warn = r[r["alert_level"] == "warning"]
    prev = r.set_index(["ds", "geo_id", "indicator", "method"])["alerting"]
    keys = list(zip(warn["ds"] - pd.Timedelta(days=1), warn["geo_id"], warn["indicator"], warn["method"]))
    assert prev.reindex(keys).fillna(False).all()


def test_run_as_of_one_day_equals_the_range(spark, alert_rows, analysed_year_city):
    city = analysed_year_city
    ds = date(2020, 5, 20)
    cfg = city.cfg | {"alerts": city.cfg["alerts"] | {"history_days": 1}}
    alerts.run(spark, cfg, city.paths, ds)
    one = alerts.read_table(spark, alerts.TABLE, city.paths, ds=ds).toPandas()
    key = ["geo_level", "geo_id", "indicator", "method"]
    rng = alert_rows[alert_rows["ds"] == pd.Timestamp(ds)].drop(columns=["ds", "alerting"])
    pd.testing.assert_frame_equal(one.drop(columns=["ds"]).sort_values(key).reset_index(drop=True),
                                  rng.sort_values(key).reset_index(drop=True), check_dtype=False)
    lines = alerts.summary(city.paths, ds)
    assert lines[0].startswith(f"alerts on {ds}")


def test_detect_group_rows_from_the_first_day_asked_with_notes_only_when_needed():
    import numpy as np

    pdf = pd.DataFrame({"ds": pd.date_range("2020-01-01", periods=60).date, "geo_level": "district",
                        "geo_id": "Medeu", "indicator": "ambulance_calls_respiratory_fever",
                        "value": np.random.default_rng(0).poisson(10, 60).astype(float)})
    out = alerts.detect_group(pdf, {}, date(2020, 2, 1))
    assert out["ds"].min() == date(2020, 2, 1) and len(out) == 29 * len(METHODS)
    assert list(out.columns) == [c.split(" ")[0] for c in alerts.OUT_SCHEMA.split(", ")]
    early = out[out["method"] != "farrington"]
    assert early["note"].isna().all() and early["expected"].notna().all()
    assert out[out["method"] == "farrington"]["note"].notna().all()


def test_wave_onsets_by_hand():
    import numpy as np

    from jobs.simulate.waves import ONSET_EXCESS, wave_onsets

    days = [date(2020, 1, 1) + timedelta(n) for n in range(100)]
    base = np.full((100, 1), 20.0)
    r = np.concatenate([np.linspace(0, 1.0, 40), np.linspace(1.0, 0.3, 20), np.linspace(0.3, 1.2, 40)])
    epi = base * r[:, None]
    out = wave_onsets(days, ["A"], epi, base + epi, date(2020, 3, 1))["waves"]
    w1, w2 = out["1"]["A"], out["2"]["A"]
    assert w1["trough"] == "2020-01-01" and w1["peak"] == "2020-02-09"
    assert date.fromisoformat(w1["onset"]) == days[int(np.argmax(r > ONSET_EXCESS))]
    assert w2["trough"] == "2020-02-29" and w2["peak"] == "2020-04-09"
    assert date.fromisoformat(w2["onset"]) == days[59 + int(np.argmax(r[59:] > 0.3 + ONSET_EXCESS))]


def test_summary_names_the_strongest_alerts_and_a_carried_c3(tmp_path):
    from jobs.common.config import Paths

    paths = Paths(data=tmp_path, landing=tmp_path / "landing", lake=tmp_path / "lake",
                  serving_db=tmp_path / "s.duckdb", bench=tmp_path / "bench")
    ds = date(2020, 5, 20)
    folder = tmp_path / "lake" / alerts.TABLE / f"ds={ds}"
    folder.mkdir(parents=True)
    base = {"geo_level": "district", "geo_id": "Medeu", "indicator": "ambulance_calls_respiratory_fever",
            "expected": 10.0, "baseline_days": 28}
    pd.DataFrame([base | {"method": "ears_c2", "observed": 30.0, "threshold": 19.5, "score": 6.0,
                          "alert_level": "warning", "note": None},
                  base | {"method": "ears_c3", "observed": 8.0, "threshold": None, "score": 4.0,
                          "alert_level": "watch", "note": CARRIED},
                  base | {"method": "ewma", "observed": 12.0, "threshold": 20.0, "score": 0.5,
                          "alert_level": "none", "note": None}]).to_parquet(folder / "part-0.parquet")
    lines = alerts.summary(paths, ds)
    assert lines[0] == f"alerts on {ds}: 2 raised of 3 checks (1 warnings)"
    assert lines[1].endswith("[ears_c2]: 30 > 19.5") and "warning" in lines[1]
    assert lines[2].endswith("[ears_c3]: 8 held by the 2 days before")
