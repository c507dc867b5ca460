"""Which days a DAG run works on.

A scheduled run of a daily DAG covers one local day of the city (its data interval; Airflow's
own ``ds`` is the UTC date of the logical date, which for a city east of Greenwich is the day
before). A run triggered by assets covers the days its triggering events name. A manual run may
name days in its conf (``{"days": ["2020-03-16", ...]}`` or ``{"start": ..., "end": ...}``).
Days whose staged data a delivery of those days changed (``ops_recompute_requests``: a late or
corrected file) are added, so they are recomputed downstream.
"""

from datetime import date, timedelta

import pendulum


def local_day(moment, timezone: str) -> str | None:
    """The city-local date (ISO) of an aware datetime; None for None."""
    if moment is None:
        return None
    return pendulum.instance(moment).in_timezone(timezone).date().isoformat()


def local_ds(context) -> str | None:
    """The local day of a run's logical date (None for asset-triggered runs)."""
    from geopulse_dags.settings import settings

    return local_day(context.get("logical_date"), settings().timezone)


def _span(conf: dict) -> list[str]:
    if conf.get("days"):
        return [date.fromisoformat(str(d)).isoformat() for d in conf["days"]]
    if conf.get("start"):
        first = date.fromisoformat(str(conf["start"]))
        last = date.fromisoformat(str(conf.get("end") or conf["start"]))
        return [(first + timedelta(n)).isoformat() for n in range((last - first).days + 1)]
    return []


def days_from(extras: list[dict], conf: dict | None, ds: str | None) -> tuple[list[str], list[str]]:
    """``(days, delivered)`` of a run: from asset-event extras, else the run's conf, else its local
    day. Pure: the DAGs' ``resolve_days`` task adds the recompute requests to it."""
    days = {d for e in extras for d in e.get("days", [])}
    delivered = {d for e in extras for d in e.get("delivered", [])}
    if not days:
        days = set(_span(conf or {}))
        delivered = set(days)
    if not days and ds:
        days, delivered = {ds}, {ds}
    if not days:
        raise ValueError("no day to work on: the run has no logical date, no triggering asset event "
                         "and no days in its conf (trigger with --logical-date or conf {'days': [...]})")
    return sorted(days), sorted(delivered or days)


def event_extras(context) -> list[dict]:
    """The extras of every asset event that triggered this run."""
    events = context.get("triggering_asset_events") or {}
    return [dict(e.extra or {}) for evs in events.values() for e in evs]


def resolve(context) -> dict:
    """The run's days plus the recompute requests of its delivery days, as the XCom the job tasks
    template from: ``{"days": [...], "start": first, "end": last, "delivered": [...]}``."""
    from jobs.common.config import Paths
    from jobs.ingest.arrival import recompute_days

    conf = getattr(context.get("dag_run"), "conf", None) or {}
    days, delivered = days_from(event_extras(context), conf, local_ds(context))
    late = recompute_days(Paths.from_env(), [date.fromisoformat(d) for d in delivered])
    days = sorted(set(days) | {d.isoformat() for d in late})
    return {"days": days, "start": days[0], "end": days[-1], "delivered": delivered}
