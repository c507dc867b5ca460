"""Generate the synthetic city: every feed in its native format plus manifest.json.

Writes into a landing folder (``<landing>/<feed>/dt=YYYY-MM-DD/<file>``) and
``<landing>/manifest.json`` with the ground truth (see ``jobs.simulate.manifest``).
"""

import json
import os
import shutil
import time
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

from jobs.common.config import Paths, load_city
from jobs.simulate.context import FeedResult, SimContext, SimParams

DEFAULT_SALT = "geopulse-demo-salt"


@dataclass
class SimulationResult:
    landing: Path
    manifest_path: Path
    manifest: dict
    seconds: float


def params_from_args(args) -> SimParams:
    return SimParams(
        start=args.start, days=args.days, subscribers=args.subscribers,
        events_per_day=args.events_per_day, seed=args.seed, dirt=args.dirt,
        health_scale=args.health_scale, operator_start=args.operator_start,
        operator_days=args.operator_days, chunk_subscribers=args.chunk_subscribers,
    )


def _progress_bar(enabled: bool, total: int):
    if not enabled:
        return None, (lambda n: None)
    from tqdm import tqdm

    bar = tqdm(total=total, unit="ev", unit_scale=True, desc="operator events", leave=False,
               disable=None)  # off when stderr is not a terminal
    return bar, bar.update


def run_simulation(params: SimParams, landing: Path, *, clean: bool = False,
                   config_path: Path | None = None, progress: bool = False,
                   salt: str | None = None) -> SimulationResult:
    """Generate every feed for ``params`` into ``landing`` and write the manifest."""
    from jobs.simulate.health import generate_health
    from jobs.simulate.manifest import build_manifest
    from jobs.simulate.operators import generate_operators
    from jobs.simulate.reference import generate_reference

    landing = Path(landing)
    if clean and landing.exists():
        shutil.rmtree(landing)
    landing.mkdir(parents=True, exist_ok=True)
    cfg = load_city(config_path)
    ctx = SimContext(cfg=cfg, params=params, landing=landing,
                     salt=salt or os.environ.get("GEOPULSE_SUBSCRIBER_SALT", DEFAULT_SALT))
    t0 = time.perf_counter()
    results: list[FeedResult] = []
    results += generate_reference(ctx)
    results += generate_health(ctx)
    expected_events = int(params.subscribers * params.events_per_day * len(params.operator_days_list()))
    bar, tick = _progress_bar(progress, expected_events)
    try:
        results += generate_operators(ctx, progress=tick)
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - t0
    manifest = build_manifest(ctx, results)
    path = landing / "manifest.json"
    path.write_text(json.dumps(manifest, indent=1, sort_keys=True, ensure_ascii=False, default=str),
                    encoding="utf-8")
    return SimulationResult(landing, path, manifest, seconds)


def _human(n: float) -> str:
    for unit in ("", "k", "M", "G"):
        if abs(n) < 1000:
            return f"{n:.0f}{unit}" if unit == "" else f"{n:.1f}{unit}"
        n /= 1000
    return f"{n:.1f}T"


def summary_text(result: SimulationResult) -> str:
    m = result.manifest
    p = m["params"]
    lines = [
        f"GeoPulse synthetic city: {m['city']['name']} ({len(m['city']['districts'])} districts, "
        f"{m['city']['population']:,} residents)",
        f"  days            {p['start']} .. {m['period']['end']} ({p['days']} days; operator feeds "
        f"{m['period']['operator_days']} days from {m['period']['operator_start']})",
        f"  subscribers     {p['subscribers']:,} over {len(m['operators'])} operators",
        f"  operator events {m['totals']['operator_events']:,} "
        f"({_human(m['totals']['operator_events'] / max(result.seconds, 1e-9))} events/s overall)",
        "  files per feed:",
    ]
    for feed, info in sorted(m["feeds"].items()):
        lines.append(f"    {feed:<20} {info['files']:>6} files {info['rows']:>12,} rows")
    dirt = Counter()
    for e in m["dirt"]:
        dirt[e["kind"]] += e["rows"] if e["kind"].endswith("rows") or e["kind"] in (
            "out_of_city_coords", "missing_geocode") else 1
    if dirt:
        lines.append("  dirt injected:   " + ", ".join(f"{k}={v}" for k, v in sorted(dirt.items())))
    lines += [
        f"  landing         {result.landing}",
        f"  manifest        {result.manifest_path}",
        f"  took            {result.seconds:.1f} s",
    ]
    return "\n".join(lines)


def where_text(paths: Paths) -> str:
    lines = ["GeoPulse outputs:"]
    if paths.manifest.exists():
        m = json.loads(paths.manifest.read_text(encoding="utf-8"))
        lines.append(f"  landing  {paths.landing}  ({sum(f['files'] for f in m['feeds'].values())} files, "
                     f"{m['params']['days']} days from {m['params']['start']}, "
                     f"{m['params']['subscribers']:,} subscribers)")
        lines.append(f"  manifest {paths.manifest}  (ground truth: lags, restriction effects, home cells)")
    else:
        lines.append(f"  landing  {paths.landing}  (empty: run `make run`)")
    lines.append(f"  lake     {paths.lake}")
    if paths.lake.exists():
        tables = sorted(p.name for p in paths.lake.iterdir() if p.is_dir() and p.name not in ("raw", "private"))
        for prefix, label in (("stg_", "staged"), ("agg_", "aggregates"), ("mart_", "marts"), ("geo_", "geography")):
            named = [t for t in tables if t.startswith(prefix)]
            if named:
                lines.append(f"           {label}: {', '.join(named)}")
        lines.append("           (Parquet, partitioned by ds; e.g. .venv/bin/python -c \"import duckdb; print(duckdb.sql("
                     f"\\\"select * from '{paths.lake}/mart_mobility_index/*/*.parquet' limit 5\\\"))\")")
        lines.append("           data quality per feed and day: .venv/bin/geopulse dq")
    lines.append(f"  serving  {paths.serving_db}  (published marts and views; `geopulse publish --ds DAY`)")
    lines.append("  dashboards: make dashboards  (Superset on http://127.0.0.1:8088, login admin / admin)")
    lines.append("  DAGs:       make airflow     (Airflow on http://127.0.0.1:8080 over this landing folder)")
    lines.append(f"  bench    {paths.bench}")
    lines.append("  data dictionary: schemas/data_dictionary.md")
    return "\n".join(lines)


def manifest_params(params: SimParams) -> dict:
    d = asdict(params)
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in d.items()}
