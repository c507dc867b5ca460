"""Serving views: dashboard- and analyst-shaped SQL views over the published tables.

Reads nothing and writes nothing itself: ``VIEWS`` lists each view with its stable name, the role
level that may read it (``viewer``, ``epi`` or ``engineer``), a description, its columns with
descriptions, and one SELECT that runs unchanged on DuckDB and PostgreSQL. ``serving.py`` creates
them after loading the tables; ``roles.py`` grants them; ``markdown()`` renders the list for
dashboards/SERVING_VIEWS.md and the data dictionary. Names and columns are an interface: the
Superset datasets are built on them, so change them only together with dashboards/.

A view over a table of a stricter level (e.g. the viewer's people map over mart_indicator_daily)
exposes only the rows and columns its own level may see; PostgreSQL runs views with their
owner's rights, so granting the view alone is enough.
"""

from dataclasses import dataclass

ACCESS_LEVELS = ("viewer", "epi", "engineer")       # each level also reads the ones before it


@dataclass(frozen=True)
class View:
    name: str
    access: str
    description: str
    columns: tuple[tuple[str, str], ...]
    sql: str
    tables: tuple[str, ...]          # published tables it reads (the view is created only when all exist)

    @property
    def column_names(self) -> list[str]:
        return [c for c, _ in self.columns]


_ZONE_LABEL = ("CASE {c} WHEN 'business_centre' THEN 'Business centre' WHEN 'residential' THEN 'Residential' "
               "WHEN 'mixed' THEN 'Mixed' WHEN 'outskirts' THEN 'Outskirts' ELSE {c} END")
_LABEL = "replace({c}, '_', ' ')"
_FINEST = "(SELECT max(resolution) FROM geo_h3_cells)"
_CENTRES = ("(SELECT district, avg(centroid_lat) AS lat, avg(centroid_lon) AS lng FROM geo_h3_cells "
            f"WHERE resolution = {_FINEST} GROUP BY district)")
_QUANTILES = (("q01", 0.01), ("q05", 0.05), ("q10", 0.1), ("q25", 0.25), ("q50", 0.5), ("q75", 0.75),
              ("q90", 0.9), ("q95", 0.95), ("q99", 0.99), ("q025", 0.025), ("q975", 0.975))
_WEEKDAY = ("CASE CAST(extract(isodow FROM {c}) AS INTEGER) WHEN 1 THEN 'Mon' WHEN 2 THEN 'Tue' "
            "WHEN 3 THEN 'Wed' WHEN 4 THEN 'Thu' WHEN 5 THEN 'Fri' WHEN 6 THEN 'Sat' ELSE 'Sun' END")
_CELL_COLS = (("lat", "Latitude of the cell centre (deg)."), ("lng", "Longitude of the cell centre (deg)."),
              ("boundary_geojson", "Cell boundary as a GeoJSON Polygon ([lng, lat], closed ring) for deck.gl."))
_IND_COLS = (("ds", "Day (local city date)."),
             ("geo_level", "city, zone_type or district."),
             ("geo_id", "City name, zone type or district name."),
             ("source", "Source of the indicator: people, mobility, ambulance, pharmacy, morbidity or restriction."),
             ("indicator", "Indicator name (see mart_indicator_daily)."),
             ("indicator_label", "Indicator name with spaces, for chart labels."),
             ("value", "Value on the day; null when suppressed or not reported."),
             ("value_7d_mean", "Trailing 7-day mean; null unless all 7 days have a value."),
             ("unit", "Unit of value."),
             ("missing_code", "Why value is null (not_missing when present)."),
             ("suppressed", "True when withheld by a privacy rule."))
_IND_SQL = (f"SELECT ds, geo_level, geo_id, split_part(indicator, '_', 1) AS source, indicator, "
            f"{_LABEL.format(c='indicator')} AS indicator_label, value, value_7d_mean, unit, missing_code, "
            f"suppressed FROM mart_indicator_daily WHERE geo_level IN ('city', 'zone_type', 'district')")


def _latest(table: str) -> str:
    return f"ds = (SELECT max(ds) FROM {table})"


