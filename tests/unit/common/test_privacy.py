"""The suppression step and its audit (jobs/common/privacy.py): behaviour on small inline frames,
pandas and Spark. The attacks on published output are in test_privacy_attacks.py."""

from datetime import date

import h3
import numpy as np
import pandas as pd
import pytest
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual

from jobs.common.privacy import (Hierarchy, Nesting, audit_health, audit_people, h3_hierarchy,
                                 health_mask_below, k_anonymity, mask_health, suppress_people)

K = 15
DS = date(2020, 3, 16)
P8 = h3.latlng_to_cell(43.252, 76.909, 8)
KIDS = sorted(h3.cell_to_children(P8, 9))
TREE = h3_hierarchy(resolutions=(9, 8), periods=(), district_col=None, city=False)


def parent_and_children(counts, hour=8, district="Almaly"):
    """A res-8 cell with its 7 res-9 children (counts in child order) and the summed parent."""
    rows = [(DS, hour, c, 9, district, n) for c, n in zip(KIDS, counts)]
    rows.append((DS, hour, P8, 8, district, sum(counts)))
    df = pd.DataFrame(rows, columns=["ds", "hour", "h3_cell", "resolution", "district", "subscribers"])
    return df.assign(people_est=df.subscribers * 2.5, events=df.subscribers * 3)


def flags_by_cell(out):
    return dict(zip(out.h3_cell, out.suppressed))


def test_counts_at_or_above_k_everywhere_suppress_nothing():
    df = parent_and_children([15, 20, 25, 30, 40, 50, 60])
    out = suppress_people(df, K, value_cols=["people_est", "events"], hierarchy=h3_hierarchy())
    assert len(out) == len(df) and not out.suppressed.any()
    pd.testing.assert_frame_equal(out.drop(columns="suppressed"), df, check_dtype=False)


def test_k_comes_from_the_city_config(city_cfg):
    assert k_anonymity(city_cfg) == 15 and health_mask_below(city_cfg) == 5
    k = k_anonymity(city_cfg)
    out = suppress_people(parent_and_children([14, 15, 40, 40, 40, 40, 40]), k, hierarchy=TREE)
    flags = flags_by_cell(out)
    assert flags[KIDS[0]] and flags[KIDS[1]]          # 14 is below k; 15 is its complement
    assert not any(flags[c] for c in KIDS[2:]) and not flags[P8]


def test_single_small_child_gets_the_smallest_published_sibling_as_complement():
    df = parent_and_children([3, 25, 20, 30, 40, 50, 60])
    out = suppress_people(df, K, value_cols=["people_est", "events"], hierarchy=TREE)
    assert sorted(c for c, s in flags_by_cell(out).items() if s) == sorted([KIDS[0], KIDS[2]])
    suppressed = out[out.suppressed]
    assert suppressed[["subscribers", "people_est", "events"]].isna().all().all()
    assert out.loc[~out.suppressed, "subscribers"].tolist() == [25, 30, 40, 50, 60, 228]


def test_complement_continues_until_the_suppressed_total_reaches_k():
    out = suppress_people(parent_and_children([3, 4, 5, 30, 40, 50, 60]), K, hierarchy=TREE)
    # 3 + 4 + 5 = 12 < 15: the smallest published sibling (30) joins them
    assert sorted(c for c, s in flags_by_cell(out).items() if s) == sorted(KIDS[:4])


def test_suppressed_parent_with_published_children_gets_a_suppressed_child():
    df = parent_and_children([20, 25, 30, 40, 50, 60, 70])
    df["suppressed"] = df.h3_cell == P8                  # withheld upstream, e.g. by another rule
    out = suppress_people(df, K, hierarchy=TREE)
    flags = flags_by_cell(out)
    # the parent would be their sum: its smallest child is withheld too (parent - child stays unknown)
    assert flags[P8] and flags[KIDS[0]] and sum(flags.values()) == 2


def test_rows_are_never_dropped_and_flags_match_nulls():
    df = pd.concat([parent_and_children([3, 25, 20, 30, 40, 50, 60], hour=h) for h in range(4)],
                   ignore_index=True)
    df.index = [7] * len(df)                               # a duplicated index must not matter
    out = suppress_people(df, K, value_cols=["people_est"], hierarchy=h3_hierarchy(district_col=None))
    assert len(out) == len(df) and list(out.index) == list(df.index)
    assert out[["ds", "hour", "h3_cell"]].equals(df[["ds", "hour", "h3_cell"]])
    assert (out.suppressed == out.subscribers.isna()).all()
    assert (out.suppressed == out.people_est.isna()).all()
    kept = ~out.suppressed.to_numpy()
    assert (out.subscribers[kept].to_numpy() == df.subscribers[kept].to_numpy()).all()


def test_result_does_not_depend_on_row_order():
    df = pd.concat([parent_and_children([3, 20, 20, 20, 40, 50, 60], hour=h) for h in range(3)],
                   ignore_index=True)
    first = suppress_people(df, K, hierarchy=h3_hierarchy(district_col=None))
    shuffled = suppress_people(df.sample(frac=1, random_state=3), K, hierarchy=h3_hierarchy(district_col=None))
    key = ["hour", "h3_cell"]
    pd.testing.assert_frame_equal(first.sort_values(key).reset_index(drop=True),
                                  shuffled.sort_values(key).reset_index(drop=True))


