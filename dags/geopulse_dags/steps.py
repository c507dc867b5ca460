"""Tasks the downstream daily DAGs share: find the run's days, announce the days done."""

from airflow.sdk import task

XCOM = "{{{{ ti.xcom_pull(task_ids='resolve_days')['{key}'] }}}}"
START, END = XCOM.format(key="start"), XCOM.format(key="end")


def resolve_days_task():
    """``resolve_days``: the run's days (see ``geopulse_dags.days.resolve``)."""

    @task(task_id="resolve_days", retries=1)
    def resolve_days(**context):
        from geopulse_dags.days import resolve

        found = resolve(context)
        print(f"days to compute: {', '.join(found['days'])} (delivered {', '.join(found['delivered'])})")
        return found

    return resolve_days()


def announce_task(asset):
    """``announce``: emit ``asset`` with the run's days in the event's extra."""

    @task(task_id="announce", outlets=[asset], retries=1)
    def announce(**context):
        found = context["ti"].xcom_pull(task_ids="resolve_days")
        context["outlet_events"][asset].extra = {"days": found["days"], "delivered": found["delivered"]}
        return found["days"]

    return announce()
