"""The cluster benchmark: the daily operator aggregation on ``local[2]`` against the same job on a
Spark standalone cluster of two 1-core workers on this machine, on the same staged city-day.

Per size (events per city-day): the input is prepared as in ``jobs.bench.aggregate`` (one
generated city-day, the reference feeds through the real ingest and the geo tables, the events
through the fast stager; not timed). Then a standalone cluster is started for the bench (master
7377, UIs 8380-8382, PIDs and logs under the work folder; ``--workers``, ``--worker-memory``), and
for each master in turn one Spark child (``jobs.bench.aggregate``'s, the master given by
``GEOPULSE_SPARK_MASTER``) starts its session once (``startup_s``) and runs
``jobs.aggregate.operator_daily.run`` ``repeats`` times. The check: the finest presence rows of
the two masters are the same rows. ``ratio_cluster_local`` = median cluster wall / median local wall
(> 1: the cluster is slower; on one 2-core machine it adds RPC and serialisation, no cores).

Results in ``$GEOPULSE_BENCH/cluster.json`` (a size measured again replaces its entry).

    python -m jobs.bench.cluster --events 1000000 --repeats 1
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from jobs.bench import aggregate as agg
from jobs.common import standalone as sa
from jobs.common.config import REPO_ROOT, Paths

PORTS = dict(port=7377, ui_port=8380, worker_ui_ports=(8381, 8382))


def _spark_runs(lake: Path, master: str, repeats: int, executor_memory: str, log=print) -> dict:
    """One Spark child on ``master``: its start-up and ``repeats`` timed aggregation runs."""
    env = agg._child_env()
    env.update(GEOPULSE_SPARK_MASTER=master, SPARK_EXECUTOR_MEMORY=executor_memory)
    child = subprocess.Popen([sys.executable, "-m", "jobs.bench.aggregate", "spark", "--lake", str(lake)],
                             cwd=REPO_ROOT, env=env, text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    startup = agg._next_result(child)
    runs = []
    for i in range(repeats):
        child.stdin.write("run\n")
        child.stdin.flush()
        runs.append(agg._next_result(child))
        log(f"  {master}: repeat {i + 1} {runs[-1]['wall_s']:.1f} s (load {runs[-1]['load_before']:.1f})")
    child.stdin.close()
    child.stdout.read()
    if child.wait() != 0:
        raise RuntimeError(f"bench spark child on {master} failed (exit {child.returncode})")
    walls = [r["wall_s"] for r in runs]
    return {"master": master, "startup_s": startup["startup_s"], "median_wall_s": statistics.median(walls),
            "runs": runs}


def _presence_snapshot(lake: Path, target: Path) -> Path:
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(lake / "agg_presence__h3_hour", target)
    return target


def same_presence(a: Path, b: Path) -> dict:
    """Rows of one presence snapshot not in the other, both ways (exact: counts are integers)."""
    import duckdb

    con = duckdb.connect()
    cols = "ds, hour, resolution, h3_cell, subscribers, events, suppressed"
    src = "read_parquet('{}/**/*.parquet', hive_partitioning = true)"
    only_a, only_b, n = con.execute(f"""
        SELECT (SELECT count(*) FROM (SELECT {cols} FROM {src.format(a)} EXCEPT ALL SELECT {cols} FROM {src.format(b)})),
               (SELECT count(*) FROM (SELECT {cols} FROM {src.format(b)} EXCEPT ALL SELECT {cols} FROM {src.format(a)})),
               (SELECT count(*) FROM {src.format(a)})""").fetchone()
    return {"rows": n, "only_local": only_a, "only_cluster": only_b, "agree": only_a == 0 and only_b == 0}


def bench_size(events: int, repeats: int, workdir: Path, workers: int = 2, worker_memory: str = "2g",
               keep: bool = False, log=print) -> dict:
    root = Path(workdir) / f"cluster_{events}"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    lake, prep = root / "lake", {}
    cluster = sa.Cluster(root / "cluster", PORTS["port"], PORTS["ui_port"], PORTS["worker_ui_ports"][:workers],
                         cores=1, memory=worker_memory)
    try:
        landing = root / "landing"
        prep.update(agg.generate(events, landing))
        prep.update(agg.stage_reference(landing, lake, Path(workdir) / "reference_cache"))
        prep.update(agg.stage_events(landing, lake))
        n_events = sum(f["rows_staged"] for f in prep["feeds"])
        log(f"cluster bench {events:>12,}: input ready ({n_events:,} staged events)")
        local = _spark_runs(lake, "local[2]", repeats, worker_memory, log)
        snap = _presence_snapshot(lake, root / "presence_local")
        t0 = time.perf_counter()
        sa.start(cluster)
        cluster_start_s = time.perf_counter() - t0
        try:
            remote = _spark_runs(lake, cluster.master_url, repeats, worker_memory, log)
        finally:
            sa.stop(cluster.home)
        check = same_presence(snap, lake / "agg_presence__h3_hour")
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    ratio = remote["median_wall_s"] / local["median_wall_s"]
    log(f"cluster bench {events:>12,}: local[2] {local['median_wall_s']:.1f} s, standalone {workers}x1 core "
        f"{remote['median_wall_s']:.1f} s, ratio {ratio:.2f}; presence {'agrees' if check['agree'] else 'DIFFERS'}")
    return {"events_target": events, "events": n_events, "measured_at": datetime.now(timezone.utc).isoformat(),
            "code": agg.code_fingerprint(), "repeats": repeats, "prep": prep,
            "cluster": {"workers": workers, "cores_per_worker": 1, "worker_memory": worker_memory,
                        "start_s": cluster_start_s},
            "local": local, "standalone": remote, "ratio_cluster_local": ratio, "check": check}


def write_results(out_dir: Path, results: list[dict]) -> Path:
    from jobs.bench.run import machine_info, merge_by_size

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "cluster.json"
    doc = {"benchmark": "aggregate_local_vs_standalone", "measured_at": datetime.now(timezone.utc).isoformat(),
           "machine": machine_info(), "day": agg.DAY.isoformat(),
           "what": "jobs.aggregate.operator_daily.run on local[2] and on a standalone cluster of 1-core workers "
                   "on the same machine; session start-up excluded (startup_s)",
           "results": merge_by_size(path, results)}
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return path


def run_cluster_bench(out_dir: Path, sizes: list[int] | None, repeats: int = 1, workdir: Path | None = None,
                      keep: bool = False, workers: int = 2, worker_memory: str = "2g") -> Path:
    """The cluster bench at each size (default 10M events); returns the JSON file."""
    results, path = [], None
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.TemporaryDirectory(prefix="geopulse-bench-cluster-", dir=out_dir) if workdir is None else None
    folder = Path(workdir) if workdir is not None else Path(tmp.name)
    try:
        for events in sorted(sizes or [10_000_000]):
            results.append(bench_size(events, repeats, folder, workers, worker_memory, keep,
                                      log=lambda m: print(m, flush=True)))
            path = write_results(out_dir, results)
    finally:
        if tmp is not None:
            tmp.cleanup()
    print(f"results: {path}")
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m jobs.bench.cluster", description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, action="append", help="events per city-day (repeatable; default 10M)")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--workers", type=int, default=2, choices=[1, 2])
    p.add_argument("--worker-memory", default="2g")
    p.add_argument("--workdir", type=Path)
    p.add_argument("--keep", action="store_true")
    a = p.parse_args(argv)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    run_cluster_bench(Paths.from_env().bench, a.events, a.repeats, a.workdir, a.keep, a.workers, a.worker_memory)
    return 0


if __name__ == "__main__":
    sys.exit(main())
