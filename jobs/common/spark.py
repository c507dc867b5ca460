"""The one place a SparkSession is built (local mode by default).

The master: the argument; else, in a driver started by ``spark-submit`` (``jobs/submit.py`` on a
cluster), the one given to it; else ``GEOPULSE_SPARK_MASTER``, else ``local[2]``."""

import os
import sys

from pyspark.sql import SparkSession


def _under_spark_submit() -> bool:
    """True in a driver that ``spark-submit`` launched (it passes its JVM gateway port)."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def get_spark(app_name: str = "geopulse", master: str | None = None,
              shuffle_partitions: int = 8, driver_memory: str | None = None) -> SparkSession:
    """A SparkSession tuned for this project: UTC session time zone, AQE, dynamic partition
    overwrite (a job rewrites exactly the ``ds`` partitions it produces)."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = SparkSession.builder.appName(app_name)
    if master is None and not _under_spark_submit():     # spark-submit's --master stays in force
        master = os.environ.get("GEOPULSE_SPARK_MASTER", "local[2]")
    if master:
        builder = builder.master(master)
    builder = (
        builder
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.sql.adaptive.enabled", "true")
        .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", driver_memory or os.environ.get("GEOPULSE_DRIVER_MEMORY", "4g"))
    )
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session
