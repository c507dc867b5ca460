"""The privacy audit: the gate every published table passes before it leaves the lake.

Reads the days about to be published of every table whose contract says ``published: true``
(Parquet, through DuckDB, as pandas) and geo_h3_cells (cell -> resolution, district); writes
nothing. Returns the violations, one per table/row/rule; ``PrivacyAuditError`` carries them and
the publish task publishes nothing when there is one. Rules (names as reported):

- ``unpublished_table``: the table's contract is not published (or is private/pseudonymous).
- ``subscriber_level_column``: a subscriber-level column (contract pii ``pseudonymous`` or a
  subscriber key name) is in the files; ``uncontracted_column``: a column the contract lacks.
- ``published_below_k`` / ``suppressed_value_present`` / ``recoverable_by_difference`` /
  ``single_suppressed_under_published_total`` (``jobs.common.privacy``): people counts (columns
  with ``suppression: people_count`` and unit ``people``; people indicators of
  mart_indicator_daily) against ``privacy.k_anonymity``, hex-level health counts (``health_count``
  columns; health indicators at geo_level h3) against ``privacy.health_mask_below``, with the
  table's relations: H3 cells in their ancestors, districts and the city, hours in the day,
  groups in 'all', districts in the city and in their zone type, the flows out of an origin and
  into a destination district (``FLOW_COLUMNS``).
  Tables in ``MEANS_OF_PUBLISHED`` (mart_zone_profile) get the threshold rule only.
- ``hex_health_below_mask``: an unmasked hex-level health count (no suppression rule) below the mask.
- ``recoverable_by_overlapping_periods``: a withheld daily value recovered from published 7-day
  means (one withheld day under a mean, or two consecutive means differing by one withheld day).
"""

from collections.abc import Iterable
from datetime import date, timedelta

import duckdb
import h3
import numpy as np
import pandas as pd

from jobs.common.config import Paths
from jobs.common.contracts import Contract
from jobs.common.privacy import (SUBSCRIBER_LEVEL_COLUMNS, Hierarchy, Nesting, Violation, audit_health,
                                 audit_people, flow_hierarchy, h3_hierarchy, health_mask_below, k_anonymity)
from jobs.publish import serving

HEALTH_SOURCES = ("ambulance", "pharmacy", "morbidity")
# Tables whose people figures are means of values already published elsewhere (not additive
# counts): subtracting them reveals nothing the published hours and months do not, and their flag
# marks a row with any figure withheld, so only the threshold rule applies to their values.
MEANS_OF_PUBLISHED = {"mart_zone_profile": "means of published hourly presence and monthly residents"}
# Origin/destination column pairs of flow tables: each origin's and each destination's flows sum
# to a total published elsewhere.
FLOW_COLUMNS = (("home_district", "work_district"), ("origin_district", "destination_district"))
MEAN_DAYS = 7
MAX_LISTED = 20


class PrivacyAuditError(RuntimeError):
    """At least one published value breaks a privacy rule; nothing may be published."""

    def __init__(self, violations: list[Violation]):
        self.violations = violations
        lines = [f"  {v.table} [{v.rule}] {v.key}: {v.detail}" for v in violations[:MAX_LISTED]]
        more = len(violations) - MAX_LISTED
        super().__init__(f"privacy audit failed: {len(violations)} violation(s); nothing is published\n"
                         + "\n".join(lines) + (f"\n  ... and {more} more" if more > 0 else ""))


# ---------------------------------------------------------------- columns
def audit_columns(c: Contract, columns: Iterable[str]) -> list[Violation]:
    """Table- and column-level rules on the columns actually stored."""
    out = []
    if not c.published or c.layer == "private" or c.pii == "pseudonymous":
        out.append(Violation(c.name, "table", "unpublished_table",
                             f"layer {c.layer}, pii {c.pii}, published {c.published}"))
    known = {col.name: col for col in c.columns}
    for name in columns:
        col = known.get(name)
        if name.lower() in SUBSCRIBER_LEVEL_COLUMNS or (col is not None and col.pii == "pseudonymous"):
            out.append(Violation(c.name, name, "subscriber_level_column",
                                 f"column '{name}' identifies subscribers"))
        elif col is None:
            out.append(Violation(c.name, name, "uncontracted_column", f"column '{name}' is not in the contract"))
    return out


