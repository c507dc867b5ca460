"""The DAGs run for real (``dag.test()``, what ``airflow dags test`` runs) on the tiny city:
every DAG green, a 7-day backfill equal to the batch path, idempotent reruns, a corrupted
operator file failing only its feed, and a late morbidity correction recomputed downstream.

The module shares one lake: D0 through every DAG (``day_zero``), D1..D6 on top of it
(``backfill``), compared with the batch path before anything touches D7 and D8, the days of the
recovery tests (they need only ``day_zero``: ``-k "not backfill"`` runs the quick half).
"""

import hashlib
import json
import shutil
from datetime import date
from pathlib import Path

import pendulum
import pytest

from jobs.common.contracts import load_contract

pytestmark = [pytest.mark.usefixtures("airflow_db"), pytest.mark.heavy]

# Tables compared between the DAG path and the batch path, and across reruns.
AGGREGATES = ["agg_ambulance__district_day", "agg_ambulance__h3_day", "agg_pharmacy__district_day",
              "agg_pharmacy__h3_day", "agg_morbidity__district_day", "agg_presence__h3_hour",
              "agg_visitors__h3_hour", "agg_mobility__district_day", "agg_od__district_day",
              "agg_residents__h3_month", "agg_commute__district_month", "mart_commute_flows", "mart_mobility_index",
              "mart_zone_profile"]
ANALYTICS = ["mart_indicator_daily", "mart_lagcorr", "mart_leadlag", "mart_forecast", "mart_forecast_skill",
             "mart_restriction_impact", "mart_alerts"]
STAGED = ["stg_operator__events", "stg_ambulance__calls", "stg_pharmacy__receipts", "stg_morbidity__daily",
          "quarantine", "dq_results"]


def feeds() -> list[str]:
    from jobs.ingest.run import ADAPTERS

    return list(ADAPTERS)


def run_dag(dagbag, dag_id: str, day: date | None = None, conf: dict | None = None):
    """One DAG run through ``dag.test`` (logical date = the day, midnight UTC); its DagRun."""
    logical = None if day is None else pendulum.datetime(day.year, day.month, day.day, tz="UTC")
    return dagbag.dags[dag_id].test(logical_date=logical, run_conf=conf)


def task_states(dag_run) -> dict[str, str]:
    from airflow.utils.session import create_session

    with create_session() as session:
        return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances(session=session)}


