"""Loading the serving database, DuckDB and PostgreSQL: idempotent, per-day replace in one
transaction, contract comments, views with their documented columns, missing marts reported."""

import shutil

import duckdb
import psycopg2
import pytest

from jobs.common.contracts import load_contract
from jobs.publish import serving
from jobs.publish.run import run as publish
from jobs.publish.views import VIEWS

QUIET = dict(log=lambda _: None)


def lake_rows(paths, table: str) -> list[tuple]:
    sql = serving.lake_select(paths, load_contract(table))
    return sorted(duckdb.connect().execute(sql).fetchall(), key=repr)


def served(paths, table: str, url: str | None = None) -> list[tuple]:
    cols = ", ".join(f'"{c}"' for c in load_contract(table).column_names)
    if url is None:
        with duckdb.connect(str(paths.serving_db), read_only=True) as con:
            return sorted(con.execute(f"SELECT {cols} FROM {table}").fetchall(), key=repr)
    with psycopg2.connect(url) as con, con.cursor() as cur:
        cur.execute(f"SELECT {cols} FROM {table}")
        rows = cur.fetchall()
    con.close()
    return sorted(rows, key=repr)


def _norm(rows):
    """PostgreSQL gives timestamps with a zone and floats as Python floats: compare as text."""
    return [tuple(None if v is None else str(v) for v in r) for r in rows]


@pytest.mark.parametrize("backend", ["duckdb", "postgres"])
def test_load_is_idempotent_and_replaces_one_day(backend, mini_lake, mini, write_lake, city_cfg, request):
    url = request.getfixturevalue("pg_url") if backend == "postgres" else None
    days = mini.days
    first = publish(None, city_cfg, mini_lake, days[-1], url, **QUIET)
    assert first["days"]["mart_indicator_daily"] == days            # the first publish loads the history
    assert first["days"]["geo_h3_cells"] == []                       # no day column: replaced whole
    assert "mart_forecast" in first["missing"] and "mart_forecast" not in first["rows"]
    tables = ("mart_indicator_daily", "mart_mobility_index", "mart_alerts", "dq_results", "geo_h3_cells")
    once = {t: served(mini_lake, t, url) for t in tables}
    for t in tables:
        assert _norm(once[t]) == _norm(lake_rows(mini_lake, t)), t

    second = publish(None, city_cfg, mini_lake, days[-1], url, **QUIET)
    assert second["days"]["mart_indicator_daily"] == days[-1:]
    assert {t: served(mini_lake, t, url) for t in tables} == once   # twice = same rows

    # the lake's middle day changes (a late correction): publishing that day replaces it only
    write_lake(mini_lake, "mart_indicator_daily", mini.indicators(days[1:2], mini.geo_cells(), scale=2.0))
    publish(None, city_cfg, mini_lake, days[1], url, **QUIET)
    after = served(mini_lake, "mart_indicator_daily", url)
    assert _norm(after) == _norm(lake_rows(mini_lake, "mart_indicator_daily"))
    changed = {r[0] for r in set(after) ^ set(once["mart_indicator_daily"])}
    assert changed == {days[1]}


def test_views_and_comments_in_duckdb(mini_lake, mini, city_cfg):
    publish(None, city_cfg, mini_lake, mini.days[-1], **QUIET)
    with duckdb.connect(str(mini_lake.serving_db), read_only=True) as con:
        for v in VIEWS:
            cols = [r[0] for r in con.execute(f"DESCRIBE {v.name}").fetchall()]
            assert cols == v.column_names, v.name
        c = load_contract("mart_alerts")
        table_comment = con.execute("SELECT comment FROM duckdb_tables() WHERE table_name = 'mart_alerts'").fetchone()
        assert table_comment[0] == c.description
        col = con.execute("SELECT comment FROM duckdb_columns() WHERE table_name = 'mart_alerts' "
                          "AND column_name = 'alert_level'").fetchone()[0]
        assert col == c.column("alert_level").comment()
        # a view shaped for the dashboards: the one warning district, 3 days of warnings this week
        assert con.execute("SELECT geo_id, alert_days, warning_days FROM v_alerts_current").fetchall() == \
            [("Auezov", 3, 3)]
        ring = con.execute("SELECT boundary_geojson FROM v_people_h3_day LIMIT 1").fetchone()[0]
        assert ring.startswith('{"type": "Polygon"')


