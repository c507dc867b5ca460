"""mart_restriction_impact on the year city: the lockdown's true effect on mobility (manifest
ground truth, area_* indicators as the pipeline defines them) recovered within 5 points, and the
mart's rows honest where the data cannot say anything (the second quarantine has no operator data)."""

from datetime import date

import pytest

from jobs.analytics import impact

TOLERANCE_PP = 5.0


@pytest.fixture(scope="module")
def impact_rows(spark, analysed_year_city):
    city = analysed_year_city
    ds = city.days[-1]
    rows = impact.read_table(spark, impact.TABLE, city.paths, ds=ds).toPandas()
    assert city.analytics["impact"]["rows"] == len(rows) > 0     # the session's analytics stage wrote it
    return rows


def true_change(observed: dict, indicator: str) -> float:
    """Change over the restricted days in the operator window of one district type, weighting the
    day types by their restricted subscriber-days: percent for trips, points for the share."""
    key = "area_trips_per_person" if indicator == "mobility_trips_per_person" else "area_stay_put_share"
    w = {dt: v["subscriber_days"]["restricted"] for dt, v in observed.items()}
    base = sum(w[dt] * v[key]["baseline"] for dt, v in observed.items()) / sum(w.values())
    rest = sum(w[dt] * v[key]["restricted"] for dt, v in observed.items()) / sum(w.values())
    return 100 * (rest - base) / base if key.endswith("per_person") else 100 * (rest - base)


def true_city_change(effects: dict, indicator: str) -> float:
    key = "area_trips_per_person" if indicator == "mobility_trips_per_person" else "area_stay_put_share"
    parts = [(v["subscriber_days"], v[key]) for kind in effects.values() for v in kind.values()]
    rest = sum(sd["restricted"] * x["restricted"] for sd, x in parts) / sum(sd["restricted"] for sd, _ in parts)
    base = sum(sd["restricted"] * x["baseline"] for sd, x in parts) / sum(sd["restricted"] for sd, _ in parts)
    return 100 * (rest - base) / base if key.endswith("per_person") else 100 * (rest - base)


@pytest.mark.parametrize("indicator", ["mobility_trips_per_person", "mobility_stay_put_share"])
def test_lockdown_effect_recovered_per_zone_type_and_city(impact_rows, analysed_year_city, indicator):
    truth = analysed_year_city.manifest["ground_truth"]["restriction_effects"]["R1"]["observed"]
    rows = impact_rows[(impact_rows["restriction_id"] == "R1") & (impact_rows["indicator"] == indicator)]
    checked = []
    for kind, observed in truth.items():
        row = rows[(rows["geo_level"] == "zone_type") & (rows["geo_id"] == kind)].iloc[0]
        expected = true_change(observed, indicator)
        checked.append((kind, round(row["effect_pct"], 1), round(expected, 1)))
        assert abs(row["effect_pct"] - expected) <= TOLERANCE_PP, checked
        assert row["ci_low_pct"] < row["effect_pct"] < row["ci_high_pct"]
    city = rows[rows["geo_level"] == "city"].iloc[0]
    assert abs(city["effect_pct"] - true_city_change(truth, indicator)) <= TOLERANCE_PP
    assert city["effect_unit"] == ("percent" if indicator.endswith("per_person") else "pp")
    assert city["p_value"] < 0.001
    assert len(checked) == 3


def test_lockdown_effect_recovered_per_district(impact_rows, analysed_year_city):
    """Each district against its own realised effect, every one within 5 points (measured: trips
    per person within 2.3 points, stay-put share within 4.2; about 100 subscribers a district)."""
    truth = analysed_year_city.manifest["ground_truth"]["restriction_effects"]["R1"]["observed_by_district"]
    rows = impact_rows[(impact_rows["restriction_id"] == "R1") & (impact_rows["geo_level"] == "district")]
    assert set(rows["geo_id"]) == {d["name"] for d in analysed_year_city.cfg["districts"]} == set(truth)
    for indicator in ("mobility_trips_per_person", "mobility_stay_put_share"):
        got = rows[rows["indicator"] == indicator]
        errors = {r.geo_id: abs(r.effect_pct - true_change(truth[r.geo_id], indicator)) for r in got.itertuples()}
        assert len(errors) == len(truth)
        assert max(errors.values()) <= TOLERANCE_PP, (indicator, errors)


