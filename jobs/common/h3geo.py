"""H3 helpers shared by every job: points to cells, cell geometry, parents, polygon covers.

Reads and writes nothing; every function is pure and vectorised over numpy/pandas arrays.
Cells are H3 index strings (15 lowercase hex characters), the form every table stores.

- ``latlng_to_cells``: points -> cells at one resolution through ``h3ronpy`` (Rust, faster than a
  Python loop over ``h3.latlng_to_cell`` and giving identical cells). Rows whose
  coordinates are null, NaN or out of range get ``None`` rather than failing the batch.
- ``cell_centroids``, ``cell_areas_km2``, ``cell_parents``, ``cell_polygons``: per-cell facts.
- ``cell_to_geojson`` / ``cells_to_geojson``: a cell's boundary as a GeoJSON Polygon string with
  [lng, lat] positions, counter-clockwise, first position repeated at the end (what Superset's
  deck.gl polygon chart reads with ``line_type: json``; ``h3.cell_to_boundary`` gives (lat, lng)).
- ``polygon_cells``: the cells covering a (Multi)Polygon, by centre or by any overlap.
- ``configured_resolutions``: the city's H3 resolutions, finest first.
- ``latlng_cell_udf``: a Spark ``pandas_udf`` (lat, lon) -> cell, one vectorised call per Arrow
  batch. This module must not use ``from __future__ import annotations``: it breaks pandas_udfs.
"""

import json
from collections.abc import Iterable, Mapping
from typing import Any

import h3
import h3ronpy
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely
from h3ronpy.vector import cells_to_coordinates, cells_to_wkb_polygons, coordinates_to_cells

GEOJSON_DECIMALS = 7          # 1e-7 degree is about 1 cm: exact enough for a map, short strings
CONTAINMENT = ("center", "full", "overlap", "bbox_overlap")
RESOLUTION_KEYS = ("congestion_resolution", "map_resolution", "coarse_resolution")  # under h3: in the city


