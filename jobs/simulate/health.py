"""Health half of the synthetic city: ambulance calls, pharmacy receipts, morbidity reports.

Runs the epidemic once (``jobs.simulate.epidemic``) and hands its expected signals to the feed
generators; writes their files (see each module) and computes the true lead/lag relations
(``jobs.simulate.lags``) from the exact expectations the noisy counts were drawn from.

Ground truth: each FeedResult's ``truth`` holds its exact counts and expectations per
(day, district); the morbidity result also carries ``lags``, ``expected_city`` (city-level
noise-free daily series) and ``epidemic`` (infections, susceptibles and symptom onsets per
day and district) and ``waves`` (onset, peak and trough of each epidemic wave per district,
see ``jobs.simulate.waves``). ``health_truth_summary`` collects the epidemic-level part for the manifest.
"""

from datetime import date

import numpy as np
import pandas as pd

from jobs.simulate import epidemic as ep
from jobs.simulate.ambulance import generate_ambulance
from jobs.simulate.context import FeedResult, SimContext
from jobs.simulate.lags import true_lags
from jobs.simulate.morbidity import generate_morbidity
from jobs.simulate.pharmacy import pharmacy_network
from jobs.simulate.pharmacy_receipts import generate_pharmacy
from jobs.simulate.waves import from_epidemic

CITY_SERIES = ("new_infections", "ambulance_respiratory", "pharmacy_antipyretic", "pharmacy_cough_cold",
               "pharmacy_antiviral", "reported_cases", "hospitalised", "deaths")


def _city(expected: dict, key: str) -> pd.Series:
    """City total per day of ``expected[day][district][key]``."""
    return pd.Series({pd.Timestamp(d): sum(v[key] for v in ds.values()) for d, ds in expected.items()},
                     dtype=float).sort_index()


def expected_city(epi: pd.DataFrame, ambulance: FeedResult, pharmacy: FeedResult) -> pd.DataFrame:
    """Noise-free city series the feeds were drawn from (baselines included), indexed by day."""
    city = ep.city_series(epi, ["new_infections", "reported_cases", "hospitalised", "deaths"])
    city.index = pd.to_datetime(city.index)
    out = pd.DataFrame({
        "new_infections": city["new_infections"],
        "ambulance_respiratory": _city(ambulance.truth["expected"], "respiratory_fever"),
        "pharmacy_antipyretic": _city(pharmacy.truth["expected"], "antipyretic"),
        "pharmacy_cough_cold": _city(pharmacy.truth["expected"], "cough_cold"),
        "pharmacy_antiviral": _city(pharmacy.truth["expected"], "antiviral"),
        "reported_cases": city["reported_cases"],
        "hospitalised": city["hospitalised"],
        "deaths": city["deaths"],
    })
    return out[list(CITY_SERIES)].rename_axis("day")


def _per_day(epi: pd.DataFrame, column: str, digits: int = 3) -> dict:
    out: dict = {}
    days = pd.to_datetime(epi["day"]).dt.date.astype(str).to_numpy()
    for d, n, v in zip(days, epi["district"].to_numpy(), np.round(epi[column].to_numpy(), digits).tolist()):
        out.setdefault(d, {})[n] = v
    return out


def kernel_summary() -> dict:
    """Mean and sd (days) of every infection -> event delay, as configured in the epidemic."""
    return {
        "onset": list(ep.ONSET_DELAY), "pharmacy": list(ep.PHARMACY_DELAY),
        "ambulance_early": list(ep.AMBULANCE_EARLY_DELAY), "ambulance_late": list(ep.AMBULANCE_LATE_DELAY),
        "ambulance_late_share": ep.AMBULANCE_LATE_SHARE, "reported_cases": list(ep.REPORT_DELAY),
        "hospitalised": list(ep.HOSPITAL_DELAY), "deaths": list(ep.DEATH_DELAY),
        "weekend_reporting": ep.WEEKEND_REPORTING,
    }


def published_cases(morbidity: FeedResult) -> dict[date, float]:
    """City total of new cases per day as first published (revision 1, the drawn counts): the
    news the residents' voluntary response reacts to."""
    return {date.fromisoformat(day): float(sum(v["new_cases"] for v in by_district.values()))
            for day, by_district in morbidity.truth["reported"].items()}


def generate_health(ctx: SimContext) -> list[FeedResult]:
    """ambulance, pharmacy_receipts and morbidity feeds (in that order) for ``ctx.params``."""
    p = ctx.params
    epi = ep.simulate_epidemic(ctx.cfg, ctx.calendar, p.start, p.end)
    ambulance = generate_ambulance(ctx, epi)
    pharmacy = generate_pharmacy(ctx, epi, pharmacy_network(ctx))
    morbidity = generate_morbidity(ctx, epi)
    city = expected_city(epi, ambulance, pharmacy)
    ctx.shared["reported_cases_city"] = published_cases(morbidity)
    morbidity.truth["lags"] = true_lags(city)
    morbidity.truth["expected_city"] = {
        d.date().isoformat(): {k: round(float(v), 3) for k, v in row.items()} for d, row in city.iterrows()}
    morbidity.truth["epidemic"] = {
        "new_infections": _per_day(epi, "new_infections"),
        "susceptible": _per_day(epi, "susceptible", 1),
        "onsets": _per_day(epi, "onsets"),
        "delays_days": kernel_summary(),
    }
    morbidity.truth["waves"] = from_epidemic(epi, ambulance.truth["expected"], p.health_scale,
                                             date.fromisoformat(str(ctx.cfg["epidemic"]["wave2_date"])))
    return [ambulance, pharmacy, morbidity]


def health_truth_summary(results: list[FeedResult]) -> dict:
    """The epidemic-level ground truth (lags, city series, infections) from generate_health's results."""
    mor = next(r for r in results if r.feed == "morbidity")
    return {k: mor.truth[k] for k in ("lags", "expected_city", "epidemic") if k in mor.truth}