def test_null_counts_are_treated_as_suppressed():
    df = parent_and_children([20, 25, 30, 40, 50, 60, 70])
    df["subscribers"] = df.subscribers.astype("Int64")
    df.loc[df.h3_cell == KIDS[3], "subscribers"] = pd.NA
    flags = flags_by_cell(suppress_people(df, K, hierarchy=TREE))
    assert flags[KIDS[3]] and flags[KIDS[0]] and sum(flags.values()) == 2


def test_several_count_columns_suppress_when_any_is_small():
    df = parent_and_children([40, 40, 40, 40, 40, 40, 40]).rename(columns={"subscribers": "residents"})
    df["visitors"] = [2, 30, 30, 30, 30, 31, 30, 183]
    out = suppress_people(df, K, count_col=["residents", "visitors"], hierarchy=TREE)
    flags = flags_by_cell(out)
    assert flags[KIDS[0]] and sum(flags.values()) == 2
    assert out.loc[out.suppressed, ["residents", "visitors"]].isna().all().all()


def test_missing_hierarchy_columns_fail_with_the_nesting_name():
    df = parent_and_children([20] * 7).drop(columns="district")
    with pytest.raises(ValueError, match="district"):
        suppress_people(df, K, hierarchy=h3_hierarchy(resolutions=(9, 8)))


