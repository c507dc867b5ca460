"""A local Superset for the GeoPulse dashboards: build its environment, start it, import the bundle.

Superset runs from its own virtualenv (.superset-venv, built by infra/superset/bootstrap.sh) with
infra/superset/superset_config.py and a SQLite metadata DB in a folder of our choosing. The
serving database comes from the environment: ``GEOPULSE_SERVING_URL`` (a PostgreSQL URL) when set,
else the DuckDB file ``GEOPULSE_SERVING_DB`` (jobs.common.config.Paths.serving_db), opened
read-only. The import talks to Superset's REST API (``POST /api/v1/<kind>/import/``, overwrite) with
the bundle under dashboards/ zipped and its database URI replaced.
"""

import io
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from dataclasses import dataclass
from http.cookiejar import CookieJar
from pathlib import Path

import yaml

from jobs.common.config import REPO_ROOT
from jobs.common.ports import in_use

SUPERSET_VENV = Path(os.environ.get("SUPERSET_VENV", REPO_ROOT / ".superset-venv"))
BOOTSTRAP = REPO_ROOT / "infra" / "superset" / "bootstrap.sh"
CONFIG = REPO_ROOT / "infra" / "superset" / "superset_config.py"
BUNDLE_DIR = REPO_ROOT / "dashboards"
ADMIN_USER = os.environ.get("SUPERSET_ADMIN_USER", "admin")
ADMIN_PASSWORD = os.environ.get("SUPERSET_ADMIN_PASSWORD", "admin")


def serving_uri(serving_db: Path | str | None = None, url: str | None = None) -> str:
    """SQLAlchemy URI of the serving database: the PostgreSQL ``url`` if given, else the DuckDB file."""
    if url:
        return url.replace("postgres://", "postgresql://", 1)
    return f"duckdb:///{Path(serving_db).resolve()}"


def _engine_params(uri: str) -> dict:
    # DuckDB: read-only, so Superset never holds the write lock the publish job needs.
    return {"connect_args": {"read_only": True}} if uri.startswith("duckdb") else {}


# Superset's importers overwrite only the kind they are called for (a dashboard import keeps an
# existing database, dataset and chart as they were), so the bundle is posted once per kind.
IMPORT_KINDS = (("database", "Database"), ("dataset", "SqlaTable"), ("chart", "Slice"), ("dashboard", "Dashboard"))


