"""Every dashboard, opened in real headless Chromium after import into a real Superset, draws every
chart from the published serving database: no chart error, no empty map, no empty chart unless
the chart says an empty answer is valid (e.g. no alerts this week). A screenshot per dashboard
goes to test-artifacts/dashboards/<slug>.png. A dashboard whose source tables are empty in the
serving database (marts not built from the test lake, e.g. lead/lag on a 4-day city) is skipped,
naming them.

The check is shown to fail for real: a chart pointed at a missing column is reported as an error,
and a map with no rows as empty.
"""

from pathlib import Path

import pytest
import yaml

from jobs.dashboards import bundle
from jobs.dashboards.charts import h3_polygons, line, metric
from jobs.dashboards.spec import DASHBOARDS, Chart, Dashboard
from jobs.publish.views import VIEWS

MAP_TYPES = ("deck_polygon", "deck_arc")


def _bundled_charts(slug: str) -> list[dict]:
    """The charts the checked-in bundle places on dashboard ``slug``."""
    dash = yaml.safe_load((bundle.BUNDLE_DIR / "dashboards" / f"{slug}.yaml").read_text())
    uuids = [i["meta"]["uuid"] for i in dash["position"].values() if isinstance(i, dict) and i.get("type") == "CHART"]
    charts = {c["uuid"]: c for c in (yaml.safe_load(p.read_text()) for p in (bundle.BUNDLE_DIR / "charts").glob("*.yaml"))}
    return [charts[u] for u in uuids]


@pytest.mark.parametrize("dash", DASHBOARDS, ids=[d.slug for d in DASHBOARDS])
def test_dashboard_draws_every_chart(dash: Dashboard, ui_serving, superset_server, browser, artifacts):
    charts = _bundled_charts(dash.slug)
    datasets = sorted({c["params"]["datasource"].removesuffix("__table") for c in charts})
    views = {v.name: v for v in VIEWS}
    sources = sorted({t for d in datasets for t in (views[d].tables if d in views else (d,))})
    assert all(d in ui_serving.rows for d in datasets), "every dataset is served"
    not_built = [t for t in sources if not ui_serving.rows.get(t)]
    if not_built:
        pytest.skip(f"{dash.slug}: published tables empty in this serving database (not built from "
                    f"this lake): {not_built}")
    assert dash.slug in superset_server.dashboards, "imported"

    check = browser.check(dash.slug, len(charts), artifacts / f"{dash.slug}.png")

    may_be_empty = {c.title for c in dash.charts if c.may_be_empty}
    problems = [c for c in check.problems if not (c.state == "empty" and c.title in may_be_empty)]
    assert len(check.charts) == len(charts)
    assert not problems, f"{dash.slug}: " + "; ".join(f"{c.title!r}: {c.state} {c.detail}" for c in problems)
    maps = {c["slice_name"] for c in charts if c["viz_type"] in MAP_TYPES}
    drawn = {c.title for c in check.charts if c.state == "ok" and c.canvas}
    assert maps <= drawn, f"maps not drawn: {maps - drawn}"
    assert check.screenshot.stat().st_size > 20_000


def test_the_check_fails_on_a_missing_column_and_an_empty_map(superset_server, browser, artifacts, tmp_path: Path):
    """A dashboard of three charts: one reading a column that does not exist, one map whose
    filter leaves no rows, and one good map; the check must tell them apart."""
    bad = Dashboard("ui-check-broken", "UI check: broken on purpose",
                    "A dashboard made broken on purpose by the browser test, to prove the check fails.", ((
                        Chart("ui_check_missing_column", "Missing column", "v_dq_feed_day",
                              line("ds", [metric("SUM(no_such_column)", "broken")])),
                        Chart("ui_check_empty_map", "Empty map", "v_h3_cells",
                              h3_polygons("boundary_geojson", metric("AVG(area_km2)", "area"), ["1 = 0"])),
                        Chart("ui_check_good_map", "Good map", "v_h3_cells",
                              h3_polygons("boundary_geojson", metric("AVG(area_km2)", "area"))),
                    ),))
    bundle.build(tmp_path, dashboards=(bad,))

    superset_server.client.import_bundle(superset_server.uri, tmp_path)

    check = browser.check(bad.slug, 3, artifacts / "ui-check-broken.png")

    states = {c.title: c for c in check.charts}
    assert states["Missing column"].state == "error", states
    assert "no_such_column" in states["Missing column"].detail.lower()
    assert states["Empty map"].state == "empty", states
    assert states["Good map"].state == "ok" and states["Good map"].canvas, states
