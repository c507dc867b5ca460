"""``aggregate_daily``: every aggregate for the days the feeds staged.

Scheduled on the staged assets of the feeds in ``orchestration.aggregate_on`` (all of them since
the last run); a manual run works on its logical day or the days in its conf.

    resolve_days >> geo >> aggregate >> announce (asset aggregates_daily -> analytics_daily)
"""

from airflow.sdk import DAG, AssetAll

from geopulse_dags.assets import AGGREGATES, staged
from geopulse_dags.settings import settings
from geopulse_dags.spark_task import spark_task
from geopulse_dags.steps import END, START, announce_task, resolve_days_task

S = settings()

DOC = f"""### aggregate_daily
Builds every aggregate (`jobs.aggregate.run`) of {S.city} for the days whose feeds were staged.

* **Trigger**: when every feed of `orchestration.aggregate_on` has emitted its `staged_<feed>`
  asset since the last run (Airflow data-aware scheduling). The days come from the events'
  extras, plus every day a late or corrected delivery of those days rebuilt
  (`ops_recompute_requests`). A manual run uses its logical date or conf `{{"days": [...]}}`.
* `geo` rebuilds the geography tables from the staged references (cheap; picks up moved or
  renamed cells), `aggregate` runs `jobs.aggregate.run --start <first> --end <last>` (idempotent:
  it overwrites exactly those days), `announce` emits `aggregates_daily` for `analytics_daily`.
"""

with DAG(dag_id="aggregate_daily", description="Every aggregate for the days the feeds staged",
         schedule=AssetAll(*[staged(f) for f in S.aggregate_on]), start_date=S.start_date, catchup=False,
         max_active_runs=1, default_args=S.default_args(), tags=["geopulse", "aggregate", "daily"],
         doc_md=DOC) as dag:
    days = resolve_days_task()
    geo = spark_task("geo", "geo", [], S.spark_conn_id, execution_timeout=S.timeout("geo"),
                     pool=S.lake_pool)
    aggregate = spark_task("aggregate", "aggregate", ["--ds", START, "--end", END], S.spark_conn_id,
                           execution_timeout=S.timeout("aggregate"), pool=S.lake_pool)
    days >> geo >> aggregate >> announce_task(AGGREGATES)
