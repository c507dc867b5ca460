"""Assemble ``manifest.json``: what was generated and the ground truth tests check against.

Top-level keys:
  params, period, city, operators   the run's parameters and the city as configured
  feeds                             per feed: file count, data rows written (dirt included), paths
  totals                            operator events (clean, as simulated) and rows written
  dirt                              every injected defect: feed, file, day, kind, rows, detail
  ground_truth                      the facts tests check the pipeline against:
      lags                  per signal, best lag vs infections and vs reported cases
                            (lag_days > 0: the signal leads), plus mobility vs reported cases
      restriction_effects   per restriction, district type and day type: trips per person
                            (change_pct) and stay-put share (change_pp), as modelled and as
                            realised by the simulated subscribers (``observed`` per district
                            type, ``observed_by_district`` per home district); observed
                            also holds area_trips_per_person / area_stay_put_share, the
                            indicators as the pipeline defines them (changes of map-resolution
                            cell between true stays; every stay in one cell)
      waves                 per epidemic wave and district: onset, peak and trough days
                            (jobs.simulate.waves; onset = the rise of respiratory calls)
      residents             per district: population, subscribers per operator, people per subscriber
      home_work_sample      sampled subscribers: keys per month, true home/work H3 res-8 cells
      network_changes       the renamed and the moved cell
  truth                             per feed, the exact generated counts per day and district
Nothing in the manifest depends on the clock, so equal inputs give an identical file.
"""

from collections import defaultdict

import pandas as pd

from jobs.simulate.context import FeedResult, SimContext
from jobs.simulate.lags import MAX_LAG, cross_correlation, smooth
from jobs.simulate.trajectories import district_effects, expected_day, voluntary_caution

MIN_DAYS_FOR_MOBILITY_LAG = 56
PLATEAU_R = 0.01           # lags whose |r| is within this of the best are reported as its plateau


def _observed_effects(ctx: SimContext, mobility: dict, restriction: dict, by: str = "kind") -> dict:
    """Realised effect of one restriction: restricted days vs unrestricted days of the same
    day type in the operator window, per home-district type (``by="kind"``) or per home district
    (``by="district"``), as subscriber-weighted means."""
    cal = ctx.calendar
    kinds = {d.name: (d.kind if by == "kind" else d.name) for d in ctx.geo.districts}
    acc: dict = defaultdict(lambda: defaultdict(lambda: [0.0] * 7))  # (kind, dt, state) -> sums
    for day_text, by_district in mobility.items():
        day = pd.Timestamp(day_text).date()
        active = cal.active(day)
        if active is not None and active.id != restriction["id"]:
            continue
        state = "restricted" if active is not None else "baseline"
        dt = cal.day_type(day)
        for name, v in by_district.items():
            s = acc[(kinds[name], dt)][state]
            s[0] += v["subscribers"]
            s[1] += v["trips_per_person"] * v["subscribers"]
            s[2] += v["stay_put_share"] * v["subscribers"]
            s[3] += v.get("area_trips_per_person", float("nan")) * v["subscribers"]
            s[4] += v.get("area_stay_put_share", float("nan")) * v["subscribers"]
            s[5] += v.get("cell_trips_per_person", float("nan")) * v["subscribers"]
            s[6] += v.get("cell_stay_put_share", float("nan")) * v["subscribers"]
    out: dict = {}
    for (kind, dt), states in sorted(acc.items()):
        base, rest = states.get("baseline"), states.get("restricted")
        if not base or not rest or base[0] == 0 or rest[0] == 0:
            continue
        trips_b, trips_r = base[1] / base[0], rest[1] / rest[0]
        stay_b, stay_r = base[2] / base[0], rest[2] / rest[0]
        out.setdefault(kind, {})[dt] = {
            "trips_per_person": {"baseline": round(trips_b, 5), "restricted": round(trips_r, 5),
                                 "change_pct": round(100 * (trips_r - trips_b) / trips_b, 3)},
            "stay_put_share": {"baseline": round(stay_b, 5), "restricted": round(stay_r, 5),
                               "change_pp": round(100 * (stay_r - stay_b), 3)},
            "subscriber_days": {"baseline": int(base[0]), "restricted": int(rest[0])},
        }
        for view, i in (("area", 3), ("cell", 5)):
            t_b, t_r = base[i] / base[0], rest[i] / rest[0]
            if t_b == t_b and t_b > 0:                 # not NaN: this view was recorded
                p_b, p_r = base[i + 1] / base[0], rest[i + 1] / rest[0]
                out[kind][dt][f"{view}_trips_per_person"] = {
                    "baseline": round(t_b, 5), "restricted": round(t_r, 5),
                    "change_pct": round(100 * (t_r - t_b) / t_b, 3)}
                out[kind][dt][f"{view}_stay_put_share"] = {
                    "baseline": round(p_b, 5), "restricted": round(p_r, 5), "change_pp": round(100 * (p_r - p_b), 3)}
    return out


