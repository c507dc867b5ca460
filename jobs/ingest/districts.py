"""Districts feed -> ``stg_districts__districts``; the city outline that coordinates are tested against.

Reads ``<lake>/raw/districts/dt=D/districts.geojson`` (a GeoJSON FeatureCollection, one feature
per district, properties name, name_ru, name_kk, population, district_type). Writes
``stg_districts__districts`` partition ``ds=D`` (grain: one row per district, the complete set
delivered that day), the quarantine and dq_results of (districts, D).

A row keeps the boundary as GeoJSON text (lon/lat, as delivered) and its area in km²,
measured in a local equirectangular projection at the boundary's own latitude (the projection
of ``jobs.simulate.geography``; well under 1 % off over a city). The name must be a district of
the city config (Latin, Russian or Kazakh spelling; staged as the config's Latin name).

City outline (:func:`city_outline`, used for ambulance calls and pharmacies): the outer
boundary of the districts that ``CityGeography`` builds from the city config (the convex hull
of the district centres buffered by ``city.boundary_buffer_km``: exactly the union of the
polygons the districts feed delivers), widened by ``OUTLINE_TOLERANCE_KM`` for geocodes on the
city edge. :func:`inside` tests points against it as one Spark expression (even-odd rule over
the ring edges; no UDF).
"""

import json
from datetime import date

import numpy as np
import shapely
from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F
from shapely.geometry import shape

from jobs.common.contracts import load_contract
from jobs.ingest.framework import Check, Delivery, FileRejected, StageResult, covering, dated, quarantine_frame
from jobs.ingest.text import ROW_REASONS, decode_text, district_key, district_lookup, row_checks
from jobs.simulate.geography import KM_PER_DEG_LAT, CityGeography

FEED, TABLE = "districts", "stg_districts__districts"
OUTLINE_TOLERANCE_KM = 0.5
PROPERTIES = ("name", "name_ru", "name_kk", "population", "district_type")


# --- the city outline ------------------------------------------------------------------------

def city_outline(cfg: dict, tolerance_km: float = OUTLINE_TOLERANCE_KM) -> list[list[tuple[float, float]]]:
    """Rings (closed lists of (lon, lat)) of the city boundary widened by ``tolerance_km``."""
    geo = CityGeography(cfg)
    poly = geo.boundary_xy.buffer(tolerance_km).simplify(tolerance_km / 2)
    return [[(float(x), float(y)) for x, y in geo.polygon_latlon(poly).exterior.coords]]


def inside(lon: str, lat: str, rings: list[list[tuple[float, float]]]) -> Column:
    """True when the point in columns ``lon``/``lat`` lies inside the rings (even-odd rule:
    holes and several parts work too). One SQL expression: cheap to analyse, no UDF."""
    terms = []
    for ring in rings:
        for (x1, y1), (x2, y2) in zip(ring, ring[1:]):
            if y1 != y2:
                slope = (x2 - x1) / (y2 - y1)
                terms.append(f"IF((`{lat}` > {y1!r}) <> (`{lat}` > {y2!r}) AND "
                             f"`{lon}` < {slope!r} * (`{lat}` - {y1!r}) + {x1!r}, 1, 0)")
    return F.expr(f"pmod({' + '.join(terms) or '0'}, 2) = 1")


# --- features -> rows ------------------------------------------------------------------------

def area_km2(geom) -> float:
    """Area of a lon/lat geometry in km² (local equirectangular projection at its centroid)."""
    lat0 = geom.centroid.y
    kx = 111.320 * float(np.cos(np.radians(lat0)))
    return float(shapely.transform(geom, lambda c: c * np.array([kx, KM_PER_DEG_LAT])).area)


def _verdict(feature, lookup: dict[str, str], allowed_types: tuple) -> tuple[str, str] | None:
    if not isinstance(feature, dict) or not isinstance(feature.get("properties"), dict) \
            or "geometry" not in feature:
        return "malformed_row", "feature is an object with properties and geometry"
    props = feature["properties"]
    for p in PROPERTIES:
        if props.get(p) in (None, ""):
            return "missing_value", f"property {p} present"
    pop = props["population"]
    if isinstance(pop, bool) or not (isinstance(pop, int) or (isinstance(pop, str) and pop.isdigit())
                                     or (isinstance(pop, float) and pop.is_integer())):
        return "bad_type", "population is a whole number"
    if int(pop) < 0:
        return "value_not_allowed", "population >= 0"
    if props["district_type"] not in allowed_types:
        return "value_not_allowed", "district_type in " + ", ".join(allowed_types)
    try:
        geom = shape(feature["geometry"])
    except Exception:            # noqa: BLE001 - any unreadable geometry is the same verdict
        return "bad_type", "geometry is a valid Polygon or MultiPolygon"
    if geom.geom_type not in ("Polygon", "MultiPolygon") or geom.is_empty or not geom.is_valid:
        return "bad_type", "geometry is a valid Polygon or MultiPolygon"
    x0, y0, x1, y1 = geom.bounds
    if x0 < -180 or x1 > 180 or y0 < -90 or y1 > 90:
        return "value_not_allowed", "geometry coordinates are lon/lat degrees"
    if district_key(str(props["name"])) not in lookup:
        return "unknown_reference", "name is a district of the city config"
    return None


