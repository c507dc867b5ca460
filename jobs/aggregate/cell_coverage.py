"""geo_cell_h3_weights: where each operator cell version serves, as weighted H3 cells.

Reads ``stg_operator__cells`` (every delivered snapshot, or those delivered up to ``ds``); writes
``geo_cell_h3_weights`` (unpartitioned, replaced whole: the union of all cell versions ever
delivered, so it only grows).
Grain: one row per (cgi, valid_from, resolution, h3_cell); each cell version has a complete set
of rows at every configured resolution. Event tables broadcast-join it on cgi and the version
valid on the event's day (``cell_location_frame``): no H3 call per event.

Coverage of a cell version: the sector with its apex at the site, centred on the azimuth
(clockwise from north), ``beam_width_deg`` wide, ``range_m`` deep; a beam of 360 degrees or more
is a disk. The covered congestion-resolution (finest) cells are those whose centre lies in the
sector (tested exactly in a local equirectangular frame around the site, which is what
rasterising the sector polygon with ``h3.polygon_to_cells`` approximates). A sector too small to
hold any cell centre is given the one cell containing its centroid (at 2R sin(a) / (3a) from the
apex along the azimuth, a = half the beam in radians), so every version has a location.

Weights: proportional to cell area over the covered cells. Without population data, a subscriber
served by the cell is taken to be equally likely anywhere in its nominal coverage, and each
covered cell stands for its share of that coverage (cells at one resolution in one city differ
in area by well under 1 %, so this is nearly uniform). Coarser resolutions sum their children's
weights (H3 parent), so weights of one version sum to 1 at every resolution.
"""

from datetime import date

import h3
import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from jobs.common import h3geo
from jobs.common.config import Paths
from jobs.common.contracts import load_contract
from jobs.common.lake import read_table, write_table

TABLE = "geo_cell_h3_weights"
SOURCE = "stg_operator__cells"
VERSION_KEY = ["cgi", "valid_from"]
CELL_COLUMNS = ["operator", "cgi", "lat", "lon", "azimuth_deg", "beam_width_deg", "range_m",
                "valid_from", "valid_to"]
KM_PER_DEG_LAT = 110.574      # the same local equirectangular frame as the synthetic city's
KM_PER_DEG_LON_EQUATOR = 111.320


def _check_cells(cells: pd.DataFrame) -> None:
    missing = [c for c in CELL_COLUMNS if c not in cells.columns]
    if missing:
        raise ValueError(f"cell versions: missing columns {missing}")
    dup = cells.duplicated(VERSION_KEY)
    if dup.any():
        raise ValueError(f"cell versions: {int(dup.sum())} duplicate (cgi, valid_from), e.g. "
                         f"{cells.loc[dup, 'cgi'].iloc[0]}; keep one row per version (latest_versions)")
    num = cells[["lat", "lon", "azimuth_deg", "beam_width_deg", "range_m"]].astype(float)
    bad = ~np.isfinite(num.to_numpy()).all(axis=1) | (num["range_m"] < 0).to_numpy() \
        | (num["beam_width_deg"] < 0).to_numpy() | (num["lat"].abs() > 90).to_numpy() \
        | (num["lon"].abs() > 180).to_numpy()
    if bad.any():
        raise ValueError(f"cell versions: {int(bad.sum())} row(s) with a missing or invalid "
                         f"site/sector, e.g. {cells.loc[bad, 'cgi'].iloc[0]}")


def sector_centroid(lat: np.ndarray, lon: np.ndarray, azimuth_deg: np.ndarray,
                    beam_width_deg: np.ndarray, range_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lat, lon) of each sector's area centroid (the site itself for a disk)."""
    half = np.radians(np.minimum(beam_width_deg, 360.0) / 2)
    ratio = np.where(half > 0, np.sin(half) / np.where(half > 0, half, 1.0), 1.0)
    dist_km = np.where(beam_width_deg >= 360, 0.0, 2 * (range_m / 1000) * ratio / 3)
    az = np.radians(azimuth_deg)
    km_lon = KM_PER_DEG_LON_EQUATOR * np.cos(np.radians(lat))
    return lat + dist_km * np.cos(az) / KM_PER_DEG_LAT, lon + dist_km * np.sin(az) / km_lon


def _candidates(site_cells: np.ndarray, range_m: np.ndarray, res: int) -> tuple[np.ndarray, np.ndarray]:
    """(version index, cell) pairs: every cell within a grid disk wide enough to hold the range."""
    area = h3geo.cell_areas_km2(site_cells)
    edge_km = np.sqrt(2 * area / (3 * np.sqrt(3)))
    # a cell at grid distance g has its centre at least 1.5 * edge * g away: add one ring of margin
    k = np.ceil((range_m / 1000) / (1.5 * 0.95 * edge_km)).astype(int) + 1
    disks = [h3.grid_disk(c, int(kk)) for c, kk in zip(site_cells, k)]
    version = np.repeat(np.arange(len(disks)), [len(d) for d in disks])
    return version, np.asarray([c for d in disks for c in d], dtype=object)


