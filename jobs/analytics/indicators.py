"""mart_indicator_daily: every daily indicator at city, zone-type and district level, raw and as
a trailing 7-day mean, with a missing-value code instead of gaps.

Reads (for the days asked for and the 6 days before the first of them, which the 7-day means
need): agg_ambulance__district_day, agg_pharmacy__district_day, agg_morbidity__district_day,
agg_mobility__district_day, mart_mobility_index, agg_od__district_day, agg_presence__h3_hour,
agg_visitors__h3_hour (the coarse resolution), stg_restrictions__restrictions (latest list on or
before each day) and geo_h3_cells (district and zone type of each cell). Writes
mart_indicator_daily, one ``ds`` partition per day asked for.
Grain: (ds, geo_level, geo_id, indicator).

Geographies: the city, each district, and each zone type (the configured district types of the
city config: business_centre, residential, outskirts; the same as geo_h3_cells.zone_type). Rules
of roll-up, chosen so that no figure is made up and no withheld figure can be recovered:

- counts (ambulance calls, pharmacy receipts/items, morbidity, OD trips out): the sum over the
  member districts, only when every member has a value; else null (suppressed when a member is
  suppressed, otherwise not_reported);
- per-person mobility means and shares: for the city the source's own city row; for a zone type
  the people_est-weighted mean of its districts, only when every member is published; the median
  radius of gyration and the mobility index are not combinable and exist for city and district only;
- people present / visitors: the daily mean over the 24 hours of the hourly sum of people_est over
  the area's cells at the coarse H3 resolution (a cell-hour without a row had nobody present);
  published only when no cell-hour of the area and day is suppressed (a partial sum would be
  wrong, a sum including withheld cells would reveal them by subtraction). The same two
  indicators also exist per H3 cell (geo_level 'h3', the map resolution only, for the maps):
  the mean people_est over the cell's published hours of the day (an hour without a row counts
  as 0, a cell without rows is 0; a suppressed hour is left out, so the figure is built from
  published hours only), null
  and suppressed when every hour is withheld, and complementary suppression within each district
  (a lone withheld cell takes the district's smallest published cell with it), no 7-day mean;
  these rows exist for every cell of the map resolution on the days with operator data only;
- restriction stringency: per district the highest stringency in force (0 when none); city and
  zone type the population-weighted mean of their districts.

Every (day, geography, indicator) of the catalogue has a row: value null with missing_code
'not_reported' when the source has no figure (e.g. a day without operator data), 'suppressed'
(and suppressed = true) when a privacy rule withholds it. value_7d_mean is the mean of the 7 days
ending ds, null unless all 7 have a value.
"""

from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs.common.config import Paths
from jobs.common.lake import read_table, write_table

TABLE = "mart_indicator_daily"
WINDOW_DAYS = 7
ALL_LEVELS = ("city", "zone_type", "district")
CITY_DISTRICT = ("city", "district")

AMBULANCE = "agg_ambulance__district_day"
PHARMACY = "agg_pharmacy__district_day"
MORBIDITY = "agg_morbidity__district_day"
MOBILITY = "agg_mobility__district_day"
MOBILITY_INDEX = "mart_mobility_index"
OD = "agg_od__district_day"
PRESENCE = "agg_presence__h3_hour"
VISITORS = "agg_visitors__h3_hour"
RESTRICTIONS = "stg_restrictions__restrictions"
CELLS = "geo_h3_cells"

MOBILITY_MEANS = {"trips_per_person": "trips", "stay_put_share": "share",
                  "km_travelled_per_person": "km"}
MOBILITY_INDEX_COLS = {"trips_per_person_change_pct": "mobility_trips_per_person_change_pct",
                       "radius_gyration_change_pct": "mobility_radius_gyration_change_pct",
                       "stay_put_share_change_pct": "mobility_stay_put_share_change_pct",
                       "km_travelled_change_pct": "mobility_km_travelled_change_pct"}
MORBIDITY_COLS = {"new_cases": "cases", "hospitalised": "patients", "deaths": "deaths", "tests": "tests"}

VALUES_SCHEMA = T.StructType([
    T.StructField("ds", T.DateType(), False), T.StructField("geo_level", T.StringType(), False),
    T.StructField("geo_id", T.StringType(), False), T.StructField("indicator", T.StringType(), False),
    T.StructField("value", T.DoubleType(), True), T.StructField("suppressed", T.BooleanType(), False),
])


@dataclass(frozen=True)
class Indicator:
    name: str
    unit: str
    source_table: str
    levels: tuple[str, ...] = ALL_LEVELS


