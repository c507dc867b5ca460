"""The lake: every table is Parquet under ``$GEOPULSE_LAKE/<table>/`` with Hive-style partitions
from its contract (``ds=YYYY-MM-DD``); private (subscriber-level) tables live under
``$GEOPULSE_LAKE/private/<table>/`` and nowhere else.

Writes go through ``conform`` first and overwrite exactly the partitions present in the frame
(dynamic partition overwrite), so rerunning a job for a day replaces what it wrote before and
leaves other days alone. Unpartitioned tables are replaced whole.
"""

from collections.abc import Iterable
from datetime import date
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common.config import Paths
from jobs.common.conform import conform
from jobs.common.contracts import Contract, load_contract


def table_path(table: str | Contract, paths: Paths | None = None) -> Path:
    c = load_contract(table) if isinstance(table, str) else table
    root = (paths or Paths.from_env()).lake
    return root / "private" / c.name if c.layer == "private" else root / c.name


def write_table(df: DataFrame, table: str | Contract, paths: Paths | None = None) -> None:
    """Conform ``df`` to the table's contract and write it, replacing only its partitions."""
    c = load_contract(table) if isinstance(table, str) else table
    out = conform(df, c)
    writer = out.write.mode("overwrite").option("partitionOverwriteMode", "dynamic")
    if c.partition_by:
        writer = writer.partitionBy(*c.partition_by)
    writer.parquet(str(table_path(c, paths)))


def read_table(spark: SparkSession, table: str | Contract, paths: Paths | None = None,
               ds: date | str | Iterable[date | str] | None = None) -> DataFrame:
    """Read a table with its contract's schema (never inferred); optionally only some days.

    A table that was never written reads as an empty frame with the right columns."""
    c = load_contract(table) if isinstance(table, str) else table
    path = table_path(c, paths)
    schema = c.spark_schema()
    if not path.exists():
        df = spark.createDataFrame([], schema)
    else:
        df = spark.read.schema(schema).parquet(str(path)).select(*c.column_names)
    if ds is not None:
        days = [ds] if isinstance(ds, (str, date)) else list(ds)
        df = df.where(F.col("ds").isin([date.fromisoformat(d) if isinstance(d, str) else d for d in days]))
    return df
