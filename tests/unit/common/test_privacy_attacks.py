"""Attacks on published output of jobs/common/privacy.py: an adversary who knows every published
count and every published total (parent cells, district and city totals, day totals, longer
periods) subtracts them from one another. No attack may reveal a value in 1..k-1, and the
suppression must never drop a row. Hierarchies are built inline with known small counts."""

from datetime import date

import h3
import numpy as np
import pandas as pd
import pytest
from pyspark.sql import types as T

from jobs.common.privacy import Hierarchy, Nesting, audit_people, h3_hierarchy, suppress_people

K = 15
DS = date(2020, 3, 16)
ROOT7 = h3.latlng_to_cell(43.252, 76.909, 7)
RES8 = sorted(h3.cell_to_children(ROOT7, 8))
RES9 = sorted(h3.cell_to_children(ROOT7, 9))
LON0 = h3.cell_to_latlng(ROOT7)[1]
HIER = h3_hierarchy()                          # res 9/8/7, districts, city, hours of the day


def district(cell: str) -> str:
    """Two districts split by a meridian that cuts through res-8 cells (not aligned with H3)."""
    return "Almaly" if h3.cell_to_latlng(cell)[1] < LON0 + 0.004 else "Bostandyk"


def fragment(res9_counts: dict[int, np.ndarray]) -> pd.DataFrame:
    """A res-7 cell, its 7 res-8 and 49 res-9 cells per hour; res-8/7 counts are the sums of
    their children (additive: the attacker's best case)."""
    parts = []
    for hour, counts in res9_counts.items():
        fine = pd.DataFrame({"h3_cell": RES9, "subscribers": counts}).query("subscribers > 0")
        for res in (9, 8, 7):
            cells = fine.h3_cell.map(lambda c: h3.cell_to_parent(c, res))
            agg = fine.groupby(cells).subscribers.sum().reset_index()
            parts.append(agg.assign(ds=DS, hour=hour, resolution=res))
    df = pd.concat(parts, ignore_index=True)
    df["district"] = df.h3_cell.map(district)
    df["people_est"] = df.subscribers * 2.5
    return df[["ds", "hour", "h3_cell", "resolution", "district", "subscribers", "people_est"]]


def spec_fragment() -> pd.DataFrame:
    """Hour 8: a res-8 parent whose 7 res-9 children hold 3, 20, 25, 30, 40, 50, 60 people; the
    other res-8 cells are busy. Hours 9 and 10: a quieter city with many small cells."""
    rng = np.random.default_rng(7)
    hour8 = np.full(49, 45)
    hour8[:7] = [3, 20, 25, 30, 40, 50, 60]
    return fragment({8: hour8, 9: rng.integers(1, 40, 49), 10: rng.integers(0, 25, 49)})


