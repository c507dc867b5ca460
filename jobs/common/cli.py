"""The ``geopulse`` command: one entry point for every job.

    geopulse simulate --start 2020-03-01 --days 30 --subscribers 5000 --seed 1 --dirt 0.01 --out DIR
    geopulse ingest --ds 2020-03-16 [--feed F ...]          stage one delivery day
    geopulse ingest --start 2020-03-16 --end 2020-03-22      a range, in one Spark session
    geopulse geo                  geo_h3_cells and the cell -> hexagon weights
    geopulse publish --ds D [--url postgresql://...]   privacy audit, then the serving database
    geopulse dq                   summary of dq_results per feed
    geopulse docs                 write the data dictionary from schemas/
    geopulse where                say where the outputs are and what they hold
    geopulse bench [--events N]   benchmarks, JSON results in data/bench/
"""

import argparse
import os
import sys
from datetime import date
from pathlib import Path

from jobs.common.config import REPO_ROOT, Paths, city_config_path


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date (YYYY-MM-DD): {text!r}") from None


def _positive(kind):
    def parse(text: str):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0: {text}")
        return value
    return parse


def _rate(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 0.2:
        raise argparse.ArgumentTypeError(f"dirt rate must be within 0..0.2: {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="geopulse", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="city config YAML (default: $GEOPULSE_CITY or Almaty)")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("simulate", help="generate the synthetic city into the landing folder")
    s.add_argument("--start", type=_date, default=date(2020, 3, 1))
    s.add_argument("--days", type=_positive(int), default=30)
    s.add_argument("--subscribers", type=_positive(int), default=5000)
    s.add_argument("--events-per-day", type=_positive(float), default=50.0,
                   help="mean events per subscriber per day (CDR ~2-3, xDR ~90; default 50)")
    s.add_argument("--seed", type=int, default=42)
    s.add_argument("--dirt", type=_rate, default=0.0, help="rate of injected defects (0 = clean)")
    s.add_argument("--health-scale", type=_positive(float), default=1.0,
                   help="multiplies ambulance and pharmacy volumes")
    s.add_argument("--operator-start", type=_date, default=None,
                   help="first day of operator feeds (default: --start)")
    s.add_argument("--operator-days", type=int, default=None,
                   help="days of operator feeds (default: to the end; 0 = none)")
    s.add_argument("--chunk-subscribers", type=_positive(int), default=200_000)
    s.add_argument("--out", type=Path, default=None, help="landing folder (default: $GEOPULSE_LANDING)")
    s.add_argument("--clean", action="store_true", help="empty the landing folder first")
    s.add_argument("--quiet", action="store_true", help="no progress bar")

    i = sub.add_parser("ingest", help="stage delivered files: staged tables, quarantine, dq_results")
    i.add_argument("--ds", type=_date, help="delivery day (landing dt= folder)")
    i.add_argument("--start", type=_date, help="first delivery day of a range")
    i.add_argument("--end", type=_date, help="last delivery day of a range (inclusive)")
    i.add_argument("--feed", action="append", help="only this feed (repeatable; default: all)")

    sub.add_parser("geo", help="build geo_h3_cells and geo_cell_h3_weights from the staged references")
    sub.add_parser("pipeline", help="ingest every delivery in the landing folder, build geo and every "
                                    "aggregate for the simulated period, print the DQ summary")
    a = sub.add_parser("aggregate", help="build every aggregate (and the mobility index and zone profile) for days")
    a.add_argument("--ds", type=_date, help="one day")
    a.add_argument("--start", type=_date, help="first day of a range (one Spark pass for all of it)")
    a.add_argument("--end", type=_date, help="last day of a range (inclusive)")
    an = sub.add_parser("analytics", help="daily indicators for days, then lead/lag, forecasts, impact and "
                        "alerts as of the last day, and their summary")
    an.add_argument("--ds", type=_date, help="one day")
    an.add_argument("--start", type=_date, help="first day of a range of indicators")
    an.add_argument("--end", type=_date, help="last day (inclusive); the marts are computed as of it")
    pu = sub.add_parser("publish", help="privacy audit, then load the published tables and views into the "
                        "serving database (DuckDB file, or PostgreSQL with --url) as of a day")
    pu.add_argument("--ds", type=_date, required=True, help="the day to publish")
    pu.add_argument("--url", help="PostgreSQL URL (default: $GEOPULSE_SERVING_URL, else the DuckDB file)")
    sub.add_parser("dq", help="summarise dq_results per feed")
    sub.add_parser("docs", help="write the data dictionary (schemas/data_dictionary.md)")
    sub.add_parser("where", help="say where the outputs are and what they hold")

    b = sub.add_parser("bench", help="benchmarks; JSON results in $GEOPULSE_BENCH")
    b.add_argument("--events", type=_positive(int), action="append",
                   help="events per city-day (repeatable; default: the full ladder)")
    b.add_argument("--repeats", type=_positive(int), default=3)
    b.add_argument("--bench", action="append", choices=["simulate", "aggregate", "cluster", "analytics"],
                   help="only this benchmark (repeatable; default: simulate, aggregate and, when the lake has aggregates, analytics; cluster: the "
                        "aggregation on local[2] vs a 2-worker standalone cluster, jobs.bench.cluster; "
                        "analytics: the whole analytics stage over the lake of `make run`, jobs.bench.analytics)")
    b.add_argument("--workdir", type=Path, default=None,
                   help="work folder for generated days and lakes (default: a temporary one in $GEOPULSE_BENCH)")
    b.add_argument("--keep", action="store_true", help="keep each size's landing and lake (in --workdir)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.config:
        os.environ["GEOPULSE_CITY"] = str(Path(args.config).resolve())
    paths = Paths.from_env()

    if args.command == "simulate":
        from jobs.simulate.city import params_from_args, run_simulation, summary_text

        out = args.out or paths.landing
        result = run_simulation(params_from_args(args), out, clean=args.clean,
                                config_path=city_config_path(), progress=not args.quiet)
        print(summary_text(result))
        return 0
    if args.command == "ingest":
        return _ingest(args, paths)
    if args.command == "geo":
        from jobs.aggregate import cell_coverage, geo_cells
        from jobs.common.config import load_city
        from jobs.common.spark import get_spark

        spark, cfg = get_spark("geopulse-geo"), load_city()
        geo_cells.run(spark, cfg, paths)
        cell_coverage.run(spark, cfg, paths)
        print(f"geo tables written under {paths.lake}")
        return 0
    if args.command == "aggregate":
        return _aggregate(args, paths)
    if args.command == "pipeline":
        return _pipeline(paths)
    if args.command == "analytics":
        from jobs.analytics.run import main as analytics_main

        argv_ = ["--ds", str(args.ds)] if args.ds else ["--start", str(args.start), "--end", str(args.end)]
        return analytics_main(argv_ + (["--config", args.config] if args.config else []))
    if args.command == "publish":
        from jobs.publish.run import main as publish_main

        return publish_main(["--ds", str(args.ds)] + (["--url", args.url] if args.url else [])
                            + (["--config", args.config] if args.config else []))
    if args.command == "dq":
        from jobs.common.dq_summary import dq_text

        print(dq_text(paths))
        return 0
    if args.command == "docs":
        from jobs.common.dictionary import write_dictionary

        target = REPO_ROOT / "schemas" / "data_dictionary.md"
        write_dictionary(target)
        print(f"data dictionary: {target}")
        return 0
    if args.command == "where":
        from jobs.simulate.city import where_text

        print(where_text(paths))
        return 0
    if args.command == "bench":
        from jobs.bench.run import run_benchmarks

        benches = tuple(args.bench or ("simulate", "aggregate", "analytics"))
        if not args.bench and not _has_aggregates(paths):
            print(f"analytics bench: skipped, no aggregates under {paths.lake} (run `make run` first)", flush=True)
            benches = ("simulate", "aggregate")
        if "analytics" in benches:          # first: it fails fast when there is no lake to run on
            _bench_analytics(args, paths)
        if set(benches) - {"cluster", "analytics"}:
            run_benchmarks(paths.bench, args.events, repeats=args.repeats,
                           benches=tuple(b for b in benches if b not in ("cluster", "analytics")),
                           workdir=args.workdir, keep=args.keep)
        if "cluster" in benches:
            from jobs.bench.cluster import run_cluster_bench

            run_cluster_bench(paths.bench, args.events, repeats=args.repeats, workdir=args.workdir,
                              keep=args.keep)
        return 0
    return 2


def _has_aggregates(paths: Paths) -> bool:
    from jobs.bench.analytics import BenchInputError, lake_days

    try:
        return bool(lake_days(paths.lake))
    except BenchInputError:
        return False


def _bench_analytics(args, paths: Paths) -> None:
    from jobs.bench.analytics import BenchInputError, bench_analytics, write_results
    from jobs.bench.run import machine_info

    try:
        result = bench_analytics(paths, args.repeats, workdir=args.workdir)
    except BenchInputError as err:
        raise SystemExit(str(err)) from None
    print(f"analytics stage over {result['days']} days: median {result['median_wall_s']:.1f} s of "
          f"{result['repeats']} (target {result['target_s']:.0f} s)\nresults: "
          f"{write_results(paths.bench, result, machine_info())}", flush=True)


def _pipeline(paths: Paths) -> int:
    """The batch path over a whole landing folder (what `make run` does after simulating)."""
    from jobs.common.config import load_city
    from jobs.common.dq_summary import dq_text
    from jobs.common.spark import get_spark
    from jobs.pipeline import run_pipeline

    if not any(paths.landing.glob("*/dt=*")):
        raise SystemExit(f"geopulse pipeline: nothing delivered under {paths.landing} (run `make simulate`)")
    report = run_pipeline(get_spark("geopulse-pipeline"), load_city(), paths,
                          log=lambda line: print(line, flush=True))
    print("[pipeline] seconds per stage: " + ", ".join(f"{k} {v:.0f}" for k, v in report.seconds.items()) + "\n")
    print(dq_text(paths))
    return 0


def _aggregate(args, paths: Paths) -> int:
    from datetime import timedelta

    from jobs.aggregate.run import run as aggregate_run
    from jobs.common.config import load_city
    from jobs.common.spark import get_spark

    if bool(args.ds) == bool(args.start and args.end) or (args.start is None) != (args.end is None):
        raise SystemExit("geopulse aggregate: give --ds or both --start and --end")
    first, last = (args.ds, args.ds) if args.ds else (args.start, args.end)
    days = [first + timedelta(n) for n in range((last - first).days + 1)]
    aggregate_run(get_spark("geopulse-aggregate"), load_city(), paths, days)
    print(f"aggregated {first} .. {last} into {paths.lake}")
    return 0


def _ingest(args, paths: Paths) -> int:
    from jobs.common.config import load_city
    from jobs.common.spark import get_spark
    from jobs.ingest.run import IngestRunError, run_range

    if args.ds and (args.start or args.end):
        raise SystemExit("geopulse ingest: give --ds or --start/--end, not both")
    if not args.ds and not (args.start and args.end):
        raise SystemExit("geopulse ingest: give --ds or both --start and --end")
    first, last = (args.ds, args.ds) if args.ds else (args.start, args.end)
    try:                                # every feed's days in a few Spark passes; rejected files do not stop the rest
        run_range(get_spark("geopulse-ingest"), load_city(), first, last, paths, feeds=args.feed, workers=2)
    except IngestRunError as err:
        print(err, file=sys.stderr)
        print(f"ingested delivery days {first} .. {last} into {paths.lake}; {len(err.errors)} feed(s) had "
              "rejected files or failed (see above and the quarantine)")
        return 1
    print(f"ingested delivery days {first} .. {last} into {paths.lake}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
