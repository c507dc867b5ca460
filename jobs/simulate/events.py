"""Network events of a chunk of subscribers on one day, located at their true positions.

Reads a ``DayPlan`` (stays), the chunk's ``Population`` attributes (activity, night
propensity) and the operator's ``NetworkDay``; writes nothing. Grain: one row per event
(subscriber index within the chunk, local time in ms since local midnight, serving cell row,
event type), sorted by time.

Each stay and each travel leg between stays is a segment; its number of events is Poisson
with mean activity x (share of the day's diurnal profile inside the segment), plus extra
signalling (handovers) while travelling when the data is xDR-like. Event times follow the
diurnal profile within the segment (inverse CDF, per night-propensity class). Events at a stay
are served by the stay's best cell or, with ``PING_PONG`` chance, its second-best cell; events
on a travel leg are located along the straight path and looked up in the network. A
subscriber's events never share a second, so delivered rows are only ever duplicated on purpose.

Times are simulated as elapsed time since local midnight; ``local_midnight_utc_ms`` and
``local_time_strings`` convert them with the tz database (Asia/Almaty moved from UTC+6 to
UTC+5 on 2024-03-01: the elapsed-time day of 2024-02-29 ends at 23:59:59 +06, so the
repeated local hour 23:00-24:00 +05 carries no events).
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa

from jobs.simulate.network import PING_PONG, NetworkDay
from jobs.simulate.population import NIGHT_CLASSES, Population
from jobs.simulate.trajectories import DAY_S, ERRAND, HOME, PLACE, WORK, DayPlan

VOICE, SMS, DATA, HANDOVER = 0, 1, 2, 3
# Relative activity per local hour (mobile traffic: evening peak, quiet night, never zero).
HOURLY = np.array([0.32, 0.20, 0.14, 0.11, 0.11, 0.16, 0.33, 0.60, 0.85, 1.00, 1.05, 1.10,
                   1.15, 1.10, 1.05, 1.05, 1.10, 1.15, 1.20, 1.25, 1.30, 1.25, 1.00, 0.62])
NIGHT_HOURS = slice(0, 6)
BIN_S = 900                      # the profile is piecewise constant per 15 minutes
INVERSE_GRID = 8192
CDR_SHARES = np.array([0.55, 0.30, 0.15])     # voice, sms, data in call-detail records
XDR_SHARES = np.array([0.10, 0.05, 0.85])     # in network/signalling data
HANDOVER_BOOST = 2.0             # xDR: event rate while travelling is (1 + boost) x normal


def xdr_weight(events_per_day: float) -> float:
    """0 for sparse call records (~2-3 events/day), 1 for signalling-rich data (>= ~33)."""
    return float(np.clip((events_per_day - 3.0) / 30.0, 0.0, 1.0))


@dataclass(frozen=True)
class DiurnalProfile:
    """Cumulative activity per night class at 15-minute knots, and its inverse on a grid."""

    cdf: np.ndarray          # (classes, bins + 1) in [0, 1]
    inverse: np.ndarray      # (classes, INVERSE_GRID + 1) seconds since midnight

    @classmethod
    def build(cls, classes: int = NIGHT_CLASSES) -> "DiurnalProfile":
        bins = int(DAY_S // BIN_S)
        per_bin = np.repeat(HOURLY, 3600 // BIN_S)
        # smooth the hourly steps a little (circular 3-bin moving average)
        per_bin = (np.roll(per_bin, 1) + per_bin + np.roll(per_bin, -1)) / 3
        night = np.zeros(bins, bool)
        night[NIGHT_HOURS.start * 4: NIGHT_HOURS.stop * 4] = True
        cdf = np.zeros((classes, bins + 1))
        inv = np.zeros((classes, INVERSE_GRID + 1))
        knots = np.arange(bins + 1) * BIN_S
        for c in range(classes):
            propensity = (c + 0.5) / classes
            rate = np.where(night, per_bin * (0.15 + 2.5 * propensity), per_bin)
            cum = np.concatenate([[0.0], np.cumsum(rate)])
            cdf[c] = cum / cum[-1]
            inv[c] = np.interp(np.linspace(0, 1, INVERSE_GRID + 1), cdf[c], knots)
        return cls(cdf, inv)

    def at(self, cls_idx: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Cumulative share of the day's activity before time t (seconds)."""
        width = self.cdf.shape[1]
        b = np.clip(t / BIN_S, 0, width - 1 - 1e-9)
        i = b.astype(np.int64)
        flat = self.cdf.ravel()
        j = cls_idx * width + i
        lo = flat[j]
        return lo + (b - i) * (flat[j + 1] - lo)

    def invert(self, cls_idx: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Time (seconds) at which the cumulative share reaches u."""
        g = u * INVERSE_GRID
        i = np.minimum(g.astype(np.int64), INVERSE_GRID - 1)
        flat = self.inverse.ravel()
        j = cls_idx * (INVERSE_GRID + 1) + i
        lo = flat[j]
        return lo + (g - i) * (flat[j + 1] - lo)


@dataclass
class Events:
    """Events of one chunk-day, sorted by time."""

    sub: np.ndarray          # int32 subscriber index within the chunk
    t_ms: np.ndarray         # int32 ms since local midnight (elapsed)
    cell: np.ndarray         # int32 row of the operator's cell table
    etype: np.ndarray        # int8 VOICE/SMS/DATA/HANDOVER

    def __len__(self) -> int:
        return len(self.sub)


def _types(rng: np.random.Generator, shares: np.ndarray, p_handover: np.ndarray) -> np.ndarray:
    u = rng.random(len(p_handover), dtype=np.float32)
    cum = np.cumsum(shares / shares.sum()).astype(np.float32)
    base = (u[:, None] >= cum[None, :-1]).sum(axis=1).astype(np.int8)
    if not p_handover.any():
        return base
    return np.where(rng.random(len(p_handover), dtype=np.float32) < p_handover, np.int8(HANDOVER), base)


def _sorted_uniforms(rng: np.random.Generator, counts: np.ndarray) -> np.ndarray:
    """Per segment, ``counts`` sorted U(0,1) draws (normalised exponential spacings), concatenated."""
    m = counts + 1
    c = np.cumsum(rng.standard_exponential(int(m.sum())))
    ends = np.cumsum(m) - 1
    base = np.concatenate([[0.0], c[ends[:-1]]])
    keep = np.ones(len(c), bool)
    keep[ends] = False
    seg = np.repeat(np.arange(len(counts)), counts)
    return (c[keep] - base[seg]) / (c[ends] - base)[seg]


def _distinct_seconds(sub: np.ndarray, t_ms: np.ndarray) -> np.ndarray:
    """Push a subscriber's events apart so no two share a second (input sorted by sub, time):
    delivered rows are then never exact duplicates unless the dirt step duplicates them."""
    if len(sub) == 0:
        return t_ms
    sec, ms = np.divmod(t_ms, 1000)
    first = np.r_[True, sub[1:] != sub[:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(len(sub)), 0))
    pos = np.arange(len(sub)) - start
    offset = sub.astype(np.int64) << 40
    sec = np.maximum.accumulate(sec - pos + offset) - offset + pos
    return np.minimum(sec * 1000 + ms, int(DAY_S) * 1000 - 1)


def generate_events(plan: DayPlan, pop: Population, stay_best: np.ndarray, stay_second: np.ndarray,
                    net: NetworkDay, events_per_day: float, profile: DiurnalProfile,
                    rng: np.random.Generator, ping_pong: float = PING_PONG) -> Events:
    """Events of the chunk's subscribers on one day; ``stay_best/second`` are per stay of ``plan``.

    Each subscriber's expected number of events is exactly its ``activity``."""
    w = xdr_weight(events_per_day)
    boost = HANDOVER_BOOST * w
    shares = (1 - w) * CDR_SHARES + w * XDR_SHARES
    sub, n_stay = plan.sub, len(plan.sub)
    # segments in (subscriber, time) order: each stay, then the travel leg to the next stay
    leaves = np.r_[sub[1:] == sub[:-1], False]
    stay_of = np.repeat(np.arange(n_stay), 1 + leaves)
    is_leg = np.r_[False, stay_of[1:] == stay_of[:-1]]
    nxt = np.minimum(stay_of + 1, n_stay - 1)
    seg_sub = sub[stay_of]
    seg_cls = pop.night_class.astype(np.int64)[seg_sub]
    t0 = np.where(is_leg, plan.end[stay_of], plan.start[stay_of])
    f0 = profile.at(seg_cls, t0)
    df = profile.at(seg_cls, np.where(is_leg, plan.start[nxt], plan.end[stay_of])) - f0
    weight = np.where(is_leg, df * (1 + boost), df)
    total = np.bincount(seg_sub, weights=weight, minlength=plan.n)
    counts = rng.poisson(pop.activity.astype(float)[seg_sub] * weight / total[seg_sub])
    seg = np.repeat(np.arange(len(seg_sub)), counts)
    t = profile.invert(seg_cls[seg], f0[seg] + _sorted_uniforms(rng, counts) * df[seg])
    ev_sub = seg_sub[seg]
    t_ms = _distinct_seconds(ev_sub, (t * 1000.0).astype(np.int64))
    ev_leg = is_leg[seg]
    st = stay_of[seg]
    best, second = stay_best[st], stay_second[st]
    if ev_leg.any():                                          # on the move: along the straight path
        i0 = st[ev_leg]
        frac = np.clip((t[ev_leg] - plan.end[i0]) / np.maximum(plan.start[i0 + 1] - plan.end[i0], 1.0), 0, 1)
        best[ev_leg], second[ev_leg] = net.serve_fast(plan.x[i0] + frac * (plan.x[i0 + 1] - plan.x[i0]),
                                                      plan.y[i0] + frac * (plan.y[i0 + 1] - plan.y[i0]))
    cell = np.where(rng.random(len(seg), dtype=np.float32) < ping_pong, second, best)
    etype = _types(rng, shares, np.where(ev_leg, np.float32(boost / (1 + boost)), np.float32(0)))
    order = np.sort((t_ms << 34) | np.arange(len(t_ms), dtype=np.int64)) & ((1 << 34) - 1)
    return Events(ev_sub[order].astype(np.int32), t_ms[order].astype(np.int32), cell[order].astype(np.int32),
                  etype[order])


def local_midnight_utc_ms(day: date, tz: str) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz)).timestamp() * 1000)


