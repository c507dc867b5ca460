"""A local Spark standalone cluster (one master, N workers on 127.0.0.1) from the pyspark package.

The pip pyspark has no ``sbin/start-master.sh``; its ``bin/spark-class`` starts the real
``Master`` and ``Worker`` daemons. Each daemon runs in its own process group, its PID in
``<home>/<name>.pid`` and its output in ``<home>/<name>.log`` (``home`` defaults to
``$GEOPULSE_DATA/cluster``); workers keep their executors' files in ``<home>/work-<i>/``. The
lake is a local path: every worker on this machine sees the same files. Stopping signals each
daemon's process group by the PID in its file (a worker's executors and Python workers go with it).

    python -m jobs.common.standalone start [--port 7177 --ui-port 8180 --worker-ui-port 8181 ...]
    python -m jobs.common.standalone status | stop
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Cluster:
    """Where a cluster keeps its PIDs and logs, and its ports and worker sizes."""

    home: Path
    port: int = 7177
    ui_port: int = 8180
    worker_ui_ports: tuple[int, ...] = (8181, 8182)
    cores: int = 1
    memory: str = "1g"
    env: dict[str, str] = field(default_factory=dict)

    @property
    def master_url(self) -> str:
        return f"spark://{HOST}:{self.port}"

    @property
    def ui_url(self) -> str:
        return f"http://{HOST}:{self.ui_port}"

    @property
    def workers(self) -> int:
        return len(self.worker_ui_ports)


def spark_home() -> Path:
    """The installed pyspark package folder, which holds ``bin/spark-class`` and ``jars/``."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def _pid_file(home: Path, name: str) -> Path:
    return Path(home) / f"{name}.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:                                    # a zombie child of ours is not alive
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return True


def read_pid(home: Path, name: str) -> int | None:
    """The PID of daemon ``name`` (``master``, ``worker-1``, ...) when it is running."""
    f = _pid_file(home, name)
    try:
        pid = int(f.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def _daemon_env(cluster: Cluster) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    env["SPARK_LOCAL_IP"] = HOST
    env["SPARK_HOME"] = str(spark_home())
    env["SPARK_LOCAL_DIRS"] = str(Path(cluster.home) / "tmp")
    env.update(cluster.env)
    return env


def _launch(cluster: Cluster, name: str, args: list[str]) -> int:
    home = Path(cluster.home)
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    log = open(home / f"{name}.log", "ab")
    proc = subprocess.Popen([str(spark_home() / "bin" / "spark-class"), *args], stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=_daemon_env(cluster),
                            cwd=home, start_new_session=True)
    log.close()
    _pid_file(home, name).write_text(f"{proc.pid}\n")
    return proc.pid


def master_state(cluster: Cluster, timeout: float = 5.0) -> dict | None:
    """The master's JSON status (workers, applications), or None when it does not answer."""
    try:
        with urllib.request.urlopen(f"{cluster.ui_url}/json/", timeout=timeout) as resp:
            return json.loads(resp.read().decode())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def alive_workers(state: dict | None) -> int:
    return sum(1 for w in (state or {}).get("workers", []) if w.get("state") == "ALIVE")


def _wait(what: str, ready, timeout: float, cluster: Cluster) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.5)
    raise TimeoutError(f"standalone cluster: {what} not ready after {timeout:.0f} s; see the logs in {cluster.home}")


def start_worker(cluster: Cluster, i: int) -> int:
    """Start worker ``i`` (1-based) and return its PID; it registers with the master."""
    work = Path(cluster.home) / f"work-{i}"
    work.mkdir(parents=True, exist_ok=True)
    return _launch(cluster, f"worker-{i}", [
        "org.apache.spark.deploy.worker.Worker", cluster.master_url, "--host", HOST,
        "--cores", str(cluster.cores), "--memory", cluster.memory,
        "--webui-port", str(cluster.worker_ui_ports[i - 1]), "--work-dir", str(work)])


