"""Operator event feeds of the synthetic city, in each operator's native format.

Reads the city config and ``SimParams`` through the ``SimContext``; builds the networks
(``network``), the subscribers (``population``), their days (``trajectories``) and events
(``events``), and writes under ``<landing>``:
  operator_kcell/dt=D/events_401-02_YYYYMMDD_pNNN.csv.gz   ';' gzip CSV, local time
  operator_beeline/dt=D/beeline_events_YYYY-MM-DD_partNNN.parquet   UTC ms timestamps
  operator_tele2/dt=D/t2_cdr_YYYYMMDD_NNN.csv              ',' CSV, epoch millis, cgi
  cell_reference/dt=D/cells_<operator>_YYYYMMDD.csv         (see ``network``)
Grain: one row per event. Subscribers are simulated in chunks of ``params.chunk_subscribers``
(memory stays bounded); each chunk's events become parts of at most ``part_rows`` rows, sorted
by time. Files are written by a small thread pool while the next chunk is generated.
Dirt (``params.dirt`` > 0) is logged in ``ctx.dirt_log``: duplicate and malformed rows per part,
one late part and one raw-identifier file per operator.
"""

import time
import zlib
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from h3ronpy.vector import coordinates_to_cells

from jobs.simulate.context import FeedResult, SimContext
from jobs.simulate.events import (DiurnalProfile, generate_events, local_midnight_utc_ms, local_time_strings,
                                  stay_cells)
from jobs.simulate.keys import month_of, raw_imsis, raw_msisdns, subscriber_keys
from jobs.simulate.network import Network, build_networks, write_cell_reference
from jobs.simulate.population import build_population, place_xy, scale_factors, subscriber_counts, truth_sample
from jobs.simulate.trajectories import (MobilityTruth, day_metrics, district_effects, restriction_effects,
                                        simulate_day, voluntary_caution)

PART_ROWS = 5_000_000
GZIP_LEVEL = 1
SAMPLE_SIZE = 500          # subscribers whose keys and true home/work go into the truth
WRITER_THREADS = 2
TYPE_NAMES = {"kcell": ["VOICE", "SMS", "DATA", "HO"], "beeline": ["voice", "sms", "data", "handover"]}
HEADERS = {"kcell": b"MSISDN_HASH;EVENT_TIME;LAC;CELL_ID;EVENT_TYPE\n", "tele2": b"sub_key,ts_ms,cgi,type\n"}


def feed_name(op: str) -> str:
    return f"operator_{op}"


def file_name(op: str, mcc_mnc: str, day: date, part: int) -> str:
    if op == "kcell":
        return f"events_{mcc_mnc}_{day:%Y%m%d}_p{part:03d}.csv.gz"
    if op == "beeline":
        return f"beeline_events_{day.isoformat()}_part{part:03d}.parquet"
    return f"t2_cdr_{day:%Y%m%d}_{part:03d}.csv"


# ---------------------------------------------------------------- strings
def fixed_strings(values: np.ndarray) -> pa.StringArray:
    """Arrow strings from a numpy fixed-width bytes array (zero-copy layout)."""
    width = values.dtype.itemsize
    return pa.StringArray.from_buffers(len(values), pa.py_buffer((np.arange(len(values) + 1, dtype=np.int32) * width).tobytes()),
                                       pa.py_buffer(np.ascontiguousarray(values).tobytes()))


# ---------------------------------------------------------------- one part
class Part:
    """Rows of one delivered file: index arrays into a chunk plus dirt to add."""

    def __init__(self, op: str, keys: pa.Array, sub, utc_ms, cell, etype):
        self.op, self.keys, self.sub, self.utc_ms, self.cell, self.etype = op, keys, sub, utc_ms, cell, etype
        self.malformed: list[tuple[str, int]] = []     # (reason, row) appended after the data

    def __len__(self) -> int:
        return len(self.sub) + len(self.malformed)


