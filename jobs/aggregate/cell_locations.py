"""Where an operator event is: one location per cell version, and the location dimension.

Reads nothing itself (``run`` callers pass ``geo_cell_h3_weights`` and ``geo_h3_cells``); the
frames built here are small (a few thousand rows) and are broadcast-joined to events, so no H3
call is ever made per event.

Location of a cell version (``anchor``): the covered finest-resolution H3 cell (inside the city,
i.e. in ``geo_h3_cells``) nearest to the weighted centroid of its coverage, which for a sector
is about two thirds of the range out along the azimuth; for a disk, the site. Counting a
subscriber once in one cell per event (rather than fractionally in every covered cell) keeps
distinct-subscriber counts exact and additive up the H3 hierarchy, which suppression needs.
A version whose whole coverage lies outside the city has no location: its events are
*unlocated* (counted in dq_results by the jobs that read them, never dropped silently).

Location dimension (``location_dim``): one row per finest city cell with an integer ``loc_id``,
its ancestor at every configured resolution (``h3_r<res>``), its district and its centre in a
local km frame (``x_km``, ``y_km``) for distances. Events carry only ``loc_id``.
"""

from datetime import date

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs.common import h3geo

KM_PER_DEG_LAT = 110.574
KM_PER_DEG_LON_EQUATOR = 111.320


def res_col(res: int) -> str:
    return f"h3_r{int(res)}"


def location_dim(cells: pd.DataFrame, resolutions: list[int]) -> pd.DataFrame:
    """``geo_h3_cells`` (pandas) -> one row per finest cell: loc_id, h3_r<res> for every
    resolution, district, x_km, y_km (equirectangular around the cells' mean centre)."""
    res = sorted({int(r) for r in resolutions}, reverse=True)
    fine = cells[cells["resolution"] == res[0]].sort_values("h3_cell", ignore_index=True)
    lat0 = float(fine["centroid_lat"].mean())
    lon0 = float(fine["centroid_lon"].mean())
    out = pd.DataFrame({"loc_id": np.arange(len(fine), dtype=np.int32),
                        res_col(res[0]): fine["h3_cell"].to_numpy(dtype=object)})
    for r in res[1:]:
        out[res_col(r)] = h3geo.cell_parents(out[res_col(res[0])].to_numpy(dtype=object), r)
    out["district"] = fine["district"].to_numpy(dtype=object)
    out["x_km"] = (fine["centroid_lon"].to_numpy(float) - lon0) * KM_PER_DEG_LON_EQUATOR * np.cos(np.radians(lat0))
    out["y_km"] = (fine["centroid_lat"].to_numpy(float) - lat0) * KM_PER_DEG_LAT
    return out


def cell_anchors(weights: pd.DataFrame, dim: pd.DataFrame) -> pd.DataFrame:
    """``geo_cell_h3_weights`` (pandas, every resolution) -> one row per cell version:
    operator, cgi, valid_from, valid_to, loc_id (null when no covered cell is in the city)."""
    fine_res = int(weights["resolution"].max())
    w = weights[weights["resolution"] == fine_res].reset_index(drop=True)
    key = ["operator", "cgi", "valid_from"]
    lat, lon = h3geo.cell_centroids(w["h3_cell"].to_numpy(dtype=object))
    w = w.assign(lat=lat, lon=lon, wlat=lat * w["weight"], wlon=lon * w["weight"])
    cen = w.groupby(key, sort=False)[["wlat", "wlon", "weight"]].sum()
    cen = pd.DataFrame({"clat": cen["wlat"] / cen["weight"], "clon": cen["wlon"] / cen["weight"]})
    ids = pd.Series(dim["loc_id"].to_numpy(), index=dim[res_col(fine_res)].to_numpy())
    w["loc_id"] = w["h3_cell"].map(ids)
    inside = w[w["loc_id"].notna()].join(cen, on=key)
    d2 = ((inside["lat"] - inside["clat"]) * KM_PER_DEG_LAT) ** 2 + \
         ((inside["lon"] - inside["clon"]) * KM_PER_DEG_LON_EQUATOR * np.cos(np.radians(inside["clat"]))) ** 2
    best = inside.assign(d2=d2).sort_values(key + ["d2", "h3_cell"]).drop_duplicates(key)
    versions = w.drop_duplicates(key)[key + ["valid_to"]]
    out = versions.merge(best[key + ["loc_id"]], on=key, how="left")
    out["loc_id"] = out["loc_id"].astype("Int32")
    return out.reset_index(drop=True)


ANCHOR_SCHEMA = T.StructType([
    T.StructField("operator", T.StringType(), False), T.StructField("cgi", T.StringType(), False),
    T.StructField("valid_from", T.DateType(), False), T.StructField("valid_to", T.DateType(), True),
    T.StructField("loc_id", T.IntegerType(), True)])


def dim_schema(resolutions: list[int]) -> T.StructType:
    res = sorted({int(r) for r in resolutions}, reverse=True)
    return T.StructType([T.StructField("loc_id", T.IntegerType(), False)]
                        + [T.StructField(res_col(r), T.StringType(), False) for r in res]
                        + [T.StructField("district", T.StringType(), False),
                           T.StructField("x_km", T.DoubleType(), False),
                           T.StructField("y_km", T.DoubleType(), False)])


def to_spark(spark: SparkSession, anchors: pd.DataFrame, dim: pd.DataFrame,
             resolutions: list[int]) -> tuple[DataFrame, DataFrame]:
    """Both frames as small Spark DataFrames (to be broadcast)."""
    a = anchors.astype(object).where(anchors.notna(), None)
    sa = spark.createDataFrame([tuple(r) for r in a[ANCHOR_SCHEMA.fieldNames()].itertuples(index=False)],
                               ANCHOR_SCHEMA)
    schema = dim_schema(resolutions)
    sd = spark.createDataFrame([tuple(r) for r in dim[schema.fieldNames()].itertuples(index=False)], schema)
    return sa, sd


def anchors_on(anchors: DataFrame, ds_col: str = "ds") -> "F.Column":
    """Join condition of events (column ``ds_col``) to the cell version valid that day."""
    return (F.col(ds_col) >= anchors["valid_from"]) & (anchors["valid_to"].isNull() | (F.col(ds_col) <= anchors["valid_to"]))


def anchor_for(anchors: pd.DataFrame, cgi: str, day: date):
    """The loc_id of ``cgi`` on ``day`` (pandas; for tests and spot checks), or None."""
    vf = pd.to_datetime(anchors["valid_from"])
    vt = pd.to_datetime(anchors["valid_to"])
    ts = pd.Timestamp(day)
    hit = anchors[(anchors["cgi"] == cgi) & (vf <= ts) & (vt.isna() | (vt >= ts))]
    return None if hit.empty or pd.isna(hit["loc_id"].iloc[0]) else int(hit["loc_id"].iloc[0])
