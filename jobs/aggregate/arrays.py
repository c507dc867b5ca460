"""Run and neighbour helpers over sorted numpy arrays, shared by the per-partition passes
(``jobs.aggregate.subscriber_pass``, ``jobs.aggregate.stays``). Pure functions, no I/O."""

import numpy as np


def starts(gid: np.ndarray) -> np.ndarray:
    """Boolean: first row of each run of equal ``gid`` (rows sorted by gid)."""
    first = np.ones(len(gid), bool)
    first[1:] = gid[1:] != gid[:-1]
    return first


def prev_next(gid: np.ndarray, values: np.ndarray, fill=-1) -> tuple:
    """Per row: has_prev, prev value, has_next, next value within its run of ``gid``."""
    has_prev = ~starts(gid)
    has_next = np.zeros(len(gid), bool)
    has_next[:-1] = has_prev[1:]
    prev = np.full(len(values), fill, dtype=values.dtype)
    prev[1:] = values[:-1]
    nxt = np.full(len(values), fill, dtype=values.dtype)
    nxt[:-1] = values[1:]
    return has_prev, np.where(has_prev, prev, fill), has_next, np.where(has_next, nxt, fill)


def runs(sorted_keys: np.ndarray) -> np.ndarray:
    """Start offsets of the runs of equal values in ``sorted_keys`` (plus the end)."""
    if not len(sorted_keys):
        return np.zeros(1, np.int64)
    return np.append(np.flatnonzero(starts(sorted_keys)), len(sorted_keys))
