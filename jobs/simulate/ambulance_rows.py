"""Row attributes of 103 calls: time, geocode, district text, reason, priority, age, sex, outcome.

Pure functions of (config, day, counts, random generator) returning Arrow tables with the
columns of the ``ambulance`` feed; ``jobs.simulate.ambulance`` decides the counts and writes.
"""

import csv
import io
from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jobs.simulate.context import SimContext
from jobs.simulate.health_io import choose_rows, to_str

COLUMNS = ("call_id", "received_at", "lat", "lon", "district_text", "reason_code", "reason_text_ru",
           "reason_text_kk", "priority", "age_band", "sex", "hospitalised")
AGE_BANDS = ("0-4", "5-17", "18-39", "40-64", "65+")
SEXES = ("M", "F", "U")
GEOCODE_MISSING_SHARE = 0.03        # addresses the dispatch system could not geocode
# Calls per local hour of the day (relative).
HOURLY = np.array([2.6, 2.2, 1.9, 1.7, 1.6, 1.8, 2.4, 3.3, 4.3, 5.0, 5.3, 5.3,
                   5.1, 4.9, 4.8, 4.8, 4.9, 5.1, 5.3, 5.4, 5.2, 4.6, 3.9, 3.2])
# How dispatchers type the district (share of calls).
DISTRICT_TEXT = (("{ru} р-н", 0.70), ("{ru} район", 0.18), ("{RU} Р-Н", 0.08), ("{ru}", 0.04))
# Per reason code: weight within its group (baseline, epidemic calls), priority 1-4 shares,
# age band shares (AGE_BANDS order), chance of hospitalisation.
CODE_WEIGHTS = {"J06": (0.55, 0.35), "R50": (0.33, 0.30), "J18": (0.12, 0.35)}
PRIORITY = {
    "J06": (0.03, 0.27, 0.50, 0.20), "R50": (0.02, 0.20, 0.50, 0.28), "J18": (0.15, 0.55, 0.25, 0.05),
    "I21": (0.60, 0.35, 0.05, 0.00), "I10": (0.15, 0.50, 0.30, 0.05), "T14": (0.10, 0.35, 0.40, 0.15),
    "V89": (0.35, 0.45, 0.15, 0.05), "R10": (0.05, 0.30, 0.45, 0.20), "R55": (0.15, 0.45, 0.30, 0.10),
    "O80": (0.30, 0.50, 0.20, 0.00),
}
AGE = {
    "respiratory_fever": (0.22, 0.14, 0.24, 0.22, 0.18), "cardiac": (0.00, 0.01, 0.06, 0.38, 0.55),
    "trauma": (0.08, 0.15, 0.42, 0.25, 0.10), "other": (0.05, 0.10, 0.40, 0.25, 0.20),
    "O80": (0.0, 0.02, 0.93, 0.05, 0.0),
}
AGE_EPIDEMIC = (0.02, 0.03, 0.17, 0.38, 0.40)     # respiratory calls during a wave skew older
HOSPITALISED = {"J06": 0.08, "R50": 0.05, "J18": 0.45, "I21": 0.60, "I10": 0.15, "T14": 0.20,
                "V89": 0.35, "R10": 0.25, "R55": 0.15, "O80": 0.90}
BAD_TIMESTAMPS = ("{y}-02-30 25:61:00", "{y}-13-01 00:00:00", "{d} 24:75:99")


@dataclass(frozen=True)
class ReasonTable:
    codes: tuple[str, ...]
    group_of: np.ndarray          # group index per code
    ru: tuple[str, ...]
    kk: tuple[str, ...]
    code_probs: np.ndarray        # (2 * groups, codes): row = group * 2 + epidemic flag
    age_probs: np.ndarray         # (codes + 1, bands): last row = epidemic respiratory calls
    priority_probs: np.ndarray    # (codes, 4)
    hosp: np.ndarray              # (codes,)

    @classmethod
    def from_config(cls, cfg: dict, groups: tuple[str, ...]) -> "ReasonTable":
        rs = cfg["ambulance_reasons"]
        codes = tuple(r["code"] for r in rs)
        gidx = np.array([groups.index(r["group"]) for r in rs])
        probs = np.zeros((2 * len(groups), len(codes)))
        for k, c in enumerate(codes):
            w = CODE_WEIGHTS.get(c, (1.0, 1.0))
            probs[2 * gidx[k], k], probs[2 * gidx[k] + 1, k] = w
        age = [AGE.get(c, AGE[r["group"]]) for c, r in zip(codes, rs)] + [AGE_EPIDEMIC]
        return cls(codes, gidx, tuple(r["ru"] for r in rs), tuple(r["kk"] for r in rs),
                   probs + 1e-12, np.array(age) + 1e-12,
                   np.array([PRIORITY.get(c, (0.1, 0.4, 0.4, 0.1)) for c in codes]) + 1e-12,
                   np.array([HOSPITALISED.get(c, 0.2) for c in codes]))


def _district_text(ctx: SimContext, district: np.ndarray, rng: np.random.Generator) -> list[str]:
    variants = []
    for d in ctx.geo.districts:
        ru = d.name_ru or d.name
        variants.append([v.format(ru=ru, RU=ru.upper()) for v, _ in DISTRICT_TEXT])
    style = choose_rows(rng, np.array([[w for _, w in DISTRICT_TEXT]]), np.zeros(len(district), int))
    return [variants[d][s] for d, s in zip(district.tolist(), style.tolist())]


