"""The Spark switch: one job stage as an Airflow task, in-process or submitted to a cluster.

Without a Spark connection (the default) the task runs the stage's ``main(argv)`` in the
worker's own process on local Spark (``jobs.common.spark``). With one (``GEOPULSE_SPARK_CONN_ID``
or ``spark.connection_id`` in the city config), the same stage goes through
``SparkSubmitOperator`` with application ``jobs/submit.py <stage> <argv>`` (the launcher shipped
in the package; ``GEOPULSE_PY_FILES`` names the ``--py-files`` archive of ``make package``).
Both take the same templated argv, so a DAG is identical in both modes.

In-process, a non-zero exit of the stage (a data verdict: a file rejected whole, a feed failed)
fails the task at once with the stage's own error lines, without retries; an exception (an
infrastructure error) is retried with back-off.
"""

import io
import os
import sys
from contextlib import redirect_stderr
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SUBMIT = Path(os.environ.get("GEOPULSE_SUBMIT_APP") or REPO / "jobs" / "submit.py")   # the launcher on the submitting host
# Stages the launcher does not carry: module whose main(argv) runs them, and its application file.
EXTRA_STAGES = {"monthly": ("jobs.aggregate.operator_monthly", REPO / "jobs" / "aggregate" / "operator_monthly.py")}


class _Tee(io.TextIOBase):
    def __init__(self, *streams):
        self.streams = streams

    def write(self, text):
        for s in self.streams:
            s.write(text)
        return len(text)

    def flush(self):
        for s in self.streams:
            s.flush()


def run_stage(stage: str, argv: list[str]) -> int:
    """Run one stage in this process, as ``jobs/submit.py`` would (without stopping Spark)."""
    from airflow.sdk.exceptions import AirflowFailException

    if stage in EXTRA_STAGES:
        import importlib

        main, args = importlib.import_module(EXTRA_STAGES[stage][0]).main, list(argv)
    else:
        from jobs.submit import build_parser, stage_argv, stage_main

        parsed, extra = build_parser().parse_known_args([stage, *argv])
        main, args = stage_main(stage), stage_argv(stage, parsed.ds, parsed.end, extra)
    captured = io.StringIO()
    with redirect_stderr(_Tee(sys.stderr, captured)):
        rc = main(args) or 0
    if rc:
        raise AirflowFailException(f"{stage} {' '.join(args)} failed (exit code {rc}):\n"
                                   + (captured.getvalue().strip() or "(no message)"))
    return rc


def spark_task(task_id: str, stage: str, argv: list[str], conn_id: str | None, **kwargs):
    """An operator running ``stage`` with ``argv`` (Jinja-templated) in-process, or through
    ``SparkSubmitOperator`` when ``conn_id`` is given. ``kwargs`` go to the operator."""
    if conn_id:
        from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

        if stage in EXTRA_STAGES:
            application, args = str(EXTRA_STAGES[stage][1]), list(argv)
        else:
            application, args = str(SUBMIT), [stage, *argv]
        return SparkSubmitOperator(task_id=task_id, conn_id=conn_id, application=application,
                                   application_args=args, name=f"geopulse-{task_id}",
                                   py_files=os.environ.get("GEOPULSE_PY_FILES") or None, **kwargs)
    from airflow.providers.standard.operators.python import PythonOperator

    return PythonOperator(task_id=task_id, python_callable=run_stage, op_args=[stage, list(argv)], **kwargs)