def test_failed_load_rolls_back_everything(mini_lake, mini, city_cfg):
    publish(None, city_cfg, mini_lake, mini.days[-1], **QUIET)
    before = {t: served(mini_lake, t) for t in ("mart_indicator_daily", "mart_alerts")}
    part = mini_lake.lake / "mart_alerts" / f"ds={mini.days[-1]}" / "part-0.parquet"
    part.write_bytes(b"not parquet")                       # a broken file in the last table loaded
    with pytest.raises(duckdb.Error):
        publish(None, city_cfg, mini_lake, mini.days[-1], **QUIET)
    assert {t: served(mini_lake, t) for t in before} == before


def test_postgres_comments_and_views(mini_lake, mini, city_cfg, pg_url):
    publish(None, city_cfg, mini_lake, mini.days[-1], pg_url, **QUIET)
    with psycopg2.connect(pg_url) as con, con.cursor() as cur:
        cur.execute("SELECT obj_description('public.mart_indicator_daily'::regclass, 'pg_class'), "
                    "col_description('public.mart_indicator_daily'::regclass, 4)")
        table_comment, col_comment = cur.fetchone()
        c = load_contract("mart_indicator_daily")
        assert table_comment == c.description and col_comment == c.column("indicator").comment()
        for v in VIEWS:
            cur.execute("SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                        "ORDER BY ordinal_position", (v.name,))
            assert [r[0] for r in cur.fetchall()] == v.column_names, v.name
        cur.execute("SELECT count(*) FROM v_forecast_latest")           # exists (empty) before its mart
        assert cur.fetchone()[0] == 0
    con.close()


def test_real_lake_passes_the_audit_and_loads(aggregated_city, tmp_path, city_cfg):
    """The small city's real lake (geo, dq, the aggregate stage's marts), copied: audit passes and
    the served rows are the lake's rows."""
    from dataclasses import replace

    paths = replace(aggregated_city.paths, lake=tmp_path / "lake", serving_db=tmp_path / "serving.duckdb")
    copied = []
    for c in serving.published_contracts():
        src = aggregated_city.paths.lake / c.name
        if src.exists():
            shutil.copytree(src, paths.lake / c.name)
            copied.append(c.name)
    assert {"geo_h3_cells", "dq_results", "mart_mobility_index", "mart_commute_flows"} <= set(copied)
    report = publish(None, city_cfg, paths, aggregated_city.days[-1], **QUIET)
    assert report["audited_rows"]["mart_mobility_index"] > 0
    for t in copied:
        assert report["rows"][t] == len(lake_rows(paths, t)) > 0, t
    with duckdb.connect(str(paths.serving_db), read_only=True) as con:
        suppressed = con.execute("SELECT count(*) FILTER (WHERE suppressed), count(*) FROM mart_mobility_index").fetchone()
        assert suppressed[1] > 0
        assert con.execute("SELECT count(*) FROM v_h3_cells").fetchone()[0] == len(lake_rows(paths, "geo_h3_cells"))
        months, arcs, cross = con.execute(
            "SELECT (SELECT count(DISTINCT month) FROM v_commute_flows), (SELECT count(*) FROM v_commute_flows), "
            "count(*) FROM mart_commute_flows WHERE cross_district AND month = (SELECT max(month) FROM v_commute_flows)"
        ).fetchone()
        assert months == 1 and arcs == cross > 0


def test_a_monthly_mart_is_replaced_by_a_publish_of_any_day_of_its_month(mini_lake, mini, write_lake, city_cfg):
    from datetime import date

    import pandas as pd

    def flows(n: int, month: date = date(2020, 3, 1)) -> pd.DataFrame:
        rows = [("Almaly", "Almaly", n), ("Auezov", "Almaly", n + 10), ("Auezov", "Auezov", n + 20),
                ("Alatau", "Alatau", n + 30)]
        return pd.DataFrame([dict(month=month, home_district=h, work_district=w,
                                  home_zone_type=mini.districts[h], work_zone_type=mini.districts[w],
                                  cross_district=h != w, commuters=c, commuters_est=40.0 * c, suppressed=False)
                             for h, w, c in rows])

    write_lake(mini_lake, "mart_commute_flows", flows(30))
    c = load_contract("mart_commute_flows")
    assert serving.plan_days(mini_lake, c, set(), [date(2020, 3, 18)]) == [date(2020, 3, 1)]
    assert serving.plan_days(mini_lake, c, {date(2020, 3, 1)}, [date(2020, 4, 2)]) == []
    publish(None, city_cfg, mini_lake, mini.days[-1], **QUIET)
    write_lake(mini_lake, "mart_commute_flows", flows(40))            # the month so far, one day later
    report = publish(None, city_cfg, mini_lake, mini.days[-1], **QUIET)
    assert report["days"]["mart_commute_flows"] == [date(2020, 3, 1)]
    assert served(mini_lake, "mart_commute_flows") == lake_rows(mini_lake, "mart_commute_flows")
    with duckdb.connect(str(mini_lake.serving_db), read_only=True) as con:
        arcs = con.execute("SELECT origin_district, destination_district, commuters_est, "
                           "origin_lat < destination_lat FROM v_commute_flows").fetchall()
    assert arcs == [("Auezov", "Almaly", 2000.0, True)]                # cross-district flows only

    def arcs_month(april_commuters: int) -> date:
        write_lake(mini_lake, "mart_commute_flows", pd.concat([flows(100), flows(april_commuters, date(2020, 4, 1))]))
        for day in (mini.days[-1], date(2020, 4, 2)):                   # a day of each month: both again
            publish(None, city_cfg, mini_lake, day, **QUIET)
        with duckdb.connect(str(mini_lake.serving_db), read_only=True) as con:
            return con.execute("SELECT DISTINCT month FROM v_commute_flows").fetchall()

    # March: 4 flows of 100..130 commuters (460); a partial April shows March's arcs until it
    # holds half of that
    assert arcs_month(15) == [(date(2020, 3, 1),)]                      # 15..45: 120 < 230
    assert arcs_month(60) == [(date(2020, 4, 1),)]                      # 60..90: 300 >= 230


def test_duckdb_publish_while_a_reader_holds_the_file(mini_lake, mini, city_cfg):
    """Superset keeps the file open read-only; publishing still works and the reader's next
    connection sees the new state."""
    publish(None, city_cfg, mini_lake, mini.days[0], **QUIET)
    reader = duckdb.connect(str(mini_lake.serving_db), read_only=True)
    try:
        assert reader.execute("SELECT max(ds) FROM mart_alerts").fetchone()[0] == mini.days[0]
        publish(None, city_cfg, mini_lake, mini.days[-1], **QUIET)
        assert reader.execute("SELECT max(ds) FROM mart_alerts").fetchone()[0] == mini.days[0]   # old snapshot
    finally:
        reader.close()
    assert served(mini_lake, "mart_alerts") == lake_rows(mini_lake, "mart_alerts")
    assert [p.name for p in mini_lake.serving_db.parent.iterdir()] == [mini_lake.serving_db.name]


def test_serving_views_document_is_fresh():
    from jobs.common.config import REPO_ROOT
    from jobs.publish.views import markdown

    committed = (REPO_ROOT / "dashboards" / "SERVING_VIEWS.md").read_text(encoding="utf-8")
    assert committed == markdown(), "dashboards/SERVING_VIEWS.md is stale: run `python -m jobs.publish.views`"
