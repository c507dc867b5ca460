"""``residents_monthly``: homes and work places, residents per hexagon and commuting for the
month that just ended (``jobs.aggregate.operator_monthly --month YYYY-MM``).

    aggregate_month
"""

from airflow.sdk import DAG

from geopulse_dags.days import local_day
from geopulse_dags.settings import settings
from geopulse_dags.spark_task import spark_task

S = settings()

DOC = f"""### residents_monthly
Monthly home/work detection for {S.city}: `private_home_work__subscriber_month`,
`agg_residents__h3_month`, `agg_commute__district_month` and `mart_commute_flows` for the month of the run's data
interval, from the daily trajectories of all its days. Scheduled `{S.monthly_cron}` in
{S.timezone} (the run for month M starts early on the 1st of M+1), catch-up on. The daily
aggregation already keeps the month-to-date figures current; this run settles the whole month.
"""


def _month(moment, timezone=S.timezone) -> str:
    return local_day(moment, timezone)[:7]


with DAG(dag_id="residents_monthly", description="Homes, work places, residents and commuting per month",
         schedule=S.monthly_timetable(), start_date=S.start_date.start_of("month"), end_date=S.end_date,
         catchup=True, max_active_runs=1, default_args=S.default_args(),
         tags=["geopulse", "aggregate", "monthly"], doc_md=DOC,
         user_defined_macros={"local_month": _month}) as dag:
    spark_task("aggregate_month", "monthly", ["--month", "{{ local_month(logical_date) }}"], S.spark_conn_id,
               execution_timeout=S.timeout("monthly"))
