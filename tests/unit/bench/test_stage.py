"""The bench's fast stager stages exactly the rows of the real operator ingest.

One tiny clean city-day (a few thousand events) goes through both: the real ingest (Spark,
``jobs.ingest.run``) into one lake and ``jobs.bench.stage`` into another; the staged
``stg_operator__events`` must be equal row for row (source_file and source_row included), read
back through the contract schema. Two exact duplicates are added to the Tele2 file first, so the
first-occurrence de-duplication is compared too. Rows the ingest would quarantine make the fast
stager raise instead.
"""

from dataclasses import replace
from datetime import date

import numpy as np
import pyarrow as pa
import pytest
from pyspark.testing import assertDataFrameEqual

from jobs.bench.stage import StageError, hex_keys_to_int64, stage_events, tele2_rows
from jobs.common.config import Paths
from jobs.common.lake import read_table
from jobs.ingest import run as ingest_run
from jobs.simulate.city import run_simulation
from jobs.simulate.context import SimParams
from jobs.simulate.keys import key_to_int64, subscriber_keys

DAY = date(2020, 3, 2)
FEEDS = ["operator_kcell", "operator_beeline", "operator_tele2"]


@pytest.mark.parametrize("operator,width,upper", [("kcell", 16, True), ("tele2", 16, False), ("beeline", 64, False)])
def test_hex_keys_as_the_reference(operator, width, upper):
    keys = subscriber_keys("salt", operator, "2020-03", np.arange(500)).astype(str).tolist()
    want = [key_to_int64(k) for k in keys]
    assert hex_keys_to_int64(pa.array(keys), width, upper).tolist() == want
    assert hex_keys_to_int64(pa.array(keys).dictionary_encode(), width, upper).tolist() == want
    assert any(w < 0 for w in want)                     # the sign bit is exercised


def test_rejects_what_ingest_quarantines(tmp_path):
    good = "sub_key,ts_ms,cgi,type\n00000000000000aa,1583085600000,401-77-1-2,1\n"
    (tmp_path / "ok.csv").write_text(good)
    assert len(tele2_rows(tmp_path / "ok.csv", "401-77", "Asia/Almaty", DAY)["key"]) == 1
    for name, line in {"bad_type": "00000000000000aa,NaN,401-77-1-2,1",
                       "wrong_day": "00000000000000aa,1583172000000,401-77-1-2,1",
                       "bad_key": "00000000000000AA,1583085600000,401-77-1-2,1",
                       "bad_value": "00000000000000aa,1583085600000,401-77-1-2,7"}.items():
        (tmp_path / f"{name}.csv").write_text(good + line + "\n")
        with pytest.raises((StageError, pa.ArrowInvalid)):
            tele2_rows(tmp_path / f"{name}.csv", "401-77", "Asia/Almaty", DAY)


@pytest.fixture(scope="module")
def tiny_day(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench_city")
    params = SimParams(start=DAY, days=1, subscribers=240, events_per_day=12, seed=5, dirt=0.0, health_scale=0.01)
    run_simulation(params, root / "landing")
    tele2 = next((root / "landing" / "operator_tele2").rglob("*.csv"))
    lines = tele2.read_text().splitlines()
    tele2.write_text("\n".join(lines[:6] + [lines[3]] + lines[6:] + [lines[9]]) + "\n")   # two exact duplicates
    return Paths(data=root, landing=root / "landing", lake=root / "lake_real", serving_db=root / "s.duckdb",
                 bench=root / "bench")


def test_rows_equal_the_real_ingest(spark, city_cfg, tiny_day):
    ingest_run.run(spark, city_cfg, DAY, tiny_day, feeds=FEEDS, workers=3)   # feeds side by side
    fast = replace(tiny_day, lake=tiny_day.data / "lake_fast")
    summary = stage_events(tiny_day.landing, fast.lake, city_cfg, DAY)
    assert sum(s["duplicates"] for s in summary) == 2
    real_rows = read_table(spark, "stg_operator__events", tiny_day)
    fast_rows = read_table(spark, "stg_operator__events", fast)
    assert fast_rows.count() == sum(s["rows_staged"] for s in summary) > 1000
    assertDataFrameEqual(fast_rows, real_rows)
