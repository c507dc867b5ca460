"""Fiscal receipts of the synthetic city's pharmacies (feed ``pharmacy_receipts``).

Reads the pharmacy network and sales model (``jobs.simulate.pharmacy``/``pharmacy_sales``).
Writes one gzip JSON-lines file per covered day D,
``<landing>/pharmacy_receipts/dt=D/receipts_D.jsonl.gz``, one receipt per line:
``{"receipt_id", "kkm_id", "pharmacy_id", "ts" (local, with offset), "total", "items": [{"atc",
"qty", "amount"}]}``; ``total`` is the sum of the item amounts (tenge). Lines are built with
Arrow string kernels and compressed in a background thread (zlib releases the GIL).

Dirt (dirt > 0): duplicated receipts (same line twice), malformed lines (a receipt cut short),
one file delivered late (dt = D + 2).
"""

from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from jobs.simulate import pharmacy as ph
from jobs.simulate.context import FeedResult, SimContext
from jobs.simulate.health_io import interleave, join_lines, later, special_days, write_bytes
from jobs.simulate.pharmacy_sales import GROUPS, DayReceipts, SalesModel, day_truth, sales_model, simulate_day

FEED = "pharmacy_receipts"


def file_name(day: date) -> str:
    return f"receipts_{day.isoformat()}.jsonl.gz"


def utc_offset(day: date, tz: str) -> str:
    """``+06:00``-style offset of the city's time zone at noon of ``day``."""
    off = datetime.combine(day, time(12), ZoneInfo(tz)).utcoffset()
    minutes = int(off.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _num(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(np.asarray(values, dtype=np.int64)), pa.string())


def json_lines(day: date, rec: DayReceipts, net: ph.PharmacyNetwork, model: SalesModel, tz: str) -> pa.Array:
    """One compact JSON object per receipt (ids, local time with offset, total, items)."""
    n = len(rec.pharmacy)
    if n == 0:
        return pa.array([], pa.string())
    codes = pa.array(model.codes).take(pa.array(rec.item_code))
    items = pc.binary_join_element_wise('{"atc":"', codes, '","qty":', _num(rec.qty), ',"amount":',
                                        _num(rec.amount), '.0}', "")
    joined = pc.binary_join(pa.ListArray.from_arrays(pa.array(rec.item_offsets, pa.int32()), items), ",")
    total = np.add.reduceat(rec.amount, rec.item_offsets[:-1]) if len(rec.amount) else np.zeros(n)
    kkm = pa.array(net.kkm_id).take(pa.array(rec.kkm))
    seq = pc.utf8_lpad(_num(rec.seq), 4, "0")
    stamp = pc.replace_substring(
        pc.cast(pa.array(np.datetime64(day.isoformat(), "s") + rec.seconds), pa.string()), " ", "T")
    pid = pa.array(net.frame["pharmacy_id"].to_numpy()).take(pa.array(rec.pharmacy))
    return pc.binary_join_element_wise(
        '{"receipt_id":"', kkm, f"-{day.strftime('%y%m%d')}-", seq, '","kkm_id":"', kkm,
        '","pharmacy_id":"', pid, '","ts":"', stamp, f'{utc_offset(day, tz)}","total":', _num(total),
        '.0,"items":[', joined, "]}", "")


def _dirt(lines: pa.Array, rate: float, rng: np.random.Generator) -> tuple[pa.Array, int, int]:
    """Exact duplicate lines and malformed (truncated) lines inserted at random places."""
    n = len(lines)
    n_dup, n_bad = int(rng.binomial(n, rate)), int(rng.binomial(n, rate))
    dup = np.sort(rng.choice(n, size=n_dup, replace=False)) if n_dup else np.zeros(0, np.int64)
    dup_pos = np.array([rng.integers(i + 1, n + 1) for i in dup], dtype=np.int64)
    bad_src = rng.integers(0, n, n_bad)
    bad = []
    for i in bad_src:
        text = lines[int(i)].as_py()
        bad.append(text[: int(len(text) * rng.uniform(0.2, 0.9))])
    extra = [lines[int(i)].as_py() for i in dup] + bad
    positions = np.concatenate([dup_pos, rng.integers(0, n + 1, n_bad)])
    return interleave(lines, extra, positions), n_dup, n_bad


def _truth_day(tr: dict, names: list[str]) -> dict:
    out = {}
    for j, name in enumerate(names):
        out[name] = {"receipts": int(tr["receipts"][j]), "amount": int(tr["amount"][j])}
        for g in GROUPS:
            out[name][g] = {k: int(v[j]) for k, v in tr[g].items()}
    return out


def generate_pharmacy(ctx: SimContext, epi: pd.DataFrame,
                      net: ph.PharmacyNetwork | None = None) -> FeedResult:
    """Write every day's receipts; truth: exact counts and expectations per (day, district)."""
    p = ctx.params
    days = p.all_days()
    net = net or ph.pharmacy_network(ctx)
    model = sales_model(ctx, net, epi)
    names = ctx.geo.district_names
    tz = ctx.cfg["city"]["timezone"]
    dirty = p.dirt > 0
    late = special_days(ctx.rng("pharmacy_file_dirt"), days, 1, margin_after=2) if dirty else []
    result = FeedResult(FEED)
    counts, expected = {}, {}
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = []
        for i, day in enumerate(days):
            rec = simulate_day(model, net, i, ctx.rng("pharmacy_receipts", day))
            lines = json_lines(day, rec, net, model, tz)
            n_dup = n_bad = 0
            if dirty and len(lines):
                lines, n_dup, n_bad = _dirt(lines, p.dirt, ctx.rng("pharmacy_row_dirt", day))
            delivered = later(day, 2) if day in late else day
            path = ctx.path(FEED, delivered, file_name(day))
            pending.append(pool.submit(write_bytes, path, join_lines(lines), True))
            if len(pending) > 2:
                pending.pop(0).result()
            rel, iso = ctx.rel(path), day.isoformat()
            result.files.append(rel)
            result.rows += len(lines)
            if dirty:
                ctx.dirt_log.add(FEED, rel, iso, "duplicate_rows", n_dup)
                ctx.dirt_log.add(FEED, rel, iso, "malformed_rows", n_bad)
                if day in late:
                    ctx.dirt_log.add(FEED, rel, iso, "late_file", len(lines), delivered=delivered.isoformat())
            counts[iso] = _truth_day(day_truth(model, net, rec, len(names)), names)
            ex = np.round(model.expected[i], 3).tolist()
            expected[iso] = {n: {"receipts": row[0], **dict(zip(GROUPS, row[1:]))}
                             for n, row in zip(names, ex)}
        for f in pending:
            f.result()
    result.truth = {
        "groups": list(GROUPS), "districts": names,
        "atc_groups": {c: GROUPS[g] for c, g in zip(model.codes, model.code_group)},
        "receipts": counts,      # genuine receipts by day/district: totals and per group
        "expected": expected,    # expected receipts and receipts containing each group
        "late_files": [d.isoformat() for d in late],
    }
    return result
