"""Bench-only fast staging: a generated city-day's operator files -> ``stg_operator__events``
without Spark, so a 100M-event day is staged in minutes instead of the row-by-row ingest's
20+ minutes. Used by ``jobs.bench.aggregate`` to prepare its input; never by the pipeline.

Reads the operator feeds of one covered day from a landing folder (``<feed>/dt=*/``, files in
delivery order as ``jobs.ingest.framework.raw_deliveries`` orders them); writes Parquet under
``<lake>/stg_operator__events/ds=<day>/operator=<mcc-mnc>/`` with the rows the real ingest
(``jobs.ingest.kcell`` / ``beeline`` / ``tele2`` through ``jobs.ingest.operators``) stages:
subscriber_key = first 16 hex characters of the delivered key as a signed int64, event_ts_utc
(Kcell local wall time through the tz database), cgi ``<mcc>-<mnc>-<lac>-<ci>``, event_type,
source_file (landing-relative) and source_row (1 = first data row of the file). Grain: one row
per distinct event (subscriber_key, event_ts_utc, lac, ci, event_type), the first in delivery
order kept, as the real ingest does.

Only clean deliveries (``--dirt 0``) are in scope: anything the real ingest would quarantine
(a wrong header or footer schema, a field that does not parse, a key that is not the feed's hex
form, an unknown event type, an event outside the covered local day, a negative LAC/CI) raises
``StageError`` instead of being quarantined, so the fast path can never stage different rows in
silence. ``tests/unit/bench/test_stage.py`` checks the rows against the real ingest.

Each file is parsed with pyarrow (multi-threaded, order kept, so row numbers are exact), keys
are decoded from their fixed-width hex bytes with numpy, and duplicates are looked for with one
DuckDB pass per operator-day (a distinct count of a 64-bit record hash; only when it finds fewer
distinct records than rows is the exact first-occurrence de-duplication run).
"""

import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from jobs.common.contracts import load_contract

TABLE = "stg_operator__events"
FEEDS = ("operator_kcell", "operator_beeline", "operator_tele2")
KCELL_TYPES = {"VOICE": "voice", "SMS": "sms", "DATA": "data", "HO": "handover"}
TELE2_TYPES = {1: "voice", 2: "sms", 3: "data", 4: "handover"}
EVENT_TYPES = ("voice", "sms", "data", "handover")
ROW_GROUP = 1 << 20
# The staged file layout: the columns outside the partition (ds, operator), in contract order.
FILE_SCHEMA = pa.schema([("subscriber_key", pa.int64()), ("event_ts_utc", pa.timestamp("us", tz="UTC")),
                         ("cgi", pa.string()), ("event_type", pa.string()), ("source_file", pa.string()),
                         ("source_row", pa.int64())])