def restriction_effects(ctx: SimContext, modelled: dict, mobility: dict) -> dict:
    out = {}
    for rid, r in modelled.items():
        model = {}
        for kind, by_dt in r["by_district_type"].items():
            for dt, m in by_dt.items():
                trips, stay = m["trips_per_person"], m["stay_put_share"]
                model.setdefault(kind, {})[dt] = {
                    "trips_per_person": trips,
                    "stay_put_share": {"baseline": stay["baseline"], "restricted": stay["restricted"],
                                       "change_pp": round(100 * (stay["restricted"] - stay["baseline"]), 3)},
                }
        out[rid] = {"measure": r["measure"], "start": r["start"], "end": r["end"], "model": model,
                    "observed": _observed_effects(ctx, mobility, {"id": rid}),
                    "observed_by_district": _observed_effects(ctx, mobility, {"id": rid}, by="district")}
    return out


def expected_mobility(ctx: SimContext) -> pd.Series:
    """Model expectation of city trips per person for every simulated day (population-weighted
    over home districts): restrictions plus the voluntary response to the published cases."""
    beh = ctx.cfg.get("behaviour", {})
    reported = ctx.shared.get("reported_cases_city", {})
    pop = sum(d.population for d in ctx.geo.districts)
    out = {}
    for day in ctx.params.all_days():
        effects = district_effects(ctx.cfg, ctx.calendar, ctx.geo.districts, day,
                                   voluntary_caution(ctx.cfg, reported, day))
        dt = ctx.calendar.day_type(day)
        out[pd.Timestamp(day)] = sum(
            d.population * expected_day(beh, dt, {k: float(v[i]) for k, v in effects.items()})["trips_per_person"]
            for i, d in enumerate(ctx.geo.districts)) / pop
    return pd.Series(out).sort_index()


def unrestricted_window(ctx: SimContext) -> tuple | None:
    """First and last day of the longest run of days without any restriction in force."""
    best, run = None, []
    for day in ctx.params.all_days() + [None]:
        if day is not None and ctx.calendar.active(day) is None:
            run.append(day)
            continue
        if run and (best is None or len(run) > (best[1] - best[0]).days + 1):
            best = (run[0], run[-1])
        run = []
    return best


def mobility_lag(ctx: SimContext) -> dict:
    """Lag of expected city trips per person vs the published reported cases they respond to,
    over the longest stretch without restrictions (where mobility answers cases only through
    the voluntary response), taking the strongest correlation in absolute value (mobility falls
    as cases rise). The reference is the published counts, not their noise-free expectation:
    residents react to the news, so the published day-to-day ups and downs are part of the
    relation the pipeline can see."""
    window = unrestricted_window(ctx)
    none = {"lag_days": None, "r": None, "edge": False}
    if window is None or (window[1] - window[0]).days + 1 < MIN_DAYS_FOR_MOBILITY_LAG:
        return none | {"note": f"no {MIN_DAYS_FOR_MOBILITY_LAG}-day stretch without restrictions"}
    lo, hi = pd.Timestamp(window[0]), pd.Timestamp(window[1])
    published = ctx.shared.get("reported_cases_city", {})
    cases = pd.Series({pd.Timestamp(d): v for d, v in published.items()}, dtype=float).sort_index()
    trips = expected_mobility(ctx)
    cc = cross_correlation(smooth(trips).loc[lo:hi], smooth(cases).loc[lo:hi], MAX_LAG)
    if cc.isna().all():
        return none | {"note": "no reported cases in the window"}
    k = int(cc.abs().idxmax())
    vr = ctx.cfg.get("behaviour", {}).get("voluntary_response", {})
    near = cc.index[(cc.abs() >= abs(cc[k]) - PLATEAU_R).to_numpy()]
    return {"lag_days": k, "r": round(float(cc[k]), 4), "edge": abs(k) == MAX_LAG,
            "plateau_lag_days": [int(near.min()), int(near.max())],
            "window": [window[0].isoformat(), window[1].isoformat()],
            "designed_response_lag_days": -int(vr["lag_days"]) if vr else None,
            "series": "model expectation of trips per person (restrictions + voluntary response to the "
                      "published cases) vs the published new cases, 7-day means, within the window"}


