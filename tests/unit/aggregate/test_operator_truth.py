"""The operator aggregates of the small synthetic city against its ground truth (manifest.json).

Everything here reads the lake that ``aggregated_city`` built once per session through the real
jobs (ingest, geo, ``jobs.aggregate.run``); the truth comes from the generator, never from the
pipeline.
"""

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from jobs.aggregate.cell_locations import anchor_for, cell_anchors, location_dim
from jobs.common.lake import table_path
from jobs.common.privacy import audit_people, h3_hierarchy
from jobs.simulate.keys import key_to_int64


def read(city, table: str) -> pd.DataFrame:
    """A lake table as pandas; partition columns (read back as categories) as plain strings."""
    df = pd.read_parquet(table_path(table, city.paths))
    for col in df.columns[df.dtypes.astype(str) == "category"]:
        df[col] = df[col].astype(str)
    return df


@pytest.fixture(scope="module")
def geo(aggregated_city):
    cells, weights = read(aggregated_city, "geo_h3_cells"), read(aggregated_city, "geo_cell_h3_weights")
    dim = location_dim(cells, [9, 8, 7])
    return dim, cell_anchors(weights, dim)


@pytest.fixture(scope="module")
def home_work(aggregated_city):
    return read(aggregated_city, "private_home_work__subscriber_month")


def test_every_staged_event_is_located_or_counted_unlocated(aggregated_city):
    staged = read(aggregated_city, "stg_operator__events").groupby("ds").size()
    dq = read(aggregated_city, "dq_results")
    dq = dq[dq["feed_or_table"] == "agg_presence__h3_hour"].pivot_table(index="ds", columns="check_name", values="value")
    assert len(staged) == len(aggregated_city.days)
    for ds, n in staged.items():
        row = dq.loc[ds]
        assert row["events_in"] == n
        assert row["events_located"] + row["events_unlocated"] == n
        assert row["events_unlocated_share"] < 0.02          # coverage of the synthetic city is complete


def test_residents_per_district_within_10_percent(aggregated_city, home_work):
    truth = {d: v["subscribers_total"] for d, v in aggregated_city.manifest["ground_truth"]["residents"].items()}
    got = home_work.groupby("home_district").size()
    for district, n in truth.items():
        assert abs(got.get(district, 0) / n - 1) <= 0.10, (district, got.get(district, 0), n)


def _sample(city, home_work):
    hw = home_work.set_index(["operator", "subscriber_key"])
    month = city.days[0].strftime("%Y-%m")
    for s in city.manifest["ground_truth"]["home_work_sample"]:
        key = (s["mcc_mnc"], key_to_int64(s["keys"][month]))
        if key in hw.index:
            yield s, hw.loc[key]


def test_home_and_work_cells_match_the_truth(aggregated_city, home_work, geo):
    dim, anchors = geo
    cell = dim.set_index("loc_id")["h3_r9"]
    day = aggregated_city.days[0]
    home = work = employed = 0
    sample = list(_sample(aggregated_city, home_work))
    assert len(sample) >= 0.95 * len(aggregated_city.manifest["ground_truth"]["home_work_sample"])
    for s, got in sample:
        true_home = anchor_for(anchors, s["home_cgi"], day)       # where the network places home
        home += true_home is not None and cell[true_home] == got["home_h3_cell"]
        if s["employed"]:
            employed += 1
            true_work = anchor_for(anchors, s["work_cgi"], day)
            work += true_work is not None and cell[true_work] == got["work_h3_cell"]
    assert home / len(sample) >= 0.80
    assert work / employed >= 0.60


def _effect(mob: pd.DataFrame, kinds: dict, start: date) -> dict:
    mob = mob[mob["geo_level"] == "district"].assign(kind=lambda x: x["district"].map(kinds),
                                                     restricted=lambda x: pd.to_datetime(x["ds"]) >= pd.Timestamp(start))
    out = {}
    for kind, g in mob.groupby("kind"):
        b, r = g[~g["restricted"]], g[g["restricted"]]
        trips_b, trips_r = (np.average(x["trips_per_person"], weights=x["subscribers"]) for x in (b, r))
        stay_b, stay_r = (np.average(x["stay_put_share"], weights=x["subscribers"]) for x in (b, r))
        out[kind] = (100 * (trips_r - trips_b) / trips_b, 100 * (stay_r - stay_b))
    return out


