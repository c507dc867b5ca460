"""The ``spark-submit`` launcher: one application file for every GeoPulse job stage.

    spark-submit [--master spark://… | k8s://… | yarn] --py-files dist/geopulse-jobs.zip \\
        jobs/submit.py <stage>[,<stage>…] --ds D [--end E] [--config CITY.yaml] [stage options]

Stages: ``ingest`` (delivery days D..E), ``geo`` (the geography tables), ``aggregate`` (days
D..E), ``analytics`` (indicators for D..E, marts as of E), ``publish`` (day D, or E with --end;
``--url`` passes through), ``pipeline`` (everything delivered under the landing folder; no
dates). Each stage calls its job's own ``main(argv)`` (``jobs.<stage>.run.main``) with the
dates translated to that job's options; several stages joined by commas run in order in one
application (one Spark session), and the first failing stage ends it with its exit code.

Reads and writes what the stages do; where is set by the ``GEOPULSE_*`` environment variables
(``jobs.common.config``). ``--config`` names the city YAML (it becomes ``GEOPULSE_CITY`` for
every stage). The Spark master is the one given to ``spark-submit`` (``jobs.common.spark``
does not override it). When the ``jobs`` package is imported from the ``--py-files`` zip, the
city configs and the contracts it carries are extracted once to a temporary folder, because
YAML files inside a zip cannot be opened as paths (``package_data``).
"""

import argparse
import atexit
import os
import shutil
import sys
import tempfile
import zipfile
from datetime import date
from pathlib import Path

STAGES = ("ingest", "geo", "aggregate", "analytics", "publish", "pipeline")
DATED = ("ingest", "aggregate", "analytics", "publish")


def _import_path() -> None:
    """Run as a file (``python jobs/submit.py``), Python puts ``jobs/`` itself first on sys.path;
    replace it with its parent when ``jobs`` is not importable otherwise."""
    here = str(Path(__file__).resolve().parent)
    if sys.path and os.path.abspath(sys.path[0] or ".") == here:
        sys.path.pop(0)
    try:
        import jobs  # noqa: F401
    except ModuleNotFoundError:
        sys.path.insert(0, str(Path(here).parent))


def _zip_of(module_file: str) -> Path | None:
    """The zip archive a module was imported from, or None for a module on disk."""
    for parent in Path(module_file).parents:
        if parent.suffix == ".zip" and parent.is_file():
            return parent
    return None


def package_data(env: dict | None = None) -> dict[str, str]:
    """Make the packaged city configs and contracts readable as files; returns the variables set.

    Installed from the wheel or run from a checkout, ``jobs`` finds them on disk and nothing is
    done. Imported from a zip (``--py-files``), ``jobs/cities/`` and ``jobs/schemas/`` are
    extracted to a temporary folder (removed at exit) and ``GEOPULSE_SCHEMAS`` and, unless set,
    ``GEOPULSE_CITY`` point there."""
    import jobs

    env = os.environ if env is None else env
    archive = _zip_of(jobs.__file__)
    if archive is None:
        return {}
    target = Path(tempfile.mkdtemp(prefix="geopulse-package-"))
    atexit.register(shutil.rmtree, target, True)
    with zipfile.ZipFile(archive) as zf:
        members = [m for m in zf.namelist() if m.startswith(("jobs/cities/", "jobs/schemas/"))]
        zf.extractall(target, members)
    if not (target / "jobs" / "schemas" / "tables").is_dir():
        raise FileNotFoundError(f"{archive} carries no jobs/schemas/: build it with `make package`")
    chosen = {}
    if not env.get("GEOPULSE_SCHEMAS"):
        chosen["GEOPULSE_SCHEMAS"] = str(target / "jobs" / "schemas")
    if not env.get("GEOPULSE_CITY"):
        chosen["GEOPULSE_CITY"] = str(target / "jobs" / "cities" / "almaty.yaml")
    env.update(chosen)
    return chosen