def build_calls(ctx: SimContext, day: date, counts: np.ndarray, epi_share: np.ndarray,
                reasons: ReasonTable, rng: np.random.Generator) -> tuple[dict, dict]:
    """The day's calls as column arrays, sorted by time (lat/lon floats, NaN = not geocoded).

    ``counts``: (districts, groups); ``epi_share``: share of each district's respiratory calls
    caused by the epidemic (skews reason and age)."""
    n_d, n_g = counts.shape
    cell = np.repeat(np.arange(n_d * n_g), counts.ravel())
    district, group = cell // n_g, cell % n_g
    n = len(cell)
    epidemic = (group == 0) & (rng.random(n) < epi_share[district])
    code = choose_rows(rng, reasons.code_probs, group * 2 + epidemic)
    age = choose_rows(rng, reasons.age_probs, np.where(epidemic, len(reasons.codes), code))
    priority = choose_rows(rng, reasons.priority_probs, code) + 1
    o80 = np.array([c == "O80" for c in reasons.codes])[code]
    sex = np.where(o80, 1, choose_rows(rng, np.array([[0.48, 0.50, 0.02]]), np.zeros(n, int)))
    p_hosp = reasons.hosp[code] * np.where(age == 4, 1.4, 1.0) * np.where(epidemic, 1.3, 1.0)
    hospitalised = (rng.random(n) < np.minimum(p_hosp, 0.95)).astype(np.int8)
    seconds = choose_rows(rng, HOURLY[None, :], np.zeros(n, int)) * 3600 + rng.integers(0, 3600, n)
    x, y = np.empty(n), np.empty(n)
    for j in range(n_d):
        sel = np.flatnonzero(district == j)
        if len(sel):
            x[sel], y[sel] = ctx.geo.sample_in_district(j, len(sel), rng)
    lat, lon = ctx.geo.proj.to_latlon(x, y)
    missing = rng.random(n) < GEOCODE_MISSING_SHARE
    lat[missing], lon[missing] = np.nan, np.nan
    text = np.array(_district_text(ctx, district, rng), dtype=object)
    order = np.argsort(seconds, kind="stable")
    sec = seconds[order]
    midnight = np.datetime64(day.isoformat(), "s")
    seq = pc.utf8_lpad(pc.cast(pa.array(np.arange(1, n + 1)), pa.string()), 5, "0")
    cols = {
        "call_id": pc.binary_join_element_wise(day.strftime("%Y%m%d"), seq, ""),
        "received_at": pc.cast(pa.array(midnight + sec), pa.string()),   # "YYYY-MM-DD HH:MM:SS"
        "lat": lat[order], "lon": lon[order],
        "district_text": text[order].tolist(),
        "reason_code": np.array(reasons.codes)[code[order]],
        "reason_text_ru": np.array(reasons.ru)[code[order]],
        "reason_text_kk": np.array(reasons.kk)[code[order]],
        "priority": priority[order].astype(np.int8),
        "age_band": np.array(AGE_BANDS)[age[order]],
        "sex": np.array(SEXES)[sex[order]],
        "hospitalised": hospitalised[order],
        "district_index": district[order],
    }
    return cols, {"not_geocoded": int(missing.sum())}


def to_table(cols: dict) -> pa.Table:
    """The feed's columns, in order, as an Arrow table (lat/lon as text, empty when missing)."""
    data = {c: cols[c] for c in COLUMNS}
    data["lat"], data["lon"] = to_str(cols["lat"], 6), to_str(cols["lon"], 6)
    return pa.table({c: (v if isinstance(v, pa.Array) else pa.array(v)) for c, v in data.items()})


def displace_out_of_city(ctx: SimContext, cols: dict, rng: np.random.Generator, rate: float) -> int:
    """Move about ``rate`` of the geocoded calls tens of km outside the city (bad geocodes).

    Changes ``cols`` in place; returns how many rows were moved.
    """
    geocoded = np.flatnonzero(np.isfinite(cols["lat"]))
    k = int(rng.binomial(len(geocoded), rate)) if len(geocoded) else 0
    if k == 0:
        return 0
    pick = np.sort(rng.choice(geocoded, size=k, replace=False))
    hull = ctx.geo.boundary_xy
    cx, cy = hull.centroid.x, hull.centroid.y
    minx, miny, maxx, maxy = hull.bounds
    reach = float(np.hypot(max(maxx - cx, cx - minx), max(maxy - cy, cy - miny)))
    angle = rng.uniform(0, 2 * np.pi, k)
    dist = reach + rng.uniform(10.0, 60.0, k)
    cols["lat"][pick], cols["lon"][pick] = ctx.geo.proj.to_latlon(cx + dist * np.cos(angle),
                                                                  cy + dist * np.sin(angle))
    return k


def _field(value) -> str:
    if isinstance(value, (float, np.floating)):
        return "" if np.isnan(value) else f"{round(float(value), 6)}"
    return str(value)


def malformed_line(cols: dict, src: int, j: int, rng: np.random.Generator, day: date) -> str:
    """A raw CSV line that breaks the contract: bad timestamp, non-numeric lat or missing fields.

    Built from row ``src`` with a call id of its own (``9`` + sequence), so it is an extra row.
    """
    values = [_field(cols[c][src].as_py() if isinstance(cols[c], pa.Array) else cols[c][src])
              for c in COLUMNS]
    values[0] = f"{day.strftime('%Y%m%d')}9{j:04d}"
    kind = int(rng.integers(0, 3))
    if kind == 0:
        pattern = BAD_TIMESTAMPS[int(rng.integers(0, len(BAD_TIMESTAMPS)))]
        values[1] = pattern.format(y=day.year, d=day.isoformat())
    elif kind == 1:
        values[2] = ("н/д", "43.2x", "NaN-lat")[int(rng.integers(0, 3))]
    else:
        values = values[: int(rng.integers(3, len(COLUMNS) - 2))]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(values)
    return buf.getvalue()
