"""Epidemic of the synthetic city: a deterministic district SEIR and its expected health signals.

Reads the city config (``districts``, ``epidemic``) and the restriction calendar; writes
nothing. Grain of the output: one row per (day, district).

Model: an SEIR per district with daily steps, coupled by a simple mixing matrix (a share of
contacts is city-wide, the rest within the district). Transmission is
``R(t, d) = r0_wave1 * district_r_multiplier[d] * (1 - transmission_cut * s(t) / 100)
* caution(t) * wave2(t)`` times ``(S/N) ** (1 + susceptibility_heterogeneity)``, where ``s`` is
the restriction stringency of the calendar, ``caution`` the lasting precautions after the first
lockdown (``caution_r_multiplier`` from ``caution_date``), ``wave2`` ramps from 1 to
``wave2_r_multiplier`` over ``wave2_ramp_days`` from ``wave2_date`` (autumn season), and the
heterogeneity exponent stands for the most exposed people being infected first. Seed
infections (``seed_infections``, ``wave2_seed_infections``) are spread over the districts by
population times their transmission multiplier.

Every health signal is the expected (noise-free) count obtained by convolving new infections
with a discretised delay distribution (named constants below). The feed generators add
baselines and noise around these expectations; the lags the pipeline must recover follow from
the kernels and are computed by ``jobs.simulate.lags``.
"""

from datetime import date, timedelta

import numpy as np
import pandas as pd
from scipy.special import gammainc

from jobs.simulate.timeline import Calendar

# Delay distributions, days from infection to the event: (mean, standard deviation) of a gamma.
ONSET_DELAY = (5.5, 2.3)           # incubation: infection -> symptom onset
PHARMACY_DELAY = (5.0, 2.2)        # symptom relief is bought at (or just before) onset
AMBULANCE_EARLY_DELAY = (7.0, 2.0)  # most 103 respiratory/fever calls: a day or two after onset
AMBULANCE_LATE_DELAY = (15.0, 6.0)  # calls of patients who worsen later: the residual tail
AMBULANCE_LATE_SHARE = 0.13        # share of respiratory calls in the late component
REPORT_DELAY = (9.9, 3.0)          # infection -> onset -> test -> lab-confirmed report
HOSPITAL_DELAY = (13.0, 3.8)       # infection -> hospital admission
DEATH_DELAY = (24.0, 6.0)          # infection -> death (about 14 days after the report)
KERNEL_DAYS = 60                   # kernels are truncated (and renormalised) after this many days

# Expected events per infection (ascertainment, hospitalisation and fatality come from config).
SYMPTOMATIC_SHARE = 0.6
PHARMACY_PER_INFECTION = {"antipyretic": 0.42, "cough_cold": 0.30, "antiviral": 0.10}
AMBULANCE_RESPIRATORY_PER_INFECTION = 0.11

# Reporting: weekend dip with a Monday catch-up of what was not reported on Saturday/Sunday.
WEEKEND_REPORTING = 0.6

# City-wide share of contacts (the rest are within the home district).
CITY_MIXING = 0.3

SIGNALS = (
    "onsets", "pharmacy_antipyretic", "pharmacy_cough_cold", "pharmacy_antiviral",
    "ambulance_respiratory", "reported_cases", "hospitalised", "deaths",
)


def gamma_kernel(mean: float, sd: float, n: int = KERNEL_DAYS) -> np.ndarray:
    """P(delay = k days), k = 0..n-1, from a gamma(mean, sd) discretised on [k - 0.5, k + 0.5)."""
    shape, scale = (mean / sd) ** 2, sd * sd / mean
    edges = np.concatenate([[0.0], np.arange(n) + 0.5])
    w = np.diff(gammainc(shape, edges / scale))
    return w / w.sum()


def delay_kernels() -> dict[str, np.ndarray]:
    """Infection -> event kernels of every signal (each sums to 1)."""
    pharmacy = gamma_kernel(*PHARMACY_DELAY)
    ambulance = ((1 - AMBULANCE_LATE_SHARE) * gamma_kernel(*AMBULANCE_EARLY_DELAY)
                 + AMBULANCE_LATE_SHARE * gamma_kernel(*AMBULANCE_LATE_DELAY))
    return {
        "onsets": gamma_kernel(*ONSET_DELAY),
        "pharmacy_antipyretic": pharmacy,
        "pharmacy_cough_cold": pharmacy,
        "pharmacy_antiviral": pharmacy,
        "ambulance_respiratory": ambulance,
        "reported_cases": gamma_kernel(*REPORT_DELAY),
        "hospitalised": gamma_kernel(*HOSPITAL_DELAY),
        "deaths": gamma_kernel(*DEATH_DELAY),
    }


def signal_rates(epi: dict) -> dict[str, float]:
    """Expected events of each signal per infection."""
    return {
        "onsets": SYMPTOMATIC_SHARE,
        **{f"pharmacy_{g}": r for g, r in PHARMACY_PER_INFECTION.items()},
        "ambulance_respiratory": AMBULANCE_RESPIRATORY_PER_INFECTION,
        "reported_cases": float(epi["ascertainment"]),
        "hospitalised": float(epi["hospitalisation_rate"]),
        "deaths": float(epi["fatality_rate"]),
    }


