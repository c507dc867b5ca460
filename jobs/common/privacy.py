"""Privacy: the one suppression step for people counts, the health mask, and their audit.

Reads and writes nothing: every function takes a Spark or a pandas DataFrame and returns the
same kind with the same rows, never fewer (grain: that of the input). The pandas path is the
twin for small frames and tests; Spark runs the same pandas code once per component
(``groupBy(component_cols).applyInPandas``), so both give identical flags.

A ``Hierarchy`` is a set of ``Nesting``s, each grouping child rows that add up to a parent total
an attacker can subtract from: H3 cells in every coarser ancestor (9 in 8, 9 in 7, 8 in 7) and
in the part of it inside one district, the cells of a district or the city per resolution, the
hours of a day, reason groups under 'all', days under a longer period. The parent is a row of
the frame (``parent_level``) or a total published elsewhere (assumed published).

The rule (``suppress_people``; ``mask_health`` is the same rule with k = the health threshold):
1. Primary: a row whose count (any of ``count_cols``; null counts as 0) is below k is suppressed.
2. Complementary, for every group whose parent is published (a total from elsewhere, or an
   unsuppressed parent row): S = summed true counts of its suppressed children, r = parent minus
   its published children (parent rows only). The group is unsafe when exactly one child is
   suppressed, or 0 < S < k, or a child is suppressed and 0 < r < k (any count column). It is
   repaired by suppressing its smallest published children (first count column, ties in key
   order) until it is safe; if even all children do not make it safe, the parent row goes too.
3. Downward: a suppressed parent row whose children are all published equals their sum, so its
   smallest child is suppressed.
4. Steps 2-3 repeat over all nestings, up and down the hierarchy, until nothing changes.
Suppressed rows keep their keys; ``value_cols`` become null and ``flag_col`` true. Counts are
treated as additive (the attacker's best case); r uses the real parent value, so non-additive
distinct counts are covered too. Guarantee: no relation, nor differencing iterated relation by
relation, reveals a value in 1..k-1; solving all relations jointly (linear algebra over cells x
districts x hours) is not ruled out in general (the ancestor-within-district nestings make it rare).

``audit_people`` / ``audit_health`` see only what is published and list violations: a count in
1..k-1, a withheld row still carrying a value, a value recovered by iterated differencing, a
withheld total in 1..k-1 (parent minus its published children), one withheld child under a total
published elsewhere, a subscriber-level column.
"""

from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple, Sequence

import h3
import numpy as np
import pandas as pd
from pyspark.sql import DataFrame as SparkDataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

EPS = 1e-9
NEVER = np.iinfo(np.int64).max
SUBSCRIBER_LEVEL_COLUMNS = frozenset({"subscriber_key", "subscriber_id", "sub_key", "msisdn",
                                      "msisdn_hash", "imsi", "imei", "phone", "device_id"})


@dataclass(frozen=True)
class Nesting:
    """Rows equal on ``by`` (and on ``link``: child column -> parent column, the child's value
    first mapped to its H3 ancestor at ``link_h3_res`` when set) form one group. Children: rows
    whose ``level_col`` is in ``child_levels`` (None: every row that is not a parent); parent:
    the row with ``level_col == parent_level``, or a total published elsewhere when None."""

    name: str
    by: tuple[str, ...]
    level_col: str | None = None
    child_levels: tuple | None = None
    parent_level: Any = None
    link: tuple[str, str] | None = None
    link_h3_res: int | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        level = (self.level_col,) if self.level_col else ()
        return tuple(dict.fromkeys(self.by + level + (self.link or ())))


@dataclass(frozen=True)
class Hierarchy:
    nestings: tuple[Nesting, ...] = ()

    @property
    def component_cols(self) -> tuple[str, ...]:
        """Columns every nesting groups by: no group crosses a value of them."""
        common = set.intersection(*(set(n.by) for n in self.nestings)) if self.nestings else set()
        return tuple(c for c in self.nestings[0].by if c in common) if common else ()

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c for n in self.nestings for c in n.columns))

    def __add__(self, other: "Hierarchy") -> "Hierarchy":
        return Hierarchy(self.nestings + other.nestings)


def flow_hierarchy(by: Sequence[str], origin: str, destination: str) -> Hierarchy:
    """The relations of a flow matrix (rows ``by`` + origin + destination): the flows out of an
    origin sum to its total (residents, trips from there) and the flows into a destination to
    its total, both published elsewhere."""
    by = tuple(by)
    return Hierarchy((Nesting(f"{destination.replace('_', ' ')}s of a {origin.replace('_', ' ')}", by + (origin,)),
                      Nesting(f"{origin.replace('_', ' ')}s of a {destination.replace('_', ' ')}",
                              by + (destination,))))


