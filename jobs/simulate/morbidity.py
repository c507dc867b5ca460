"""Daily morbidity reports of the synthetic city (feed ``morbidity``).

Reads the expected epidemic (``jobs.simulate.epidemic``). Writes one CSV per covered day D,
``<landing>/morbidity/dt=D/morbidity_D.csv`` with a row per district
(``report_date,district,new_cases,hospitalised,deaths,tests,revision``, revision 1). When
dirt > 0, some earlier days are re-delivered with corrected (higher) numbers as
``morbidity_D_rev2.csv`` in a later dt folder (revision 2, all districts of that day).

Counts are negative-binomial around the expected reported cases and hospitalisations
(Poisson for deaths). Tests: a base testing capacity plus the tests needed to find the cases
at a positivity that rises with incidence, so test positivity rises with the epidemic.
"""

from datetime import date

import numpy as np
import pandas as pd

from jobs.simulate.context import FeedResult, SimContext
from jobs.simulate.health_io import later, special_days, write_bytes
from jobs.simulate.lags import smooth

FEED = "morbidity"
COLUMNS = ("report_date", "district", "new_cases", "hospitalised", "deaths", "tests", "revision")
MEASURES = ("new_cases", "hospitalised", "deaths", "tests")
DISPERSION = 40.0                          # negative-binomial size of cases and hospitalisations
BASE_TESTS_PER_100K = 60.0                 # daily tests per 100k residents without an epidemic
WEEKEND_TESTS = 0.7                        # Saturday/Sunday share of the base tests
POSITIVITY_MIN, POSITIVITY_MAX = 0.02, 0.30
POSITIVITY_HALF = 8.0                      # reported cases per 100k/day at half the positivity rise
CORRECTION_DELAY = (3, 10)                 # days until a corrected file arrives
CORRECTIONS_PER_DIRT = 2.0                 # corrected days ~ Binomial(days, 2 * dirt), at least 1


def file_name(day: date, revision: int = 1) -> str:
    return f"morbidity_{day.isoformat()}{'' if revision == 1 else f'_rev{revision}'}.csv"


def expected_reports(epi: pd.DataFrame, days: list[date], n_d: int) -> dict[str, np.ndarray]:
    """Expected new_cases, hospitalised, deaths and tests: arrays (days, districts)."""
    cases = epi["reported_cases"].to_numpy().reshape(len(days), n_d)
    pop = epi["population"].to_numpy().reshape(len(days), n_d)
    per_100k = pd.DataFrame(cases / pop * 1e5).pipe(lambda f: f.apply(smooth).bfill().fillna(0.0)).to_numpy()
    positivity = POSITIVITY_MIN + (POSITIVITY_MAX - POSITIVITY_MIN) * per_100k / (per_100k + POSITIVITY_HALF)
    weekend = np.array([d.weekday() >= 5 for d in days])
    base = BASE_TESTS_PER_100K * pop / 1e5 * np.where(weekend, WEEKEND_TESTS, 1.0)[:, None]
    return {
        "new_cases": cases,
        "hospitalised": epi["hospitalised"].to_numpy().reshape(len(days), n_d),
        "deaths": epi["deaths"].to_numpy().reshape(len(days), n_d),
        "tests": base + cases / positivity,
    }


def draw_reports(exp: dict[str, np.ndarray], i: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Noisy counts of day ``i`` per district (negative binomial / Poisson around ``exp``)."""
    def nb(mu):
        return rng.poisson(rng.gamma(DISPERSION, np.maximum(mu, 0.0) / DISPERSION))

    cases = nb(exp["new_cases"][i])
    tests = rng.poisson(exp["tests"][i])
    return {"new_cases": cases, "hospitalised": nb(exp["hospitalised"][i]),
            "deaths": rng.poisson(exp["deaths"][i]), "tests": np.maximum(tests, cases)}


def _correct(counts: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Late-arriving results: higher case counts (at least one district), more hospitalised,
    deaths and tests."""
    extra = rng.poisson(0.12 * counts["new_cases"] + 0.5)
    if extra.sum() == 0:
        extra[int(np.argmax(counts["new_cases"]))] += 1
    return {
        "new_cases": counts["new_cases"] + extra,
        "hospitalised": counts["hospitalised"] + rng.poisson(0.08 * counts["hospitalised"] + 0.2),
        "deaths": counts["deaths"] + rng.poisson(0.1 * counts["deaths"]),
        "tests": counts["tests"] + 3 * extra + rng.poisson(0.02 * counts["tests"]),
    }


def _csv(day: date, names: list[str], counts: dict[str, np.ndarray], revision: int) -> bytes:
    lines = [",".join(COLUMNS)]
    for j, name in enumerate(names):
        lines.append(",".join([day.isoformat(), name, *(str(int(counts[m][j])) for m in MEASURES),
                               str(revision)]))
    return ("\n".join(lines) + "\n").encode("utf-8")


def _as_dict(names: list[str], counts: dict[str, np.ndarray]) -> dict:
    return {n: {m: int(counts[m][j]) for m in MEASURES} for j, n in enumerate(names)}


def generate_morbidity(ctx: SimContext, epi: pd.DataFrame) -> FeedResult:
    """Write the daily reports (and corrected re-deliveries when dirt > 0)."""
    p = ctx.params
    days = p.all_days()
    names = ctx.geo.district_names
    exp = expected_reports(epi, days, len(names))
    result = FeedResult(FEED)
    reported, expected, revisions = {}, {}, {}
    drawn = []
    for i, day in enumerate(days):
        counts = draw_reports(exp, i, ctx.rng("morbidity", day))
        drawn.append(counts)
        path = ctx.path(FEED, day, file_name(day))
        write_bytes(path, _csv(day, names, counts, 1))
        result.files.append(ctx.rel(path))
        result.rows += len(names)
        reported[day.isoformat()] = _as_dict(names, counts)
        expected[day.isoformat()] = {n: {m: round(float(exp[m][i, j]), 3) for m in MEASURES}
                                     for j, n in enumerate(names)}
    if p.dirt > 0:
        rng = ctx.rng("morbidity_corrections")
        lo, hi = CORRECTION_DELAY
        n_corr = max(1, int(rng.binomial(len(days), min(1.0, CORRECTIONS_PER_DIRT * p.dirt))))
        for day in special_days(rng, days, n_corr, margin_after=lo):
            i = days.index(day)
            corrected = _correct(drawn[i], rng)
            delivered = min(later(day, int(rng.integers(lo, hi + 1))), p.end)
            path = ctx.path(FEED, delivered, file_name(day, 2))
            write_bytes(path, _csv(day, names, corrected, 2))
            rel = ctx.rel(path)
            result.files.append(rel)
            result.rows += len(names)
            revisions[day.isoformat()] = {"revision": 2, "file": rel, "delivered": delivered.isoformat(),
                                          "counts": _as_dict(names, corrected)}
            ctx.dirt_log.add(FEED, rel, day.isoformat(), "corrected_redelivery", len(names), revision=2,
                             corrects=ctx.rel(ctx.path(FEED, day, file_name(day))),
                             delivered=delivered.isoformat())
    result.truth = {
        "districts": names, "measures": list(MEASURES),
        "reported": reported,        # revision 1 as delivered, by day/district
        "revisions": revisions,      # corrected re-deliveries (revision 2), by covered day
        "expected": expected,        # noise-free expectation (reported cases with weekend dips)
    }
    return result
