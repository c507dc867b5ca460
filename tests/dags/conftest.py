"""Fixtures of the DAG tests: one AIRFLOW_HOME (SQLite) and one tiny synthetic city per session.

Airflow reads its configuration when first imported, so the environment is set here, at import,
before any test module imports it. DAG runs go through ``dag.test()`` (what ``airflow dags test``
calls) in this process, so the jobs reuse the session's SparkSession.
"""

import atexit
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="geopulse_airflow_"))
atexit.register(shutil.rmtree, AIRFLOW_HOME, True)
os.environ.update({
    "AIRFLOW_HOME": str(AIRFLOW_HOME),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}",
    "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
})
if str(DAGS) not in sys.path:                   # Airflow's DAG bundle does this for its own processes
    sys.path.insert(0, str(DAGS))

# The tiny city: 300 subscribers at 10 events a day over 9 days around the 2020-03-19 lockdown;
# D0 is every DAG's day, D0..D6 the backfill, D7 the corrupted operator file, D8 the late correction.
DAG_CITY = dict(start="2020-03-16", days=9, subscribers=300, events_per_day=10, seed=3, dirt=0.0,
                health_scale=0.05)


def age_files(root: Path, seconds: float = 3600) -> None:
    """Make every delivered file look settled (the sensors wait for files unchanged for a while)."""
    past = time.time() - seconds
    for f in root.rglob("*"):
        if f.is_file():
            os.utime(f, (past, past))


@pytest.fixture(scope="session")
def airflow_db():
    """A migrated SQLite metadata database in the session's AIRFLOW_HOME."""
    from airflow.utils.db import initdb

    initdb()
    return AIRFLOW_HOME


@pytest.fixture(scope="session")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


@pytest.fixture(scope="session")
def dag_city(tmp_path_factory):
    """The tiny city's landing (files aged), a lake of its own, and the environment pointing the
    jobs at them for the whole session. Attributes: ``paths``, ``manifest``, ``days``."""
    from datetime import date, timedelta
    from types import SimpleNamespace

    from jobs.common.config import Paths
    from jobs.simulate.city import run_simulation
    from jobs.simulate.context import SimParams

    root = tmp_path_factory.mktemp("dag_city")
    params = SimParams(**(DAG_CITY | {"start": date.fromisoformat(DAG_CITY["start"])}))
    manifest = run_simulation(params, root / "landing").manifest
    age_files(root / "landing")
    paths = Paths(data=root, landing=root / "landing", lake=root / "lake",
                  serving_db=root / "serving" / "geopulse.duckdb", bench=root / "bench")
    env = {"GEOPULSE_DATA": str(root), "GEOPULSE_LANDING": str(paths.landing), "GEOPULSE_LAKE": str(paths.lake),
           "GEOPULSE_SERVING_DB": str(paths.serving_db)}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    start = date.fromisoformat(manifest["period"]["start"])
    yield SimpleNamespace(paths=paths, manifest=manifest, root=root,
                          days=[start + timedelta(n) for n in range(manifest["period"]["days"])])
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def settle():
    """``settle(folder)``: age the files of a folder written by a test, as the sensors expect."""
    return age_files
