"""Fixtures of the cluster tests: the package from `make package`, a tiny synthetic city, a real
Spark standalone cluster (master and UIs on free ports, two workers of 1 core and 1g) started for
the session, and the tiny city's ingest + geo + aggregation run by ``spark-submit`` in local mode
(the reference) and on the cluster side by side, a worker of the cluster killed during the run.
Everything lives in the session's temporary folder."""

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from jobs.common.ports import free_ports

ROOT = Path(__file__).resolve().parents[2]
_PORTS = free_ports(4)          # of their own: a demo cluster (7177...) may be running beside
MASTER_PORT, UI_PORT, WORKER_UI_PORTS = _PORTS[0], _PORTS[1], (_PORTS[2], _PORTS[3])
# The tiny city: two operator days, a few hundred subscribers, no dirt (every file staged).
TINY_CITY = dict(start="2020-03-16", days=2, subscribers=300, events_per_day=10, seed=5, dirt=0.0,
                 health_scale=0.05)
FIRST, LAST = date(2020, 3, 16), date(2020, 3, 17)
SUBMIT_TIMEOUT_S = 3600


@dataclass
class Submitted:
    """One finished spark-submit: its lake, exit code, seconds and output."""
    lake: Path
    rc: int
    seconds: float
    log: str

    def check(self) -> "Submitted":
        assert self.rc == 0, f"spark-submit failed (exit {self.rc}):\n{self.log[-6000:]}"
        return self


def submit_env(landing: Path, lake: Path, data: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable, SPARK_LOCAL_IP="127.0.0.1",
               GEOPULSE_DATA=str(data), GEOPULSE_LANDING=str(landing), GEOPULSE_LAKE=str(lake))
    env.pop("GEOPULSE_SPARK_MASTER", None)
    env.pop("GEOPULSE_CITY", None)
    env.pop("GEOPULSE_SCHEMAS", None)
    return env


def submit_argv(package: dict, master: str, stages: str, first: date = FIRST, last: date = LAST) -> list[str]:
    """The documented spark-submit command line for ``stages`` over ``first`` .. ``last``."""
    from jobs.common.spark import localfs_submit_args

    return [str(Path(sys.executable).parent / "spark-submit"), "--master", master,
            "--driver-memory", "1g", "--executor-memory", "1g", "--conf", "spark.task.maxFailures=4",
            *localfs_submit_args(), "--py-files", str(package["zip"]), str(package["launcher"]),
            stages, "--ds", first.isoformat(), "--end", last.isoformat()]


def start_submit(package: dict, master: str, stages: str, landing: Path, lake: Path, log: Path) -> subprocess.Popen:
    out = open(log, "wb")
    return subprocess.Popen(submit_argv(package, master, stages), env=submit_env(landing, lake, lake.parent),
                            cwd=lake.parent, stdout=out, stderr=subprocess.STDOUT)


