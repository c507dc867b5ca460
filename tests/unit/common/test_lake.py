"""Lake I/O: contract-conformed writes that replace exactly their partitions."""

from datetime import date

import pytest

from jobs.common.config import Paths
from jobs.common.conform import ContractViolation
from jobs.common.lake import read_table, table_path, write_table


@pytest.fixture
def paths(tmp_path):
    return Paths.from_env({"GEOPULSE_DATA": str(tmp_path)})


def morbidity_rows(ds, cases):
    return [{"ds": ds, "district": d, "new_cases": cases, "hospitalised": 1, "deaths": 0, "tests": 100,
             "revision": 1, "delivered_ds": ds, "source_file": "f.csv", "source_row": i + 1}
            for i, d in enumerate(["Almaly", "Medeu"])]


def frame(spark, rows):
    from jobs.common.contracts import load_contract

    c = load_contract("stg_morbidity__daily")
    cols = c.column_names
    return spark.createDataFrame([tuple(r.get(k) for k in cols) for r in rows], c.spark_schema())


def test_rewriting_a_day_replaces_only_that_day(spark, paths):
    d1, d2 = date(2020, 4, 1), date(2020, 4, 2)
    write_table(frame(spark, morbidity_rows(d1, 5) + morbidity_rows(d2, 7)), "stg_morbidity__daily", paths)
    write_table(frame(spark, morbidity_rows(d1, 9)), "stg_morbidity__daily", paths)
    got = {(r.ds, r.district): r.new_cases for r in read_table(spark, "stg_morbidity__daily", paths).collect()}
    assert got == {(d1, "Almaly"): 9, (d1, "Medeu"): 9, (d2, "Almaly"): 7, (d2, "Medeu"): 7}
    assert (table_path("stg_morbidity__daily", paths) / "ds=2020-04-02").is_dir()
    assert read_table(spark, "stg_morbidity__daily", paths, ds="2020-04-02").count() == 2


def test_a_frame_breaking_its_contract_is_not_written(spark, paths):
    bad = frame(spark, morbidity_rows(date(2020, 4, 1), 5)).drop("tests")
    with pytest.raises(ContractViolation, match="stg_morbidity__daily.tests"):
        write_table(bad, "stg_morbidity__daily", paths)
    assert not table_path("stg_morbidity__daily", paths).exists()


def test_private_tables_live_under_private(paths):
    assert table_path("private_home_work__subscriber_month", paths).parent.name == "private"
    assert table_path("stg_morbidity__daily", paths).parent == paths.lake


def test_unwritten_table_reads_empty_with_its_columns(spark, paths):
    df = read_table(spark, "stg_ambulance__calls", paths)
    assert df.count() == 0 and "call_id" in df.columns
