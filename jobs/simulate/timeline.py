"""Calendar of the synthetic city: day types, public holidays and restriction schedule.

Shared by the mobility and the health generators so both react to the same restrictions.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

import holidays


@dataclass(frozen=True)
class Restriction:
    id: str
    start: date
    end: date           # inclusive
    scope: str          # "city" or comma-separated district names
    measure: str
    stringency: float   # 0-100

    def applies(self, day: date, district: str | None = None) -> bool:
        if not (self.start <= day <= self.end):
            return False
        return self.scope == "city" or district is None or district in self.scope.split(",")


@lru_cache(maxsize=64)
def _holidays(country: str, year: int) -> frozenset:
    return frozenset(holidays.country_holidays(country, years=year).keys())


@dataclass(frozen=True)
class Calendar:
    country: str
    restrictions: tuple[Restriction, ...]

    @classmethod
    def from_config(cls, cfg: dict) -> "Calendar":
        rs = tuple(
            Restriction(r["id"], date.fromisoformat(r["start"]), date.fromisoformat(r["end"]),
                        r["scope"], r["measure"], float(r["stringency"]))
            for r in cfg.get("restrictions", [])
        )
        return cls(cfg["city"]["country"], rs)

    def is_holiday(self, day: date) -> bool:
        return day in _holidays(self.country, day.year)

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and not self.is_holiday(day)

    def day_type(self, day: date) -> str:
        """'working_day' or 'day_off' (weekend or public holiday)."""
        return "working_day" if self.is_working_day(day) else "day_off"

    def active(self, day: date, district: str | None = None) -> Restriction | None:
        """The most stringent restriction in force that day (for that district), if any."""
        live = [r for r in self.restrictions if r.applies(day, district)]
        return max(live, key=lambda r: r.stringency) if live else None

    def stringency(self, day: date, district: str | None = None) -> float:
        r = self.active(day, district)
        return r.stringency if r else 0.0


def days(start: date, n: int) -> list[date]:
    return [start + timedelta(days=i) for i in range(n)]