def random_fragment(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return fragment({h: rng.lognormal(np.log(12), 1.2, 49).round().astype(int) for h in range(4)})


# ---------------------------------------------------------------- attacks
def _revealed(values: pd.Series) -> pd.Series:
    return values[(values >= 1) & (values <= K - 1)]


def attack_parents(pub: pd.DataFrame) -> pd.Series:
    """Published parent cell minus its published descendants at each finer resolution, where a
    descendant is suppressed; and a suppressed parent whose descendants are all published."""
    found = []
    for fine, coarse in ((9, 8), (9, 7), (8, 7)):
        kids = pub[pub.resolution == fine].assign(
            parent=lambda d: d.h3_cell.map(lambda c: h3.cell_to_parent(c, coarse)))
        sums = kids.groupby(["hour", "parent"]).agg(published=("subscribers", "sum"),
                                                     hidden=("suppressed", "sum"))
        par = pub[pub.resolution == coarse].set_index(["hour", "h3_cell"])
        both = sums.join(par[["subscribers", "suppressed"]].rename_axis(["hour", "parent"]))
        open_parent = ~both.suppressed.astype(bool) & (both.hidden > 0)
        found.append(_revealed(both.subscribers[open_parent] - both.published[open_parent]))
        # a suppressed parent is its children's sum when none of them is suppressed
        assert not (both.suppressed.astype(bool) & (both.hidden == 0)).any()
    return pd.concat(found)


def attack_totals(pub: pd.DataFrame, truth: pd.DataFrame, keys: list[str]) -> pd.Series:
    """A total published elsewhere (district, city, the day) minus the published cells in it."""
    total = truth.groupby(keys).subscribers.sum()
    total = total[total >= K]                      # a smaller total is itself withheld
    g = pub.groupby(keys).agg(published=("subscribers", "sum"), hidden=("suppressed", "sum"))
    g = g.join(total.rename("total"), how="inner")
    return _revealed((g.total - g.published)[g.hidden > 0])


def all_attacks(pub: pd.DataFrame, truth: pd.DataFrame) -> pd.Series:
    assert len(pub) == len(truth)                                   # no row is ever dropped
    assert (pub.suppressed == pub.subscribers.isna()).all()
    return pd.concat([
        attack_parents(pub),
        attack_totals(pub, truth, ["hour", "resolution", "district"]),   # district vs its cells
        attack_totals(pub, truth, ["hour", "resolution"]),               # city vs its cells
        attack_totals(pub, truth, ["h3_cell"]),                          # a cell's day vs hours
        attack_totals(pub, truth, ["resolution", "district"]),           # a district's day
        attack_totals(pub, truth, ["resolution"]),                       # the city's day
    ])


def relations(pub: pd.DataFrame, truth: pd.DataFrame) -> list[tuple[tuple[str, float], list[int]]]:
    """Every additive relation the attacker knows: (("row", parent row) or ("total", value),
    child rows). Totals below k are withheld where they are published, so they are left out."""
    out = []
    for fine, coarse in ((9, 8), (9, 7), (8, 7)):
        par = {(r.hour, r.h3_cell): i for i, r in pub[pub.resolution == coarse].iterrows()}
        kids = pub[pub.resolution == fine]
        for (hour, parent), idx in kids.groupby(
                [kids.hour, kids.h3_cell.map(lambda c: h3.cell_to_parent(c, coarse))]).groups.items():
            out.append((("row", par[(hour, parent)]), list(idx)))
    for keys in (["hour", "resolution", "district"], ["hour", "resolution"], ["h3_cell"],
                 ["resolution", "district"], ["resolution"]):
        for _, idx in truth.groupby(keys).groups.items():
            if truth.subscribers[idx].sum() >= K:
                out.append((("total", truth.subscribers[idx].sum()), list(idx)))
    return out


def chained_attack(pub: pd.DataFrame, truth: pd.DataFrame) -> dict[int, float]:
    """Iterated differencing: whenever a relation has one unknown left, solve it and use it in
    the next round. Returns the small values recovered."""
    known = {i: v for i, v in pub.subscribers.items() if not pd.isna(v)}
    solved: dict[int, float] = {}
    changed = True
    while changed:
        changed = False
        for (kind, ref), kids in relations(pub, truth):
            unknown = [m for m in kids + ([ref] if kind == "row" else []) if m not in known]
            if len(unknown) != 1:
                continue
            u = unknown[0]
            if kind == "row" and u == ref:
                value = sum(known[c] for c in kids)
            else:
                value = (ref if kind == "total" else known[ref]) - sum(known[c] for c in kids if c != u)
            known[u] = solved[u] = value
            changed = True
    return {i: v for i, v in solved.items() if 1 <= v <= K - 1}


def linear_attack(pub: pd.DataFrame, truth: pd.DataFrame) -> dict[int, int]:
    """All relations solved at once: a suppressed value is pinned down when every solution of
    the linear system agrees on it (its coordinate vanishes on the null space)."""
    hidden = np.flatnonzero(pub.suppressed.to_numpy())
    col = {row: j for j, row in enumerate(hidden)}
    system = []
    for (kind, ref), kids in relations(pub, truth):
        eq = np.zeros(len(hidden))
        for c in kids:
            if c in col:
                eq[col[c]] -= 1
        if kind == "row" and ref in col:
            eq[col[ref]] += 1
        if eq.any():
            system.append(eq)
    _, sv, vt = np.linalg.svd(np.array(system))
    null = vt[int((sv > 1e-9).sum()):]
    pinned = hidden[np.linalg.norm(null, axis=0) < 1e-9]
    return {int(i): int(truth.subscribers[i]) for i in pinned if 1 <= truth.subscribers[i] <= K - 1}


# ---------------------------------------------------------------- pandas
def test_spec_hierarchy_small_child_is_protected_against_every_differencing():
    truth = spec_fragment()
    pub = suppress_people(truth, K, value_cols=["people_est"], hierarchy=HIER)
    small = pub[(pub.hour == 8) & (pub.h3_cell == RES9[0])]
    assert small.suppressed.all() and small.subscribers.isna().all()
    assert all_attacks(pub, truth).empty
    assert chained_attack(pub, truth) == {}
    assert linear_attack(pub, truth) == {}
    assert audit_people(pub, K, value_cols=["people_est"], hierarchy=HIER) == []


def test_the_attacks_do_find_values_without_complementary_suppression():
    truth = spec_fragment()
    naive = truth.assign(suppressed=truth.subscribers < K)
    naive["subscribers"] = naive.subscribers.where(~naive.suppressed)
    revealed = all_attacks(naive, truth)
    assert 3 in set(revealed)                       # the parent minus six children gives the 3
    assert chained_attack(naive, truth) and linear_attack(naive, truth)
    assert audit_people(naive, K, hierarchy=HIER)


@pytest.mark.parametrize("seed", range(6))
def test_random_skewed_hierarchies_reveal_nothing(seed):
    truth = random_fragment(seed)
    pub = suppress_people(truth, K, value_cols=["people_est"], hierarchy=HIER)
    assert pub.suppressed.sum() > (truth.subscribers < K).sum()      # complements were needed
    assert all_attacks(pub, truth).empty
    assert chained_attack(pub, truth) == {}
    assert linear_attack(pub, truth) == {}
    assert audit_people(pub, K, value_cols=["people_est"], hierarchy=HIER) == []


def test_two_overlapping_periods_reveal_nothing():
    """Days d and d+1 and the period d..d+1 per cell: the period minus a published day must not
    give the other day's small count (people never counted twice: the attacker's best case)."""
    day1 = [3, 40, 18, 25, 50, 9, 30]
    day2 = [30, 2, 22, 60, 16, 20, 35]
    rows = [(DS, "day", c, a) for c, a in zip(RES9, day1)]
    rows += [(date(2020, 3, 17), "day", c, b) for c, b in zip(RES9, day2)]
    rows += [(DS, "2days", c, a + b) for c, a, b in zip(RES9, day1, day2)]
    truth = pd.DataFrame(rows, columns=["ds", "period", "h3_cell", "subscribers"])
    truth["window"] = DS
    hier = Hierarchy((Nesting("days in the period", ("window", "h3_cell"), "period", ("day",), "2days"),
                      Nesting("cells in the city", ("window", "ds", "period"))))
    pub = suppress_people(truth, K, hierarchy=hier)
    assert len(pub) == len(truth)
    days = pub[pub.period == "day"].pivot(index="h3_cell", columns="ds", values="subscribers")
    period = pub[pub.period == "2days"].set_index("h3_cell").subscribers
    for day in days.columns:
        other = period - days[day]                  # the other day, if both are published
        assert _revealed(other.dropna()).empty
    city = truth.groupby(["ds", "period"]).subscribers.sum()
    published = pub.groupby(["ds", "period"]).subscribers.sum()
    assert _revealed(city - published).empty
    assert audit_people(pub, K, hierarchy=hier) == []


def test_no_complement_when_nothing_is_small():
    truth = fragment({h: np.full(49, 15 + h) for h in range(3)})
    pub = suppress_people(truth, K, hierarchy=HIER)
    assert not pub.suppressed.any() and pub.subscribers.equals(truth.subscribers.astype("Int64"))


# ---------------------------------------------------------------- Spark
SCHEMA = T.StructType([T.StructField("ds", T.DateType(), False), T.StructField("hour", T.LongType(), False),
                       T.StructField("h3_cell", T.StringType(), False),
                       T.StructField("resolution", T.LongType(), False),
                       T.StructField("district", T.StringType(), False),
                       T.StructField("subscribers", T.LongType(), True),
                       T.StructField("people_est", T.DoubleType(), True)])


def test_spark_output_withstands_the_attacks(spark):
    truth = pd.concat([spec_fragment(), random_fragment(11).assign(ds=date(2020, 3, 17))],
                      ignore_index=True)
    sdf = spark.createDataFrame(truth, SCHEMA)
    out = suppress_people(sdf, K, value_cols=["people_est"], hierarchy=HIER)
    got = out.toPandas()
    assert len(got) == len(truth)
    key = ["ds", "hour", "h3_cell"]
    got = got.sort_values(key).reset_index(drop=True)
    truth = truth.sort_values(key).reset_index(drop=True)
    want = suppress_people(truth, K, value_cols=["people_est"], hierarchy=HIER)
    assert (got.suppressed.to_numpy() == want.suppressed.to_numpy()).all()
    for day, part in got.groupby("ds"):
        mask = (truth.ds == day).to_numpy()
        part = part.reset_index(drop=True)
        day_truth = truth[mask].reset_index(drop=True)
        assert all_attacks(part, day_truth).empty
        assert chained_attack(part, day_truth) == {}
        assert linear_attack(part, day_truth) == {}
    assert audit_people(out, K, value_cols=["people_est"], hierarchy=HIER) == []
