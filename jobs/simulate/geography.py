"""Synthetic city geography: a local planar projection, district polygons, zones.

District boundaries are a Voronoi tessellation around the configured district centres,
clipped to the city boundary (the convex hull of the centres buffered by
``city.boundary_buffer_km``). Everything here works in a local equirectangular projection
(kilometres east/north of the centre of the districts), which is accurate to well under a
percent over a city of this size.
"""

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import shapely
from shapely.geometry import MultiPoint, Point, Polygon, mapping
from shapely.ops import voronoi_diagram

KM_PER_DEG_LAT = 110.574


@dataclass(frozen=True)
class Projection:
    """Local equirectangular projection around (lat0, lon0), in km."""

    lat0: float
    lon0: float

    @property
    def km_per_deg_lon(self) -> float:
        return 111.320 * float(np.cos(np.radians(self.lat0)))

    def to_xy(self, lat, lon):
        lat = np.asarray(lat, dtype=float)
        lon = np.asarray(lon, dtype=float)
        return (lon - self.lon0) * self.km_per_deg_lon, (lat - self.lat0) * KM_PER_DEG_LAT

    def to_latlon(self, x, y):
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        return self.lat0 + y / KM_PER_DEG_LAT, self.lon0 + x / self.km_per_deg_lon


@dataclass
class District:
    name: str
    population: int
    kind: str  # business_centre | residential | outskirts
    centre_xy: tuple[float, float]
    polygon_xy: Polygon
    name_ru: str = ""
    name_kk: str = ""

    @property
    def area_km2(self) -> float:
        return float(self.polygon_xy.area)


@dataclass
class CityGeography:
    """Districts, boundary and points of interest of a city config, in local km."""

    cfg: dict
    proj: Projection = field(init=False)
    districts: list[District] = field(init=False)
    boundary_xy: Polygon = field(init=False)

    def __post_init__(self) -> None:
        ds = self.cfg["districts"]
        self.proj = Projection(float(np.mean([d["lat"] for d in ds])), float(np.mean([d["lon"] for d in ds])))
        cx, cy = self.proj.to_xy([d["lat"] for d in ds], [d["lon"] for d in ds])
        centres = MultiPoint(list(zip(cx, cy)))
        self.boundary_xy = centres.convex_hull.buffer(self.cfg["city"]["boundary_buffer_km"], quad_segs=16)
        cells = voronoi_diagram(centres, envelope=self.boundary_xy.buffer(50))
        kinds = {n: k for k, members in self.cfg["district_types"].items() for n in members}
        self.districts = []
        for d, x, y in zip(ds, cx, cy):
            pt = Point(x, y)
            cell = next(g for g in cells.geoms if g.contains(pt))
            self.districts.append(District(
                name=d["name"], population=int(d["population"]), kind=kinds[d["name"]],
                centre_xy=(float(x), float(y)), polygon_xy=cell.intersection(self.boundary_xy),
                name_ru=d.get("name_ru", ""), name_kk=d.get("name_kk", ""),
            ))

    @cached_property
    def district_names(self) -> list[str]:
        return [d.name for d in self.districts]

    @cached_property
    def _tree(self):
        return shapely.STRtree([d.polygon_xy for d in self.districts])

    def district_index(self, x, y) -> np.ndarray:
        """Index into ``districts`` for each point, -1 outside the city (vectorised)."""
        pts = shapely.points(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
        pts = np.atleast_1d(pts)
        out = np.full(len(pts), -1, dtype=np.int64)
        pi, di = self._tree.query(pts, predicate="within")
        out[pi] = di
        return out

    def sample_in_district(self, i: int, n: int, rng: np.random.Generator,
                           centre_sigma_km: float = 2.5, centre_share: float = 0.7):
        """n points in district i: a Gaussian around its centre plus a uniform part."""
        d = self.districts[i]
        minx, miny, maxx, maxy = d.polygon_xy.bounds
        xs: list[np.ndarray] = []
        ys: list[np.ndarray] = []
        got = 0
        while got < n:
            m = max(64, 2 * (n - got))
            central = rng.random(m) < centre_share
            x = np.where(central, rng.normal(d.centre_xy[0], centre_sigma_km, m), rng.uniform(minx, maxx, m))
            y = np.where(central, rng.normal(d.centre_xy[1], centre_sigma_km, m), rng.uniform(miny, maxy, m))
            keep = shapely.contains_xy(d.polygon_xy, x, y)
            xs.append(x[keep])
            ys.append(y[keep])
            got += int(keep.sum())
        return np.concatenate(xs)[:n], np.concatenate(ys)[:n]

    def polygon_latlon(self, poly_xy: Polygon) -> Polygon:
        xs, ys = np.asarray(poly_xy.exterior.coords).T
        lat, lon = self.proj.to_latlon(xs, ys)
        return Polygon(list(zip(lon, lat)))

    def districts_geojson(self) -> dict:
        """FeatureCollection of district boundaries (lon/lat, as the districts feed delivers)."""
        feats = []
        for d in self.districts:
            feats.append({
                "type": "Feature",
                "properties": {"name": d.name, "name_ru": d.name_ru, "name_kk": d.name_kk,
                               "population": d.population, "district_type": d.kind},
                "geometry": mapping(shapely.set_precision(self.polygon_latlon(d.polygon_xy), 1e-6)),
            })
        return {"type": "FeatureCollection", "features": feats}