def finest_coverage(cells: pd.DataFrame, res: int) -> pd.DataFrame:
    """(version, h3_cell, weight) at ``res`` for the rows of ``cells`` (version = row position)."""
    lat = cells["lat"].to_numpy(float)
    lon = cells["lon"].to_numpy(float)
    az = cells["azimuth_deg"].to_numpy(float)
    beam = cells["beam_width_deg"].to_numpy(float)
    rng = cells["range_m"].to_numpy(float)
    version, cand = _candidates(h3geo.latlng_to_cells(lat, lon, res), rng, res)
    inv, uniq = pd.factorize(cand)
    uniq = np.asarray(uniq, dtype=object)
    clat, clon = h3geo.cell_centroids(uniq)
    dy = (clat[inv] - lat[version]) * KM_PER_DEG_LAT
    dx = (clon[inv] - lon[version]) * KM_PER_DEG_LON_EQUATOR * np.cos(np.radians(lat[version]))
    dist_m = 1000 * np.hypot(dx, dy)
    off_axis = np.abs((np.degrees(np.arctan2(dx, dy)) - az[version] + 180) % 360 - 180)
    inside = (dist_m <= rng[version]) & ((beam[version] >= 360) | (off_axis <= beam[version] / 2)
                                         | (dist_m == 0))
    cov = pd.DataFrame({"version": version[inside], "h3_cell": cand[inside]})
    empty = np.setdiff1d(np.arange(len(cells)), cov["version"].to_numpy())
    if len(empty):
        plat, plon = sector_centroid(lat[empty], lon[empty], az[empty], beam[empty], rng[empty])
        cov = pd.concat([cov, pd.DataFrame({"version": empty,
                                            "h3_cell": h3geo.latlng_to_cells(plat, plon, res)})])
    codes, covered = pd.factorize(cov["h3_cell"])
    a = h3geo.cell_areas_km2(np.asarray(covered, dtype=object))[codes]
    cov["weight"] = a / pd.Series(a).groupby(cov["version"].to_numpy()).transform("sum").to_numpy()
    return cov.sort_values(["version", "h3_cell"], ignore_index=True)


def roll_up(cov: pd.DataFrame, res: int) -> pd.DataFrame:
    """(version, h3_cell, weight) summed to the parents at the coarser ``res``."""
    parent = h3geo.cell_parents(cov["h3_cell"].to_numpy(dtype=object), res)
    out = (pd.DataFrame({"version": cov["version"].to_numpy(), "h3_cell": parent,
                         "weight": cov["weight"].to_numpy()})
           .groupby(["version", "h3_cell"], as_index=False, sort=True)["weight"].sum())
    return out


def coverage_weights(cells: pd.DataFrame, resolutions: list[int]) -> pd.DataFrame:
    """The geo_cell_h3_weights rows for ``cells`` (one row per cell version, columns
    ``CELL_COLUMNS``): finest-resolution coverage, rolled up to every coarser resolution."""
    _check_cells(cells)
    cells = cells.reset_index(drop=True)
    levels = sorted({int(r) for r in resolutions}, reverse=True)
    if cells.empty:
        return pd.DataFrame(columns=["operator", "cgi", "valid_from", "valid_to", "resolution",
                                     "h3_cell", "weight"])
    parts = []
    cov = finest_coverage(cells, levels[0])
    for res in levels:
        if res != levels[0]:
            cov = roll_up(cov, res)
        parts.append(cov.assign(resolution=np.int32(res)))
    allres = pd.concat(parts, ignore_index=True)
    v = allres["version"].to_numpy()
    out = pd.DataFrame({c: cells[c].to_numpy(dtype=object)[v]
                        for c in ("operator", "cgi", "valid_from", "valid_to")})
    out["resolution"] = allres["resolution"].to_numpy(np.int32)
    out["h3_cell"] = allres["h3_cell"].to_numpy(dtype=object)
    out["weight"] = np.minimum(allres["weight"].to_numpy(float), 1.0)   # float sums may exceed 1 by 1 ulp
    return out.sort_values(["operator", "cgi", "valid_from", "resolution", "h3_cell"],
                           ascending=[True, True, True, False, True], ignore_index=True)


def latest_versions(snapshots: DataFrame) -> DataFrame:
    """One row per cell version (cgi, valid_from) from all delivered snapshots: the row of the
    latest snapshot holding it (which carries the latest valid_to and any correction)."""
    w = Window.partitionBy(*VERSION_KEY).orderBy(F.col("ds").desc(), F.col("source_file").desc(),
                                                 F.col("source_row").desc())
    return (snapshots.withColumn("_n", F.row_number().over(w)).where(F.col("_n") == 1)
            .select(*CELL_COLUMNS))


def cell_location_frame(weights, day: date, resolution: int | None = None):
    """The rows of ``weights`` (Spark or pandas) of the cell versions valid on ``day``
    (valid_from <= day <= valid_to, or valid_to null), optionally at one resolution."""
    if isinstance(weights, DataFrame):
        d = F.lit(day).cast("date")
        out = weights.where((F.col("valid_from") <= d) & (F.col("valid_to").isNull() | (F.col("valid_to") >= d)))
        return out if resolution is None else out.where(F.col("resolution") == int(resolution))
    vf = pd.to_datetime(weights["valid_from"])
    vt = pd.to_datetime(weights["valid_to"])
    ts = pd.Timestamp(day)
    keep = (vf <= ts) & (vt.isna() | (vt >= ts))
    if resolution is not None:
        keep &= weights["resolution"] == int(resolution)
    return weights[keep.to_numpy()].reset_index(drop=True)


def run(spark: SparkSession, cfg: dict, paths: Paths | None = None, ds: date | None = None) -> int:
    """Rebuild geo_cell_h3_weights from every staged cell-reference snapshot (those delivered on
    or before ``ds`` when given); rows written."""
    snapshots = read_table(spark, SOURCE, paths)
    if ds is not None:
        snapshots = snapshots.where(F.col("ds") <= F.lit(ds))
    versions = latest_versions(snapshots).toPandas()
    if versions.empty:
        raise ValueError(f"{SOURCE}: no cell reference delivered" + (f" on or before {ds}" if ds else ""))
    weights = coverage_weights(versions, h3geo.configured_resolutions(cfg))
    schema = load_contract(TABLE).spark_schema()
    write_table(spark.createDataFrame(weights[schema.fieldNames()], schema), TABLE, paths)
    return len(weights)