def h3_hierarchy(resolutions: Sequence[int] = (9, 8, 7), by: Sequence[str] = ("ds", "hour"),
                 periods: Sequence[str] = ("hour",), category: tuple[str, Any] | None = None,
                 cell_col: str = "h3_cell", res_col: str = "resolution",
                 district_col: str | None = "district", city: bool = True) -> Hierarchy:
    """The relations of an H3 table: every finer cell in every coarser ancestor row, and the part
    of each ancestor inside one district; the cells of a district and of the city per resolution;
    for each column of ``periods`` (e.g. hour) the cell, district and city totals over the whole
    period (the day); ``category`` = (column, total value), e.g. ("reason_group", "all")."""
    by, res = tuple(by), sorted(resolutions, reverse=True)
    pairs = [(f, c) for i, f in enumerate(res) for c in res[i + 1:]]
    out = [Nesting(f"h3 res {f} in res {c}", by, res_col, (f,), c, (cell_col, cell_col), c)
           for f, c in pairs]
    if district_col:
        out += [Nesting(f"h3 res {f} in res {c} within district", by + (district_col,), res_col,
                        (f,), None, (cell_col, cell_col), c) for f, c in pairs]
    for over in [by] + [tuple(b for b in by if b != p) for p in periods if p in by]:
        tag = "" if over == by else " over " + "+".join(b for b in by if b not in over)
        if over != by:
            out.append(Nesting(f"cell{tag}", over + (res_col, cell_col)))
        for r in res:
            if district_col:
                out.append(Nesting(f"res {r} cells in district{tag}", over + (district_col,),
                                   res_col, (r,)))
            if city:
                out.append(Nesting(f"res {r} cells in city{tag}", over, res_col, (r,)))
    if category:
        col, total = category
        out.append(Nesting(f"{col} in {total}", tuple(b for b in by if b != col) + (cell_col,),
                           col, None, total))
    return Hierarchy(tuple(out))


def default_health_hierarchy(columns: Sequence[str]) -> Hierarchy:
    """Hexes in their H3 ancestors, district and city per day (and per reason or ATC group when
    the frame has one, whose groups also add up to the hex's 'all' row)."""
    cat = next((c for c in ("reason_group", "atc_group") if c in columns), None)
    return h3_hierarchy(by=("ds",) + ((cat,) if cat else ()), periods=(),
                        category=(cat, "all") if cat else None)


def k_anonymity(cfg: dict) -> int:
    return int(cfg["privacy"]["k_anonymity"])


def health_mask_below(cfg: dict) -> int:
    return int(cfg["privacy"].get("health_mask_below", 5))


# ---------------------------------------------------------------- relations as arrays
class _Groups(NamedTuple):
    member_group: np.ndarray   # one entry per (group, child row)
    member_row: np.ndarray
    parent_row: np.ndarray     # per group: row of the parent, -1 = a total published elsewhere
    labels: list               # per nesting: (first group id, name, keys, first key row per group)

    def name(self, j: int) -> str:
        start, name, keys, first = next(lab for lab in reversed(self.labels) if lab[0] <= j)
        return f"{name}: " + ", ".join(f"{c}={v}" for c, v in keys.iloc[first[j - start]].items())


