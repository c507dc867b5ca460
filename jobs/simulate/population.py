"""Subscribers of the synthetic city: operator, home, workplace, favourite place, habits.

Reads the city config (districts, operators' market shares, business centres, places,
behaviour.employed_share) through ``CityGeography``; writes nothing. Grain: one row per
subscriber, held as numpy arrays (2 million subscribers take a few hundred MB); the truth
helpers summarise them (counts, scale factors, a sample with keys and true home/work). Subscribers
are laid out operator by operator (Kcell first, in config order) so each operator's
subscribers are one contiguous range that the event generator walks in chunks.
"""

from dataclasses import dataclass, fields
from datetime import date

import h3
import numpy as np

from jobs.simulate.context import SimContext
from jobs.simulate.geography import CityGeography
from jobs.simulate.keys import month_of, subscriber_keys

ACTIVITY_SHAPE = 1.6           # gamma shape of events per day across subscribers
NIGHT_BETA = (1.3, 4.5)        # night-activity propensity ~ Beta
SPEED_KMH = 22.0               # median door-to-door travel speed (straight-line km per hour x 1.3)
JOB_DISTANCE_KM = 8.0          # gravity decay of "elsewhere" jobs with distance from home
PLACE_DISTANCE_KM = 5.0        # decay of the favourite congestion place with distance
NIGHT_CLASSES = 8              # night propensity is binned for the diurnal profile tables


def largest_remainder(total: int, weights) -> np.ndarray:
    """Integer counts summing to ``total`` proportional to ``weights``."""
    w = np.asarray(weights, dtype=float)
    raw = total * w / w.sum()
    out = np.floor(raw).astype(np.int64)
    out[np.argsort(-(raw - out), kind="stable")[: total - out.sum()]] += 1
    return out


@dataclass
class Population:
    """Per-subscriber attributes; index = subscriber id."""

    operator: np.ndarray        # int8 index into cfg["operators"]
    home_district: np.ndarray   # int16 index into geo.districts
    home_x: np.ndarray
    home_y: np.ndarray
    employed: np.ndarray        # bool
    work_x: np.ndarray          # nan when not employed
    work_y: np.ndarray
    place: np.ndarray           # int16 index into cfg["places"] (favourite congestion place)
    activity: np.ndarray        # float32 mean events per day
    night: np.ndarray           # float32 night-activity propensity in [0, 1]
    night_class: np.ndarray     # int8 bin of ``night`` (0 .. NIGHT_CLASSES-1)
    speed_kmh: np.ndarray       # float32 travel speed

    @property
    def n(self) -> int:
        return len(self.operator)

    def take(self, sl: slice) -> "Population":
        return Population(**{f.name: getattr(self, f.name)[sl] for f in fields(self)})

    def operator_range(self, op_index: int) -> tuple[int, int]:
        idx = np.flatnonzero(self.operator == op_index)
        return (int(idx[0]), int(idx[-1]) + 1) if len(idx) else (0, 0)


def place_xy(geo: CityGeography, cfg: dict) -> tuple[np.ndarray, np.ndarray]:
    places = cfg.get("places", [])
    return geo.proj.to_xy([p["lat"] for p in places], [p["lon"] for p in places])


