"""Stays and trips of subscriber-days: which located events are handover noise, which were
passing through, and which make up the stays whose changes of area are trips (numpy, no I/O).

Input: the located events of whole subscriber-days sorted by group (one group per
subscriber-day), then time: group ids, trip areas (codes of the map-resolution cells), times in
seconds, positions in km. Output: boolean masks over those events.

The steps are the field's usual ones for network data: an oscillation filter, then a stay /
pass-by segmentation (Jiang et al. 2013; Wu et al. 2014). A run is a maximal sequence of
consecutive events in one area.

- **One-event oscillation** (``one_event_oscillations``): a single event in another area
  between two events in the same area (A -> X -> A). A subscriber at rest is served now and
  then by the second-best cell of a neighbouring area.
- **Ping-pong run** (``ping_pong_runs``): a longer run in X between two runs in A, or at either
  end of the day next to A, when the same day also shows a one-event oscillation between A and
  X. X is then A's ping-pong partner that day, and two or three events in a row on the
  second-best cell are the same handover noise. Without this rule, a day at rest with dense
  records shows a false trip one time in six, and that share does not fall when people stop
  moving. Restriction effects would then come out too small.
- **Pass-by run** (``pass_by_runs``): a run with runs before and after it that lasted less than
  ``MIN_STAY_MINUTES`` (first to last event) and lies on the way between its neighbours: the
  detour through it is at most ``MAX_PASS_BY_DETOUR_KM``. Events on the move (handovers) give
  one or two events in every area a journey crosses. Counting them would multiply a commuter's
  trips by the number of areas on the way.
- Every other run is a **stay**, and so are the first and last runs of the day. A **trip** is a
  change of area between consecutive stays, a **district trip** a change of district.

``max_oscillation_minutes`` limits both oscillation rules to excursions shorter than that.
"""

import numpy as np

from jobs.aggregate.arrays import prev_next, starts

MIN_STAY_MINUTES = 15
MAX_PASS_BY_DETOUR_KM = 1.0


def one_event_oscillations(g: np.ndarray, area: np.ndarray, t_s: np.ndarray,
                           max_minutes: int | None = None) -> np.ndarray:
    """Events that are a single event in another area between two events in the same area."""
    has_prev, prev_area, has_next, next_area = prev_next(g, area)
    osc = has_prev & has_next & (prev_area == next_area) & (area != prev_area)
    if max_minutes is not None:
        _, prev_t, _, next_t = prev_next(g, t_s, 0)
        osc &= (next_t - prev_t) < 60 * int(max_minutes)
    return osc


def _runs(g: np.ndarray, area: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of one area within a group: (first row of each run, run id per row, last row of each run)."""
    first = starts(g)
    first[1:] |= area[1:] != area[:-1]
    return first, np.cumsum(first) - 1, np.append(first[1:], True)


def ping_pong_runs(g: np.ndarray, area: np.ndarray, t_s: np.ndarray, osc: np.ndarray,
                   max_minutes: int | None = None) -> np.ndarray:
    """Events outside ``osc`` (the one-event oscillations) that belong to a run in a ping-pong
    partner of the neighbouring runs' area (module docstring)."""
    out = np.zeros(len(g), bool)
    has_prev, prev_area, _, _ = prev_next(g, area)
    n_area = int(area.max()) + 1 if len(area) else 1
    partners = np.unique((g[osc] * n_area + prev_area[osc]) * n_area + area[osc])
    kept = np.flatnonzero(~osc)
    if not len(partners) or not len(kept):
        return out
    gk, ak, tk = g[kept], area[kept], t_s[kept]
    first, rid, last = _runs(gk, ak)
    rg, ra, t_first, t_last = gk[first], ak[first], tk[first], tk[last]
    hp, pa, hn, na = prev_next(rg, ra)
    _, prev_last, _, _ = prev_next(rg, t_last, 0)
    _, _, _, next_first = prev_next(rg, t_first, 0)

    def partner(anchor: np.ndarray) -> np.ndarray:
        return np.isin((rg * n_area + anchor) * n_area + ra, partners)

    drop = (hp & hn & (pa == na) & partner(pa)) | (~hp & hn & partner(na)) | (hp & ~hn & partner(pa))
    if max_minutes is not None:
        span = np.where(hp, prev_last, t_first)
        span = np.where(hn, next_first, t_last) - span
        drop &= span < 60 * int(max_minutes)
    out[kept] = drop[rid]
    return out


def pass_by_runs(g: np.ndarray, area: np.ndarray, t_s: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Events of runs the subscriber was passing through (module docstring)."""
    if not len(g):
        return np.zeros(0, bool)
    first, rid, last = _runs(g, area)
    n = np.bincount(rid)
    cx, cy = np.bincount(rid, weights=x) / n, np.bincount(rid, weights=y) / n
    rg = g[first]
    hp, px, hn, nx = prev_next(rg, cx, 0.0)
    _, py, _, ny = prev_next(rg, cy, 0.0)
    detour = np.hypot(cx - px, cy - py) + np.hypot(nx - cx, ny - cy) - np.hypot(nx - px, ny - py)
    brief = (t_s[last] - t_s[first]) < 60 * MIN_STAY_MINUTES
    return (hp & hn & brief & (detour <= MAX_PASS_BY_DETOUR_KM))[rid]
