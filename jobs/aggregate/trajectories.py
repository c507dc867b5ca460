"""private_trajectories__subscriber_day: one row per subscriber and day, the daily movement of
each subscriber as the network saw it. Subscriber-level: stays under ``private/``, never published.

Reads located events (``jobs.aggregate.located_events``, partitioned by subscriber) and the
location dimension (``jobs.aggregate.cell_locations.location_dim``). Grain: (ds, operator,
subscriber_key). The figures come from one vectorised pass per partition
(``jobs.aggregate.subscriber_pass``): the events of a subscriber-day are sorted once by time (then
loc_id) and every definition below is computed on that order.

Definitions (the field's standard ones, DESIGN.md section 5; the rules and why in
``jobs.aggregate.stays``):
- the located events of a subscriber-day in time order, in areas (cells at the map resolution,
  ``trip_res``). One-event handover oscillations (A -> B -> A: a subscriber at rest served now
  and then by the second-best cell) are left out; what remains are the day's *moves*.
  ``max_oscillation_minutes`` can limit the oscillation rules to short excursions.
- *stays*: the moves without ping-pong runs (a longer run on the same day's oscillation partner
  of the area around it) and without pass-by runs (under ``stays.MIN_STAY_MINUTES`` and on the
  way between the runs before and after it: events on the move while crossing an area). A
  *trip* is a change of area between consecutive stays, a *district trip* a change of district
  (the origin and destination districts feed the OD table). On the synthetic city's dense
  records this gives trips per person within about 10 % of the true count of changes of area
  between stays. Counting every change of area between events instead triples them: every area
  a journey crosses would count.
- radius of gyration: root-mean-square distance of the moves from their centroid (km);
  km travelled: summed distance between consecutive moves (cell centres);
- stay-put: located, and no trip that day;
- night cell: location of the last event in the night hours (``timeline.night_hours``);
  day cell: modal location in the work hours (``timeline.work_hours``) of a working day;
  modal cell: the day's most frequent location (ties: the latest) — the inputs of home and
  work detection.
Subscribers whose events of the day are all unlocated get a row with located_events = 0 and
null locations (they are counted, never dropped).
"""

from pyspark.sql import DataFrame

from jobs.aggregate import subscriber_pass

KEY = subscriber_pass.KEY
MAX_OSCILLATION_MINUTES = None     # any gap
COLUMNS = [*KEY, "events", "located_events", "distinct_h3_cells", "trips", "district_trips",
           "radius_gyration_km", "km_travelled", "stay_put", "first_h3_cell", "last_h3_cell",
           "night_h3_cell", "day_h3_cell", "modal_h3_cell", "main_district"]


def summaries(located: DataFrame, dim: DataFrame, trip_res: int, working_days: list,
              night_hours: tuple[int, int], work_hours: tuple[int, int],
              max_oscillation_minutes: int | None = MAX_OSCILLATION_MINUTES) -> DataFrame:
    """Located events (all of them, unlocated included; partitioned by subscriber) -> one row per
    subscriber-day: the trajectory columns plus the day's district trips (``od_origins``,
    ``od_destinations``, in time order)."""
    return subscriber_pass.day_summaries(located, dim, trip_res, working_days, night_hours, work_hours,
                                         max_oscillation_minutes)


def subscriber_days(day_summaries: DataFrame) -> DataFrame:
    """``summaries`` rows -> private_trajectories rows."""
    return day_summaries.select(*COLUMNS)


def district_trips(day_summaries: DataFrame) -> DataFrame:
    """``summaries`` rows -> one row per district trip: ds, operator, subscriber_key,
    origin_district, destination_district."""
    return subscriber_pass.od_trips(day_summaries)
