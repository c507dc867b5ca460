"""H3 helpers (jobs.common.h3geo) and the geo_h3_cells dimension (jobs.aggregate.geo_cells)."""

import json
from datetime import date

import h3
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import Point, box, mapping, shape

from jobs.aggregate import geo_cells
from jobs.common import h3geo
from jobs.common.config import Paths
from jobs.common.conform import conform
from jobs.common.contracts import load_contract
from jobs.common.lake import read_table, write_table
from jobs.simulate.geography import CityGeography

RES = [9, 8, 7]


@pytest.fixture(scope="module")
def almaty(city_cfg):
    """The district polygons exactly as the districts feed delivers them."""
    feats = CityGeography(city_cfg).districts_geojson()["features"]
    return pd.DataFrame([{"district": f["properties"]["name"],
                          "district_type": f["properties"]["district_type"],
                          "boundary_geojson": json.dumps(f["geometry"])} for f in feats])


@pytest.fixture(scope="module")
def cells(almaty):
    return geo_cells.h3_cells(almaty, RES)


def polygons(districts: pd.DataFrame) -> dict:
    return {d: shape(json.loads(g)) for d, g in zip(districts["district"], districts["boundary_geojson"])}


def two_squares() -> pd.DataFrame:
    """West (residential) and East (business centre), 0.04 x 0.04 degrees each, side by side."""
    west, east = box(76.90, 43.20, 76.94, 43.24), box(76.94, 43.20, 76.98, 43.24)
    return pd.DataFrame({"district": ["West", "East"], "district_type": ["residential", "business_centre"],
                         "boundary_geojson": [json.dumps(mapping(west)), json.dumps(mapping(east))]})


# ---------------------------------------------------------------- h3geo
def test_configured_resolutions(city_cfg):
    assert h3geo.configured_resolutions(city_cfg) == RES
    with pytest.raises(ValueError):
        h3geo.configured_resolutions({"h3": {}})


def test_latlng_to_cells_matches_h3_and_nulls_invalid_points():
    rng = np.random.default_rng(3)
    lat, lon = rng.uniform(43.1, 43.4, 3000), rng.uniform(76.7, 77.1, 3000)
    for res in RES:
        got = h3geo.latlng_to_cells(lat, lon, res)
        assert got.tolist() == [h3.latlng_to_cell(a, b, res) for a, b in zip(lat, lon)]
    mixed = h3geo.latlng_to_cells(pd.Series([43.25, None, np.nan, 95.0]), [76.9, 76.9, 76.9, 76.9], 8)
    assert mixed.tolist() == [h3.latlng_to_cell(43.25, 76.9, 8), None, None, None]


def test_cell_facts_match_h3():
    cells = h3geo.latlng_to_cells([43.25, 43.30, 43.21], [76.90, 76.95, 76.80], 9)
    lat, lon = h3geo.cell_centroids(cells)
    for c, a, b, area, p8, p7 in zip(cells, lat, lon, h3geo.cell_areas_km2(cells),
                                     h3geo.cell_parents(cells, 8), h3geo.cell_parents(cells, 7)):
        assert (a, b) == pytest.approx(h3.cell_to_latlng(c), abs=1e-12)
        assert area == pytest.approx(h3.cell_area(c, "km^2"), rel=1e-9)
        assert (p8, p7) == (h3.cell_to_parent(c, 8), h3.cell_to_parent(c, 7))
    with pytest.raises(ValueError):
        h3geo.cell_parents(h3geo.cell_parents(cells, 7), 8)


def test_geojson_boundary_is_a_closed_lng_lat_ring():
    cell = h3.latlng_to_cell(43.25, 76.9, 8)
    geom = json.loads(h3geo.cell_to_geojson(cell))
    ring = geom["coordinates"][0]
    assert geom["type"] == "Polygon" and len(geom["coordinates"]) == 1
    assert ring[0] == ring[-1] and len(ring) == 7
    assert all(76 < lng < 78 and 43 < lat < 44 for lng, lat in ring)          # [lng, lat], not [lat, lng]
    expected = {(round(b, 7), round(a, 7)) for a, b in h3.cell_to_boundary(cell)}
    assert {tuple(p) for p in ring} == expected
    poly = shapely.Polygon(ring)
    assert poly.exterior.is_ccw                                               # RFC 7946 right-hand rule
    lat, lng = h3.cell_to_latlng(cell)
    assert poly.contains(Point(lng, lat))
    assert h3geo.cells_to_geojson([cell]).tolist() == [h3geo.cell_to_geojson(cell)]