def add_dirt(part: Part, rate: float, rng: np.random.Generator) -> dict:
    """Duplicates (adjacent to their original) and malformed rows; returns exact counts."""
    n = len(part.sub)
    n_dup = int(rng.binomial(n, rate)) if n else 0
    if n_dup:
        counts = np.ones(n, np.int64)
        counts[rng.choice(n, n_dup, replace=False)] += 1
        idx = np.repeat(np.arange(n), counts)
        part.sub, part.utc_ms, part.cell, part.etype = (a[idx] for a in (part.sub, part.utc_ms, part.cell, part.etype))
    n_bad = int(rng.binomial(n, rate)) if n else 0
    reasons = ["bad_timestamp", "empty_cell"] + ([] if part.op == "beeline" else ["field_count"])
    picks = rng.integers(0, max(len(part.sub), 1), n_bad)
    kinds = rng.integers(0, len(reasons), n_bad)
    part.malformed = [(reasons[k], int(r)) for k, r in zip(kinds.tolist(), picks.tolist())]
    by = {r: sum(1 for k, _ in part.malformed if k == r) for r in reasons}
    return {"duplicate_rows": n_dup, "malformed_rows": n_bad, "malformed_by_reason": by}


def _malformed_lines(part: Part, net: Network, tz: str) -> bytes:
    if not part.malformed:
        return b""
    rows = np.array([r for _, r in part.malformed])
    keys = part.keys.take(pa.array(part.sub[rows])).to_pylist()
    c = net.cells
    lines = []
    if part.op == "kcell":
        times = local_time_strings(part.utc_ms[rows], tz).to_pylist()
        for (reason, _), k, t, cell, e in zip(part.malformed, keys, times, part.cell[rows], part.etype[rows]):
            f = [k, t, str(c["lac"].iat[cell]), str(c["ci"].iat[cell]), TYPE_NAMES["kcell"][e]]
            if reason == "bad_timestamp":
                f[1] = f"{t[6:10]}-{t[3:5]}-{t[0:2]}T{t[11:]}" if cell % 2 else t.replace(t[:2], "32", 1)
            elif reason == "empty_cell":
                f[3] = ""
            else:
                f = f[:-1] if cell % 2 else f + ["1"]
            lines.append(";".join(f))
    else:
        for (reason, _), k, ms, cell, e in zip(part.malformed, keys, part.utc_ms[rows], part.cell[rows], part.etype[rows]):
            f = [k, str(ms), c["cgi"].iat[cell], str(e + 1)]
            if reason == "bad_timestamp":
                f[1] = datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") if cell % 2 else "NaN"
            elif reason == "empty_cell":
                f[2] = ""
            else:
                f = f[:-1] if cell % 2 else f + ["0"]
            lines.append(",".join(f))
    return ("\n".join(lines) + "\n").encode("utf-8")


def _table(part: Part, net: Network, tz: str) -> pa.Table:
    keys = pa.DictionaryArray.from_arrays(pa.array(part.sub, pa.int32()), part.keys)
    etype = pa.array(part.etype, pa.int8())
    c = net.cells
    if part.op == "kcell":
        return pa.table({"MSISDN_HASH": keys, "EVENT_TIME": local_time_strings(part.utc_ms, tz),
                         "LAC": c["lac"].to_numpy()[part.cell], "CELL_ID": c["ci"].to_numpy()[part.cell],
                         "EVENT_TYPE": pa.DictionaryArray.from_arrays(etype, pa.array(TYPE_NAMES["kcell"]))})
    if part.op == "beeline":
        return pa.table({"subscriber_id": keys, "event_ts_utc": pa.array(part.utc_ms, pa.timestamp("ms", tz="UTC")),
                         "tac": c["lac"].to_numpy().astype(np.int32)[part.cell], "eci": c["ci"].to_numpy()[part.cell],
                         "event_type": pa.DictionaryArray.from_arrays(etype, pa.array(TYPE_NAMES["beeline"]))})
    cgi = pa.DictionaryArray.from_arrays(pa.array(part.cell, pa.int32()), pa.array(c["cgi"].tolist()))
    return pa.table({"sub_key": keys, "ts_ms": part.utc_ms, "cgi": cgi, "type": (part.etype + 1).astype(np.int8)})


def write_part(path, part: Part, net: Network, tz: str) -> None:
    """Write one part in the operator's native format (called from writer threads)."""
    table = _table(part, net, tz)
    if part.op == "beeline":
        with pq.ParquetWriter(path, table.schema, compression="snappy", store_schema=False,
                              dictionary_pagesize_limit=64 << 20) as writer:
            writer.write_table(table, row_group_size=1 << 20)
            if part.malformed:
                writer.write_table(_beeline_malformed(part, net, table.schema))
        return
    table = pa.table([c.cast(pa.string()) if pa.types.is_dictionary(c.type) else c for c in table.columns],
                     names=table.column_names)                     # plain strings write faster
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=False, delimiter=";" if part.op == "kcell" else ",",
                                                    quoting_style="none"))
    body, bad = sink.getvalue(), _malformed_lines(part, net, tz)
    with open(path, "wb") as fh:
        if part.op == "kcell":
            gz = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)   # gzip header: mtime 0, no name
            fh.write(gz.compress(HEADERS["kcell"]) + gz.compress(memoryview(body)) + gz.compress(bad) + gz.flush())
        else:
            fh.write(HEADERS["tele2"])
            fh.write(memoryview(body))
            fh.write(bad)


