"""The residents_monthly sensor's verdict, from partition folders of a lake."""

from dataclasses import replace
from datetime import date

from jobs.aggregate.month_ready import month_state
from jobs.common.config import Paths
from jobs.common.lake import table_path


def _partition(paths: Paths, table: str, day: date, operator: str | None = None) -> None:
    folder = table_path(table, paths) / f"ds={day.isoformat()}"
    folder = folder / f"operator={operator}" if operator else folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "part-0.parquet").write_bytes(b"PAR1")


def test_a_month_waits_for_its_staged_days_to_be_aggregated(tmp_path):
    paths = replace(Paths.from_env(), lake=tmp_path / "lake")
    march = date(2020, 3, 1)
    state = month_state(paths, march)
    assert not state.ready and "no operator day" in state.describe()
    for d in (16, 17, 18):
        _partition(paths, "stg_operator__events", date(2020, 3, d), "kcell")
    _partition(paths, "stg_operator__events", date(2020, 4, 1), "kcell")        # another month
    _partition(paths, "private_trajectories__subscriber_day", date(2020, 3, 16))
    state = month_state(paths, date(2020, 3, 20))                                  # any day names its month
    assert state.month == march and not state.ready
    assert state.pending == [date(2020, 3, 17), date(2020, 3, 18)]
    assert "2 staged day(s) not aggregated yet (2020-03-17..2020-03-18)" in state.describe()
    for d in (17, 18):
        _partition(paths, "private_trajectories__subscriber_day", date(2020, 3, d))
    state = month_state(paths, march)
    assert state.ready and state.describe() == "2020-03: ready (3 aggregated days, last 2020-03-18)"
    (table_path("stg_operator__events", paths) / "ds=2020-03-19").mkdir()          # empty: still writing
    assert month_state(paths, march).ready