def test_polygon_cells_center_and_overlap():
    square = box(76.90, 43.20, 76.98, 43.26)
    center = h3geo.polygon_cells(mapping(square), 8)
    assert center == sorted(h3.geo_to_cells(mapping(square), 8))
    assert h3geo.polygon_cells(json.dumps(mapping(square)), 8) == center
    overlap = set(h3geo.polygon_cells(square, 8, contain="overlap"))
    assert set(center) < overlap
    hexes = h3geo.cell_polygons(sorted(overlap))
    assert shapely.intersects(hexes, square).all()
    with pytest.raises(ValueError):
        h3geo.polygon_cells(mapping(Point(76.9, 43.2)), 8)


def test_latlng_cell_udf_in_spark(spark):
    df = spark.createDataFrame([(43.25, 76.9), (None, 76.9), (43.3, 76.95)], "lat double, lon double")
    got = [r.cell for r in df.select(h3geo.latlng_cell_udf(9)("lat", "lon").alias("cell")).collect()]
    assert got == [h3.latlng_to_cell(43.25, 76.9, 9), None, h3.latlng_to_cell(43.3, 76.95, 9)]


# ---------------------------------------------------------------- geo_h3_cells on Almaty
def test_almaty_cell_counts(cells, almaty):
    n = cells.groupby("resolution").size().to_dict()
    city = shapely.union_all(list(polygons(almaty).values()))
    # ~780 km2 of cells of ~0.88 km2 at this latitude plus the edge cells: DESIGN says about 950
    assert 900 <= n[8] <= 1100
    for res in RES:
        assert n[res] >= len(h3geo.polygon_cells(city, res, contain="overlap"))
    assert n[9] > 6 * n[8] and n[8] > 5 * n[7]
    assert cells["h3_cell"].is_unique


def test_parents_form_a_hierarchy(cells):
    by_res = {r: set(cells.loc[cells["resolution"] == r, "h3_cell"]) for r in RES}
    for child, parent in ((9, 8), (8, 7)):
        rows = cells[cells["resolution"] == child]
        assert set(rows["parent_h3_cell"]) <= by_res[parent]
        assert all(h3.cell_to_parent(c, parent) == p for c, p in zip(rows["h3_cell"], rows["parent_h3_cell"]))
    assert cells.loc[cells["resolution"] == 7, "parent_h3_cell"].isna().all()
    assert (cells["h3_cell"].map(h3.get_resolution) == cells["resolution"]).all()


def test_district_areas_match_the_polygons(cells, almaty, city_cfg):
    polys = polygons(almaty)
    truth = {d.name: d.area_km2 for d in CityGeography(city_cfg).districts}
    fine = cells[cells["resolution"] == 9].groupby("district")["area_km2"].sum()
    assert set(fine.index) == set(truth)
    for name, area in fine.items():
        assert area == pytest.approx(truth[name], rel=0.10)
    for res in RES:          # cells whose centre is in the district tile it at every resolution
        c = cells[cells["resolution"] == res]
        inside = [polys[d].contains(Point(lon, lat)) for d, lat, lon
                  in zip(c["district"], c["centroid_lat"], c["centroid_lon"])]
        for name, area in c[inside].groupby("district")["area_km2"].sum().items():
            assert area == pytest.approx(truth[name], rel=0.10), (res, name)


def test_every_point_of_the_city_finds_its_cell_and_district(cells, almaty, city_cfg):
    geo = CityGeography(city_cfg)
    rng = np.random.default_rng(7)
    xs, ys, names = [], [], []
    for i, d in enumerate(geo.districts):
        x, y = geo.sample_in_district(i, 400, rng, centre_share=0.0)      # uniform, edges included
        xs.append(x)
        ys.append(y)
        names += [d.name] * len(x)
    lat, lon = geo.proj.to_latlon(np.concatenate(xs), np.concatenate(ys))
    table = cells.set_index("h3_cell")
    for res in RES:
        direct = h3geo.latlng_to_cells(lat, lon, res)
        assert pd.Index(direct).isin(table.index).all()
    via_parent = h3geo.cell_parents(h3geo.latlng_to_cells(lat, lon, 9), 8)
    assert pd.Index(via_parent).isin(table.index).all()
    agree = np.mean(table.loc[h3geo.latlng_to_cells(lat, lon, 9), "district"].to_numpy() == np.array(names))
    assert agree > 0.95


