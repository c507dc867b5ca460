"""District tessellation of the synthetic city."""

import numpy as np
import pytest
import shapely

from jobs.simulate.geography import CityGeography


@pytest.fixture(scope="module")
def geo(city_cfg):
    return CityGeography(city_cfg)


def test_districts_tile_the_city_without_overlap(geo):
    union = shapely.union_all([d.polygon_xy for d in geo.districts])
    assert union.area == pytest.approx(geo.boundary_xy.area, rel=1e-9)
    assert sum(d.area_km2 for d in geo.districts) == pytest.approx(geo.boundary_xy.area, rel=1e-9)
    assert 600 < geo.boundary_xy.area < 1000          # Almaty is about 680 km2


def test_each_centre_lies_in_its_own_district(geo, city_cfg):
    for i, d in enumerate(city_cfg["districts"]):
        x, y = geo.proj.to_xy(d["lat"], d["lon"])
        assert geo.district_index([x], [y])[0] == i


def test_business_centres_fall_in_their_configured_district(geo, city_cfg):
    for b in city_cfg["business_centres"]:
        x, y = geo.proj.to_xy(b["lat"], b["lon"])
        assert geo.district_names[geo.district_index([x], [y])[0]] == b["district"]


def test_points_sampled_in_a_district_stay_there(geo):
    rng = np.random.default_rng(0)
    x, y = geo.sample_in_district(3, 2000, rng)
    assert (geo.district_index(x, y) == 3).all()
    assert geo.district_index([500.0], [500.0])[0] == -1


def test_projection_round_trips(geo):
    lat, lon = geo.proj.to_latlon(*geo.proj.to_xy(43.25, 76.95))
    assert lat == pytest.approx(43.25) and lon == pytest.approx(76.95)


def test_geojson_has_every_district_with_population(geo):
    fc = geo.districts_geojson()
    assert [f["properties"]["name"] for f in fc["features"]] == geo.district_names
    ring = fc["features"][0]["geometry"]["coordinates"][0]
    lon, lat = ring[0]
    assert 76.5 < lon < 77.3 and 43.0 < lat < 43.5
