"""Pharmacies of the synthetic city and their daily sales (model only; no files).

Reads the city config (districts, district_types, business_centres, atc_groups), the calendar
and the expected epidemic. Provides the pharmacy network (``pharmacy_network``), the expected
receipts per (day, district) and the simulation of one day's receipts with their items
(``simulate_day``). ``jobs.simulate.pharmacy_receipts`` writes the receipts feed and
``jobs.simulate.reference`` the pharmacy reference.

Demand: a baseline of receipts proportional to the district's residents (more downtown, where
commuters shop), with a weekly pattern, a mild winter rise of cold remedies and a dip under
restrictions; plus illness-driven receipts, one per expected purchase of the epidemic signals
``pharmacy_antipyretic`` / ``pharmacy_cough_cold`` / ``pharmacy_antiviral``, each containing its
group's item and sometimes other remedies.
"""

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from jobs.simulate.context import SimContext
from jobs.simulate.health_io import choose_rows

PHARMACIES = 520                       # pharmacies open on the first day
DENSITY = {"business_centre": 1.6, "residential": 1.0, "outskirts": 0.75}   # per resident, relative
DEMAND = {"business_centre": 1.25, "residential": 1.0, "outskirts": 0.9}    # receipts per resident
NEAR_CENTRE_SHARE = 0.35               # of a business-centre district's pharmacies, near the centre
KKM_PER_PHARMACY = (0.5, 0.35, 0.15)   # share of pharmacies with 1, 2, 3 cash registers
ALL_NIGHT_SHARE = 0.1
OPENINGS, CLOSINGS = 6, 4              # pharmacies opened / closed during a long enough period
BRANDS = ("Аптека", "Фармация", "Дәрі-Дәрмек", "Здоровье", "Медлайн", "Шипагер", "Фармакопейка")

RECEIPTS_PER_DAY = 24000.0             # city-wide baseline at health_scale 1
WEEKLY = np.array([1.03, 1.00, 1.00, 1.00, 1.03, 1.02, 0.88])
RESTRICTION_RESPONSE = -0.05           # relative change of baseline receipts at stringency 100
# Baseline item mix (share of items) and its winter rise for cold remedies.
BASE_ATC_MIX = {"N02B": 0.08, "R05": 0.07, "J05": 0.015, "M01A": 0.10, "C09": 0.12, "A02": 0.10,
                "V99": 0.515}
WINTER_AMPLITUDE = {"N02B": 0.08, "R05": 0.10, "J05": 0.08}
EXTRA_ITEMS_MEAN, MAX_ITEMS = 0.8, 6   # items per baseline receipt: 1 + min(Poisson, MAX - 1)
# Illness receipts: besides their own group's item, other remedies bought with it.
CO_PURCHASE = {"antipyretic": 0.35, "cough_cold": 0.30, "antiviral": 0.12}
CO_OTHER = {"V99": 0.30, "M01A": 0.10}
QTY_PROBS = (0.72, 0.20, 0.08)
PRICE_MEDIAN = {"N02B": 450, "R05": 1400, "J05": 3200, "M01A": 900, "C09": 2300, "A02": 1600,
                "V99": 600}
PRICE_SIGMA = 0.45
ILLNESS_GROUPS = ("antipyretic", "cough_cold", "antiviral")
# Local opening hours: share of receipts per hour (regular pharmacies 08-22, all-night ones 24 h).
HOURLY = np.array([0.4, 0.3, 0.2, 0.2, 0.2, 0.3, 0.6, 1.2, 3.0, 4.5, 5.5, 6.0,
                   6.2, 6.0, 5.8, 5.8, 6.0, 6.6, 7.2, 7.0, 6.0, 4.6, 1.0, 0.6])
DAY_HOURS = np.where((np.arange(24) >= 8) & (np.arange(24) < 22), HOURLY, 0.0)


@dataclass
class PharmacyNetwork:
    """One row per pharmacy (frame) and one per cash register (kkm_*), in id order."""

    frame: pd.DataFrame      # pharmacy_id, name, lat, lon, district, district_index, size,
                             # all_night, valid_from, valid_to (None = still open)
    kkm_id: np.ndarray       # register id (str)
    kkm_pharmacy: np.ndarray  # pharmacy row of each register
    kkm_weight: np.ndarray   # share of its pharmacy's receipts

    def active(self, day: date) -> np.ndarray:
        """Pharmacies open on ``day`` (inclusive validity bounds)."""
        return np.array([f <= day and (t is None or day <= t)
                         for f, t in zip(self.frame["valid_from"], self.frame["valid_to"])])

    def change_days(self) -> list[date]:
        """Days on which the set of open pharmacies changes (the first day included)."""
        out = set(self.frame["valid_from"])
        out |= {t + timedelta(days=1) for t in self.frame["valid_to"] if t is not None}
        return sorted(out)