def residents(ctx: SimContext, population: dict) -> dict:
    out = {}
    for d in ctx.geo.districts:
        by_op = {op: counts.get(d.name, 0) for op, counts in population["subscribers_by_operator_district"].items()}
        total = sum(by_op.values())
        out[d.name] = {"population": d.population, "district_type": d.kind, "subscribers": by_op,
                       "subscribers_total": total,
                       "people_per_subscriber": round(d.population / total, 4) if total else None}
    return out


def build_manifest(ctx: SimContext, results: list[FeedResult]) -> dict:
    from jobs.simulate.city import manifest_params

    by_feed = {r.feed: r for r in results}
    p = ctx.params
    op_days = p.operator_days_list()
    operators = [r for r in results if r.feed.startswith("operator_")]
    network = dict(by_feed["cell_reference"].truth) if "cell_reference" in by_feed else {}
    network.pop("generation", None)                     # wall-clock figures are not ground truth
    morbidity = by_feed["morbidity"].truth if "morbidity" in by_feed else {}

    sample = []
    truth = {}
    for r in results:
        t = dict(r.truth)
        t.pop("generation", None)                       # wall-clock figures are not ground truth
        if r.feed.startswith("operator_"):
            sample += [dict(s, operator=t["operator"], mcc_mnc=t["mcc_mnc"]) for s in t.pop("sample", [])]
        truth[r.feed] = t

    lags = dict(morbidity.get("lags", {}))
    if network:
        lags["mobility_trips_per_person"] = {"vs_reported_cases": mobility_lag(ctx)}

    ground_truth = {
        "lags": lags,
        "lag_definition": "argmax over lags -28..+28 of the Pearson correlation of 7-day means of the "
                          "noise-free series; lag_days > 0 means the signal leads the reference",
        "restriction_effects": restriction_effects(ctx, network.get("restriction_effects", {}),
                                                   network.get("mobility", {})),
        "waves": morbidity.get("waves", {}),
        "residents": residents(ctx, network["population"]) if "population" in network else {},
        "home_work_sample": sample,
        "network_changes": {k: network[k] for k in ("renamed_cell", "moved_cell") if k in network},
    }
    clean_events = sum(r.truth.get("events", 0) for r in operators)
    return {
        "generator": "geopulse simulate",
        "params": manifest_params(p),
        "period": {"start": p.start.isoformat(), "end": p.end.isoformat(), "days": p.days,
                   "operator_start": op_days[0].isoformat() if op_days else None,
                   "operator_days": len(op_days)},
        "city": {"name": ctx.cfg["city"]["name"], "timezone": ctx.cfg["city"]["timezone"],
                 "population": sum(d.population for d in ctx.geo.districts),
                 "area_km2": round(ctx.geo.boundary_xy.area, 1),
                 "districts": [{"name": d.name, "population": d.population, "district_type": d.kind,
                                "area_km2": round(d.area_km2, 2)} for d in ctx.geo.districts]},
        "operators": [{"name": o["name"], "mcc_mnc": o["mcc_mnc"], "market_share": o["market_share"],
                       "feed": f"operator_{o['name']}", "format": o["format"]} for o in ctx.cfg["operators"]],
        "feeds": {r.feed: {"files": len(r.files), "rows": r.rows, "paths": sorted(r.files)} for r in results},
        "totals": {"operator_events": clean_events,
                   "operator_rows_written": sum(r.rows for r in operators)},
        "dirt": ctx.dirt_log.to_json(),
        "ground_truth": ground_truth,
        "truth": truth,
    }