def staged_events(feed: str) -> list[dict]:
    """Extras of the asset events ingest_<feed> emitted, oldest first."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = (session.query(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
                .filter(AssetModel.name == f"staged_{feed}").order_by(AssetEvent.id).all())
        return [dict(e.extra or {}) for e in rows]


def table_path(lake: Path, table: str) -> Path | None:
    for p in (lake / table, lake / "private" / table):
        if p.is_dir() and any(p.glob("**/*.parquet")):
            return p
    return None


def table_rows(lake: Path, table: str, where: str = "") -> list[tuple]:
    """Every row of a lake table, sorted, as comparable tuples (DuckDB; floats rounded)."""
    import duckdb

    path = table_path(lake, table)
    if path is None:
        return []
    with duckdb.connect() as con:
        rel = con.sql(f"SELECT * FROM read_parquet('{path}/**/*.parquet', hive_partitioning = true) {where}")
        types = dict(zip(rel.columns, map(str, rel.types)))
        # columns by name (partition columns come last in one layout, in place in another)
        cols = [f'round("{c}", 6)' if types[c] in ("DOUBLE", "FLOAT") else f'CAST("{c}" AS VARCHAR)'
                for c in sorted(types)]
        return sorted(con.execute(f"SELECT {', '.join(cols)} FROM rel").fetchall(), key=repr)


def digest(lake: Path, tables: list[str], where: str = "") -> dict[str, str]:
    return {t: hashlib.sha256(repr(table_rows(lake, t, where)).encode()).hexdigest()[:16] for t in tables}


def _delivered(dag_city) -> set[tuple[str, date]]:
    return {(p.parent.name, date.fromisoformat(p.name[3:])) for p in dag_city.paths.landing.glob("*/dt=*")}


@pytest.fixture(scope="module")
def day_zero(spark, dagbag, dag_city):
    """Every DAG for D0 (the first delivery day: every feed, the references included), then
    aggregate_daily, analytics_daily and publish by their logical date, residents_monthly for March."""
    d0 = dag_city.days[0]
    runs = {(f"ingest_{feed}", d0): run_dag(dagbag, f"ingest_{feed}", d0) for feed in feeds()}
    for dag_id in ("aggregate_daily", "analytics_daily", "publish"):
        runs[(dag_id, d0)] = run_dag(dagbag, dag_id, d0)
    runs[("residents_monthly", date(2020, 3, 1))] = run_dag(dagbag, "residents_monthly", date(2020, 3, 1))
    return runs


@pytest.fixture(scope="module")
def references(spark, dagbag, dag_city):
    """The reference feeds of D0 staged through their DAGs (what the recovery tests need of the
    rest of the city: districts and cells for the geography)."""
    d0 = dag_city.days[0]
    runs = {feed: run_dag(dagbag, f"ingest_{feed}", d0)
            for feed in ("districts", "restrictions", "cell_reference", "pharmacy_reference")}
    assert {f: str(r.state) for f, r in runs.items()} == dict.fromkeys(runs, "success")
    return runs


@pytest.fixture(scope="module")
def backfill(day_zero, dagbag, dag_city):
    """D1..D6 through the ingest DAGs (what catch-up or ``airflow backfill create`` runs: the
    on-change feeds skip where nothing was delivered, one such run is kept), then
    aggregate_daily, analytics_daily and publish over the days the staged assets announced."""
    days, delivered = dag_city.days[:7], _delivered(dag_city)
    runs = dict(day_zero)
    for day in days[1:]:
        for feed in feeds():
            if (feed, day) in delivered or (feed, day) == ("districts", days[1]):
                runs[(f"ingest_{feed}", day)] = run_dag(dagbag, f"ingest_{feed}", day)
    announced = sorted({d for f in feeds() for e in staged_events(f) for d in e["days"]})
    conf = {"days": announced}
    for dag_id in ("aggregate_daily", "analytics_daily", "publish"):
        runs[(dag_id, None)] = run_dag(dagbag, dag_id, conf=conf)
    return runs, announced


def test_every_dag_runs_green_for_one_day(day_zero, dagbag, dag_city):
    d0 = dag_city.days[0]
    assert {dag_id for dag_id, _ in day_zero} == set(dagbag.dags)
    failed = {k: task_states(r) for k, r in day_zero.items() if str(r.state) != "success"}
    assert failed == {}
    for feed in feeds():
        assert staged_events(feed)[0]["days"] == [d0.isoformat()], feed
    lake = dag_city.paths.lake
    assert table_rows(lake, "agg_presence__h3_hour", f"WHERE ds = DATE '{d0}'")
    assert table_rows(lake, "agg_residents__h3_month")
    assert table_rows(lake, "mart_indicator_daily", f"WHERE ds = DATE '{d0}'")
    assert dag_city.paths.serving_db.exists()


def test_backfill_runs_green_and_announces_each_day(backfill, dag_city):
    runs, announced = backfill
    failed = {k: task_states(r) for k, r in runs.items() if str(r.state) != "success"}
    assert failed == {}
    later = task_states(runs[("ingest_districts", dag_city.days[1])])     # nothing delivered: skipped
    assert later == {"wait_for_delivery": "skipped", "stage": "skipped", "dq_gate": "skipped"}
    assert [e["days"] for e in staged_events("ambulance")] == [[d.isoformat()] for d in dag_city.days[:7]]
    assert announced == [d.isoformat() for d in dag_city.days[:7]]


def test_backfill_dq_gate_reads_dq_results_and_fails_readably(backfill, city_cfg, dag_city):
    """The gate on the recorded dq_results of the backfill: passes as configured, and a stricter
    threshold fails naming the feed, the day, the rule and the values."""
    from jobs.ingest.gate import DQGateError, check

    days = dag_city.days[:7]
    results = check(dag_city.paths, city_cfg, "operator_kcell", days)
    volume = [r for r in results if r.rule == "rows_vs_trailing_median"]
    assert [r.status for r in volume] == ["pass"] * 7
    assert volume[-1].value is not None and 0.5 <= volume[-1].value <= 3.0    # 6 earlier days >= 5
    strict = {**city_cfg, "orchestration": {**city_cfg["orchestration"],
                                            "dq_gate": {**city_cfg["orchestration"]["dq_gate"], "min_ratio": 1.5}}}
    with pytest.raises(DQGateError) as err:
        check(dag_city.paths, strict, "operator_kcell", days[-1:])
    assert f"operator_kcell {days[-1]} [rows_vs_trailing_median] FAIL: received" in str(err.value)


def test_backfill_via_dags_equals_batch_path(backfill, spark, city_cfg, dag_city, tmp_path):
    """The batch path (``jobs.pipeline.run_pipeline``, what ``geopulse pipeline`` runs) over a
    landing holding the same 7 delivery days gives the same aggregates and marts."""
    from dataclasses import replace

    from jobs.pipeline import run_pipeline

    landing = tmp_path / "landing"
    for folder in dag_city.paths.landing.glob("*/dt=*"):
        if date.fromisoformat(folder.name[3:]) <= dag_city.days[6]:
            shutil.copytree(folder, landing / folder.relative_to(dag_city.paths.landing))
    paths = replace(dag_city.paths, landing=landing, lake=tmp_path / "lake", serving_db=tmp_path / "s.duckdb")
    run_pipeline(spark, city_cfg, paths, stages=("ingest", "geo", "aggregate", "analytics"), log=lambda _: None)
    days = ", ".join(f"DATE '{d}'" for d in dag_city.days[:7])
    for table in AGGREGATES + ANALYTICS + STAGED[:4]:
        if set(load_contract(table).partition_by) <= {"month"}:       # monthly tables, the zone profile
            where = ""
        elif table in ANALYTICS[1:]:                # marts as of a day: the last day of the range
            where = f"WHERE ds = DATE '{dag_city.days[6]}'"
        else:
            where = f"WHERE ds IN ({days})"
        dag_rows, batch_rows = table_rows(dag_city.paths.lake, table, where), table_rows(paths.lake, table, where)
        assert dag_rows == batch_rows, f"{table}: {len(dag_rows)} rows via the DAGs, {len(batch_rows)} via the batch path"


def test_same_day_twice_gives_identical_outputs(day_zero, dagbag, dag_city):
    lake, d0 = dag_city.paths.lake, dag_city.days[0]
    before = digest(lake, STAGED)
    for feed in ("operator_kcell", "ambulance", "morbidity"):
        assert str(run_dag(dagbag, f"ingest_{feed}", d0).state) == "success"
    assert digest(lake, STAGED) == before                       # re-staging a day changes nothing
    assert str(run_dag(dagbag, "aggregate_daily", d0).state) == "success"
    first = digest(lake, AGGREGATES)
    assert str(run_dag(dagbag, "aggregate_daily", d0).state) == "success"
    assert digest(lake, AGGREGATES) == first


def test_corrupted_operator_file_fails_its_feed_only(references, dagbag, dag_city, settle):
    """A truncated Kcell file fails ingest_operator_kcell loudly (no retry, file quarantined whole,
    nothing announced), while the other feeds of the same day stage and announce."""
    d7 = dag_city.days[7]
    folder = dag_city.paths.landing / "operator_kcell" / f"dt={d7}"
    bad = next(folder.glob("*.csv.gz"))
    bad.write_bytes(bad.read_bytes()[:200])                     # truncated in transit
    settle(folder)
    kcell = run_dag(dagbag, "ingest_operator_kcell", d7)
    assert str(kcell.state) == "failed"
    assert task_states(kcell) == {"wait_for_delivery": "success", "stage": "failed", "dq_gate": "upstream_failed"}
    from airflow.utils.session import create_session

    with create_session() as session:
        stage = next(ti for ti in kcell.get_task_instances(session=session) if ti.task_id == "stage")
        assert stage.try_number == 1                             # a data verdict: no retries
    assert all(d7.isoformat() not in e["days"] for e in staged_events("operator_kcell"))   # nothing announced
    rel = f"operator_kcell/dt={d7}/{bad.name}"
    rows = table_rows(dag_city.paths.lake, "quarantine", f"WHERE source_file = '{rel}'")
    assert len(rows) == 1, rows
    assert table_rows(dag_city.paths.lake, "stg_operator__events",
                      f"WHERE ds = DATE '{d7}' AND source_file LIKE 'operator_kcell/%'") == []
    for feed in ("operator_beeline", "ambulance"):
        other = run_dag(dagbag, f"ingest_{feed}", d7)
        assert str(other.state) == "success", feed
        assert staged_events(feed)[-1]["days"] == [d7.isoformat()]


def test_late_morbidity_correction_recomputes_that_day(references, dagbag, dag_city, settle):
    """A corrected morbidity file for D7 delivered on D8: ingest records the recompute request and
    announces D7 again; aggregate_daily and analytics_daily for D8 recompute D7 too, with the
    corrected count (the first version of D7 was staged by D7's own run)."""
    d7, d8 = dag_city.days[7], dag_city.days[8]
    lake = dag_city.paths.lake
    assert str(run_dag(dagbag, "ingest_morbidity", d7).state) == "success"
    where = f"WHERE ds = DATE '{d7}' AND district = 'Alatau'"
    staged = table_rows(lake, "stg_morbidity__daily", where)
    assert len(staged) == 1
    before = dict(zip(sorted(_columns(lake, "stg_morbidity__daily")), staged[0]))
    source = dag_city.paths.landing / "morbidity" / f"dt={d7}" / f"morbidity_{d7}.csv"
    lines = source.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    fixed = [lines[0]]
    for line in lines[1:]:
        row = dict(zip(header, line.split(",")))
        if row["district"] == "Alatau":
            row["new_cases"] = str(int(row["new_cases"]) + 37)
        row["revision"] = "2"
        fixed.append(",".join(row[h] for h in header))
    target = dag_city.paths.landing / "morbidity" / f"dt={d8}"
    (target / f"morbidity_{d7}_rev2.csv").write_text("\n".join(fixed) + "\n", encoding="utf-8")
    settle(target)
    assert str(run_dag(dagbag, "ingest_morbidity", d8).state) == "success"
    assert staged_events("morbidity")[-1]["days"] == [d7.isoformat(), d8.isoformat()]
    recompute = table_rows(lake, "ops_recompute_requests", "WHERE feed = 'morbidity'")
    assert any(str(d7) in r and "corrected_redelivery" in r for r in recompute), recompute
    agg = run_dag(dagbag, "aggregate_daily", d8)
    assert str(agg.state) == "success"
    corrected = table_rows(lake, "agg_morbidity__district_day", where)   # D7 recomputed by the D8 run
    assert len(corrected) == 1
    after = dict(zip(sorted(_columns(lake, "agg_morbidity__district_day")), corrected[0]))
    assert int(after["new_cases"]) == int(before["new_cases"]) + 37 and after["revision"] == "2"
    assert str(run_dag(dagbag, "analytics_daily", d8).state) == "success"
    assert _indicator(lake, d7, "Alatau", "morbidity_new_cases") == float(after["new_cases"])


def _indicator(lake: Path, day: date, district: str, indicator: str) -> float | None:
    rows = table_rows(lake, "mart_indicator_daily", f"WHERE ds = DATE '{day}' AND geo_level = 'district' "
                                                    f"AND geo_id = '{district}' AND indicator = '{indicator}'")
    names = sorted(_columns(lake, "mart_indicator_daily"))
    return None if len(rows) != 1 else float(dict(zip(names, rows[0]))["value"])


def _columns(lake: Path, table: str) -> list[str]:
    import duckdb

    path = table_path(lake, table)
    with duckdb.connect() as con:
        return con.sql(f"SELECT * FROM read_parquet('{path}/**/*.parquet', hive_partitioning = true)").columns
