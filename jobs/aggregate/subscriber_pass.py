"""One vectorised pass per partition over the located events of subscribers: the per
subscriber-day movement summaries and the per-partition hex-hour counts.

Reads nothing itself: takes located events (``jobs.aggregate.located_events``) hash-partitioned
by subscriber (``located_events.by_subscriber``) and the location dimension
(``jobs.aggregate.cell_locations.location_dim``, a few thousand rows, shipped to the Python
workers as numpy arrays). Every subscriber's events sit in one partition, so each partition is
sorted once (numpy) and every per-subscriber figure is computed there with array operations:
no window function, no further shuffle of events.

- ``day_summaries``: grain (ds, operator, subscriber_key): the columns of
  ``private_trajectories__subscriber_day`` (definitions in ``jobs.aggregate.trajectories``) plus
  ``od_origins`` / ``od_destinations``: the districts of each district trip, in time order.
- ``partial_hex_hours``: grain (partition, ds, hour, operator, resolution, h3_cell): distinct
  subscribers, residents among them and events of the partition's subscribers; summing them
  over partitions is exact because no subscriber spans two partitions.
"""

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.aggregate import stays
from jobs.aggregate.arrays import prev_next, runs, starts
from jobs.aggregate.cell_locations import res_col

KEY = ["ds", "operator", "subscriber_key"]

SUMMARY_SCHEMA = (
    "ds date, operator string, subscriber_key bigint, events int, located_events int, "
    "distinct_h3_cells int, trips int, district_trips int, radius_gyration_km double, "
    "km_travelled double, stay_put boolean, first_h3_cell string, last_h3_cell string, "
    "night_h3_cell string, day_h3_cell string, modal_h3_cell string, main_district string, "
    "od_origins array<string>, od_destinations array<string>")

HEX_SCHEMA = ("ds date, hour int, operator string, resolution int, h3_cell string, "
              "subscribers long, residents long, events long")

US_PER_S = 1_000_000
EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class Locations:
    """The location dimension as arrays indexed by loc_id."""
    fine_cell: np.ndarray           # object: finest-resolution cell
    district: np.ndarray            # object: district name
    district_code: np.ndarray       # int64: code of the district (index into district_names)
    district_names: np.ndarray      # object
    x_km: np.ndarray
    y_km: np.ndarray
    cells: dict                     # resolution -> (codes int64 per loc_id, names object per code)


def locations(dim: pd.DataFrame) -> Locations:
    """``location_dim`` rows (pandas) -> arrays indexed by loc_id."""
    dim = dim.sort_values("loc_id")
    if not np.array_equal(dim["loc_id"].to_numpy(), np.arange(len(dim))):
        raise ValueError("location dimension: loc_id must be 0..n-1")
    cells = {}
    for c in dim.columns:
        if c.startswith("h3_r"):
            codes, names = pd.factorize(dim[c], sort=True)
            cells[int(c[4:])] = (codes.astype(np.int64), np.asarray(names, dtype=object))
    fine = max(cells)
    dcodes, dnames = pd.factorize(dim["district"], sort=True)
    return Locations(dim[res_col(fine)].to_numpy(dtype=object), dim["district"].to_numpy(dtype=object),
                     dcodes.astype(np.int64), np.asarray(dnames, dtype=object), dim["x_km"].to_numpy(float), dim["y_km"].to_numpy(float), cells)


def _table(batches) -> pa.Table | None:
    """A partition's Arrow batches as one table (None when empty)."""
    batches = [b for b in batches if b.num_rows]
    return pa.Table.from_batches(batches).combine_chunks() if batches else None


def _int(col: pa.ChunkedArray, dtype=np.int64, null=-1) -> np.ndarray:
    """An integer-like Arrow column (int, date32 as days, timestamp as microseconds) as numpy."""
    t = col.type
    if pa.types.is_date32(t):
        col = col.cast(pa.int32())
    elif pa.types.is_timestamp(t):
        col = col.cast(pa.timestamp("us", tz=t.tz)).cast(pa.int64())
    return pc.fill_null(col, null).to_numpy().astype(dtype, copy=False)


