"""Fixtures of the browser tests: a serving database published from a real lake, a real Superset
on a free port of 127.0.0.1 (``GEOPULSE_UI_PORT`` to pin one) with the bundle imported against it,
and one headless Chromium.

Needs Superset's own environment (.superset-venv, `make test-ui` builds it) and Debian chromium.
Without them the tests are skipped, unless ``GEOPULSE_REQUIRE_UI=1`` (set by `make test-ui`), in
which case that is a failure.
"""

import os
import shutil
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest

from jobs.common.config import REPO_ROOT

from jobs.common.ports import free_ports

PORT = int(os.environ.get("GEOPULSE_UI_PORT") or free_ports()[0])     # the demo uses 8088
ARTIFACTS = REPO_ROOT / "test-artifacts" / "dashboards"


def _missing_tools() -> str | None:
    from jobs.dashboards.browser import chromium_path
    from jobs.dashboards.superset import SUPERSET_VENV

    if not (SUPERSET_VENV / "bin" / "gunicorn").exists():
        return f"Superset environment missing ({SUPERSET_VENV}): run `make test-ui`"
    try:
        chromium_path()
    except FileNotFoundError as err:
        return str(err)
    return None


@pytest.fixture(scope="session")
def ui_tools():
    why = _missing_tools()
    if why:
        if os.environ.get("GEOPULSE_REQUIRE_UI") == "1":
            pytest.fail(why)
        pytest.skip(why)


@pytest.fixture(scope="session")
def ui_serving(ui_tools, request, tmp_path_factory):
    """The serving database the dashboards are checked on: the year city's lake (300 days of health
    feeds, 120 of operator feeds) with every analytics mart built by the real analytics stage as of
    its last day (``analysed_year_city``), published by the real publish job into a DuckDB file of
    this session; or the DuckDB file named by ``GEOPULSE_UI_SERVING_DB`` (e.g. the demo's, after `make
    run`). ``rows`` holds the row count of every table and view in it."""
    given = os.environ.get("GEOPULSE_UI_SERVING_DB")
    if given:
        path = Path(given)
    else:
        from jobs.publish.run import run as publish

        city = request.getfixturevalue("analysed_year_city")
        paths = replace(city.paths, serving_db=tmp_path_factory.mktemp("ui_serving") / "geopulse.duckdb")
        publish(None, city.cfg, paths, city.days[-1], log=lambda _: None)
        path = paths.serving_db
    con = duckdb.connect(str(path), read_only=True)
    names = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
    rows = {n: con.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}
    con.close()
    return SimpleNamespace(path=path, rows=rows)


@pytest.fixture(scope="session")
def superset_server(ui_tools, ui_serving, tmp_path_factory):
    """Superset on 127.0.0.1:PORT with a fresh metadata DB and the bundle imported."""
    from jobs.dashboards import superset

    home = tmp_path_factory.mktemp("superset_home")
    superset.bootstrap(home)
    server = superset.start(home, PORT)
    try:
        uri = superset.serving_uri(ui_serving.path)
        client = superset.Client(server.url)
        client.import_bundle(uri)
        yield SimpleNamespace(url=server.url, client=client, uri=uri, home=home,
                              dashboards={d["slug"]: d for d in client.dashboards()})
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser(superset_server):
    from jobs.dashboards.browser import Browser
    from jobs.dashboards.superset import ADMIN_PASSWORD, ADMIN_USER

    b = Browser(superset_server.url, ADMIN_USER, ADMIN_PASSWORD)
    yield b
    b.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS
