"""Conform a DataFrame to its contract before it is written.

Reads a Spark or pandas DataFrame and a contract (``jobs.common.contracts``); returns the frame
with exactly the contract's columns in contract order, safe widenings applied (int -> bigint,
float -> double), or raises ``ContractViolation`` naming the table, the column and the rule
broken: missing column, extra column, wrong type, null in a non-nullable column, duplicate grain
key, value not allowed, below min, above max, pattern mismatch.

Spark checks run as one job: a group-by on the grain that also counts per group every rule's
offending rows, then one aggregation over the groups (no grain: a single aggregation). The
returned frame is lazy; cache it first when the input is expensive to recompute.
"""

import re
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as pdt
from pyspark.sql import DataFrame as SparkDataFrame
from pyspark.sql import types as T

from jobs.common.contracts import Column, Contract, is_complex, load_contract, spark_type


class ContractViolation(ValueError):
    """A frame does not match its contract; ``problems`` lists one line per broken rule."""

    def __init__(self, table: str, problems: list[str]):
        self.table = table
        self.problems = problems
        super().__init__(f"{table} does not conform to its contract:\n  "
                         + "\n  ".join(f"{table}.{p}" for p in problems))


def conform(df: Any, contract: Contract | str, *, check_keys: bool = True,
            check_data: bool = True) -> Any:
    """Select, widen and check ``df`` against ``contract`` (a Contract or a contract name).

    ``check_keys`` tests that the grain is unique; ``check_data`` tests nulls, allowed values,
    min/max and patterns. Schema problems (missing, extra, wrong type) are always checked.
    """
    c = load_contract(contract) if isinstance(contract, str) else contract
    if isinstance(df, SparkDataFrame):
        return _conform_spark(df, c, check_keys, check_data)
    if isinstance(df, pd.DataFrame):
        return _conform_pandas(df, c, check_keys, check_data)
    raise TypeError(f"{c.name}: conform takes a Spark or pandas DataFrame, not {type(df).__name__}")


def _schema_problems(have: list[str], c: Contract) -> list[str]:
    problems = [f"{n}: missing column (in the contract, not in the frame)"
                for n in c.column_names if n not in have]
    problems += [f"{n}: extra column (in the frame, not in the contract)"
                 for n in have if n not in c.column_names]
    return problems


def _value_rules(col: Column) -> list[tuple[str, str]]:
    """(rule, detail) pairs checked on a column's non-null values."""
    rules = []
    if col.allowed is not None:
        rules.append(("value not allowed", "allowed: " + ", ".join(map(str, col.allowed))))
    if col.min is not None:
        rules.append(("below min", f"min {col.min}"))
    if col.max is not None:
        rules.append(("above max", f"max {col.max}"))
    if col.pattern is not None:
        rules.append(("pattern mismatch", f"pattern {col.pattern}"))
    return rules


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _report(c: Contract, results: list[tuple[str, str, int, Any]], dup: tuple | None) -> None:
    problems = []
    for name, rule, count, example in results:
        if count:
            ex = "" if rule.startswith("null") else f", e.g. {_plain(example)!r}"
            problems.append(f"{name}: {rule}: {count} row(s){ex}")
    if dup is not None:
        n_keys, n_example, key = dup
        shown = ", ".join(f"{g}={_plain(v)!r}" for g, v in zip(c.grain, key))
        problems.append(f"{','.join(c.grain)}: duplicate grain key: {n_keys} key(s) repeated, "
                        f"e.g. ({shown}) occurs {n_example} times")
    if problems:
        raise ContractViolation(c.name, problems)


# ---------------------------------------------------------------- Spark
_INTS = (T.ByteType, T.ShortType, T.IntegerType)


def _normalise(dt: T.DataType) -> T.DataType:
    """The type with every nested nullability flag set, for comparing complex types."""
    if isinstance(dt, T.ArrayType):
        return T.ArrayType(_normalise(dt.elementType), True)
    if isinstance(dt, T.MapType):
        return T.MapType(_normalise(dt.keyType), _normalise(dt.valueType), True)
    if isinstance(dt, T.StructType):
        return T.StructType([T.StructField(f.name, _normalise(f.dataType), True) for f in dt.fields])
    return dt


