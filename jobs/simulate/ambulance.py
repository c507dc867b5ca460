"""103 ambulance calls of the synthetic city (feed ``ambulance``).

Reads the expected epidemic (``jobs.simulate.epidemic``), the city config (``ambulance_reasons``,
districts) and the calendar. Writes one CSV per covered day D,
``<landing>/ambulance/dt=D/calls_103_D.csv`` (UTF-8; one file in cp1251 when dirt > 0; one file
delivered late in dt=D+2 when dirt > 0). Grain: one row per call.

Expected calls per (day, district, reason group) = a baseline proportional to the district's
population (weekly pattern, seasonal wave, fewer accidents under restrictions) plus, for the
respiratory/fever group, the epidemic's expected respiratory calls. Counts are Poisson around
that expectation; every call then gets a time (diurnal profile), a geocode inside its district
(about 3 % are legitimately not geocoded), reason, priority, age band, sex and outcome.
"""

from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa

from jobs.simulate import ambulance_rows as rows
from jobs.simulate.context import FeedResult, SimContext
from jobs.simulate.health_io import (csv_lines, interleave, join_lines, later, seasonal, special_days,
                                     weekday_index, write_bytes)

FEED = "ambulance"
GROUPS = ("respiratory_fever", "cardiac", "trauma", "other")
CALLS_PER_DAY = 2250.0              # city-wide baseline at health_scale 1
GROUP_SHARE = np.array([0.15, 0.24, 0.19, 0.42])
# Weekly pattern per group, Monday..Sunday (public holidays count as Sunday).
WEEKLY = np.array([
    [1.07, 1.02, 1.00, 0.99, 1.00, 0.95, 0.97],
    [1.06, 1.02, 1.00, 1.00, 1.00, 0.95, 0.97],
    [0.94, 0.95, 0.96, 0.97, 1.04, 1.10, 1.04],
    [1.02, 1.00, 1.00, 1.00, 1.01, 0.99, 0.98],
])
SEASONAL_AMPLITUDE = np.array([0.06, 0.08, -0.10, 0.0])    # cosine peaking mid-January
RESTRICTION_RESPONSE = np.array([0.0, 0.0, -0.35, -0.10])  # relative change at stringency 100
DUPLICATE_KIND, MALFORMED_KIND = "duplicate_rows", "malformed_rows"


def file_name(day: date) -> str:
    return f"calls_103_{day.isoformat()}.csv"


