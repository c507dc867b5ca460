"""Epidemic waves of the synthetic city: onset, peak and the trough before each wave, per district.

Reads the expected epidemic (``jobs.simulate.epidemic``) and the expected respiratory ambulance
calls (baseline + epidemic); writes nothing. Grain of the output: (wave, district).

Definitions (on the noise-free series, so they are ground truth, not estimates):
- relative excess r(t) = epidemic respiratory calls / non-epidemic respiratory calls of the district;
- wave 1 spans the days before ``epidemic.wave2_date``, wave 2 the days from it;
- a wave's trough is the minimum of r between the previous wave's peak and this wave's peak
  (the first day of the period for wave 1), its peak the maximum of r within its span;
- onset = the first day after the trough on which r exceeds r(trough) + ONSET_EXCESS: the day the
  wave adds a quarter of the usual respiratory calls on top of what was there before it.
A wave whose rise never reaches that within the simulated period has onset null.
"""

from datetime import date

import numpy as np
import pandas as pd

ONSET_EXCESS = 0.25


def _wave(r: np.ndarray, lo: int, hi: int, prev_peak: int | None) -> dict:
    peak = lo + int(np.argmax(r[lo:hi]))
    t0 = lo if prev_peak is None else prev_peak
    trough = t0 + int(np.argmin(r[t0:peak + 1]))
    above = np.flatnonzero(r[trough:hi] > r[trough] + ONSET_EXCESS)
    onset = trough + int(above[0]) if len(above) else None
    return {"trough": trough, "peak": peak, "onset": onset}


def wave_onsets(days: list[date], districts: list[str], epidemic_calls: np.ndarray,
                total_calls: np.ndarray, wave2_date: date) -> dict:
    """Per wave and district: onset, peak and trough days and the relative excess at each.

    ``epidemic_calls`` and ``total_calls``: (days, districts) expected respiratory calls."""
    base = total_calls - epidemic_calls
    r = np.divide(epidemic_calls, base, out=np.zeros_like(base, dtype=float), where=base > 0)
    split = int(np.searchsorted(np.array(days), wave2_date))
    spans = [(1, 0, split)] + ([(2, split, len(days))] if split < len(days) else [])
    out: dict = {"definition": f"onset: first day after the trough with epidemic respiratory calls above "
                               f"the trough's relative excess + {ONSET_EXCESS} of the district's "
                               "non-epidemic respiratory calls", "onset_excess": ONSET_EXCESS, "waves": {}}
    for j, name in enumerate(districts):
        prev = None
        for wave, lo, hi in spans:
            if hi - lo < 2:
                continue
            w = _wave(r[:, j], lo, hi, prev)
            prev = w["peak"]
            out["waves"].setdefault(str(wave), {})[name] = {
                k: (days[v].isoformat() if v is not None else None) for k, v in w.items()} | {
                "excess_at_trough": round(float(r[w["trough"], j]), 4),
                "excess_at_peak": round(float(r[w["peak"], j]), 4)}
    return out


def from_epidemic(epi: pd.DataFrame, expected_calls: dict, health_scale: float, wave2_date: date) -> dict:
    """``wave_onsets`` from the epidemic frame and the ambulance feed's truth ``expected``
    (day -> district -> group -> expected calls)."""
    days = sorted(expected_calls)
    districts = list(dict.fromkeys(epi["district"]))
    epi_calls = (epi.pivot(index="day", columns="district", values="ambulance_respiratory")
                 .reindex(columns=districts).to_numpy() * health_scale)
    total = np.array([[expected_calls[d][n]["respiratory_fever"] for n in districts] for d in days])
    return wave_onsets([date.fromisoformat(d) for d in days], districts, epi_calls, total, wave2_date)
