"""PostgreSQL roles of the serving database and their grants, derived from the contracts.

Reads the contracts' ``access`` (``viewer`` | ``epi`` | ``engineer``) and each view's level in
``jobs.publish.views``; writes roles (cluster-wide, created once, LOGIN, password from the
environment when set) and grants in the serving schema. Levels nest: geopulse_epi is a member of
geopulse_viewer, geopulse_engineer of geopulse_epi, so each reads what the levels below read:

- geopulse_viewer: suppressed city marts (mobility index, zone profile, restriction impact), the
  H3 cells, and the viewer views (people maps and public indicators, no health figure);
- geopulse_epi: + mart_indicator_daily (district-level health counts), lagcorr/leadlag,
  forecasts and skill, alerts, and their views;
- geopulse_engineer: + dq_results and ops tables.
PUBLIC gets nothing on the serving tables; private (subscriber-level) tables are never loaded, so
no role can read them. A contract without ``access`` defaults to ``engineer`` for ops tables,
``viewer`` for geo tables and ``epi`` otherwise (the safer side).
"""

import os

from jobs.common.contracts import Contract

ROLES = {"viewer": "geopulse_viewer", "epi": "geopulse_epi", "engineer": "geopulse_engineer"}
MEMBER_OF = {"epi": "viewer", "engineer": "epi"}


def access_level(c: Contract) -> str:
    if c.access:
        return c.access
    return {"ops": "engineer", "geo": "viewer"}.get(c.layer, "epi")


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def ensure_roles(conn) -> None:
    """Create the three roles when missing (autocommit; roles belong to the whole cluster) and
    set each one's password from ``GEOPULSE_<LEVEL>_PASSWORD`` when that is set."""
    import psycopg2

    old = conn.autocommit
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for level, role in ROLES.items():
                cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
                if cur.fetchone() is None:
                    try:
                        cur.execute(f"CREATE ROLE {_q(role)} LOGIN")
                    except psycopg2.errors.DuplicateObject:       # created meanwhile by another session
                        pass
                cur.execute(f"ALTER ROLE {_q(role)} LOGIN")
                password = os.environ.get(f"GEOPULSE_{level.upper()}_PASSWORD")
                if password:
                    cur.execute(f"ALTER ROLE {_q(role)} PASSWORD %s", (password,))
            for level, parent in MEMBER_OF.items():
                cur.execute(f"GRANT {_q(ROLES[parent])} TO {_q(ROLES[level])}")
    finally:
        conn.autocommit = old


def grant_statements(schema: str, tables: dict[str, str]) -> list[str]:
    """GRANT/REVOKE statements giving each table or view (name -> level) to its level's role."""
    everyone = ", ".join(_q(r) for r in ROLES.values())
    out = [f"GRANT USAGE ON SCHEMA {_q(schema)} TO {everyone}"]
    for name, level in sorted(tables.items()):
        obj = f"{_q(schema)}.{_q(name)}"
        out += [f"REVOKE ALL ON {obj} FROM PUBLIC, {everyone}", f"GRANT SELECT ON {obj} TO {_q(ROLES[level])}"]
    return out
