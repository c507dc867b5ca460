"""Mobile networks of the synthetic city: sites, sectors, versions and the serving cell.

Reads the city config (operators, districts, business centres) through ``CityGeography``.
Per operator: cell sites placed with a density that follows daytime population (residents plus
jobs), denser downtown (``sites_per_km2_downtown``) and thinning towards the outskirts; three
sectors per site; LAC (Beeline: TAC) per district; CI (Beeline: ECI = eNB * 256 + sector).
Grain of the cell table: one row per cell version (``valid_from``/``valid_to``). One Kcell cell
is renamed and one Beeline site moves mid-period. Writes the ``cell_reference`` feed.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from jobs.simulate.context import FeedResult, SimContext
from jobs.simulate.geography import CityGeography

SECTORS = 3
RASTER_KM = 0.1           # grid of the fast serving-cell lookup used for travel paths
PING_PONG = 0.06          # chance that an event is served by the location's second-best cell
DENSITY_GAMMA = 1.0       # site density ~ (daytime population density) ** gamma
DENSITY_FLOOR = 0.035     # outskirts keep this share of the downtown site density
LAC_BASE = {"kcell": 10100, "beeline": 20100, "tele2": 30100}
SITE_PREFIX = {"kcell": "K", "beeline": "B", "tele2": "T"}
COLUMNS = ["cgi", "operator", "lac", "ci", "site_id", "lat", "lon", "azimuth_deg",
           "beam_width_deg", "range_m", "valid_from", "valid_to"]
FEED = "cell_reference"


def daytime_density(geo: CityGeography, cfg: dict, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """People per km2 present in the daytime (residents plus jobs), 0 outside the city."""
    didx = geo.district_index(x, y)
    cell_area = _grid_cell_area(x, y)
    res = np.zeros(len(x))
    for i, d in enumerate(geo.districts):
        inside = didx == i
        if not inside.any():
            continue
        g = np.exp(-((x[inside] - d.centre_xy[0]) ** 2 + (y[inside] - d.centre_xy[1]) ** 2) / (2 * 2.5 ** 2))
        res[inside] = d.population * (0.7 * g / (g.sum() * cell_area) + 0.3 / d.area_km2)
    total = sum(d.population for d in geo.districts)
    jobs = cfg.get("behaviour", {}).get("employed_share", 0.6) * total
    work = cfg.get("jobs_elsewhere_weight", 0.5) * jobs * res / total
    for b in cfg.get("business_centres", []):
        bx, by = geo.proj.to_xy(b["lat"], b["lon"])
        s = b["radius_km"] / 2
        work += b["job_weight"] * jobs * np.exp(-((x - bx) ** 2 + (y - by) ** 2) / (2 * s * s)) / (2 * np.pi * s * s)
    return np.where(didx >= 0, res + work, 0.0)


def _grid_cell_area(x: np.ndarray, y: np.ndarray) -> float:
    ux, uy = np.unique(x), np.unique(y)
    return float(np.diff(ux).min() * np.diff(uy).min()) if len(ux) > 1 and len(uy) > 1 else 1.0


def place_sites(geo: CityGeography, cfg: dict, per_km2_downtown: float,
                rng: np.random.Generator, grid_km: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """Site positions (x, y km): density-adaptive dart throwing, denser where people are."""
    minx, miny, maxx, maxy = geo.boundary_xy.bounds
    gx, gy = np.meshgrid(np.arange(minx, maxx, grid_km) + grid_km / 2, np.arange(miny, maxy, grid_km) + grid_km / 2)
    gx, gy = gx.ravel(), gy.ravel()
    f = daytime_density(geo, cfg, gx, gy)
    ref = np.quantile(f[f > 0], 0.97)
    rho = np.where(f > 0, per_km2_downtown * np.clip((f / ref) ** DENSITY_GAMMA, DENSITY_FLOOR, 1.0), 0.0)
    target = int(round(rho.sum() * grid_km * grid_km))
    cand = rng.choice(len(gx), size=40 * target, p=rho / rho.sum())
    cx = gx[cand] + rng.uniform(-grid_km / 2, grid_km / 2, len(cand))
    cy = gy[cand] + rng.uniform(-grid_km / 2, grid_km / 2, len(cand))
    spacing = 0.6 / np.sqrt(rho[cand])            # minimum distance to an accepted site
    sx = np.empty(target)
    sy = np.empty(target)
    n = 0
    for px, py, sp in zip(cx, cy, spacing):
        if n and np.min((sx[:n] - px) ** 2 + (sy[:n] - py) ** 2) < sp * sp:
            continue
        sx[n], sy[n] = px, py
        n += 1
        if n == target:
            break
    return sx[:n], sy[:n]


def build_cells(geo: CityGeography, op: dict, op_index: int, sx: np.ndarray, sy: np.ndarray,
                rng: np.random.Generator, first_day: date) -> pd.DataFrame:
    """The initial cell table of one operator: three sectors per site, open-ended versions."""
    name, mccmnc = op["name"], op["mcc_mnc"]
    n = len(sx)
    tree = cKDTree(np.column_stack([sx, sy]))
    dist, _ = tree.query(np.column_stack([sx, sy]), k=min(4, n))
    nn = dist[:, 1:].mean(axis=1) if n > 1 else np.full(n, 2.0)
    site_range = np.clip(np.round(600 * nn, -1), 400, 2500)
    rot = rng.uniform(0, 120, n)
    didx = geo.district_index(sx, sy)
    lac = LAC_BASE.get(name, 40100 + 100 * op_index) + np.maximum(didx, 0) + 1
    start = first_day - timedelta(days=60)
    commissioned = [date.fromordinal(int(o)) for o in rng.integers(date(2012, 1, 1).toordinal(), start.toordinal(), n)]
    site = np.repeat(np.arange(n), SECTORS)
    sector = np.tile(np.arange(SECTORS), n)
    az = np.round((rot[site] + 120 * sector + rng.normal(0, 6, len(site))) % 360).astype(int) % 360
    beam = rng.choice([65, 90, 120], size=len(site), p=[0.6, 0.3, 0.1])
    if name == "beeline":
        ci = (100000 + site) * 256 + sector + 1                       # ECI = eNB * 256 + cell
    else:
        ci = (1000 + site) * 10 + sector + 1
    lat, lon = geo.proj.to_latlon(sx[site], sy[site])
    lac_cells = lac[site]
    return pd.DataFrame({
        "cgi": [f"{mccmnc}-{a}-{b}" for a, b in zip(lac_cells.tolist(), ci.tolist())],
        "operator": mccmnc, "lac": lac_cells.astype(np.int64), "ci": ci.astype(np.int64),
        "site_id": [f"{SITE_PREFIX.get(name, 'S')}{s + 1:04d}" for s in site.tolist()],
        "site": site, "sector": sector, "x": sx[site], "y": sy[site], "lat": lat, "lon": lon,
        "azimuth_deg": az, "beam_width_deg": beam, "range_m": site_range[site].astype(int),
        "valid_from": [commissioned[s] for s in site.tolist()], "valid_to": None,
        "announced": first_day, "closed_on": None,
    })


@dataclass
class NetworkDay:
    """The network as it is on one day: sites, their sector cells and a site index."""

    rows: np.ndarray          # (sites, 3) cell-table row of each site's sector that day
    site_xy: np.ndarray       # (sites, 2) km
    azimuth: np.ndarray       # (sites, 3) degrees
    tree: cKDTree = field(repr=False)
    _raster: tuple | None = field(default=None, repr=False)

    def serve(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Best and second-best serving cell rows for points (x, y) in km (vectorised).

        Best: nearest site, then the sector whose azimuth is closest to the bearing from the
        site to the point. Second best: the next sector of that site or the best sector of
        the second-nearest site, whichever border is nearer (where ping-pong happens)."""
        pts = np.column_stack([np.asarray(x, float), np.asarray(y, float)])
        if len(pts) == 0:
            return np.empty(0, np.int32), np.empty(0, np.int32)
        k = 2 if len(self.site_xy) > 1 else 1
        d, s = self.tree.query(pts, k=k)
        if k == 1:
            d, s = d[:, None], s[:, None]
            d = np.column_stack([d[:, 0], np.full(len(pts), np.inf)])
            s = np.column_stack([s[:, 0], s[:, 0]])
        s1, s2 = s[:, 0], s[:, 1]
        diff1 = self._angle_diffs(pts, s1)
        order = np.argsort(diff1, axis=1)
        i = np.arange(len(pts))
        sec1, sec1b = order[:, 0], order[:, 1]
        sec2 = np.argmin(self._angle_diffs(pts, s2), axis=1)
        gap = (diff1[i, sec1b] - diff1[i, sec1]) / 2
        to_sector_border = d[:, 0] * np.radians(gap)
        to_site_border = (d[:, 1] - d[:, 0]) / 2
        best = self.rows[s1, sec1]
        second = np.where(to_sector_border < to_site_border, self.rows[s1, sec1b], self.rows[s2, sec2])
        return best.astype(np.int32), second.astype(np.int32)

    def serve_fast(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``serve`` read from a RASTER_KM grid built with ``serve`` (for points on the move:
        travel paths are approximate anyway, and this is ~20x faster per point)."""
        if self._raster is None:
            x0, y0 = self.site_xy.min(axis=0) - 3.0
            nx, ny = (np.ceil((self.site_xy.max(axis=0) + 3.0 - (x0, y0)) / RASTER_KM)).astype(int)
            gx, gy = np.meshgrid(x0 + (np.arange(nx) + 0.5) * RASTER_KM, y0 + (np.arange(ny) + 0.5) * RASTER_KM)
            best, second = self.serve(gx.ravel(), gy.ravel())
            self._raster = (x0, y0, nx, ny, best, second)
        x0, y0, nx, ny, best, second = self._raster
        ix = np.clip(((np.asarray(x) - x0) / RASTER_KM).astype(np.int64), 0, nx - 1)
        iy = np.clip(((np.asarray(y) - y0) / RASTER_KM).astype(np.int64), 0, ny - 1)
        flat = iy * nx + ix
        return best[flat], second[flat]

    def _angle_diffs(self, pts: np.ndarray, site: np.ndarray) -> np.ndarray:
        dx = pts[:, 0] - self.site_xy[site, 0]
        dy = pts[:, 1] - self.site_xy[site, 1]
        bearing = np.degrees(np.arctan2(dx, dy)) % 360
        return np.abs((bearing[:, None] - self.azimuth[site] + 180) % 360 - 180)


@dataclass
class Network:
    """All cell versions of one operator plus the facts of its mid-period changes."""

    operator: str
    mcc_mnc: str
    cells: pd.DataFrame
    changes: list[dict] = field(default_factory=list)
    _days: dict = field(default_factory=dict, repr=False)

    def valid_mask(self, day: date) -> np.ndarray:
        vf = self.cells["valid_from"].to_numpy()
        vt = self.cells["valid_to"].to_numpy()
        return np.array([a <= day and (b is None or day <= b) for a, b in zip(vf, vt)])

    def on(self, day: date) -> NetworkDay:
        """The network state of ``day`` (cached per distinct set of valid versions)."""
        valid = np.flatnonzero(self.valid_mask(day))
        key = valid.tobytes()
        if key not in self._days:
            c = self.cells.iloc[valid]
            n_sites = int(self.cells["site"].max()) + 1
            rows = np.full((n_sites, SECTORS), -1, np.int64)
            rows[c["site"].to_numpy(), c["sector"].to_numpy()] = valid
            if (rows < 0).any():
                raise ValueError(f"{self.operator}: a sector has no valid cell on {day}")
            first = self.cells.iloc[rows[:, 0]]
            xy = first[["x", "y"]].to_numpy()
            az = self.cells["azimuth_deg"].to_numpy()[rows].astype(float)
            self._days[key] = NetworkDay(rows, xy, az, cKDTree(xy))
        return self._days[key]

    def snapshot(self, day: date) -> pd.DataFrame:
        """The cell-reference file delivered on ``day``: every version known by then."""
        c = self.cells[[a <= day for a in self.cells["announced"]]].copy()
        closed = [b is not None and b <= day for b in c["closed_on"]]
        c["valid_to"] = [v if k else None for v, k in zip(c["valid_to"], closed)]
        return c

    def change_days(self) -> list[date]:
        return sorted({ch["day"] for ch in self.changes})


def _busy_site(c: pd.DataFrame, rng: np.random.Generator) -> int:
    """A random site among the small-cell (busy, downtown) ones: where operators re-plan."""
    small = c.loc[c["range_m"] <= c["range_m"].quantile(0.3), "site"].unique()
    return int(rng.choice(np.sort(small)))


def _rename_cell(net: Network, rng: np.random.Generator, day: date) -> dict:
    c = net.cells
    row = int(np.flatnonzero(c["site"].to_numpy() == _busy_site(c, rng))[int(rng.integers(0, SECTORS))])
    new = c.iloc[[row]].copy()
    new_ci = int(c["ci"].max()) + 1 + int(rng.integers(1, 500))
    new["ci"] = new_ci
    new["cgi"] = f"{net.mcc_mnc}-{int(new['lac'].iloc[0])}-{new_ci}"
    new["valid_from"] = day
    new["announced"] = day
    c.loc[row, "valid_to"] = day - timedelta(days=1)
    c.loc[row, "closed_on"] = day
    net.cells = pd.concat([c, new], ignore_index=True)
    lat, lon = float(new["lat"].iloc[0]), float(new["lon"].iloc[0])
    return {"kind": "renamed_cell", "operator": net.operator, "day": day, "site_id": new["site_id"].iloc[0],
            "cgi_old": c.loc[row, "cgi"], "cgi_new": new["cgi"].iloc[0], "lat": lat, "lon": lon}


def _move_site(net: Network, geo: CityGeography, rng: np.random.Generator, day: date) -> dict:
    c = net.cells
    while True:
        site = _busy_site(c, rng)
        dist_km = rng.uniform(0.5, 0.8)
        ang = rng.uniform(0, 2 * np.pi)
        rows = np.flatnonzero(c["site"].to_numpy() == site)
        x0, y0 = float(c.loc[rows[0], "x"]), float(c.loc[rows[0], "y"])
        x1, y1 = x0 + dist_km * np.sin(ang), y0 + dist_km * np.cos(ang)
        if geo.district_index([x1], [y1])[0] >= 0:
            break
    new = c.iloc[rows].copy()
    lat1, lon1 = geo.proj.to_latlon(x1, y1)
    new["x"], new["y"], new["lat"], new["lon"] = x1, y1, float(lat1), float(lon1)
    new["valid_from"] = day
    new["announced"] = day
    c.loc[rows, "valid_to"] = day - timedelta(days=1)
    c.loc[rows, "closed_on"] = day
    net.cells = pd.concat([c, new], ignore_index=True)
    lat0, lon0 = geo.proj.to_latlon(x0, y0)
    return {"kind": "moved_cell", "operator": net.operator, "day": day, "site_id": new["site_id"].iloc[0],
            "cgis": new["cgi"].tolist(), "lat_before": float(lat0), "lon_before": float(lon0),
            "lat_after": float(lat1), "lon_after": float(lon1), "distance_m": round(dist_km * 1000, 1)}


def build_networks(ctx: SimContext) -> dict[str, Network]:
    """One network per configured operator; the rename/move happen when the period allows."""
    days = ctx.params.operator_days_list()
    first = days[0] if days else ctx.params.start
    nets = {}
    for i, op in enumerate(ctx.cfg["operators"]):
        rng = ctx.rng(f"network/{op['name']}")
        sx, sy = place_sites(ctx.geo, ctx.cfg, float(op.get("sites_per_km2_downtown", 1.0)), rng)
        cells = build_cells(ctx.geo, op, i, sx, sy, rng, first)
        nets[op["name"]] = Network(op["name"], op["mcc_mnc"], cells)
    if len(days) >= 2:
        rng = ctx.rng("network/changes")
        if "kcell" in nets:
            nets["kcell"].changes.append(_rename_cell(nets["kcell"], rng, days[len(days) // 2]))
        if "beeline" in nets:
            nets["beeline"].changes.append(_move_site(nets["beeline"], ctx.geo, rng, days[(len(days) + 1) // 2]))
    return nets


def _csv_text(df: pd.DataFrame) -> str:
    def iso(v):
        return "" if v is None else v.isoformat()
    lines = [",".join(COLUMNS)]
    for r in df.itertuples(index=False):
        lines.append(f"{r.cgi},{r.operator},{r.lac},{r.ci},{r.site_id},{r.lat:.6f},{r.lon:.6f},"
                     f"{r.azimuth_deg},{r.beam_width_deg},{r.range_m},{iso(r.valid_from)},{iso(r.valid_to)}")
    return "\n".join(lines) + "\n"


def write_cell_reference(ctx: SimContext, nets: dict[str, Network]) -> FeedResult:
    """Snapshots per operator on the first operator day and on each change day; truth."""
    days = ctx.params.operator_days_list()
    res = FeedResult(FEED)
    if not days:
        return res
    truth: dict = {"operators": {}, "renamed_cell": None, "moved_cell": None}
    for name, net in nets.items():
        for day in sorted({days[0], *net.change_days()}):
            snap = net.snapshot(day)
            path = ctx.path(FEED, day, f"cells_{name}_{day:%Y%m%d}.csv")
            path.write_text(_csv_text(snap), encoding="utf-8")
            res.files.append(ctx.rel(path))
            res.rows += len(snap)
            for ch in net.changes:
                if ch["day"] == day:
                    fact = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in ch.items() if k != "kind"}
                    truth[ch["kind"]] = fact
                    rows = 1 if ch["kind"] == "renamed_cell" else len(ch["cgis"])
                    ctx.dirt_log.add(FEED, ctx.rel(path), day.isoformat(), ch["kind"], rows,
                                     **{k: v for k, v in fact.items() if k not in ("day",)})
        first = net.on(days[0])
        truth["operators"][name] = {"mcc_mnc": net.mcc_mnc, "sites": int(len(first.site_xy)),
                                    "cells": int(first.rows.size), "versions": int(len(net.cells))}
    res.truth = truth
    return res