def test_lockdown_effect_on_trips_and_stay_put_within_5_points(aggregated_city):
    truth = aggregated_city.manifest["ground_truth"]["restriction_effects"]["R1"]
    kinds = {d: k for k, ds in aggregated_city.cfg["district_types"].items() for d in ds}
    got = _effect(read(aggregated_city, "agg_mobility__district_day"), kinds, date.fromisoformat(truth["start"]))
    assert set(got) == set(kinds.values())
    for kind, (trips_pct, stay_pp) in got.items():
        t = truth["observed"][kind]["working_day"]          # the small city's days are all working days
        assert trips_pct == pytest.approx(t["area_trips_per_person"]["change_pct"], abs=5), kind
        assert stay_pp == pytest.approx(t["area_stay_put_share"]["change_pp"], abs=5), kind


def _levels(mob: pd.DataFrame, kinds: dict, start: date) -> dict:
    mob = mob[mob["geo_level"] == "district"].assign(kind=lambda x: x["district"].map(kinds),
                                                     state=lambda x: np.where(pd.to_datetime(x["ds"]) >= pd.Timestamp(start),
                                                                              "restricted", "baseline"))
    return {(k, state): (np.average(g["trips_per_person"], weights=g["subscribers"]),
                         np.average(g["stay_put_share"], weights=g["subscribers"]))
            for (k, state), g in mob.groupby(["kind", "state"])}


def test_trips_per_person_and_stay_put_levels_match_the_true_stays(aggregated_city):
    """Levels, not only changes: trips are changes of area between stays, so areas crossed on the
    way and handover noise must not count (counting every change of area between events gave
    three times the true trips)."""
    truth = aggregated_city.manifest["ground_truth"]["restriction_effects"]["R1"]
    kinds = {d: k for k, ds in aggregated_city.cfg["district_types"].items() for d in ds}
    got = _levels(read(aggregated_city, "agg_mobility__district_day"), kinds, date.fromisoformat(truth["start"]))
    assert len(got) == 2 * len(set(kinds.values()))
    for (kind, state), (trips, stay) in got.items():
        t = truth["observed"][kind]["working_day"]
        want_trips, want_stay = t["area_trips_per_person"][state], t["area_stay_put_share"][state]
        assert trips == pytest.approx(want_trips, rel=0.15), (kind, state, trips, want_trips)
        assert stay == pytest.approx(want_stay, abs=0.06), (kind, state, stay, want_stay)


def test_renamed_and_moved_cells_are_located_on_both_sides_of_the_change(aggregated_city, geo):
    dim, anchors = geo
    changes = aggregated_city.manifest["ground_truth"]["network_changes"]
    xy = dim.set_index("loc_id")[["x_km", "y_km"]]
    renamed = changes["renamed_cell"]
    day = date.fromisoformat(renamed["day"])
    before, after = day - timedelta(days=1), day
    old_then, new_now = anchor_for(anchors, renamed["cgi_old"], before), anchor_for(anchors, renamed["cgi_new"], after)
    assert old_then is not None and old_then == new_now                  # same antenna, new name
    assert anchor_for(anchors, renamed["cgi_old"], after) is None
    assert anchor_for(anchors, renamed["cgi_new"], before) is None
    moved = changes["moved_cell"]
    shift_km = moved["distance_m"] / 1000
    for cgi in moved["cgis"]:
        a, b = anchor_for(anchors, cgi, before), anchor_for(anchors, cgi, after)
        assert a is not None and b is not None
        assert abs(np.hypot(*(xy.loc[b] - xy.loc[a])) - shift_km) < 0.4       # moved with its site
    events = read(aggregated_city, "stg_operator__events")
    both = events[events["cgi"].isin([renamed["cgi_old"], renamed["cgi_new"], *moved["cgis"]])]
    assert both["ds"].nunique() == len(aggregated_city.days)            # the cells carried traffic every day
    traj = read(aggregated_city, "private_trajectories__subscriber_day")
    users = both[["ds", "operator", "subscriber_key"]].drop_duplicates().merge(traj, on=["ds", "operator", "subscriber_key"])
    assert (users["located_events"] > 0).all()


def test_presence_is_suppressed_below_k_and_survives_the_audit(aggregated_city):
    k = aggregated_city.cfg["privacy"]["k_anonymity"]
    p = read(aggregated_city, "agg_presence__h3_hour")
    shown = p[~p["suppressed"]]
    assert shown["subscribers"].min() >= k
    assert p.loc[p["suppressed"], ["subscribers", "people_est", "events"]].isna().all().all()
    assert len(shown) > 0 and (p["resolution"] == 7).any()
    day = p[p["ds"] == p["ds"].min()]
    assert audit_people(day, k, "subscribers", value_cols=["people_est", "events"],
                        hierarchy=h3_hierarchy([9, 8, 7], by=("ds", "hour")), table="agg_presence__h3_hour") == []


