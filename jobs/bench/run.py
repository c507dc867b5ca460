"""``make bench``: run the benchmarks and write one JSON file per benchmark to data/bench/.

Each size runs in a fresh subprocess (so peak memory is that run's own) ``repeats`` times;
figures are medians. Sizes are events per city-day at the default 50 events per subscriber.
"""

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
EVENTS_PER_SUBSCRIBER = 50


def _machine() -> dict:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


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


def bench_simulate(events: int, repeats: int, workdir: Path) -> dict:
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
        shutil.rmtree(out, ignore_errors=True)
    med = lambda k: statistics.median(r[k] for r in runs)  # noqa: E731
    return {"events_target": events, "subscribers": subscribers, "repeats": repeats,
            "median_wall_s": med("wall_s"), "median_events_per_s": med("events_per_s"),
            "max_peak_rss_bytes": max(r["peak_rss_bytes"] for r in runs), "runs": runs}


def run_benchmarks(out_dir: Path, sizes: list[int] | None, repeats: int = 3) -> Path:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sizes = sorted(sizes or LADDER)
    results = []
    with tempfile.TemporaryDirectory(prefix="geopulse-bench-", dir=out_dir) as tmp:
        for events in sizes:
            reps = repeats if events < 100_000_000 else max(1, min(repeats, 2))
            r = bench_simulate(events, reps, Path(tmp))
            results.append(r)
            print(f"simulate {events:>12,} events: median {r['median_wall_s']:.1f} s, "
                  f"{r['median_events_per_s'] / 1e6:.2f} M events/s end-to-end, "
                  f"peak RSS {r['max_peak_rss_bytes'] / 2**30:.2f} GiB")
    doc = {"benchmark": "simulate_operator_day", "measured_at": datetime.now(timezone.utc).isoformat(),
           "machine": _machine(), "results": results}
    path = out_dir / "simulate.json"
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    print(f"results: {path}")
    return path