def _near_centre(ctx: SimContext, j: int, centres: list[dict], n: int, rng: np.random.Generator):
    """n points of district j around its business centres (Gaussian, sd = centre radius)."""
    xs, ys = np.empty(n), np.empty(n)
    for k in range(n):
        c = centres[k % len(centres)]
        cx, cy = ctx.geo.proj.to_xy(c["lat"], c["lon"])
        while True:
            x, y = rng.normal(float(cx), c["radius_km"]), rng.normal(float(cy), c["radius_km"])
            if ctx.geo.district_index([x], [y])[0] == j:
                break
        xs[k], ys[k] = x, y
    return xs, ys


def _locations(ctx: SimContext, counts: np.ndarray, rng: np.random.Generator):
    """Pharmacy positions (x, y), district index and near-a-business-centre flag."""
    xs, ys, dist, near = [], [], [], []
    for j, n in enumerate(counts):
        mine = [c for c in ctx.cfg.get("business_centres", []) if c["district"] == ctx.geo.districts[j].name]
        n_near = int(round(n * NEAR_CENTRE_SHARE)) if mine else 0
        x, y = ctx.geo.sample_in_district(j, n - n_near, rng, centre_sigma_km=2.0, centre_share=0.6)
        bx, by = _near_centre(ctx, j, mine, n_near, rng)
        xs += [x, bx]
        ys += [y, by]
        dist.append(np.full(n, j))
        near.append(np.r_[np.zeros(n - n_near, bool), np.ones(n_near, bool)])
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(dist), np.concatenate(near)


def pharmacy_network(ctx: SimContext) -> PharmacyNetwork:
    """Deterministic pharmacy network for the run (openings/closings inside the period)."""
    rng = ctx.rng("pharmacy_network")
    geo = ctx.geo
    pop = np.array([d.population for d in geo.districts], dtype=float)
    dens = pop * np.array([DENSITY[d.kind] for d in geo.districts])
    total = PHARMACIES + OPENINGS
    counts = np.floor(total * dens / dens.sum()).astype(int)
    counts[np.argsort(-(total * dens / dens.sum() - counts))[: total - counts.sum()]] += 1
    x, y, district, near = _locations(ctx, counts, rng)
    n = len(x)
    order = rng.permutation(n)                       # ids are not sorted by district
    x, y, district, near = x[order], y[order], district[order], near[order]
    lat, lon = geo.proj.to_latlon(x, y)
    size = rng.lognormal(0.0, 0.5, n) * np.where(near, 1.3, 1.0)
    valid_from: list[date] = [ctx.params.start] * n
    valid_to: list[date | None] = [None] * n
    pick = rng.choice(n, size=OPENINGS + CLOSINGS, replace=False)
    opened, closed = pick[:OPENINGS], pick[OPENINGS:]
    keep = np.ones(n, bool)
    if ctx.params.days >= 60:
        days = ctx.params.all_days()
        open_day, close_day = days[int(len(days) * 0.35)], days[int(len(days) * 0.65)]
        for i in opened:
            valid_from[i] = open_day
        for i in closed:
            valid_to[i] = close_day - timedelta(days=1)
    else:                                            # short runs: no openings or closings
        keep[opened] = False
    brand = rng.integers(0, len(BRANDS), n)[keep]
    all_night = (rng.random(n) < ALL_NIGHT_SHARE)[keep]
    n = int(keep.sum())
    frame = pd.DataFrame({
        "pharmacy_id": [f"PH{i + 1:05d}" for i in range(n)],
        "name": [f"{BRANDS[b]} №{i + 1}" for i, b in enumerate(brand)],
        "lat": np.round(lat[keep], 6), "lon": np.round(lon[keep], 6),
        "district": [geo.districts[j].name for j in district[keep]], "district_index": district[keep],
        "size": size[keep], "all_night": all_night,
        "valid_from": [v for v, k in zip(valid_from, keep) if k],
        "valid_to": [v for v, k in zip(valid_to, keep) if k],
    })
    n_kkm = choose_rows(rng, np.array([KKM_PER_PHARMACY]), np.zeros(n, int)) + 1
    kkm_pharmacy = np.repeat(np.arange(n), n_kkm)
    rank = np.arange(len(kkm_pharmacy)) - np.repeat(np.cumsum(n_kkm) - n_kkm, n_kkm)
    weight = 1.0 / (1.0 + rank)
    weight /= np.bincount(kkm_pharmacy, weight)[kkm_pharmacy]
    serial = rng.choice(90_000_000, size=len(kkm_pharmacy), replace=False) + 10_000_000
    kkm_id = np.array([f"0102{s:08d}" for s in serial])
    return PharmacyNetwork(frame, kkm_id, kkm_pharmacy, weight)
