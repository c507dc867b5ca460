"""The serving database: published lake tables loaded into DuckDB (default) or PostgreSQL.

Reads the Parquet lake (``paths.lake/<table>/``, read with DuckDB, no Spark needed); writes the
published tables, with their contracts' columns, types, primary keys (the grain) and comments, and
the views of ``jobs.publish.views`` into the serving database: the DuckDB file
``paths.serving_db``, or the PostgreSQL database of a ``postgresql://`` URL (schema ``public``
unless the city config's ``publish.schema`` says otherwise).

Per table, the *day column* is the first date column of its contract's ``partition_by`` (``ds``;
``delivered_ds`` for ops_recompute_requests; ``month`` for monthly marts, whose partition for a
day is that day's month). A load replaces the rows of the given days and
adds every lake day up to the last of them that the serving table does not hold yet (so the first
publish also loads the history); tables without a day column (mart_zone_profile, geo_h3_cells)
are replaced whole. Everything of one publish run happens in ONE transaction, views included:
readers see the old state or the new one, never a mix, and a rerun gives the same rows. The
DuckDB file is never written in place: the run works on a copy that replaces the file
(``os.replace``) only after its commit, so readers holding the file open (Superset, read-only)
neither block the publish nor see a half-written state.
"""

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from jobs.common.config import Paths
from jobs.common.contracts import TYPE_MAP, Contract, all_contracts
from jobs.publish.views import VIEWS, View

DUCKDB, POSTGRES = "duckdb", "postgres"


def published_contracts() -> list[Contract]:
    """Every table contract with ``published: true``, by name."""
    return [c for c in all_contracts("table") if c.published]


def day_column(c: Contract) -> str | None:
    return next((p for p in c.partition_by if c.column(p).type == "date"), None)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


# ---------------------------------------------------------------- reading the lake
def lake_files(paths: Paths, c: Contract) -> str | None:
    """The Parquet glob of a table, or None when the lake holds no file of it."""
    root = paths.lake / c.name
    return str(root / "**" / "*.parquet") if any(root.glob("**/*.parquet")) else None


def lake_days(paths: Paths, c: Contract) -> list[date]:
    """Days (values of the day column) with a partition folder in the lake."""
    col = day_column(c)
    if col is None:
        return []
    found = set()
    for p in (paths.lake / c.name).glob(f"**/{col}=*"):
        if p.is_dir() and any(p.glob("**/*.parquet")):
            found.add(date.fromisoformat(p.name.split("=", 1)[1][:10]))
    return sorted(found)


def lake_select(paths: Paths, c: Contract, days: Iterable[date] | None = None) -> str | None:
    """DuckDB SELECT of the table's contract columns (cast to the contract types) for ``days``
    (all rows when None or when the table has no day column); None when nothing is in the lake."""
    files = lake_files(paths, c)
    if files is None:
        return None
    cols = ", ".join(f"CAST({_q(col.name)} AS {TYPE_MAP[col.type][1] if col.type in TYPE_MAP else 'JSON'}) "
                     f"AS {_q(col.name)}" for col in c.columns)
    sql = (f"SELECT {cols} FROM read_parquet({_lit(files)}, hive_partitioning = true, "
           "union_by_name = true)")
    col = day_column(c)
    if col is not None and days is not None:
        sql += f" WHERE CAST({_q(col)} AS DATE) IN ({', '.join(f'DATE {_lit(d.isoformat())}' for d in days)})"
    return sql


def read_lake(paths: Paths, c: Contract, days: Iterable[date] | None = None,
              con: duckdb.DuckDBPyConnection | None = None) -> pd.DataFrame | None:
    """The table's rows for ``days`` as pandas (None when the lake has none)."""
    sql = lake_select(paths, c, None if days is None else list(days))
    if sql is None:
        return None
    con = con or duckdb.connect()
    return con.execute(sql).df()