def _choose(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """One categorical draw per row of a (n, k) weight matrix."""
    cum = np.cumsum(weights, axis=1)
    u = rng.random(len(weights)) * cum[:, -1]
    return np.minimum((cum < u[:, None]).sum(axis=1), weights.shape[1] - 1)


def _workplaces(ctx: SimContext, rng: np.random.Generator, hd: np.ndarray, employed: np.ndarray):
    geo, cfg = ctx.geo, ctx.cfg
    n = len(hd)
    wx = np.full(n, np.nan)
    wy = np.full(n, np.nan)
    bcs = cfg.get("business_centres", [])
    w = np.array([b["job_weight"] for b in bcs] + [cfg.get("jobs_elsewhere_weight", 0.5)])
    emp = np.flatnonzero(employed)
    which = rng.choice(len(w), size=len(emp), p=w / w.sum())
    for b_i, b in enumerate(bcs):
        sel = emp[which == b_i]
        bx, by = geo.proj.to_xy(b["lat"], b["lon"])
        wx[sel] = rng.normal(bx, b["radius_km"] / 2, len(sel))
        wy[sel] = rng.normal(by, b["radius_km"] / 2, len(sel))
    rest = emp[which == len(bcs)]
    cxy = np.array([d.centre_xy for d in geo.districts])
    pop = np.array([d.population for d in geo.districts], dtype=float)
    dist = np.hypot(cxy[:, None, 0] - cxy[None, :, 0], cxy[:, None, 1] - cxy[None, :, 1])
    gravity = pop[None, :] * np.exp(-dist / JOB_DISTANCE_KM)
    dest = _choose(rng, gravity[hd[rest]])
    for j in range(len(geo.districts)):
        sel = rest[dest == j]
        if len(sel):
            wx[sel], wy[sel] = geo.sample_in_district(j, len(sel), rng)
    return wx, wy


def build_population(ctx: SimContext) -> Population:
    """``params.subscribers`` subscribers split by market share, homes by district population."""
    cfg, geo, n = ctx.cfg, ctx.geo, int(ctx.params.subscribers)
    rng = ctx.rng("population")
    ops = cfg["operators"]
    operator = np.repeat(np.arange(len(ops), dtype=np.int8), largest_remainder(n, [o["market_share"] for o in ops]))
    hd = rng.permutation(np.repeat(np.arange(len(geo.districts), dtype=np.int16),
                                   largest_remainder(n, [d.population for d in geo.districts])))
    hx = np.empty(n)
    hy = np.empty(n)
    for i in range(len(geo.districts)):
        sel = np.flatnonzero(hd == i)
        if len(sel):
            hx[sel], hy[sel] = geo.sample_in_district(i, len(sel), rng)
    employed = rng.random(n) < cfg.get("behaviour", {}).get("employed_share", 0.6)
    wx, wy = _workplaces(ctx, rng, hd, employed)
    px, py = place_xy(geo, cfg)
    attraction = np.array([p.get("attraction", 1.0) for p in cfg.get("places", [])])
    if len(attraction):
        d = np.hypot(hx[:, None] - px[None, :], hy[:, None] - py[None, :])
        place = _choose(rng, attraction[None, :] * np.exp(-d / PLACE_DISTANCE_KM)).astype(np.int16)
    else:
        place = np.full(n, -1, np.int16)
    mean = float(ctx.params.events_per_day)
    activity = rng.gamma(ACTIVITY_SHAPE, mean / ACTIVITY_SHAPE, n).astype(np.float32)
    night = rng.beta(*NIGHT_BETA, n).astype(np.float32)
    night_class = np.minimum((night * NIGHT_CLASSES).astype(np.int8), NIGHT_CLASSES - 1)
    speed = (SPEED_KMH * np.exp(rng.normal(0, 0.25, n))).astype(np.float32)
    return Population(operator, hd, hx, hy, employed, wx, wy, place, activity, night, night_class, speed)


def subscriber_counts(pop: Population, ctx: SimContext) -> dict:
    """Subscribers per operator and home district (true residents among subscribers)."""
    names = ctx.geo.district_names
    out = {}
    for i, op in enumerate(ctx.cfg["operators"]):
        counts = np.bincount(pop.home_district[pop.operator == i], minlength=len(names))
        out[op["name"]] = {names[j]: int(c) for j, c in enumerate(counts)}
    return out


def scale_factors(pop: Population, ctx: SimContext) -> dict:
    """People per subscriber: city-wide, per operator and per (operator, district)."""
    names = ctx.geo.district_names
    popn = np.array([d.population for d in ctx.geo.districts], dtype=float)
    counts = subscriber_counts(pop, ctx)
    out = {"people_per_subscriber": round(float(popn.sum()) / max(pop.n, 1), 6),
           "mobile_penetration": ctx.cfg.get("mobile_penetration"), "operators": {}}
    for op in ctx.cfg["operators"]:
        c = counts[op["name"]]
        total = sum(c.values())
        out["operators"][op["name"]] = {
            "market_share": op["market_share"],
            "people_per_subscriber": round(float(popn.sum()) / max(total, 1), 6),
            "residents_per_subscriber": {names[j]: (round(float(popn[j]) / c[names[j]], 6) if c[names[j]] else None)
                                         for j in range(len(names))},
        }
    return out


def truth_sample(ctx: SimContext, pop: Population, nets: dict, days: list[date], size: int = 500) -> dict[str, list]:
    """``size`` subscribers with their keys per month, true home/work (H3 res 8) and cells."""
    if not days or pop.n == 0:
        return {}
    ids = np.sort(ctx.rng("truth/sample").choice(pop.n, min(size, pop.n), replace=False))
    months = sorted({month_of(d) for d in days})
    res = int(ctx.cfg.get("h3", {}).get("map_resolution", 8))
    names = ctx.geo.district_names
    out: dict[str, list] = {}
    for oi, op in enumerate(ctx.cfg["operators"]):
        mine = ids[pop.operator[ids] == oi]
        if not len(mine):
            continue
        net = nets[op["name"]]
        nd = net.on(days[0])
        cgi = net.cells["cgi"].to_numpy()
        keys = {m: subscriber_keys(ctx.salt, op["name"], m, mine) for m in months}
        hlat, hlon = ctx.geo.proj.to_latlon(pop.home_x[mine], pop.home_y[mine])
        hcell = nd.serve(pop.home_x[mine], pop.home_y[mine])[0]
        emp = pop.employed[mine]
        wlat, wlon = ctx.geo.proj.to_latlon(np.where(emp, pop.work_x[mine], 0), np.where(emp, pop.work_y[mine], 0))
        wcell = nd.serve(np.where(emp, pop.work_x[mine], 0), np.where(emp, pop.work_y[mine], 0))[0]
        rows = []
        for j, sid in enumerate(mine.tolist()):
            e = bool(emp[j])
            rows.append({
                "subscriber": sid, "keys": {m: keys[m][j].decode() for m in months},
                "home_district": names[int(pop.home_district[sid])],
                "home_lat": round(float(hlat[j]), 6), "home_lon": round(float(hlon[j]), 6),
                "home_h3": h3.latlng_to_cell(float(hlat[j]), float(hlon[j]), res), "home_cgi": str(cgi[hcell[j]]),
                "employed": e,
                "work_lat": round(float(wlat[j]), 6) if e else None, "work_lon": round(float(wlon[j]), 6) if e else None,
                "work_h3": h3.latlng_to_cell(float(wlat[j]), float(wlon[j]), res) if e else None,
                "work_cgi": str(cgi[wcell[j]]) if e else None,
                "activity": round(float(pop.activity[sid]), 3), "night_propensity": round(float(pop.night[sid]), 3),
            })
        out[op["name"]] = rows
    return out
