"""The jobs on a real Spark standalone cluster (master + two 1-core workers started for the session):
spark-submit of the daily ingest + geo + aggregation of a tiny synthetic city gives the same
tables (rows and values) as the local-mode run, although one worker is killed during the
aggregation (Spark reschedules its tasks); a SparkSubmitOperator task in `airflow dags test` runs
against the cluster and rebuilds the geography tables identically."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.common import standalone as sa

pytestmark = pytest.mark.heavy      # about 10 min on 2 idle cores: `make test-heavy`

ROOT = Path(__file__).resolve().parents[2]

EXPECTED_AGGREGATES = ("agg_presence__h3_hour", "agg_visitors__h3_hour", "agg_mobility__district_day",
                       "agg_od__district_day", "agg_ambulance__h3_day", "agg_pharmacy__district_day",
                       "mart_mobility_index", "private_trajectories__subscriber_day")


def _apps(cluster) -> list[dict]:
    state = sa.master_state(cluster) or {}
    return state.get("activeapps", []) + state.get("completedapps", [])


def test_cluster_runs_two_workers_from_pid_files(standalone):
    state = sa.master_state(standalone)
    assert state["status"] == "ALIVE" and state["url"] == f"spark://127.0.0.1:{standalone.port}"
    workers = [w for w in state["workers"] if w["state"] == "ALIVE"]
    assert len(workers) == 2 and {w["cores"] for w in workers} == {1} and {w["memory"] for w in workers} == {1024}
    for name in ("master", "worker-1", "worker-2"):
        assert sa.read_pid(standalone.home, name), f"{name} has no live PID file"
        assert (standalone.home / f"{name}.log").stat().st_size > 0


def test_marts_on_the_cluster_equal_the_local_mode_run_despite_a_killed_worker(runs, compare_lakes, standalone):
    """Same rows and values in every staged, geo, aggregate, mart and private table; worker 2 was
    SIGKILLed (with its executor) during the cluster's aggregation, and the job still completed."""
    kill = runs.kill
    assert kill["killed"] and kill["job_running"], f"worker 2 was not killed during the job: {kill}"
    report = compare_lakes(runs.local.lake, runs.cluster.lake)
    print(f"\nlocal[2] {runs.local.seconds:.0f} s, cluster {runs.cluster.seconds:.0f} s (side by side); worker 2 "
          f"killed {kill['after_s']:.0f} s in; executor loss in the driver log: "
          f"{'Lost executor' in runs.cluster.log or 'ExecutorLost' in runs.cluster.log}; "
          f"{len(report['tables'])} tables, {sum(r[0] for r in report['rows'].values())} rows compared")
    for table in EXPECTED_AGGREGATES:
        assert table in report["tables"], f"the local run wrote no {table}"
        assert report["rows"][table][0] > 0
    assert not report["missing"] and not report["extra"], report
    assert not report["differences"], report["differences"]
    assert all(a == b for a, b in report["rows"].values()), report["rows"]
    ran = [a for a in _apps(standalone) if a["name"] == "geopulse-ingest"]
    assert ran and ran[-1]["state"] == "FINISHED", ran
    assert "Traceback" not in runs.cluster.log, runs.cluster.log[-4000:]


PROBE_DAG = '''
"""Probe: the geo stage as one task of the DAGs' Spark switch (dags/geopulse_dags/spark_task.py)
with a Spark connection, so through SparkSubmitOperator, against the test's standalone cluster."""
from datetime import datetime

from airflow.sdk import DAG

from geopulse_dags.spark_task import spark_task

with DAG(dag_id="geopulse_cluster_probe", schedule=None, start_date=datetime(2020, 3, 16), catchup=False):
    spark_task("geo", "geo", [], "geopulse_spark_test", driver_memory="1g", executor_memory="1g")
'''


def test_airflow_spark_submit_task_runs_on_the_cluster(package, tiny_city, runs, standalone, compare_lakes,
                                                       submit_tools, tmp_path):
    """`airflow dags test` of a one-task DAG built by the DAGs' Spark switch with a Spark connection
    to the cluster (so a SparkSubmitOperator): the geography tables it rebuilds equal the local run's."""
    lake = tmp_path / "lake"
    _copy_inputs(runs.local.lake, lake, keep=("stg_",))
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "geopulse_cluster_probe.py").write_text(PROBE_DAG)
    env = submit_tools.env(tiny_city[0], lake, tmp_path)
    venv_bin = str(Path(sys.executable).parent)
    env.update(AIRFLOW_HOME=str(tmp_path / "airflow"), AIRFLOW__CORE__DAGS_FOLDER=str(dags),
               AIRFLOW__CORE__LOAD_EXAMPLES="False", AIRFLOW__CORE__UNIT_TEST_MODE="False",
               PATH=venv_bin + os.pathsep + env.get("PATH", ""), GEOPULSE_SUBMIT_APP=str(package["launcher"]),
               GEOPULSE_PY_FILES=str(package["zip"]), PYTHONPATH=str(ROOT / "dags"),
               AIRFLOW_CONN_GEOPULSE_SPARK_TEST=json.dumps({"conn_type": "spark", "host": "spark://127.0.0.1",
                                                            "port": standalone.port,
                                                            "extra": {"deploy-mode": "client"}}))
    airflow = [str(Path(venv_bin) / "airflow")]
    before = {a["id"] for a in _apps(standalone)}
    subprocess.run(airflow + ["db", "migrate"], env=env, check=True, capture_output=True, timeout=600)
    done = subprocess.run(airflow + ["dags", "test", "geopulse_cluster_probe", "2020-03-16"], env=env,
                          capture_output=True, text=True, timeout=1200)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-6000:]
    new = [a for a in _apps(standalone) if a["id"] not in before]
    assert [a["name"] for a in new] == ["geopulse-geo"] and new[0]["state"] == "FINISHED", new
    report = compare_lakes(runs.local.lake, lake)
    geo = [t for t in report["tables"] if t.startswith("geo_")]
    assert geo and all(report["rows"][t][0] == report["rows"][t][1] > 0 for t in geo), report["rows"]
    assert not {t: d for t, d in report["differences"].items() if t.startswith("geo_")}


def _copy_inputs(src: Path, dst: Path, keep=("stg_", "geo_")) -> None:
    """The staged and geography tables of ``src`` (what the aggregation reads) into lake ``dst``."""
    dst.mkdir(parents=True)
    for d in src.iterdir():
        if d.is_dir() and d.name.startswith(keep):
            shutil.copytree(d, dst / d.name)