def test_boundaries_centroids_and_types(cells, almaty):
    types = dict(zip(almaty["district"], almaty["district_type"]))
    assert (cells["zone_type"] == cells["district"].map(types)).all()
    sample = cells.sample(200, random_state=1)
    for c, g, lat, lon in zip(sample["h3_cell"], sample["boundary_geojson"], sample["centroid_lat"],
                              sample["centroid_lon"]):
        ring = json.loads(g)["coordinates"][0]
        assert ring[0] == ring[-1] and shapely.Polygon(ring).contains(Point(lon, lat))
        assert g == h3geo.cell_to_geojson(c)
    conform(cells, "geo_h3_cells")                      # the full table meets its contract


# ---------------------------------------------------------------- district rule on inline polygons
def test_district_by_centre_then_largest_overlap():
    cells = geo_cells.h3_cells(two_squares(), [8, 7])
    polys = polygons(two_squares())
    r8 = cells[cells["resolution"] == 8]
    centre = shapely.points(r8["centroid_lon"].to_numpy(), r8["centroid_lat"].to_numpy())
    in_west, in_east = shapely.within(centre, polys["West"]), shapely.within(centre, polys["East"])
    assert (r8.loc[in_west, "district"] == "West").all() and (r8.loc[in_east, "district"] == "East").all()
    edge = r8[~(in_west | in_east)]
    assert len(edge) > 0                                # cells overlapping the city from outside are kept
    hexes = h3geo.cell_polygons(edge["h3_cell"])
    west_share = shapely.area(shapely.intersection(hexes, polys["West"]))
    east_share = shapely.area(shapely.intersection(hexes, polys["East"]))
    assert (np.where(west_share >= east_share, "West", "East") == edge["district"].to_numpy()).all()
    assert (cells.loc[cells["district"] == "East", "zone_type"] == "business_centre").all()


def test_bad_boundaries_are_refused():
    bad = two_squares()
    bad.loc[1, "boundary_geojson"] = json.dumps(mapping(Point(76.9, 43.2)))
    with pytest.raises(ValueError, match="East"):
        geo_cells.h3_cells(bad, RES)
    bowtie = {"type": "Polygon", "coordinates": [[[76.9, 43.2], [77.0, 43.3], [77.0, 43.2], [76.9, 43.3], [76.9, 43.2]]]}
    with pytest.raises(ValueError, match="invalid"):
        geo_cells.h3_cells(two_squares().assign(boundary_geojson=json.dumps(bowtie)).iloc[:1], RES)
    with pytest.raises(ValueError, match="duplicate"):
        geo_cells.h3_cells(pd.concat([two_squares(), two_squares()]), RES)


# ---------------------------------------------------------------- the job
def test_run_reads_the_latest_delivery_and_writes_the_table(spark, city_cfg, tmp_path):
    paths = Paths.from_env({"GEOPULSE_DATA": str(tmp_path)})
    c = load_contract("stg_districts__districts")

    def delivery(ds: date, frame: pd.DataFrame) -> list[tuple]:
        rows = [{"ds": ds, "district": r.district, "name_ru": r.district, "name_kk": r.district,
                 "population": 1000, "district_type": r.district_type, "area_km2": 19.0,
                 "boundary_geojson": r.boundary_geojson, "source_file": f"districts/dt={ds}/districts.geojson"}
                for r in frame.itertuples()]
        return [tuple(r[k] for k in c.column_names) for r in rows]

    old = two_squares().assign(district=["OldWest", "OldEast"])
    rows = delivery(date(2020, 1, 1), old) + delivery(date(2020, 2, 1), two_squares())
    write_table(spark.createDataFrame(rows, c.spark_schema()), c.name, paths)

    written = geo_cells.run(spark, city_cfg, paths)
    got = read_table(spark, "geo_h3_cells", paths).toPandas()
    expected = geo_cells.h3_cells(two_squares(), h3geo.configured_resolutions(city_cfg))
    assert written == len(got) == len(expected)
    assert set(got["district"]) == {"West", "East"}
    assert sorted(got["h3_cell"]) == sorted(expected["h3_cell"])

    geo_cells.run(spark, city_cfg, paths, ds=date(2020, 1, 15))
    assert set(read_table(spark, "geo_h3_cells", paths).toPandas()["district"]) == {"OldWest", "OldEast"}
    with pytest.raises(ValueError, match="no delivery"):
        geo_cells.run(spark, city_cfg, paths, ds=date(2019, 12, 31))
