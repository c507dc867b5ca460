"""The six GeoPulse dashboards: which chart reads which serving view, laid out in rows.

Every chart names its dataset (a serving view of jobs/publish/views.py, or a published table of
schemas/tables) and its Superset params (jobs/dashboards/charts.py). ``bundle.py`` turns this into
the native export bundle under dashboards/. Reads and writes nothing.

A chart whose dataset is not (yet) served is left out of the bundle by ``bundle.py`` and named in
its report, so the dashboards never point at a table that does not exist.
"""

from dataclasses import dataclass, field

from jobs.common.config import load_city
from jobs.dashboards.charts import arcs, big_number, h3_polygons, line, metric, pie, table_agg, table_raw

CITY = "geo_level = 'city'"
DISTRICT = "geo_level = 'district'"
MAP_GRAIN = f"resolution = {int(load_city()['h3']['map_resolution'])}"      # the map grain


@dataclass(frozen=True)
class Chart:
    key: str                 # stable id (uuid seed); never reuse for another chart
    title: str
    dataset: str             # serving view or published table
    params: dict
    width: int = 6           # of 12 grid columns
    height: int = 50         # grid rows of 8 px
    description: str = ""
    may_be_empty: bool = False   # e.g. "current alerts": an empty table is a valid answer


@dataclass(frozen=True)
class Dashboard:
    slug: str
    title: str
    description: str         # markdown shown at the top of the page
    rows: tuple[tuple[Chart, ...], ...] = field(default_factory=tuple)

    @property
    def charts(self) -> list[Chart]:
        return [c for row in self.rows for c in row]


CITY_ACTIVITY = Dashboard(
    "city-activity", "1 · City activity",
    "**Where people are.** Estimated people per H3 cell (resolution 8; daily mean of hourly estimates, "
    "fused over the operators and scaled to the population), the congestion places where visitors "
    "outnumber residents, and the zone type of each cell from its day/night presence. Counts below "
    "k = 15 people are suppressed and drawn as gaps, never as zeros.",
    (
        (Chart("activity_people_map", "People present per H3 cell (mean over the days shown)", "v_people_h3_day",
               h3_polygons("boundary_geojson", metric("AVG(people_est)", "people (est.)"),
                           ["indicator = 'people_present'", MAP_GRAIN, "people_est IS NOT NULL"],
                           tooltip=["h3_cell", "district"]), width=7, height=70),
         Chart("activity_congestion", "Congestion places: visitors vs residents per cell", "v_people_h3_day",
               table_agg(["h3_cell", "district", "zone_type"],
                         [metric("AVG(CASE WHEN indicator = 'people_visitors' THEN people_est END)", "visitors (est.)"),
                          metric("AVG(CASE WHEN indicator = 'people_present' THEN people_est END)", "people present (est.)"),
                          metric("AVG(CASE WHEN indicator = 'people_visitors' THEN people_est END) / "
                                 "NULLIF(AVG(CASE WHEN indicator = 'people_present' THEN people_est END), 0)",
                                 "visitor share")],
                         [MAP_GRAIN], rows=25), width=5, height=70)),
        (Chart("activity_zone_map", "People in working hours per cell (zone type on hover)", "v_zone_profile_map",
               h3_polygons("boundary_geojson", metric("AVG(day_people_est)", "people in working hours (est.)"),
                           [MAP_GRAIN, "day_people_est IS NOT NULL"], scheme="blue_white_yellow",
                           tooltip=["h3_cell", "zone_label"]), width=7, height=60),
         Chart("activity_zone_types", "Cells by observed zone type", "v_zone_profile_map",
               pie("zone_label", metric("COUNT(*)", "cells"), ["zone_label IS NOT NULL"]), width=5, height=60)),
        (Chart("activity_people_zone_ts", "People present by zone type per day", "v_indicator_public_day",
               line("ds", [metric("SUM(value)", "people (est.)")],
                    ["geo_level = 'zone_type'", "indicator = 'people_present'"], groupby=["geo_id"]),
               width=12, height=45),),
    ),
)