def _beeline_malformed(part: Part, net: Network, schema: pa.Schema) -> pa.Table:
    """Rows a typed file can still get wrong: a null timestamp or a null cell (tac, eci)."""
    rows = np.array([r for _, r in part.malformed])
    bad_ts = np.array([k == "bad_timestamp" for k, _ in part.malformed])
    c = net.cells
    return pa.table({
        "subscriber_id": pa.DictionaryArray.from_arrays(pa.array(part.sub[rows], pa.int32()), part.keys),
        "event_ts_utc": pa.array(part.utc_ms[rows], pa.timestamp("ms", tz="UTC"), mask=bad_ts),
        "tac": pa.array(c["lac"].to_numpy()[part.cell[rows]].astype(np.int32), mask=~bad_ts),
        "eci": pa.array(c["ci"].to_numpy()[part.cell[rows]], mask=~bad_ts),
        "event_type": pa.DictionaryArray.from_arrays(pa.array(part.etype[rows], pa.int8()),
                                                     pa.array(TYPE_NAMES["beeline"])),
    }, schema=schema)


# ---------------------------------------------------------------- delivery
class _Pool:
    """File writes on a few threads; at most ``pending`` waiting so memory stays bounded."""

    def __init__(self, threads: int, pending: int):
        self._ex = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="geopulse-writer")
        self._pending: deque = deque()
        self._limit = pending

    def submit(self, fn, *args) -> None:
        while len(self._pending) >= self._limit:
            self._pending.popleft().result()
        self._pending.append(self._ex.submit(fn, *args))

    def close(self) -> None:
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._ex.shutdown(wait=True, cancel_futures=True)


def _plan_file_dirt(ctx: SimContext, names: list[str], days: list[date]) -> tuple[dict, dict]:
    """Which day each operator gets its late part and its raw-identifier file (dirt > 0 only)."""
    if ctx.params.dirt <= 0 or not days:
        return {}, {}
    rng = ctx.rng("dirt/operator-files")
    late = {n: days[int(rng.integers(0, len(days) - 2))] for n in names} if len(days) >= 3 else {}
    raw = {n: days[int(rng.integers(0, len(days)))] for n in names}
    return late, raw


def _deliver(ctx: SimContext, pool: _Pool, res: FeedResult, part: Part, op: dict, day: date, part_no: int,
             late: bool, net: Network, tz: str) -> None:
    name, feed = op["name"], feed_name(op["name"])
    dirt = add_dirt(part, ctx.params.dirt, ctx.rng(f"dirt/{name}/{part_no}", day)) if ctx.params.dirt > 0 else None
    path = ctx.path(feed, day + timedelta(days=2) if late else day, file_name(name, op["mcc_mnc"], day, part_no))
    rel = ctx.rel(path)
    if dirt:
        ctx.dirt_log.add(feed, rel, day.isoformat(), "duplicate_rows", dirt["duplicate_rows"])
        ctx.dirt_log.add(feed, rel, day.isoformat(), "malformed_rows", dirt["malformed_rows"],
                         reasons=dirt["malformed_by_reason"])
    if late:
        ctx.dirt_log.add(feed, rel, day.isoformat(), "late_file", len(part),
                         delivered=(day + timedelta(days=2)).isoformat())
    res.files.append(rel)
    res.rows += len(part)
    pool.submit(write_part, path, part, net, tz)