VIEWS: tuple[View, ...] = (
    View("v_h3_cells", "viewer",
         "Every H3 cell of the city with readable zone label, centre and GeoJSON boundary: the base layer "
         "of every map.",
         (("h3_cell", "H3 cell index."), ("resolution", "H3 resolution."),
          ("parent_h3_cell", "Parent cell at the next coarser configured resolution."),
          ("district", "District of the cell."), ("zone_type", "Configured type of the cell's district."),
          ("zone_label", "Zone type as a readable label."), ("area_km2", "Cell area (km2).")) + _CELL_COLS,
         f"SELECT h3_cell, resolution, parent_h3_cell, district, zone_type, {_ZONE_LABEL.format(c='zone_type')} "
         "AS zone_label, area_km2, centroid_lat AS lat, centroid_lon AS lng, boundary_geojson FROM geo_h3_cells",
         ("geo_h3_cells",)),
    View("v_districts", "viewer",
         "One row per district: configured zone type, centre (mean of its finest cells' centres) and "
         "area; for district markers, arc end points and joins by district name.",
         (("district", "District name."), ("zone_type", "Configured district type."),
          ("zone_label", "Zone type as a readable label."),
          ("lat", "Latitude of the district centre (deg)."), ("lng", "Longitude of the district centre (deg)."),
          ("cells", "Number of finest-resolution cells in the district."),
          ("area_km2", "Area covered by those cells (km2).")),
         f"SELECT district, min(zone_type) AS zone_type, {_ZONE_LABEL.format(c='min(zone_type)')} AS zone_label, "
         "avg(centroid_lat) AS lat, avg(centroid_lon) AS lng, count(*) AS cells, sum(area_km2) AS area_km2 "
         f"FROM geo_h3_cells WHERE resolution = {_FINEST} GROUP BY district",
         ("geo_h3_cells",)),
    View("v_zone_profile_map", "viewer",
         "mart_zone_profile on the map: observed zone type of each cell with day/night people, residents "
         "and workers (suppressed values null), readable labels and the cell boundary.",
         (("h3_cell", "H3 cell index."), ("resolution", "H3 resolution."), ("district", "District of the cell."),
          ("district_zone_type", "Configured type of the district."),
          ("zone_type", "Observed zone type of the cell."), ("zone_label", "Observed zone type as a readable label."),
          ("day_people_est", "Mean estimated people in working hours."),
          ("night_people_est", "Mean estimated people at night."),
          ("day_night_ratio", "day_people_est / night_people_est."),
          ("residents_est", "Estimated residents."), ("workers_est", "Estimated workers."),
          ("workers_per_resident", "workers_est / residents_est."),
          ("suppressed", "True when the people figures are withheld (k-anonymity).")) + _CELL_COLS,
         f"SELECT z.h3_cell, z.resolution, z.district, z.district_zone_type, z.zone_type, "
         f"{_ZONE_LABEL.format(c='z.zone_type')} AS zone_label, z.day_people_est, z.night_people_est, "
         "z.day_night_ratio, z.residents_est, z.workers_est, z.workers_per_resident, z.suppressed, "
         "g.centroid_lat AS lat, g.centroid_lon AS lng, g.boundary_geojson "
         "FROM mart_zone_profile z JOIN geo_h3_cells g ON g.h3_cell = z.h3_cell",
         ("mart_zone_profile", "geo_h3_cells")),
    View("v_people_h3_day", "viewer",
         "Daily people indicators per H3 cell (people_present, people_visitors: daily means of hourly "
         "people estimates) with the cell boundary, for the activity and congestion maps. Only people "
         "indicators: no health figure is visible here.",
         (("ds", "Day (local city date)."), ("h3_cell", "H3 cell index."), ("resolution", "H3 resolution."),
          ("district", "District of the cell."), ("zone_type", "Configured type of the district."),
          ("indicator", "people_present or people_visitors."),
          ("indicator_label", "Indicator name with spaces."),
          ("people_est", "Estimated people (null when suppressed)."),
          ("people_est_7d_mean", "Trailing 7-day mean of people_est."),
          ("suppressed", "True when withheld by k-anonymity.")) + _CELL_COLS,
         f"SELECT i.ds, i.geo_id AS h3_cell, g.resolution, g.district, g.zone_type, i.indicator, "
         f"{_LABEL.format(c='i.indicator')} AS indicator_label, i.value AS people_est, "
         "i.value_7d_mean AS people_est_7d_mean, i.suppressed, g.centroid_lat AS lat, g.centroid_lon AS lng, "
         "g.boundary_geojson FROM mart_indicator_daily i JOIN geo_h3_cells g ON g.h3_cell = i.geo_id "
         "WHERE i.geo_level = 'h3' AND i.indicator LIKE 'people%'",
         ("mart_indicator_daily", "geo_h3_cells")),
    View("v_indicator_public_day", "viewer",
         "Daily people, mobility and restriction indicators for the city, zone types and districts "
         "(no health indicators): mobility and stay-put charts and the restrictions timeline.",
         _IND_COLS, _IND_SQL + " AND split_part(indicator, '_', 1) IN ('people', 'mobility', 'restriction')",
         ("mart_indicator_daily",)),
    View("v_indicator_district_day", "epi",
         "Every daily indicator for the city, zone types and districts, including the health counts "
         "(ambulance calls by reason group, pharmacy receipts by ATC group, cases, hospitalisations, "
         "deaths) with their 7-day means.",
         _IND_COLS, _IND_SQL, ("mart_indicator_daily",)),
    View("v_restriction_timeline", "viewer",
         "City restriction stringency (0-100) per day: the restrictions timeline drawn on the charts.",
         (("ds", "Day (local city date)."), ("stringency", "Stringency of the restrictions in force (0-100).")),
         "SELECT ds, value AS stringency FROM mart_indicator_daily "
         "WHERE geo_level = 'city' AND indicator = 'restriction_stringency'",
         ("mart_indicator_daily",)),
    View("v_commute_flows", "viewer",
         "Commuting flows between districts (home to work) of the latest month in mart_commute_flows "
         "that is not a partial start (its estimated commuters are at least half the busiest month's), "
         "with both districts' centres: the arcs of the Mobility dashboard. Cross-district flows only; "
         "withheld flows keep their row with null counts.",
         (("month", "Month, as its first day."), ("origin_district", "Home district."),
          ("destination_district", "Work district."), ("origin_zone_type", "Configured type of the home district."),
          ("destination_zone_type", "Configured type of the work district."),
          ("commuters_est", "Estimated commuters (null when suppressed)."),
          ("suppressed", "True when withheld by k-anonymity."),
          ("origin_lat", "Latitude of the home district centre."), ("origin_lng", "Longitude of the home district centre."),
          ("destination_lat", "Latitude of the work district centre."),
          ("destination_lng", "Longitude of the work district centre.")),
         "SELECT f.month, f.home_district AS origin_district, f.work_district AS destination_district, "
         "f.home_zone_type AS origin_zone_type, f.work_zone_type AS destination_zone_type, f.commuters_est, "
         "f.suppressed, o.lat AS origin_lat, o.lng AS origin_lng, d.lat AS destination_lat, d.lng AS destination_lng "
         "FROM mart_commute_flows f "
         f"JOIN {_CENTRES} o ON o.district = f.home_district "
         f"JOIN {_CENTRES} d ON d.district = f.work_district "
         "WHERE f.cross_district AND f.month = (SELECT max(m.month) FROM "
         "(SELECT month, sum(coalesce(commuters_est, 0)) AS n FROM mart_commute_flows GROUP BY month) m "
         "WHERE m.n >= 0.5 * (SELECT max(t.n) FROM (SELECT sum(coalesce(commuters_est, 0)) AS n "
         "FROM mart_commute_flows GROUP BY month) t))",
         ("mart_commute_flows", "geo_h3_cells")),
    View("v_mobility_index", "viewer",
         "mart_mobility_index with the weekday name, the district centre and the day's restriction "
         "stringency: mobility versus baseline per district with the restrictions.",
         (("ds", "Day (local city date)."), ("geo_level", "city or district."),
          ("geo_id", "City or district name."), ("weekday_name", "Mon..Sun."),
          ("people_est", "Estimated people seen."),
          ("trips_per_person_change_pct", "Trips per person vs baseline (%)."),
          ("radius_gyration_change_pct", "Median radius of gyration vs baseline (%)."),
          ("stay_put_share", "Share of people staying in one cell all day."),
          ("stay_put_share_change_pct", "Stay-put share vs baseline (%)."),
          ("km_travelled_change_pct", "km travelled per person vs baseline (%)."),
          ("suppressed", "True when withheld by k-anonymity."),
          ("stringency", "City restriction stringency that day (0-100); null when not published."),
          ("lat", "Latitude of the district centre (null for the city)."),
          ("lng", "Longitude of the district centre (null for the city).")),
         f"SELECT m.ds, m.geo_level, m.geo_id, {_WEEKDAY.format(c='m.ds')} AS weekday_name, m.people_est, "
         "m.trips_per_person_change_pct, m.radius_gyration_change_pct, m.stay_put_share, "
         "m.stay_put_share_change_pct, m.km_travelled_change_pct, m.suppressed, r.value AS stringency, "
         "d.lat, d.lng FROM mart_mobility_index m "
         "LEFT JOIN (SELECT ds, value FROM mart_indicator_daily WHERE geo_level = 'city' "
         "AND indicator = 'restriction_stringency') r ON r.ds = m.ds "
         f"LEFT JOIN {_CENTRES} d ON m.geo_level = 'district' AND d.district = m.geo_id",
         ("mart_mobility_index", "mart_indicator_daily", "geo_h3_cells")),
    View("v_restriction_impact", "viewer",
         "Latest estimate of each restriction's effect on mobility (segmented regression) per geography "
         "and indicator, with a readable label.",
         (("ds", "Analysis date."), ("restriction_id", "Restriction id."), ("measure", "What was restricted."),
          ("start_date", "First day."), ("end_date", "Last day."), ("stringency", "Stringency 0-100."),
          ("geo_level", "city, zone_type or district."), ("geo_id", "Geography."),
          ("indicator", "Mobility indicator."), ("indicator_label", "Indicator with spaces."),
          ("effect_pct", "Level change in percent of the counterfactual."),
          ("ci_low_pct", "Lower 95% bound."), ("ci_high_pct", "Upper 95% bound."), ("p_value", "p-value.")),
         f"SELECT ds, restriction_id, measure, start_date, end_date, stringency, geo_level, geo_id, indicator, "
         f"{_LABEL.format(c='indicator')} AS indicator_label, effect_pct, ci_low_pct, ci_high_pct, p_value "
         f"FROM mart_restriction_impact WHERE {_latest('mart_restriction_impact')}",
         ("mart_restriction_impact",)),
    View("v_lagcorr_latest", "epi",
         "Correlation by lag (-28..+28 days, lag > 0: x leads y) per indicator pair from the latest "
         "analysis date, with confidence interval and a readable pair label: lead/lag curves and heatmaps.",
         (("ds", "Analysis date."), ("window_kind", "full or rolling."), ("geo_level", "Geography level."),
          ("geo_id", "Geography."), ("x_indicator", "Leading candidate."), ("y_indicator", "Target."),
          ("pair_label", "'x -> y' label."), ("series_transform", "level or detrended."),
          ("method", "Correlation method."), ("lag_days", "Lag in days (x leads y when > 0)."),
          ("r", "Correlation."), ("ci_low", "Lower bound."), ("ci_high", "Upper bound."),
          ("p_adjusted", "p-value adjusted across lags."), ("n_eff", "Effective sample size.")),
         "SELECT ds, window_kind, geo_level, geo_id, x_indicator, y_indicator, "
         "x_indicator || ' -> ' || y_indicator AS pair_label, series_transform, method, lag_days, r, ci_low, "
         f"ci_high, p_adjusted, n_eff FROM mart_lagcorr WHERE {_latest('mart_lagcorr')}",
         ("mart_lagcorr",)),
    View("v_leadlag_latest", "epi",
         "Best lag per indicator pair from the latest analysis date, with significance and the "
         "window-edge flag (an edge peak is not a finding).",
         (("ds", "Analysis date."), ("window_kind", "full or rolling."), ("geo_level", "Geography level."),
          ("geo_id", "Geography."), ("x_indicator", "Leading candidate."), ("y_indicator", "Target."),
          ("pair_label", "'x -> y' label."), ("series_transform", "level or detrended."),
          ("method", "Correlation method."), ("best_lag_days", "Lag of the strongest dependence."),
          ("r", "Correlation at that lag."), ("ci_low", "Lower bound."), ("ci_high", "Upper bound."),
          ("p_adjusted", "Adjusted p-value."), ("significant", "Significant after adjustment."),
          ("at_window_edge", "Peak at the edge of the lag window."), ("relation", "x_leads, y_leads, synchronous or none."),
          ("finding", "Readable verdict: the lead in days, or why it is not a finding.")),
         "SELECT ds, window_kind, geo_level, geo_id, x_indicator, y_indicator, "
         "x_indicator || ' -> ' || y_indicator AS pair_label, series_transform, method, best_lag_days, r, "
         "ci_low, ci_high, p_adjusted, significant, at_window_edge, relation, "
         "CASE WHEN at_window_edge THEN 'peak at window edge (not a finding)' "
         "WHEN NOT significant THEN 'not significant' "
         "WHEN best_lag_days > 0 THEN x_indicator || ' leads by ' || CAST(best_lag_days AS VARCHAR) || ' d' "
         "WHEN best_lag_days < 0 THEN y_indicator || ' leads by ' || CAST(-best_lag_days AS VARCHAR) || ' d' "
         "ELSE 'synchronous' END AS finding "
         f"FROM mart_leadlag WHERE {_latest('mart_leadlag')}",
         ("mart_leadlag",)),
    View("v_forecast_latest", "epi",
         "Latest forecasts as quantile bands (one row per target date, quantiles as columns) next to "
         "the observed value where it is known: the forecast fan charts.",
         (("ds", "Issue date."), ("geo_level", "city or district."), ("geo_id", "Geography."),
          ("target", "Forecast target (an indicator name)."), ("model", "Model."),
          ("target_date", "Forecast day."), ("horizon_days", "Days ahead."))
         + tuple((q, f"Quantile {p} of the forecast.") for q, p in _QUANTILES)
         + (("observed", "Observed value of the target on target_date (null until known)."),),
         "SELECT f.ds, f.geo_level, f.geo_id, f.target, f.model, f.target_date, f.horizon_days, "
         + ", ".join(f"max(CASE WHEN abs(f.quantile - {p}) < 1e-9 THEN f.value END) AS {q}" for q, p in _QUANTILES)
         + ", max(o.value) AS observed FROM mart_forecast f LEFT JOIN mart_indicator_daily o "
         "ON o.ds = f.target_date AND o.geo_level = f.geo_level AND o.geo_id = f.geo_id AND o.indicator = f.target "
         "WHERE f.ds = (SELECT max(ds) FROM mart_forecast) "
         "GROUP BY f.ds, f.geo_level, f.geo_id, f.target, f.model, f.target_date, f.horizon_days",
         ("mart_forecast", "mart_indicator_daily")),
    View("v_forecast_skill_latest", "epi",
         "Forecast skill by horizon from the latest evaluation: WIS relative to the baseline (below 1 "
         "beats it), MAE, MASE and interval coverage, with a readable verdict.",
         (("ds", "Evaluation date."), ("geo_level", "city or district."), ("geo_id", "Geography."),
          ("target", "Target."), ("horizon_days", "Days ahead."), ("model", "Model."),
          ("baseline_model", "Reference baseline."), ("mae", "Mean absolute error."), ("mase", "MASE."),
          ("wis", "Weighted interval score."), ("wis_relative", "WIS / baseline WIS."),
          ("coverage_50", "50% interval coverage."), ("coverage_95", "95% interval coverage."),
          ("n_origins", "Forecast origins evaluated."), ("beats_baseline", "True when WIS < baseline WIS."),
          ("verdict", "'beats baseline' or 'does not beat baseline'.")),
         "SELECT ds, geo_level, geo_id, target, horizon_days, model, baseline_model, mae, mase, wis, "
         "wis_relative, coverage_50, coverage_95, n_origins, beats_baseline, CASE WHEN beats_baseline "
         "THEN 'beats baseline' ELSE 'does not beat baseline' END AS verdict "
         f"FROM mart_forecast_skill WHERE {_latest('mart_forecast_skill')}",
         ("mart_forecast_skill",)),
    View("v_alerts", "epi",
         "Every early-warning result with readable labels and the district centre: alert history.",
         (("ds", "Day."), ("geo_level", "city or district."), ("geo_id", "Geography."),
          ("indicator", "Monitored indicator."), ("indicator_label", "Indicator with spaces."),
          ("method", "ears_c1, ears_c2, ears_c3, ewma or farrington."), ("observed", "Observed value."),
          ("expected", "Expected value."), ("threshold", "Alert threshold."), ("score", "Test statistic."),
          ("alert_level", "none, watch or warning."), ("is_alert", "True when alert_level is not none."),
          ("lat", "District centre latitude (null for the city)."),
          ("lng", "District centre longitude (null for the city).")),
         f"SELECT a.ds, a.geo_level, a.geo_id, a.indicator, {_LABEL.format(c='a.indicator')} AS indicator_label, "
         "a.method, a.observed, a.expected, a.threshold, a.score, a.alert_level, a.alert_level <> 'none' AS is_alert, "
         "d.lat, d.lng FROM mart_alerts a LEFT JOIN (SELECT district, avg(centroid_lat) AS lat, "
         f"avg(centroid_lon) AS lng FROM geo_h3_cells WHERE resolution = {_FINEST} GROUP BY district) d "
         "ON a.geo_level = 'district' AND d.district = a.geo_id",
         ("mart_alerts", "geo_h3_cells")),
    View("v_alerts_current", "epi",
         "Alerts raised (watch or warning) in the 7 days up to the latest alert date, one row per "
         "geography, indicator and method with its latest level: 'alerts this week'.",
         (("geo_level", "city or district."), ("geo_id", "Geography."), ("indicator", "Monitored indicator."),
          ("method", "Detection method."), ("last_alert_ds", "Latest day with an alert."),
          ("alert_days", "Days with an alert in the week."),
          ("warning_days", "Days at level warning in the week."), ("max_score", "Highest score in the week.")),
         "SELECT geo_level, geo_id, indicator, method, max(ds) AS last_alert_ds, count(*) AS alert_days, "
         "sum(CASE WHEN alert_level = 'warning' THEN 1 ELSE 0 END) AS warning_days, max(score) AS max_score "
         "FROM mart_alerts WHERE alert_level <> 'none' AND ds > (SELECT max(ds) FROM mart_alerts) - 7 "
         "GROUP BY geo_level, geo_id, indicator, method",
         ("mart_alerts",)),
    View("v_dq_feed_day", "engineer",
         "Data quality per feed or table and day: rows received, staged, quarantined, duplicates, late "
         "rows, freshness, and the number of checks that warned or failed.",
         (("feed_or_table", "Feed or table."), ("ds", "Day."), ("rows_received", "Rows delivered."),
          ("rows_staged", "Rows staged."), ("rows_quarantined", "Rows quarantined."),
          ("duplicates_removed", "Duplicates removed."), ("late_rows", "Late rows."),
          ("freshness_hours", "Hours from the day's end to delivery."), ("checks", "Checks recorded."),
          ("warned_checks", "Checks with status warn."), ("failed_checks", "Checks with status fail.")),
         "SELECT feed_or_table, ds, "
         + ", ".join(f"max(CASE WHEN check_name = '{c}' THEN value END) AS {c}" for c in (
             "rows_received", "rows_staged", "rows_quarantined", "duplicates_removed", "late_rows",
             "freshness_hours"))
         + ", count(*) AS checks, sum(CASE WHEN status = 'warn' THEN 1 ELSE 0 END) AS warned_checks, "
         "sum(CASE WHEN status = 'fail' THEN 1 ELSE 0 END) AS failed_checks FROM dq_results "
         "GROUP BY feed_or_table, ds",
         ("dq_results",)),
    View("v_dq_problems", "engineer",
         "Every data-quality check that warned or failed, newest first in dashboards.",
         (("feed_or_table", "Feed or table."), ("ds", "Day."), ("check_name", "Check."), ("value", "Measured value."),
          ("threshold", "Threshold."), ("status", "warn or fail."), ("detail", "Explanation.")),
         "SELECT feed_or_table, ds, check_name, value, threshold, status, detail FROM dq_results "
         "WHERE status <> 'pass'",
         ("dq_results",)),
)


