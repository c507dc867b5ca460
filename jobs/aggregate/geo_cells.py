"""geo_h3_cells: the H3 cell dimension of the city (every table's cells join to it).

Reads ``stg_districts__districts`` (the latest delivery, or the latest on or before ``ds``);
writes ``geo_h3_cells`` (unpartitioned, replaced whole). Grain: one row per H3 cell, at each
configured resolution (congestion 9, map 8, coarse 7 for Almaty).

Which cells: at the finest resolution, every cell that overlaps the city (the union of the
district polygons), so that no edge cell where people live or events land is lost; at each
coarser resolution, every cell that overlaps the city plus the parent of every finer cell in the
table, so that each cell's parent is in the table (H3 children do not nest exactly inside their
parent, so a parent can lie just outside the city).

District of a cell (one rule, applied at every resolution):
1. the district whose polygon contains the cell centre (on a shared border: the first district
   in delivery order);
2. else (centre outside the city) the district the cell overlaps most;
3. else (a parent kept only for the hierarchy, touching no district) the nearest district.
``zone_type`` is the district's configured type, as the contract says (the zone observed per
cell is in mart_zone_profile). ``parent_h3_cell`` is the parent at the next coarser configured
resolution, null at the coarsest.
"""

from datetime import date

import numpy as np
import pandas as pd
import shapely
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common import h3geo
from jobs.common.config import Paths
from jobs.common.contracts import load_contract
from jobs.common.lake import read_table, write_table

TABLE = "geo_h3_cells"
SOURCE = "stg_districts__districts"


def district_geometries(districts: pd.DataFrame) -> np.ndarray:
    """Shapely geometries (lon/lat) of the districts' ``boundary_geojson``; raises, naming the
    district, on an empty, invalid or non-polygon boundary."""
    geoms = shapely.from_geojson(districts["boundary_geojson"].to_numpy(dtype=object), on_invalid="ignore")
    problems = []
    for name, g in zip(districts["district"], geoms):
        if g is None or g.is_empty or g.geom_type not in ("Polygon", "MultiPolygon"):
            problems.append(f"{name}: boundary is not a non-empty GeoJSON Polygon/MultiPolygon")
        elif not g.is_valid:
            problems.append(f"{name}: invalid boundary ({shapely.is_valid_reason(g)})")
    if problems:
        raise ValueError("districts: " + "; ".join(problems))
    return geoms


def cover_cells(city: shapely.Geometry, resolutions: list[int]) -> dict[int, np.ndarray]:
    """Cells per resolution (finest first): cells overlapping ``city``, plus at each coarser
    resolution the parents of the finer level's cells."""
    out: dict[int, np.ndarray] = {}
    finer: np.ndarray | None = None
    for res in sorted(resolutions, reverse=True):
        cells = set(h3geo.polygon_cells(city, res, contain="overlap"))
        if finer is not None:
            cells.update(h3geo.cell_parents(finer, res).tolist())
        out[res] = np.asarray(sorted(cells), dtype=object)
        finer = out[res]
    return out


def assign_districts(cells: np.ndarray, geoms: np.ndarray) -> np.ndarray:
    """Index into ``geoms`` for each cell by the module's rule (centre, most overlap, nearest)."""
    lat, lon = h3geo.cell_centroids(cells)
    centres = shapely.points(lon, lat)
    out = np.full(len(cells), -1, dtype=np.int64)
    pi, gi = shapely.STRtree(geoms).query(centres, predicate="intersects")
    order = np.lexsort((gi, pi))                  # per cell, the first district in delivery order
    pi, gi = pi[order], gi[order]
    first = np.r_[True, pi[1:] != pi[:-1]] if len(pi) else np.zeros(0, bool)
    out[pi[first]] = gi[first]
    edge = np.flatnonzero(out < 0)
    if len(edge):
        hexes = h3geo.cell_polygons(cells[edge])
        overlap = shapely.area(shapely.intersection(hexes[:, None], geoms[None, :]))
        dist = shapely.distance(centres[edge][:, None], geoms[None, :])
        out[edge] = np.where(overlap.max(axis=1) > 0, overlap.argmax(axis=1), dist.argmin(axis=1))
    return out


def h3_cells(districts: pd.DataFrame | DataFrame, resolutions: list[int]) -> pd.DataFrame:
    """The ``geo_h3_cells`` rows for ``districts`` (columns district, district_type,
    boundary_geojson: one row per district, as in stg_districts__districts)."""
    if isinstance(districts, DataFrame):
        districts = districts.select("district", "district_type", "boundary_geojson").toPandas()
    if districts.empty:
        raise ValueError("districts: no rows, cannot build the H3 cell dimension")
    dup = districts["district"][districts["district"].duplicated()].tolist()
    if dup:
        raise ValueError(f"districts: duplicate district names {sorted(set(dup))}")
    districts = districts.reset_index(drop=True)
    geoms = district_geometries(districts)
    levels = sorted({int(r) for r in resolutions}, reverse=True)
    covers = cover_cells(shapely.union_all(geoms), levels)
    parts = []
    for i, res in enumerate(levels):
        cells = covers[res]
        parent = (h3geo.cell_parents(cells, levels[i + 1]) if i + 1 < len(levels)
                  else np.full(len(cells), None, dtype=object))
        lat, lon = h3geo.cell_centroids(cells)
        d = assign_districts(cells, geoms)
        parts.append(pd.DataFrame({
            "h3_cell": cells,
            "resolution": np.full(len(cells), res, dtype=np.int32),
            "parent_h3_cell": parent,
            "district": districts["district"].to_numpy(dtype=object)[d],
            "zone_type": districts["district_type"].to_numpy(dtype=object)[d],
            "centroid_lat": lat,
            "centroid_lon": lon,
            "area_km2": h3geo.cell_areas_km2(cells),
            "boundary_geojson": h3geo.cells_to_geojson(cells),
        }))
    return pd.concat(parts, ignore_index=True)


def latest_districts(districts: DataFrame, ds: date | None = None) -> DataFrame:
    """The complete district set of the latest delivery (on or before ``ds`` when given)."""
    if ds is not None:
        districts = districts.where(F.col("ds") <= F.lit(ds))
    latest = districts.agg(F.max("ds")).first()[0]
    if latest is None:
        raise ValueError(f"{SOURCE}: no delivery" + (f" on or before {ds}" if ds else ""))
    return districts.where(F.col("ds") == F.lit(latest))


def run(spark: SparkSession, cfg: dict, paths: Paths | None = None, ds: date | None = None) -> int:
    """Build geo_h3_cells from the latest staged districts (on or before ``ds``); rows written."""
    districts = latest_districts(read_table(spark, SOURCE, paths), ds)
    cells = h3_cells(districts, h3geo.configured_resolutions(cfg))
    schema = load_contract(TABLE).spark_schema()
    write_table(spark.createDataFrame(cells[schema.fieldNames()], schema), TABLE, paths)
    return len(cells)
