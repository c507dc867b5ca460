"""Daily schedules of subscribers: the places they stay at and when (local time).

Reads a chunk of the ``Population``, the day type (``Calendar.day_type``) and the restriction
in force per home district (``Calendar.active`` + ``behaviour.restriction_response``); writes
nothing. Grain: one row per stay (subscriber, place, start, end in seconds since local
midnight), ordered by subscriber then time; travel between consecutive stays fills the gaps.

A day: working-day commuters go home -> work -> [congestion place] -> [errand near home] ->
home; everyone else goes home -> [errand] -> [home] -> [place] -> home or stays home all day.
Ground truth (``day_metrics``) comes from these true stays: trips (changes of place between
consecutive stays), stay-put (never left home), km travelled, radius of gyration; and, given
the map-resolution H3 cell of each stay, the same two indicators as the pipeline defines them
(DESIGN.md section 5): area trips (changes of cell between consecutive stays) and area
stay-put (every stay of the day in one cell: an errand in the home cell is not a move).
"""

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from jobs.simulate.population import Population

DAY_S = 86_400.0
HOME, WORK, PLACE, ERRAND = 0, 1, 2, 3
DETOUR = 1.3                   # road distance / straight-line distance
TRAVEL_OVERHEAD_S = 300.0      # walking to the car or stop, parking, waiting
ERRAND_KM = 1.0                # mean distance of an errand from home
NO_EFFECT = {"commute": 1.0, "visit": 1.0, "errand": 1.0, "add_stay_home": 0.0}


@dataclass
class DayPlan:
    """Stays of a chunk of subscribers on one day, flattened (subscriber-major, time order)."""

    n: int                     # subscribers in the chunk
    sub: np.ndarray            # int32 subscriber index within the chunk
    kind: np.ndarray           # int8 HOME/WORK/PLACE/ERRAND
    x: np.ndarray              # km
    y: np.ndarray
    start: np.ndarray          # seconds since local midnight
    end: np.ndarray

    def n_stays(self) -> np.ndarray:
        return np.bincount(self.sub, minlength=self.n)


def response_for(behaviour: dict, measure: str | None, district_kind: str, stringency: float = 0.0) -> dict:
    """Multipliers on commute/visit/errand and the added stay-home chance under a restriction."""
    if measure is None:
        return dict(NO_EFFECT)
    table = behaviour.get("restriction_response", {}).get(measure, {})
    if district_kind in table:
        return {**NO_EFFECT, **table[district_kind]}
    s = stringency / 100.0                       # unknown measure: scale with stringency
    return {"commute": 1 - 0.6 * s, "visit": 1 - 0.7 * s, "errand": 1 - 0.4 * s, "add_stay_home": 0.4 * s}


def with_caution(effect: dict, caution: float) -> dict:
    """Fold the voluntary response ``caution`` (0..1) into a restriction effect: fewer visits
    and errands, more people staying home; commuting is left to the restrictions."""
    if caution <= 0:
        return effect
    return {**effect,
            "visit": effect["visit"] * (1 - caution),
            "errand": effect["errand"] * (1 - caution / 2),
            "add_stay_home": 1 - (1 - effect["add_stay_home"]) * (1 - caution / 2)}


def voluntary_caution(cfg: dict, reported_city: dict, day: date) -> float:
    """Voluntary response on ``day`` (behaviour.voluntary_response) to the city's published
    count of new cases (``{date: cases}``) ``lag_days`` earlier, as a trailing mean over
    ``mean_days`` published days (default 1: the day's news)."""
    vr = cfg.get("behaviour", {}).get("voluntary_response")
    if not vr or not reported_city:
        return 0.0
    seen = day - timedelta(days=int(vr["lag_days"]))
    window = [reported_city.get(seen - timedelta(days=i)) for i in range(int(vr.get("mean_days", 1)))]
    window = [w for w in window if w is not None]
    if not window:
        return 0.0
    population = sum(d["population"] for d in cfg["districts"])
    per_100k = float(np.mean(window)) / population * 1e5
    return float(vr["max_response"]) * min(1.0, per_100k / float(vr["saturation_per_100k"]))


