"""``make bench``: run the benchmarks and write one JSON file per benchmark to data/bench/.

Benchmarks: ``simulate`` (generate one city-day; ``simulate.json``) and ``aggregate`` (the daily
operator aggregation in Spark against a DuckDB presence reference on the same staged files;
``aggregate.json``, see ``jobs.bench.aggregate``). Each size runs in fresh subprocesses (so peak
memory is that run's own) ``repeats`` times (at most 2 at 100M); figures are medians. Sizes are
events per city-day at the default 50 events per subscriber. When both run, the aggregate
bench takes the city-day of the simulate bench's first repeat (seed 1) as its input. JSON files
are rewritten after every size, so a long ladder leaves its finished sizes behind; a size measured
again replaces its entry and the other sizes' entries stay (each has its own ``measured_at``).
"""

import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

LADDER = [1_000_000, 10_000_000, 30_000_000, 100_000_000]
BENCHES = ("simulate", "aggregate")
EVENTS_PER_SUBSCRIBER = 50


def machine_info() -> dict:
    """The machine a result was measured on: cores, Python, platform, memory and load."""
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "memory_bytes": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
            "load_avg_1_5_15": [round(x, 2) for x in os.getloadavg()]}


_CHILD = (
    "import json, resource, sys\n"
    "from jobs.common.cli import main\n"
    "rc = main(sys.argv[2:])\n"
    "open(sys.argv[1], 'w').write(json.dumps(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))\n"
    "sys.exit(rc)\n"
)


def _run_child(cli_args: list[str], workdir: Path) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of one fresh process running ``geopulse <cli_args>``."""
    rss_file = workdir / "peak_rss.json"
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", _CHILD, str(rss_file), *cli_args], check=True,
                   stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    return wall, int(json.loads(rss_file.read_text())) * 1024


def bench_simulate(events: int, repeats: int, workdir: Path, keep_first: Path | None = None) -> dict:
    """``repeats`` generations of one city-day; ``keep_first``: move the first one's landing
    there (for the aggregate bench) instead of deleting it."""
    subscribers = max(1, events // EVENTS_PER_SUBSCRIBER)
    runs = []
    for i in range(repeats):
        out = workdir / f"sim_{events}_{i}"
        argv = ["simulate", "--start", "2020-03-02",
                "--days", "1", "--subscribers", str(subscribers), "--events-per-day",
                str(EVENTS_PER_SUBSCRIBER), "--seed", str(i + 1), "--health-scale", "0.01",
                "--out", str(out), "--clean", "--quiet"]
        wall, rss = _run_child(argv, workdir)
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        n = manifest["totals"]["operator_events"]
        size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
        runs.append({"wall_s": wall, "events": n, "events_per_s": n / wall,
                     "peak_rss_bytes": rss, "landing_bytes": size})
        if i == 0 and keep_first is not None:
            shutil.rmtree(keep_first, ignore_errors=True)
            out.rename(keep_first)
        shutil.rmtree(out, ignore_errors=True)
    med = lambda k: statistics.median(r[k] for r in runs)  # noqa: E731
    return {"events_target": events, "measured_at": datetime.now(timezone.utc).isoformat(),
            "subscribers": subscribers, "repeats": repeats,
            "median_wall_s": med("wall_s"), "median_events_per_s": med("events_per_s"),
            "max_peak_rss_bytes": max(r["peak_rss_bytes"] for r in runs), "runs": runs}


def merge_by_size(path: Path, results: list[dict]) -> list[dict]:
    """``results`` plus the entries already in ``path`` for sizes not in ``results``, by size."""
    fresh = {r["events_target"] for r in results}
    try:
        earlier = [r for r in json.loads(Path(path).read_text(encoding="utf-8")).get("results", [])
                   if r.get("events_target") not in fresh]
    except (OSError, ValueError):
        earlier = []
    return sorted(earlier + list(results), key=lambda r: r["events_target"])


def _write(out_dir: Path, name: str, benchmark: str, results: list[dict]) -> Path:
    path = out_dir / name
    doc = {"benchmark": benchmark, "measured_at": datetime.now(timezone.utc).isoformat(),
           "machine": machine_info(), "results": merge_by_size(path, results)}
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return path


def run_benchmarks(out_dir: Path, sizes: list[int] | None, repeats: int = 3,
                   benches: tuple[str, ...] = BENCHES, workdir: Path | None = None, keep: bool = False,
                   confs: list[str] = (), landing: Path | None = None) -> list[Path]:
    """Run ``benches`` at each size (default: the ladder); returns the JSON files written."""
    from jobs.bench import aggregate

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sizes = sorted(sizes or LADDER)
    if landing is not None and (len(sizes) != 1 or "simulate" in benches):
        raise ValueError("an existing landing serves one size of the aggregate bench only")
    sim, agg, written = [], [], []
    if keep and workdir is None:
        workdir = out_dir / "work"
    if workdir is not None:                     # a named folder stays; what is in it is ours
        Path(workdir).mkdir(parents=True, exist_ok=True)
    folder = contextlib.nullcontext(str(workdir)) if workdir is not None else \
        tempfile.TemporaryDirectory(prefix="geopulse-bench-", dir=out_dir)
    with folder as tmp:
        for events in sizes:
            reps = repeats if events < 100_000_000 else max(1, min(repeats, 2))
            city = landing
            if "simulate" in benches:
                city = Path(tmp) / f"landing_{events}" if "aggregate" in benches else None
                r = bench_simulate(events, reps, Path(tmp), keep_first=city)
                sim.append(r)
                print(f"simulate {events:>12,} events: median {r['median_wall_s']:.1f} s, "
                      f"{r['median_events_per_s'] / 1e6:.2f} M events/s end-to-end, "
                      f"peak RSS {r['max_peak_rss_bytes'] / 2**30:.2f} GiB", flush=True)
                written.append(_write(out_dir, "simulate.json", "simulate_operator_day", sim))
            if "aggregate" in benches:
                try:
                    agg.append(aggregate.bench_size(events, reps, Path(tmp), landing=city, confs=list(confs),
                                                    keep=keep, log=lambda m: print(m, flush=True)))
                finally:
                    if city is not None and city != landing and not keep:
                        shutil.rmtree(city, ignore_errors=True)
                written.append(aggregate.write_results(out_dir, agg, machine_info()))
    for path in dict.fromkeys(written):
        print(f"results: {path}")
    return list(dict.fromkeys(written))