def test_visitors_and_residents_add_up_to_presence(aggregated_city):
    p = read(aggregated_city, "agg_presence__h3_hour").set_index(["ds", "hour", "h3_cell"])
    v = read(aggregated_city, "agg_visitors__h3_hour").set_index(["ds", "hour", "h3_cell"])
    both = v[~v["suppressed"]].join(p[~p["suppressed"]][["subscribers"]], how="inner")
    assert len(both) > 0
    assert (both["resident_subscribers"] + both["visitor_subscribers"] == both["subscribers"]).all()
    assert both["visitor_share"].between(0, 1).all()
    k = aggregated_city.cfg["privacy"]["k_anonymity"]
    assert (v.loc[~v["suppressed"], ["resident_subscribers", "visitor_subscribers"]] >= k).all().all()


def test_people_estimates_are_calibrated_to_the_population(aggregated_city):
    mob = read(aggregated_city, "agg_mobility__district_day")
    city = mob[mob["geo_level"] == "city"]
    population = aggregated_city.manifest["city"]["population"]
    assert city["people_est"].between(0.97 * population, 1.03 * population).all()
    # residents: each published cell's estimate is its subscribers times about the city's
    # people per subscriber (population / subscribers of all operators)
    per_sub = population / sum(v["subscribers_total"] for v in aggregated_city.manifest["ground_truth"]["residents"].values())
    res = read(aggregated_city, "agg_residents__h3_month")
    shown = res[~res["residents_suppressed"]]
    assert len(shown) > 0
    assert (shown["residents_est"] / shown["resident_subscribers"] / per_sub).between(0.7, 1.4).all()


def test_mobility_index_and_zone_profile_are_written(aggregated_city):
    idx = read(aggregated_city, "mart_mobility_index")
    assert set(idx["geo_level"]) == {"city", "district"}
    assert len(idx) == 9 * len(aggregated_city.days)
    zones = read(aggregated_city, "mart_zone_profile")
    cells = read(aggregated_city, "geo_h3_cells")
    assert sorted(zones["h3_cell"]) == sorted(cells["h3_cell"])        # every cell profiled
    # a cell is typed only from published day and night figures
    typed = zones.dropna(subset=["zone_type"])
    assert typed[["day_people_est", "night_people_est"]].notna().all().all()
    assert zones.loc[zones["day_people_est"].isna() | zones["night_people_est"].isna(), "zone_type"].isna().all()


def test_commuting_flows_count_home_work_pairs_and_match_the_sampled_truth(aggregated_city, home_work):
    k = aggregated_city.cfg["privacy"]["k_anonymity"]
    flows = read(aggregated_city, "mart_commute_flows")
    pairs = (home_work.dropna(subset=["home_district", "work_district"])
             .groupby(["month", "home_district", "work_district"]).size())
    flows["month"] = pd.to_datetime(flows["month"]).dt.date
    keyed = flows.set_index(["month", "home_district", "work_district"])
    pairs.index = pairs.index.set_levels(pd.to_datetime(pairs.index.levels[0]).date, level=0)
    assert sorted(keyed.index) == sorted(pairs.index)                 # one row per observed pair
    shown = keyed[~keyed["suppressed"]]
    assert len(shown) > 0 and shown["commuters"].min() >= k
    assert (shown["commuters"] == pairs[shown.index]).all()
    assert keyed.loc[keyed["suppressed"], ["commuters", "commuters_est"]].isna().all().all()
    assert (pairs[keyed.index[keyed["suppressed"]]] < k).any()        # primary suppression happened
    assert (flows["cross_district"] == (flows["home_district"] != flows["work_district"])).all()
    zones = {d: t for t, ds in aggregated_city.cfg["district_types"].items() for d in ds}
    assert (flows["home_zone_type"] == flows["home_district"].map(zones)).all()
    # the flows come from the right people: sampled employed subscribers' true home -> work districts
    cell_district = read(aggregated_city, "geo_h3_cells").set_index("h3_cell")["district"]
    employed = [(s, got) for s, got in _sample(aggregated_city, home_work) if s["employed"]]
    agree = sum(got["home_district"] == s["home_district"]
                and got["work_district"] == cell_district.get(s["work_h3"]) for s, got in employed)
    assert len(employed) >= 100 and agree / len(employed) >= 0.70, (agree, len(employed))