def district_effects(cfg: dict, calendar, districts, day: date, caution: float = 0.0) -> dict[str, np.ndarray]:
    """Per home district: the response multipliers in force on ``day`` (restrictions plus the
    voluntary response ``caution``)."""
    beh = cfg.get("behaviour", {})
    out = {k: np.empty(len(districts)) for k in NO_EFFECT}
    for i, d in enumerate(districts):
        r = calendar.active(day, d.name)
        eff = with_caution(response_for(beh, r.measure if r else None, d.kind, r.stringency if r else 0.0), caution)
        for k in NO_EFFECT:
            out[k][i] = eff[k]
    return out


def _probabilities(beh: dict, day_type: str) -> tuple[float, float, float, float]:
    working = day_type == "working_day"
    p_work = beh.get("attendance", 0.95) if working else beh.get("p_work_day_off", 0.08)
    return (beh.get("p_stay_home", {}).get(day_type, 0.15), p_work,
            beh.get("p_place_visit", {}).get(day_type, 0.3), beh.get("p_extra_trip", {}).get(day_type, 0.2))


def expected_day(beh: dict, day_type: str, effect: dict | None = None, employed_share: float | None = None) -> dict:
    """Model expectation of trips per person and stay-put share (what the simulation targets)."""
    e = {**NO_EFFECT, **(effect or {})}
    ps, p_work, pv, pe = _probabilities(beh, day_type)
    emp = beh.get("employed_share", 0.6) if employed_share is None else employed_share
    p_home = 1 - (1 - ps) * (1 - e["add_stay_home"])
    pc = min(1.0, emp * p_work * e["commute"])
    pv, pe = min(1.0, pv * e["visit"]), min(1.0, pe * e["errand"])
    trips = (1 - p_home) * (pc * (2 + pv + pe) + (1 - pc) * (2 * pv + 2 * pe))
    stay_put = p_home + (1 - p_home) * (1 - pc) * (1 - pv) * (1 - pe)
    return {"trips_per_person": trips, "stay_put_share": stay_put}


def restriction_effects(cfg: dict, calendar) -> dict:
    """Model effect of each configured restriction on trips per person and stay-put share,
    per district type and day type (percent change against the same day type without it)."""
    beh = cfg.get("behaviour", {})
    out = {}
    for r in calendar.restrictions:
        by_type = {}
        for kind in cfg.get("district_types", {}):
            eff = response_for(beh, r.measure, kind, r.stringency)
            by_type[kind] = {}
            for dt in ("working_day", "day_off"):
                base, rest = expected_day(beh, dt), expected_day(beh, dt, eff)
                by_type[kind][dt] = {k: {"baseline": round(base[k], 6), "restricted": round(rest[k], 6),
                                         "change_pct": round(100 * (rest[k] - base[k]) / base[k], 3)} for k in base}
        out[r.id] = {"measure": r.measure, "start": r.start.isoformat(), "end": r.end.isoformat(),
                     "by_district_type": by_type}
    return out


def _clipped_normal(rng, mean_h, sd_h, lo_h, hi_h, n):
    return np.clip(rng.normal(mean_h, sd_h, n), lo_h, hi_h) * 3600.0


def _travel_s(x0, y0, x1, y1, speed_kmh):
    return np.hypot(x1 - x0, y1 - y0) * DETOUR / speed_kmh * 3600.0 + TRAVEL_OVERHEAD_S


