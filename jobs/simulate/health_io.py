"""Small I/O and sampling helpers shared by the health feed generators.

Writes bytes deterministically (gzip with mtime 0 and no file name), picks the days that get
file-level dirt, and draws categorical values per row from probability tables. No feed logic.
"""

import gzip
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

GZIP_LEVEL = 3   # fast; receipts files are still about 6x smaller than their JSON text


def write_bytes(path: Path, data: bytes, gzip_it: bool = False) -> None:
    """Write ``data`` (gzip-compressed with a fixed header when ``gzip_it``: same bytes every run)."""
    if gzip_it:
        data = gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)
    Path(path).write_bytes(data)


def csv_lines(table: pa.Table) -> pa.Array:
    """Data lines of ``table`` as CSV text (``,``; a field is quoted only when it holds ``,``,
    ``"`` or a line break; nulls are empty fields), without line ends."""
    cols = []
    for col in table.columns:
        s = pc.fill_null(pc.cast(col, pa.string()), "")
        if pa.types.is_string(col.type):
            needs = pc.match_substring_regex(s, '[,"\\n\\r]')
            if pc.any(needs).as_py():
                quoted = pc.binary_join_element_wise('"', pc.replace_substring(s, '"', '""'), '"', "")
                s = pc.if_else(needs, quoted, s)
        cols.append(s)
    if table.num_rows == 0:
        return pa.array([], pa.string())
    out = pc.binary_join_element_wise(*cols, ",")
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


def join_lines(lines: pa.Array, header: str | None = None) -> bytes:
    """One text blob: optional header line, then every line, each ending with ``\\n``."""
    head = (header + "\n").encode("utf-8") if header is not None else b""
    if len(lines) == 0:
        return head
    lst = pa.ListArray.from_arrays(pa.array([0, len(lines)], pa.int32()), lines.cast(pa.string()))
    return head + pc.binary_join(lst, "\n")[0].as_buffer().to_pybytes() + b"\n"


def interleave(lines: pa.Array, extra: list[str], positions: np.ndarray) -> pa.Array:
    """``lines`` with ``extra[k]`` inserted before original line ``positions[k]`` (or at the end
    when it equals ``len(lines)``); extras at the same position keep their given order."""
    if not extra:
        return lines
    n = len(lines)
    keys = np.concatenate([np.arange(n) * 2 + 1, np.asarray(positions, dtype=np.int64) * 2])
    order = np.argsort(keys, kind="stable")
    return pa.concat_arrays([lines.cast(pa.string()), pa.array(extra, pa.string())]).take(pa.array(order))


def to_str(values: np.ndarray, decimals: int | None = None) -> pa.Array:
    """Numbers as text (shortest round-trip form), NaN -> null (an empty CSV field)."""
    arr = np.asarray(values, dtype=float)
    if decimals is not None:
        arr = np.round(arr, decimals)
    return pc.cast(pa.array(arr, mask=np.isnan(arr)), pa.string())


def choose_rows(rng: np.random.Generator, table: np.ndarray, kind: np.ndarray) -> np.ndarray:
    """For each row i, an index drawn from the probability row ``table[kind[i]]``."""
    cum = np.cumsum(table, axis=1)
    cum /= cum[:, -1:]
    u = rng.random(len(kind))
    if len(table) <= 4:                       # few distinct rows: binary search per row kind
        out = np.empty(len(kind), np.int64)
        for k in range(len(table)):
            sel = kind == k
            out[sel] = np.searchsorted(cum[k], u[sel], side="right")
        return np.minimum(out, table.shape[1] - 1)
    return np.minimum((u[:, None] > cum[kind]).sum(axis=1), table.shape[1] - 1)


def special_days(rng: np.random.Generator, days: list[date], how_many: int,
                 margin_after: int = 2, exclude: tuple[date, ...] = ()) -> list[date]:
    """``how_many`` distinct days that leave ``margin_after`` days before the period ends."""
    pool = [d for d in days[1:len(days) - margin_after] if d not in exclude]
    if not pool or how_many <= 0:
        return []
    pick = rng.choice(len(pool), size=min(how_many, len(pool)), replace=False)
    return sorted(pool[i] for i in pick)


def later(day: date, n: int) -> date:
    return day + timedelta(days=n)


def seasonal(days: list[date], amplitude: np.ndarray, peak_doy: int = 15) -> np.ndarray:
    """1 + amplitude * cos(2 pi (doy - peak_doy) / 365.25): shape (days, len(amplitude))."""
    doy = np.array([d.timetuple().tm_yday for d in days], dtype=float)
    wave = np.cos(2 * np.pi * (doy - peak_doy) / 365.25)
    return 1.0 + np.outer(wave, np.atleast_1d(amplitude))


def weekday_index(days: list[date], calendar) -> np.ndarray:
    """Mon=0..Sun=6, public holidays counted as Sunday."""
    return np.array([6 if calendar.is_holiday(d) else d.weekday() for d in days])