# ---------------------------------------------------------------- relations
def _with_cells(pdf: pd.DataFrame, cells: pd.DataFrame | None, cell_col: str) -> pd.DataFrame:
    """Add resolution and district of each cell when the frame lacks them."""
    out = pdf.copy()
    if "resolution" not in out:
        out["resolution"] = [h3.get_resolution(x) for x in out[cell_col]]
    if "district" not in out and cells is not None:
        out["district"] = out[cell_col].map(cells.set_index("h3_cell")["district"])
    return out


def cell_hierarchy(pdf: pd.DataFrame, by: tuple[str, ...], category: str | None = None) -> Hierarchy:
    """Relations of an H3 table (``h3_cell``, ``resolution`` [, ``district``] columns)."""
    res = sorted({int(r) for r in pdf["resolution"].dropna().unique()}, reverse=True)
    periods = ("hour",) if "hour" in by else ()
    cat = (category, "all") if category and (pdf[category] == "all").any() else None
    district = "district" if "district" in pdf and pdf["district"].notna().all() else None
    return h3_hierarchy(res or (8,), by=by, periods=periods, category=cat, district_col=district)


def geo_hierarchy(by: tuple[str, ...]) -> Hierarchy:
    """Districts in the city and in their zone type (rows keyed by geo_level/geo_id; the
    ``_zone`` helper column names the zone of a district row and of a zone_type row)."""
    return Hierarchy((
        Nesting("districts in city", by, "geo_level", ("district",), "city"),
        Nesting("districts in zone type", by + ("_zone",), "geo_level", ("district",), "zone_type"),
    ))


def _zone_column(pdf: pd.DataFrame, cells: pd.DataFrame | None) -> pd.Series:
    zones = {} if cells is None else cells.groupby("district")["zone_type"].first().to_dict()
    return np.where(pdf["geo_level"] == "zone_type", pdf["geo_id"],
                    pdf["geo_id"].map(zones).fillna("")).astype(object)


def _day_cols(c: Contract, pdf: pd.DataFrame) -> tuple[pd.DataFrame, tuple[str, ...]]:
    by = tuple(p for p in c.partition_by if p in pdf.columns and c.column(p).type == "date")
    if not by:
        pdf = pdf.assign(_all=0)
        by = ("_all",)
    return pdf, by


# ---------------------------------------------------------------- value rules
def _flag_groups(c: Contract, kind: str, pdf: pd.DataFrame | None = None) -> dict[str, list[str]]:
    """Suppressed columns of one kind per flag column (only those in ``pdf`` when given)."""
    groups: dict[str, list[str]] = {}
    for col in c.columns:
        if col.suppression == kind and (pdf is None or (col.name in pdf and col.suppressed_by in pdf)):
            groups.setdefault(col.suppressed_by, []).append(col.name)
    return groups


def _null_when_flagged(c: Contract, pdf: pd.DataFrame, flag: str, cols: list[str]) -> list[Violation]:
    bad = pdf[flag].fillna(False).astype(bool) & pdf[cols].notna().any(axis=1)
    keys = [k for k in c.grain if k in pdf]
    return [Violation(c.name, ", ".join(f"{k}={r[k]}" for k in keys), "suppressed_value_present",
                      "a withheld row still has values") for _, r in pdf[bad].iterrows()]


