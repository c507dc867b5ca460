"""The DAG files parse, every DAG carries its metadata, and each task graph is the expected one.
No database and no Spark: this is what the DAG processor sees."""

from datetime import timedelta

import pytest

INGEST_EDGES = {"wait_for_delivery": {"stage"}, "stage": {"dq_gate"}, "dq_gate": set()}
EXPECTED = {
    "aggregate_daily": {"resolve_days": {"geo"}, "geo": {"aggregate"}, "aggregate": {"announce"}, "announce": set()},
    "analytics_daily": {"resolve_days": {"analytics"}, "analytics": {"announce"}, "announce": set()},
    "publish": {"resolve_days": {"publish"}, "publish": set()},
    "residents_monthly": {"wait_for_month": {"aggregate_month"}, "aggregate_month": set()},
}


def _feeds():
    from jobs.ingest.run import ADAPTERS

    return list(ADAPTERS)


def test_dagbag_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    expected = {f"ingest_{f}" for f in _feeds()} | set(EXPECTED)
    assert set(dagbag.dags) == expected


def test_every_dag_has_owner_tags_retries_doc_and_timeouts(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.doc_md and dag_id in dag.doc_md, dag_id
        assert "geopulse" in dag.tags, dag_id
        assert dag.owner == "geopulse-data-eng", dag_id
        assert dag.default_args["retries"] >= 1 and dag.default_args["retry_exponential_backoff"], dag_id
        assert dag.default_args["on_failure_callback"].__name__ == "on_failure", dag_id
        for t in dag.tasks:
            if t.task_id.startswith("wait_for_"):      # a sensor's limit is its own timeout
                assert t.timeout <= timedelta(hours=24).total_seconds() and t.mode == "reschedule", (dag_id, t.task_id)
            else:
                assert t.execution_timeout and t.execution_timeout <= timedelta(hours=4), (dag_id, t.task_id)


def _edges(dag) -> dict[str, set[str]]:
    return {t.task_id: set(t.downstream_task_ids) for t in dag.tasks}


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_task_graph_of_downstream_dags(dagbag, dag_id):
    assert _edges(dagbag.dags[dag_id]) == EXPECTED[dag_id]


def test_ingest_dags_one_per_feed_with_sensor_stage_gate_and_asset(dagbag):
    from airflow.sdk import CronDataIntervalTimetable

    for feed in _feeds():
        dag = dagbag.dags[f"ingest_{feed}"]
        assert _edges(dag) == INGEST_EDGES, feed
        assert dag.catchup and isinstance(dag.timetable, CronDataIntervalTimetable)
        assert dag.timetable.expression == "0 0 * * *"
        assert str(dag.timezone.name) == "Asia/Almaty"
        sensor = dag.get_task("wait_for_delivery")
        assert sensor.mode == "reschedule" and sensor.timeout > 0
        assert [a.name for a in dag.get_task("dq_gate").outlets] == [f"staged_{feed}"]
        assert dag.get_task("stage").op_args == ["ingest", ["--ds", "{{ local_ds(logical_date) }}", "--feed", feed]]


def _names(condition) -> list[str]:
    """Asset names of a schedule condition (an asset, or AssetAll/AssetAny of them)."""
    objects = getattr(condition, "objects", None)
    return sorted(n for o in objects for n in _names(o)) if objects is not None else [condition.name]


def test_downstream_dags_are_chained_by_assets(dagbag):
    from jobs.common.config import load_city

    on = load_city()["orchestration"]["aggregate_on"]
    agg = dagbag.dags["aggregate_daily"]
    assert type(agg.timetable.asset_condition).__name__ == "AssetAll"
    assert _names(agg.timetable.asset_condition) == sorted(f"staged_{f}" for f in on)
    assert [a.name for a in agg.get_task("announce").outlets] == ["aggregates_daily"]
    analytics = dagbag.dags["analytics_daily"]
    assert _names(analytics.timetable.asset_condition) == ["aggregates_daily"]
    assert [a.name for a in analytics.get_task("announce").outlets] == ["marts_daily"]
    assert _names(dagbag.dags["publish"].timetable.asset_condition) == ["marts_daily"]
    monthly = dagbag.dags["residents_monthly"]
    assert monthly.catchup and monthly.timetable.expression == "0 3 1 * *"


def test_spark_connection_switches_every_job_to_spark_submit(monkeypatch):
    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
    from airflow.providers.standard.operators.python import PythonOperator

    from geopulse_dags.ingest_factory import ingest_dag
    from geopulse_dags.settings import settings
    from geopulse_dags.spark_task import SUBMIT

    local = ingest_dag("operator_kcell", settings())
    assert isinstance(local.get_task("stage"), PythonOperator)
    monkeypatch.setenv("GEOPULSE_SPARK_CONN_ID", "spark_cluster")
    dag = ingest_dag("operator_kcell", settings())
    stage = dag.get_task("stage")
    assert isinstance(stage, SparkSubmitOperator)
    assert stage._conn_id == "spark_cluster" and stage.application == str(SUBMIT) and SUBMIT.is_file()
    assert stage.application_args == ["ingest", "--ds", "{{ local_ds(logical_date) }}", "--feed", "operator_kcell"]


LAKE_TASKS = {("aggregate_daily", "geo"), ("aggregate_daily", "aggregate"), ("analytics_daily", "analytics"),
              ("publish", "publish"), ("residents_monthly", "aggregate_month")}


def test_lake_wide_tasks_share_one_pool_and_days_finish_first(dagbag):
    """Every task that rewrites or reads the lake as a whole runs in the city's lake pool (one slot
    in `make airflow`), no other task does; priorities grow along a run (upstream weight)."""
    from jobs.common.config import load_city

    pool = load_city()["orchestration"]["lake_pool"]
    assert pool != "default_pool"
    pooled = {(d.dag_id, t.task_id) for d in dagbag.dags.values() for t in d.tasks if t.pool == pool}
    assert pooled == LAKE_TASKS
    for dag in dagbag.dags.values():
        assert {t.weight_rule for t in dag.tasks} == {"upstream"}, dag.dag_id


def _scheduler_view(dag):
    """The DAG as the scheduler holds it (serialized, with the core timetable)."""
    from airflow.serialization.serialized_objects import DagSerialization

    return DagSerialization.from_dict(DagSerialization.to_dict(dag))


def _scheduled_days(dag, timezone: str) -> list[str]:
    """The local days of every run the scheduler would create in a catch-up of ``dag``."""
    from airflow.timetables.base import TimeRestriction

    from geopulse_dags.days import local_day

    dag = _scheduler_view(dag)
    restriction, last, days = TimeRestriction(earliest=dag.start_date, latest=dag.end_date, catchup=True), None, []
    while (info := dag.timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)):
        days.append(local_day(info.logical_date, timezone))
        last = info.data_interval
        assert len(days) < 400, "the catch-up does not end"
    return days


def test_catch_up_window_ends_on_its_last_day(monkeypatch):
    """GEOPULSE_DAGS_END names the last day run (a run for the day after would wait for a delivery
    that is not due yet)."""
    from geopulse_dags.ingest_factory import ingest_dag
    from geopulse_dags.settings import settings

    monkeypatch.setenv("GEOPULSE_DAGS_START", "2020-01-01")
    monkeypatch.setenv("GEOPULSE_DAGS_END", "2020-01-09")
    s = settings()
    days = _scheduled_days(ingest_dag("ambulance", s), s.timezone)
    assert days == [f"2020-01-0{n}" for n in range(1, 10)]
    monkeypatch.setenv("GEOPULSE_DAGS_START_AMBULANCE", "2020-01-05")
    assert _scheduled_days(ingest_dag("ambulance", settings()), s.timezone)[0] == "2020-01-05"
    monkeypatch.setenv("GEOPULSE_DAGS_END", "2020-02-01")         # a month is run once its last day is in
    import importlib

    import residents_monthly

    monthly = importlib.reload(residents_monthly).dag
    assert [d[:7] for d in _scheduled_days(monthly, s.timezone)] == ["2020-01"]
