"""Operator cell coverage as weighted H3 cells (jobs.aggregate.cell_coverage)."""

from datetime import date, timedelta
from pathlib import Path

import h3
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Polygon

from jobs.aggregate import cell_coverage as cc
from jobs.common import h3geo
from jobs.common.config import Paths
from jobs.common.conform import conform
from jobs.common.contracts import load_contract
from jobs.common.lake import read_table, write_table

RES = [9, 8, 7]
SITE = (43.25, 76.90)
KEY = ["cgi", "valid_from", "resolution"]


def version(cgi="401-02-10101-11", azimuth=90.0, beam=60.0, range_m=1500.0, lat=SITE[0], lon=SITE[1],
            valid_from=date(2019, 1, 1), valid_to=None) -> dict:
    return {"operator": cgi[:6], "cgi": cgi, "lat": lat, "lon": lon, "azimuth_deg": azimuth,
            "beam_width_deg": beam, "range_m": range_m, "valid_from": valid_from, "valid_to": valid_to}


def cells_of(weights: pd.DataFrame, cgi: str, res: int = 9, valid_from=None) -> dict:
    w = weights[(weights["cgi"] == cgi) & (weights["resolution"] == res)]
    if valid_from is not None:
        w = w[w["valid_from"] == valid_from]
    return dict(zip(w["h3_cell"], w["weight"]))


def sector_polygon(lat, lon, azimuth, beam, range_m, scale=1.0, widen=0.0, steps=64) -> Polygon:
    """The sector as a polygon with its arc vertices on the circle of radius range * scale."""
    km_lon = cc.KM_PER_DEG_LON_EQUATOR * np.cos(np.radians(lat))
    ang = np.radians(np.linspace(azimuth - beam / 2 - widen, azimuth + beam / 2 + widen, steps))
    r = range_m * scale / 1000
    arc = [(lon + r * np.sin(a) / km_lon, lat + r * np.cos(a) / cc.KM_PER_DEG_LAT) for a in ang]
    return Polygon([(lon, lat), *arc])


def centre_of_mass(cells: dict) -> tuple[float, float]:
    lat, lon = h3geo.cell_centroids(list(cells))
    w = np.array(list(cells.values()))
    return float(np.dot(lat, w)), float(np.dot(lon, w))


def assert_weights_sum_to_one(weights: pd.DataFrame) -> None:
    sums = weights.groupby(KEY)["weight"].sum()
    assert np.allclose(sums.to_numpy(), 1.0, atol=1e-9)
    per_version = weights.groupby(["cgi", "valid_from"])["resolution"].nunique()
    assert (per_version == len(RES)).all()


def assert_rollup_consistent(weights: pd.DataFrame) -> None:
    for child, parent in ((9, 8), (8, 7)):
        c = weights[weights["resolution"] == child]
        up = (c.assign(h3_cell=h3geo.cell_parents(c["h3_cell"], parent))
              .groupby(["cgi", "valid_from", "h3_cell"])["weight"].sum())
        p = weights[weights["resolution"] == parent].set_index(["cgi", "valid_from", "h3_cell"])["weight"]
        assert set(up.index) == set(p.index)
        assert np.allclose(up.sort_index().to_numpy(), p.sort_index().to_numpy(), atol=1e-12)


# ---------------------------------------------------------------- geometry on inline cells
def test_sector_pointing_east_covers_east_only():
    w = cc.coverage_weights(pd.DataFrame([version(azimuth=90, beam=60, range_m=1500)]), RES)
    got = cells_of(w, "401-02-10101-11")
    lat, lon = h3geo.cell_centroids(list(got))
    assert len(got) >= 5
    assert (lon > SITE[1]).all()                                     # nothing west of the site
    assert np.abs(lat - SITE[0]).max() < 0.01                        # within the 60-degree beam
    inner = h3geo.polygon_cells(sector_polygon(*SITE, 90, 60, 1500), 9)
    outer = h3geo.polygon_cells(sector_polygon(*SITE, 90, 60, 1500, scale=1.01, widen=0.5), 9)
    assert set(inner) <= set(got) <= set(outer)                      # = centres inside the sector


def test_sectors_point_where_their_azimuth_says():
    frame = pd.DataFrame([version(cgi=f"401-02-10101-{az}", azimuth=az) for az in (0, 90, 180, 270)])
    w = cc.coverage_weights(frame, RES)
    for az in (0, 90, 180, 270):
        lat, lon = centre_of_mass(cells_of(w, f"401-02-10101-{az}"))
        bearing = np.degrees(np.arctan2((lon - SITE[1]) * np.cos(np.radians(SITE[0])), lat - SITE[0])) % 360
        assert abs((bearing - az + 180) % 360 - 180) < 15


