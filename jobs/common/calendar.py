"""The city's calendar as the pipeline sees it: working days, night and work hours.

Reads and writes nothing. Public holidays come from the ``holidays`` package for the city's
country (``city.country`` in the config); a working day is Monday-Friday and not a holiday.
Hours are local city hours from ``timeline.night_hours`` / ``timeline.work_hours`` (start
inclusive, end exclusive).
"""

from datetime import date
from functools import lru_cache

import holidays


@lru_cache(maxsize=64)
def _holidays(country: str, year: int) -> frozenset:
    return frozenset(holidays.country_holidays(country, years=year).keys())


def is_working_day(cfg: dict, day: date) -> bool:
    return day.weekday() < 5 and day not in _holidays(cfg["city"]["country"], day.year)


def night_hours(cfg: dict) -> tuple[int, int]:
    lo, hi = cfg.get("timeline", {}).get("night_hours", [0, 6])
    return int(lo), int(hi)


def work_hours(cfg: dict) -> tuple[int, int]:
    lo, hi = cfg.get("timeline", {}).get("work_hours", [9, 18])
    return int(lo), int(hi)