def expected_calls(ctx: SimContext, epi: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Expected calls (days, districts, groups) and the epidemic part of respiratory calls
    (days, districts), both at ``params.health_scale``."""
    days = ctx.params.all_days()
    pop = np.array([d.population for d in ctx.geo.districts], dtype=float)
    wd = weekday_index(days, ctx.calendar)
    strg = np.array([ctx.calendar.stringency(d) for d in days]) / 100.0
    base = (CALLS_PER_DAY * ctx.params.health_scale * GROUP_SHARE[None, :] * WEEKLY.T[wd]
            * seasonal(days, SEASONAL_AMPLITUDE) * (1.0 + np.outer(strg, RESTRICTION_RESPONSE)))
    base = base[:, None, :] * (pop / pop.sum())[None, :, None]
    epi_resp = (epi["ambulance_respiratory"].to_numpy().reshape(len(days), len(pop))
                * ctx.params.health_scale)
    total = base.copy()
    total[:, :, 0] += epi_resp
    return total, epi_resp


def draw_calls(ctx: SimContext, expected: np.ndarray) -> np.ndarray:
    """Poisson call counts (days, districts, groups) around ``expected``, one stream per day."""
    return np.stack([ctx.rng("ambulance_counts", d).poisson(expected[i])
                     for i, d in enumerate(ctx.params.all_days())])


def _dirt_lines(ctx: SimContext, day: date, cols: dict, body: pa.Array,
                rng: np.random.Generator) -> tuple[pa.Array, dict[str, int]]:
    """Duplicated rows (exact copies) and malformed extra rows inserted into ``body``."""
    n = len(body)
    n_dup = int(rng.binomial(n, ctx.params.dirt))
    n_bad = int(rng.binomial(n, ctx.params.dirt))
    src = np.sort(rng.choice(n, size=n_dup, replace=False)) if n_dup else np.zeros(0, int)
    extra = [body[int(i)].as_py() for i in src]
    positions = [int(rng.integers(i + 1, n + 1)) for i in src]
    for j in range(n_bad):
        extra.append(rows.malformed_line(cols, int(rng.integers(0, n)), j, rng, day))
        positions.append(int(rng.integers(0, n + 1)))
    return interleave(body, extra, np.array(positions, dtype=np.int64)), {
        DUPLICATE_KIND: n_dup, MALFORMED_KIND: n_bad}


def generate_ambulance(ctx: SimContext, epi: pd.DataFrame) -> FeedResult:
    """Write every day's 103 calls; truth: exact calls per (day, district, group) and expectations."""
    p = ctx.params
    days = p.all_days()
    names = ctx.geo.district_names
    reasons = rows.ReasonTable.from_config(ctx.cfg, GROUPS)
    expected, epi_resp = expected_calls(ctx, epi)
    counts = draw_calls(ctx, expected)
    dirty = p.dirt > 0
    frng = ctx.rng("ambulance_file_dirt")
    late = special_days(frng, days, 1, margin_after=2) if dirty else []
    cp1251 = special_days(frng, days, 1, margin_after=0, exclude=tuple(late)) if dirty else []
    result = FeedResult(FEED)
    calls: dict = {}
    exp_out: dict = {}
    for i, day in enumerate(days):
        rng = ctx.rng("ambulance_rows", day)
        epi_share = np.divide(epi_resp[i], expected[i, :, 0], out=np.zeros(len(names)),
                              where=expected[i, :, 0] > 0)
        cols, info = rows.build_calls(ctx, day, counts[i], epi_share, reasons, rng)
        out_city = 0
        if dirty:
            out_city = rows.displace_out_of_city(ctx, cols, ctx.rng("ambulance_geo_dirt", day), p.dirt)
        body = csv_lines(rows.to_table(cols))
        dirt_counts = {}
        if dirty and len(body):
            body, dirt_counts = _dirt_lines(ctx, day, cols, body, ctx.rng("ambulance_row_dirt", day))
        text = join_lines(body, ",".join(rows.COLUMNS))
        encoding = "utf-8"
        if day in cp1251:
            text = text.decode("utf-8").encode("cp1251", errors="replace")
            encoding = "cp1251"
        delivered = later(day, 2) if day in late else day
        path = ctx.path(FEED, delivered, file_name(day))
        write_bytes(path, text)
        rel = ctx.rel(path)
        result.files.append(rel)
        result.rows += len(body)
        iso = day.isoformat()
        ctx.dirt_log.add(FEED, rel, iso, "missing_geocode", info["not_geocoded"])
        if dirty:
            ctx.dirt_log.add(FEED, rel, iso, "out_of_city_coords", out_city)
            for kind, k in dirt_counts.items():
                ctx.dirt_log.add(FEED, rel, iso, kind, k)
            if day in late:
                ctx.dirt_log.add(FEED, rel, iso, "late_file", len(body), delivered=delivered.isoformat())
            if encoding == "cp1251":
                ctx.dirt_log.add(FEED, rel, iso, "cp1251_file", len(body), encoding="cp1251",
                                 note="Kazakh-only letters are not in cp1251 and arrive as '?'")
        calls[iso] = {n: dict(zip(GROUPS, row)) for n, row in zip(names, counts[i].tolist())}
        exp_out[iso] = {n: dict(zip(GROUPS, row)) for n, row in zip(names, np.round(expected[i], 3).tolist())}
    result.truth = {
        "groups": list(GROUPS), "districts": names,
        "calls": calls,                  # genuine calls (what staging must keep), by day/district/group
        "expected": exp_out,             # noise-free expectation the calls were drawn from
        "late_files": [d.isoformat() for d in late],
        "cp1251_files": [d.isoformat() for d in cp1251],
    }
    return result

