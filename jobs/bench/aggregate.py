"""The aggregate benchmark: the daily operator aggregation (Spark) against a DuckDB SQL reference
of the presence aggregate, on the same staged Parquet files of one generated city-day.

Per size (events per city-day, 50 events per subscriber):
1. Input, not timed as aggregation (its seconds are recorded under ``prep``): one city-day from
   the generator (or the landing the simulate bench kept); the reference feeds (districts, cell
   reference) through the real ingest and ``geo_cells`` / ``cell_coverage`` in a Spark
   subprocess (cached across sizes when the reference files are byte-identical); the operator
   events through the bench-only fast stager (``jobs.bench.stage``).
2. Timed, interleaved per repeat so both engines see the same machine load:
   - Spark: ``jobs.aggregate.operator_daily.run`` for the day (presence, visitors, mobility, OD,
     trajectories) in one subprocess whose session is created once (its start-up is reported
     separately, ``startup_s``);
   - DuckDB: the presence aggregate at the finest resolution (distinct subscribers and events per
     H3 cell and local hour, events located through the same cell -> location table from
     ``jobs.aggregate.cell_locations``), a fresh subprocess per repeat, default threads (= cores).
   Each run records wall seconds, events/s, the peak memory of its process tree (summed PSS,
   ``jobs.bench.memory``: driver + JVM + Python workers for Spark; the RSS sum beside it) and the
   1-minute load average before and after (the machine is shared).
3. A check that the engines agree: every unsuppressed finest-resolution row of Spark's
   ``agg_presence__h3_hour`` equals DuckDB's subscribers and events for that cell and hour.

Results: medians over repeats, ``ratio_spark_duckdb`` = median Spark / median DuckDB wall, and
the targets (100M events in <= 300 s; Spark <= 2x DuckDB), in ``$GEOPULSE_BENCH/aggregate.json``;
a size measured again replaces its entry, other sizes' entries stay (each carries its
``measured_at`` and a fingerprint of the aggregation code it measured).

    python -m jobs.bench.aggregate --events 1000000 --repeats 1 --workdir /tmp/bench_x --keep
"""

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

from jobs.common.config import REPO_ROOT, Paths

DAY = date(2020, 3, 2)                  # a Monday outside any restriction, as the simulate bench
EVENTS_PER_SUBSCRIBER = 50
SEED = 1
REFERENCE_FEEDS = ["districts", "cell_reference"]
TARGET_100M_S = 300.0
TARGET_RATIO = 2.0
PROTOCOL = "@@bench "                   # prefix of the child's result lines on stdout


def _paths(root: Path, landing: Path | None = None) -> Paths:
    root = Path(root)
    return Paths(data=root, landing=landing or root / "landing", lake=root / "lake",
                 serving_db=root / "serving.duckdb", bench=root / "bench")


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _emit(doc: dict) -> None:
    print(PROTOCOL + json.dumps(doc), flush=True)


def _child_env() -> dict:
    env = dict(os.environ)
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    return env


def _child(args: list[str], **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "jobs.bench.aggregate", *args], cwd=REPO_ROOT,
                            env=_child_env(), text=True, **kw)


def _results(proc: subprocess.Popen, what: str) -> list[dict]:
    out, _ = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"bench {what} failed (exit {proc.returncode}); see the messages above")
    return [json.loads(line[len(PROTOCOL):]) for line in out.splitlines() if line.startswith(PROTOCOL)]