def _groups(pdf: pd.DataFrame, hierarchy: Hierarchy) -> _Groups:
    parts, labels, n, offset = [], [], len(pdf), 0
    for nest in hierarchy.nestings:
        if missing := [c for c in nest.columns if c not in pdf.columns]:
            raise ValueError(f"nesting '{nest.name}': frame lacks column(s) {missing}")
        lvl = pdf[nest.level_col] if nest.level_col else None
        is_par = np.zeros(n, bool) if nest.parent_level is None else \
            (lvl == nest.parent_level).to_numpy(bool)
        is_child = ~is_par & (np.ones(n, bool) if lvl is None or nest.child_levels is None
                              else lvl.isin(nest.child_levels).to_numpy(bool))
        rows = np.flatnonzero(is_child | is_par)
        par = is_par[rows]
        keys = pdf.iloc[rows][list(nest.by)].reset_index(drop=True)
        if nest.link:
            link = pdf[nest.link[1]].to_numpy(object)[rows].copy()
            child = pdf[nest.link[0]].to_numpy(object)[rows[~par]]
            if nest.link_h3_res is not None:
                up = {c: h3.cell_to_parent(c, nest.link_h3_res) for c in pd.unique(child)}
                child = np.array([up[c] for c in child], dtype=object)
            link[~par] = child
            keys["parent_" + nest.link[1]] = link
        gid = keys.groupby(list(keys.columns), sort=False, dropna=False).ngroup().to_numpy()
        n_groups = int(gid.max()) + 1 if len(gid) else 0
        if np.bincount(gid[par], minlength=n_groups).max(initial=0) > 1:
            raise ValueError(f"nesting '{nest.name}': two parent rows share a key")
        parent = np.full(n_groups, -1)
        parent[gid[par]] = rows[par]
        keep = np.flatnonzero(np.bincount(gid[~par], minlength=n_groups) > 0)
        remap = np.full(n_groups, -1)
        remap[keep] = np.arange(len(keep)) + offset
        first = np.zeros(n_groups, int)
        first[gid] = np.arange(len(gid))                  # any row of a group: same key values
        parts.append((remap[gid[~par]], rows[~par], parent[keep]))
        labels.append((offset, nest.name, keys, first[keep]))
        offset += len(keep)
    mg, mr, prow = (np.concatenate([p[i] for p in parts] or [np.zeros(0)]).astype(np.int64)
                    for i in range(3))
    return _Groups(mg, mr, prow, labels)


def _names(cols: str | Sequence[str]) -> list[str]:
    return [cols] if isinstance(cols, str) else list(cols)


def _small(x: np.ndarray, k: float) -> np.ndarray:
    return (x > EPS) & (x < k - EPS)