def start(cluster: Cluster, timeout: float = 120.0) -> Cluster:
    """Start the master and the workers (those not already running) and wait until every worker
    is registered and alive."""
    Path(cluster.home).mkdir(parents=True, exist_ok=True)
    if read_pid(cluster.home, "master") is None:
        _launch(cluster, "master", ["org.apache.spark.deploy.master.Master", "--host", HOST,
                                    "--port", str(cluster.port), "--webui-port", str(cluster.ui_port)])
    _wait("master", lambda: (master_state(cluster) or {}).get("status") == "ALIVE", timeout, cluster)
    for i in range(1, cluster.workers + 1):
        if read_pid(cluster.home, f"worker-{i}") is None:
            start_worker(cluster, i)
    _wait(f"{cluster.workers} workers", lambda: alive_workers(master_state(cluster)) >= cluster.workers,
          timeout, cluster)
    return cluster


def kill(home: Path, name: str, sig: int = signal.SIGTERM, timeout: float = 30.0) -> bool:
    """Signal daemon ``name``'s process group (the daemon and what it started) and wait for it to
    end, escalating to SIGKILL after ``timeout``; False when it was not running."""
    pid = read_pid(home, name)
    if pid is None:
        _pid_file(home, name).unlink(missing_ok=True)
        return False
    for s in (sig, signal.SIGKILL):
        try:
            os.killpg(pid, s)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + (timeout if s != signal.SIGKILL else 10.0)
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not _alive(pid):
            break
    _pid_file(home, name).unlink(missing_ok=True)
    return True


def stop(home: Path) -> list[str]:
    """Stop every daemon with a PID file under ``home`` (workers first); returns those stopped."""
    names = sorted(p.stem for p in Path(home).glob("*.pid"))
    order = [n for n in names if n != "master"] + [n for n in names if n == "master"]
    return [n for n in order if kill(home, n)]


def submit_command(cluster: Cluster, root: Path) -> str:
    """The documented command that runs the demo days (everything in data/landing) on ``cluster``."""
    from jobs.common.spark import localfs_submit_args

    localfs = "".join(f"{a} " for a in localfs_submit_args())
    return (f"PYSPARK_PYTHON={root}/.venv/bin/python SPARK_LOCAL_IP={HOST} {root}/.venv/bin/spark-submit "
            f"--master {cluster.master_url} --driver-memory 4g --executor-memory {cluster.memory} {localfs}"
            f"--py-files {root}/dist/geopulse-jobs.zip {root}/jobs/submit.py pipeline")


def main(argv: list[str] | None = None) -> int:
    from jobs.common.config import REPO_ROOT, Paths

    p = argparse.ArgumentParser(prog="python -m jobs.common.standalone", description=__doc__.splitlines()[0])
    p.add_argument("action", choices=["start", "stop", "status"])
    p.add_argument("--home", type=Path, default=None, help="PIDs and logs (default: $GEOPULSE_DATA/cluster)")
    p.add_argument("--port", type=int, default=7177)
    p.add_argument("--ui-port", type=int, default=8180)
    p.add_argument("--worker-ui-port", type=int, action="append", help="one per worker (default 8181 8182)")
    p.add_argument("--cores", type=int, default=1, help="cores per worker")
    p.add_argument("--memory", default="1g", help="memory per worker")
    a = p.parse_args(argv)
    home = (a.home or Paths.from_env().data / "cluster").resolve()
    cluster = Cluster(home, a.port, a.ui_port, tuple(a.worker_ui_port or (8181, 8182)), a.cores, a.memory)
    if a.action == "stop":
        stopped = stop(home)
        print(f"stopped: {', '.join(stopped) or 'nothing was running'} ({home})")
        return 0
    if a.action == "start":
        start(cluster)
    state = master_state(cluster)
    if state is None:
        print(f"no master answers at {cluster.ui_url} ({home})")
        return 1
    print(f"master {cluster.master_url} ({state.get('status')}), UI {cluster.ui_url}, "
          f"{alive_workers(state)} alive worker(s) x {cluster.cores} core(s), {cluster.memory}; "
          f"PIDs and logs in {home}")
    if a.action == "start":
        print("run the demo days of data/landing (`make simulate`) on it with the package of `make package`"
              "; stop it with `make cluster-stop`:\n  " + submit_command(cluster, REPO_ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