def view(name: str) -> View:
    return {v.name: v for v in VIEWS}[name]


def markdown() -> str:
    """The views as Markdown: name, level, description, columns (dashboards/SERVING_VIEWS.md)."""
    out = ["# Serving views", "",
           "Created by `geopulse publish` in the serving database (DuckDB file by default, PostgreSQL "
           "with `--url`) after the published tables are loaded; defined in `jobs/publish/views.py` "
           "(regenerate this file with `python -m jobs.publish.views`). Names and columns are stable: "
           "Superset datasets use them. Every published table exists in the serving database (empty until "
           "its mart is first built), so every view always exists. "
           "Access: `viewer` < `epi` < `engineer` (PostgreSQL roles geopulse_viewer, geopulse_epi, "
           "geopulse_engineer; each reads what the previous one reads).", ""]
    out += ["Not served (aggregates, not published marts): hourly people per cell "
            "(agg_presence__h3_hour, agg_visitors__h3_hour) and district flows (agg_od__district_day, "
            "agg_commute__district_month); maps use the daily means of v_people_h3_day.", ""]
    for v in VIEWS:
        out += [f"## {v.name}", "", f"Access: `{v.access}`. Reads: {', '.join(f'`{t}`' for t in v.tables)}.", "",
                v.description, "", "| column | description |", "|---|---|"]
        out += [f"| `{c}` | {d} |" for c, d in v.columns] + [""]
    return "\n".join(out)


if __name__ == "__main__":
    from jobs.common.config import REPO_ROOT

    (REPO_ROOT / "dashboards" / "SERVING_VIEWS.md").write_text(markdown(), encoding="utf-8")