def catalogue(cfg: dict) -> list[Indicator]:
    """Every indicator of the table for this city, with its unit, source and levels."""
    reasons = sorted({r["group"] for r in cfg.get("ambulance_reasons", [])}) + ["all"]
    atc = sorted({a["group"] for a in cfg.get("atc_groups", [])}) + ["all"]
    out = [Indicator(f"ambulance_calls_{g}", "calls", AMBULANCE) for g in reasons]
    out.append(Indicator("ambulance_hospitalised_all", "patients", AMBULANCE))
    out += [Indicator(f"pharmacy_receipts_{g}", "receipts", PHARMACY) for g in atc]
    out += [Indicator(f"pharmacy_items_{g}", "packs", PHARMACY) for g in atc]
    out += [Indicator(f"morbidity_{c}", u, MORBIDITY) for c, u in MORBIDITY_COLS.items()]
    out += [Indicator(f"mobility_{c}", u, MOBILITY) for c, u in MOBILITY_MEANS.items()]
    out.append(Indicator("mobility_radius_gyration_km_median", "km", MOBILITY, CITY_DISTRICT))
    out += [Indicator(i, "percent", MOBILITY_INDEX, CITY_DISTRICT) for i in MOBILITY_INDEX_COLS.values()]
    out.append(Indicator("mobility_od_trips_out", "trips", OD))
    out.append(Indicator("people_present", "people", PRESENCE))
    out.append(Indicator("people_visitors", "people", VISITORS))
    out.append(Indicator("restriction_stringency", "index_0_100", RESTRICTIONS))
    return out


def geographies(cfg: dict) -> pd.DataFrame:
    """geo_level, geo_id, district (one row per member district; the city has all of them)."""
    rows = []
    for d in cfg["districts"]:
        rows.append(("district", d["name"], d["name"]))
        rows.append(("city", cfg["city"]["name"], d["name"]))
    for kind, members in cfg.get("district_types", {}).items():
        rows += [("zone_type", kind, m) for m in members]
    return pd.DataFrame(rows, columns=["geo_level", "geo_id", "district"])


def _geo_members(spark: SparkSession, cfg: dict) -> DataFrame:
    return spark.createDataFrame(geographies(cfg))


# ------------------------------------------------------------ district-level long frames
def ambulance_long(rows: DataFrame) -> DataFrame:
    """ds, district, indicator, value, suppressed from agg_ambulance__district_day."""
    calls = rows.select("ds", "district", F.concat(F.lit("ambulance_calls_"), "reason_group").alias("indicator"),
                        F.col("calls").cast("double").alias("value"))
    hosp = rows.where(F.col("reason_group") == "all").select(
        "ds", "district", F.lit("ambulance_hospitalised_all").alias("indicator"),
        F.col("hospitalised").cast("double").alias("value"))
    return calls.unionByName(hosp).withColumn("suppressed", F.lit(False))


def pharmacy_long(rows: DataFrame) -> DataFrame:
    """ds, district, indicator, value, suppressed from agg_pharmacy__district_day."""
    parts = [rows.select("ds", "district", F.concat(F.lit(f"pharmacy_{m}_"), "atc_group").alias("indicator"),
                         F.col(m).cast("double").alias("value")) for m in ("receipts", "items")]
    return parts[0].unionByName(parts[1]).withColumn("suppressed", F.lit(False))


def morbidity_long(rows: DataFrame) -> DataFrame:
    """ds, district, indicator, value, suppressed from agg_morbidity__district_day."""
    stack = F.explode(F.array(*[F.struct(F.lit(f"morbidity_{c}").alias("indicator"),
                                         F.col(c).cast("double").alias("value")) for c in MORBIDITY_COLS]))
    return (rows.select("ds", "district", stack.alias("s"))
            .select("ds", "district", "s.indicator", "s.value", F.lit(False).alias("suppressed")))


def od_long(rows: DataFrame) -> DataFrame:
    """Trips leaving each district for another (estimated people's trips); withheld when any of
    its origin-destination pairs is suppressed."""
    g = rows.groupBy("ds", F.col("origin_district").alias("district")).agg(
        F.sum("trips_est").alias("v"), F.max(F.col("suppressed").cast("int")).alias("s"))
    return g.select("ds", "district", F.lit("mobility_od_trips_out").alias("indicator"),
                    F.when(F.col("s") == 0, F.col("v")).alias("value"), (F.col("s") == 1).alias("suppressed"))


