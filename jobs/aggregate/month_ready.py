"""Whether a month is ready for the monthly operator aggregation (the residents_monthly sensor).

Reads partition folder names only (no Spark): the days of the month with staged operator events
(``stg_operator__events``) and the days the daily aggregation has turned into trajectories
(``private_trajectories__subscriber_day``). The month is ready when it has at least one aggregated
day and every staged day of it is aggregated. During a catch-up the monthly run for a month can
be due before the daily runs of its days: it waits for them instead of failing. Days staged
later still reach the month's tables, because the daily aggregation rewrites the month-to-date
figures of every month it touches.
"""

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from jobs.common.config import Paths
from jobs.common.lake import table_path

EVENTS = "stg_operator__events"
TRAJECTORIES = "private_trajectories__subscriber_day"


def _days_in(root: Path, month: date) -> set[date]:
    out = set()
    for p in root.glob("ds=*") if root.is_dir() else []:
        try:
            day = date.fromisoformat(p.name[3:])
        except ValueError:
            continue
        if (day.year, day.month) == (month.year, month.month) and any(p.rglob("*.parquet")):
            out.add(day)
    return out


@dataclass(frozen=True)
class MonthState:
    month: date
    staged: frozenset
    aggregated: frozenset

    @property
    def pending(self) -> list[date]:
        return sorted(self.staged - self.aggregated)

    @property
    def ready(self) -> bool:
        return bool(self.aggregated) and not self.pending

    def describe(self) -> str:
        m = self.month.strftime("%Y-%m")
        if self.ready:
            return f"{m}: ready ({len(self.aggregated)} aggregated days, last {max(self.aggregated)})"
        if self.pending:
            return (f"{m}: {len(self.pending)} staged day(s) not aggregated yet "
                    f"({self.pending[0]}..{self.pending[-1]}); waiting for aggregate_daily")
        return f"{m}: no operator day staged or aggregated yet; waiting for the ingest and aggregate_daily runs"


def month_state(paths: Paths, month: date) -> MonthState:
    month = month.replace(day=1)
    return MonthState(month, frozenset(_days_in(table_path(EVENTS, paths), month)),
                      frozenset(_days_in(table_path(TRAJECTORIES, paths), month)))
