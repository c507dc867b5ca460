"""private_trajectories__subscriber_day: one row per subscriber and day, the daily movement of
each subscriber as the network saw it. Subscriber-level: stays under ``private/``, never published.

Reads located events (``jobs.aggregate.located_events``, partitioned by subscriber) and the
location dimension (``jobs.aggregate.cell_locations.location_dim``). Grain: (ds, operator,
subscriber_key). The figures come from one vectorised pass per partition
(``jobs.aggregate.subscriber_pass``): the events of a subscriber-day are sorted once by time (then
loc_id) and every definition below is computed on that order.

Definitions (the field's standard ones, DESIGN.md section 5):
- the located events of a subscriber-day in time order form a sequence of areas (cells at the
  map resolution, ``trip_res``); a *trip* is a change of area between consecutive located
  events, a *district trip* a change of district. A single event in another area between two
  events in the same area (A -> B -> A) is read as a handover oscillation between neighbouring
  cells (a subscriber at rest is served now and then by the second-best cell) and left out of
  the sequence, not counted as two trips; ``max_oscillation_minutes`` can limit the rule to
  short excursions. On the synthetic city this brings trips per person within a few percent
  of the true count; without it, oscillations double the trips of people at rest.
- radius of gyration: root-mean-square distance of the located events from their centroid (km);
  km travelled: summed distance between consecutive locations (cell centres);
- stay-put: the day's located events in a single area, up to handover noise: oscillations left
  out, a first or last event in another area than its neighbour left out, and at most
  ``STAY_PUT_TOLERANCE`` (10 %) of the rest elsewhere (two consecutive events on the second-best
  cell happen to people at rest all day long with dense records);
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
STAY_PUT_TOLERANCE = subscriber_pass.STAY_PUT_TOLERANCE
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
