"""The one place a SparkSession is built (local mode by default).

The master: the argument; else, in a driver started by ``spark-submit`` (``jobs/submit.py`` on a
cluster), the one given to it; else ``GEOPULSE_SPARK_MASTER``, else ``local[2]``.

Paths with the ``file:`` scheme (the lake on one machine or a shared POSIX path) go through
``geopulse.hadoop.NioLocalFileSystem`` when the environment holds its jar (built by the
bootstrap from infra/spark/localfs/): Hadoop's own local file system forks a ``chmod`` process
for every file and directory it creates, which made writing a year of daily partitions take
minutes. Without the jar (e.g. a wheel on a cluster), Hadoop's default is used."""

import os
import sys
from pathlib import Path

from pyspark.sql import SparkSession


def _under_spark_submit() -> bool:
    """True in a driver that ``spark-submit`` launched (it passes its JVM gateway port)."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


LOCALFS_JAR = Path(sys.prefix) / "share" / "geopulse" / "geopulse-localfs.jar"
LOCALFS_CLASS = "geopulse.hadoop.NioLocalFileSystem"


def localfs_conf() -> dict[str, str]:
    """Spark settings that select NioLocalFileSystem for ``file:`` paths, for the driver and the
    executors (on this machine: local mode or the standalone cluster); empty when its jar (path in
    ``GEOPULSE_LOCALFS_JAR``, else the environment's) is absent."""
    jar = Path(os.environ.get("GEOPULSE_LOCALFS_JAR") or LOCALFS_JAR)
    if not jar.is_file():
        return {}
    return {"spark.driver.extraClassPath": str(jar), "spark.executor.extraClassPath": str(jar),
            "spark.hadoop.fs.file.impl": LOCALFS_CLASS}


def localfs_submit_args() -> list[str]:
    """The same settings as ``spark-submit`` arguments, for drivers it starts on this machine
    (the standalone cluster); empty without the jar."""
    conf = localfs_conf()
    if not conf:
        return []
    return ["--driver-class-path", conf["spark.driver.extraClassPath"],
            "--conf", f"spark.executor.extraClassPath={conf['spark.executor.extraClassPath']}",
            "--conf", f"spark.hadoop.fs.file.impl={conf['spark.hadoop.fs.file.impl']}"]


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
    if not _under_spark_submit():         # a running driver's class path is fixed: spark-submit sets it
        for key, value in localfs_conf().items():
            builder = builder.config(key, value)
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