def _spark_cast_needed(have: T.DataType, want: T.DataType) -> bool | None:
    """False: same type; True: safe widening (cast); None: wrong type."""
    if _normalise(have) == _normalise(want):
        return False
    if isinstance(have, T.NullType):
        return True
    if isinstance(want, T.LongType) and isinstance(have, _INTS):
        return True
    if isinstance(want, T.IntegerType) and isinstance(have, (T.ByteType, T.ShortType)):
        return True
    if isinstance(want, T.DoubleType) and isinstance(have, T.FloatType):
        return True
    return None


def _conform_spark(df: SparkDataFrame, c: Contract, check_keys: bool, check_data: bool):
    from pyspark.sql import functions as F

    have = {f.name: f.dataType for f in df.schema.fields}
    problems = _schema_problems(list(have), c)
    exprs = []
    for col in c.columns:
        if col.name not in have:
            continue
        want = spark_type(col.type)
        cast = _spark_cast_needed(have[col.name], want)
        if cast is None:
            problems.append(f"{col.name}: wrong type: {have[col.name].simpleString()} in the frame, "
                            f"{col.type} in the contract (only int->bigint and float->double widen)")
        exprs.append(F.col(col.name).cast(want).alias(col.name) if cast else F.col(col.name))
    if problems:
        raise ContractViolation(c.name, problems)
    out = df.select(*exprs)
    if not (check_keys and c.grain) and not check_data:
        return out

    checks = []                                   # (column, rule, bad-row condition)
    if check_data:
        for col in c.columns:
            x = F.col(col.name)
            if not col.nullable:
                checks.append((col.name, "null in non-nullable column", x.isNull()))
            if is_complex(col.type):
                continue
            for rule, detail in _value_rules(col):
                bad = {"value not allowed": lambda: ~x.isin(list(col.allowed)),
                       "below min": lambda: x < F.lit(col.min),
                       "above max": lambda: x > F.lit(col.max),
                       "pattern mismatch": lambda: ~x.rlike(col.pattern)}[rule]()
                checks.append((col.name, f"{rule} ({detail})", bad))
    counts = [F.sum(F.when(bad, 1).otherwise(0)).alias(f"_b{i}") for i, (_, _, bad) in enumerate(checks)]
    examples = [F.first(F.when(bad, F.col(name)) if not rule.startswith("null") else F.lit(None),
                        ignorenulls=True).alias(f"_e{i}")
                for i, (name, rule, bad) in enumerate(checks)]
    if check_keys and c.grain:
        groups = out.groupBy(*c.grain).agg(F.count(F.lit(1)).alias("_n"), *counts, *examples)
        row = groups.agg(
            F.sum(F.when(F.col("_n") > 1, 1).otherwise(0)).alias("_dup_keys"),
            F.first(F.when(F.col("_n") > 1, F.struct(*c.grain, "_n")), ignorenulls=True).alias("_dup"),
            *[F.sum(f"_b{i}").alias(f"_b{i}") for i in range(len(checks))],
            *[F.first(f"_e{i}", ignorenulls=True).alias(f"_e{i}") for i in range(len(checks))],
        ).collect()[0]
        dup = (row["_dup_keys"], row["_dup"]["_n"], tuple(row["_dup"])[:-1]) if row["_dup_keys"] else None
    else:
        row = out.agg(F.count(F.lit(1)).alias("_rows"), *counts, *examples).collect()[0]
        dup = None
    results = [(name, rule, row[f"_b{i}"] or 0, row[f"_e{i}"])
               for i, (name, rule, _) in enumerate(checks)]
    _report(c, results, dup)
    return out


# ---------------------------------------------------------------- pandas
_EMPTY_DTYPES = {"int": "Int32", "bigint": "Int64", "double": "float64", "boolean": "boolean",
                 "timestamp": "datetime64[ns, UTC]"}
_I32 = (-(2 ** 31), 2 ** 31 - 1)
_I64 = (-(2 ** 63), 2 ** 63 - 1)


def _fits(s: pd.Series, bounds: tuple[int, int]) -> bool:
    v = s.dropna()
    return v.empty or (int(v.min()) >= bounds[0] and int(v.max()) <= bounds[1])