def feature_rows(fc: dict, cfg: dict) -> list[dict]:
    """One record per feature: the staged columns, ``reason``/``rule`` (None when valid) and
    ``dup`` (repeats an earlier feature), ``source_row`` (1 = first feature), ``raw_record``."""
    lookup = district_lookup(cfg)
    allowed = load_contract(TABLE).column("district_type").allowed
    seen: set[str] = set()
    named: set[str] = set()
    out = []
    for i, feat in enumerate(fc["features"]):
        raw = json.dumps(feat, ensure_ascii=False, sort_keys=True)
        rec = {"source_row": i + 1, "raw_record": raw, "dup": raw in seen, "reason": None, "rule": None}
        seen.add(raw)
        out.append(rec)
        if rec["dup"]:
            continue
        bad = _verdict(feat, lookup, allowed)
        if bad:
            rec["reason"], rec["rule"] = bad
            continue
        props, geom = feat["properties"], shape(feat["geometry"])
        name = lookup[district_key(str(props["name"]))]
        if name in named:
            rec["reason"], rec["rule"] = "value_not_allowed", "one feature per district (conflicting copies)"
            continue
        named.add(name)
        rec.update(district=name, name_ru=str(props["name_ru"]), name_kk=str(props["name_kk"]),
                   population=int(props["population"]), district_type=props["district_type"],
                   area_km2=round(area_km2(geom), 4),
                   boundary_geojson=json.dumps(feat["geometry"], separators=(",", ":")))
    return out


def read_geojson(d: Delivery) -> dict:
    """The delivered FeatureCollection; ``FileRejected`` when unreadable or of the wrong shape."""
    try:
        fc = json.loads(decode_text(d.path.read_bytes())[0])
    except (UnicodeDecodeError, ValueError) as exc:
        raise FileRejected(d, "unreadable_file", "file is complete, valid JSON", str(exc)[:200]) from None
    if not (isinstance(fc, dict) and fc.get("type") == "FeatureCollection"
            and isinstance(fc.get("features"), list)):
        raise FileRejected(d, "wrong_columns", "file is a GeoJSON FeatureCollection with a features list")
    props = set().union(*[f.get("properties", {}).keys() for f in fc["features"]
                          if isinstance(f, dict) and isinstance(f.get("properties"), dict)])
    if missing := [p for p in PROPERTIES if p not in props]:
        raise FileRejected(d, "wrong_columns", "features carry the properties " + ", ".join(PROPERTIES),
                           "missing " + ", ".join(missing))
    return fc


def stage(spark: SparkSession, deliveries: list[Delivery], cfg: dict, day: date | None = None) -> StageResult:
    """Stage the districts of every day the raw files cover (all of them cover ``day`` when
    given); the latest file of a day wins."""
    c = load_contract(TABLE)
    rejected, staged, bad, checks = [], [], [], []
    deliveries = covering(deliveries, day)
    for d_day in sorted({d.covered_ds for d in deliveries}):
        rows, source, of_day, d_rejected = [], None, [d for d in deliveries if d.covered_ds == d_day], []
        for d in sorted(of_day, key=lambda x: (x.delivered_ds, x.rel)):
            try:
                fc = read_geojson(d)
            except FileRejected as exc:
                d_rejected.append(exc)
                continue
            source, rows = d, feature_rows(fc, cfg)
        d_staged = [r | {"ds": d_day, "source_file": source.rel} for r in rows if not r["dup"] and r["reason"] is None]
        bad += [{"feed": FEED, "ds": d_day, "source_file": source.rel, "source_row": r["source_row"],
                 "reason_code": r["reason"], "rule": r["rule"], "raw_record": r["raw_record"],
                 "delivered_ds": source.delivered_ds} for r in rows if not r["dup"] and r["reason"]]
        checks += dated(d_day, _checks(cfg, rows, d_staged, d_rejected, len(of_day)))
        rejected += d_rejected
        staged += d_staged
    frame = spark.createDataFrame([tuple(r.get(k) for k in c.column_names) for r in staged], c.spark_schema())
    return StageResult({TABLE: frame} if staged else {}, quarantine_frame(spark, bad), rejected, checks)


def _checks(cfg: dict, rows: list[dict], staged: list[dict], rejected: list[FileRejected], files: int) -> list[Check]:
    """The DQ checks of one day's districts file."""
    counts = {"received": len(rows), "duplicates": sum(r["dup"] for r in rows), "staged": len(staged),
              "superseded": 0, "late": 0}
    counts |= {f"q_{k}": sum(r["reason"] == k for r in rows if not r["dup"]) for k in ROW_REASONS}
    names = {r["district"] for r in staged}
    missing = [d["name"] for d in cfg["districts"] if d["name"] not in names]
    return [Check("files", files),
            Check("files_rejected", len(rejected), 0, "fail" if rejected else "pass", "; ".join(map(str, rejected))),
            *row_checks(counts),
            Check("districts_missing", len(missing), 0, "fail" if missing and rows else "pass", ", ".join(missing)),
            Check("population_total", sum(r["population"] for r in staged)),
            Check("area_total_km2", round(sum(r["area_km2"] for r in staged), 2))]