def test_disk_covers_around_the_site():
    w = cc.coverage_weights(pd.DataFrame([version(beam=360, range_m=800, azimuth=0)]), RES)
    got = cells_of(w, "401-02-10101-11")
    assert h3.latlng_to_cell(*SITE, 9) in got
    lat, lon = h3geo.cell_centroids(list(got))
    assert {(a > SITE[0], b > SITE[1]) for a, b in zip(lat, lon)} == {(True, True), (True, False),
                                                                       (False, True), (False, False)}
    clat, clon = centre_of_mass(got)
    assert abs(clat - SITE[0]) < 0.002 and abs(clon - SITE[1]) < 0.002   # within ~200 m of the site
    disk = set(h3geo.polygon_cells(sector_polygon(*SITE, 0, 360, 800, steps=129), 9))
    assert disk <= set(got)


def test_tiny_sector_gets_the_cell_of_its_centroid():
    frame = pd.DataFrame([version(range_m=40, beam=30), version(cgi="401-02-10101-12", range_m=0, beam=65)])
    w = cc.coverage_weights(frame, RES)
    plat, plon = cc.sector_centroid(np.array([SITE[0]]), np.array([SITE[1]]), np.array([90.0]),
                                    np.array([30.0]), np.array([40.0]))
    assert cells_of(w, "401-02-10101-11") == {h3.latlng_to_cell(plat[0], plon[0], 9): 1.0}
    assert cells_of(w, "401-02-10101-12") == {h3.latlng_to_cell(*SITE, 9): 1.0}
    assert_weights_sum_to_one(w)


def test_weights_are_area_shares_and_roll_up():
    frame = pd.DataFrame([version(), version(cgi="401-01-20101-25600001", beam=120, range_m=2500),
                          version(cgi="401-77-30101-11", beam=360, range_m=1200, lat=43.3, lon=76.95)])
    w = cc.coverage_weights(frame, RES)
    assert_weights_sum_to_one(w)
    assert_rollup_consistent(w)
    for cgi in frame["cgi"]:
        got = cells_of(w, cgi)
        areas = h3geo.cell_areas_km2(list(got))
        assert np.allclose(list(got.values()), areas / areas.sum(), rtol=1e-12)
    conform(w, "geo_cell_h3_weights")


def test_bad_cell_versions_are_refused():
    with pytest.raises(ValueError, match="duplicate"):
        cc.coverage_weights(pd.DataFrame([version(), version()]), RES)
    with pytest.raises(ValueError, match="invalid"):
        cc.coverage_weights(pd.DataFrame([version(lat=float("nan"))]), RES)
    with pytest.raises(ValueError, match="missing columns"):
        cc.coverage_weights(pd.DataFrame([version()]).drop(columns="range_m"), RES)


def test_location_frame_picks_the_version_of_the_day():
    change = date(2020, 3, 18)
    frame = pd.DataFrame([version(valid_to=change - timedelta(days=1)),
                          version(lon=SITE[1] + 0.02, valid_from=change)])
    w = cc.coverage_weights(frame, RES)
    before = cc.cell_location_frame(w, change - timedelta(days=1), resolution=9)
    after = cc.cell_location_frame(w, change, resolution=9)
    assert set(before["valid_from"]) == {date(2019, 1, 1)} and set(after["valid_from"]) == {change}
    assert set(before["h3_cell"]).isdisjoint(after["h3_cell"])
    assert cc.cell_location_frame(w, date(2018, 12, 31)).empty


# ---------------------------------------------------------------- the job (Spark)
def test_run_keeps_the_latest_snapshot_of_each_version(spark, city_cfg, tmp_path):
    paths = Paths.from_env({"GEOPULSE_DATA": str(tmp_path)})
    c = load_contract("stg_operator__cells")
    d1, d2 = date(2020, 3, 16), date(2020, 3, 18)

    def row(ds, v, n):
        lac, ci = v["cgi"].split("-")[2:]
        full = {**v, "ds": ds, "lac": int(lac), "ci": int(ci), "site_id": "K0001",
                "source_file": f"cell_reference/dt={ds}/cells_kcell.csv", "source_row": n}
        return tuple(full[k] for k in c.column_names)

    first = [version(), version(cgi="401-02-10101-12", azimuth=200.0)]
    second = [version(valid_to=d2 - timedelta(days=1)), version(cgi="401-02-10101-12", azimuth=200.0),
              version(cgi="401-02-10101-13", valid_from=d2)]
    rows = [row(d1, v, i + 1) for i, v in enumerate(first)] + [row(d2, v, i + 1) for i, v in enumerate(second)]
    write_table(spark.createDataFrame(rows, c.spark_schema()), c.name, paths)

    written = cc.run(spark, city_cfg, paths)
    got = read_table(spark, "geo_cell_h3_weights", paths).toPandas()
    assert written == len(got) == len(cc.coverage_weights(pd.DataFrame(second), RES))
    assert got.groupby(["cgi", "valid_from"]).ngroups == 3
    assert set(got.loc[got["cgi"] == "401-02-10101-11", "valid_to"]) == {d2 - timedelta(days=1)}
    assert_weights_sum_to_one(got)
    on_d2 = cc.cell_location_frame(read_table(spark, "geo_cell_h3_weights", paths), d2, resolution=9)
    assert sorted(on_d2.toPandas()["cgi"].unique()) == ["401-02-10101-12", "401-02-10101-13"]
    with pytest.raises(ValueError, match="no cell reference"):
        cc.run(spark, city_cfg, paths, ds=d1 - timedelta(days=1))


