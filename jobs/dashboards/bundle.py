"""The Superset native export bundle under dashboards/, generated from jobs/dashboards/spec.py.

Reads schemas/tables (published contracts) and jobs/publish/views.py (serving views): their
columns and types come from an in-memory DuckDB holding the empty published tables and the views
over them, so every dataset lists exactly the columns the serving database has. Writes
``metadata.yaml``, ``databases/``, ``datasets/``, ``charts/`` and ``dashboards/`` (linked by
deterministic uuids), one file per asset; regenerate with ``python -m jobs.dashboards.bundle``.

The database's ``sqlalchemy_uri`` in the bundle is only a placeholder: ``jobs.dashboards.superset``
sets the real one from the environment on import.
"""

import argparse
import shutil
import sys
import uuid
from pathlib import Path

import duckdb
import yaml

from jobs.common.config import REPO_ROOT
from jobs.common.contracts import all_contracts
from jobs.dashboards.spec import DASHBOARDS, Chart, Dashboard
from jobs.publish.views import VIEWS

BUNDLE_DIR = REPO_ROOT / "dashboards"
DATABASE_NAME = "GeoPulse serving"
DATABASE_FILE = "GeoPulse_serving"
PLACEHOLDER_URI = "duckdb:///data/serving/geopulse.duckdb"
VERSION = "1.0.0"
_NS = uuid.UUID("5d1a3f0e-8c1b-4a8e-9d0e-6e0f3b2a7c41")
_ASSET_DIRS = ("databases", "datasets", "charts", "dashboards")


def asset_uuid(kind: str, key: str) -> str:
    """Stable uuid of an asset: the same chart keeps its uuid, so re-imports overwrite it."""
    return str(uuid.uuid5(_NS, f"geopulse/{kind}/{key}"))


def served_sources() -> dict[str, dict]:
    """Every published table and serving view: ``{name: {description, columns: [(name, type, doc)]}}``."""
    con = duckdb.connect()
    docs: dict[str, tuple[str, dict[str, str]]] = {}
    for c in all_contracts("table"):
        if c.published:
            con.execute(c.duckdb_ddl())
            docs[c.name] = (c.description, {col.name: col.description for col in c.columns})
    for v in VIEWS:
        if all(t in docs for t in v.tables):
            con.execute(f"CREATE VIEW {v.name} AS {v.sql}")
            docs[v.name] = (v.description, dict(v.columns))
    out = {}
    for name, (description, col_docs) in docs.items():
        rows = con.execute(f"DESCRIBE {name}").fetchall()
        out[name] = {"description": description,
                     "columns": [(r[0], r[1], col_docs.get(r[0], "")) for r in rows]}
    con.close()
    return out


def _database() -> dict:
    return {"database_name": DATABASE_NAME, "sqlalchemy_uri": PLACEHOLDER_URI, "cache_timeout": None,
            "expose_in_sqllab": True, "allow_run_async": False, "allow_ctas": False, "allow_cvas": False,
            "allow_dml": False, "allow_file_upload": False,
            "extra": {"allows_virtual_table_explore": True, "engine_params": {}, "metadata_params": {},
                      "schemas_allowed_for_file_upload": []},
            "uuid": asset_uuid("database", "serving"), "version": VERSION}


def _dataset(name: str, source: dict) -> dict:
    cols = source["columns"]
    dates = [c for c, t, _ in cols if t.upper().startswith(("DATE", "TIMESTAMP"))]
    main_dttm = "ds" if "ds" in dates else (dates[0] if dates else None)
    return {"table_name": name, "main_dttm_col": main_dttm, "description": source["description"],
            "default_endpoint": None, "offset": 0, "cache_timeout": None, "catalog": None, "schema": None,
            "sql": None, "params": None, "template_params": None, "filter_select_enabled": True,
            "fetch_values_predicate": None, "extra": None, "normalize_columns": False,
            "always_filter_main_dttm": False, "uuid": asset_uuid("dataset", name),
            "metrics": [{"metric_name": "count", "verbose_name": "rows", "metric_type": "count",
                         "expression": "COUNT(*)", "description": "Number of rows.", "d3format": None,
                         "currency": None, "extra": {}, "warning_text": None}],
            "columns": [{"column_name": c, "verbose_name": None, "is_dttm": c in dates, "is_active": True,
                         "type": t, "advanced_data_type": None, "groupby": True, "filterable": True,
                         "expression": None, "description": doc or None, "python_date_format": None,
                         "extra": {}} for c, t, doc in cols],
            "version": VERSION, "database_uuid": asset_uuid("database", "serving")}