def simulate_day(pop: Population, day_type: str, effects: dict[str, np.ndarray], beh: dict,
                 place_x: np.ndarray, place_y: np.ndarray, rng: np.random.Generator) -> DayPlan:
    """Stays of every subscriber of ``pop`` (a chunk) on one day."""
    n = pop.n
    hd = pop.home_district
    ps, p_work, pv, pe = _probabilities(beh, day_type)
    u = rng.random((4, n))
    stay_home = u[0] < 1 - (1 - ps) * (1 - effects["add_stay_home"][hd])
    commute = ~stay_home & pop.employed & (u[1] < p_work * effects["commute"][hd])
    visit = ~stay_home & (u[2] < pv * effects["visit"][hd]) & (pop.place >= 0)
    errand = ~stay_home & (u[3] < pe * effects["errand"][hd])
    other = ~stay_home & ~commute
    both = other & visit & errand

    ang = rng.uniform(0, 2 * np.pi, n)
    dist = rng.exponential(ERRAND_KM, n)
    ex, ey = pop.home_x + dist * np.sin(ang), pop.home_y + dist * np.cos(ang)
    plc = np.maximum(pop.place, 0)
    vx, vy = (place_x[plc], place_y[plc]) if len(place_x) else (pop.home_x, pop.home_y)
    depart = np.where(commute, _clipped_normal(rng, 8.25, 0.5, 6.0, 10.5, n),
                      np.where(both, _clipped_normal(rng, 10.0, 1.0, 8.0, 12.5, n),
                               _clipped_normal(rng, 11.5, 2.5, 8.0, 20.0, n)))
    work_end = _clipped_normal(rng, 18.25, 0.75, 15.5, 21.0, n)
    dur = {PLACE: np.clip(rng.lognormal(np.log(75 * 60), 0.5, n), 900, 4 * 3600),
           ERRAND: np.clip(rng.lognormal(np.log(30 * 60), 0.5, n), 600, 2 * 3600),
           HOME: rng.uniform(3600, 3 * 3600, n)}
    loc = {WORK: (pop.work_x, pop.work_y), PLACE: (vx, vy), ERRAND: (ex, ey), HOME: (pop.home_x, pop.home_y)}
    slots = [  # (kind per subscriber, planned)
        (np.where(commute, WORK, np.where(errand, ERRAND, PLACE)), commute | visit | errand),
        (np.where(commute, PLACE, HOME), np.where(commute, visit, both)),
        (np.where(commute, ERRAND, PLACE), np.where(commute, errand, both)),
    ]
    speed = pop.speed_kmh.astype(float)
    t = depart.copy()
    cx, cy = pop.home_x.copy(), pop.home_y.copy()
    S = len(slots) + 2
    kinds = np.full((n, S), HOME, np.int8)
    xs, ys = np.zeros((n, S)), np.zeros((n, S))
    st, en = np.zeros((n, S)), np.zeros((n, S))
    ok = np.zeros((n, S), bool)
    ok[:, 0] = True
    xs[:, 0], ys[:, 0] = pop.home_x, pop.home_y
    prev_ok = np.ones(n, bool)
    for j, (kind, planned) in enumerate(slots, start=1):
        lx = np.select([kind == k for k in loc], [loc[k][0] for k in loc])
        ly = np.select([kind == k for k in loc], [loc[k][1] for k in loc])
        arr = t + _travel_s(cx, cy, lx, ly, speed)
        d = np.select([kind == k for k in dur], [dur[k] for k in dur], 0.0)
        end = np.where(kind == WORK, np.maximum(arr + 3600.0, work_end), arr + d)
        back = _travel_s(lx, ly, pop.home_x, pop.home_y, speed)
        good = planned & (end + back <= DAY_S - 600.0) & ((kind != HOME) | prev_ok)
        kinds[:, j], xs[:, j], ys[:, j], st[:, j], en[:, j], ok[:, j] = kind, lx, ly, arr, end, good
        t = np.where(good, end, t)
        cx, cy = np.where(good, lx, cx), np.where(good, ly, cy)
        prev_ok = good
    # a midday home stay not followed by the planned visit merges into the final home stay
    mid = (kinds[:, 2] == HOME) & ok[:, 2] & ~ok[:, 3]
    ok[mid, 2] = False
    t[mid] = en[mid, 1]
    cx[mid], cy[mid] = xs[mid, 1], ys[mid, 1]
    went = ok[:, 1:S - 1].any(axis=1)
    en[:, 0] = np.where(went, depart, DAY_S)
    last = S - 1
    xs[:, last], ys[:, last] = pop.home_x, pop.home_y
    st[:, last] = t + _travel_s(cx, cy, pop.home_x, pop.home_y, speed)
    en[:, last] = DAY_S
    ok[:, last] = went
    sub, slot = np.nonzero(ok)
    return DayPlan(n, sub.astype(np.int32), kinds[sub, slot], xs[sub, slot], ys[sub, slot],
                   st[sub, slot], en[sub, slot])


