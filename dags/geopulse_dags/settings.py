"""What the DAGs take from the city config (``orchestration:`` and ``spark:`` sections).

Reads the city YAML (``GEOPULSE_CITY`` or Almaty) and a few environment variables; no Airflow
Variables, no database. ``GEOPULSE_DAGS_START`` / ``GEOPULSE_DAGS_END`` override the catch-up
window and ``GEOPULSE_DAGS_START_<FEED>`` one feed's first day (``make airflow`` sets them from
the demo city's deliveries); ``GEOPULSE_SPARK_CONN_ID``
overrides ``spark.connection_id``.
"""

import os
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property

import pendulum

from jobs.common.config import load_city


@dataclass(frozen=True)
class DagSettings:
    cfg: dict

    @cached_property
    def orch(self) -> dict:
        return self.cfg.get("orchestration") or {}

    @property
    def city(self) -> str:
        return self.cfg["city"]["name"]

    @property
    def timezone(self) -> str:
        return self.cfg["city"]["timezone"]

    def _day(self, env: str, key: str) -> pendulum.DateTime | None:
        text = os.environ.get(env) or self.orch.get(key)
        return None if not text else pendulum.parse(str(text), tz=self.timezone).start_of("day")

    @property
    def start_date(self) -> pendulum.DateTime:
        return self._day("GEOPULSE_DAGS_START", "start_date") or pendulum.datetime(2020, 1, 1, tz=self.timezone)

    def feed_start(self, feed: str) -> pendulum.DateTime:
        """A feed's first scheduled day: ``GEOPULSE_DAGS_START_<FEED>``, else its
        ``orchestration.feeds.<feed>.start_date`` (a feed onboarded later), else the global one."""
        own = os.environ.get(f"GEOPULSE_DAGS_START_{feed.upper()}") or (self.feeds.get(feed) or {}).get("start_date")
        return max(self.start_date, pendulum.parse(str(own), tz=self.timezone).start_of("day")) if own else self.start_date

    @property
    def end_date(self) -> pendulum.DateTime | None:
        """The start of the last scheduled day: Airflow schedules a run while its data interval
        starts on or before ``end_date``, so the run for that day is the last one."""
        return self._day("GEOPULSE_DAGS_END", "end_date")

    @property
    def lake_pool(self) -> str:
        """The Airflow pool of the tasks that rewrite or read the lake as a whole (geography,
        aggregates, monthly residents, analytics marts, publication). One slot serialises them, so
        a table is never read while another run rewrites it. ``GEOPULSE_LAKE_POOL`` or
        ``orchestration.lake_pool``; unset: Airflow's ``default_pool`` (no serialisation)."""
        return os.environ.get("GEOPULSE_LAKE_POOL") or self.orch.get("lake_pool") or "default_pool"

    @property
    def daily_cron(self) -> str:
        return self.orch.get("daily_cron", "0 0 * * *")

    @property
    def monthly_cron(self) -> str:
        return self.orch.get("monthly_cron", "0 3 1 * *")

    @property
    def feeds(self) -> dict[str, dict]:
        return dict(self.orch.get("feeds") or {})

    def cadence(self, feed: str) -> str:
        return (self.feeds.get(feed) or {}).get("cadence", "daily")

    @property
    def aggregate_on(self) -> list[str]:
        return list(self.orch.get("aggregate_on") or [])

    @property
    def sensor(self) -> dict:
        return {"poke_minutes": 10, "timeout_hours": 18, "settle_seconds": 120} | dict(self.orch.get("sensor") or {})

    def timeout(self, kind: str) -> timedelta:
        return timedelta(minutes=(self.orch.get("timeout_minutes") or {}).get(kind, 60))

    @property
    def spark_conn_id(self) -> str | None:
        return os.environ.get("GEOPULSE_SPARK_CONN_ID") or (self.cfg.get("spark") or {}).get("connection_id")

    def default_args(self) -> dict:
        from geopulse_dags.callbacks import on_failure

        return {
            "owner": self.orch.get("owner", "geopulse-data-eng"),
            "retries": int(self.orch.get("retries", 3)),
            "retry_delay": timedelta(minutes=self.orch.get("retry_delay_minutes", 5)),
            "retry_exponential_backoff": 2.0,
            "max_retry_delay": timedelta(minutes=self.orch.get("max_retry_delay_minutes", 60)),
            "execution_timeout": self.timeout("default"),
            "on_failure_callback": on_failure,
            "depends_on_past": False,
            # A task's priority is the number of tasks before it: a catch-up finishes the days it
            # has begun (gate, aggregate) before it starts staging more of them.
            "weight_rule": "upstream",
        }

    def daily_timetable(self):
        from airflow.sdk import CronDataIntervalTimetable

        return CronDataIntervalTimetable(self.daily_cron, timezone=self.timezone)

    def monthly_timetable(self):
        from airflow.sdk import CronDataIntervalTimetable

        return CronDataIntervalTimetable(self.monthly_cron, timezone=self.timezone)


def settings() -> DagSettings:
    return DagSettings(load_city())