def _codes(col: pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """A string column as int64 codes and its dictionary."""
    d = pc.dictionary_encode(col).combine_chunks()
    return d.indices.to_numpy(zero_copy_only=False).astype(np.int64), d.dictionary


def _take(values: pa.Array | np.ndarray, idx: np.ndarray) -> pa.Array:
    """``values[idx]`` as an Arrow array, null where idx < 0."""
    values = values if isinstance(values, pa.Array) else pa.array(values)
    return values.take(pa.array(idx, mask=idx < 0))


def _dates(days: np.ndarray) -> pa.Array:
    return pa.array(days.astype("datetime64[D]"), pa.date32())


def _best_per_group(g: np.ndarray, ng: int, *order: np.ndarray) -> np.ndarray:
    """Rows sorted by group ``g``: per group (of ``ng``), the index of the row with the
    greatest ``order`` values (lexicographic, first key first); -1 for empty groups."""
    out = np.full(ng, -1, np.int64)
    if not len(g):
        return out
    bounds = runs(g)
    first_rows = bounds[:-1]
    cand = np.ones(len(g), bool)
    for key in order:
        masked = np.where(cand, key, np.iinfo(np.int64).min)
        best = np.maximum.reduceat(masked, first_rows)
        cand &= masked == np.repeat(best, np.diff(bounds))
    rows = np.flatnonzero(cand)
    # several rows equal on every key are identical choices: keep the last
    last = np.ones(len(rows), bool)
    last[:-1] = g[rows[1:]] != g[rows[:-1]]
    out[g[rows[last]]] = rows[last]
    return out


def _event_order(ds: np.ndarray, op: np.ndarray, sub: np.ndarray, ts: np.ndarray, lid: np.ndarray) -> np.ndarray:
    """The permutation sorting events by (ds, operator, subscriber, time, loc_id): two int64
    argsorts on packed keys (numpy's lexsort is several times slower)."""
    _, sub_code = np.unique(sub, return_inverse=True)
    n_sub, n_op, n_lid = int(sub_code.max()) + 1, int(op.max()) + 1, int(lid.max()) + 2
    group = ((ds - ds.min()) * n_op + op) * n_sub + sub_code
    span = int(ts.max() - ts.min()) + 1
    if span >= np.iinfo(np.int64).max // n_lid:
        return np.lexsort((lid, ts, sub, op, ds))
    within = (ts - ts.min()) * n_lid + (lid + 1)
    by_time = np.argsort(within)
    return by_time[np.argsort(group[by_time], kind="stable")]


def summarise(ds: np.ndarray, op: np.ndarray, sub: np.ndarray, ts: np.ndarray, hour: np.ndarray,
              lid: np.ndarray, loc: Locations, trip_res: int, working_days: set,
              night_hours: tuple[int, int], work_hours: tuple[int, int],
              max_oscillation_minutes: int | None) -> dict:
    """Located events of whole subscriber-days as arrays (ds in days, operator codes, subscriber
    keys, UTC microseconds, local hour, loc_id or -1), any order -> per subscriber-day arrays:
    ``head`` (an event row of the group, for its keys) and the trajectory figures, locations as
    loc_id (-1: none); ``od_offsets``/``od_origin``/``od_destination``: district trips per group
    as district codes."""
    order = _event_order(ds, op, sub, ts, lid)
    ds, op, sub, ts, hour, lid = ds[order], op[order], sub[order], ts[order], hour[order], lid[order]
    first = np.ones(len(sub), bool)
    first[1:] = (ds[1:] != ds[:-1]) | (op[1:] != op[:-1]) | (sub[1:] != sub[:-1])
    gid = np.cumsum(first) - 1
    ng = int(gid[-1]) + 1
    n_loc = len(loc.fine_cell)
    events = np.bincount(gid, minlength=ng)
    located = lid >= 0
    n_located = np.bincount(gid[located], minlength=ng)

    # moves: located events in time order, one-event oscillations A -> X -> A left out
    g_l, l_l, ts_l, hour_l, ds_l = gid[located], lid[located], ts[located], hour[located], ds[located]
    area_codes, _ = loc.cells[int(trip_res)]
    area, s_l = area_codes[l_l], np.floor_divide(ts_l, US_PER_S)
    osc = stays.one_event_oscillations(g_l, area, s_l, max_oscillation_minutes)
    ping_pong = stays.ping_pong_runs(g_l, area, s_l, osc, max_oscillation_minutes)[~osc]
    keep = ~osc
    g_m, l_m, hour_m, area_m, s_m = g_l[keep], l_l[keep], hour_l[keep], area[keep], s_l[keep]
    dist_m = loc.district_code[l_m]
    x, y = loc.x_km[l_m], loc.y_km[l_m]
    has_prev = ~starts(g_m)
    n_m = np.bincount(g_m, minlength=ng)
    px, py = np.roll(x, 1), np.roll(y, 1)
    hop = np.where(has_prev, np.hypot(x - np.where(has_prev, px, x), y - np.where(has_prev, py, y)), 0.0)
    km = np.bincount(g_m, weights=hop, minlength=ng)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx = np.bincount(g_m, weights=x, minlength=ng) / n_m
        my = np.bincount(g_m, weights=y, minlength=ng) / n_m
        m2 = np.bincount(g_m, weights=x ** 2 + y ** 2, minlength=ng) / n_m
        rog = np.sqrt(np.maximum(0.0, m2 - mx ** 2 - my ** 2))
    pairs = np.sort(g_m * n_loc + l_m)
    distinct = np.bincount(pairs[starts(pairs)] // n_loc, minlength=ng)

    # first / last / night location (last night event), over the moves
    start_m = starts(g_m)
    end_m = np.roll(start_m, -1)
    first_loc = np.full(ng, -1, np.int64)
    last_loc = np.full(ng, -1, np.int64)
    night_loc = np.full(ng, -1, np.int64)
    first_loc[g_m[start_m]] = l_m[start_m]
    last_loc[g_m[end_m]] = l_m[end_m]
    n_lo, n_hi = night_hours
    night = (hour_m >= n_lo) & (hour_m < n_hi)
    night_loc[g_m[night]] = l_m[night]             # in time order: the last assignment wins

    # stays: the moves without ping-pong runs and pass-by runs; trips are changes between them
    c = ~ping_pong
    at_stay = c.copy()
    at_stay[c] = ~stays.pass_by_runs(g_m[c], area_m[c], s_m[c], x[c], y[c])
    g_s, area_s, dist_s = g_m[at_stay], area_m[at_stay], dist_m[at_stay]
    has_prev, prev_area, _, _ = prev_next(g_s, area_s)
    _, prev_dist, _, _ = prev_next(g_s, dist_s)
    trip = has_prev & (area_s != prev_area)
    dtrip = has_prev & (dist_s != prev_dist)
    trips = np.bincount(g_s[trip], minlength=ng)
    district_trips = np.bincount(g_s[dtrip], minlength=ng)

    # modal location of the day and of the work hours (ties: the latest event), over all located
    lo, hi = work_hours
    in_work = np.isin(ds_l, np.array(sorted(working_days), dtype=np.int64)) & (hour_l >= lo) & (hour_l < hi)
    by_key = np.argsort(g_l * n_loc + l_l, kind="stable")      # groups, then loc, then time
    keys = (g_l * n_loc + l_l)[by_key]
    bounds = runs(keys)
    k_start, k_end = bounds[:-1], bounds[1:] - 1
    k_g, k_l = keys[k_start] // n_loc, keys[k_start] % n_loc
    k_n = np.diff(bounds)
    k_last = ts_l[by_key][k_end]
    k_work = np.add.reduceat(in_work[by_key].astype(np.int64), k_start) if len(k_start) else k_n
    i = _best_per_group(k_g, ng, k_n, k_last, k_l)
    modal_loc = np.where(i >= 0, k_l[np.maximum(i, 0)], -1) if len(k_l) else np.full(ng, -1, np.int64)
    w = k_work > 0
    i = _best_per_group(k_g[w], ng, k_work[w], k_last[w], k_l[w])
    day_loc = np.where(i >= 0, k_l[w][np.maximum(i, 0)], -1) if w.any() else np.full(ng, -1, np.int64)

    # district trips (origin, destination) in time order, for the OD table
    od_rows = np.flatnonzero(dtrip)
    od_offsets = np.searchsorted(g_s[od_rows], np.arange(ng + 1)).astype(np.int32)
    any_located = n_located > 0
    return {
        "head": order[first], "ds": ds[first], "op": op[first], "sub": sub[first],
        "events": events, "located_events": n_located, "distinct_h3_cells": distinct,
        "trips": trips, "district_trips": district_trips,
        "radius_gyration_km": np.where(any_located, rog, np.nan),
        "km_travelled": np.where(any_located, km, np.nan),
        "stay_put": any_located & (n_m > 0) & (trips == 0),
        "first_loc": first_loc, "last_loc": last_loc, "night_loc": night_loc, "day_loc": day_loc,
        "modal_loc": modal_loc, "main_loc": np.where(night_loc >= 0, night_loc, modal_loc),
        "od_offsets": od_offsets, "od_origin": dist_s[od_rows - 1], "od_destination": dist_s[od_rows],
    }


def _summary_batch(t: pa.Table, loc: Locations, trip_res: int, working_days: set,
                   night_hours: tuple[int, int], work_hours: tuple[int, int],
                   max_oscillation_minutes: int | None) -> pa.RecordBatch:
    op, ops = _codes(t.column("operator"))
    r = summarise(_int(t.column("ds")), op, _int(t.column("subscriber_key")), _int(t.column("event_ts_utc")),
                  _int(t.column("hour")), _int(t.column("loc_id")), loc, trip_res,
                  {(d - EPOCH).days for d in working_days}, night_hours, work_hours, max_oscillation_minutes)
    districts = pa.array(loc.district_names)
    cells, names = pa.array(loc.fine_cell), pa.array(loc.district)

    def od(codes: np.ndarray) -> pa.Array:
        return pa.ListArray.from_arrays(pa.array(r["od_offsets"], pa.int32()), districts.take(pa.array(codes)))

    cols = {
        "ds": _dates(r["ds"]),
        "operator": ops.take(pa.array(r["op"])).cast(pa.string()),
        "subscriber_key": pa.array(r["sub"], pa.int64()),
        **{c: pa.array(r[c].astype(np.int32), pa.int32())
           for c in ("events", "located_events", "distinct_h3_cells", "trips", "district_trips")},
        "radius_gyration_km": pa.array(r["radius_gyration_km"], from_pandas=True),
        "km_travelled": pa.array(r["km_travelled"], from_pandas=True),
        "stay_put": pa.array(r["stay_put"], pa.bool_()),
        **{f"{c}_h3_cell": _take(cells, r[f"{c}_loc"]) for c in ("first", "last", "night", "day", "modal")},
        "main_district": _take(names, r["main_loc"]),
        "od_origins": od(r["od_origin"]), "od_destinations": od(r["od_destination"]),
    }
    return pa.RecordBatch.from_arrays(list(cols.values()), names=list(cols))


def day_summaries(located: DataFrame, dim: DataFrame, trip_res: int, working_days: list,
                  night_hours: tuple[int, int], work_hours: tuple[int, int],
                  max_oscillation_minutes: int | None = None) -> DataFrame:
    """Located events (partitioned by subscriber) -> one row per subscriber-day (SUMMARY_SCHEMA)."""
    loc = locations(dim.toPandas())
    days = set(working_days)
    cols = ["ds", "operator", "subscriber_key", "event_ts_utc", "hour", "loc_id"]

    def run(batches):
        t = _table(batches)
        if t is not None:
            yield _summary_batch(t, loc, trip_res, days, night_hours, work_hours, max_oscillation_minutes)

    return located.select(*cols).mapInArrow(run, SUMMARY_SCHEMA)


def od_trips(summaries: DataFrame) -> DataFrame:
    """Day summaries -> one row per district trip: ds, operator, subscriber_key,
    origin_district, destination_district."""
    z = F.explode(F.arrays_zip(F.col("od_origins").alias("o"), F.col("od_destinations").alias("d"))).alias("t")
    return (summaries.where(F.col("district_trips") > 0).select(*KEY, z)
            .select(*KEY, F.col("t.o").alias("origin_district"), F.col("t.d").alias("destination_district")))


def hex_counts(ds: np.ndarray, op: np.ndarray, sub: np.ndarray, hour: np.ndarray, lid: np.ndarray,
               home: np.ndarray, loc: Locations, resolutions: list[int]) -> dict:
    """Located events as arrays (ds in days, operator codes, subscriber keys, local hour, loc_id,
    the subscriber's home loc_id that day or -1) -> per resolution, arrays of (ds, operator code,
    hour, cell code, subscribers, residents, events) for every cell-hour with a subscriber."""
    _, sub = np.unique(sub, return_inverse=True)
    n_sub, n_loc, n_op = int(sub.max()) + 1, len(loc.fine_cell), int(op.max()) + 1
    d0 = int(ds.min())
    slot = ((ds - d0) * n_op + op) * 24 + hour                                 # day, operator, hour
    key = (slot * n_loc + lid) * n_sub + sub
    order = np.argsort(key)
    skey = key[order]
    b = runs(skey)
    uk, n_ev = skey[b[:-1]], np.diff(b)                     # distinct (slot, finest cell, subscriber)
    t_sub, t_loc, t_slot = uk % n_sub, (uk // n_sub) % n_loc, uk // n_sub // n_loc
    t_home = home[order[b[:-1]]]
    out = {}
    for res in sorted(resolutions, reverse=True):
        codes, names = loc.cells[int(res)]
        n_cell = len(names)
        cell = codes[t_loc]
        resident = ((t_home >= 0) & (codes[np.maximum(t_home, 0)] == cell)).astype(np.int64)
        k2 = (t_slot * n_cell + cell) * n_sub + t_sub
        o2 = np.argsort(k2)
        s2 = k2[o2]
        b2 = runs(s2)                                      # distinct (slot, cell, subscriber)
        ev2 = np.add.reduceat(n_ev[o2], b2[:-1])
        res2 = np.maximum.reduceat(resident[o2], b2[:-1])
        cells_key = s2[b2[:-1]] // n_sub
        b3 = runs(cells_key)                               # (slot, cell)
        c = cells_key[b3[:-1]]
        c_slot = c // n_cell
        out[int(res)] = {"ds": c_slot // 24 // n_op + d0, "op": (c_slot // 24) % n_op, "hour": c_slot % 24,
                         "cell": c % n_cell, "subscribers": np.diff(b3),
                         "residents": np.add.reduceat(res2, b3[:-1]), "events": np.add.reduceat(ev2, b3[:-1])}
    return out


def _hex_batch(t: pa.Table, loc: Locations, resolutions: list[int]) -> pa.RecordBatch:
    op, ops = _codes(t.column("operator"))
    counts = hex_counts(_int(t.column("ds")), op, _int(t.column("subscriber_key")), _int(t.column("hour")),
                        _int(t.column("loc_id")), _int(t.column("home_loc")), loc, resolutions)
    parts = []
    for res, r in counts.items():
        parts.append(pa.RecordBatch.from_arrays([
            _dates(r["ds"]), pa.array(r["hour"].astype(np.int32), pa.int32()),
            ops.take(pa.array(r["op"])).cast(pa.string()), pa.array(np.full(len(r["cell"]), res, np.int32)),
            pa.array(loc.cells[res][1]).take(pa.array(r["cell"])),
            *(pa.array(r[c].astype(np.int64), pa.int64()) for c in ("subscribers", "residents", "events"))],
            names=HEX_COLUMNS))
    return pa.Table.from_batches(parts).combine_chunks().to_batches()[0]


HEX_COLUMNS = ["ds", "hour", "operator", "resolution", "h3_cell", "subscribers", "residents", "events"]


def partial_hex_hours(located: DataFrame, homes: DataFrame, dim: DataFrame, resolutions: list[int],
                      partitions: int) -> DataFrame:
    """Located events (``by_subscriber`` into ``partitions``) and homes (ds, operator,
    subscriber_key, home_h3_cell at the finest resolution) -> per-partition hex-hour counts
    (HEX_SCHEMA). The homes are repartitioned like the events, so the join moves only the homes."""
    loc = locations(dim.toPandas())
    fine = max(loc.cells)
    home_loc = F.broadcast(dim.select(F.col(res_col(fine)).alias("home_h3_cell"), F.col("loc_id").alias("home_loc")))
    h = homes.join(home_loc, "home_h3_cell").select(*KEY, "home_loc")
    h = h.repartition(int(partitions), "operator", "subscriber_key")
    ev = (located.select(*KEY, "hour", "loc_id").where(F.col("loc_id").isNotNull())
          .join(h.hint("shuffle_hash"), KEY, "left"))

    def run(batches):
        t = _table(batches)
        if t is not None:
            yield _hex_batch(t, loc, resolutions)

    return ev.mapInArrow(run, HEX_SCHEMA)


def hex_hour_counts(partials: DataFrame) -> DataFrame:
    """Per-partition counts -> ds, hour, operator, resolution, h3_cell, subscribers, residents, events."""
    return (partials.groupBy("ds", "hour", "operator", "resolution", "h3_cell")
            .agg(F.sum("subscribers").alias("subscribers"), F.sum("residents").alias("residents"),
                 F.sum("events").alias("events")))
