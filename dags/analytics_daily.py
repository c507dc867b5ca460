"""``analytics_daily``: indicators for the aggregated days, then every mart as of the last one.

    resolve_days >> analytics >> announce (asset marts_daily -> publish)
"""

from airflow.sdk import DAG

from geopulse_dags.assets import AGGREGATES, MARTS
from geopulse_dags.settings import settings
from geopulse_dags.spark_task import spark_task
from geopulse_dags.steps import END, START, announce_task, resolve_days_task

S = settings()

DOC = f"""### analytics_daily
Runs `jobs.analytics.run --start <first> --end <last>` for {S.city}: `mart_indicator_daily` for the
days `aggregate_daily` announced, then every analytics mart (lagged correlation, lead/lag,
forecasts and skill, restriction impact, alerts) as of the last of them.

* **Trigger**: the `aggregates_daily` asset (a late correction re-announces its day, so the
  indicators of that day and the marts are recomputed). Manual: logical date or conf days.
* `announce` emits `marts_daily`, which schedules `publish`.
"""

with DAG(dag_id="analytics_daily", description="Indicators and analytics marts as of the aggregated days",
         schedule=AGGREGATES, start_date=S.start_date, catchup=False, max_active_runs=1,
         default_args=S.default_args(), tags=["geopulse", "analytics", "daily"], doc_md=DOC) as dag:
    days = resolve_days_task()
    analytics = spark_task("analytics", "analytics", ["--ds", START, "--end", END], S.spark_conn_id,
                           execution_timeout=S.timeout("analytics"), pool=S.lake_pool)
    days >> analytics >> announce_task(MARTS)