# ---------------------------------------------------------------- step 1: the input
def generate(events: int, landing: Path) -> dict:
    """One city-day at ``events`` events (untimed input); its own subprocess."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "jobs.common.cli", "simulate", "--start", DAY.isoformat(), "--days", "1",
                    "--subscribers", str(max(1, events // EVENTS_PER_SUBSCRIBER)), "--events-per-day",
                    str(EVENTS_PER_SUBSCRIBER), "--seed", str(SEED), "--health-scale", "0.01", "--out", str(landing),
                    "--clean", "--quiet"], check=True, cwd=REPO_ROOT, env=_child_env(), stdout=subprocess.DEVNULL)
    return {"generate_s": time.perf_counter() - t0}


def _reference_digest(landing: Path) -> str:
    """The reference files' bytes and the code that stages them (ingest, geo tables, city config)."""
    from jobs.common.config import city_config_path

    h = hashlib.sha256()
    files = [f for feed in REFERENCE_FEEDS for f in sorted((landing / feed).rglob("*")) if f.is_file()]
    code = [*sorted((REPO_ROOT / "jobs" / "ingest").glob("*.py")), REPO_ROOT / "jobs" / "aggregate" / "geo_cells.py",
            REPO_ROOT / "jobs" / "aggregate" / "cell_coverage.py", city_config_path()]
    for f in files + code:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def stage_reference(landing: Path, lake: Path, cache: Path) -> dict:
    """Districts and cell reference through the real ingest, then the geo tables, into ``lake``;
    reused from ``cache`` when the reference files are the same bytes."""
    t0 = time.perf_counter()
    cached = Path(cache) / _reference_digest(landing)
    if not cached.exists():
        tmp = cached.with_name(cached.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        _results(_child(["reference", "--landing", str(landing), "--lake", str(tmp)], stdout=subprocess.PIPE),
                 "reference staging")
        shutil.rmtree(tmp / "raw", ignore_errors=True)       # delivered copies: not needed again
        tmp.rename(cached)
    shutil.copytree(cached, lake, dirs_exist_ok=True)
    return {"stage_reference_s": time.perf_counter() - t0, "reference_cached": cached.name}


def _reference_child(landing: Path, lake: Path) -> None:
    from jobs.aggregate import cell_coverage, geo_cells
    from jobs.common.config import load_city
    from jobs.common.spark import get_spark
    from jobs.ingest import run as ingest_run

    paths = replace(_paths(lake.parent, landing), lake=lake)
    spark, cfg = get_spark("geopulse-bench-reference"), load_city()
    ingest_run.run(spark, cfg, DAY, paths, feeds=REFERENCE_FEEDS)
    geo_cells.run(spark, cfg, paths)
    cell_coverage.run(spark, cfg, paths)
    spark.stop()
    _emit({"done": True})


def stage_events(landing: Path, lake: Path) -> dict:
    """The operator events through the fast stager (its own subprocess: memory stays there)."""
    t0 = time.perf_counter()
    feeds = _results(_child(["events", "--landing", str(landing), "--lake", str(lake)], stdout=subprocess.PIPE),
                     "event staging")
    staged = lake / "stg_operator__events"
    return {"stage_events_s": time.perf_counter() - t0, "feeds": feeds,
            "staged_bytes": sum(f.stat().st_size for f in staged.rglob("*.parquet"))}


def _events_child(landing: Path, lake: Path) -> None:
    from jobs.bench.stage import stage_events as fast
    from jobs.common.config import load_city

    for feed in fast(landing, lake, load_city(), DAY, workers=min(2, os.cpu_count() or 1)):
        _emit(feed)


# ---------------------------------------------------------------- step 2: Spark
def _spark_child(lake: Path, confs: list[str]) -> None:
    """Start one session (timed apart), then one operator_daily run per 'run' line on stdin."""
    from jobs.bench.memory import TreePeak
    from jobs.common.config import load_city

    paths = _paths(lake.parent)
    with TreePeak() as mem:
        load0, t0 = _load(), time.perf_counter()
        from jobs.common.spark import get_spark

        spark = get_spark("geopulse-bench-aggregate")
        for kv in confs:
            k, _, v = kv.partition("=")
            spark.conf.set(k, v)
        cfg = load_city()
        from jobs.aggregate import operator_daily

        _emit({"startup_s": time.perf_counter() - t0, "peak_mem_bytes": mem.peak, "load_before": load0,
               "driver_memory": spark.conf.get("spark.driver.memory"), "master": spark.sparkContext.master,
               "shuffle_partitions": spark.conf.get("spark.sql.shuffle.partitions")})
        for line in sys.stdin:
            if line.strip() != "run":
                break
            mem.reset()
            load0, t0 = _load(), time.perf_counter()
            written = operator_daily.run(spark, cfg, paths, [DAY])
            _emit({"wall_s": time.perf_counter() - t0, "peak_mem_bytes": mem.peak, "peak_rss_sum_bytes": mem.peak_rss,
                   "load_before": load0,
                   "load_after": _load(), "rows_written": written})
        spark.stop()


# ---------------------------------------------------------------- step 2: DuckDB
PRESENCE_SQL = """
COPY (
  WITH located AS (
    SELECT e.operator, e.subscriber_key,
           hour(timezone($tz, timezone('UTC', e.event_ts_utc))) AS hour, a.loc_id
    FROM read_parquet($events, hive_partitioning = true) e
    JOIN anchors a ON e.cgi = a.cgi
    WHERE e.ds = $ds::DATE AND a.loc_id IS NOT NULL
  ),
  per_subscriber AS (
    SELECT hour, loc_id, operator, subscriber_key, count(*) AS events FROM located GROUP BY ALL
  ),
  per_cell AS (
    SELECT hour, loc_id, count(*) AS subscribers, sum(events) AS events FROM per_subscriber GROUP BY ALL
  )
  SELECT $ds::DATE AS ds, p.hour, d.h3_cell, p.subscribers, p.events::BIGINT AS events
  FROM per_cell p JOIN dim d USING (loc_id)
) TO '{out}' (FORMAT parquet)
"""


def presence_reference(con, lake: Path, cfg: dict, day: date, out: Path) -> dict:
    """The presence aggregate at the finest resolution with DuckDB: distinct subscribers (per
    operator, summed over operators, as Spark's fused counts) and events per H3 cell and local
    hour; events located through the same anchors as ``located_events`` (the cell version valid
    on ``day``). Returns the seconds of the two parts (geo tables in pandas, the query)."""
    from jobs.aggregate.cell_locations import cell_anchors, location_dim, res_col
    from jobs.common import h3geo

    t0 = time.perf_counter()
    res = h3geo.configured_resolutions(cfg)
    cells = con.execute(f"SELECT * FROM read_parquet('{lake}/geo_h3_cells/*.parquet')").df()
    weights = con.execute(f"SELECT * FROM read_parquet('{lake}/geo_cell_h3_weights/*.parquet')").df()
    dim_pd = location_dim(cells, res)
    anchors_pd = cell_anchors(weights, dim_pd)
    con.register("anchors_pd", anchors_pd)
    con.register("dim_pd", dim_pd)
    con.execute("CREATE OR REPLACE TEMP TABLE anchors AS SELECT cgi, loc_id::INTEGER AS loc_id FROM anchors_pd "
                "WHERE valid_from::DATE <= $ds::DATE AND (valid_to IS NULL OR valid_to::DATE >= $ds::DATE)",
                {"ds": day.isoformat()})
    con.execute(f"CREATE OR REPLACE TEMP TABLE dim AS SELECT loc_id::INTEGER AS loc_id, {res_col(res[0])} AS h3_cell "
                "FROM dim_pd")
    t1 = time.perf_counter()
    con.execute(PRESENCE_SQL.format(out=out), {"tz": cfg["city"]["timezone"], "ds": day.isoformat(),
                                               "events": f"{lake}/stg_operator__events/*/*/*.parquet"})
    return {"geo_s": t1 - t0, "query_s": time.perf_counter() - t1}


def _duckdb_child(lake: Path, out: Path) -> None:
    import duckdb

    from jobs.bench.memory import TreePeak
    from jobs.common.config import load_city

    import jobs.aggregate.cell_locations  # noqa: F401 - imports (pandas, pyspark types) outside the timing
    cfg = load_city()
    with TreePeak() as mem:
        load0, t0 = _load(), time.perf_counter()
        con = duckdb.connect()
        parts = presence_reference(con, lake, cfg, DAY, out)
        wall = time.perf_counter() - t0
        import resource

        _emit({"wall_s": wall, **parts, "peak_mem_bytes": mem.peak, "peak_rss_sum_bytes": mem.peak_rss,
               "ru_maxrss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
               "load_before": load0, "load_after": _load(),
               "threads": con.execute("SELECT current_setting('threads')").fetchone()[0],
               "rows": con.execute(f"SELECT count(*) FROM read_parquet('{out}')").fetchone()[0]})


# ---------------------------------------------------------------- step 3: agreement
def compare_presence(lake: Path, reference: Path, cfg: dict) -> dict:
    """Spark's unsuppressed finest-resolution presence rows against the DuckDB reference."""
    import duckdb

    from jobs.common import h3geo

    fine = h3geo.configured_resolutions(cfg)[0]
    con = duckdb.connect()
    spark_rows = f"read_parquet('{lake}/agg_presence__h3_hour/*/*.parquet', hive_partitioning = true)"
    n, bad, missing = con.execute(f"""
        SELECT count(*), count(*) FILTER (WHERE r.h3_cell IS NOT NULL AND (s.subscribers <> r.subscribers
                                                                         OR s.events <> r.events)),
               count(*) FILTER (WHERE r.h3_cell IS NULL)
        FROM {spark_rows} s LEFT JOIN read_parquet('{reference}') r
          ON s.h3_cell = r.h3_cell AND s.hour = r.hour
        WHERE s.resolution = {fine} AND NOT s.suppressed AND s.ds::DATE = '{DAY.isoformat()}'""").fetchone()
    ref_rows = con.execute(f"SELECT count(*) FROM read_parquet('{reference}')").fetchone()[0]
    return {"resolution": fine, "spark_rows_unsuppressed": n, "reference_rows": ref_rows, "mismatches": bad,
            "missing_in_reference": missing, "agree": bad == 0 and missing == 0}


# ---------------------------------------------------------------- one size
def code_fingerprint() -> dict:
    """Which aggregation code was measured: git HEAD, whether the tree is dirty, and a hash of
    ``jobs/aggregate`` and ``jobs/common`` sources as they are on disk."""
    h = hashlib.sha256()
    for f in sorted([*(REPO_ROOT / "jobs" / "aggregate").glob("*.py"), *(REPO_ROOT / "jobs" / "common").glob("*.py")]):
        h.update(f.name.encode())
        h.update(f.read_bytes())

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    return {"git_head": git("rev-parse", "--short", "HEAD"), "dirty": bool(git("status", "--porcelain", "jobs")),
            "sources_sha256": h.hexdigest()[:16]}


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def bench_size(events: int, repeats: int, workdir: Path, landing: Path | None = None,
               confs: list[str] = (), keep: bool = False, log=print) -> dict:
    """Prepare, then ``repeats`` interleaved Spark and DuckDB runs on one size; the result dict."""
    from jobs.common.config import load_city

    root = Path(workdir) / f"aggregate_{events}"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    lake = root / "lake"
    prep: dict = {}
    try:
        if landing is None:
            landing = root / "landing"
            prep.update(generate(events, landing))
        prep.update(stage_reference(landing, lake, Path(workdir) / "reference_cache"))
        prep.update(stage_events(landing, lake))
        n_events = sum(f["rows_staged"] for f in prep["feeds"])
        log(f"aggregate {events:>12,}: input ready ({n_events:,} staged events, "
            + ", ".join(f"{k} {v:.0f} s" for k, v in prep.items() if k.endswith("_s")) + ")")
        spark = _child(["spark", "--lake", str(lake), *sum((["--conf", c] for c in confs), [])],
                       stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        startup = _next_result(spark)
        spark_runs, duck_runs = [], []
        for i in range(repeats):
            spark.stdin.write("run\n")
            spark.stdin.flush()
            s = _next_result(spark)
            s["events_per_s"] = n_events / s["wall_s"]
            spark_runs.append(s)
            d = _results(_child(["duckdb", "--lake", str(lake), "--out", str(root / "presence_duckdb.parquet")],
                                stdout=subprocess.PIPE), "duckdb")[0]
            d["events_per_s"] = n_events / d["wall_s"]
            duck_runs.append(d)
            log(f"  repeat {i + 1}: spark {s['wall_s']:.1f} s, duckdb {d['wall_s']:.1f} s "
                f"(load {s['load_before']:.1f} / {d['load_before']:.1f})")
        spark.stdin.close()
        spark.stdout.read()
        if spark.wait() != 0:
            raise RuntimeError(f"bench spark child failed (exit {spark.returncode}); see the messages above")
        check = compare_presence(lake, root / "presence_duckdb.parquet", load_city())
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    sp, dk = _median(spark_runs, "wall_s"), _median(duck_runs, "wall_s")
    from datetime import datetime, timezone

    result = {
        "events_target": events, "measured_at": datetime.now(timezone.utc).isoformat(), "code": code_fingerprint(), "events": n_events, "subscribers": max(1, events // EVENTS_PER_SUBSCRIBER),
        "repeats": repeats, "prep": prep, "spark_confs": list(confs),
        "spark": {"startup_s": startup["startup_s"], "startup": startup, "median_wall_s": sp,
                  "median_events_per_s": n_events / sp,
                  "max_peak_mem_bytes": max(r["peak_mem_bytes"] for r in spark_runs), "runs": spark_runs},
        "duckdb": {"median_wall_s": dk, "median_events_per_s": n_events / dk,
                   "max_peak_mem_bytes": max(r["peak_mem_bytes"] for r in duck_runs), "runs": duck_runs},
        "ratio_spark_duckdb": sp / dk,
        "load_avg_1m_median": statistics.median([r["load_before"] for r in spark_runs + duck_runs]),
        "check": check,
        "targets": {"ratio_max": TARGET_RATIO, "ratio_met": sp / dk <= TARGET_RATIO,
                    "spark_s_max_at_100M": TARGET_100M_S,
                    "spark_s_met": (sp * 100_000_000 / n_events <= TARGET_100M_S) if events >= 100_000_000 else None},
        "workdir": str(root) if keep else None,
    }
    log(f"aggregate {events:>12,} events: spark median {sp:.1f} s ({n_events / sp / 1e6:.2f} M events/s, "
        f"peak {result['spark']['max_peak_mem_bytes'] / 2**30:.2f} GiB, start-up {startup['startup_s']:.0f} s), "
        f"duckdb {dk:.1f} s (peak {result['duckdb']['max_peak_mem_bytes'] / 2**30:.2f} GiB), "
        f"ratio {sp / dk:.1f}, load {result['load_avg_1m_median']:.1f}, presence check "
        f"{'agrees' if check['agree'] else 'DIFFERS'}")
    return result


def _next_result(proc: subprocess.Popen) -> dict:
    for line in proc.stdout:
        if line.startswith(PROTOCOL):
            return json.loads(line[len(PROTOCOL):])
    proc.wait()
    raise RuntimeError(f"bench spark child ended (exit {proc.returncode}) without a result; see the messages above")


def write_results(out_dir: Path, results: list[dict], machine: dict) -> Path:
    """``aggregate.json``: these results, plus earlier entries of sizes not measured this time."""
    from datetime import datetime, timezone

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "aggregate.json"
    from jobs.bench.run import merge_by_size

    results = merge_by_size(path, results)
    doc = {"benchmark": "aggregate_operator_day", "measured_at": datetime.now(timezone.utc).isoformat(),
           "machine": machine, "day": DAY.isoformat(), "events_per_subscriber": EVENTS_PER_SUBSCRIBER,
           "what": {"spark": "jobs.aggregate.operator_daily.run (presence, visitors, mobility, OD, trajectories), "
                             "session start-up excluded (spark.startup_s)",
                    "duckdb": "presence at the finest resolution: distinct subscribers + events per H3 cell and "
                              "local hour, same cell -> location anchors"},
           "results": results}
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return path


# ---------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m jobs.bench.aggregate", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="step")
    for name in ("reference", "events"):
        s = sub.add_parser(name)
        s.add_argument("--landing", type=Path, required=True)
        s.add_argument("--lake", type=Path, required=True)
    s = sub.add_parser("spark")
    s.add_argument("--lake", type=Path, required=True)
    s.add_argument("--conf", action="append", default=[])
    s = sub.add_parser("duckdb")
    s.add_argument("--lake", type=Path, required=True)
    s.add_argument("--out", type=Path, required=True)
    p.add_argument("--events", type=int, action="append", help="events per city-day (repeatable)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--workdir", type=Path, help="work folder (default: a temporary one under $GEOPULSE_BENCH)")
    p.add_argument("--landing", type=Path, help="an already generated city-day (one size only)")
    p.add_argument("--conf", action="append", default=[], help="Spark SQL conf key=value for the Spark runs")
    p.add_argument("--keep", action="store_true", help="keep each size's folder")
    a = p.parse_args(argv)
    if a.step == "reference":
        _reference_child(a.landing.resolve(), a.lake.resolve())
    elif a.step == "events":
        _events_child(a.landing.resolve(), a.lake.resolve())
    elif a.step == "spark":
        _spark_child(a.lake.resolve(), a.conf)
    elif a.step == "duckdb":
        _duckdb_child(a.lake.resolve(), a.out.resolve())
    else:
        from jobs.bench.run import run_benchmarks

        run_benchmarks(Paths.from_env().bench, a.events, repeats=a.repeats, benches=("aggregate",),
                       workdir=a.workdir, keep=a.keep, confs=a.conf,
                       landing=a.landing.resolve() if a.landing else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