def test_rows_cover_every_restriction_and_say_why_an_effect_is_missing(impact_rows, analysed_year_city):
    r = impact_rows
    assert set(r["restriction_id"]) == {"R1", "R2"}
    assert set(r["method"]) == {"segmented_regression"}
    assert r.duplicated(["restriction_id", "geo_level", "geo_id", "indicator"]).sum() == 0
    r1 = r[r["restriction_id"] == "R1"]
    assert r1["effect_pct"].notna().all()
    assert (r1["pre_days"] >= 70).all() and (r1["post_days"] == (date(2020, 5, 1) - date(2020, 3, 19)).days + 1).all()
    # the second quarantine falls outside the operator feeds: no mobility, so no effect and a note
    r2 = r[r["restriction_id"] == "R2"]
    assert r2["effect_pct"].isna().all() and r2["note"].str.contains("needs").all()
    assert (r2["stringency"] == 70).all() and (r2["start_date"] == date(2020, 7, 5)).all()
    index = r1[r1["indicator"] == "mobility_trips_per_person_change_pct"]
    assert (index["effect_unit"] == "index_points").all() and (index["effect_pct"] < -20).all()


def test_summary_lists_the_city_effects(impact_rows, analysed_year_city):
    lines = impact.summary(analysed_year_city.paths, analysed_year_city.days[-1])
    assert lines[0].startswith("restriction impact as of")
    assert any("R1 lockdown: mobility_trips_per_person" in line for line in lines)


def test_scope_and_scale_rules():
    assert impact.covers("city", "zone_type", "residential")
    assert impact.covers("Almaly, Medeu", "district", "Medeu")
    assert not impact.covers("Almaly, Medeu", "district", "Auezov")
    assert not impact.covers("Almaly", "city", "Almaty")
    assert impact.effect_scale("mobility_stay_put_share", "share") == "pp"
    assert impact.effect_scale("mobility_trips_per_person_change_pct", "percent") == "points"
    assert impact.effect_scale("mobility_trips_per_person", "trips") == "percent"


def test_impact_group_windows_follow_neighbouring_restrictions():
    import numpy as np
    import pandas as pd

    from jobs.analytics.its import Window

    days = pd.date_range("2020-01-03", "2020-09-30")
    level = np.where((days >= "2020-03-19") & (days <= "2020-05-11"), 0.5,
                     np.where((days >= "2020-07-05") & (days <= "2020-08-02"), 0.9, 1.5))
    pdf = pd.DataFrame({"ds": days.date, "geo_level": "district", "geo_id": "Medeu",
                        "indicator": "mobility_trips_per_person", "unit": "trips",
                        "value": level * (1 + np.random.default_rng(3).normal(0, 0.02, len(days)))})
    rs = [dict(restriction_id="R1", start_date=date(2020, 3, 19), end_date=date(2020, 5, 11), scope="city",
               measure="lockdown", stringency=85.0),
          dict(restriction_id="R2", start_date=date(2020, 7, 5), end_date=date(2020, 8, 2), scope="Medeu, Almaly",
               measure="second_quarantine", stringency=70.0),
          dict(restriction_id="R3", start_date=date(2020, 9, 1), end_date=None, scope="Auezov",
               measure="local", stringency=40.0)]
    out = impact.impact_group(pdf, rs, date(2020, 9, 30), Window(), frozenset()).set_index("restriction_id")
    assert list(out.index) == ["R1", "R2"]                         # R3 does not cover Medeu
    assert out.loc["R1", "post_days"] == (date(2020, 5, 11) - date(2020, 3, 19)).days + 1
    assert out.loc["R2", "pre_days"] == (date(2020, 7, 5) - date(2020, 5, 12)).days   # from R1's end
    assert out.loc["R2", "post_days"] == 29
    assert out.loc["R1", "effect_pct"] == pytest.approx(-66.7, abs=2)
    assert out.loc["R2", "effect_pct"] == pytest.approx(-40.0, abs=2)


def test_a_percent_effect_and_its_ci_never_fall_below_minus_100():
    """A median that drops to zero (most people at home: radius of gyration 0) gives a -100 %
    effect whose delta-method CI would reach below -100 %: truncated there, and said so."""
    import numpy as np
    import pandas as pd

    from jobs.analytics.its import Window

    days = pd.date_range("2020-01-03", "2020-05-01")
    noise = np.random.default_rng(5).normal(0, 0.3, len(days))
    value = np.where(days >= "2020-03-19", 0.0, np.maximum(0.1, 1.0 + noise))
    pdf = pd.DataFrame({"ds": days.date, "geo_level": "city", "geo_id": "Almaty", "unit": "km",
                        "indicator": "mobility_radius_gyration_km_median", "value": value})
    rs = [dict(restriction_id="R1", start_date=date(2020, 3, 19), end_date=None, scope="city",
               measure="lockdown", stringency=85.0)]
    row = impact.impact_group(pdf, rs, date(2020, 5, 1), Window(), frozenset()).iloc[0]
    assert row["effect_unit"] == "percent"
    assert row["effect_pct"] == pytest.approx(-100.0, abs=0.5) and row["ci_low_pct"] == -100.0
    assert -100.0 < row["ci_high_pct"] < 0 and "truncated" in row["note"]