def _audit_counts(c: Contract, pdf: pd.DataFrame, cells: pd.DataFrame | None, threshold: int,
                  kind: str) -> list[Violation]:
    """people_count or health_count columns of a wide table, per flag column."""
    out = []
    for flag, cols in _flag_groups(c, kind, pdf).items():
        counts = cols[:1] if kind == "health_count" else [x for x in cols if c.column(x).unit == "people"]
        if c.name in MEANS_OF_PUBLISHED:
            out += _means_below(c, pdf.assign(**{flag: False}), counts, flag, threshold)
            continue
        if not counts:
            out += _null_when_flagged(c, pdf, flag, cols)
            continue
        frame, by = _day_cols(c, pdf)
        if "hour" in frame and "hour" in c.grain:
            by += ("hour",)
        category = next((g for g in ("reason_group", "atc_group") if g in c.grain), None)
        if category:
            by += (category,)
        if "h3_cell" in frame:
            frame = _with_cells(frame, cells, "h3_cell")
            hierarchy = cell_hierarchy(frame, by, category)
        elif "geo_level" in frame:
            frame = frame.assign(_zone=_zone_column(frame, cells))
            rest = tuple(g for g in c.grain if g not in by + ("geo_level", "geo_id"))
            hierarchy = geo_hierarchy(by + rest)
        elif flow := next((f for f in FLOW_COLUMNS if set(f) <= set(frame.columns)), None):
            hierarchy = flow_hierarchy(by, *flow)
        else:
            hierarchy = Hierarchy(())
        if kind == "people_count":
            out += audit_people(frame, threshold, counts, [x for x in cols if x not in counts], hierarchy,
                                flag, c.name)
        else:
            out += audit_health(frame, threshold, cols, hierarchy, counts, flag, c.name)
    return out