def _raw_identifier_part(ctx: SimContext, op: dict, nd, day: date, midnight: int, n_rows: int) -> tuple[Part, str]:
    rng = ctx.rng(f"dirt/{op['name']}/raw-identifiers", day)
    n_ids = max(5, n_rows // 20)
    kind = "imsi" if op["name"] == "beeline" else "msisdn"
    ids = raw_imsis(rng, n_ids, op["mcc_mnc"]) if kind == "imsi" else raw_msisdns(rng, n_ids)
    cells = nd.rows.ravel()
    part = Part(op["name"], fixed_strings(ids), rng.integers(0, n_ids, n_rows).astype(np.int32),
                midnight + np.sort(rng.integers(0, 86_400_000, n_rows)), cells[rng.integers(0, len(cells), n_rows)],
                rng.integers(0, 3, n_rows).astype(np.int8))
    return part, kind


def _split(n: int, part_rows: int) -> list[tuple[int, int]]:
    k = max(1, -(-n // part_rows))
    b = np.linspace(0, n, k + 1).astype(np.int64)
    return [(int(b[i]), int(b[i + 1])) for i in range(k) if b[i + 1] > b[i]]


# ---------------------------------------------------------------- entry point
def generate_operators(ctx: SimContext, progress=None, part_rows: int = PART_ROWS) -> list[FeedResult]:
    """Write every operator's events for ``params.operator_days_list()`` plus the cell reference.

    ``progress`` (optional) is called with the number of events written after each chunk.
    Returns one ``FeedResult`` per operator feed (in config order), then ``cell_reference``."""
    t_start = time.perf_counter()
    run = _Run(ctx, progress, part_rows)
    try:
        for day in run.days:
            run.day(day)
    finally:
        run.pool.close()
    return run.results(time.perf_counter() - t_start)


class _Run:
    """State of one generation: networks, subscribers, writer pool, truth accumulators."""

    def __init__(self, ctx: SimContext, progress, part_rows: int):
        self.ctx, self.progress, self.part_rows = ctx, progress, part_rows
        self.days, self.ops = ctx.params.operator_days_list(), ctx.cfg["operators"]
        self.tz = ctx.cfg["city"]["timezone"]
        self.map_res = int(ctx.cfg.get("h3", {}).get("map_resolution", 8))
        self.nets = build_networks(ctx)
        self.cellref = write_cell_reference(ctx, self.nets)
        self.pop = build_population(ctx)
        self.feeds = {op["name"]: FeedResult(feed_name(op["name"])) for op in self.ops}
        self.events_by_day: dict[str, dict] = {op["name"]: {} for op in self.ops}
        self.mobility = MobilityTruth(ctx.geo.district_names)
        self.late, self.raw = _plan_file_dirt(ctx, [op["name"] for op in self.ops], self.days)
        self.px, self.py = place_xy(ctx.geo, ctx.cfg)
        self.profile = DiurnalProfile.build()
        self.pool = _Pool(WRITER_THREADS, pending=3)
        self._keys: dict = {}
        self._cells: dict = {}

    def day(self, day: date) -> None:
        for oi, op in enumerate(self.ops):
            self.operator_day(oi, op, day)
        self.mobility.close_day(day)

    def operator_day(self, oi: int, op: dict, day: date) -> None:
        ctx, name, net = self.ctx, op["name"], self.nets[op["name"]]
        nd = net.on(day)
        lo, hi = self.pop.operator_range(oi)
        keys, cells = self.keys(name, lo, hi, day), self.cells(name, nd, lo, hi)
        day_type = ctx.calendar.day_type(day)
        caution = voluntary_caution(ctx.cfg, ctx.shared.get("reported_cases_city", {}), day)
        effects = district_effects(ctx.cfg, ctx.calendar, ctx.geo.districts, day, caution)
        midnight = local_midnight_utc_ms(day, self.tz)
        part_no, n_day = 0, 0
        for c0 in range(lo, hi, max(1, int(ctx.params.chunk_subscribers))):
            c1 = min(hi, c0 + max(1, int(ctx.params.chunk_subscribers)))
            a, b = c0 - lo, c1 - lo
            sub = self.pop.take(slice(c0, c1))
            plan = simulate_day(sub, day_type, effects, ctx.cfg.get("behaviour", {}), self.px, self.py,
                                ctx.rng(f"trajectories/{name}/{c0}", day))
            best, second = stay_cells(plan, tuple(x[a:b] for x in cells["home"]), tuple(x[a:b] for x in cells["work"]),
                                      cells["place"], np.maximum(sub.place, 0), nd)
            ev = generate_events(plan, sub, best, second, nd, ctx.params.events_per_day, self.profile,
                                 ctx.rng(f"events/{name}/{c0}", day))
            per_sub, m = np.bincount(ev.sub, minlength=c1 - c0), day_metrics(plan, self.stay_areas(plan), best)
            for group in (name, "all"):
                self.mobility.add(day, group, sub.home_district, m, per_sub)
            key_arr, utc = fixed_strings(keys[a:b]), midnight + ev.t_ms.astype(np.int64)
            for s0, s1 in _split(len(ev), self.part_rows):
                part = Part(name, key_arr, ev.sub[s0:s1], utc[s0:s1], ev.cell[s0:s1], ev.etype[s0:s1])
                _deliver(ctx, self.pool, self.feeds[name], part, op, day, part_no,
                         self.late.get(name) == day and part_no == 0, net, self.tz)
                part_no += 1
            n_day += len(ev)
            if self.progress is not None:
                self.progress(len(ev))
        if self.raw.get(name) == day:
            part, kind = _raw_identifier_part(ctx, op, nd, day, midnight, int(np.clip(n_day // 50, 20, 2000)))
            path = ctx.path(feed_name(name), day, file_name(name, op["mcc_mnc"], day, part_no))
            ctx.dirt_log.add(feed_name(name), ctx.rel(path), day.isoformat(), "raw_identifier_file", len(part),
                             id_kind=kind)
            self.feeds[name].files.append(ctx.rel(path))
            self.feeds[name].rows += len(part)
            self.pool.submit(write_part, path, part, net, self.tz)
        self.events_by_day[name][day.isoformat()] = n_day

    def keys(self, name: str, lo: int, hi: int, day: date) -> np.ndarray:
        """The operator's subscriber keys of ``day``'s month (one month cached per operator)."""
        if self._keys.get(name, (None,))[0] != month_of(day):
            self._keys[name] = (month_of(day), subscriber_keys(self.ctx.salt, name, month_of(day), np.arange(lo, hi)))
        return self._keys[name][1]

    def stay_areas(self, plan) -> np.ndarray:
        """Map-resolution H3 cell (as uint64) of each stay: the area the indicators count."""
        lat, lon = self.ctx.geo.proj.to_latlon(plan.x, plan.y)
        return np.asarray(pa.array(coordinates_to_cells(np.asarray(lat, float), np.asarray(lon, float),
                                                        self.map_res)))

    def cells(self, name: str, nd, lo: int, hi: int) -> dict:
        """Best/second cells of homes, workplaces (-1: not employed) and places for one network state."""
        key = (name, id(nd))
        if key not in self._cells:
            for k in [k for k in self._cells if k[0] == name]:
                del self._cells[k]
            pop, emp = self.pop, self.pop.employed[lo:hi]
            wb, ws = np.full(hi - lo, -1, np.int32), np.full(hi - lo, -1, np.int32)
            wb[emp], ws[emp] = nd.serve(pop.work_x[lo:hi][emp], pop.work_y[lo:hi][emp])
            none = (np.zeros(1, np.int32), np.zeros(1, np.int32))
            self._cells[key] = {"home": nd.serve(pop.home_x[lo:hi], pop.home_y[lo:hi]), "work": (wb, ws),
                                "place": nd.serve(self.px, self.py) if len(self.px) else none}
        return self._cells[key]

    def results(self, wall: float) -> list[FeedResult]:
        ctx, pop = self.ctx, self.pop
        total = sum(sum(v.values()) for v in self.events_by_day.values())
        counts, scale = subscriber_counts(pop, ctx), scale_factors(pop, ctx)
        samples = truth_sample(ctx, pop, self.nets, self.days, SAMPLE_SIZE)
        for oi, op in enumerate(self.ops):
            name = op["name"]
            lo, hi = pop.operator_range(oi)
            self.feeds[name].truth = {
                "operator": name, "mcc_mnc": op["mcc_mnc"], "format": op.get("format"), "subscribers": hi - lo,
                "subscribers_by_district": counts[name], "scale": scale["operators"][name],
                "events": sum(self.events_by_day[name].values()), "events_by_day": self.events_by_day[name],
                "sample": samples.get(name, []), "mobility": self.mobility.days.get(name, {}),
            }
        cal = ctx.calendar
        self.cellref.truth.update({
            "population": {"subscribers": pop.n, "subscribers_by_operator": {k: sum(v.values()) for k, v in counts.items()},
                           "subscribers_by_operator_district": counts, "scale": scale},
            "mobility": self.mobility.days.get("all", {}),
            "calendar": {d.isoformat(): {"day_type": cal.day_type(d),
                                         "restriction": {x.name: (r.id if (r := cal.active(d, x.name)) else None)
                                                         for x in ctx.geo.districts}} for d in self.days},
            "restriction_effects": restriction_effects(ctx.cfg, cal),
            "generation": {"events": total, "wall_seconds": round(wall, 3),
                           "events_per_second": round(total / wall, 1) if wall > 0 else None},
        })
        return [self.feeds[op["name"]] for op in self.ops] + [self.cellref]
