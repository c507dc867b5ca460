"""Parameters and shared state of one generator run, plus seeded randomness helpers."""

import zlib
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property
from pathlib import Path

import numpy as np

from jobs.simulate.dirt import DirtLog
from jobs.simulate.geography import CityGeography
from jobs.simulate.timeline import Calendar


def stable_int(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def rng_for(seed: int, purpose: str, day: date | None = None) -> np.random.Generator:
    """An independent, reproducible random stream per (seed, purpose, day)."""
    key = [int(seed), stable_int(purpose)]
    if day is not None:
        key.append(day.toordinal())
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(key)))


@dataclass
class SimParams:
    start: date
    days: int
    subscribers: int = 5000
    events_per_day: float = 50.0       # mean events per subscriber per day (CDR ~2-3, xDR ~90)
    seed: int = 42
    dirt: float = 0.0                  # rate of injected defects (0 = clean)
    health_scale: float = 1.0          # multiplies ambulance/pharmacy volumes
    operator_start: date | None = None  # operator feeds cover [operator_start, +operator_days)
    operator_days: int | None = None   # default: the whole period
    chunk_subscribers: int = 200_000   # subscribers simulated per chunk (bounds memory)

    @property
    def end(self) -> date:
        """Last simulated day (inclusive)."""
        return self.start + timedelta(days=self.days - 1)

    def all_days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]

    def operator_days_list(self) -> list[date]:
        first = self.operator_start or self.start
        n = self.operator_days if self.operator_days is not None else (self.end - first).days + 1
        return [d for d in (first + timedelta(days=i) for i in range(n)) if self.start <= d <= self.end]


@dataclass
class SimContext:
    cfg: dict
    params: SimParams
    landing: Path
    salt: str
    dirt_log: DirtLog = field(default_factory=DirtLog)
    # What one generator hands to another, e.g. the health half's published new cases per
    # day ({date: cases}, key "reported_cases_city") that residents react to.
    shared: dict = field(default_factory=dict)

    @cached_property
    def geo(self) -> CityGeography:
        return CityGeography(self.cfg)

    @cached_property
    def calendar(self) -> Calendar:
        return Calendar.from_config(self.cfg)

    def rng(self, purpose: str, day: date | None = None) -> np.random.Generator:
        return rng_for(self.params.seed, purpose, day)

    def path(self, feed: str, delivery_day: date, filename: str) -> Path:
        """Landing path of a delivered file; creates the dt= folder."""
        folder = self.landing / feed / f"dt={delivery_day.isoformat()}"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / filename

    def rel(self, path: Path) -> str:
        return str(Path(path).relative_to(self.landing))


@dataclass
class FeedResult:
    """What one feed generator produced: files (relative paths), row counts, ground truth."""

    feed: str
    files: list[str] = field(default_factory=list)
    rows: int = 0
    truth: dict = field(default_factory=dict)