def _indicator_kinds(pdf: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    source = pdf["indicator"].str.split("_", n=1).str[0]
    people = (pdf["unit"] == "people") | (source == "people")
    health = source.isin(HEALTH_SOURCES) & (pdf["geo_level"] == "h3")
    return people, health


def _audit_indicators(c: Contract, pdf: pd.DataFrame, cells: pd.DataFrame | None, k: int,
                      mask: int) -> list[Violation]:
    """Long indicator tables (``suppression: indicator``): people rows against k, hex-level health
    rows against the mask, each with its relations, plus the 7-day means."""
    out: list[Violation] = []
    flags = _flag_groups(c, "indicator", pdf)
    people, health = _indicator_kinds(pdf)
    frame, by = _day_cols(c, pdf)
    by += ("indicator",)
    for flag, cols in flags.items():
        out += _null_when_flagged(c, frame[~(people | health)], flag, cols)
        for rows, threshold, fn in ((people, k, "people"), (health, mask, "health")):
            part = frame[rows]
            if part.empty:
                continue
            hexes = part[part["geo_level"] == "h3"].rename(columns={"geo_id": "h3_cell"})
            geos = part[part["geo_level"] != "h3"]
            keep = [x for x in hexes.columns if x not in ("geo_level",)]
            if not hexes.empty:
                hexes = _with_cells(hexes[keep], cells, "h3_cell")
                h = cell_hierarchy(hexes, by)
                out += (audit_people(hexes, threshold, cols[:1], cols[1:], h, flag, c.name) if fn == "people"
                        else audit_health(hexes, threshold, cols, h, cols[:1], flag, c.name))
            if not geos.empty:
                geos = geos.assign(_zone=_zone_column(geos, cells))
                out += audit_people(geos, threshold, cols[:1], cols[1:], geo_hierarchy(by), flag, c.name)
            out += _means_below(c, part, cols[1:], flag, threshold)
        small = pd.Series(np.where(people, k, np.where(health, mask, 0)), index=frame.index)
        out += overlapping_means(c.name, frame, small)
    return out


def _means_below(c: Contract, pdf: pd.DataFrame, cols: list[str], flag: str, threshold: int) -> list[Violation]:
    """Published (unflagged) means of counts below the threshold (the day's own value is
    checked with the relations)."""
    out = []
    shown = ~pdf[flag].fillna(False).astype(bool)
    for col in cols:
        v = pd.to_numeric(pdf[col], errors="coerce")
        for _, r in pdf[shown & (v > 1e-9) & (v < threshold - 1e-9)].iterrows():
            out.append(Violation(c.name, ", ".join(f"{g}={r[g]}" for g in c.grain if g in r),
                                 "published_below_k", f"{col}={r[col]:.6g} < {threshold}"))
    return out


def overlapping_means(table: str, pdf: pd.DataFrame, small: pd.Series) -> list[Violation]:
    """Withheld daily values recovered from published 7-day means: value_7d_mean over ds-6..ds
    with exactly one withheld day, and consecutive means (their difference is (v_d - v_(d-7))/7)
    with one of the two days withheld. ``small``: per row, the threshold a recovered value must
    not fall below (0: any value may be recovered)."""
    keys = ["geo_level", "geo_id", "indicator"]
    if not set(keys + ["ds", "value", "value_7d_mean", "suppressed"]) <= set(pdf.columns) or pdf.empty:
        return []
    d = pdf[keys + ["ds", "value", "value_7d_mean", "suppressed"]].assign(
        _small=small.to_numpy(), ds=pd.to_datetime(pdf["ds"]))
    d["_series"] = d.groupby(keys, sort=False).ngroup()
    hit = d.groupby("_series")["suppressed"].transform("any") & d.groupby("_series")["value_7d_mean"].transform(
        lambda m: m.notna().any())
    d = d[hit.astype(bool)]
    if d.empty:
        return []
    grid = pd.MultiIndex.from_product([d["_series"].unique(), pd.date_range(d["ds"].min(), d["ds"].max())],
                                      names=["_series", "ds"])
    x = d.set_index(["_series", "ds"]).reindex(grid)
    present = x["suppressed"].notna().astype(float)                  # 0/1 floats shift cleanly
    withheld = x["suppressed"].astype("boolean").fillna(False).astype(float)
    shown = x["value"].where(withheld == 0).fillna(0.0)
    mean = x["value_7d_mean"]

    def back(s: pd.Series, k: int, fill) -> pd.Series:
        return s.groupby(level=0).shift(k).fillna(fill) if k else s

    n_present = sum(back(present, k, 0.0) for k in range(MEAN_DAYS))
    n_withheld = sum(back(withheld, k, 0.0) for k in range(MEAN_DAYS))
    offset = sum(k * back(withheld, k, 0.0) for k in range(MEAN_DAYS))
    found = []
    one = mean.notna() & (n_present == MEAN_DAYS) & (n_withheld == 1)
    rec = MEAN_DAYS * mean - sum(back(shown, k, 0.0) for k in range(MEAN_DAYS))
    for (sid, day), value, off in zip(x.index[one], rec[one], offset[one]):
        found.append((sid, day - timedelta(days=int(off)), value, "one withheld day under a 7-day mean"))
    prev_mean = back(mean, 1, np.nan)
    old_present, old_withheld = back(present, MEAN_DAYS, 0.0) > 0, back(withheld, MEAN_DAYS, 0.0) > 0
    now_withheld = withheld > 0
    pair = mean.notna() & prev_mean.notna() & (present > 0) & old_present
    diff = MEAN_DAYS * (mean - prev_mean)
    new_hidden = pair & now_withheld & ~old_withheld
    old_hidden = pair & old_withheld & ~now_withheld
    for (sid, day), value in zip(x.index[new_hidden], (back(shown, MEAN_DAYS, 0.0) + diff)[new_hidden]):
        found.append((sid, day, value, "difference of consecutive 7-day means"))
    for (sid, day), value in zip(x.index[old_hidden], (shown - diff)[old_hidden]):
        found.append((sid, day - timedelta(days=MEAN_DAYS), value, "difference of consecutive 7-day means"))
    first = d.drop_duplicates("_series").set_index("_series")
    out = []
    for sid, day, value, how in found:
        row = first.loc[sid]
        out += _recovered(table, row["geo_level"], row["geo_id"], row["indicator"], day, value, row["_small"], how)
    return out


def _recovered(table, lvl, gid, ind, day, value, small, how) -> list[Violation]:
    if pd.notna(value) and (small == 0 or 1e-9 < value < small - 1e-9):
        return [Violation(table, f"ds={pd.Timestamp(day).date()}, geo_level={lvl}, geo_id={gid}, indicator={ind}",
                          "recoverable_by_overlapping_periods", f"{how}: withheld value {value:.6g}")]
    return []


def _unmasked_hex_health(c: Contract, pdf: pd.DataFrame, mask: int) -> list[Violation]:
    hex_rows = pdf["geo_level"] == "h3" if "geo_level" in pdf else pd.Series("h3_cell" in pdf, index=pdf.index)
    out = []
    for col in c.columns:
        if col.pii == "health" and col.suppression is None and col.type in ("int", "bigint", "double") \
                and col.name in pdf:
            v = pd.to_numeric(pdf[col.name], errors="coerce")
            bad = hex_rows & (v > 0) & (v < mask)
            keys = [g for g in c.grain if g in pdf]
            out += [Violation(c.name, ", ".join(f"{g}={r[g]}" for g in keys), "hex_health_below_mask",
                              f"{col.name}={r[col.name]} < {mask}") for _, r in pdf[bad].iterrows()]
    return out


def _tidy_key(key: str, keep: tuple[str, ...]) -> str:
    """Keep only the grain's ``col=value`` pairs of a row key (a nesting's name prefix stays)."""
    head, sep, body = key.rpartition(": ")
    pairs = [p for p in body.split(", ") if p.split("=", 1)[0] in keep or p.split("=", 1)[0] == "parent_h3_cell"]
    return (head + sep if sep else "") + ", ".join(pairs) if pairs else key


def audit_frame(c: Contract, pdf: pd.DataFrame, cfg: dict, cells: pd.DataFrame | None = None) -> list[Violation]:
    """Every rule on one table's rows as they would be published."""
    k, mask = k_anonymity(cfg), health_mask_below(cfg)
    out = audit_columns(c, pdf.columns)
    pdf = pdf[[x for x in pdf.columns if x in c.column_names]]
    if pdf.empty:
        return out
    out += _audit_counts(c, pdf, cells, k, "people_count")
    out += _audit_counts(c, pdf, cells, mask, "health_count")
    if _flag_groups(c, "indicator"):
        out += _audit_indicators(c, pdf, cells, k, mask)
    out += _unmasked_hex_health(c, pdf, mask)
    keep = c.grain + ("h3_cell",)
    out = [v._replace(key=_tidy_key(v.key, keep)) if "=" in v.key else v for v in out]
    return sorted(set(out), key=lambda v: (v.table, v.rule, v.key))


def needs_values(c: Contract) -> bool:
    """Whether the audit must read the table's rows (else its columns suffice)."""
    return any(col.suppression for col in c.columns) or (
        c.pii == "health" and any(x in c.column_names for x in ("h3_cell", "geo_level")))


def audit_lake(paths: Paths, cfg: dict, plans: dict[str, list[date] | None],
               contracts: list[Contract]) -> tuple[list[Violation], dict[str, int]]:
    """Audit the planned days of each table in the lake (None: all its rows); returns the
    violations and the rows checked per table."""
    con = duckdb.connect()
    geo = next((c for c in serving.published_contracts() if c.name == "geo_h3_cells"), None)
    cells = serving.read_lake(paths, geo, None, con) if geo else None
    violations, checked = [], {}
    for c in contracts:
        files = serving.lake_files(paths, c)
        if files is None or c.name not in plans:
            continue
        stored = [r[0] for r in con.execute(
            f"DESCRIBE SELECT * FROM read_parquet({serving._lit(files)}, hive_partitioning = true, "
            "union_by_name = true)").fetchall()]
        violations += audit_columns(c, stored)
        if needs_values(c):
            days = plans[c.name]
            if days is not None and c.name == "mart_indicator_daily" and days:
                days = sorted(set(days) | {d - timedelta(n) for d in days for n in range(1, 2 * MEAN_DAYS)})
            pdf = serving.read_lake(paths, c, days, con)
            checked[c.name] = len(pdf)
            found = audit_frame(c, pdf, cfg, cells)
            violations += [v for v in found if v.rule not in ("unpublished_table", "subscriber_level_column",
                                                               "uncontracted_column")]
        else:
            checked[c.name] = 0
    con.close()
    return sorted(set(violations), key=lambda v: (v.table, v.rule, v.key)), checked
