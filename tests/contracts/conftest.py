"""Fixtures for the contract tests: a throwaway PostgreSQL database and a folder of contracts.

PostgreSQL: a fresh database on the server at PGHOST:PGPORT (default 127.0.0.1:5432, user
postgres, trust auth), dropped afterwards. Without a reachable server a throwaway cluster is
started with initdb/pg_ctl in a temporary folder on a free port and stopped afterwards.
"""

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

psycopg2 = pytest.importorskip("psycopg2")


def _connect(host: str, port: int, dbname: str = "postgres"):
    conn = psycopg2.connect(host=host, port=port, user="postgres", dbname=dbname, connect_timeout=3)
    conn.autocommit = True
    return conn


def _pg_binary(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))), None)
    if not found:
        raise RuntimeError(f"no PostgreSQL server reachable and no {name} binary to start one")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres_user(cmd: list[str]) -> list[str]:
    """initdb/pg_ctl refuse to run as root: run them as the postgres system user then."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _start_cluster(root: Path) -> tuple[int, Path]:
    data, port = root / "data", _free_port()
    if os.geteuid() == 0:
        shutil.chown(root, user="postgres")
    subprocess.run(_as_postgres_user([_pg_binary("initdb"), "-D", str(data), "-U", "postgres",
                                      "--auth=trust", "-E", "UTF8"]),
                   check=True, capture_output=True)
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(_as_postgres_user([_pg_binary("pg_ctl"), "-D", str(data), "-o", opts,
                                      "-l", str(root / "log"), "-w", "start"]),
                   check=True, capture_output=True)
    return port, data


@pytest.fixture(scope="session")
def pg_conn():
    """A connection (autocommit) to a throwaway database, dropped at the end of the session."""
    host, port = os.environ.get("PGHOST", "127.0.0.1"), int(os.environ.get("PGPORT", "5432"))
    cluster = None
    try:
        _connect(host, port).close()
    except psycopg2.OperationalError:
        root = Path(tempfile.mkdtemp(prefix="geopulse-pg-"))
        port, data = _start_cluster(root)
        host, cluster = "127.0.0.1", (root, data)
    dbname = f"geopulse_contracts_{uuid.uuid4().hex[:10]}"
    admin = _connect(host, port)
    admin.cursor().execute(f'CREATE DATABASE "{dbname}"')
    conn = _connect(host, port, dbname)
    try:
        yield conn
    finally:
        conn.close()
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{dbname}"')
        admin.close()
        if cluster:
            root, data = cluster
            subprocess.run(_as_postgres_user([_pg_binary("pg_ctl"), "-D", str(data), "-m", "fast",
                                              "-w", "stop"]), check=False, capture_output=True)
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def schemas_copy(tmp_path, monkeypatch):
    """An empty contracts folder (feeds/, tables/) that GEOPULSE_SCHEMAS points at."""
    for sub in ("feeds", "tables"):
        (tmp_path / sub).mkdir()
    monkeypatch.setenv("GEOPULSE_SCHEMAS", str(tmp_path))
    return tmp_path