_HEX = np.full(256, 255, np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _HEX[_c] = 10 + _i


class StageError(ValueError):
    """A delivered row the real ingest would quarantine (out of scope for the fast path)."""


@dataclass(frozen=True)
class Delivered:
    path: Path
    rel: str            # landing-relative: the staged source_file


# ---------------------------------------------------------------- pure helpers
def hex_keys_to_int64(keys: pa.Array, width: int, upper: bool | None) -> np.ndarray:
    """First 16 hex characters of each key (all exactly ``width`` characters; ``upper``: the
    case the contract pattern demands, None = either) as a signed int64 (two's complement), as
    ``jobs.simulate.keys.key_to_int64`` and ``jobs.ingest.operators.key_to_int64``."""
    keys = keys.combine_chunks() if isinstance(keys, pa.ChunkedArray) else keys
    if pa.types.is_dictionary(keys.type):
        return hex_keys_to_int64(keys.dictionary, width, upper)[keys.indices.to_numpy(zero_copy_only=False)]
    n = len(keys)
    if n == 0:
        return np.empty(0, np.int64)
    if keys.null_count:
        raise StageError("subscriber key is missing")
    offsets = np.frombuffer(keys.buffers()[1], np.int32, n + 1, keys.offset * 4)
    if not np.all(np.diff(offsets) == width):
        raise StageError(f"subscriber key is not {width} hex characters")
    raw = np.frombuffer(keys.buffers()[2], np.uint8, n * width, offsets[0]).reshape(n, width)
    if upper is not None:
        letters = (raw >= ord("a")) & (raw <= ord("f")) if upper else (raw >= ord("A")) & (raw <= ord("F"))
        if letters.any():
            raise StageError(f"subscriber key is not {'upper' if upper else 'lower'}-case hex")
    nib = _HEX[raw]
    if (nib == 255).any():
        raise StageError("subscriber key is not hexadecimal")
    out = np.zeros(n, np.uint64)
    for j in range(16):
        out = (out << np.uint64(4)) | nib[:, j].astype(np.uint64)
    return out.view(np.int64)


def cgi_strings(mcc_mnc: str, lac: pa.Array, ci: pa.Array) -> pa.Array:
    """``<mcc>-<mnc>-<lac>-<ci>`` (decimal, no leading zeros), dictionary-encoded."""
    lac, ci = lac.to_numpy().astype(np.int64), ci.to_numpy().astype(np.int64)
    if len(lac) and (lac.min() < 0 or ci.min() < 0):
        raise StageError("LAC and CI are >= 0")
    if len(lac) and (lac.max() >= 2**31 or ci.max() >= 2**32):
        text = pc.binary_join_element_wise(mcc_mnc, pc.cast(pa.array(lac), pa.string()),
                                           pc.cast(pa.array(ci), pa.string()), "-")
        return pc.dictionary_encode(text)
    enc = pc.dictionary_encode(pa.array((lac << 32) | ci))     # a few thousand cells: format each once
    codes = enc.dictionary.to_numpy()
    text = [f"{mcc_mnc}-{a}-{b}" for a, b in zip((codes >> 32).tolist(), (codes & 0xFFFFFFFF).tolist())]
    return pa.DictionaryArray.from_arrays(enc.indices, pa.array(text, pa.string()))


def mapped(values: pa.Array, mapping: dict, what: str) -> pa.Array:
    """``values`` through ``mapping`` as a dictionary array; an unknown value raises."""
    enc = pc.dictionary_encode(values)
    out = [mapping.get(v) for v in enc.dictionary.to_pylist()]
    if None in out:
        raise StageError(f"{what} is one of {', '.join(map(str, mapping))}")
    return pa.DictionaryArray.from_arrays(enc.indices, pa.array(out, pa.string()))


def day_window_utc(day: date, tz: str) -> tuple[datetime, datetime]:
    """The UTC instants [start, end) of the local calendar day."""
    z = ZoneInfo(tz)
    lo = datetime.combine(day, time(0), z).astimezone(timezone.utc)
    hi = datetime.combine(day + timedelta(days=1), time(0), z).astimezone(timezone.utc)
    return lo, hi


def check_day(ts: pa.Array, day: date, tz: str) -> None:
    """Every instant falls on the covered local day (the ingest's ``wrong_day`` rule)."""
    if ts.null_count:
        raise StageError("event time is missing or does not parse")
    if len(ts) == 0:
        return
    lo, hi = day_window_utc(day, tz)
    mm = pc.min_max(ts)
    first, last = mm["min"].as_py(), mm["max"].as_py()
    if first < lo or last >= hi:
        raise StageError(f"event time falls on the covered day {day.isoformat()} ({tz}): found {first} .. {last}")


# ---------------------------------------------------------------- one file per format
def _csv(path: Path, contract, types: dict) -> pa.Table:
    fmt = contract.format
    names = contract.column_names
    opener = pa.CompressedInputStream(pa.OSFile(str(path)), "gzip") if fmt["compression"] == "gzip" \
        else pa.OSFile(str(path))
    with opener as stream:
        head = pacsv.read_csv(stream, read_options=pacsv.ReadOptions(block_size=1 << 24),
                              parse_options=pacsv.ParseOptions(delimiter=fmt["delimiter"], quote_char=False),
                              convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=False))
    if head.column_names != names:
        raise StageError(f"{path.name}: header is {fmt['delimiter'].join(head.column_names)}, "
                         f"not {fmt['delimiter'].join(names)}")
    for c in head.columns:
        if c.null_count:
            raise StageError(f"{path.name}: a field is missing or does not parse")
    return head


