"""PostgreSQL roles: log in as each role and prove what it can and cannot read; the grants follow
the contracts' access levels; PUBLIC and roles without a level read nothing; no private table is
in the serving database."""

import secrets

import psycopg2
import pytest

from jobs.common.contracts import all_contracts
from jobs.publish import roles
from jobs.publish.run import run as publish
from jobs.publish.views import ACCESS_LEVELS, VIEWS


def as_role(pg_url: str, role: str) -> psycopg2.extensions.connection:
    base, db = pg_url.rsplit("/", 1)
    return psycopg2.connect(base.replace("postgres@", f"{role}@", 1) + "/" + db)


def can_read(conn, relation: str) -> bool:
    with conn.cursor() as cur:
        try:
            cur.execute(f"SELECT count(*) FROM {relation}")
            cur.fetchone()
            return True
        except psycopg2.errors.InsufficientPrivilege:
            return False
        finally:
            conn.rollback()


@pytest.fixture
def published(mini_lake, mini, city_cfg, pg_url):
    publish(None, city_cfg, mini_lake, mini.days[-1], pg_url, log=lambda _: None)
    return pg_url


EXPECTED = {   # relation -> roles that read it (the marts the dashboards and analysts use)
    "mart_mobility_index": {"viewer", "epi", "engineer"},
    "geo_h3_cells": {"viewer", "epi", "engineer"},
    "v_people_h3_day": {"viewer", "epi", "engineer"},
    "v_indicator_public_day": {"viewer", "epi", "engineer"},
    "mart_indicator_daily": {"epi", "engineer"},
    "v_indicator_district_day": {"epi", "engineer"},
    "mart_lagcorr": {"epi", "engineer"},
    "mart_forecast": {"epi", "engineer"},
    "mart_alerts": {"epi", "engineer"},
    "v_alerts_current": {"epi", "engineer"},
    "dq_results": {"engineer"},
    "ops_recompute_requests": {"engineer"},
    "v_dq_feed_day": {"engineer"},
}


@pytest.mark.parametrize("level", ACCESS_LEVELS)
def test_each_role_reads_exactly_its_level(published, level):
    conn = as_role(published, roles.ROLES[level])
    try:
        got = {rel: can_read(conn, rel) for rel in EXPECTED}
    finally:
        conn.close()
    assert got == {rel: level in who for rel, who in EXPECTED.items()}


def test_viewer_sees_people_but_no_health_through_views(published):
    conn = as_role(published, roles.ROLES["viewer"])
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT DISTINCT source FROM v_indicator_public_day ORDER BY 1")
            assert [r[0] for r in cur.fetchall()] == ["mobility", "people", "restriction"]
            cur.execute("SELECT count(*), count(DISTINCT indicator) FROM v_people_h3_day")
            rows, indicators = cur.fetchone()
            assert rows > 0 and indicators == 1
    finally:
        conn.close()


def test_grants_follow_the_contracts(published):
    """has_table_privilege for every published table and view equals the contract's level."""
    levels = {c.name: roles.access_level(c) for c in all_contracts("table") if c.published}
    levels |= {v.name: v.access for v in VIEWS}
    with psycopg2.connect(published) as conn, conn.cursor() as cur:
        for name, level in levels.items():
            for other in ACCESS_LEVELS:
                cur.execute("SELECT has_table_privilege(%s, %s, 'SELECT')", (roles.ROLES[other], f"public.{name}"))
                allowed = ACCESS_LEVELS.index(other) >= ACCESS_LEVELS.index(level)
                assert cur.fetchone()[0] is allowed, (name, other)
        cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
        served = {r[0] for r in cur.fetchall()}
    conn.close()
    assert served == set(levels)                                     # no private or unpublished table
    private = {c.name for c in all_contracts("table") if c.layer == "private" or not c.published}
    assert not served & private


def test_a_login_without_a_level_reads_nothing(published, pg_server):
    role = f"geopulse_test_nobody_{secrets.token_hex(3)}"
    admin = psycopg2.connect(pg_server + "/postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE ROLE "{role}" LOGIN')
    try:
        conn = as_role(published, role)
        try:
            assert not any(can_read(conn, rel) for rel in EXPECTED)
        finally:
            conn.close()
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP ROLE "{role}"')
        admin.close()
