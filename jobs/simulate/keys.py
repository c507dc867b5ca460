"""Pseudonymous subscriber keys as the operators deliver them, and raw identifiers for dirt.

A key is a salted SHA-256 of ``salt|operator|month|subscriber id``: stable within a calendar
month, different in the next one (operators rotate the salt monthly). Each operator delivers
its own style (see SPEC): Kcell 16 uppercase hex, Beeline 64 lowercase hex, Tele2 16 lowercase
hex. Keys come back as a numpy fixed-width bytes array, one per subscriber id.
"""

import hashlib
from datetime import date

import numpy as np

# operator name -> (hex characters kept, upper case?)
KEY_STYLE: dict[str, tuple[int, bool]] = {
    "kcell": (16, True),
    "beeline": (64, False),
    "tele2": (16, False),
}
DEFAULT_STYLE = (16, False)


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def subscriber_keys(salt: str, operator: str, month: str, ids: np.ndarray) -> np.ndarray:
    """Keys of the subscriber ids for one operator and month (``S16`` or ``S64`` array)."""
    width, upper = KEY_STYLE.get(operator, DEFAULT_STYLE)
    base = hashlib.sha256(f"{salt}|{operator}|{month}|".encode("utf-8"))
    nbytes = width // 2
    parts = []
    for i in np.asarray(ids, dtype=np.int64).tolist():
        h = base.copy()
        h.update(str(i).encode("ascii"))
        parts.append(h.digest()[:nbytes])
    hexed = b"".join(parts).hex().encode("ascii")
    if upper:
        hexed = hexed.upper()
    return np.frombuffer(hexed, dtype=f"S{width}").copy() if parts else np.empty(0, f"S{width}")


def key_to_int64(key: str) -> int:
    """The staged ``subscriber_key``: first 16 hex chars of a delivered key as signed int64."""
    return int(np.array(int(key[:16], 16), dtype=np.uint64).view(np.int64))


def raw_msisdns(rng: np.random.Generator, n: int) -> np.ndarray:
    """Raw Kazakh mobile numbers, 11 digits starting 77 (what must never be delivered)."""
    tail = rng.integers(0, 10**9, n)
    return np.array([f"77{t:09d}" for t in tail.tolist()], dtype="S11")


def raw_imsis(rng: np.random.Generator, n: int, mnc: str) -> np.ndarray:
    """Raw IMSIs, 15 digits: MCC 401, the operator's 2-digit MNC, 10-digit MSIN."""
    tail = rng.integers(0, 10**10, n)
    return np.array([f"401{mnc[-2:]}{t:010d}" for t in tail.tolist()], dtype="S15")
