"""The factory of the per-feed ingest DAGs: ``ingest_<feed>`` for every feed of
``jobs.ingest.run.ADAPTERS`` (the operators included), configured by ``orchestration.feeds``.

Each DAG, for the city-local day D of its run:

    wait_for_delivery  >>  stage  >>  dq_gate  (outlet: the feed's staged asset)

- ``wait_for_delivery`` (sensor, reschedule mode): the landing folder ``<feed>/dt=D`` holds files
  and none changed for ``sensor.settle_seconds``. A daily feed that never arrives fails at
  ``sensor.timeout_hours``; an on-change feed (reference data) with nothing delivered skips the run.
- ``stage``: ``jobs.ingest.run.main(["--ds", D, "--feed", feed])`` (raw copy, staged tables,
  quarantine, ``dq_results``, recompute requests); a file rejected whole fails it loudly.
- ``dq_gate``: the thresholds of ``orchestration.dq_gate`` on ``dq_results`` of the days the
  delivery covered (``jobs.ingest.gate``); on success it emits the staged asset with those days
  (plus any day a late or corrected file rebuilt) in the event's extra.
"""

import time
from datetime import timedelta

from airflow.sdk import DAG, task

from geopulse_dags.assets import staged
from geopulse_dags.days import local_ds
from geopulse_dags.settings import DagSettings
from geopulse_dags.spark_task import spark_task

DOC = """### ingest_{feed}
Stages the **{feed}** delivery of one city-local day ({cadence} feed) from
`landing/{feed}/dt=<day>/`.

1. `wait_for_delivery` waits (reschedule mode, every {poke} min, up to {timeout} h) until the day's
   files are present and unchanged for {settle} s. {missing}
2. `stage` runs `jobs.ingest.run --ds <day> --feed {feed}`: raw copy, staged table(s), quarantine,
   `dq_results`, `ops_recompute_requests`. A file that breaks its contract is quarantined whole
   and fails this task (no retry) naming the file and the rule; see the runbook in README.md.
3. `dq_gate` applies the data-quality thresholds of the city config (rows received vs the
   trailing median, quarantine share) and fails with the feed, day, rule and values.
   On success it emits the asset `staged_{feed}`, which schedules `aggregate_daily`.
"""


def ingest_dag(feed: str, s: DagSettings) -> DAG:
    """The ``ingest_<feed>`` DAG."""
    cadence = s.cadence(feed)
    sensor = s.sensor
    asset = staged(feed)
    doc = DOC.format(feed=feed, cadence=cadence, poke=sensor["poke_minutes"], timeout=sensor["timeout_hours"],
                     settle=sensor["settle_seconds"],
                     missing="Nothing delivered: the run is skipped (reference data arrives on change)."
                     if cadence == "on_change" else "Nothing delivered by then: the sensor fails.")
    tags = ["geopulse", "ingest", cadence] + (["operator"] if feed.startswith("operator_") else [])
    with DAG(dag_id=f"ingest_{feed}", description=f"Stage the {feed} delivery of one day, then gate its DQ",
             schedule=s.daily_timetable(), start_date=s.feed_start(feed), end_date=s.end_date, catchup=True,
             max_active_runs=4, default_args=s.default_args(), tags=tags, doc_md=doc,
             user_defined_macros={"local_ds": lambda moment: _local(moment, s.timezone)}) as dag:

        @task.sensor(task_id="wait_for_delivery", mode="reschedule",
                     poke_interval=timedelta(minutes=sensor["poke_minutes"]),
                     timeout=timedelta(hours=sensor["timeout_hours"]), execution_timeout=None, retries=0)
        def wait_for_delivery(**context):
            from datetime import date

            from airflow.sdk import PokeReturnValue
            from airflow.sdk.exceptions import AirflowSkipException

            from jobs.common.config import Paths
            from jobs.ingest.arrival import arrival

            state = arrival(Paths.from_env().landing, feed, date.fromisoformat(local_ds(context)), time.time(),
                            sensor["settle_seconds"])
            print(state.describe())
            if cadence == "on_change" and not state.files and not state.partial:
                raise AirflowSkipException(f"{state.describe()}: {feed} delivers on change; nothing to stage")
            return PokeReturnValue(is_done=state.ready, xcom_value=state.files)

        stage = spark_task("stage", "ingest", ["--ds", "{{ local_ds(logical_date) }}", "--feed", feed],
                           s.spark_conn_id, execution_timeout=s.timeout("ingest"))

        @task(task_id="dq_gate", outlets=[asset], execution_timeout=s.timeout("check"), retries=1)
        def dq_gate(**context):
            from datetime import date

            from airflow.sdk.exceptions import AirflowFailException

            from jobs.common.config import Paths, load_city
            from jobs.ingest.arrival import covered_days, recompute_days
            from jobs.ingest.gate import DQGateError, check

            paths, day = Paths.from_env(), date.fromisoformat(local_ds(context))
            days = sorted(set(covered_days(paths.landing, feed, day)) | set(recompute_days(paths, [day])))
            try:
                results = check(paths, load_city(), feed, days)
            except DQGateError as exc:
                raise AirflowFailException(str(exc)) from exc
            for r in results:
                print(r.line())
            extra = {"feed": feed, "days": [d.isoformat() for d in days], "delivered": [day.isoformat()]}
            context["outlet_events"][asset].extra = extra
            return extra

        wait_for_delivery() >> stage >> dq_gate()
    return dag


def _local(moment, timezone: str) -> str:
    from geopulse_dags.days import local_day

    return local_day(moment, timezone)


def ingest_dags(s: DagSettings) -> list[DAG]:
    """One ingest DAG per registered feed, in registry order."""
    from jobs.ingest.run import ADAPTERS

    return [ingest_dag(feed, s) for feed in ADAPTERS]