def day_metrics(plan: DayPlan, area: np.ndarray | None = None,
                cell: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per subscriber: trips, stay_put, km travelled, time-weighted radius of gyration (km);
    with ``area`` (a cell code per stay) also area_trips and area_stay_put, with ``cell`` (the
    serving cell per stay) cell_trips and cell_stay_put."""
    n, sub = plan.n, plan.sub
    trips = plan.n_stays() - 1
    same = sub[1:] == sub[:-1]
    extra = {}
    for name, code in (("area", area), ("cell", cell)):
        if code is not None:
            t = np.bincount(sub[:-1][same & (code[1:] != code[:-1])], minlength=n)
            extra |= {f"{name}_trips": t, f"{name}_stay_put": t == 0}
    hop = np.hypot(np.diff(plan.x), np.diff(plan.y))
    km = np.bincount(sub[:-1][same], weights=hop[same], minlength=n)
    w = plan.end - plan.start
    tw = np.bincount(sub, weights=w, minlength=n)
    cx = np.bincount(sub, weights=w * plan.x, minlength=n) / tw
    cy = np.bincount(sub, weights=w * plan.y, minlength=n) / tw
    d2 = (plan.x - cx[sub]) ** 2 + (plan.y - cy[sub]) ** 2
    rg = np.sqrt(np.bincount(sub, weights=w * d2, minlength=n) / tw)
    return {"trips": trips, "stay_put": trips == 0, "km": km, "rg": rg} | extra


class MobilityTruth:
    """Accumulates true daily mobility per home district over chunks (and per group, e.g. operator)."""

    def __init__(self, districts: list[str]):
        self.districts = districts
        self._acc: dict = {}
        self.days: dict[str, dict] = {}

    def add(self, day: date, group: str, home_district: np.ndarray, m: dict, events: np.ndarray) -> None:
        k = len(self.districts)
        acc = self._acc.setdefault((day, group), {"n": np.zeros(k), "trips": np.zeros(k), "stay_put": np.zeros(k),
                                                   "km": np.zeros(k), "events": np.zeros(k), "rg": []})
        hd = home_district.astype(np.int64)
        acc["n"] += np.bincount(hd, minlength=k)
        acc["trips"] += np.bincount(hd, weights=m["trips"], minlength=k)
        acc["stay_put"] += np.bincount(hd, weights=m["stay_put"], minlength=k)
        acc["km"] += np.bincount(hd, weights=m["km"], minlength=k)
        acc["events"] += np.bincount(hd, weights=events, minlength=k)
        for name in ("area_trips", "area_stay_put", "cell_trips", "cell_stay_put"):
            if name in m:
                acc.setdefault(name, np.zeros(k))
                acc[name] += np.bincount(hd, weights=m[name], minlength=k)
        acc["rg"].append((hd, m["rg"]))

    def close_day(self, day: date) -> None:
        for (d, group) in [key for key in self._acc if key[0] == day]:
            acc = self._acc.pop((d, group))
            hd = np.concatenate([a for a, _ in acc["rg"]])
            rg = np.concatenate([b for _, b in acc["rg"]])
            out = {}
            for i, name in enumerate(self.districts):
                n = acc["n"][i]
                if n == 0:
                    continue
                r = rg[hd == i]
                out[name] = {"subscribers": int(n),
                             "trips_per_person": round(float(acc["trips"][i] / n), 6),
                             "stay_put_share": round(float(acc["stay_put"][i] / n), 6),
                             "km_travelled_mean": round(float(acc["km"][i] / n), 6),
                             "radius_gyration_km_median": round(float(np.median(r)), 6),
                             "radius_gyration_km_mean": round(float(np.mean(r)), 6),
                             "events": int(acc["events"][i])}
                for kind in ("area", "cell"):
                    if f"{kind}_trips" in acc:
                        out[name] |= {f"{kind}_trips_per_person": round(float(acc[f"{kind}_trips"][i] / n), 6),
                                      f"{kind}_stay_put_share": round(float(acc[f"{kind}_stay_put"][i] / n), 6)}
            self.days.setdefault(group, {})[day.isoformat()] = out