def bundle_zip(uri: str, bundle: Path = BUNDLE_DIR, kind: str = "Dashboard") -> bytes:
    """The bundle as the zip Superset imports, with the database pointing at ``uri`` and
    ``metadata.yaml`` typed for the importer of ``kind``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(bundle.rglob("*.yaml")):
            rel = path.relative_to(bundle)
            if rel.parts[0] not in ("databases", "datasets", "charts", "dashboards") and rel.name != "metadata.yaml":
                continue
            if kind == "Database" and rel.parts[0] in ("charts", "dashboards") or \
                    kind in ("SqlaTable", "Slice") and rel.parts[0] == "dashboards":
                continue
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
            if rel.name == "metadata.yaml":
                doc["type"] = kind
            if rel.parts[0] == "databases":
                doc["sqlalchemy_uri"] = uri
                doc.setdefault("extra", {})["engine_params"] = _engine_params(uri)
            z.writestr(f"geopulse_dashboards/{rel.as_posix()}", yaml.safe_dump(doc, sort_keys=False))
    return buf.getvalue()


def environment(home: Path) -> dict[str, str]:
    """Environment of the Superset processes: its config and metadata folder."""
    env = dict(os.environ)
    env |= {"SUPERSET_HOME": str(home), "SUPERSET_CONFIG_PATH": str(CONFIG), "FLASK_APP": "superset.app:create_app()",
            "PYTHONPATH": "", "VIRTUAL_ENV": str(SUPERSET_VENV)}
    env["PATH"] = f"{SUPERSET_VENV / 'bin'}:{env.get('PATH', '')}"
    return env


def bootstrap(home: Path, log=print) -> float:
    """Build .superset-venv and the metadata DB in ``home`` when missing (idempotent); seconds taken."""
    started = time.monotonic()
    subprocess.run(["bash", str(BOOTSTRAP)], check=True, env=environment(home) | {"SUPERSET_HOME": str(home)})
    return time.monotonic() - started


@dataclass
class Server:
    process: subprocess.Popen
    url: str
    log_path: Path

    def stop(self) -> None:
        """Stop gunicorn and its workers (their own process group), forcibly after 30 s."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def start(home: Path, port: int, timeout_s: float = 180, workers: int = 2) -> Server:
    """Start gunicorn on 127.0.0.1:``port`` and wait until /health answers; a port already taken
    is an error (its answers would come from someone else's server)."""
    if in_use(port):
        raise RuntimeError(f"port {port} is already in use on 127.0.0.1: stop what listens there "
                           "(`make dashboards-stop` for the demo Superset) or choose another port")
    log_path = home / f"superset-{port}.log"
    log = open(log_path, "ab")
    proc = subprocess.Popen(
        [str(SUPERSET_VENV / "bin" / "gunicorn"), "-w", str(workers), "-k", "gthread", "--threads", "4",
         "--timeout", "180", "-b", f"127.0.0.1:{port}", "superset.app:create_app()"],
        env=environment(home), stdout=log, stderr=subprocess.STDOUT, cwd=str(home), start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"Superset exited with {proc.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=5) as r:
                if r.status == 200:
                    return Server(proc, url, log_path)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(1)
    Server(proc, url, log_path).stop()
    raise TimeoutError(f"Superset did not answer on {url} within {timeout_s:.0f} s; see {log_path}")


class Client:
    """A logged-in session on Superset's REST API (JWT + CSRF token + session cookie)."""

    def __init__(self, url: str, user: str = ADMIN_USER, password: str = ADMIN_PASSWORD):
        self.url = url.rstrip("/")
        self._opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        token = self._call("POST", "/api/v1/security/login",
                           {"username": user, "password": password, "provider": "db", "refresh": True})
        self._headers = {"Authorization": f"Bearer {token['access_token']}"}
        self._headers["X-CSRFToken"] = self._call("GET", "/api/v1/security/csrf_token/")["result"]
        self._headers["Referer"] = self.url

    def _call(self, method: str, path: str, body: dict | None = None, data: bytes | None = None,
              content_type: str = "application/json") -> dict:
        if body is not None:
            data = json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers=getattr(self, "_headers", {}) | ({"Content-Type": content_type}
                                                                              if data is not None else {}))
        try:
            with self._opener.open(req, timeout=120) as r:
                return json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"{method} {path}: HTTP {e.code}: {e.read()[:2000].decode(errors='replace')}") from e

    def get(self, path: str) -> dict:
        return self._call("GET", path)

    def _post_zip(self, path: str, zipped: bytes) -> dict:
        boundary = uuid.uuid4().hex
        parts = [(b'Content-Disposition: form-data; name="formData"; filename="geopulse_dashboards.zip"\r\n'
                  b"Content-Type: application/zip\r\n\r\n", zipped),
                 (b'Content-Disposition: form-data; name="overwrite"\r\n\r\n', b"true"),
                 (b'Content-Disposition: form-data; name="passwords"\r\n\r\n', b"{}")]
        body = b"".join(b"--" + boundary.encode() + b"\r\n" + head + value + b"\r\n" for head, value in parts)
        body += b"--" + boundary.encode() + b"--\r\n"
        return self._call("POST", path, data=body, content_type=f"multipart/form-data; boundary={boundary}")

    def import_bundle(self, uri: str, bundle: Path = BUNDLE_DIR) -> None:
        """Import (overwrite) the bundle's database, datasets, charts and dashboards, in that order."""
        for route, kind in IMPORT_KINDS:
            self._post_zip(f"/api/v1/{route}/import/", bundle_zip(uri, bundle, kind))

    def dashboards(self) -> list[dict]:
        """Imported dashboards: id, slug, title, url."""
        q = "(columns:!(id,slug,dashboard_title,url),page_size:100)"
        return [{"id": d["id"], "slug": d["slug"], "title": d["dashboard_title"], "url": d["url"]}
                for d in self.get(f"/api/v1/dashboard/?q={q}")["result"]]

    def charts(self, dashboard_id: int) -> list[dict]:
        return self.get(f"/api/v1/dashboard/{dashboard_id}/charts")["result"]


def import_dashboards(url: str, uri: str, bundle: Path = BUNDLE_DIR) -> list[dict]:
    """Import the bundle against the serving database ``uri``; returns the dashboards."""
    client = Client(url)
    client.import_bundle(uri, bundle)
    return client.dashboards()