# ---------------------------------------------------------------- targets
@dataclass
class Target:
    """An open serving database: DuckDB file or PostgreSQL connection (autocommit off)."""

    kind: str
    conn: Any
    schema: str | None = None
    reader: duckdb.DuckDBPyConnection = field(default_factory=duckdb.connect)
    swap: tuple[Path, Path] | None = None      # DuckDB: (working copy, file it replaces on close)
    committed: bool = False

    def table(self, name: str) -> str:
        return (f"{_q(self.schema)}." if self.schema else "") + _q(name)

    def execute(self, sql: str, params: tuple = ()) -> None:
        if self.kind == DUCKDB:
            self.conn.execute(sql, list(params) if params else None)
        else:
            with self.conn.cursor() as cur:
                cur.execute(sql, params or None)

    def rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        if self.kind == DUCKDB:
            return self.conn.execute(sql, list(params) if params else None).fetchall()
        with self.conn.cursor() as cur:
            cur.execute(sql, params or None)
            return cur.fetchall()

    def begin(self) -> None:
        if self.kind == DUCKDB:
            self.conn.execute("BEGIN TRANSACTION")

    def commit(self) -> None:
        self.conn.commit() if self.kind == POSTGRES else self.conn.execute("COMMIT")
        self.committed = True

    def rollback(self) -> None:
        self.conn.rollback() if self.kind == POSTGRES else self.conn.execute("ROLLBACK")

    def close(self) -> None:
        """Close; a committed DuckDB working copy then atomically replaces the served file."""
        self.conn.close()
        self.reader.close()
        if self.swap:
            work, final = self.swap
            if self.committed:
                os.replace(work, final)
            for leftover in (work, Path(str(work) + ".wal")):
                leftover.unlink(missing_ok=True)

    # ------------------------------------------------------------ catalogue
    def columns(self, name: str) -> list[str]:
        """Columns of a table or view in order; [] when it does not exist."""
        schema = self.schema or ("main" if self.kind == DUCKDB else "public")
        return [r[0] for r in self.rows(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
            "ORDER BY ordinal_position".replace("%s", "?" if self.kind == DUCKDB else "%s"), (schema, name))]

    def days(self, c: Contract) -> set[date]:
        col = day_column(c)
        return {r[0] for r in self.rows(f"SELECT DISTINCT {_q(col)} FROM {self.table(c.name)}")}

    def ddl(self, c: Contract) -> str:
        return c.duckdb_ddl(f"{self.schema}.{c.name}" if self.schema else c.name) if self.kind == DUCKDB \
            else c.postgres_ddl(self.schema)

    # ------------------------------------------------------------ loading
    def insert(self, c: Contract, select_sql: str) -> int:
        """Insert the rows of a DuckDB SELECT over the lake; returns rows inserted."""
        cols = ", ".join(_q(x) for x in c.column_names)
        if self.kind == DUCKDB:                 # DuckDB reads the Parquet itself
            return int(self.conn.execute(f"INSERT INTO {self.table(c.name)} ({cols}) {select_sql}").fetchone()[0])
        with tempfile.TemporaryDirectory(prefix="geopulse_publish_") as tmp:
            csv = Path(tmp) / f"{c.name}.csv"
            self.reader.execute(f"COPY ({select_sql}) TO {_lit(str(csv))} (FORMAT csv, HEADER true)")
            with self.conn.cursor() as cur, open(csv, encoding="utf-8") as fh:
                cur.copy_expert(f"COPY {self.table(c.name)} ({cols}) FROM STDIN WITH (FORMAT csv, HEADER true)", fh)
                return int(cur.rowcount)


def open_target(paths: Paths, url: str | None = None, schema: str | None = None) -> Target:
    """The serving database: the PostgreSQL ``url`` when given, else the DuckDB file."""
    if url:
        import psycopg2

        conn = psycopg2.connect(url)
        conn.autocommit = False
        with conn.cursor() as cur:
            cur.execute("SET TIME ZONE 'UTC'")
        conn.commit()
        return Target(POSTGRES, conn, schema or "public")
    final = paths.serving_db
    final.parent.mkdir(parents=True, exist_ok=True)
    work = final.with_name(f".{final.name}.publish-{os.getpid()}")
    work.unlink(missing_ok=True)
    if final.exists():                 # readers (Superset) may hold the file open: never write it in place
        shutil.copyfile(final, work)
    return Target(DUCKDB, duckdb.connect(str(work)), schema, swap=(work, final))


