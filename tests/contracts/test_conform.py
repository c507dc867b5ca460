"""conform(): frames come back in contract order or fail naming the table, column and rule."""

from datetime import date, datetime

import pandas as pd
import pytest
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs.common.conform import ContractViolation, conform
from jobs.common.contracts import load_contract

EVENTS = load_contract("stg_operator__events")
TABLE = EVENTS.name


def _rows(n: int = 3) -> list[tuple]:
    return [(date(2020, 3, 1), "401-02", 1000 + i, datetime(2020, 3, 1, 4, i), f"401-02-101-{i}",
             "voice", "operator_kcell/dt=2020-03-01/events_401-02_20200301_p001.csv.gz", i + 1)
            for i in range(n)]


@pytest.fixture(scope="module")
def events(spark):
    return spark.createDataFrame(_rows(), EVENTS.spark_schema())


def _violation(df, contract=EVENTS, **kw) -> str:
    with pytest.raises(ContractViolation) as exc:
        conform(df, contract, **kw)
    assert isinstance(exc.value, ValueError)
    return str(exc.value)


# ---------------------------------------------------------------- Spark
def test_valid_spark_frame_passes_in_contract_order(events):
    shuffled = events.select(*reversed(events.columns))
    out = conform(shuffled, TABLE)
    assert out.columns == EVENTS.column_names
    assert out.count() == 3


def test_spark_safe_widening_is_cast(spark, events):
    narrow = events.withColumn("source_row", F.col("source_row").cast("int"))
    out = conform(narrow, EVENTS)
    assert out.schema["source_row"].dataType == T.LongType()
    dq = load_contract("dq_results")
    df = spark.createDataFrame([("t", date(2020, 3, 1), "rows", 1.5, None, "pass", None)],
                               "feed_or_table string, ds date, check_name string, value float, "
                               "threshold double, status string, detail string")
    assert conform(df, dq).schema["value"].dataType == T.DoubleType()


def test_spark_missing_and_extra_columns(events):
    msg = _violation(events.drop("cgi").withColumn("imsi", F.lit("x")))
    assert f"{TABLE}.cgi: missing column" in msg
    assert f"{TABLE}.imsi: extra column" in msg


def test_spark_wrong_type(events):
    msg = _violation(events.withColumn("subscriber_key", F.col("subscriber_key").cast("string")))
    assert f"{TABLE}.subscriber_key: wrong type: string in the frame, bigint in the contract" in msg
    msg = _violation(events.withColumn("event_ts_utc", F.col("ds")))
    assert f"{TABLE}.event_ts_utc: wrong type: date" in msg


def test_spark_narrowing_is_not_safe(spark):
    presence = load_contract("agg_presence__h3_hour")
    df = spark.createDataFrame([(date(2020, 3, 1), 5, "88217a6a67fffff", 8, "Almaly", 20, 40.0, 100, False)],
                               presence.spark_schema()).withColumn("hour", F.col("hour").cast("bigint"))
    msg = _violation(df, presence)
    assert "agg_presence__h3_hour.hour: wrong type: bigint in the frame, int in the contract" in msg


def test_spark_null_in_key_and_non_nullable(spark):
    rows = _rows()
    rows[1] = (None,) + rows[1][1:]
    rows[2] = rows[2][:5] + (None,) + rows[2][6:]
    loose = T.StructType([T.StructField(f.name, f.dataType, True) for f in EVENTS.spark_schema()])
    msg = _violation(spark.createDataFrame(rows, loose))
    assert f"{TABLE}.ds: null in non-nullable column: 1 row(s)" in msg
    assert f"{TABLE}.event_type: null in non-nullable column: 1 row(s)" in msg


def test_spark_duplicate_grain_key(spark):
    rows = _rows() + [_rows()[1]]
    msg = _violation(spark.createDataFrame(rows, EVENTS.spark_schema()))
    assert f"{TABLE}.ds,operator,source_file,source_row: duplicate grain key: 1 key(s) repeated" in msg
    assert "source_row=2" in msg and "occurs 2 times" in msg
    assert conform(spark.createDataFrame(rows, EVENTS.spark_schema()), EVENTS, check_keys=False).count() == 4


def test_spark_values_outside_allowed_range_and_pattern(spark):
    rows = _rows()
    rows[0] = rows[0][:5] + ("fax",) + rows[0][6:]
    rows[1] = rows[1][:1] + ("40102",) + rows[1][2:7] + (0,)
    msg = _violation(spark.createDataFrame(rows, EVENTS.spark_schema()))
    assert (f"{TABLE}.event_type: value not allowed (allowed: voice, sms, data, handover): "
            "1 row(s), e.g. 'fax'") in msg
    assert f"{TABLE}.operator: pattern mismatch" in msg and "'40102'" in msg
    assert f"{TABLE}.source_row: below min (min 1): 1 row(s), e.g. 0" in msg