def sum_rollup(district_long: DataFrame, members: DataFrame, days: DataFrame) -> DataFrame:
    """Counts at every level: the sum of the member districts when all have a value.

    ``members``: geo_level, geo_id, district; ``days``: one column ds. A member without a row is
    missing (not zero), so the total is null then."""
    names = district_long.select("indicator").distinct()
    spine = days.crossJoin(members).crossJoin(names)
    j = spine.join(district_long, ["ds", "district", "indicator"], "left")
    g = j.groupBy("ds", "geo_level", "geo_id", "indicator").agg(
        F.count(F.lit(1)).alias("members"), F.count("value").alias("known"),
        F.sum("value").alias("total"), F.max(F.coalesce(F.col("suppressed").cast("int"), F.lit(0))).alias("s"))
    complete = F.col("known") == F.col("members")
    return g.select("ds", "geo_level", "geo_id", "indicator",
                    F.when(complete, F.col("total")).alias("value"),
                    ((F.col("s") == 1) & ~complete).alias("suppressed"))


# ------------------------------------------------------------ mobility
def mobility_values(rows: DataFrame, members: DataFrame) -> DataFrame:
    """City and district rows as published; zone types as people-weighted means of districts."""
    measures = list(MOBILITY_MEANS) + ["radius_gyration_km_median"]
    stack = F.explode(F.array(*[F.struct(F.lit(f"mobility_{m}").alias("indicator"),
                                         F.col(m).cast("double").alias("value")) for m in measures]))
    direct = (rows.select("ds", "geo_level", F.col("district").alias("geo_id"), "suppressed", stack.alias("s"))
              .select("ds", "geo_level", "geo_id", "s.indicator",
                      F.when(~F.col("suppressed"), F.col("s.value")).alias("value"), "suppressed"))
    zones = members.where(F.col("geo_level") == "zone_type")
    d = rows.where(F.col("geo_level") == "district")
    days = rows.select("ds").distinct()
    z = days.crossJoin(zones).join(d.drop("geo_level"), ["ds", "district"], "left")
    ok = F.col("people_est").isNotNull() & ~F.coalesce(F.col("suppressed"), F.lit(False))
    aggs = [F.count(F.lit(1)).alias("members"), F.sum(ok.cast("int")).alias("known"),
            F.max(F.coalesce(F.col("suppressed").cast("int"), F.lit(0))).alias("s"),
            F.sum(F.when(ok, F.col("people_est"))).alias("w")]
    aggs += [F.sum(F.when(ok, F.col("people_est") * F.col(m))).alias(m) for m in MOBILITY_MEANS]
    g = z.groupBy("ds", "geo_level", "geo_id").agg(*aggs)
    complete = (F.col("known") == F.col("members")) & (F.col("w") > 0)
    zstack = F.explode(F.array(*[F.struct(F.lit(f"mobility_{m}").alias("indicator"),
                                          (F.col(m) / F.col("w")).alias("value")) for m in MOBILITY_MEANS]))
    zone_vals = (g.select("ds", "geo_level", "geo_id", complete.alias("c"), (F.col("s") == 1).alias("s"),
                          zstack.alias("x"))
                 .select("ds", "geo_level", "geo_id", "x.indicator", F.when(F.col("c"), F.col("x.value")).alias("value"),
                         (F.col("s") & ~F.col("c")).alias("suppressed")))
    return direct.unionByName(zone_vals)


def mobility_index_values(rows: DataFrame) -> DataFrame:
    stack = F.explode(F.array(*[F.struct(F.lit(i).alias("indicator"), F.col(c).cast("double").alias("value"))
                                for c, i in MOBILITY_INDEX_COLS.items()]))
    return (rows.select("ds", "geo_level", "geo_id", "suppressed", stack.alias("s"))
            .select("ds", "geo_level", "geo_id", "s.indicator",
                    F.when(~F.col("suppressed"), F.col("s.value")).alias("value"), "suppressed"))


def people_values(hourly: DataFrame, cells: DataFrame, members: DataFrame, value_col: str,
                  indicator: str) -> DataFrame:
    """Daily mean over 24 hours of the hourly people sum over an area's cells (one resolution);
    withheld when any cell-hour of the area and day is suppressed."""
    per_area = hourly.join(cells.select("h3_cell", "district"), "h3_cell").join(members, "district")
    g = per_area.groupBy("ds", "geo_level", "geo_id").agg(
        F.sum(F.when(~F.col("suppressed"), F.col(value_col))).alias("v"),
        F.max(F.col("suppressed").cast("int")).alias("s"))
    return g.select("ds", "geo_level", "geo_id", F.lit(indicator).alias("indicator"),
                    F.when(F.col("s") == 0, F.coalesce(F.col("v"), F.lit(0.0)) / 24.0).alias("value"),
                    (F.col("s") == 1).alias("suppressed"))