def _chart(chart: Chart) -> dict:
    params = dict(chart.params) | {"datasource": f"{chart.dataset}__table"}
    return {"slice_name": chart.title, "description": chart.description or None, "certified_by": None,
            "certification_details": None, "viz_type": params["viz_type"], "params": params,
            "query_context": None, "cache_timeout": None, "uuid": asset_uuid("chart", chart.key),
            "version": VERSION, "dataset_uuid": asset_uuid("dataset", chart.dataset)}


def _position(dash: Dashboard, charts: list[list[Chart]]) -> dict:
    pos: dict = {"DASHBOARD_VERSION_KEY": "v2",
                 "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["GRID_ID"]},
                 "HEADER_ID": {"type": "HEADER", "id": "HEADER_ID", "meta": {"text": dash.title}},
                 "GRID_ID": {"type": "GRID", "id": "GRID_ID", "children": [], "parents": ["ROOT_ID"]}}
    md_row, md = "ROW-description", "MARKDOWN-description"
    pos["GRID_ID"]["children"].append(md_row)
    pos[md_row] = {"type": "ROW", "id": md_row, "children": [md], "parents": ["ROOT_ID", "GRID_ID"],
                   "meta": {"background": "BACKGROUND_TRANSPARENT"}}
    pos[md] = {"type": "MARKDOWN", "id": md, "children": [], "parents": ["ROOT_ID", "GRID_ID", md_row],
               "meta": {"code": dash.description, "width": 12, "height": 12}}
    number = 0                       # chartId: any id unique in the file; the importer maps it to the new one
    for i, row in enumerate(charts, 1):
        if not row:
            continue
        row_id = f"ROW-{i}"
        pos["GRID_ID"]["children"].append(row_id)
        pos[row_id] = {"type": "ROW", "id": row_id, "children": [], "parents": ["ROOT_ID", "GRID_ID"],
                       "meta": {"background": "BACKGROUND_TRANSPARENT"}}
        for c in row:
            cid = f"CHART-{c.key}"
            number += 1
            pos[row_id]["children"].append(cid)
            pos[cid] = {"type": "CHART", "id": cid, "children": [], "parents": ["ROOT_ID", "GRID_ID", row_id],
                        "meta": {"chartId": number, "uuid": asset_uuid("chart", c.key), "sliceName": c.title,
                                 "width": c.width, "height": c.height}}
    return pos


def _dashboard(dash: Dashboard, charts: list[list[Chart]]) -> dict:
    return {"dashboard_title": dash.title, "description": None, "css": "", "slug": dash.slug,
            "certified_by": None, "certification_details": None, "published": True,
            "uuid": asset_uuid("dashboard", dash.slug), "position": _position(dash, charts),
            "metadata": {"color_scheme": "supersetColors", "refresh_frequency": 0, "expanded_slices": {},
                         "label_colors": {}, "shared_label_colors": [], "color_scheme_domain": [],
                         "timed_refresh_immune_slices": [], "cross_filters_enabled": False,
                         "default_filters": "{}", "chart_configuration": {}, "global_chart_configuration": {},
                         "native_filter_configuration": [], "map_label_colors": {}},
            "version": VERSION}


def _dump(path: Path, doc: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=110), encoding="utf-8")


def build(out: Path = BUNDLE_DIR, dashboards: tuple[Dashboard, ...] = DASHBOARDS) -> list[str]:
    """Write the bundle into ``out`` (replacing its asset folders); returns the charts left out
    because their dataset is not served, as 'dashboard: chart (dataset)' lines."""
    sources = served_sources()
    left_out = [f"{d.slug}: {c.key} ({c.dataset})" for d in dashboards for c in d.charts if c.dataset not in sources]
    for sub in _ASSET_DIRS:
        shutil.rmtree(out / sub, ignore_errors=True)
    _dump(out / "metadata.yaml", {"version": VERSION, "type": "Dashboard", "timestamp": "2020-01-01T00:00:00+00:00"})
    _dump(out / "databases" / f"{DATABASE_FILE}.yaml", _database())
    used = sorted({c.dataset for d in dashboards for c in d.charts if c.dataset in sources})
    for name in used:
        _dump(out / "datasets" / DATABASE_FILE / f"{name}.yaml", _dataset(name, sources[name]))
    for d in dashboards:
        rows = [[c for c in row if c.dataset in sources] for row in d.rows]
        for c in (c for row in rows for c in row):
            _dump(out / "charts" / f"{c.key}.yaml", _chart(c))
        _dump(out / "dashboards" / f"{d.slug}.yaml", _dashboard(d, rows))
    return left_out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m jobs.dashboards.bundle", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=BUNDLE_DIR, help="bundle folder (default: dashboards/)")
    a = p.parse_args(argv)
    left_out = build(a.out)
    print(f"bundle written to {a.out}")
    for line in left_out:
        print(f"  left out (dataset not served): {line}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
