"""Superset chart parameters (form data) for the chart kinds the GeoPulse dashboards use.

Pure functions returning the ``params`` dict of a chart in Superset 6.1's native export format;
metrics and filters are SQL expressions over the dataset's columns, so a chart states exactly
what it computes. Reads and writes nothing.
"""

from typing import Any

ALMATY_VIEWPORT = {"latitude": 43.25, "longitude": 76.92, "zoom": 10.3, "bearing": 0, "pitch": 0}


def metric(sql: str, label: str) -> dict[str, Any]:
    """An SQL metric with a readable label."""
    return {"expressionType": "SQL", "sqlExpression": sql, "label": label, "hasCustomLabel": True,
            "optionName": "metric_" + "".join(ch if ch.isalnum() else "_" for ch in label.lower())}


def where(sql: str) -> dict[str, Any]:
    """An SQL WHERE filter."""
    return {"clause": "WHERE", "expressionType": "SQL", "sqlExpression": sql,
            "filterOptionName": "filter_" + "".join(ch if ch.isalnum() else "_" for ch in sql.lower())[:40],
            "isExtra": False, "isNew": False}


def _base(viz_type: str, filters: list[str]) -> dict[str, Any]:
    return {"viz_type": viz_type, "adhoc_filters": [where(f) for f in filters], "time_range": "No filter",
            "granularity_sqla": None, "extra_form_data": {}}


def line(x: str, metrics: list[dict], filters: list[str] = (), groupby: list[str] = (),
         y_format: str = "SMART_NUMBER", x_title: str = "", y_title: str = "", bar: bool = False,
         rows: int = 10000) -> dict[str, Any]:
    """A time series (or numeric x) line or bar chart: one series per metric and group."""
    p = _base("echarts_timeseries_bar" if bar else "echarts_timeseries_line", list(filters))
    p |= {"x_axis": x, "time_grain_sqla": "P1D", "metrics": metrics, "groupby": list(groupby),
          "row_limit": rows, "truncate_metric": True, "show_legend": True, "legendType": "scroll",
          "legendOrientation": "top", "rich_tooltip": True, "y_axis_format": y_format,
          "x_axis_title": x_title, "x_axis_title_margin": 15 if x_title else 0,
          "y_axis_title": y_title, "y_axis_title_margin": 30 if y_title else 0,
          "order_desc": True, "comparison_type": "values", "annotation_layers": [],
          "forecastEnabled": False, "markerEnabled": False, "zoomable": True}
    return p


def table_raw(columns: list[str], filters: list[str] = (), order_by: list[tuple[str, bool]] = (),
              rows: int = 500) -> dict[str, Any]:
    """A table of rows as they are (no aggregation), ordered by (column, ascending) pairs."""
    p = _base("table", list(filters))
    p |= {"query_mode": "raw", "all_columns": columns, "groupby": [], "metrics": [],
          "order_by_cols": [f'["{c}", {"true" if asc else "false"}]' for c, asc in order_by],
          "row_limit": rows, "server_page_length": 10, "include_search": True,
          "table_timestamp_format": "%Y-%m-%d", "percent_metrics": [], "show_cell_bars": False}
    return p


def table_agg(groupby: list[str], metrics: list[dict], filters: list[str] = (), rows: int = 100,
              sort_by: dict | None = None) -> dict[str, Any]:
    """A table of metrics per group, largest first by ``sort_by`` (default: the first metric)."""
    p = _base("table", list(filters))
    p |= {"query_mode": "aggregate", "groupby": groupby, "metrics": metrics, "all_columns": [],
          "timeseries_limit_metric": sort_by or metrics[0], "order_desc": True, "row_limit": rows,
          "server_page_length": 10, "include_search": False, "percent_metrics": [],
          "table_timestamp_format": "%Y-%m-%d", "show_cell_bars": True}
    return p


def pie(groupby: str, value: dict, filters: list[str] = ()) -> dict[str, Any]:
    """A donut of one metric by one category."""
    p = _base("pie", list(filters))
    p |= {"groupby": [groupby], "metric": value, "row_limit": 100, "donut": True, "show_labels": True,
          "labels_outside": True, "label_type": "key_percent", "show_legend": True, "sort_by_metric": True,
          "number_format": "SMART_NUMBER"}
    return p


def big_number(value: dict, filters: list[str] = (), subheader: str = "") -> dict[str, Any]:
    """One number."""
    p = _base("big_number_total", list(filters))
    p |= {"metric": value, "subheader": subheader, "header_font_size": 0.4, "subheader_font_size": 0.15,
          "y_axis_format": "SMART_NUMBER"}
    return p


def h3_polygons(boundary: str, color: dict, filters: list[str] = (), scheme: str = "oranges",
                tooltip: list[str] = ()) -> dict[str, Any]:
    """A deck.gl polygon layer drawing each H3 cell from its GeoJSON boundary, coloured by ``color``."""
    p = _base("deck_polygon", list(filters))
    p |= {"line_column": boundary, "line_type": "json", "metric": color, "point_radius_fixed":
          {"type": "fix", "value": 0}, "reverse_long_lat": False, "filled": True, "stroked": True,
          "extruded": False, "line_width": 1, "line_width_unit": "pixels", "multiplier": 1,
          "fill_color_picker": {"r": 3, "g": 65, "b": 73, "a": 1},
          "stroke_color_picker": {"r": 255, "g": 255, "b": 255, "a": 0.6},
          "linear_color_scheme": scheme, "opacity": 80, "legend_position": "tr", "legend_format": ".3~s",
          "num_buckets": 7, "break_points": [], "table_filter": False, "toggle_polygons": True,
          "js_columns": [], "js_data_mutator": "", "js_tooltip": "", "js_onclick_href": "",
          "tooltip_contents": list(tooltip), "mapbox_style": "", "row_limit": 10000,
          "viewport": dict(ALMATY_VIEWPORT), "autozoom": True, "time_grain_sqla": None}
    return p


def arcs(start: tuple[str, str], end: tuple[str, str], filters: list[str] = (),
         tooltip: list[str] = ()) -> dict[str, Any]:
    """A deck.gl arc layer from (lon, lat) columns ``start`` to ``end``."""
    p = _base("deck_arc", list(filters))
    p |= {"start_spatial": {"type": "latlong", "lonCol": start[0], "latCol": start[1]},
          "end_spatial": {"type": "latlong", "lonCol": end[0], "latCol": end[1]},
          "color_picker": {"r": 0, "g": 122, "b": 135, "a": 1},
          "target_color_picker": {"r": 200, "g": 60, "b": 40, "a": 1}, "stroke_width": 3,
          "tooltip_contents": list(tooltip), "mapbox_style": "", "row_limit": 5000,
          "viewport": dict(ALMATY_VIEWPORT), "autozoom": True, "time_grain_sqla": None,
          "js_columns": [], "js_data_mutator": "", "js_tooltip": "", "js_onclick_href": ""}
    return p
