"""The publish task: privacy audit, then the serving database, as of one day.

Reads every published table of the lake (contracts with ``published: true``) for the days to
load (day ds, plus earlier lake days the serving database does not hold yet; whole tables
without a day column); writes them, the serving views and, on PostgreSQL, the roles' grants into
the serving database (``paths.serving_db``, or PostgreSQL with ``--url`` /
``GEOPULSE_SERVING_URL``), all in one transaction. The audit runs first over exactly what would
be loaded: one violation and nothing is published (``PrivacyAuditError``, exit code 1). A
published table missing from the lake (an analytics mart not built yet) is reported, not an error.

    python -m jobs.publish.run --ds 2020-04-30 [--url postgresql://user@host:5432/db]
    geopulse publish --ds 2020-04-30 [--url ...]
"""

import argparse
import sys
import time
from collections.abc import Callable
from datetime import date

from jobs.common.config import Paths, load_city
from jobs.publish import roles, serving
from jobs.publish.audit import PrivacyAuditError, audit_lake
from jobs.publish.views import VIEWS


def _plans(target: serving.Target, paths: Paths, contracts, ds: date) -> dict[str, list[date] | None]:
    plans = {}
    for c in contracts:
        if serving.lake_files(paths, c) is None:
            continue
        same = target.columns(c.name) == c.column_names
        held = target.days(c) if same and serving.day_column(c) else set()
        plans[c.name] = serving.plan_days(paths, c, held, [ds])
    return plans


def _grant(target: serving.Target, result: serving.LoadResult, contracts) -> None:
    levels = {c.name: roles.access_level(c) for c in contracts if target.columns(c.name)}
    levels |= {v.name: v.access for v in VIEWS if v.name in result.views}
    for stmt in roles.grant_statements(target.schema, levels):
        target.execute(stmt)


def run(spark_or_none, cfg: dict, paths: Paths, ds: date, serving_url: str | None = None,
        log: Callable[[str], None] = print) -> dict:
    """Audit and publish as of ``ds``. ``spark_or_none`` is accepted for the pipeline's uniform
    call and not needed (DuckDB reads the lake). Returns a report: target, rows and days per
    table, missing tables, views, rows audited."""
    started = time.monotonic()
    contracts = serving.published_contracts()
    schema = (cfg.get("publish") or {}).get("schema")
    target = serving.open_target(paths, serving_url, schema)
    try:
        plans = _plans(target, paths, contracts, ds)
        violations, checked = audit_lake(paths, cfg, plans, contracts)
        if violations:
            raise PrivacyAuditError(violations)
        log(f"[publish] privacy audit passed: {sum(checked.values())} rows of {len(checked)} tables checked")
        after = None
        if target.kind == serving.POSTGRES:
            target.conn.rollback()                       # end the read transaction before role DDL
            roles.ensure_roles(target.conn)
            after = (lambda t, r: _grant(t, r, contracts))
        result = serving.load(target, paths, contracts, [ds], plans, after)
    finally:
        target.close()
    where = "PostgreSQL" if serving_url else str(paths.serving_db)
    for name in result.missing:
        log(f"[publish] {name}: not in the lake yet, not published")
    log(f"[publish] {sum(result.rows.values())} rows into {len(result.rows)} tables and {len(result.views)} "
        f"views of {where} in {time.monotonic() - started:.1f} s")
    return {"ds": ds, "target": target.kind, "where": where, "rows": result.rows, "days": result.days,
            "missing": result.missing, "views": result.views, "audited_rows": checked}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m jobs.publish.run", description=__doc__.splitlines()[0])
    p.add_argument("--ds", type=date.fromisoformat, required=True, help="the day to publish (YYYY-MM-DD)")
    p.add_argument("--url", default=None,
                   help="PostgreSQL URL (default: $GEOPULSE_SERVING_URL, else the DuckDB file)")
    p.add_argument("--config", help="city config YAML (default: $GEOPULSE_CITY or Almaty)")
    a = p.parse_args(argv)
    try:
        run(None, load_city(a.config), Paths.from_env(), a.ds, a.url or serving.serving_url_from_env())
    except PrivacyAuditError as err:
        print(err, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