# ---------------------------------------------------------------- health mask
def health_frame():
    """Hex-day ambulance calls of one district: one hex with 2 calls, the rest 6..20."""
    rows = [(DS, c, 9, "Almaly", "all", n, n // 2) for c, n in zip(KIDS, [2, 7, 6, 9, 12, 15, 20])]
    rows.append((DS, P8, 8, "Almaly", "all", 71, 35))
    return pd.DataFrame(rows, columns=["ds", "h3_cell", "resolution", "district", "reason_group",
                                       "calls", "hospitalised"])


def test_mask_health_masks_small_counts_and_a_complement_in_the_district():
    out = mask_health(health_frame(), 5, ["calls", "hospitalised"])
    flags = dict(zip(out.h3_cell, out.masked))
    assert flags[KIDS[0]] and flags[KIDS[2]] and sum(flags.values()) == 2   # 2 + 6 >= 5
    assert out.loc[out.masked, ["calls", "hospitalised"]].isna().all().all()
    assert len(out) == len(health_frame())
    assert audit_health(out, 5, ["calls", "hospitalised"]) == []


def test_mask_health_reason_groups_add_up_to_all():
    cardiac, other = [8, 8, 8, 8, 8, 3, 8], [10, 10, 10, 10, 10, 12, 10]
    rows = [(DS, c, 9, "Almaly", g, n) for g, ns in (("cardiac", cardiac), ("other", other))
            for c, n in zip(KIDS, ns)]
    rows += [(DS, c, 9, "Almaly", "all", a + b) for c, a, b in zip(KIDS, cardiac, other)]
    df = pd.DataFrame(rows, columns=["ds", "h3_cell", "resolution", "district", "reason_group", "calls"])
    out = mask_health(df, 5, ["calls"])
    masked = sorted(zip(out[out.masked].reason_group, out[out.masked].h3_cell))
    # cardiac 3 in hex 5; 'all' of hex 5 is published, so its 'other' goes too; in the district
    # the smallest other cardiac hex (hex 0) is the complement, and with it hex 0's 'other'
    assert masked == sorted([("cardiac", KIDS[0]), ("cardiac", KIDS[5]), ("other", KIDS[0]),
                             ("other", KIDS[5])])
    pub = out[~out.masked & (out.reason_group != "all")].groupby("h3_cell").calls.sum()
    total = out[out.reason_group == "all"].set_index("h3_cell").calls
    assert not ((total - pub.reindex(total.index, fill_value=0)).between(1, 4)).any()
    assert audit_health(out, 5, ["calls"]) == []


# ---------------------------------------------------------------- audit
def test_audit_passes_on_suppressed_output():
    df = pd.concat([parent_and_children([3, 25, 20, 30, 40, 50, 60], hour=h) for h in range(3)],
                   ignore_index=True)
    out = suppress_people(df, K, value_cols=["people_est"])
    assert audit_people(out, K, value_cols=["people_est"], table="agg_presence__h3_hour") == []


def test_audit_finds_a_published_seven():
    out = suppress_people(parent_and_children([20, 25, 30, 40, 50, 60, 70]), K, hierarchy=TREE)
    out.loc[out.h3_cell == KIDS[0], "subscribers"] = 7
    found = audit_people(out, K, hierarchy=TREE, table="agg_presence__h3_hour")
    assert [(v.table, v.rule) for v in found] == [("agg_presence__h3_hour", "published_below_k")]
    assert KIDS[0] in found[0].key


def test_audit_finds_a_value_recoverable_by_difference():
    out = suppress_people(parent_and_children([3, 25, 20, 30, 40, 50, 60]), K, hierarchy=TREE)
    complement = (out.h3_cell == KIDS[2])
    out.loc[complement, ["subscribers", "suppressed"]] = [20, False]     # publish the complement
    found = audit_people(out, K, hierarchy=TREE, table="t")
    assert [v.rule for v in found] == ["recoverable_by_difference"]
    assert KIDS[0] in found[0].key and "3.0" in found[0].detail


def test_audit_finds_a_small_suppressed_total_and_leaks_and_subscriber_columns():
    out = suppress_people(parent_and_children([3, 4, 5, 30, 40, 50, 60]), K, value_cols=["people_est"],
                          hierarchy=TREE)
    out.loc[out.h3_cell == KIDS[3], ["subscribers", "suppressed"]] = [30, False]  # 3+4+5 = 12 left
    out.loc[out.h3_cell == KIDS[0], "people_est"] = 7.5                          # a flagged value
    out["subscriber_key"] = 1
    rules = sorted(v.rule for v in audit_people(out, K, value_cols=["people_est"], hierarchy=TREE))
    assert rules == ["recoverable_by_difference", "subscriber_level_column", "suppressed_value_present"]


def test_audit_finds_a_single_suppressed_cell_under_a_published_district_total():
    df = parent_and_children([20, 25, 30, 40, 50, 60, 70])
    df["suppressed"] = df.h3_cell == KIDS[4]
    df.loc[df.suppressed, "subscribers"] = None
    hier = Hierarchy((Nesting("res 9 in district", ("ds", "district"), "resolution", (9,)),))
    found = audit_people(df, K, hierarchy=hier)
    assert [v.rule for v in found] == ["single_suppressed_under_published_total"]


def test_audit_health_finds_an_unmasked_three():
    df = health_frame().assign(masked=False)
    assert [v.rule for v in audit_health(df, 5, ["calls", "hospitalised"])] == ["published_below_k"]


# ---------------------------------------------------------------- Spark twin
SCHEMA = T.StructType([T.StructField("ds", T.DateType(), False), T.StructField("hour", T.IntegerType(), False),
                       T.StructField("h3_cell", T.StringType(), False),
                       T.StructField("resolution", T.IntegerType(), False),
                       T.StructField("district", T.StringType(), False),
                       T.StructField("subscribers", T.LongType(), True),
                       T.StructField("people_est", T.DoubleType(), True),
                       T.StructField("events", T.LongType(), True)])


def test_spark_matches_the_pandas_twin_and_keeps_every_row(spark):
    df = pd.concat([parent_and_children([3, 25, 20, 30, 40, 50, 60], hour=h) for h in (7, 8)]
                   + [parent_and_children([40, 2, 40, 40, 40, 40, 40], hour=8).assign(
                       ds=date(2020, 3, 17))], ignore_index=True)
    sdf = spark.createDataFrame(df, SCHEMA)
    got = suppress_people(sdf, K, value_cols=["people_est", "events"])
    assert got.columns == df.columns.tolist() + ["suppressed"]
    assert got.schema["suppressed"].dataType == T.BooleanType()
    want = suppress_people(df, K, value_cols=["people_est", "events"])
    expected = spark.createDataFrame(want.astype(object).where(want.notna(), None), got.schema)
    assert expected.count() == len(df)                   # every row, and the same flags
    assertDataFrameEqual(got, expected)
    assert audit_people(got, K, value_cols=["people_est", "events"]) == []


def test_spark_audit_finds_planted_violations(spark):
    out = suppress_people(parent_and_children([3, 25, 20, 30, 40, 50, 60]), K, hierarchy=TREE)
    out.loc[out.h3_cell == KIDS[2], ["subscribers", "suppressed"]] = [20, False]
    other_day = parent_and_children([7, 25, 20, 30, 40, 50, 60]).assign(ds=date(2020, 3, 17),
                                                                        suppressed=False)
    out = pd.concat([out, other_day], ignore_index=True)
    sdf = spark.createDataFrame(out.astype(object).where(out.notna(), None),
                                "ds date, hour int, h3_cell string, resolution int, district string, "
                                "subscribers long, people_est double, events long, suppressed boolean")
    assert sorted(v.rule for v in audit_people(sdf, K, hierarchy=TREE)) == [
        "published_below_k", "recoverable_by_difference"]


def test_spark_without_shared_group_columns_runs_as_one_component(spark):
    df = parent_and_children([3, 25, 20, 30, 40, 50, 60])
    hier = Hierarchy((Nesting("res 9 by district", ("district",), "resolution", (9,)),
                      Nesting("res 9 by hour", ("hour",), "resolution", (9,))))
    assert hier.component_cols == ()
    got = suppress_people(spark.createDataFrame(df, SCHEMA), K, hierarchy=hier).toPandas()
    want = suppress_people(df, K, hierarchy=hier)
    assert flags_by_cell(got) == flags_by_cell(want) and np.sum(got.suppressed) == 2