def kcell_rows(path: Path, mcc_mnc: str, tz: str, day: date) -> dict:
    contract = load_contract("operator_kcell")
    t = _csv(path, contract, {"MSISDN_HASH": pa.string(), "EVENT_TIME": pa.string(), "LAC": pa.int32(),
                              "CELL_ID": pa.int32(), "EVENT_TYPE": pa.string()})
    wall = pc.strptime(t["EVENT_TIME"], format="%d.%m.%Y %H:%M:%S", unit="s", error_is_null=True)
    if wall.null_count:
        raise StageError(f"{path.name}: EVENT_TIME parses as dd.MM.yyyy HH:mm:ss")
    ts = pc.cast(pc.assume_timezone(wall, timezone=tz, ambiguous="earliest", nonexistent="raise"),
                 pa.timestamp("us", tz="UTC")).combine_chunks()
    check_day(ts, day, tz)
    return {"key": hex_keys_to_int64(t["MSISDN_HASH"], 16, True), "ts": ts,
            "cgi": cgi_strings(mcc_mnc, t["LAC"].combine_chunks(), t["CELL_ID"].combine_chunks()),
            "type": mapped(t["EVENT_TYPE"].combine_chunks(), KCELL_TYPES, "EVENT_TYPE")}


def tele2_rows(path: Path, mcc_mnc: str, tz: str, day: date) -> dict:
    contract = load_contract("operator_tele2")
    t = _csv(path, contract, {"sub_key": pa.string(), "ts_ms": pa.int64(),
                              "cgi": pa.dictionary(pa.int32(), pa.string()), "type": pa.int32()})
    ts = pc.cast(pc.cast(t["ts_ms"], pa.timestamp("ms", tz="UTC")), pa.timestamp("us", tz="UTC")).combine_chunks()
    check_day(ts, day, tz)
    cgi = t.unify_dictionaries()["cgi"].combine_chunks()
    pattern = re.compile(rf"^{re.escape(mcc_mnc)}-(\d+)-(\d+)$")
    canon = []
    for text in cgi.dictionary.to_pylist():            # the ingest rebuilds the cgi from int(LAC), int(CI)
        m = pattern.match(text or "")
        if not m or int(m.group(1)) >= 2**31:
            raise StageError(f"{path.name}: cgi {text!r} is {mcc_mnc}-<LAC>-<CI>")
        canon.append(f"{mcc_mnc}-{int(m.group(1))}-{int(m.group(2))}")
    return {"key": hex_keys_to_int64(t["sub_key"], 16, False), "ts": ts,
            "cgi": pa.DictionaryArray.from_arrays(cgi.indices, pa.array(canon, pa.string())),
            "type": mapped(t["type"].combine_chunks(), TELE2_TYPES, "type")}


def beeline_rows(path: Path, mcc_mnc: str, tz: str, day: date) -> dict:
    contract = load_contract("operator_beeline")
    found = pq.read_schema(path)
    want = {"subscriber_id": pa.string(), "event_ts_utc": pa.timestamp("ms", tz="UTC"), "tac": pa.int32(),
            "eci": pa.int64(), "event_type": pa.string()}
    if sorted(found.names) != sorted(contract.column_names):
        raise StageError(f"{path.name}: columns are {', '.join(contract.column_names)}")
    for f in found:
        t = f.type.value_type if pa.types.is_dictionary(f.type) else f.type
        if not (t == want[f.name] or (f.name == "event_ts_utc" and pa.types.is_timestamp(t) and t.tz)):
            raise StageError(f"{path.name}: column {f.name} is {want[f.name]}, found {f.type}")
    t = pq.read_table(path, read_dictionary=["subscriber_id", "event_type"])
    for c in t.columns:
        if c.null_count:
            raise StageError(f"{path.name}: a value is missing")
    ts = pc.cast(t["event_ts_utc"], pa.timestamp("us", tz="UTC")).combine_chunks()
    check_day(ts, day, tz)
    t = t.unify_dictionaries()
    keys, types = t["subscriber_id"].combine_chunks(), t["event_type"].combine_chunks()
    return {"key": hex_keys_to_int64(keys, 64, False), "ts": ts,
            "cgi": cgi_strings(mcc_mnc, t["tac"].combine_chunks(), t["eci"].combine_chunks()),
            "type": mapped(types, {v: v for v in EVENT_TYPES}, "event_type")}


READERS = {"operator_kcell": kcell_rows, "operator_beeline": beeline_rows, "operator_tele2": tele2_rows}


