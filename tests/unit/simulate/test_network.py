"""Cell networks of the synthetic city: layout, geometry, versions, serving cell, cell reference."""

import re
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from jobs.simulate.context import SimContext, SimParams
from jobs.simulate.network import build_networks, write_cell_reference

START = date(2020, 3, 2)


@pytest.fixture(scope="module")
def ctx(city_cfg, tmp_path_factory):
    params = SimParams(start=START, days=6, subscribers=1000)
    return SimContext(city_cfg, params, tmp_path_factory.mktemp("landing"), salt="test-salt")


@pytest.fixture(scope="module")
def nets(ctx):
    return build_networks(ctx)


def test_each_operator_has_a_city_sized_network_denser_downtown(nets, ctx, city_cfg):
    bc = np.array([ctx.geo.proj.to_xy(b["lat"], b["lon"]) for b in city_cfg["business_centres"]])
    counts = {}
    for name, net in nets.items():
        xy = net.on(START).site_xy
        counts[name] = len(xy)
        assert 150 <= len(xy) <= 400, name
        d = np.min(np.hypot(xy[:, None, 0] - bc[None, :, 0], xy[:, None, 1] - bc[None, :, 1]), axis=1)
        near = (d < 2.0).sum() / (len(bc) * np.pi * 2.0 ** 2)
        city = len(xy) / ctx.geo.boundary_xy.area
        assert near > 2.5 * city, name              # business centres are several times denser
    assert counts["kcell"] > counts["beeline"] > counts["tele2"]  # follows sites_per_km2_downtown


def test_three_sectors_per_site_with_sane_geometry(nets):
    for name, net in nets.items():
        c = net.cells
        assert (c.groupby("site")["sector"].nunique() == 3).all()
        assert c["azimuth_deg"].between(0, 359).all()
        assert c["beam_width_deg"].between(65, 120).all()
        assert c["range_m"].between(400, 2500).all()
        # downtown cells are small, outskirts cells large
        assert c["range_m"].quantile(0.1) < 600 and c["range_m"].quantile(0.95) > 1000
        assert c["range_m"].max() > 2000
        # sector azimuths of a site are ~120 degrees apart
        az = np.sort(c[c["valid_to"].isna()].groupby("site")["azimuth_deg"].apply(np.array).iloc[0])
        assert np.allclose(np.diff(az), 120, atol=30)