def hex_people_values(hourly: DataFrame, cells: DataFrame, value_col: str, indicator: str) -> DataFrame:
    """Per cell and day (geo_level 'h3'), for every cell of ``cells`` (h3_cell, district) on each
    day ``hourly`` has rows: the mean of ``value_col`` over the cell's published hours (an hour
    without a row had nobody present: 0, so a cell without rows that day is 0; suppressed hours
    are left out); null with suppressed = true when all 24 hours are withheld. Complementary
    suppression: where a district has exactly one withheld cell on a day, its smallest published
    cell is withheld too, so no cell can be recovered from the district's figure."""
    g = hourly.groupBy("ds", "h3_cell").agg(
        F.sum(F.when(~F.col("suppressed"), F.col(value_col))).alias("v"),
        F.sum(F.col("suppressed").cast("int")).alias("withheld"))
    known = 24 - F.col("withheld")
    grid = hourly.select("ds").distinct().crossJoin(F.broadcast(cells.select("h3_cell", "district")))
    v = (grid.join(g, ["ds", "h3_cell"], "left")
         .withColumn("value", F.when(F.col("withheld").isNull(), F.lit(0.0))
                     .when(known > 0, F.coalesce(F.col("v"), F.lit(0.0)) / known)))
    area = Window.partitionBy("ds", "district")
    v = (v.withColumn("lone", F.sum(F.col("value").isNull().cast("int")).over(area) == 1)
         .withColumn("rank", F.row_number().over(area.orderBy(F.col("value").asc_nulls_last(), "h3_cell"))))
    hide = F.col("value").isNull() | (F.col("lone") & (F.col("rank") == 1))
    return v.select("ds", F.lit("h3").alias("geo_level"), F.col("h3_cell").alias("geo_id"),
                    F.lit(indicator).alias("indicator"), F.when(~hide, F.col("value")).alias("value"),
                    hide.alias("suppressed"))


def hex_spine(values: DataFrame) -> DataFrame:
    """The (ds, cell, people indicator) rows of ``values`` (days with operator data only)."""
    source = F.when(F.col("indicator") == "people_present", F.lit(PRESENCE)).otherwise(F.lit(VISITORS))
    return (values.where(F.col("geo_level") == "h3")
            .select("ds", "geo_level", "geo_id", "indicator", F.lit("people").alias("unit"),
                    source.alias("source_table")))


# ------------------------------------------------------------ restrictions (a few rows: pandas)
def stringency_frame(restrictions: pd.DataFrame, cfg: dict, days: list[date]) -> pd.DataFrame:
    """ds, geo_level, geo_id, indicator, value, suppressed for restriction_stringency.

    ``restrictions``: stg_restrictions__restrictions rows (every delivered list); the list used
    for day D is the latest delivered on or before D (none yet: 0 everywhere)."""
    pops = {d["name"]: float(d["population"]) for d in cfg["districts"]}
    geo = geographies(cfg)
    as_day = lambda v: None if v is None or pd.isna(v) else pd.Timestamp(v).date()  # noqa: E731
    rs = [(as_day(r.ds), as_day(r.start_date), as_day(r.end_date), str(r.scope), float(r.stringency))
          for r in restrictions.itertuples()]
    lists = sorted({r[0] for r in rs})
    rows = []
    for day in days:
        known = [d for d in lists if d <= day]
        per = {name: 0.0 for name in pops}
        if known:
            active = [r for r in rs if r[0] == known[-1] and r[1] <= day and (r[2] is None or r[2] >= day)]
            for _, _, _, scope_text, stringency in active:
                scope = list(pops) if scope_text.strip() == "city" else [s.strip() for s in scope_text.split(",")]
                for name in scope:
                    if name in per:
                        per[name] = max(per[name], stringency)
        for (level, gid), grp in geo.groupby(["geo_level", "geo_id"]):
            w = sum(pops[m] for m in grp["district"])
            value = sum(per[m] * pops[m] for m in grp["district"]) / w
            rows.append((day, level, gid, "restriction_stringency", value, False))
    return pd.DataFrame(rows, columns=[f.name for f in VALUES_SCHEMA.fields])


