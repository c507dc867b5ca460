"""``publish``: the privacy audit and the load of every mart into the serving database, as of
the last day the analytics announced.

    resolve_days >> publish
"""

from airflow.sdk import DAG

from geopulse_dags.assets import MARTS
from geopulse_dags.settings import settings
from geopulse_dags.spark_task import spark_task
from geopulse_dags.steps import END, resolve_days_task

S = settings()

DOC = f"""### publish
Runs `jobs.publish.run --ds <last day>` for {S.city}: the privacy audit of every mart (one
violation fails the task and nothing is published), then the load into the serving database
(the DuckDB file `GEOPULSE_SERVING_DB` by default).

* **Trigger**: the `marts_daily` asset from `analytics_daily`. Manual: logical date or conf days.
"""

with DAG(dag_id="publish", description="Privacy audit and load of the marts into the serving database",
         schedule=MARTS, start_date=S.start_date, catchup=False, max_active_runs=1,
         default_args=S.default_args(), tags=["geopulse", "publish", "daily"], doc_md=DOC) as dag:
    days = resolve_days_task()
    publish = spark_task("publish", "publish", ["--ds", END], S.spark_conn_id, execution_timeout=S.timeout("publish"),
                         pool=S.lake_pool)
    days >> publish
