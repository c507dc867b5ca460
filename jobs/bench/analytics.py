"""``make bench BENCH=analytics``: wall time of the whole analytics stage over a lake that holds
aggregates (the demo city after ``make run``): mart_indicator_daily for every day, then every
analytics mart as of the last day (all correlations, all forecasts with their backtests,
restriction impact, alerts), exactly what the pipeline's analytics stage runs.

Each repeat is a fresh process (``geopulse analytics --start --end``, its own Spark session) on a
scratch lake: every table of the source lake is linked into it read-only except the analytics
outputs, which the repeat writes anew into the scratch folder, so the source lake is never
changed and no repeat reuses another's marts. Figures: median wall seconds of the whole stage
and of each module (from the stage's own ``[analytics] <module>: <rows> rows in <s> s`` lines),
rows written per module; JSON in ``analytics.json``. The target on the 2-core reference
machine is 300 s for the demo city (366 days).
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timezone
from pathlib import Path

from jobs.analytics import alerts, forecast_job, impact, indicators, leadlag
from jobs.analytics.run import MARTS, parse_log
from jobs.common.config import REPO_ROOT, Paths

# What the analytics stage writes (never linked from the source lake), from its modules' own names.
OUTPUTS = (indicators.TABLE, leadlag.CURVES, leadlag.SUMMARY, forecast_job.FORECAST, forecast_job.SKILL,
           impact.TABLE, alerts.TABLE)
DAYS_FROM = "agg_morbidity__district_day"    # every simulated or delivered day has morbidity reports
TARGET_S = 300.0


class BenchInputError(RuntimeError):
    """The lake to benchmark on has no aggregates."""


def lake_days(lake: Path) -> list[date]:
    """The days of ``DAYS_FROM`` in ``lake`` (its ``ds=`` partitions), sorted."""
    days = sorted(date.fromisoformat(p.name[3:]) for p in (lake / DAYS_FROM).glob("ds=*") if p.is_dir())
    if not days:
        raise BenchInputError(f"analytics bench: no {DAYS_FROM} partitions under {lake}; run `make run` "
                              "first, or point GEOPULSE_DATA (or GEOPULSE_LAKE) at a lake with aggregates")
    return days


def scratch_lake(source: Path, target: Path) -> Path:
    """``target`` holding a link to every table of ``source`` but the analytics outputs (and
    ``private/``, which analytics never reads)."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for entry in sorted(source.iterdir()):
        if entry.name not in OUTPUTS and entry.name != "private":
            (target / entry.name).symlink_to(entry.resolve(), target_is_directory=entry.is_dir())
    return target


def run_once(lake: Path, days: list[date], workdir: Path, config: str | None = None) -> dict:
    """One fresh-process analytics stage over ``days`` on a scratch copy of ``lake``."""
    scratch = scratch_lake(lake, workdir / "lake")
    env = {**os.environ, "GEOPULSE_LAKE": str(scratch), "GEOPULSE_BENCH": str(workdir / "bench")}
    argv = [sys.executable, "-m", "jobs.common.cli", "analytics", "--start", days[0].isoformat(),
            "--end", days[-1].isoformat()] + (["--config", config] if config else [])
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=REPO_ROOT)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"analytics bench: `{' '.join(argv[1:])}` failed ({done.returncode}):\n"
                           + (done.stderr or done.stdout)[-3000:])
    modules = parse_log(done.stdout)
    if len(modules) != 1 + len(MARTS):             # indicators + every mart
        raise RuntimeError(f"analytics bench: expected {1 + len(MARTS)} module lines, got {sorted(modules)}:\n{done.stdout[-3000:]}")
    return {"wall_s": wall, "modules": modules}


def bench_analytics(paths: Paths, repeats: int, workdir: Path | None = None,
                    log=print) -> dict:
    """``repeats`` runs of the analytics stage over ``paths.lake``; medians and every run."""
    days = lake_days(paths.lake)
    runs = []
    folder = tempfile.TemporaryDirectory(prefix="geopulse-bench-analytics-", dir=workdir)
    with folder as tmp:
        for i in range(repeats):
            r = run_once(paths.lake, days, Path(tmp))
            runs.append(r)
            log(f"analytics stage, run {i + 1}/{repeats}: {r['wall_s']:.1f} s ("
                + ", ".join(f"{k} {v['seconds']:.0f} s" for k, v in r["modules"].items()) + ")")
    med = statistics.median(r["wall_s"] for r in runs)
    return {"lake": str(paths.lake), "days": len(days), "first_day": days[0].isoformat(),
            "last_day": days[-1].isoformat(), "repeats": repeats,
            "measured_at": datetime.now(timezone.utc).isoformat(),
            "median_wall_s": med, "target_s": TARGET_S, "meets_target": med <= TARGET_S,
            "median_module_s": {k: statistics.median(r["modules"][k]["seconds"] for r in runs)
                                for k in runs[0]["modules"]},
            "rows": {k: v["rows"] for k, v in runs[-1]["modules"].items()}, "runs": runs}


def write_results(out_dir: Path, result: dict, machine: dict) -> Path:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "analytics.json"
    doc = {"benchmark": "analytics_stage", "measured_at": result["measured_at"], "machine": machine,
           "results": [result]}
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return path
