"""The on-failure callback of every GeoPulse task: one log line naming the DAG, the task, the
feed, the day and the rule that failed, taken from the exception when it says (ingest names the
rejected file and its reason code, the DQ gate its rule)."""

import logging
import re

log = logging.getLogger("geopulse.alerts")

_RULE = re.compile(r"\[([a-z][a-z0-9_]*)\]")


def failure_summary(dag_id: str, task_id: str, day: str | None, exc: BaseException | str | None) -> str:
    """``GEOPULSE FAILURE dag=… task=… feed=… day=… rule=…: <first line of the error>``."""
    text = str(exc or "").strip()
    feed = dag_id.removeprefix("ingest_") if dag_id.startswith("ingest_") else "-"
    rules = sorted(set(_RULE.findall(text))) or [type(exc).__name__ if isinstance(exc, BaseException) else "error"]
    first = next((line.strip() for line in text.splitlines() if line.strip()), "no message")
    return (f"GEOPULSE FAILURE dag={dag_id} task={task_id} feed={feed} day={day or '-'} "
            f"rule={','.join(rules)}: {first}")


def on_failure(context) -> None:
    ti = context.get("task_instance") or context.get("ti")
    dag_id = getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", "?")
    task_id = getattr(ti, "task_id", "?")
    from geopulse_dags.days import local_ds

    day = local_ds(context)
    log.error(failure_summary(dag_id, task_id, day, context.get("exception")))