def _day_range(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _wave2_factor(days: list[date], epi: dict) -> np.ndarray:
    start = date.fromisoformat(str(epi["wave2_date"]))
    ramp = max(float(epi.get("wave2_ramp_days", 1)), 1.0)
    t = np.array([(d - start).days for d in days], dtype=float)
    frac = np.clip((t + 1) / ramp, 0.0, 1.0)
    return 1.0 + (float(epi["wave2_r_multiplier"]) - 1.0) * frac


def _caution_factor(days: list[date], epi: dict) -> np.ndarray:
    if "caution_date" not in epi:
        return np.ones(len(days))
    start = date.fromisoformat(str(epi["caution_date"]))
    return np.where(np.array([d >= start for d in days]), float(epi["caution_r_multiplier"]), 1.0)


def seir(cfg: dict, calendar: Calendar, first: date, last: date) -> pd.DataFrame:
    """Daily SEIR per district from ``first`` to ``last``: susceptible and new infections."""
    epi = cfg["epidemic"]
    names = [d["name"] for d in cfg["districts"]]
    pop = np.array([float(d["population"]) for d in cfg["districts"]])
    share = pop / pop.sum()
    days = _day_range(first, last)
    r_mult = np.array([float(epi["district_r_multiplier"].get(n, 1.0)) for n in names])
    sigma = 1.0 - np.exp(-1.0 / float(epi["incubation_days"]))
    gamma = 1.0 - np.exp(-1.0 / float(epi["infectious_days"]))
    cut = float(epi["transmission_cut"])
    hetero = float(epi.get("susceptibility_heterogeneity", 0.0))
    stringency = np.array([[calendar.stringency(d, n) for n in names] for d in days])
    r_t = (float(epi["r0_wave1"]) * r_mult[None, :] * (1.0 - cut * stringency / 100.0)
           * (_wave2_factor(days, epi) * _caution_factor(days, epi))[:, None])
    seeds = np.zeros((len(days), len(names)))
    seed_weight = pop * r_mult / (pop * r_mult).sum()
    for key_date, key_n in (("seed_date", "seed_infections"), ("wave2_date", "wave2_seed_infections")):
        i = (date.fromisoformat(str(epi[key_date])) - first).days
        if 0 <= i < len(days):
            seeds[i] += float(epi[key_n]) * seed_weight
    mixing = (1.0 - CITY_MIXING) * np.eye(len(names)) + CITY_MIXING * np.tile(share, (len(names), 1))
    s, e, i_ = pop.copy(), np.zeros(len(names)), np.zeros(len(names))
    out_s = np.empty((len(days), len(names)))
    out_new = np.empty((len(days), len(names)))
    infectious_days = float(epi["infectious_days"])
    for t in range(len(days)):
        beta = r_t[t] / infectious_days
        force = beta * (mixing @ (i_ / pop)) * (s / pop) ** hetero
        new = s * (1.0 - np.exp(-force))
        new = np.minimum(new + seeds[t], s)
        out_s[t], out_new[t] = s, new
        onset = e * sigma
        s, e, i_ = s - new, e + new - onset, i_ + onset - i_ * gamma
    return pd.DataFrame({
        "day": np.repeat(np.array(days, dtype="datetime64[D]"), len(names)),
        "district": np.tile(names, len(days)),
        "population": np.tile(pop, len(days)),
        "susceptible": out_s.ravel(),
        "new_infections": out_new.ravel(),
    })


def weekend_reporting(values: np.ndarray, days: list[date]) -> np.ndarray:
    """Saturday/Sunday reports x WEEKEND_REPORTING; Monday adds what the weekend left out.

    ``values`` has days on axis 0; weekly totals are preserved (apart from the series edges).
    """
    dow = np.array([d.weekday() for d in days])
    out = values * np.where(dow >= 5, WEEKEND_REPORTING, 1.0).reshape(-1, *([1] * (values.ndim - 1)))
    left = values * (1.0 - WEEKEND_REPORTING)
    for t in np.flatnonzero(dow == 0):
        out[t] = out[t] + left[max(t - 1, 0)] * (t >= 1) + left[max(t - 2, 0)] * (t >= 2)
    return out


def simulate_epidemic(cfg: dict, calendar: Calendar, first: date, last: date) -> pd.DataFrame:
    """Expected epidemic per (day, district) over [first, last].

    Columns: day (datetime64), district, population, susceptible, new_infections and one column
    per name in ``SIGNALS`` (expected events that day). The SEIR starts before ``first`` (at
    the seed date or ``KERNEL_DAYS`` earlier) so the result does not depend on the window.
    """
    epi = cfg["epidemic"]
    seed = date.fromisoformat(str(epi["seed_date"]))
    sim_first = min(first - timedelta(days=KERNEL_DAYS), seed)
    frame = seir(cfg, calendar, sim_first, last)
    names = list(dict.fromkeys(frame["district"]))
    n_days = len(frame) // len(names)
    inf = frame["new_infections"].to_numpy().reshape(n_days, len(names))
    days = _day_range(sim_first, last)
    rates = signal_rates(epi)
    for name, kernel in delay_kernels().items():
        conv = np.stack([np.convolve(inf[:, j], kernel)[:n_days] for j in range(len(names))], axis=1)
        conv *= rates[name]
        if name == "reported_cases":
            conv = weekend_reporting(conv, days)
        frame[name] = conv.ravel()
    keep = frame["day"] >= np.datetime64(first)
    return frame.loc[keep].reset_index(drop=True)


def city_series(frame: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """City totals per day (index: day) of the given columns (default: infections + signals)."""
    cols = columns or ["new_infections", *SIGNALS]
    return frame.groupby("day", sort=True)[cols].sum()
