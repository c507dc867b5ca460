"""Reference feeds of the synthetic city: restrictions, district boundaries, pharmacies.

Reads the city config, the geography and the pharmacy network. Writes
``<landing>/restrictions/dt=<first day>/restrictions.csv``,
``<landing>/districts/dt=<first day>/districts.geojson`` and
``<landing>/pharmacy_reference/dt=X/pharmacies_YYYYMMDD.csv`` on the first day and on every
day X the set of open pharmacies changes (a full snapshot each time: pharmacies known by X,
``valid_to`` filled once a closure is known; inclusive bounds, empty = still open).
"""

import csv
import io
import json

from jobs.simulate.context import FeedResult, SimContext
from jobs.simulate.health_io import write_bytes
from jobs.simulate.pharmacy import PharmacyNetwork, pharmacy_network

RESTRICTION_COLUMNS = ("restriction_id", "start_date", "end_date", "scope", "measure", "stringency")
PHARMACY_COLUMNS = ("pharmacy_id", "name", "lat", "lon", "district", "valid_from", "valid_to")


def _csv(header: tuple[str, ...], rows: list[list]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode("utf-8")


def _number(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)


def restrictions_feed(ctx: SimContext) -> FeedResult:
    rows = [[r.id, r.start.isoformat(), r.end.isoformat(), r.scope, r.measure, _number(r.stringency)]
            for r in ctx.calendar.restrictions]
    path = ctx.path("restrictions", ctx.params.start, "restrictions.csv")
    write_bytes(path, _csv(RESTRICTION_COLUMNS, rows))
    truth = {"restrictions": [dict(zip(RESTRICTION_COLUMNS, r)) for r in rows]}
    return FeedResult("restrictions", [ctx.rel(path)], len(rows), truth)


def districts_feed(ctx: SimContext) -> FeedResult:
    gj = ctx.geo.districts_geojson()
    path = ctx.path("districts", ctx.params.start, "districts.geojson")
    write_bytes(path, json.dumps(gj, ensure_ascii=False).encode("utf-8"))
    truth = {"districts": {d.name: {"population": d.population, "district_type": d.kind}
                           for d in ctx.geo.districts}}
    return FeedResult("districts", [ctx.rel(path)], len(gj["features"]), truth)


def pharmacy_reference_feed(ctx: SimContext, net: PharmacyNetwork | None = None) -> FeedResult:
    net = net or pharmacy_network(ctx)
    f = net.frame
    result = FeedResult("pharmacy_reference")
    snapshots = []
    for day in [d for d in net.change_days() if ctx.params.start <= d <= ctx.params.end]:
        rows = []
        for r in f.itertuples(index=False):
            if r.valid_from > day:
                continue
            closed = r.valid_to is not None and r.valid_to < day
            rows.append([r.pharmacy_id, r.name, f"{r.lat:.6f}", f"{r.lon:.6f}", r.district,
                         r.valid_from.isoformat(), r.valid_to.isoformat() if closed else ""])
        path = ctx.path("pharmacy_reference", day, f"pharmacies_{day.strftime('%Y%m%d')}.csv")
        write_bytes(path, _csv(PHARMACY_COLUMNS, rows))
        result.files.append(ctx.rel(path))
        result.rows += len(rows)
        snapshots.append({"day": day.isoformat(), "file": ctx.rel(path), "rows": len(rows)})
    in_period = f[f["valid_from"] <= ctx.params.end]
    result.truth = {
        "pharmacies": int(len(in_period)),
        "registers": int(sum(1 for p in net.kkm_pharmacy if f["valid_from"].iloc[p] <= ctx.params.end)),
        "by_district": {k: int(v) for k, v in in_period.groupby("district").size().items()},
        "opened": sorted(in_period.loc[in_period["valid_from"] > ctx.params.start, "pharmacy_id"]),
        "closed": sorted(in_period.loc[in_period["valid_to"].notna(), "pharmacy_id"]),
        "snapshots": snapshots,
    }
    return result


def generate_reference(ctx: SimContext) -> list[FeedResult]:
    """restrictions, districts and pharmacy_reference feeds (in that order)."""
    return [restrictions_feed(ctx), districts_feed(ctx), pharmacy_reference_feed(ctx)]
