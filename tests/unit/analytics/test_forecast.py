"""Forecasts on the year city (fixture ``analysed_year_city``): Prophet with leading indicators
against the seasonal naive baseline on city-level cases, and the Spark job writing both marts."""

import dataclasses
import time

import numpy as np
from pyspark.sql import functions as F

from jobs.analytics import forecast_backtest as fb
from jobs.analytics import forecast_job
from jobs.analytics.forecast_models import LEVELS
from jobs.common.conform import conform
from jobs.common.lake import read_table

TARGET = "morbidity_new_cases"


def _city_wide(spark, city, settings, target, ds):
    rows = forecast_job.series_rows(
        read_table(spark, "mart_indicator_daily", city.paths).where(F.col("ds") <= ds), settings)
    pdf = rows.where((F.col("geo_level") == "city") & (F.col("target") == target)).toPandas()
    return pdf.pivot_table(index="ds", columns="column", values="value", aggfunc="first", dropna=False)


def test_prophet_with_leading_indicators_beats_seasonal_naive_at_7_days(spark, analysed_year_city):
    skill_ds = analysed_year_city.days[-1]
    # the published configuration's origins (4 weekly: 2020-09-07 .. 2020-09-28 for the last day)
    settings = dataclasses.replace(fb.ForecastSettings.from_config(analysed_year_city.cfg),
                                   models=("prophet", "seasonal_naive"))
    wide = _city_wide(spark, analysed_year_city, settings, TARGET, skill_ds)
    started = time.monotonic()
    rows = fb.forecast_series(wide, TARGET, skill_ds, settings)
    seconds = time.monotonic() - started
    leads = rows.loc[(rows["model"] == "prophet") & (rows["origin"] < skill_ds), "leads"].unique()
    assert any("pharmacy_receipts_antipyretic" in s for s in leads), leads
    scores = fb.skill(rows[rows["origin"] < skill_ds], "seasonal_naive").set_index(["model", "horizon_days"])
    at7 = scores.loc[("prophet", 7)]
    print(f"\nprophet vs seasonal naive, city cases, {settings.backtest_origins} origins to {skill_ds}: "
          f"relative WIS h1 {scores.loc[('prophet', 1), 'wis_relative']:.2f}, h7 {at7['wis_relative']:.2f}, "
          f"h14 {scores.loc[('prophet', 14), 'wis_relative']:.2f}, h28 {scores.loc[('prophet', 28), 'wis_relative']:.2f}; "
          f"coverage h7 50% {at7['coverage_50']:.2f} 95% {at7['coverage_95']:.2f}; "
          f"{settings.backtest_origins + 1} fits in {seconds:.1f} s; leads {sorted(leads)}")
    assert at7["n_origins"] == settings.backtest_origins
    assert at7["wis_relative"] < 0.9
    assert bool(at7["beats_baseline"]) is True


def test_run_writes_forecasts_and_skill(spark, analysed_year_city):
    cfg = dict(analysed_year_city.cfg)
    cfg["forecast"] = dict(cfg["forecast"], backtest_origins=1,
                           targets={TARGET: ["pharmacy_receipts_antipyretic"],
                                    "ambulance_calls_respiratory_fever": ["pharmacy_receipts_antipyretic"]})
    ds = analysed_year_city.days[-1]
    started = time.monotonic()
    written = forecast_job.run(spark, cfg, analysed_year_city.paths, ds)
    seconds = time.monotonic() - started
    fc = read_table(spark, "mart_forecast", analysed_year_city.paths, ds=ds).toPandas()
    sk = read_table(spark, "mart_forecast_skill", analysed_year_city.paths, ds=ds).toPandas()
    series = 9 * 2                                          # (city + 8 districts) x 2 targets
    print(f"\nforecast_job.run: {written} rows, {series * 2} series-origins x 4 models in {seconds:.0f} s")
    assert len(fc) == series * 4 * 28 * 23
    assert len(sk) == series * 4 * 28
    assert written == len(fc) + len(sk)
    conform(fc, "mart_forecast")
    conform(sk, "mart_forecast_skill")
    assert set(fc["model"]) == {"prophet", "persistence", "seasonal_naive", "quantile_baseline"}
    assert ((fc["target_date"] - fc["ds"]).map(lambda d: d.days) == fc["horizon_days"]).all()
    wide = fc.pivot_table(index=["geo_id", "target", "model", "target_date"], columns="quantile", values="value")
    assert np.allclose(wide.columns.to_numpy(), LEVELS)
    assert (np.diff(wide.to_numpy(), axis=1) >= -1e-9).all()    # monotone in the level
    assert (sk["n_origins"] == 1).all()
    base = sk[sk["model"] == "seasonal_naive"]
    assert np.allclose(base["wis_relative"], 1.0) and not base["beats_baseline"].any()
    paired = sk.merge(base[["geo_id", "target", "horizon_days", "wis"]],
                      on=["geo_id", "target", "horizon_days"], suffixes=("", "_b"))
    assert np.allclose(paired["wis_relative"], paired["wis"] / paired["wis_b"], equal_nan=True)
    assert (sk["beats_baseline"] == (sk["wis_relative"] < 1)).all()
    lines = forecast_job.summary(analysed_year_city.paths, ds)
    print("\n".join(lines))
    assert any(TARGET in line and "prophet" in line for line in lines)