def _pandas_convert(s: pd.Series, ctype: str) -> tuple[pd.Series | None, str]:
    """The column converted to the contract type, or (None, what it is) when the type is wrong."""
    dt = s.dtype
    if s.isna().all():                                   # all-null (or empty): any type
        return s.astype(_EMPTY_DTYPES.get(ctype, object)), ""
    if is_complex(ctype):
        return (s, "") if dt == object else (None, str(dt))
    inferred = pdt.infer_dtype(s, skipna=True)
    if ctype == "string":
        ok = isinstance(dt, pd.StringDtype) or (dt == object and inferred == "string")
        return (s, "") if ok else (None, f"{dt} ({inferred})")
    if ctype in ("int", "bigint"):
        if not pdt.is_integer_dtype(dt) or pdt.is_bool_dtype(dt):
            return None, str(dt)
        bounds = _I32 if ctype == "int" else _I64
        if not _fits(s, bounds):
            return None, f"{dt} with values outside the {ctype} range"
        nullable = isinstance(dt, pd.api.extensions.ExtensionDtype)
        target = {"int": "int32", "bigint": "int64"}[ctype]
        return s.astype(target.capitalize() if nullable else target), ""
    if ctype == "double":
        return (s.astype("Float64" if isinstance(dt, pd.Float64Dtype | pd.Float32Dtype) else "float64"), "") \
            if pdt.is_float_dtype(dt) else (None, str(dt))
    if ctype == "boolean":
        if pdt.is_bool_dtype(dt):
            return s, ""
        return (s.astype("boolean"), "") if dt == object and inferred == "boolean" else (None, str(dt))
    if ctype == "date":
        if dt == object and inferred == "date":
            return s, ""
        if pdt.is_datetime64_dtype(dt) and (s.dropna() == s.dropna().dt.normalize()).all():
            return s.dt.date.astype(object).where(s.notna(), None), ""
        return None, f"{dt} ({inferred})"
    if ctype == "timestamp":
        if isinstance(dt, pd.DatetimeTZDtype):
            return s.dt.tz_convert("UTC"), ""
        return (s, "") if pdt.is_datetime64_dtype(dt) else (None, f"{dt} ({inferred})")
    return None, str(dt)


def _pandas_bad(s: pd.Series, col: Column, rule: str) -> pd.Series:
    present = s.notna()
    if rule == "value not allowed":
        return present & ~s.isin(list(col.allowed))
    if rule == "below min":
        return present & (s.astype("float64") < col.min)
    if rule == "above max":
        return present & (s.astype("float64") > col.max)
    rx = re.compile(col.pattern)
    ok = s.map(lambda v: isinstance(v, str) and rx.search(v) is not None).astype(bool)
    return present & ~ok


def _conform_pandas(df: pd.DataFrame, c: Contract, check_keys: bool, check_data: bool):
    names = [str(n) for n in df.columns]
    problems = _schema_problems(names, c)
    if len(set(names)) != len(names):
        problems.append(f"{','.join(sorted({n for n in names if names.count(n) > 1}))}: "
                        "extra column (name repeated in the frame)")
    converted = {}
    for col in c.columns:
        if col.name not in names or names.count(col.name) > 1:
            continue
        s, what = _pandas_convert(df[col.name], col.type)
        if s is None:
            problems.append(f"{col.name}: wrong type: {what} in the frame, {col.type} in the contract")
        else:
            converted[col.name] = s
    if problems:
        raise ContractViolation(c.name, problems)
    out = pd.DataFrame(converted, index=df.index)[c.column_names]
    results = []
    if check_data:
        for col in c.columns:
            s = out[col.name]
            if not col.nullable:
                results.append((col.name, "null in non-nullable column", int(s.isna().sum()), None))
            if is_complex(col.type):
                continue
            for rule, detail in _value_rules(col):
                bad = _pandas_bad(s, col, rule)
                n = int(bad.sum())
                results.append((col.name, f"{rule} ({detail})", n, s[bad].iloc[0] if n else None))
    dup = None
    if check_keys and c.grain:
        mask = out.duplicated(subset=list(c.grain), keep=False)
        if mask.any():
            keys = out.loc[mask, list(c.grain)]
            first = keys.iloc[0]
            n_example = int((keys == first).all(axis=1).sum())
            dup = (len(keys.drop_duplicates()), n_example, tuple(first.tolist()))
    _report(c, results, dup)
    return out