def test_cell_ids_follow_each_operators_scheme(nets, city_cfg):
    mcc = {o["name"]: o["mcc_mnc"] for o in city_cfg["operators"]}
    for name, net in nets.items():
        c = net.cells
        for cgi, lac, ci in zip(c["cgi"], c["lac"], c["ci"]):
            assert cgi == f"{mcc[name]}-{lac}-{ci}"
            assert re.fullmatch(r"\d{3}-\d{2}-\d+-\d+", cgi)
        valid = c[net.valid_mask(START)]
        assert valid["cgi"].is_unique
    b = nets["beeline"].cells
    assert ((b["ci"] % 256).between(1, 3)).all()                    # ECI = eNB * 256 + cell
    assert (b.groupby("site")["ci"].apply(lambda s: (s // 256).nunique()) == 1).all()


def test_serving_cell_is_the_sector_facing_the_point(nets):
    nd = nets["kcell"].on(START)
    az = nd.azimuth[10]
    pts = nd.site_xy[10] + 0.15 * np.column_stack([np.sin(np.radians(az)), np.cos(np.radians(az))])
    best, second = nd.serve(pts[:, 0], pts[:, 1])
    assert list(best) == list(nd.rows[10])
    assert (best != second).all()
    fast_best, _ = nd.serve_fast(pts[:, 0], pts[:, 1])
    assert (fast_best == best).mean() >= 2 / 3


def test_serving_cell_lookup_agrees_with_nearest_site_by_brute_force(nets):
    nd = nets["tele2"].on(START)
    rng = np.random.default_rng(3)
    x, y = rng.uniform(-8, 8, 2000), rng.uniform(-8, 8, 2000)
    best, _ = nd.serve(x, y)
    site = np.argmin(np.hypot(x[:, None] - nd.site_xy[None, :, 0], y[:, None] - nd.site_xy[None, :, 1]), axis=1)
    sites_of_best = nets["tele2"].cells["site"].to_numpy()[best]
    assert (sites_of_best == site).all()


def test_one_kcell_cell_is_renamed_and_one_beeline_site_moves(nets):
    (ren,) = nets["kcell"].changes
    c = nets["kcell"].cells
    old = c[c["cgi"] == ren["cgi_old"]].iloc[0]
    new = c[c["cgi"] == ren["cgi_new"]].iloc[0]
    assert old["valid_to"] == ren["day"] - timedelta(days=1) and new["valid_from"] == ren["day"]
    assert old["site_id"] == new["site_id"] and old["lac"] == new["lac"] and old["ci"] != new["ci"]
    assert nets["kcell"].valid_mask(ren["day"] - timedelta(days=1))[old.name]
    assert not nets["kcell"].valid_mask(ren["day"])[old.name] and nets["kcell"].valid_mask(ren["day"])[new.name]

    (mv,) = nets["beeline"].changes
    b = nets["beeline"].cells
    assert len(mv["cgis"]) == 3
    for cgi in mv["cgis"]:
        versions = b[b["cgi"] == cgi].sort_values("valid_from")
        assert len(versions) == 2
        shift_km = np.hypot(*(versions[["x", "y"]].to_numpy()[1] - versions[["x", "y"]].to_numpy()[0]))
        assert 0.5 <= shift_km <= 0.8
    before, after = nets["beeline"].on(mv["day"] - timedelta(days=1)), nets["beeline"].on(mv["day"])
    moved = np.hypot(*(after.site_xy - before.site_xy).T)
    assert (moved > 0).sum() == 1 and 0.5 <= moved.max() <= 0.8


def test_cell_reference_snapshots_and_dirt_log(ctx, nets):
    res = write_cell_reference(ctx, nets)
    days = ctx.params.operator_days_list()
    ren, mv = nets["kcell"].changes[0], nets["beeline"].changes[0]
    assert sorted(res.files) == sorted(
        [f"cell_reference/dt={days[0]}/cells_{n}_{days[0]:%Y%m%d}.csv" for n in nets]
        + [f"cell_reference/dt={ren['day']}/cells_kcell_{ren['day']:%Y%m%d}.csv",
           f"cell_reference/dt={mv['day']}/cells_beeline_{mv['day']:%Y%m%d}.csv"])
    first = pd.read_csv(ctx.landing / f"cell_reference/dt={days[0]}/cells_kcell_{days[0]:%Y%m%d}.csv",
                        dtype={"operator": str})
    assert list(first.columns) == ["cgi", "operator", "lac", "ci", "site_id", "lat", "lon", "azimuth_deg",
                                   "beam_width_deg", "range_m", "valid_from", "valid_to"]
    assert first["valid_to"].isna().all() and ren["cgi_new"] not in set(first["cgi"])
    assert (first["operator"] == "401-02").all()
    later = pd.read_csv(ctx.landing / f"cell_reference/dt={ren['day']}/cells_kcell_{ren['day']:%Y%m%d}.csv")
    old = later[later["cgi"] == ren["cgi_old"]].iloc[0]
    assert old["valid_to"] == (ren["day"] - timedelta(days=1)).isoformat()
    assert later[later["cgi"] == ren["cgi_new"]].iloc[0]["valid_from"] == ren["day"].isoformat()
    assert first["lat"].between(43.0, 43.5).all() and first["lon"].between(76.6, 77.2).all()
    kinds = {e.kind: e for e in ctx.dirt_log.entries}
    assert kinds["renamed_cell"].rows == 1 and kinds["renamed_cell"].detail["cgi_new"] == ren["cgi_new"]
    assert kinds["moved_cell"].rows == 3 and kinds["moved_cell"].day == mv["day"].isoformat()
    assert res.truth["renamed_cell"]["cgi_old"] == ren["cgi_old"]
    assert 500 <= res.truth["moved_cell"]["distance_m"] <= 800


def test_no_changes_when_the_period_is_a_single_day(city_cfg, tmp_path):
    one = SimContext(city_cfg, SimParams(start=START, days=1, subscribers=100), tmp_path, salt="s")
    nets = build_networks(one)
    assert all(not n.changes for n in nets.values())