def run_submit(package: dict, master: str, stages: str, landing: Path, lake: Path) -> Submitted:
    log = lake.parent / f"{lake.name}.log"
    t0 = time.monotonic()
    proc = start_submit(package, master, stages, landing, lake, log)
    try:
        rc = proc.wait(timeout=SUBMIT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
    return Submitted(lake, rc, time.monotonic() - t0, log.read_text(errors="replace"))


@pytest.fixture(scope="session")
def package(tmp_path_factory):
    """``make package`` into the session's folder: {'wheel', 'zip', 'launcher'} paths."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("geopulse_packaging", ROOT / "infra" / "spark" / "package.py")
    packaging = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(packaging)
    return packaging.package(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="session")
def tiny_city(tmp_path_factory):
    """The landing folder of the tiny city and its manifest."""
    from jobs.simulate.city import run_simulation
    from jobs.simulate.context import SimParams

    landing = tmp_path_factory.mktemp("tiny_city") / "landing"
    params = SimParams(**(TINY_CITY | {"start": date.fromisoformat(TINY_CITY["start"])}))
    manifest = run_simulation(params, landing).manifest
    return landing, manifest


@pytest.fixture(scope="session")
def standalone(tmp_path_factory):
    """A running standalone cluster (master + 2 workers), stopped by PID at the end."""
    from jobs.common import standalone as sa

    cluster = sa.Cluster(tmp_path_factory.mktemp("cluster"), MASTER_PORT, UI_PORT, WORKER_UI_PORTS,
                         cores=1, memory="1g")
    try:
        sa.start(cluster)
        yield cluster
    finally:
        sa.stop(cluster.home)


def _executors_on(cluster, worker: int) -> list[str]:
    """App ids with an executor on worker ``worker`` (its UI's JSON)."""
    import json
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{cluster.worker_ui_ports[worker - 1]}/json/", timeout=10) as r:
            return [e.get("appid") for e in json.loads(r.read().decode()).get("executors", [])]
    except (OSError, ValueError):
        return []


def kill_worker_during(proc: subprocess.Popen, log: Path, cluster, worker: int, marker: str) -> dict:
    """Once the job's log shows ``marker`` and its app has an executor on ``worker``, wait a few
    seconds and SIGKILL that worker's process group (worker, executor, Python workers) while the
    job runs; what happened, for the test to check."""
    import signal

    from jobs.common import standalone as sa

    t0, deadline = time.monotonic(), time.monotonic() + SUBMIT_TIMEOUT_S
    while time.monotonic() < deadline and proc.poll() is None:
        apps = [a for a in (sa.master_state(cluster) or {}).get("activeapps", []) if a.get("state") == "RUNNING"]
        if marker in log.read_text(errors="replace") and any(a["id"] in _executors_on(cluster, worker) for a in apps):
            time.sleep(10)                          # let it take tasks and write shuffle files
            running = proc.poll() is None
            os.killpg(sa.read_pid(cluster.home, f"worker-{worker}"), signal.SIGKILL)
            return {"killed": True, "job_running": running, "after_s": time.monotonic() - t0,
                    "app": [a["id"] for a in apps]}
        time.sleep(2)
    return {"killed": False, "job_running": proc.poll() is None, "after_s": time.monotonic() - t0}


@pytest.fixture(scope="session")
def runs(package, tiny_city, standalone, tmp_path_factory):
    """Ingest + geo + aggregation of the tiny city's two days by spark-submit, side by side:
    ``local`` on local[2] (the reference) and ``cluster`` on the standalone cluster, whose worker 2
    is killed during the aggregation (``kill``); worker 2 is restarted afterwards."""
    from types import SimpleNamespace

    from jobs.common import standalone as sa

    lakes = {k: tmp_path_factory.mktemp(k) / "lake" for k in ("local", "on_cluster")}
    logs = {k: v.parent / "submit.log" for k, v in lakes.items()}
    t0 = time.monotonic()
    procs = {"local": start_submit(package, "local[2]", "ingest,geo,aggregate", tiny_city[0], lakes["local"],
                                   logs["local"]),
             "on_cluster": start_submit(package, standalone.master_url, "ingest,geo,aggregate", tiny_city[0],
                                        lakes["on_cluster"], logs["on_cluster"])}
    try:
        kill = kill_worker_during(procs["on_cluster"], logs["on_cluster"], standalone, 2, "[submit] aggregate")
        done = {}
        for k, proc in procs.items():
            try:
                rc = proc.wait(timeout=max(1.0, SUBMIT_TIMEOUT_S - (time.monotonic() - t0)))
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = proc.wait()
            done[k] = Submitted(lakes[k], rc, time.monotonic() - t0, logs[k].read_text(errors="replace"))
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
        sa.kill(standalone.home, "worker-2")
        sa.start(standalone)                       # two workers again for what runs next
    return SimpleNamespace(local=done["local"].check(), cluster=done["on_cluster"].check(), kill=kill)


# ---------------------------------------------------------------- comparing two lakes
COMPARED_PREFIXES = ("stg_", "geo_", "agg_", "mart_", "private_")   # not dq/quarantine/raw: they carry run times


def lake_tables(lake: Path) -> dict[str, Path]:
    """Table name -> folder of every compared table in a lake (private ones included)."""
    dirs = [*lake.iterdir(), *(lake / "private").glob("*")] if (lake / "private").is_dir() else list(lake.iterdir())
    return {d.name: d for d in dirs if d.is_dir() and d.name.startswith(COMPARED_PREFIXES) and any(d.rglob("*.parquet"))}


def read_sorted(folder: Path, grain: list[str]):
    """A table as a pandas frame in a canonical row order: complex columns as text, sorted by its
    grain, then every other non-float column, then the floats."""
    import duckdb

    con = duckdb.connect()
    src = f"read_parquet('{folder}/**/*.parquet', hive_partitioning = true, union_by_name = true)"
    cols = con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()
    select = ", ".join(f'"{n}"::VARCHAR AS "{n}"' if any(k in t for k in ("[", "STRUCT", "MAP")) else f'"{n}"'
                       for n, t, *_ in cols)
    floats = [n for n, t, *_ in cols if t in ("DOUBLE", "FLOAT")]
    keys = [g for g in grain if g in [c[0] for c in cols]]
    order = keys + [n for n, *_ in cols if n not in keys and n not in floats] + floats
    df = con.execute(f"SELECT {select} FROM {src}").df()
    return df.sort_values(order, kind="mergesort", na_position="last").reset_index(drop=True), floats


def table_differences(expected_lake: Path, actual_lake: Path) -> dict:
    """Per table: rows on each side and what differs (missing tables, row counts, values);
    doubles agree to 1e-9 relative (sums may add up in another order on another executor)."""
    import numpy as np

    from jobs.common.contracts import load_contract

    expected, actual = lake_tables(expected_lake), lake_tables(actual_lake)
    report = {"tables": sorted(expected), "missing": sorted(set(expected) - set(actual)),
              "extra": sorted(set(actual) - set(expected)), "rows": {}, "differences": {}}
    for name in sorted(set(expected) & set(actual)):
        grain = list(load_contract(name).grain)
        a, floats = read_sorted(expected[name], grain)
        b, _ = read_sorted(actual[name], grain)
        report["rows"][name] = (len(a), len(b))
        if len(a) != len(b) or list(a.columns) != list(b.columns):
            report["differences"][name] = f"rows {len(a)} vs {len(b)}, columns equal: {list(a.columns) == list(b.columns)}"
            continue
        bad = []
        for col in a.columns:
            x, y = a[col], b[col]
            if col in floats:
                same = np.isclose(x.to_numpy(float), y.to_numpy(float), rtol=1e-9, atol=1e-12, equal_nan=True)
            else:
                same = (x.astype(object).where(x.notna(), None) == y.astype(object).where(y.notna(), None)).to_numpy() \
                    | (x.isna() & y.isna()).to_numpy()
            if not same.all():
                bad.append(f"{col}: {int((~same).sum())} rows")
        if bad:
            report["differences"][name] = "; ".join(bad)
    return report


@pytest.fixture(scope="session")
def compare_lakes():
    return table_differences


@pytest.fixture(scope="session")
def submit_tools():
    """The spark-submit helpers above, for the tests (which cannot import this file)."""
    from types import SimpleNamespace

    return SimpleNamespace(start=start_submit, run=run_submit, env=submit_env, argv=submit_argv)
