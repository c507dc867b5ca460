"""City config loading and location defaults."""

from pathlib import Path

import pytest
import yaml

from jobs.common.config import Paths, district_type, load_city


def test_almaty_config_holds_the_real_districts(city_cfg):
    pops = {d["name"]: d["population"] for d in city_cfg["districts"]}
    assert len(pops) == 8
    assert sum(pops.values()) == 2_161_695
    assert pops["Alatau"] == 354_899 and pops["Zhetysu"] == 195_805
    assert district_type(city_cfg, "Almaly") == "business_centre"
    assert city_cfg["privacy"]["k_anonymity"] == 15


def test_default_locations_live_under_data(tmp_path):
    paths = Paths.from_env({})
    assert paths.landing.parts[-2:] == ("data", "landing")
    assert paths.serving_db.name == "geopulse.duckdb"
    assert paths.manifest == paths.landing / "manifest.json"


def test_each_location_can_be_overridden(tmp_path):
    env = {"GEOPULSE_DATA": str(tmp_path), "GEOPULSE_LAKE": "/lake/x"}
    paths = Paths.from_env(env)
    assert paths.landing == tmp_path / "landing"
    assert paths.lake == Path("/lake/x")
    assert paths.bench == tmp_path / "bench"


def test_broken_city_config_names_the_problem(tmp_path, city_cfg):
    bad = dict(city_cfg)
    bad["operators"] = [dict(op, market_share=0.5) for op in city_cfg["operators"]]
    path = tmp_path / "city.yaml"
    path.write_text(yaml.safe_dump(bad, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValueError, match="market shares sum to 1.5"):
        load_city(path)