def _sums(g: _Groups, values: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Per group and column: the sum of values * weight over its children."""
    w = weight[g.member_row].astype(float)
    return np.stack([np.bincount(g.member_group, weights=values[g.member_row, j] * w,
                                 minlength=len(g.parent_row)) for j in range(values.shape[1])], 1)


def _solve(counts: np.ndarray, supp: np.ndarray, g: _Groups, k: float) -> np.ndarray:
    """The fixed point of rules 2-4 (module docstring): the final suppression flags."""
    has_par = g.parent_row >= 0
    prow = np.where(has_par, g.parent_row, 0)
    pvals = np.where(has_par[:, None], counts[prow], np.nan)
    for _ in range(len(supp) + 1):
        n_supp = np.bincount(g.member_group, weights=supp[g.member_row], minlength=len(prow))
        s_tot, r_tot = _sums(g, counts, supp), pvals - _sums(g, counts, ~supp)
        par_pub = ~has_par | ~supp[prow]
        up = par_pub & ((n_supp == 1) | _small(s_tot, k).any(1)
                        | ((n_supp > 0) & has_par & _small(r_tot, k).any(1)))
        down = has_par & ~par_pub & (n_supp == 0)
        cand = np.flatnonzero((up | down)[g.member_group] & ~supp[g.member_row])
        cg, cr = g.member_group[cand], g.member_row[cand]
        order = np.lexsort((cr, counts[cr, 0], cg))            # smallest first within a group
        cg, cr = cg[order], cr[order]
        starts = np.r_[0, np.flatnonzero(np.diff(cg)) + 1] if len(cg) else np.zeros(0, int)
        first = np.repeat(starts, np.diff(np.r_[starts, len(cg)]))
        cum = np.cumsum(counts[cr], axis=0)
        cum -= cum[first] - counts[cr][first]                  # running total within the group
        t = np.arange(len(cg)) - first + 1                     # children added so far
        safe = down[cg] | ((n_supp[cg] + t != 1) & ~_small(s_tot[cg] + cum, k).any(1)
                           & ~(has_par[cg][:, None] & _small(r_tot[cg] + cum, k)).any(1))
        need = np.full(len(prow), NEVER)
        np.minimum.at(need, cg[safe], t[safe])
        new = supp.copy()
        new[cr[t <= need[cg]]] = True
        new[g.parent_row[up & has_par & (need == NEVER)]] = True
        if (new == supp).all():
            return supp
        supp = new
    raise RuntimeError("complementary suppression did not converge")


# ---------------------------------------------------------------- pandas core and Spark
def _order(pdf: pd.DataFrame, hierarchy: Hierarchy, skip: Sequence[str]) -> np.ndarray:
    """Positions of the rows in a deterministic order (the complement choice's tie-break)."""
    flat = pdf.reset_index(drop=True)
    try:
        flat = flat.sort_values([c for c in pdf.columns if c not in skip], kind="mergesort")
    except TypeError:
        flat = flat.sort_values(list(hierarchy.columns), kind="mergesort")
    return flat.index.to_numpy()


def _prepare(pdf: pd.DataFrame, hierarchy: Hierarchy, count_cols: list[str],
             value_cols: list[str], flag_col: str):
    order = _order(pdf, hierarchy, value_cols + [flag_col])
    work = pdf.iloc[order].reset_index(drop=True)
    flags = work[flag_col].fillna(False).to_numpy(bool) if flag_col in work else np.zeros(len(work), bool)
    return order, work, flags, work[count_cols].apply(pd.to_numeric, errors="coerce").to_numpy(float)


def _suppress_pandas(pdf: pd.DataFrame, k: float, count_cols: list[str], value_cols: list[str],
                     hierarchy: Hierarchy, flag_col: str) -> pd.DataFrame:
    order, work, prior, counts = _prepare(pdf, hierarchy, count_cols, value_cols, flag_col)
    supp = prior | np.isnan(counts).any(1) | (counts < k - EPS).any(1)
    flag = np.empty(len(pdf), bool)
    flag[order] = _solve(np.nan_to_num(counts), supp, _groups(work, hierarchy), k)
    out = pdf.copy()
    for col in value_cols:
        out[col] = (out[col].astype("Int64") if pd.api.types.is_integer_dtype(out[col])
                    else out[col]).mask(flag)
    out[flag_col] = flag
    return out


def _spark_apply(df: SparkDataFrame, fn, schema: T.StructType, hierarchy: Hierarchy) -> SparkDataFrame:
    """``fn`` in pandas on each component (the rows sharing the component columns)."""
    keys = [c for c in hierarchy.component_cols if c in df.columns]
    if keys:
        return df.groupBy(*keys).applyInPandas(lambda pdf: fn(pdf), schema)
    whole = df.withColumn("__all", F.lit(0)).groupBy("__all")
    return whole.applyInPandas(lambda pdf: fn(pdf.drop(columns="__all")), schema)


def _suppress(df: Any, k: float, count_cols: list[str], value_cols: list[str],
              hierarchy: Hierarchy, flag_col: str) -> Any:
    value_cols = list(dict.fromkeys(count_cols + value_cols))
    if missing := [c for c in value_cols if c not in df.columns]:
        raise ValueError(f"privacy: frame lacks column(s) {missing}")
    fn = partial(_suppress_pandas, k=k, count_cols=count_cols, value_cols=value_cols,
                 hierarchy=hierarchy, flag_col=flag_col)
    if isinstance(df, pd.DataFrame):
        return fn(df)
    flag = T.StructField(flag_col, T.BooleanType(), False)
    fields = [flag if f.name == flag_col else
              T.StructField(f.name, f.dataType, f.nullable or f.name in value_cols) for f in df.schema]
    schema = T.StructType(fields + ([] if flag_col in df.columns else [flag]))
    return _spark_apply(df, fn, schema, hierarchy).select(*schema.fieldNames())


def suppress_people(df: Any, k: int, count_col: str | Sequence[str] = "subscribers",
                    value_cols: Sequence[str] = (), hierarchy: Hierarchy | None = None,
                    flag_col: str = "suppressed") -> Any:
    """k-anonymity with complementary suppression (rule in the module docstring).

    ``count_col``: the distinct-people count(s) deciding it (several when a row is withheld if
    any is small, e.g. residents and visitors); ``value_cols``: further people columns withheld
    with them; ``hierarchy``: the relations (default ``h3_hierarchy()``)."""
    return _suppress(df, k, _names(count_col), list(value_cols),
                     h3_hierarchy() if hierarchy is None else hierarchy, flag_col)


def mask_health(df: Any, threshold: int, cols: Sequence[str], hierarchy: Hierarchy | None = None,
                count_cols: Sequence[str] | None = None, flag_col: str = "masked") -> Any:
    """Small-count mask of hex-level health counts: rows whose count (``count_cols``, default the
    first of ``cols``) is below ``threshold`` get ``cols`` null and ``flag_col`` true, with the same
    complementary rule (default relations: ``default_health_hierarchy``)."""
    cols = list(cols)
    hierarchy = default_health_hierarchy(df.columns) if hierarchy is None else hierarchy
    return _suppress(df, threshold, list(count_cols or cols[:1]), cols, hierarchy, flag_col)


# ---------------------------------------------------------------- audit
class Violation(NamedTuple):
    table: str
    key: str
    rule: str
    detail: str


AUDIT_SCHEMA = T.StructType([T.StructField(n, T.StringType(), False) for n in Violation._fields])


def _audit_pandas(pdf: pd.DataFrame, k: float, count_cols: list[str], value_cols: list[str],
                  hierarchy: Hierarchy, flag_col: str, table: str) -> pd.DataFrame:
    _, pdf, flag, vals = _prepare(pdf, hierarchy, count_cols, value_cols, flag_col)
    keys = [c for c in pdf.columns if c not in value_cols + [flag_col]]
    row_key = (lambda i: ", ".join(f"{c}={pdf[c].iat[i]}" for c in keys))
    found = [(row_key(i), "published_below_k", f"{vals[i].tolist()} < {k}")
             for i in np.flatnonzero(~flag & _small(np.nan_to_num(vals), k).any(1))]
    found += [(row_key(i), "suppressed_value_present", "a withheld row still has values")
              for i in np.flatnonzero(flag & pdf[value_cols].notna().any(axis=1).to_numpy())]
    known = ~flag & ~np.isnan(vals).any(1)
    vals = np.where(known[:, None], vals, 0.0)
    g = _groups(pdf, hierarchy)
    has_par = g.parent_row >= 0
    prow = np.where(has_par, g.parent_row, 0)
    derived = np.zeros(len(pdf), bool)
    while True:                                   # the attacker solves one-unknown relations
        unk = np.bincount(g.member_group, weights=~known[g.member_row], minlength=len(prow))
        sums = _sums(g, vals, known)
        solve_par = has_par & ~known[prow] & (unk == 0)
        solve_child = has_par & known[prow] & (unk == 1)
        if not (solve_par.any() or solve_child.any()):
            break
        vals[prow[solve_par]] = sums[solve_par]
        m = np.flatnonzero(solve_child[g.member_group] & ~known[g.member_row])
        rows, grp = g.member_row[m], g.member_group[m]
        vals[rows] = vals[prow[grp]] - sums[grp]
        newly = np.r_[prow[solve_par], rows].astype(int)
        known[newly] = derived[newly] = True
    for i in np.flatnonzero(derived & _small(vals, k).any(1)):
        found.append((row_key(i), "recoverable_by_difference", f"withheld value {vals[i].tolist()}"))
    resid = np.where(has_par[:, None], vals[prow], np.nan) - _sums(g, vals, known)
    for j in np.flatnonzero(has_par & known[prow] & (unk >= 1) & _small(resid, k).any(1)):
        found.append((g.name(j), "recoverable_by_difference",
                      f"parent minus published children = {resid[j].tolist()}"))
    n_child = np.bincount(g.member_group, minlength=len(prow))
    for j in np.flatnonzero(~has_par & (unk == 1) & (n_child > 1)):
        found.append((g.name(j), "single_suppressed_under_published_total", "one withheld child"))
    return pd.DataFrame([(table, *f) for f in found], columns=list(Violation._fields))


def _audit(df: Any, k: float, count_cols: list[str], value_cols: list[str],
           hierarchy: Hierarchy, flag_col: str, table: str) -> list[Violation]:
    found = [Violation(table, c, "subscriber_level_column", f"column '{c}' identifies subscribers")
             for c in df.columns if c.lower() in SUBSCRIBER_LEVEL_COLUMNS]
    fn = partial(_audit_pandas, k=k, count_cols=count_cols, hierarchy=hierarchy, flag_col=flag_col,
                 value_cols=list(dict.fromkeys(count_cols + value_cols)), table=table)
    rows = (fn(df).itertuples(index=False) if isinstance(df, pd.DataFrame)
            else _spark_apply(df, fn, AUDIT_SCHEMA, hierarchy).collect())
    return sorted(found + [Violation(*r) for r in rows], key=lambda v: (v.rule, v.key))


def audit_people(df: Any, k: int, count_col: str | Sequence[str] = "subscribers",
                 value_cols: Sequence[str] = (), hierarchy: Hierarchy | None = None,
                 flag_col: str = "suppressed", table: str = "") -> list[Violation]:
    """Violations of the k-anonymity rule in a table as published (empty list: it passes)."""
    return _audit(df, k, _names(count_col), list(value_cols),
                  h3_hierarchy() if hierarchy is None else hierarchy, flag_col, table)


def audit_health(df: Any, threshold: int, cols: Sequence[str], hierarchy: Hierarchy | None = None,
                 count_cols: Sequence[str] | None = None, flag_col: str = "masked",
                 table: str = "") -> list[Violation]:
    """Violations of the health small-count mask (the checks of ``audit_people``)."""
    cols = list(cols)
    hierarchy = default_health_hierarchy(df.columns) if hierarchy is None else hierarchy
    return _audit(df, threshold, list(count_cols or cols[:1]), cols, hierarchy, flag_col, table)