def test_spark_all_null_literal_column_is_typed(spark):
    dq = load_contract("dq_results")
    df = spark.createDataFrame([("t", date(2020, 3, 1), "rows", 1.0, "pass")],
                               "feed_or_table string, ds date, check_name string, value double, "
                               "status string")
    df = df.withColumn("threshold", F.lit(None)).withColumn("detail", F.lit(None))
    out = conform(df, dq)
    assert out.columns == dq.column_names and out.schema["detail"].dataType == T.StringType()


# ---------------------------------------------------------------- pandas
def _pandas_events(n: int = 3) -> pd.DataFrame:
    df = pd.DataFrame(_rows(n), columns=EVENTS.column_names)
    df["event_ts_utc"] = pd.to_datetime(df["event_ts_utc"]).dt.tz_localize("UTC")
    return df


def test_valid_pandas_frame_passes_in_contract_order():
    df = _pandas_events()
    out = conform(df[list(reversed(df.columns))], EVENTS)
    assert list(out.columns) == EVENTS.column_names and len(out) == 3
    assert str(out["event_ts_utc"].dtype).endswith("UTC]")


def test_pandas_failures_name_table_column_and_rule():
    df = _pandas_events().drop(columns=["cgi"]).assign(imsi="x")
    msg = _violation(df)
    assert f"{TABLE}.cgi: missing column" in msg and f"{TABLE}.imsi: extra column" in msg

    msg = _violation(_pandas_events().assign(subscriber_key=lambda d: d["subscriber_key"].astype(float)))
    assert f"{TABLE}.subscriber_key: wrong type: float64 in the frame, bigint in the contract" in msg

    df = _pandas_events()
    df.loc[0, "cgi"] = None
    assert f"{TABLE}.cgi: null in non-nullable column: 1 row(s)" in _violation(df)

    df = pd.concat([_pandas_events(), _pandas_events().iloc[[2]]])
    msg = _violation(df)
    assert f"{TABLE}.ds,operator,source_file,source_row: duplicate grain key" in msg and "source_row=3" in msg

    df = _pandas_events()
    df.loc[1, "event_type"] = "telex"
    assert f"{TABLE}.event_type: value not allowed" in _violation(df) and "'telex'" in _violation(df)


def test_pandas_int_columns_accept_int64_values_that_fit():
    presence = load_contract("agg_presence__h3_hour")
    df = pd.DataFrame({"ds": [date(2020, 3, 1)], "hour": [5], "h3_cell": ["88217a6a67fffff"],
                       "resolution": [8], "district": ["Almaly"], "subscribers": [None],
                       "people_est": [None], "events": pd.array([None], dtype="Int64"),
                       "suppressed": [True]})
    out = conform(df, presence)
    assert str(out["hour"].dtype) == "int32" and str(out["subscribers"].dtype) == "Int64"
    df["hour"] = [2**40]
    assert "agg_presence__h3_hour.hour: wrong type" in _violation(df, presence)
    df["hour"] = [25]
    assert "agg_presence__h3_hour.hour: above max (max 23)" in _violation(df, presence)


def test_pandas_dates_and_timestamps():
    df = _pandas_events()
    df["ds"] = pd.to_datetime(df["ds"])                 # midnight datetimes become dates
    out = conform(df, EVENTS)
    assert out["ds"].iloc[0] == date(2020, 3, 1)
    df["ds"] = df["ds"] + pd.Timedelta(hours=3)
    assert f"{TABLE}.ds: wrong type" in _violation(df)
    df = _pandas_events()
    df["event_ts_utc"] = df["event_ts_utc"].astype(str)
    assert f"{TABLE}.event_ts_utc: wrong type" in _violation(df)


def test_conform_rejects_other_objects():
    with pytest.raises(TypeError, match="stg_operator__events"):
        conform([1, 2, 3], EVENTS)


def test_empty_frames_conform(spark):
    assert conform(spark.createDataFrame([], EVENTS.spark_schema()), EVENTS).count() == 0
    empty = pd.DataFrame({name: pd.Series([], dtype=object) for name in EVENTS.column_names})
    assert list(conform(empty, EVENTS).columns) == EVENTS.column_names


def test_complex_feed_columns(spark):
    receipts = load_contract("pharmacy_receipts")
    row = ("r1", "k1", "p1", datetime(2020, 3, 1, 4, 23), 1200.0, [("N02B", 2, 800.0)])
    df = spark.createDataFrame([row], receipts.spark_schema())
    assert conform(df, receipts).columns == receipts.column_names
    flat = df.withColumn("items", F.to_json("items"))
    msg = _violation(flat, receipts)
    assert "pharmacy_receipts.items: wrong type: string in the frame, array<struct<" in msg


def test_duplicate_report_counts_the_example_key(spark):
    rows = _rows() + [_rows()[0]] * 2 + [_rows()[1]]
    msg = _violation(spark.createDataFrame(rows, EVENTS.spark_schema()))
    assert "2 key(s) repeated" in msg
    example = msg.split("source_row=")[1]
    assert example.startswith("1) occurs 3 times") or example.startswith("2) occurs 2 times")
    pmsg = _violation(pd.concat([_pandas_events(), _pandas_events().iloc[[0, 0, 1]]]))
    assert "2 key(s) repeated" in pmsg and "source_row=1) occurs 3 times" in pmsg
