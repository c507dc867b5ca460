"""Daily pharmacy sales of the synthetic city: expected receipts and one day's receipts with items.

Reads the pharmacy network, the calendar and the expected epidemic; writes nothing. The
expectation of "receipts containing an item of group g" per (day, district) is exact for the
sampling below, so it is the noise-free series the manifest's lags are computed from.
"""

from dataclasses import dataclass
from math import factorial

import numpy as np
import pandas as pd

from jobs.simulate import pharmacy as ph
from jobs.simulate.context import SimContext
from jobs.simulate.health_io import choose_rows, seasonal, weekday_index

GROUPS = ("antipyretic", "cough_cold", "antiviral", "other")


@dataclass
class SalesModel:
    codes: tuple[str, ...]        # ATC codes (config order)
    code_group: np.ndarray        # index into GROUPS per code
    illness_code: np.ndarray      # ATC index of each illness group (ILLNESS_GROUPS order)
    other_codes: np.ndarray       # ATC indices of CO_OTHER
    base_mix: np.ndarray          # (days, codes) item mix of baseline receipts
    base_lambda: np.ndarray       # (days, pharmacies) expected baseline receipts
    illness_lambda: np.ndarray    # (days, pharmacies, 3) expected illness receipts by primary group
    expected: np.ndarray          # (days, districts, 1 + len(GROUPS)): receipts, containing group g


def _items_pmf() -> np.ndarray:
    m, k = ph.EXTRA_ITEMS_MEAN, np.arange(ph.MAX_ITEMS)
    pmf = np.exp(-m) * m ** k / np.array([factorial(int(i)) for i in k])
    pmf[-1] = 1.0 - pmf[:-1].sum()
    return pmf                                  # P(n items = k + 1)


def _co_matrix() -> np.ndarray:
    """P(receipt contains group g | illness receipt of primary h): (3 primaries, len(GROUPS))."""
    other = 1.0 - np.prod([1.0 - p for p in ph.CO_OTHER.values()])
    out = np.zeros((len(ph.ILLNESS_GROUPS), len(GROUPS)))
    for h in range(len(ph.ILLNESS_GROUPS)):
        for g, grp in enumerate(ph.ILLNESS_GROUPS):
            out[h, g] = 1.0 if g == h else ph.CO_PURCHASE[grp]
        out[h, GROUPS.index("other")] = other
    return out


def sales_model(ctx: SimContext, net: ph.PharmacyNetwork, epi: pd.DataFrame) -> SalesModel:
    """Expected baseline and illness receipts per pharmacy and day (at ``health_scale``)."""
    days = ctx.params.all_days()
    atc = ctx.cfg["atc_groups"]
    codes = tuple(a["atc"] for a in atc)
    code_group = np.array([GROUPS.index(a["group"]) if a["group"] in GROUPS else 3 for a in atc])
    illness_code = np.array([int(np.flatnonzero(code_group == GROUPS.index(g))[0])
                             for g in ph.ILLNESS_GROUPS])
    other_codes = np.array([codes.index(c) for c in ph.CO_OTHER])
    amp = np.array([ph.WINTER_AMPLITUDE.get(c, 0.0) for c in codes])
    mix = np.array([ph.BASE_ATC_MIX.get(c, 0.05) for c in codes])[None, :] * seasonal(days, amp)
    mix /= mix.sum(axis=1, keepdims=True)
    geo = ctx.geo
    n_d = len(geo.districts)
    pop = np.array([d.population * ph.DEMAND[d.kind] for d in geo.districts], dtype=float)
    strg = np.array([ctx.calendar.stringency(d) for d in days]) / 100.0
    city = (ph.RECEIPTS_PER_DAY * ctx.params.health_scale * ph.WEEKLY[weekday_index(days, ctx.calendar)]
            * (1.0 + ph.RESTRICTION_RESPONSE * strg))
    dist = net.frame["district_index"].to_numpy()
    size = net.frame["size"].to_numpy()
    active = np.stack([net.active(d) for d in days])                       # (days, P)
    w = active * size[None, :]
    w_sum = np.stack([np.bincount(dist, wt, minlength=n_d) for wt in w])   # (days, D)
    share = np.divide(w, w_sum[:, dist], out=np.zeros_like(w), where=w_sum[:, dist] > 0)
    base = city[:, None] * (pop / pop.sum())[None, dist] * share
    sig = np.stack([epi[f"pharmacy_{g}"].to_numpy().reshape(len(days), n_d)
                    for g in ph.ILLNESS_GROUPS], axis=2)
    sig = sig * ctx.params.health_scale                                    # (days, D, 3)
    illness = sig[:, dist, :] * share[:, :, None]
    pmf = _items_pmf()
    q = np.stack([mix[:, code_group == g].sum(axis=1) for g in range(len(GROUPS))], axis=1)
    n_items = np.arange(1, ph.MAX_ITEMS + 1)
    p_base = (pmf[None, None, :] * (1.0 - (1.0 - q[:, :, None]) ** n_items)).sum(axis=2)
    base_d = np.stack([np.bincount(dist, b, minlength=n_d) for b in base])  # (days, D)
    expected = np.concatenate([
        (base_d + sig.sum(axis=2))[:, :, None],
        base_d[:, :, None] * p_base[:, None, :] + sig @ _co_matrix(),
    ], axis=2)
    return SalesModel(codes, code_group, illness_code, other_codes, mix, base, illness, expected)


@dataclass
class DayReceipts:
    """One day's receipts in time order; items grouped by receipt in the same order."""

    pharmacy: np.ndarray       # pharmacy row per receipt
    kkm: np.ndarray            # register row per receipt
    seq: np.ndarray            # receipt number of the day on its register (1-based)
    seconds: np.ndarray        # local seconds after midnight
    item_offsets: np.ndarray   # receipts + 1 offsets into the item arrays
    item_code: np.ndarray      # ATC index per item line (one line per code and receipt)
    qty: np.ndarray            # packs
    amount: np.ndarray         # tenge (whole), per item line