# ------------------------------------------------------------ spine, missing codes, 7-day means
def complete(values: DataFrame, spine: DataFrame) -> DataFrame:
    """Left-join values onto the spine (ds, geo_level, geo_id, indicator, unit, source_table),
    set missing_code and suppressed, and add the trailing 7-day mean."""
    j = spine.join(values, ["ds", "geo_level", "geo_id", "indicator"], "left")
    supp = F.coalesce(F.col("suppressed"), F.lit(False)) & F.col("value").isNull()
    code = (F.when(F.col("value").isNotNull(), "not_missing")
            .when(supp, "suppressed").otherwise("not_reported"))
    day_n = F.datediff(F.col("ds"), F.lit("1970-01-01"))
    w = (Window.partitionBy("geo_level", "geo_id", "indicator").orderBy(day_n)
         .rangeBetween(-(WINDOW_DAYS - 1), 0))
    # no 7-day mean per cell: its windows would need their own complementary suppression
    mean = F.when((F.count("value").over(w) == WINDOW_DAYS) & (F.col("geo_level") != "h3"), F.avg("value").over(w))
    return j.select("ds", "geo_level", "geo_id", "indicator", "value",
                    mean.alias("value_7d_mean"), "unit", code.alias("missing_code"),
                    supp.alias("suppressed"), "source_table")


def spine_frame(spark: SparkSession, cfg: dict, days: list[date]) -> DataFrame:
    """Every (ds, geo_level, geo_id, indicator) the table must hold, with unit and source_table."""
    geo = geographies(cfg)[["geo_level", "geo_id"]].drop_duplicates()
    per_geo = [(lvl, gid, i.name, i.unit, i.source_table) for lvl, gid in geo.itertuples(index=False)
               for i in catalogue(cfg) if lvl in i.levels]
    schema = "geo_level string, geo_id string, indicator string, unit string, source_table string"
    return spark.createDataFrame([(d,) for d in days], "ds date").crossJoin(spark.createDataFrame(per_geo, schema))


def history_days(days: list[date]) -> list[date]:
    """The days asked for plus the 6 before each (what the 7-day means need)."""
    return sorted({d - timedelta(k) for d in days for k in range(WINDOW_DAYS)})


def indicator_values(spark: SparkSession, cfg: dict, paths: Paths | None, days: list[date]) -> DataFrame:
    """Every computed value (ds, geo_level, geo_id, indicator, value, suppressed) for ``days``."""
    members = _geo_members(spark, cfg)
    day_df = spark.createDataFrame([(d,) for d in days], "ds date")
    counts = (ambulance_long(read_table(spark, AMBULANCE, paths, ds=days))
              .unionByName(pharmacy_long(read_table(spark, PHARMACY, paths, ds=days)))
              .unionByName(morbidity_long(read_table(spark, MORBIDITY, paths, ds=days)))
              .unionByName(od_long(read_table(spark, OD, paths, ds=days))))
    parts = [sum_rollup(counts, members, day_df),
             mobility_values(read_table(spark, MOBILITY, paths, ds=days), members),
             mobility_index_values(read_table(spark, MOBILITY_INDEX, paths, ds=days))]
    coarse = int(cfg["h3"]["coarse_resolution"])
    grain = int(cfg["h3"]["map_resolution"])        # one resolution: no parent/child pair to subtract
    all_cells = read_table(spark, CELLS, paths)
    cells = all_cells.where(F.col("resolution") == coarse)
    grain_cells = all_cells.where(F.col("resolution") == grain)
    for table, col, name in ((PRESENCE, "people_est", "people_present"), (VISITORS, "visitors_est", "people_visitors")):
        hourly = read_table(spark, table, paths, ds=days).select("ds", "h3_cell", "resolution", col, "suppressed")
        parts.append(people_values(hourly.where(F.col("resolution") == coarse), cells, members, col, name))
        parts.append(hex_people_values(hourly.where(F.col("resolution") == grain), grain_cells, col, name))
    restr = read_table(spark, RESTRICTIONS, paths).where(F.col("ds") <= max(days)).toPandas()
    parts.append(spark.createDataFrame(stringency_frame(restr, cfg, days), VALUES_SCHEMA))
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out


def run(spark: SparkSession, cfg: dict, paths: Paths | None, days: list[date]) -> int:
    """Write mart_indicator_daily for ``days``; returns the rows written."""
    if not days:
        return 0
    days = sorted(set(days))
    span = history_days(days)
    values = indicator_values(spark, cfg, paths, span).cache()
    spine = spine_frame(spark, cfg, span).unionByName(hex_spine(values))
    out = complete(values, spine).where(F.col("ds").isin(days)).cache()
    try:
        write_table(out, TABLE, paths)
        return out.count()
    finally:
        out.unpersist()
        values.unpersist()
