"""Every contract becomes a real Spark schema, DuckDB table and PostgreSQL table."""

import gzip
from datetime import datetime, timezone

import duckdb
import pytest

from jobs.common.contracts import all_contracts, load_contract

CONTRACTS = all_contracts()


def test_spark_schemas_build_frames(spark):
    for c in CONTRACTS:
        df = spark.createDataFrame([], c.spark_schema())
        assert df.columns == c.column_names, c.name
        for field, col in zip(df.schema.fields, c.columns):
            assert field.nullable == col.nullable, (c.name, col.name)
    items = load_contract("pharmacy_receipts").spark_schema()["items"].dataType
    assert items.simpleString() == "array<struct<atc:string,qty:int,amount:double>>"


def test_feed_contract_reads_a_kcell_file(spark, tmp_path):
    """The format block drives Spark's reader: local Almaty time becomes the UTC instant."""
    c = load_contract("operator_kcell")
    path = tmp_path / "events_401-02_20200301_p001.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("MSISDN_HASH;EVENT_TIME;LAC;CELL_ID;EVENT_TYPE\n")
        fh.write("0123456789ABCDEF;01.03.2020 08:30:00;101;2001;VOICE\n")
    rows = spark.read.options(**c.read_options()).schema(c.spark_schema()).csv(str(path)).collect()
    assert rows[0]["LAC"] == 101 and rows[0]["EVENT_TYPE"] == "VOICE"
    # Spark returns naive datetimes in the session zone (UTC); 08:30 in Almaty (UTC+6) is 02:30Z.
    utc = rows[0]["EVENT_TIME"].replace(tzinfo=timezone.utc)
    assert utc == datetime(2020, 3, 1, 2, 30, tzinfo=timezone.utc)


def test_duckdb_ddl_creates_every_table():
    con = duckdb.connect()
    for c in CONTRACTS:
        con.execute(c.duckdb_ddl())
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert tables == {c.name for c in CONTRACTS}
    comment = con.execute("SELECT comment FROM duckdb_columns() WHERE table_name = "
                          "'agg_presence__h3_hour' AND column_name = 'people_est'").fetchone()[0]
    assert comment.startswith("Estimated people present") and "Unit: people." in comment
    con.execute("INSERT INTO dq_results VALUES ('x', DATE '2020-03-01', 'rows', 1, NULL, 'pass', NULL)")
    with pytest.raises(duckdb.ConstraintException):
        con.execute("INSERT INTO dq_results VALUES ('x', DATE '2020-03-01', 'rows', 2, NULL, 'fail', NULL)")
    with pytest.raises(duckdb.ConstraintException):
        con.execute("INSERT INTO dq_results VALUES ('x', NULL, 'other', 2, NULL, 'fail', NULL)")


def test_duckdb_ddl_takes_a_qualified_name():
    con = duckdb.connect()
    con.execute("CREATE SCHEMA serving")
    con.execute(load_contract("mart_alerts").duckdb_ddl("serving.mart_alerts"))
    assert con.execute("SELECT count(*) FROM serving.mart_alerts").fetchone() == (0,)


def test_postgres_ddl_creates_every_table(pg_conn):
    cur = pg_conn.cursor()
    cur.execute("CREATE SCHEMA contracts")
    for c in CONTRACTS:
        cur.execute(c.postgres_ddl(schema="contracts"))
    cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'contracts'")
    assert {r[0] for r in cur.fetchall()} == {c.name for c in CONTRACTS}
    cur.execute("SELECT data_type FROM information_schema.columns WHERE table_schema = 'contracts' "
                "AND table_name = 'stg_operator__events' AND column_name = 'event_ts_utc'")
    assert cur.fetchone()[0] == "timestamp with time zone"
    cur.execute("SELECT data_type FROM information_schema.columns WHERE table_schema = 'contracts' "
                "AND table_name = 'pharmacy_receipts' AND column_name = 'items'")
    assert cur.fetchone()[0] == "jsonb"
    cur.execute("SELECT obj_description('contracts.mart_forecast'::regclass, 'pg_class')")
    assert cur.fetchone()[0] == load_contract("mart_forecast").description
    cur.execute("SELECT col_description('contracts.mart_lagcorr'::regclass, a.attnum) FROM pg_attribute a "
                "WHERE a.attrelid = 'contracts.mart_lagcorr'::regclass AND a.attname = 'lag_days'")
    assert "x leads y" in cur.fetchone()[0]
    cur.execute("SELECT count(*) FROM information_schema.table_constraints WHERE table_schema = 'contracts' "
                "AND constraint_type = 'PRIMARY KEY'")
    assert cur.fetchone()[0] == len(CONTRACTS)
    cur.execute("INSERT INTO contracts.geo_h3_cells VALUES ('88217a6a67fffff', 8, NULL, 'Almaly', "
                "'business_centre', 43.25, 76.9, 0.74, '{}')")
    with pytest.raises(Exception, match="null value"):
        cur.execute("INSERT INTO contracts.geo_h3_cells VALUES ('88217a6a6ffffff', 8, NULL, NULL, "
                    "'business_centre', 43.25, 76.9, 0.74, '{}')")
