"""The pure pieces the DAGs rely on: which days a run covers, when a delivery is ready, the DQ
gate's verdicts, the failure line."""

import os
import time
from datetime import date, timedelta

import pytest

D = date(2020, 3, 16)


def test_days_from_events_conf_and_logical_day():
    from geopulse_dags.days import days_from, local_day

    extras = [{"days": ["2020-03-17"], "delivered": ["2020-03-17"]},
              {"days": ["2020-03-12", "2020-03-17"], "delivered": ["2020-03-17"]}]
    assert days_from(extras, {}, None) == (["2020-03-12", "2020-03-17"], ["2020-03-17"])
    assert days_from([], {"start": "2020-03-16", "end": "2020-03-18"}, "2020-03-01")[0] == \
        ["2020-03-16", "2020-03-17", "2020-03-18"]
    assert days_from([], {}, "2020-03-16") == (["2020-03-16"], ["2020-03-16"])
    with pytest.raises(ValueError, match="no day to work on"):
        days_from([], {}, None)
    import pendulum

    # the scheduled run of local day 2020-03-16 starts at local midnight = 18:00 UTC the day before
    assert local_day(pendulum.datetime(2020, 3, 15, 18, tz="UTC"), "Asia/Almaty") == "2020-03-16"
    assert local_day(pendulum.datetime(2020, 3, 16, tz="UTC"), "Asia/Almaty") == "2020-03-16"


def test_arrival_waits_for_files_to_settle(tmp_path):
    from jobs.ingest.arrival import arrival

    folder = tmp_path / "ambulance" / "dt=2020-03-16"
    assert not arrival(tmp_path, "ambulance", D, time.time(), 60).ready
    folder.mkdir(parents=True)
    part = folder / "ambulance_2020-03-16.csv.part"
    part.write_text("x")
    now = time.time()
    state = arrival(tmp_path, "ambulance", D, now + 600, 60)
    assert not state.ready and "still being written" in state.describe()
    part.rename(folder / "ambulance_2020-03-16.csv")
    assert not arrival(tmp_path, "ambulance", D, now + 10, 60).ready          # changed 10 s ago
    state = arrival(tmp_path, "ambulance", D, now + 61, 60)
    assert state.ready and state.files == 1


def test_gate_volume_and_quarantine_rules():
    from jobs.ingest.gate import evaluate

    s = {"trailing_days": 14, "min_history_days": 5, "min_ratio": 0.5, "max_ratio": 3.0,
         "max_quarantine_share": 0.05, "volume_rule_feeds": ["operator_kcell"]}
    history = {D - timedelta(n): 1000.0 for n in range(1, 8)}
    ok = evaluate("operator_kcell", D, history | {D: 900.0}, 10.0, s)
    assert [r.status for r in ok] == ["pass", "pass"]
    low = evaluate("operator_kcell", D, history | {D: 300.0}, 0.0, s)
    assert low[0].rule == "rows_vs_trailing_median" and low[0].status == "fail"
    assert "ratio 0.30 outside [0.5, 3.0]" in low[0].line()
    dirty = evaluate("operator_kcell", D, history | {D: 1000.0}, 80.0, s)
    assert dirty[1].rule == "quarantine_share" and dirty[1].status == "fail" and "8.0%" in dirty[1].detail
    young = evaluate("operator_kcell", D, {D - timedelta(1): 10.0, D: 1000.0}, 0.0, s)
    assert young[0].status == "pass" and "not applied" in young[0].detail
    assert evaluate("morbidity", D, {D: 8.0}, 0.0, s)[0].rule == "quarantine_share"   # no volume rule
    missing = evaluate("operator_kcell", D, history, 0.0, s)
    assert missing[0].status == "fail" and "no rows_received" in missing[0].detail


def test_failure_summary_names_feed_day_and_rule():
    from geopulse_dags.callbacks import failure_summary

    exc = RuntimeError("ingest failed (exit code 1):\noperator_kcell: file operator_kcell/dt=2020-03-23/x.csv.gz "
                       "rejected [unreadable_file]: gzip stream")
    line = failure_summary("ingest_operator_kcell", "stage", "2020-03-23", exc)
    assert line.startswith("GEOPULSE FAILURE dag=ingest_operator_kcell task=stage feed=operator_kcell "
                           "day=2020-03-23 rule=unreadable_file:")
    gate = failure_summary("ingest_ambulance", "dq_gate", "2020-03-16",
                           RuntimeError("data-quality gate failed:\n  - ambulance 2020-03-16 [quarantine_share] FAIL"))
    assert "rule=quarantine_share" in gate and "feed=ambulance" in gate
    assert "rule=TimeoutError" in failure_summary("aggregate_daily", "aggregate", None, TimeoutError("slow"))