def simulate_day(model: SalesModel, net: ph.PharmacyNetwork, i: int, rng: np.random.Generator) -> DayReceipts:
    """Receipts of day ``i``: Poisson counts per pharmacy and kind, then items, times, registers."""
    n_p = len(net.frame)
    counts = np.concatenate([rng.poisson(model.base_lambda[i])[:, None],
                             rng.poisson(model.illness_lambda[i])], axis=1)  # (P, 1 + 3)
    pharm = np.repeat(np.tile(np.arange(n_p), 4), counts.T.ravel())
    kind = np.repeat(np.repeat(np.arange(4), n_p), counts.T.ravel())
    r = len(pharm)
    # items of baseline receipts
    base = np.flatnonzero(kind == 0)
    n_items = 1 + choose_rows(rng, _items_pmf()[None, :], np.zeros(len(base), int))
    b_rec = np.repeat(base, n_items)
    b_code = rng.choice(len(model.codes), size=len(b_rec), p=model.base_mix[i])
    # items of illness receipts: own group always, other remedies sometimes
    ill = np.flatnonzero(kind > 0)
    slots = np.concatenate([model.illness_code, model.other_codes])
    probs = np.array([ph.CO_PURCHASE[g] for g in ph.ILLNESS_GROUPS] + list(ph.CO_OTHER.values()))
    take = rng.random((len(ill), len(slots))) < probs[None, :]
    take[np.arange(len(ill)), kind[ill] - 1] = True
    rr, ss = np.nonzero(take)
    i_rec, i_code = ill[rr], slots[ss]
    item_rec = np.concatenate([b_rec, i_rec])
    item_code = np.concatenate([b_code, i_code])
    # time of day and register
    all_night = net.frame["all_night"].to_numpy()
    hours = choose_rows(rng, np.stack([ph.DAY_HOURS, ph.HOURLY]), all_night[pharm].astype(int))
    seconds = hours * 3600 + rng.integers(0, 3600, r)
    starts = np.searchsorted(net.kkm_pharmacy, np.arange(n_p))
    n_kkm = np.bincount(net.kkm_pharmacy, minlength=n_p)
    wtab = np.zeros((n_p, 3))
    for k in range(3):
        has = n_kkm > k
        wtab[has, k] = net.kkm_weight[starts[has] + k]
    kkm = starts[pharm] + choose_rows(rng, wtab, pharm)
    # quantities and prices
    qty = 1 + choose_rows(rng, np.array([ph.QTY_PROBS]), np.zeros(len(item_code), int))
    median = np.array([ph.PRICE_MEDIAN.get(c, 1000) for c in model.codes], dtype=float)
    unit = np.maximum(np.round(rng.lognormal(np.log(median[item_code]), ph.PRICE_SIGMA) / 10) * 10, 50)
    amount = (qty * unit).astype(np.int64)
    # one line per ATC code in a receipt (the operator groups items by code)
    key, inv = np.unique(item_rec.astype(np.int64) * len(model.codes) + item_code, return_inverse=True)
    qty = np.bincount(inv, qty).astype(np.int64)
    amount = np.bincount(inv, amount).astype(np.int64)
    item_rec, item_code = key // len(model.codes), key % len(model.codes)
    # time order, receipt numbers per register, items grouped by receipt (items are generated
    # contiguous per receipt, baseline receipts first: move whole item ranges, no sort needed)
    order = np.argsort(seconds.astype(np.int64) * len(net.kkm_id) + kkm, kind="stable")
    kkm_s = kkm[order]
    by_kkm = np.argsort(kkm_s, kind="stable")
    first = np.searchsorted(kkm_s[by_kkm], kkm_s[by_kkm])
    seq = np.empty(r, np.int64)
    seq[by_kkm] = np.arange(r) - first + 1
    per = np.bincount(item_rec, minlength=r)
    old_start = np.r_[0, np.cumsum(per)[:-1]]
    new_per = per[order]
    new_start = np.r_[0, np.cumsum(new_per)]
    item_order = np.repeat(old_start[order] - new_start[:-1], new_per) + np.arange(new_start[-1])
    return DayReceipts(pharm[order], kkm_s, seq, seconds[order], new_start,
                       item_code[item_order], qty[item_order], amount[item_order])


def day_truth(model: SalesModel, net: ph.PharmacyNetwork, rec: DayReceipts, n_d: int) -> dict:
    """Exact counts of a day per district: receipts, amount, and per group receipts/items/qty/amount."""
    dist = net.frame["district_index"].to_numpy()
    rd = dist[rec.pharmacy]
    n_items = np.diff(rec.item_offsets)
    item_rec = np.repeat(np.arange(len(rd)), n_items)
    item_d, item_g = rd[item_rec], model.code_group[rec.item_code]
    has = np.zeros((len(rd), len(GROUPS)), bool)
    has[item_rec, item_g] = True
    out = {"receipts": np.bincount(rd, minlength=n_d),
           "amount": np.bincount(item_d, rec.amount, minlength=n_d)}
    for g, name in enumerate(GROUPS):
        sel = item_g == g
        out[name] = {
            "receipts": np.bincount(rd[has[:, g]], minlength=n_d),
            "items": np.bincount(item_d[sel], minlength=n_d),
            "qty": np.bincount(item_d[sel], rec.qty[sel], minlength=n_d),
            "amount": np.bincount(item_d[sel], rec.amount[sel], minlength=n_d),
        }
    return out