MOBILITY = Dashboard(
    "mobility", "2 · Mobility",
    "**How much the city moves, against its baseline.** Change in trips per person versus the median of "
    "the same weekday over the baseline weeks before the first restriction (as Google's mobility "
    "reports), per district, with the restriction stringency (0–100) drawn on the same axis as a "
    "timeline; the share of people who stayed in one cell all day; commuting flows of the latest month "
    "as arcs from home district to work district (small flows withheld for privacy); and the estimated "
    "effect of each restriction (segmented regression).",
    (
        (Chart("mobility_city_vs_restrictions", "City: trips per person vs baseline (%) and restriction stringency",
               "v_mobility_index",
               line("ds", [metric("AVG(trips_per_person_change_pct)", "trips per person vs baseline (%)"),
                           metric("AVG(radius_gyration_change_pct)", "radius of gyration vs baseline (%)"),
                           metric("MAX(stringency)", "restriction stringency (0-100)")], [CITY]),
               width=12, height=50),),
        (Chart("mobility_district_index", "Trips per person vs baseline (%) per district", "v_mobility_index",
               line("ds", [metric("AVG(trips_per_person_change_pct)", "trips vs baseline (%)")], [DISTRICT],
                    groupby=["geo_id"]), width=6),
         Chart("mobility_stay_put", "Stay-put share per district", "v_mobility_index",
               line("ds", [metric("AVG(stay_put_share)", "stay-put share")], [DISTRICT], groupby=["geo_id"],
                    y_format=".0%"), width=6)),
        (Chart("mobility_commuting_arcs", "Commuting flows between districts (home to work)", "v_commute_flows",
               arcs(("origin_lng", "origin_lat"), ("destination_lng", "destination_lat"),
                    ["commuters_est IS NOT NULL"], tooltip=["origin_district", "destination_district"]),
               width=6, height=60),
         Chart("mobility_restriction_impact", "Effect of each restriction on mobility (%, 95% CI)",
               "v_restriction_impact",
               table_raw(["measure", "start_date", "end_date", "stringency", "geo_id", "indicator_label",
                          "effect_pct", "ci_low_pct", "ci_high_pct", "p_value"],
                         order_by=[("start_date", True), ("geo_id", True)]), width=6, height=60)),
    ),
)

HEALTH = Dashboard(
    "health-signals", "3 · Health signals",
    "**Health signals, 7-day means.** Ambulance (103) calls by reason group, pharmacy receipts by ATC "
    "group, lab-confirmed cases per district, and city hospitalisations and deaths. Calls and pharmacy "
    "sales move with (or slightly ahead of) reported cases; deaths follow cases by about two weeks.",
    (
        (Chart("health_ambulance_groups", "City ambulance calls by reason group (7-day mean)",
               "v_indicator_district_day",
               line("ds", [metric("SUM(value_7d_mean)", "calls/day")],
                    [CITY, "indicator LIKE 'ambulance_calls_%'", "indicator <> 'ambulance_calls_all'"],
                    groupby=["indicator_label"])),
         Chart("health_pharmacy_groups", "City pharmacy receipts by ATC group (7-day mean)",
               "v_indicator_district_day",
               line("ds", [metric("SUM(value_7d_mean)", "receipts/day")],
                    [CITY, "indicator LIKE 'pharmacy_receipts_%'", "indicator <> 'pharmacy_receipts_all'"],
                    groupby=["indicator_label"]))),
        (Chart("health_cases_district", "New lab-confirmed cases per district (7-day mean)",
               "v_indicator_district_day",
               line("ds", [metric("SUM(value_7d_mean)", "cases/day")], [DISTRICT, "indicator = 'morbidity_new_cases'"],
                    groupby=["geo_id"])),
         Chart("health_hosp_deaths", "City cases, hospitalisations and deaths (7-day mean)",
               "v_indicator_district_day",
               line("ds", [metric("SUM(CASE WHEN indicator = 'morbidity_new_cases' THEN value_7d_mean END)", "cases"),
                           metric("SUM(CASE WHEN indicator = 'morbidity_hospitalised' THEN value_7d_mean END)",
                                  "hospitalised"),
                           metric("SUM(CASE WHEN indicator = 'morbidity_deaths' THEN value_7d_mean END)", "deaths")],
                    [CITY, "source = 'morbidity'"]))),
    ),
)

LEADLAG = Dashboard(
    "lead-lag", "4 · Lead/lag",
    "**Which signal leads which.** Pearson correlation between the city's 7-day-mean series at lags "
    "−28…+28 days (lag > 0: the first indicator leads the second), with its confidence interval from an "
    "effective sample size that accounts for autocorrelation. The table gives the best lag per pair with "
    "its significance after multiple-testing correction; a best lag at the edge of the window is flagged "
    "and is not a finding.",
    (
        (Chart("leadlag_r_by_lag", "Correlation by lag per indicator pair (city, full period)", "v_lagcorr_latest",
               line("lag_days", [metric("AVG(r)", "r")],
                    ["window_kind = 'full'", CITY, "series_transform = 'level'", "method = 'pearson'"],
                    groupby=["pair_label"], x_title="lag (days; > 0: x leads y)", y_title="r"), width=6, height=60),
         Chart("leadlag_ci", "Correlation by lag with 95% CI (city, full period)", "v_lagcorr_latest",
               line("lag_days", [metric("AVG(ci_low)", "CI low"), metric("AVG(r)", "r"),
                                 metric("AVG(ci_high)", "CI high")],
                    ["window_kind = 'full'", CITY, "series_transform = 'level'", "method = 'pearson'"],
                    groupby=["pair_label"], x_title="lag (days; > 0: x leads y)", y_title="r"),
               width=6, height=60)),
        (Chart("leadlag_best", "Best lag per pair: significance and window-edge flag", "v_leadlag_latest",
               table_raw(["pair_label", "geo_id", "window_kind", "series_transform", "method", "best_lag_days", "r",
                          "ci_low", "ci_high", "p_adjusted", "significant", "at_window_edge", "finding"],
                         [CITY], order_by=[("pair_label", True), ("series_transform", True)]),
               width=12, height=60),),
    ),
)

