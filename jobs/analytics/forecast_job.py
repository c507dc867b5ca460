"""mart_forecast and mart_forecast_skill: forecasts of health targets with the skill they showed.

Reads mart_indicator_daily (city and district rows, days up to ds) for the configured targets
and their leading indicators (section ``forecast:`` of the city config; defaults in
``jobs.analytics.forecast_backtest.ForecastSettings``). Writes partition ds of
- mart_forecast (grain: ds, geo_level, geo_id, target, model, target_date, quantile): the live
  forecasts issued on ds for ds+1 .. ds+horizon, 23 quantiles per model;
- mart_forecast_skill (grain: ds, geo_level, geo_id, target, horizon_days, model): rolling-origin
  backtest scores over the weekly origins whose targets are all observed by ds, with the WIS
  relative to ``baseline_model`` and whether the model beats it.

One series = (geo_level, geo_id, target): the target's raw values and its regressors' 7-day
means (restriction stringency raw). Series are fitted in parallel with groupBy + applyInPandas;
every fit is seeded, so a rerun writes the same numbers.
"""

from datetime import date

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs.analytics.forecast_backtest import STRINGENCY, ForecastSettings, forecast_series, skill
from jobs.common.config import Paths
from jobs.common.contracts import load_contract
from jobs.common.lake import read_table, table_path, write_table

SOURCE = "mart_indicator_daily"
FORECAST = "mart_forecast"
SKILL = "mart_forecast_skill"
KEYS = ["geo_level", "geo_id", "target"]

FORECAST_ROWS = T.StructType([
    T.StructField("geo_level", T.StringType()), T.StructField("geo_id", T.StringType()),
    T.StructField("target", T.StringType()), T.StructField("origin", T.DateType()),
    T.StructField("target_date", T.DateType()), T.StructField("horizon_days", T.IntegerType()),
    T.StructField("model", T.StringType()), T.StructField("quantile", T.DoubleType()),
    T.StructField("value", T.DoubleType()), T.StructField("observed", T.DoubleType()),
    T.StructField("mase_scale", T.DoubleType()), T.StructField("leads", T.StringType()),
])
SKILL_ROWS = T.StructType([
    T.StructField("geo_level", T.StringType()), T.StructField("geo_id", T.StringType()),
    T.StructField("target", T.StringType()), T.StructField("model", T.StringType()),
    T.StructField("horizon_days", T.IntegerType()), T.StructField("mae", T.DoubleType()),
    T.StructField("mase", T.DoubleType()), T.StructField("wis", T.DoubleType()),
    T.StructField("coverage_50", T.DoubleType()), T.StructField("coverage_95", T.DoubleType()),
    T.StructField("n_origins", T.IntegerType()), T.StructField("wis_relative", T.DoubleType()),
    T.StructField("beats_baseline", T.BooleanType()), T.StructField("baseline_model", T.StringType()),
])


def series_rows(indicators: DataFrame, settings: ForecastSettings) -> DataFrame:
    """geo_level, geo_id, target, ds, column, value: per target its own raw values and its
    regressors' 7-day means (stringency raw), city and district rows only."""
    rows = indicators.where(F.col("geo_level").isin(list(settings.geo_levels)))
    parts = []
    for target in settings.targets:
        regs = settings.regressors(target)
        part = (rows.where(F.col("indicator").isin([target, *regs]))
                .select("geo_level", "geo_id", F.lit(target).alias("target"), "ds",
                        F.col("indicator").alias("column"),
                        F.when((F.col("indicator") == target) | (F.col("indicator") == STRINGENCY),
                               F.col("value")).otherwise(F.col("value_7d_mean")).alias("value")))
        parts.append(part)
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out