# ---------------------------------------------------------------- one publish
@dataclass
class LoadResult:
    rows: dict[str, int] = field(default_factory=dict)          # table -> rows inserted this run
    days: dict[str, list[date]] = field(default_factory=dict)   # table -> days replaced (empty: whole)
    missing: list[str] = field(default_factory=list)            # published tables absent from the lake
    views: list[str] = field(default_factory=list)


def plan_days(paths: Paths, c: Contract, held: set[date] | None, days: list[date]) -> list[date] | None:
    """Days of ``c`` to (re)load: ``days`` present in the lake plus lake days up to max(days) that
    the serving table lacks; None = the whole table (no day column)."""
    if day_column(c) is None:
        return None
    in_lake = lake_days(paths, c)
    last = max(days)
    if day_column(c) == "month":                       # a month partition holds the month to date
        days = [d.replace(day=1) for d in days]
    return sorted({d for d in in_lake if d in days or (d <= last and d not in (held or set()))})


def load(target: Target, paths: Paths, contracts: list[Contract], days: list[date],
         plans: dict[str, list[date] | None] | None = None,
         after: Callable[[Target, LoadResult], None] | None = None) -> LoadResult:
    """Replace the planned days of every contract's table (``plans``: table -> days, None = whole;
    default: ``plan_days``) and recreate the views, then ``after`` (e.g. the grants), in ONE
    transaction (rolled back on any error)."""
    result = LoadResult()
    target.begin()
    try:
        for v in reversed(VIEWS):
            target.execute(f"DROP VIEW IF EXISTS {target.table(v.name)}")
        for c in contracts:
            existing = target.columns(c.name)
            if existing and existing != c.column_names:           # the contract changed: rebuild
                target.execute(f"DROP TABLE {target.table(c.name)}")
                existing = []
            if not existing:
                for stmt in _statements(target.ddl(c)):
                    target.execute(stmt)
            if lake_files(paths, c) is None:
                result.missing.append(c.name)
                continue
            plan = (plans or {}).get(c.name, "auto")
            if plan == "auto":
                held = target.days(c) if existing and day_column(c) else set()
                plan = plan_days(paths, c, held, days)
            if plan is None:
                target.execute(f"DELETE FROM {target.table(c.name)}")
                result.rows[c.name] = target.insert(c, lake_select(paths, c))
                result.days[c.name] = []
            elif plan:
                col = day_column(c)
                marks = ", ".join("?" if target.kind == DUCKDB else "%s" for _ in plan)
                target.execute(f"DELETE FROM {target.table(c.name)} WHERE {_q(col)} IN ({marks})", tuple(plan))
                result.rows[c.name] = target.insert(c, lake_select(paths, c, plan))
                result.days[c.name] = plan
        present = {c.name for c in contracts if c.name not in result.missing} | {
            name for name in {t for v in VIEWS for t in v.tables} if target.columns(name)}
        for v in VIEWS:
            if all(t in present for t in v.tables):
                create_view(target, v)
                result.views.append(v.name)
        if after is not None:
            after(target, result)
        target.commit()
    except BaseException:
        target.rollback()
        raise
    return result


def create_view(target: Target, v: View) -> None:
    sql = v.sql
    if target.schema:                                  # qualify the published tables it reads
        for t in sorted(v.tables, key=len, reverse=True):
            sql = _qualify(sql, t, target.table(t))
    target.execute(f"CREATE VIEW {target.table(v.name)} AS {sql}")
    target.execute(f"COMMENT ON VIEW {target.table(v.name)} IS {_lit(v.description)}")
    if target.kind == POSTGRES:                        # DuckDB keeps column comments for tables only
        for col, text in v.columns:
            target.execute(f"COMMENT ON COLUMN {target.table(v.name)}.{_q(col)} IS {_lit(text)}")


def _qualify(sql: str, table: str, qualified: str) -> str:
    import re

    return re.sub(rf"(?<![\w.\"]){re.escape(table)}(?![\w\"])", qualified, sql)


def _statements(ddl: str) -> list[str]:
    """Split contract DDL into statements (the comments' literals never contain ';\\n')."""
    return [s.strip() for s in ddl.split(";\n") if s.strip().rstrip(";")]


def serving_url_from_env() -> str | None:
    return os.environ.get("GEOPULSE_SERVING_URL") or None
