"""`make dashboards`: a local Superset on 127.0.0.1:8088 showing the GeoPulse dashboards.

Builds Superset's own environment and metadata DB (data/superset, SQLite) when missing, starts
Superset in the background (pid in data/superset/superset.pid; ``--stop`` stops it), imports the
bundle under dashboards/ against the serving database (GEOPULSE_SERVING_URL, else the DuckDB file
of ``make run``) and prints the URL, the login and each dashboard's address.

    python -m jobs.dashboards.serve [--port 8088] [--url postgresql://...] [--stop]
"""

import argparse
import os
import signal
import sys
import urllib.request
from pathlib import Path

from jobs.common.config import Paths
from jobs.dashboards import superset


def _running(pid_file: Path, url: str) -> bool:
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, 0)
        with urllib.request.urlopen(url + "/health", timeout=5) as r:
            return r.status == 200
    except (OSError, ValueError):
        return False


def stop(home: Path) -> bool:
    pid_file = home / "superset.pid"
    try:
        pid = int(pid_file.read_text())
        os.killpg(pid, signal.SIGTERM)          # gunicorn runs in its own session: master and workers
    except (OSError, ValueError):
        return False
    finally:
        pid_file.unlink(missing_ok=True)
    return True


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m jobs.dashboards.serve", description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=int(os.environ.get("SUPERSET_PORT", 8088)))
    p.add_argument("--url", default=os.environ.get("GEOPULSE_SERVING_URL"), help="PostgreSQL serving URL")
    p.add_argument("--stop", action="store_true", help="stop the Superset started here")
    a = p.parse_args(argv)
    paths = Paths.from_env()
    home = Path(os.environ.get("SUPERSET_HOME", paths.data / "superset")).resolve()
    if a.stop:
        print("[dashboards] Superset stopped" if stop(home) else "[dashboards] Superset was not running")
        return 0
    if not a.url and not paths.serving_db.exists():
        print(f"[dashboards] no serving database at {paths.serving_db}: run `make run` first", file=sys.stderr)
        return 1
    superset.bootstrap(home)
    url = f"http://127.0.0.1:{a.port}"
    pid_file = home / "superset.pid"
    if _running(pid_file, url):
        print(f"[dashboards] Superset already running on {url}")
    else:
        server = superset.start(home, a.port)
        pid_file.write_text(str(server.process.pid))
        print(f"[dashboards] Superset started on {url} (log {server.log_path})")
    uri = superset.serving_uri(paths.serving_db, a.url)
    dashboards = superset.import_dashboards(url, uri)
    print(f"[dashboards] imported {len(dashboards)} dashboards against {uri.split('@')[-1]}")
    print(f"\n  Open {url}/dashboard/list/  login: {superset.ADMIN_USER} / {superset.ADMIN_PASSWORD}")
    for d in sorted(dashboards, key=lambda d: d["title"]):
        print(f"    {d['title']:<28} {url}/superset/dashboard/{d['slug']}/")
    print("  Stop it with `make dashboards-stop`.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