FORECASTS = Dashboard(
    "forecasts-alerts", "5 · Forecasts and alerts",
    "**What comes next, and how far to trust it.** The latest forecast of new cases for the city as "
    "quantile bands (median, 50 % and 95 % intervals) beside the observed values; forecast skill by "
    "horizon as weighted interval score relative to the baseline model (below 1 beats the baseline, "
    "above 1 does not); and the early-warning alerts (EARS, EWMA) raised per district this week.",
    (
        (Chart("forecast_bands", "Latest forecast of new cases (city): quantile bands", "v_forecast_latest",
               line("target_date", [metric("AVG(q025)", "2.5%"), metric("AVG(q25)", "25%"),
                                    metric("AVG(q50)", "median"), metric("AVG(q75)", "75%"),
                                    metric("AVG(q975)", "97.5%"), metric("AVG(observed)", "observed")],
                    [CITY, "target = 'morbidity_new_cases'"], groupby=["model"]), width=7, height=60),
         Chart("forecast_skill", "Skill by horizon: WIS relative to baseline (city)", "v_forecast_skill_latest",
               line("horizon_days", [metric("AVG(wis_relative)", "relative WIS")], [CITY], groupby=["model", "target"],
                    bar=True, x_title="horizon (days)", y_title="WIS / baseline WIS"), width=5, height=60)),
        (Chart("alerts_current", "Alerts this week by district", "v_alerts_current",
               table_raw(["geo_level", "geo_id", "indicator", "method", "last_alert_ds", "alert_days",
                          "warning_days", "max_score"], order_by=[("warning_days", False), ("alert_days", False)]),
               width=6, height=50, may_be_empty=True),
         Chart("alerts_history", "Alerts per day by indicator (all districts)", "v_alerts",
               line("ds", [metric("SUM(CASE WHEN is_alert THEN 1 ELSE 0 END)", "alerts")], [DISTRICT],
                    groupby=["indicator_label"], bar=True), width=6, height=50)),
    ),
)

DATA_QUALITY = Dashboard(
    "data-quality", "6 · Data quality",
    "**For engineers: is every feed complete and on time?** Rows received, staged and quarantined per "
    "feed and day (received = staged + quarantined + duplicates removed), the freshness of each "
    "delivery, and every check that warned or failed.",
    (
        (Chart("dq_failed_checks", "Checks failed", "v_dq_feed_day",
               big_number(metric("SUM(failed_checks)", "failed checks"), subheader="failed checks, all days"),
               width=3, height=30),
         Chart("dq_quarantined_total", "Rows quarantined", "v_dq_feed_day",
               big_number(metric("SUM(rows_quarantined)", "rows quarantined"), subheader="rows quarantined, all days"),
               width=3, height=30),
         Chart("dq_received_total", "Rows received", "v_dq_feed_day",
               big_number(metric("SUM(rows_received)", "rows received"), subheader="rows received, all days"),
               width=3, height=30),
         Chart("dq_warned_checks", "Checks warned", "v_dq_feed_day",
               big_number(metric("SUM(warned_checks)", "warned checks"), subheader="checks that warned, all days"),
               width=3, height=30)),
        (Chart("dq_rows_per_feed_day", "Rows received, staged and quarantined per feed and day", "v_dq_feed_day",
               table_agg(["feed_or_table", "ds"],
                         [metric("SUM(rows_received)", "received"), metric("SUM(rows_staged)", "staged"),
                          metric("SUM(rows_quarantined)", "quarantined"),
                          metric("SUM(duplicates_removed)", "duplicates removed"),
                          metric("SUM(failed_checks)", "failed checks")],
                         ["rows_received IS NOT NULL"], rows=1000), width=7, height=60),
         Chart("dq_quarantine_ts", "Rows quarantined per feed and day", "v_dq_feed_day",
               line("ds", [metric("SUM(rows_quarantined)", "rows quarantined")], ["rows_received IS NOT NULL"],
                    groupby=["feed_or_table"], bar=True), width=5, height=60)),
        (Chart("dq_freshness", "Freshness: hours from the day's end to delivery", "v_dq_feed_day",
               line("ds", [metric("MAX(freshness_hours)", "hours")], ["freshness_hours IS NOT NULL"],
                    groupby=["feed_or_table"]), width=5, height=55, may_be_empty=True),
         Chart("dq_problems", "Checks that warned or failed (newest first)", "v_dq_problems",
               table_raw(["ds", "feed_or_table", "check_name", "status", "value", "threshold", "detail"],
                         order_by=[("ds", False), ("feed_or_table", True)]), width=7, height=55, may_be_empty=True)),
    ),
)

DASHBOARDS = (CITY_ACTIVITY, MOBILITY, HEALTH, LEADLAG, FORECASTS, DATA_QUALITY)
