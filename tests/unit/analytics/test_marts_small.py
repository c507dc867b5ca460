"""The two Spark jobs end to end on a small hand-made lake (one restriction, two geographies, 150
days): partitions written, contract conformed, as-of semantics, summaries. The year-city tests
(test_alerts.py, test_impact.py) check the values against the simulator's ground truth."""

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from jobs.analytics import alerts, impact
from jobs.analytics.detectors import METHODS
from jobs.common.config import Paths
from jobs.common.lake import read_table, write_table

START, DAYS = date(2020, 1, 1), 150
LOCKDOWN = date(2020, 3, 19)


def _indicator_rows() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    idx = pd.date_range(START, periods=DAYS)
    calls = rng.poisson(12, DAYS).astype(float)
    calls[120:] += 25                                          # an outbreak from day 120
    trips = np.where(idx >= pd.Timestamp(LOCKDOWN), 0.6, 1.5) * (1 + rng.normal(0, 0.02, DAYS))
    out = []
    for geo_level, geo_id in (("city", "Almaty"), ("district", "Medeu")):
        for ind, unit, v in (("ambulance_calls_respiratory_fever", "calls", calls),
                             ("mobility_trips_per_person", "trips", trips)):
            out += [dict(ds=d.date(), geo_level=geo_level, geo_id=geo_id, indicator=ind, value=float(x),
                         value_7d_mean=None, unit=unit, missing_code="not_missing", suppressed=False,
                         source_table="test") for d, x in zip(idx, v)]
    return pd.DataFrame(out)


@pytest.fixture(scope="module")
def small_lake(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("marts_small")
    paths = Paths(data=root, landing=root / "landing", lake=root / "lake", serving_db=root / "s.duckdb",
                  bench=root / "bench")
    write_table(spark.createDataFrame(_indicator_rows()), "mart_indicator_daily", paths)
    restrictions = pd.DataFrame([dict(ds=START, restriction_id="R1", start_date=LOCKDOWN,
                                      end_date=date(2020, 5, 11), scope="city", measure="lockdown",
                                      stringency=85.0, source_file="restrictions/x.csv", source_row=1)])
    write_table(spark.createDataFrame(restrictions), "stg_restrictions__restrictions", paths)
    return paths


def test_alert_job_writes_the_history_partitions_and_flags_the_outbreak(spark, small_lake, city_cfg):
    ds = START + timedelta(days=DAYS - 1)
    cfg = city_cfg | {"alerts": city_cfg["alerts"] | {"indicators": ["ambulance_calls_respiratory_fever"],
                                                       "history_days": 40}}
    n = alerts.run(spark, cfg, small_lake, ds)
    rows = read_table(spark, alerts.TABLE, small_lake).toPandas()
    assert n == len(rows) == 40 * 2 * len(METHODS)
    assert rows["ds"].min() == ds - timedelta(days=39) and rows["ds"].max() == ds
    onset = START + timedelta(days=120)
    first = rows[(rows["alert_level"] != "none") & (rows["ds"] >= onset)]["ds"].min()
    assert first == onset
    assert rows[rows["ds"] < onset]["alert_level"].eq("none").mean() > 0.9
    lines = alerts.summary(small_lake, ds)
    assert lines[0].startswith(f"alerts on {ds}")


def test_impact_job_recovers_the_step_with_its_metadata(spark, small_lake, city_cfg):
    ds = START + timedelta(days=DAYS - 1)
    n = impact.run(spark, city_cfg, small_lake, ds)
    rows = read_table(spark, impact.TABLE, small_lake, ds=ds).toPandas()
    assert n == len(rows) == 2                                 # trips at city and district; calls not analysed
    assert set(rows["indicator"]) == {"mobility_trips_per_person"}
    for _, r in rows.iterrows():
        assert r["effect_pct"] == pytest.approx(-60.0, abs=2.0)
        assert r["ci_low_pct"] < -60 < r["ci_high_pct"]
        assert (r["measure"], r["stringency"], r["end_date"]) == ("lockdown", 85.0, date(2020, 5, 11))
        assert r["effect_unit"] == "percent" and r["method"] == "segmented_regression"
        assert r["post_days"] == (date(2020, 5, 11) - LOCKDOWN).days + 1
    early = impact.run(spark, city_cfg, small_lake, LOCKDOWN - timedelta(days=1))
    assert early == 0                                          # as of the day before: nothing started yet
    assert impact.summary(small_lake, ds)[1].startswith("  R1 lockdown: mobility_trips_per_person -")