def stage_file(feed: str, d: Delivered, mcc_mnc: str, tz: str, day: date) -> pa.Table:
    """One delivered file -> its staged rows (FILE_SCHEMA), in file order."""
    r = READERS[feed](d.path, mcc_mnc, tz, day)
    n = len(r["key"])
    return pa.table([pa.array(r["key"], pa.int64()), r["ts"], r["cgi"], r["type"],
                     pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array([d.rel])),
                     pa.array(np.arange(1, n + 1, dtype=np.int64))],
                    names=FILE_SCHEMA.names)


# ---------------------------------------------------------------- a day
def deliveries(landing: Path, feed: str, day: date) -> list[Delivered]:
    """Every landing file of ``feed`` covering ``day``, in delivery order (dt= folder, then name)."""
    fmt = load_contract(feed).format
    out = []
    for folder in sorted((Path(landing) / feed).glob("dt=*")):
        for f in sorted(p for p in folder.iterdir() if p.is_file()):
            m = re.match(fmt["file_regex"], f.name)
            if m and datetime.strptime(m.group("day"), fmt["day_format"]).date() == day:
                out.append(Delivered(f, str(f.relative_to(landing))))
    return out


def write_part(table: pa.Table, path: Path) -> None:
    """A staged Parquet file as Spark writes them (snappy, INT96 timestamps)."""
    pq.write_table(table, path, compression="snappy", row_group_size=ROW_GROUP,
                   use_deprecated_int96_timestamps=True)


def _dedup(folder: Path, rels: list[str]) -> int:
    """Rows the exact de-duplication removes (0 in clean data, found with one hash pass)."""
    import duckdb

    con = duckdb.connect()
    src = f"read_parquet('{folder}/*.parquet')"
    n, distinct = con.execute(f"SELECT count(*), count(DISTINCT hash(subscriber_key, event_ts_utc, cgi, event_type)) "
                              f"FROM {src}").fetchone()
    if n == distinct:
        return 0
    listed = "[" + ", ".join("'" + r.replace("'", "''") + "'" for r in rels) + "]"
    order = f"list_position({listed}, source_file)"          # the file ordinal in delivery order
    tmp = folder.with_name(folder.name + ".dedup")
    tmp.mkdir()
    con.execute(f"""COPY (SELECT subscriber_key, event_ts_utc, cgi, event_type,
                                 arg_min(source_file, ({order}::BIGINT << 40) | source_row) AS source_file,
                                 arg_min(source_row, ({order}::BIGINT << 40) | source_row) AS source_row
                          FROM {src} GROUP BY ALL)
                    TO '{tmp}/part-00000.parquet' (FORMAT parquet, COMPRESSION snappy)""")
    kept = con.execute(f"SELECT count(*) FROM read_parquet('{tmp}/*.parquet')").fetchone()[0]
    shutil.rmtree(folder)
    tmp.rename(folder)
    return n - kept


def stage_operator_day(landing: Path, lake: Path, cfg: dict, feed: str, day: date, workers: int = 2) -> dict:
    """Stage one covered day of one operator feed; replaces that (ds, operator) partition."""
    op = next(o for o in cfg["operators"] if f"operator_{o['name']}" == feed)
    tz, mcc_mnc = cfg["city"]["timezone"], op["mcc_mnc"]
    files = deliveries(landing, feed, day)
    folder = Path(lake) / TABLE / f"ds={day.isoformat()}" / f"operator={mcc_mnc}"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)

    def one(i_d):
        i, d = i_d
        t = stage_file(feed, d, mcc_mnc, tz, day)
        write_part(t, folder / f"part-{i:05d}.parquet")
        return len(t)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        rows = sum(pool.map(one, enumerate(files)))
    dups = _dedup(folder, [d.rel for d in files]) if files else 0
    return {"feed": feed, "operator": mcc_mnc, "files": len(files), "rows_received": rows,
            "duplicates": dups, "rows_staged": rows - dups}


def stage_events(landing: Path, lake: Path, cfg: dict, day: date, feeds=FEEDS, workers: int = 2) -> list[dict]:
    """Stage every operator feed of ``day`` (see the module docstring); one summary per feed."""
    return [stage_operator_day(landing, lake, cfg, f, day, workers) for f in feeds]