def utc_offsets_ms(utc_ms: np.ndarray, tz: str) -> np.ndarray:
    """UTC offset (ms) of each instant from the tz database, per 15-minute block (vectorised)."""
    if len(utc_ms) == 0:
        return np.zeros(0, np.int64)
    block = utc_ms // 900_000
    b0, b1 = int(block.min()), int(block.max())
    zone = ZoneInfo(tz)
    offs = np.array([datetime.fromtimestamp(b * 900, tz=timezone.utc).astimezone(zone).utcoffset().total_seconds()
                     for b in range(b0, b1 + 1)], dtype=np.int64) * 1000
    return offs[block - b0]


_HMS = np.frombuffer("".join(f"{h:02d}:{m:02d}:{x:02d}" for h in range(24) for m in range(60)
                             for x in range(60)).encode(), np.uint8).reshape(86400, 8)


def local_time_strings(utc_ms: np.ndarray, tz: str) -> pa.StringArray:
    """``dd.MM.yyyy HH:mm:ss`` local time of UTC instants (ms), as an Arrow string array."""
    n = len(utc_ms)
    local_s = (utc_ms + utc_offsets_ms(utc_ms, tz)) // 1000
    days, sod = np.divmod(local_s, 86400)
    buf = np.empty((n, 19), np.uint8)
    buf[:, 11:] = _HMS[sod]
    if n:
        d0, d1 = int(days.min()), int(days.max())
        for d in range(d0, d1 + 1):
            text = np.frombuffer(f"{date(1970, 1, 1) + timedelta(days=d):%d.%m.%Y} ".encode(), np.uint8)
            if d0 == d1:
                buf[:, :11] = text
            else:
                buf[days == d, :11] = text
    return pa.StringArray.from_buffers(n, pa.py_buffer((np.arange(n + 1, dtype=np.int32) * 19).tobytes()),
                                       pa.py_buffer(buf))


def stay_cells(plan: DayPlan, home: tuple, work: tuple, place: tuple, place_of: np.ndarray,
               net: NetworkDay) -> tuple[np.ndarray, np.ndarray]:
    """Best/second cell per stay of ``plan``. ``home``/``work`` are (best, second) arrays over
    the chunk's subscribers, ``place`` over config places with ``place_of`` the subscriber's
    favourite place; errands are looked up now."""
    best = np.empty(len(plan.sub), np.int32)
    second = np.empty(len(plan.sub), np.int32)
    for kind, cells in ((HOME, home), (WORK, work)):
        m = plan.kind == kind
        best[m], second[m] = cells[0][plan.sub[m]], cells[1][plan.sub[m]]
    m = plan.kind == PLACE
    pl = place_of[plan.sub[m]]
    best[m], second[m] = place[0][pl], place[1][pl]
    m = plan.kind == ERRAND
    best[m], second[m] = net.serve(plan.x[m], plan.y[m])
    return best, second
