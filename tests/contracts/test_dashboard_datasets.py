"""The Superset bundle under dashboards/ only reads what is published, and is what the spec makes.

Every dataset's table is a published contract in schemas/tables or a serving view whose tables
all are; its columns are exactly the served ones; charts and dashboards link by uuid to assets
in the bundle; each of the six dashboards has a description on the page; the checked-in files
equal a fresh ``python -m jobs.dashboards.bundle``.
"""

from pathlib import Path

import pytest
import yaml

from jobs.common.config import REPO_ROOT
from jobs.common.contracts import all_contracts
from jobs.dashboards import bundle
from jobs.publish.views import VIEWS

BUNDLE = REPO_ROOT / "dashboards"


def _docs(sub: str) -> dict[str, dict]:
    return {p.relative_to(BUNDLE / sub).as_posix(): yaml.safe_load(p.read_text(encoding="utf-8"))
            for p in sorted((BUNDLE / sub).rglob("*.yaml"))}


@pytest.fixture(scope="module")
def served():
    return bundle.served_sources()


def test_every_dataset_reads_a_published_table_or_a_view_over_published_tables():
    published = {c.name for c in all_contracts("table") if c.published}
    every_table = {c.name for c in all_contracts("table")}
    views = {v.name: v for v in VIEWS}
    datasets = _docs("datasets")
    assert len(datasets) >= 10
    for path, ds in datasets.items():
        name = ds["table_name"]
        assert ds["sql"] is None, f"{path}: datasets are physical, reading a served table or view"
        if name in views:
            hidden = [t for t in views[name].tables if t not in published]
            assert not hidden, f"{path}: view {name} reads unpublished tables {hidden}"
            assert all(t in every_table for t in views[name].tables)
        else:
            assert name in published, f"{path}: {name} is neither a published table in schemas/tables nor a view"


def test_dataset_columns_are_exactly_the_served_columns(served):
    for path, ds in _docs("datasets").items():
        want = [c for c, _, _ in served[ds["table_name"]]["columns"]]
        assert [c["column_name"] for c in ds["columns"]] == want, path


def test_assets_link_by_uuid_and_the_database_comes_from_the_environment():
    databases = _docs("databases")
    assert len(databases) == 1
    (db,) = databases.values()
    assert db["sqlalchemy_uri"] == bundle.PLACEHOLDER_URI      # replaced from the environment on import
    datasets = {d["uuid"]: d for d in _docs("datasets").values()}
    assert all(d["database_uuid"] == db["uuid"] for d in datasets.values())
    charts = {c["uuid"]: c for c in _docs("charts").values()}
    for c in charts.values():
        assert c["dataset_uuid"] in datasets, c["slice_name"]
        assert c["params"]["datasource"] == datasets[c["dataset_uuid"]]["table_name"] + "__table"
    placed = set()
    for d in _docs("dashboards").values():
        for item in d["position"].values():
            if isinstance(item, dict) and item.get("type") == "CHART":
                assert item["meta"]["uuid"] in charts, (d["slug"], item["id"])
                placed.add(item["meta"]["uuid"])
    assert placed == set(charts), "every chart sits on a dashboard"


def test_six_dashboards_each_with_a_description_on_the_page():
    dashboards = _docs("dashboards")
    assert sorted(d["slug"] for d in dashboards.values()) == sorted(
        ["city-activity", "mobility", "health-signals", "lead-lag", "forecasts-alerts", "data-quality"])
    for d in dashboards.values():
        markdown = [i for i in d["position"].values() if isinstance(i, dict) and i.get("type") == "MARKDOWN"]
        assert markdown and len(markdown[0]["meta"]["code"]) > 80, d["slug"]
        charts = [i for i in d["position"].values() if isinstance(i, dict) and i.get("type") == "CHART"]
        assert len(charts) >= 3, d["slug"]


def test_maps_draw_h3_cells_from_geojson_boundaries():
    charts = _docs("charts").values()
    polygons = [c for c in charts if c["viz_type"] == "deck_polygon"]
    assert polygons
    for c in polygons:
        assert c["params"]["line_type"] == "json" and c["params"]["line_column"] == "boundary_geojson"


def test_checked_in_bundle_equals_a_fresh_build(tmp_path: Path):
    bundle.build(tmp_path)
    fresh = {p.relative_to(tmp_path).as_posix(): p.read_text() for p in tmp_path.rglob("*.yaml")}
    checked_in = {p.relative_to(BUNDLE).as_posix(): p.read_text() for p in BUNDLE.rglob("*.yaml")}
    assert fresh.keys() == checked_in.keys(), "run `python -m jobs.dashboards.bundle`"
    stale = [k for k in fresh if fresh[k] != checked_in[k]]
    assert not stale, f"stale assets {stale}: run `python -m jobs.dashboards.bundle`"