def _floats(values: Any) -> np.ndarray:
    """A 1-d float64 array from numbers, None or pandas NA (missing values become NaN)."""
    if isinstance(values, pd.Series) and values.dtype.kind in "fiub":
        return values.to_numpy(dtype=float, na_value=np.nan)
    arr = np.asarray(values)
    if arr.dtype.kind in "fiu":
        return arr.astype(float, copy=False).ravel()
    return pd.to_numeric(pd.Series(arr.ravel()), errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _strings(values: Iterable[str]) -> np.ndarray:
    return np.asarray(pa.array(values).to_numpy(zero_copy_only=False), dtype=object)


def _parse(cells: Iterable[str]) -> pa.Array:
    """H3 index strings -> h3ronpy's uint64 array; raises on any invalid or missing cell."""
    values = cells.to_numpy(dtype=object) if isinstance(cells, pd.Series) else np.asarray(
        cells if isinstance(cells, np.ndarray) else list(cells), dtype=object)
    arr = pa.array(values.ravel(), type=pa.string())
    if arr.null_count:
        raise ValueError(f"{arr.null_count} missing H3 cell(s)")
    return pa.array(h3ronpy.cells_parse(arr))


def configured_resolutions(cfg: dict) -> list[int]:
    """The city config's H3 resolutions (congestion, map, coarse), finest first: e.g. [9, 8, 7]."""
    found = {int(cfg["h3"][k]) for k in RESOLUTION_KEYS if k in cfg.get("h3", {})}
    if not found:
        raise ValueError(f"city config: h3 names none of {', '.join(RESOLUTION_KEYS)}")
    return sorted(found, reverse=True)


# ---------------------------------------------------------------- points -> cells
def latlng_to_cells(lat: Any, lon: Any, res: int) -> np.ndarray:
    """H3 cells (object array of strings) of points in degrees; ``None`` where the point is
    missing or invalid (null/NaN, |lat| > 90, |lon| > 180). Identical to ``h3.latlng_to_cell``."""
    la, lo = _floats(lat), _floats(lon)
    if la.shape != lo.shape:
        raise ValueError(f"lat and lon differ in length: {la.shape} vs {lo.shape}")
    out = np.full(la.shape, None, dtype=object)
    ok = np.isfinite(la) & np.isfinite(lo) & (np.abs(la) <= 90) & (np.abs(lo) <= 180)
    if ok.any():
        cells = coordinates_to_cells(np.ascontiguousarray(la[ok]), np.ascontiguousarray(lo[ok]), int(res))
        out[ok] = _strings(pa.array(h3ronpy.cells_to_string(cells)))
    return out


def latlng_cell_udf(res: int):
    """A Spark pandas_udf ``(lat double, lon double) -> string``: the H3 cell at ``res``
    (null for a missing or invalid point), computed per Arrow batch with ``latlng_to_cells``."""
    from pyspark.sql.functions import pandas_udf

    resolution = int(res)

    @pandas_udf("string")
    def latlng_to_cell(lat: pd.Series, lon: pd.Series) -> pd.Series:
        return pd.Series(latlng_to_cells(lat, lon, resolution), index=lat.index, dtype=object)

    return latlng_to_cell


# ---------------------------------------------------------------- per-cell facts
def cell_centroids(cells: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
    """(lat, lon) arrays of the cell centres in degrees."""
    rb = pa.record_batch(cells_to_coordinates(_parse(cells)))
    return (rb.column("lat").to_numpy(zero_copy_only=False),
            rb.column("lng").to_numpy(zero_copy_only=False))


def cell_areas_km2(cells: Iterable[str]) -> np.ndarray:
    """Exact spherical area of each cell in km2."""
    return pa.array(h3ronpy.cells_area_km2(_parse(cells))).to_numpy(zero_copy_only=False)


def cell_parents(cells: Iterable[str], res: int) -> np.ndarray:
    """The parent of each cell at the coarser resolution ``res`` (object array of strings)."""
    parsed = _parse(cells)
    if len(parsed) == 0:
        return np.empty(0, dtype=object)
    if min(h3ronpy.cells_resolution(parsed).to_pylist()) < res:
        raise ValueError(f"a cell is coarser than the parent resolution {res}")
    return _strings(pa.array(h3ronpy.cells_to_string(h3ronpy.change_resolution(parsed, int(res)))))


def cell_polygons(cells: Iterable[str]) -> np.ndarray:
    """Shapely polygons (x = lon, y = lat, degrees) of the cells, in input order."""
    wkb = pa.array(cells_to_wkb_polygons(_parse(cells)))
    return shapely.from_wkb(wkb.to_numpy(zero_copy_only=False))


def cell_to_geojson(cell: str) -> str:
    """The cell boundary as a GeoJSON Polygon: [lng, lat] positions, counter-clockwise (RFC 7946),
    closed ring (first position repeated last)."""
    ring = [[round(lng, GEOJSON_DECIMALS), round(lat, GEOJSON_DECIMALS)]
            for lat, lng in h3.cell_to_boundary(cell)]
    xy = np.asarray(ring)
    signed = np.sum(xy[:, 0] * np.roll(xy[:, 1], -1) - np.roll(xy[:, 0], -1) * xy[:, 1])
    if signed < 0:
        ring.reverse()
    ring.append(list(ring[0]))
    return json.dumps({"type": "Polygon", "coordinates": [ring]}, separators=(",", ":"))


def cells_to_geojson(cells: Iterable[str]) -> np.ndarray:
    """``cell_to_geojson`` of every cell (object array of strings)."""
    return np.asarray([cell_to_geojson(c) for c in cells], dtype=object)


# ---------------------------------------------------------------- polygons -> cells
def _geo_mapping(geometry: Any) -> Mapping:
    if isinstance(geometry, str):
        geometry = json.loads(geometry)
    if isinstance(geometry, shapely.Geometry):
        geometry = shapely.geometry.mapping(geometry)
    if isinstance(geometry, Mapping) and geometry.get("type") == "Feature":
        geometry = geometry["geometry"]
    if not isinstance(geometry, Mapping) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        raise ValueError("expected a GeoJSON Polygon or MultiPolygon (lon/lat)")
    return geometry


def polygon_cells(geometry: Any, res: int, contain: str = "center") -> list[str]:
    """Cells at ``res`` covering a Polygon/MultiPolygon given as GeoJSON (dict or string, lon/lat)
    or shapely geometry. ``contain``: 'center' (cell centre inside, = ``h3.geo_to_cells``),
    'overlap' (any overlap), 'full' (cell inside) or 'bbox_overlap'. Sorted, no duplicates."""
    if contain not in CONTAINMENT:
        raise ValueError(f"contain must be one of {', '.join(CONTAINMENT)}, not {contain!r}")
    geo = _geo_mapping(geometry)
    if contain == "center":
        cells = h3.geo_to_cells(geo, int(res))
    else:
        cells = h3.h3shape_to_cells_experimental(h3.geo_to_h3shape(geo), int(res), contain)
    return sorted(set(cells))
