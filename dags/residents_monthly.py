"""``residents_monthly``: homes and work places, residents per hexagon and commuting for the
month that just ended (``jobs.aggregate.operator_monthly --month YYYY-MM``).

    wait_for_month  >>  aggregate_month
"""

from datetime import timedelta

from airflow.sdk import DAG, task

from geopulse_dags.days import local_day
from geopulse_dags.settings import settings
from geopulse_dags.spark_task import spark_task

S = settings()

DOC = f"""### residents_monthly
Monthly home/work detection for {S.city}: `private_home_work__subscriber_month`,
`agg_residents__h3_month`, `agg_commute__district_month` and `mart_commute_flows` for the month of the run's data
interval, from the daily trajectories of all its days. Scheduled `{S.monthly_cron}` in
{S.timezone} (the run for month M starts early on the 1st of M+1), catch-up on.

1. `wait_for_month` (sensor, reschedule mode) waits until the month has aggregated days and every
   staged operator day of it is aggregated (`jobs.aggregate.month_ready`): in a catch-up the
   month's run can be due before the daily runs of its days.
2. `aggregate_month` runs `jobs.aggregate.operator_monthly --month M`.

The daily aggregation already keeps the month-to-date figures current; this run settles the whole month.
"""


def _month(moment, timezone=S.timezone) -> str:
    return local_day(moment, timezone)[:7]


with DAG(dag_id="residents_monthly", description="Homes, work places, residents and commuting per month",
         schedule=S.monthly_timetable(), start_date=S.start_date.start_of("month"), end_date=S.end_date,
         catchup=True, max_active_runs=1, default_args=S.default_args(),
         tags=["geopulse", "aggregate", "monthly"], doc_md=DOC,
         user_defined_macros={"local_month": _month}) as dag:

    @task.sensor(task_id="wait_for_month", mode="reschedule", poke_interval=timedelta(minutes=S.sensor["poke_minutes"]),
                 timeout=timedelta(hours=S.sensor["timeout_hours"]), execution_timeout=None, retries=0)
    def wait_for_month(**context):
        from datetime import date

        from airflow.sdk import PokeReturnValue

        from jobs.aggregate.month_ready import month_state
        from jobs.common.config import Paths

        state = month_state(Paths.from_env(), date.fromisoformat(_month(context["logical_date"]) + "-01"))
        print(state.describe())
        return PokeReturnValue(is_done=state.ready)

    wait_for_month() >> spark_task("aggregate_month", "monthly", ["--month", "{{ local_month(logical_date) }}"],
                                   S.spark_conn_id, execution_timeout=S.timeout("monthly"), pool=S.lake_pool)