def _fit_group(settings: ForecastSettings, ds: date):
    def fit(pdf: pd.DataFrame) -> pd.DataFrame:
        level, geo, target = (pdf[k].iloc[0] for k in KEYS)
        wide = pdf.pivot_table(index="ds", columns="column", values="value", aggfunc="first", dropna=False)
        if target not in wide:
            return pd.DataFrame(columns=FORECAST_ROWS.fieldNames())
        out = forecast_series(wide, target, ds, settings)
        out.insert(0, "target", target)
        out.insert(0, "geo_id", geo)
        out.insert(0, "geo_level", level)
        return out.astype({"horizon_days": "int32"})[FORECAST_ROWS.fieldNames()]
    return fit


def _skill_group(baseline: str):
    def score(pdf: pd.DataFrame) -> pd.DataFrame:
        out = skill(pdf, baseline)
        for k in KEYS:
            out[k] = pdf[k].iloc[0]
        return out.astype({"horizon_days": "int32", "n_origins": "int32"})[SKILL_ROWS.fieldNames()]
    return score


def forecasts(indicators: DataFrame, settings: ForecastSettings, ds: date) -> DataFrame:
    """Forecast rows of every series at every origin (FORECAST_ROWS), fitted per series."""
    rows = series_rows(indicators.where(F.col("ds") <= F.lit(ds)), settings)
    return rows.groupBy(*KEYS).applyInPandas(_fit_group(settings, ds), FORECAST_ROWS)


def forecast_mart(rows: DataFrame, ds: date) -> DataFrame:
    """mart_forecast rows: the live origin's forecasts."""
    return (rows.where(F.col("origin") == F.lit(ds))
            .select(F.col("origin").alias("ds"), "geo_level", "geo_id", "target", "target_date",
                    "horizon_days", "model", "quantile", "value"))


def skill_mart(rows: DataFrame, settings: ForecastSettings, ds: date) -> DataFrame:
    """mart_forecast_skill rows: backtest scores of the origins before ds."""
    scored = rows.where((F.col("origin") < F.lit(ds)) & F.col("observed").isNotNull())
    return (scored.groupBy(*KEYS).applyInPandas(_skill_group(settings.baseline_model), SKILL_ROWS)
            .withColumn("ds", F.lit(ds).cast("date")))


def run(spark: SparkSession, cfg: dict, paths: Paths | None, ds: date) -> int:
    """Forecasts issued on ds and backtest skill up to ds; returns rows written (both marts)."""
    settings = ForecastSettings.from_config(cfg)
    indicators = read_table(spark, SOURCE, paths).where(
        F.col("indicator").isin(settings.indicators()))
    rows = forecasts(indicators, settings, ds).cache()
    scores = skill_mart(rows, settings, ds).cache()
    try:
        live = forecast_mart(rows, ds)
        write_table(live, FORECAST, paths)
        write_table(scores, SKILL, paths)
        return live.count() + scores.count()
    finally:
        scores.unpersist()
        rows.unpersist()


def summary(paths: Paths | None, ds: date) -> list[str]:
    """Forecast skill at the 7-day horizon against the baseline, city level, per target."""
    import duckdb

    path = table_path(load_contract(SKILL), paths) / f"ds={ds.isoformat()}"
    if not path.exists():
        return [f"forecasts: no skill computed for {ds}"]
    rows = duckdb.connect().execute(
        "select target, model, baseline_model, wis, wis_relative, coverage_95, n_origins "
        "from read_parquet(?) where geo_level = 'city' and horizon_days = 7 "
        "order by target, wis_relative nulls last", [str(path / "*.parquet")]).fetchall()
    if not rows:
        return [f"forecasts: no city-level skill for {ds}"]
    lines = ["forecast skill (city, 7 days ahead; WIS relative to the baseline, < 1 beats it):"]
    for target in dict.fromkeys(r[0] for r in rows):
        parts = [f"{m} {rel:.2f}" if rel is not None else f"{m} n/a"
                 for t, m, base, wis, rel, cov, n in rows if t == target and m != base]
        base = next(r[2] for r in rows if r[0] == target)
        n = max(r[6] for r in rows if r[0] == target)
        lines.append(f"  {target} (vs {base}, {n} origins): " + ", ".join(parts))
    return lines