def packaged_path(explicit: str | Path | None, variable: str, default: Path) -> Path:
    """``explicit``, else the environment ``variable``, else ``default``. When none is given and
    ``default`` does not exist (``jobs`` imported from the ``--py-files`` zip, as in a Spark
    executor's Python worker, which never ran this launcher), the packaged files are extracted
    first (``package_data``), which sets ``variable``."""
    if not explicit and not os.environ.get(variable) and not default.exists():
        package_data()
    return Path(explicit or os.environ.get(variable) or default)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="jobs/submit.py", description=__doc__.splitlines()[0],
                                epilog="Other options are passed to the stage's own main().")
    p.add_argument("stage", help="one of " + ", ".join(STAGES) + ", or several joined by commas")
    p.add_argument("--ds", type=date.fromisoformat, help="the day (first day of a range)")
    p.add_argument("--end", type=date.fromisoformat, help="last day of a range (inclusive)")
    p.add_argument("--config", help="city config YAML (becomes GEOPULSE_CITY)")
    return p


def stage_argv(stage: str, ds: date | None, end: date | None, extra: list[str]) -> list[str]:
    """The argv a stage's ``main`` takes for days ``ds`` .. ``end``."""
    if stage in DATED and ds is None:
        raise SystemExit(f"jobs/submit.py: stage '{stage}' needs --ds")
    last = end or ds
    if stage == "ingest":
        return ["--ds", str(ds), "--end", str(last), *extra]
    if stage in ("aggregate", "analytics"):
        return (["--ds", str(ds)] if last == ds else ["--start", str(ds), "--end", str(last)]) + extra
    if stage == "publish":
        return ["--ds", str(last), *extra]
    return list(extra)


def _geo_main(argv: list[str]) -> int:
    """The geography tables (``geo_h3_cells``, cell -> hexagon weights), as ``geopulse geo``."""
    from jobs.aggregate import cell_coverage, geo_cells
    from jobs.common.config import Paths, load_city
    from jobs.common.spark import get_spark

    if argv:
        raise SystemExit(f"jobs/submit.py geo: unexpected arguments {argv}")
    spark, cfg, paths = get_spark("geopulse-geo"), load_city(), Paths.from_env()
    rows = geo_cells.run(spark, cfg, paths), cell_coverage.run(spark, cfg, paths)
    print(f"geo tables written under {paths.lake}: {rows}")
    return 0


def _pipeline_main(argv: list[str]) -> int:
    """Everything delivered under the landing folder (``jobs.pipeline.run_pipeline``)."""
    from jobs.common.config import Paths, load_city
    from jobs.common.spark import get_spark
    from jobs.pipeline import run_pipeline

    if argv:
        raise SystemExit(f"jobs/submit.py pipeline: unexpected arguments {argv}")
    report = run_pipeline(get_spark("geopulse-pipeline"), load_city(), Paths.from_env(),
                          log=lambda line: print(line, flush=True))
    print(f"pipeline: {len(report.days)} days, seconds per stage {report.seconds}")
    return 0


def stage_main(stage: str):
    """The ``main(argv) -> int`` of a stage."""
    if stage == "geo":
        return _geo_main
    if stage == "pipeline":
        return _pipeline_main
    import importlib

    return importlib.import_module(f"jobs.{stage}.run").main


def main(argv: list[str] | None = None) -> int:
    args, extra = build_parser().parse_known_args(argv)
    stages = [s.strip() for s in args.stage.split(",") if s.strip()]
    unknown = [s for s in stages if s not in STAGES]
    if unknown or not stages:
        raise SystemExit(f"jobs/submit.py: unknown stage(s) {unknown or args.stage!r}; one of {', '.join(STAGES)}")
    if len(stages) > 1 and extra:
        raise SystemExit("jobs/submit.py: stage options need a single stage")
    if args.end and args.ds and args.end < args.ds:
        raise SystemExit("jobs/submit.py: --end is before --ds")
    if args.config:
        os.environ["GEOPULSE_CITY"] = str(Path(args.config).resolve())
    package_data()
    rc = 0
    try:
        for stage in stages:
            print(f"[submit] {stage}", flush=True)
            rc = stage_main(stage)(stage_argv(stage, args.ds if stage in DATED else None,
                                              args.end if stage in DATED else None, extra)) or 0
            if rc:
                print(f"[submit] {stage} failed with exit code {rc}", file=sys.stderr, flush=True)
                break
    finally:
        from pyspark.sql import SparkSession

        active = SparkSession.getActiveSession()
        if active is not None:
            active.stop()
    return rc


if __name__ == "__main__":
    _import_path()
    sys.exit(main())