# ---------------------------------------------------------------- the generated city
@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    from jobs.simulate.city import run_simulation
    from jobs.simulate.context import SimParams

    landing = tmp_path_factory.mktemp("landing")
    result = run_simulation(SimParams(start=date(2020, 3, 16), days=4, subscribers=1500, events_per_day=10,
                                      seed=1, dirt=0.02, health_scale=0.05), landing)
    return landing, result.manifest


def delivered_versions(landing: Path) -> pd.DataFrame:
    """Every delivered cell version, from the latest snapshot that holds it (as the job does)."""
    files = sorted((landing / "cell_reference").glob("dt=*/cells_*.csv"))
    snaps = pd.concat([pd.read_csv(f, dtype={"cgi": str, "operator": str, "valid_from": str, "valid_to": str})
                       .assign(ds=f.parent.name[3:]) for f in files], ignore_index=True)
    out = snaps.sort_values("ds").drop_duplicates(["cgi", "valid_from"], keep="last").reset_index(drop=True)
    for col in ("valid_from", "valid_to"):
        out[col] = [date.fromisoformat(v) if isinstance(v, str) else None for v in out[col]]
    return out


def test_every_delivered_cell_version_gets_weights(generated):
    landing, _ = generated
    versions = delivered_versions(landing)
    w = cc.coverage_weights(versions, RES)
    assert set(zip(w["cgi"], w["valid_from"])) == set(zip(versions["cgi"], versions["valid_from"]))
    assert_weights_sum_to_one(w)
    assert_rollup_consistent(w)
    conform(w, "geo_cell_h3_weights")


def test_moved_and_renamed_cells_map_correctly_on_both_sides(generated):
    landing, manifest = generated
    changes = manifest["ground_truth"]["network_changes"]
    versions = delivered_versions(landing)
    w = cc.coverage_weights(versions, RES)

    moved = changes["moved_cell"]
    day = date.fromisoformat(moved["day"])
    before = cc.cell_location_frame(w, day - timedelta(days=1), resolution=9)
    after = cc.cell_location_frame(w, day, resolution=9)
    km_lon = cc.KM_PER_DEG_LON_EQUATOR * np.cos(np.radians(moved["lat_before"]))
    move = np.array([(moved["lon_after"] - moved["lon_before"]) * km_lon,
                     (moved["lat_after"] - moved["lat_before"]) * cc.KM_PER_DEG_LAT])
    reach_m = versions.loc[versions["cgi"].isin(moved["cgis"]), "range_m"].max() + 250   # + a cell radius
    for cgi in moved["cgis"]:
        old, new = cells_of(before, cgi), cells_of(after, cgi)
        assert old and new and set(old) != set(new)
        for cells, side in ((old, "before"), (new, "after")):           # each side around its own site
            lat, lon = h3geo.cell_centroids(list(cells))
            site = (moved[f"lat_{side}"], moved[f"lon_{side}"])
            assert max(h3.great_circle_distance((a, b), site, "m") for a, b in zip(lat, lon)) < reach_m
        (lat0, lon0), (lat1, lon1) = centre_of_mass(old), centre_of_mass(new)
        shift = np.array([(lon1 - lon0) * km_lon, (lat1 - lat0) * cc.KM_PER_DEG_LAT])
        assert 0.5 < shift @ move / (move @ move) < 1.5                 # the coverage moved with the site
    hexes = lambda frame: set(frame.loc[frame["cgi"].isin(moved["cgis"]), "h3_cell"])  # noqa: E731
    assert hexes(before) != hexes(after)

    renamed = changes["renamed_cell"]
    day = date.fromisoformat(renamed["day"])
    old = cells_of(cc.cell_location_frame(w, day - timedelta(days=1)), renamed["cgi_old"])
    new = cells_of(cc.cell_location_frame(w, day), renamed["cgi_new"])
    assert old and old == new
    assert not cells_of(cc.cell_location_frame(w, day), renamed["cgi_old"])
    assert not cells_of(cc.cell_location_frame(w, day - timedelta(days=1)), renamed["cgi_new"])
