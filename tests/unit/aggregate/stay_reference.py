"""A plain-Python reading of the stay and trip rules (``jobs.aggregate.stays``), one
subscriber-day at a time with loops and lists: the reference the vectorised pass is compared
against for trips, district trips, stay-put and the OD trips."""

from collections import namedtuple

import pandas as pd

from jobs.aggregate.stays import MAX_PASS_BY_DETOUR_KM, MIN_STAY_MINUTES

Event = namedtuple("Event", "t area district x y")
KEY = ["ds", "operator", "subscriber_key"]


def _runs(events: list[Event]) -> list[list[Event]]:
    out: list[list[Event]] = []
    for e in events:
        if out and out[-1][0].area == e.area:
            out[-1].append(e)
        else:
            out.append([e])
    return out


def _centre(run: list[Event]) -> tuple[float, float]:
    return sum(e.x for e in run) / len(run), sum(e.y for e in run) / len(run)


def _dist(a: tuple, b: tuple) -> float:
    return ((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) ** 0.5


def day(events: list[Event], max_minutes: int | None = None) -> dict:
    """One subscriber-day's located events in time order -> trips, district trips, the OD pairs
    and how many events each rule left out."""
    limit = None if max_minutes is None else 60 * max_minutes
    n = len(events)
    osc = [0 < i < n - 1 and events[i - 1].area == events[i + 1].area != events[i].area
           and (limit is None or events[i + 1].t - events[i - 1].t < limit) for i in range(n)]
    partners = {(events[i - 1].area, events[i].area) for i in range(n) if osc[i]}
    runs = _runs([e for e, o in zip(events, osc) if not o])
    kept = []
    for k, run in enumerate(runs):
        before = runs[k - 1] if k > 0 else None
        after = runs[k + 1] if k + 1 < len(runs) else None
        anchor = before[0].area if before else (after[0].area if after else None)
        returns = before is None or after is None or before[0].area == after[0].area
        start = before[-1].t if before else run[0].t
        end = after[0].t if after else run[-1].t
        noise = (anchor is not None and returns and (anchor, run[0].area) in partners
                 and (limit is None or end - start < limit))
        if not noise:
            kept += run
    runs = _runs(kept)
    at_stays, passing = [], 0
    for k, run in enumerate(runs):
        if 0 < k < len(runs) - 1:
            p, c, q = _centre(runs[k - 1]), _centre(run), _centre(runs[k + 1])
            brief = run[-1].t - run[0].t < 60 * MIN_STAY_MINUTES
            if brief and _dist(p, c) + _dist(c, q) - _dist(p, q) <= MAX_PASS_BY_DETOUR_KM:
                passing += len(run)
                continue
        at_stays += run
    trips = sum(a.area != b.area for a, b in zip(at_stays, at_stays[1:]))
    od = [(a.district, b.district) for a, b in zip(at_stays, at_stays[1:]) if a.district != b.district]
    return {"trips": trips, "district_trips": len(od), "od": od, "ping_pong": len(events) - sum(osc) - len(kept),
            "pass_by": passing}


def subscriber_days(located: pd.DataFrame, dim: pd.DataFrame, trip_res: int,
                    max_minutes: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Located events (pandas, unlocated included) and the location dimension -> per
    subscriber-day trips, district_trips, stay_put (plus the ping_pong / pass_by event counts),
    and the OD trip counts (KEY, origin_district, destination_district, trips)."""
    d = dim.set_index("loc_id")
    ev = located.dropna(subset=["loc_id"]).astype({"loc_id": "int64"})
    ev = ev.assign(area=d[f"h3_r{trip_res}"].reindex(ev["loc_id"]).to_numpy(),
                   district=d["district"].reindex(ev["loc_id"]).to_numpy(),
                   x=d["x_km"].reindex(ev["loc_id"]).to_numpy(), y=d["y_km"].reindex(ev["loc_id"]).to_numpy(),
                   t=pd.to_datetime(ev["event_ts_utc"]).astype("int64") // 10**9)
    rows, od = [], []
    for key, g in ev.sort_values([*KEY, "event_ts_utc", "loc_id"]).groupby(KEY, sort=False):
        r = day([Event(*e) for e in g[["t", "area", "district", "x", "y"]].itertuples(index=False)], max_minutes)
        rows.append((*key, r["trips"], r["district_trips"], r["trips"] == 0, r["ping_pong"], r["pass_by"]))
        od += [(*key, o, dst) for o, dst in r["od"]]
    days = pd.DataFrame(rows, columns=[*KEY, "trips", "district_trips", "stay_put", "ping_pong", "pass_by"])
    unlocated = located.groupby(KEY, as_index=False).size()[KEY].merge(days[KEY], how="left", indicator=True)
    none = unlocated[unlocated["_merge"] == "left_only"][KEY].assign(trips=0, district_trips=0, stay_put=False,
                                                                    ping_pong=0, pass_by=0)
    od = pd.DataFrame(od, columns=[*KEY, "origin_district", "destination_district"])
    od_counts = od.groupby(list(od.columns), as_index=False).size().rename(columns={"size": "trips"})
    return pd.concat([days, none], ignore_index=True), od_counts
