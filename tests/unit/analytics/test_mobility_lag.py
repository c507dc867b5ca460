"""The manifest's mobility lag (city trips per person answering the published new cases), found
by the real pipeline and lead/lag job on the autumn city: the stretch without restrictions after
the second quarantine (2020-08-03 .. 2020-10-26), where mobility answers cases through the
residents' voluntary response alone. The year city's operator feeds cover the lockdown instead,
so its lead/lag test checks every other manifest lag."""

from datetime import date
from types import SimpleNamespace

import duckdb
import numpy as np
import pytest

from jobs.analytics import indicators, leadlag
from jobs.common.lake import table_path

pytestmark = pytest.mark.heavy          # a city of its own through the Spark jobs (~5 min on 2 cores)

# Health feeds from a week before the window (7-day means), operator feeds over the window. Only
# reported cases and trips matter here: ambulance and pharmacy volumes at 2 % (health_scale scales
# them, not the epidemic or the case counts).
AUTUMN_CITY = dict(start="2020-07-27", days=92, subscribers=800, events_per_day=40, seed=7, dirt=0.0,
                   health_scale=0.02, operator_start="2020-08-03", operator_days=85)
TRIPS, CASES = "mobility_trips_per_person", "morbidity_new_cases"


def mobility_pair_only(cfg: dict) -> dict:
    """The city config with the lead/lag job set to the one pair under test, at city level."""
    lagcorr = cfg["analytics"]["lagcorr"] | {"levels": ["city"], "pairs": [{"x": TRIPS, "y": CASES}]}
    return cfg | {"analytics": cfg["analytics"] | {"lagcorr": lagcorr}}


@pytest.fixture(scope="module")
def autumn_city(spark, city_cfg, tmp_path_factory):
    from jobs.aggregate import morbidity_district, operator_daily
    from jobs.common.config import Paths
    from jobs.pipeline import run_pipeline
    from jobs.simulate.city import run_simulation
    from jobs.simulate.context import SimParams

    root = tmp_path_factory.mktemp("autumn_city")
    params = SimParams(**(AUTUMN_CITY | {k: date.fromisoformat(AUTUMN_CITY[k]) for k in ("start", "operator_start")}))
    manifest = run_simulation(params, root / "landing").manifest
    paths = Paths(data=root, landing=root / "landing", lake=root / "lake",
                  serving_db=root / "serving" / "geopulse.duckdb", bench=root / "bench")
    run_pipeline(spark, city_cfg, paths, stages=("ingest", "geo"), log=lambda _: None)
    days = params.all_days()
    morbidity_district.run(spark, city_cfg, paths, days)          # the aggregates the pair reads
    operator_daily.run(spark, city_cfg, paths, params.operator_days_list())
    indicators.run(spark, city_cfg, paths, days)
    leadlag.run(spark, mobility_pair_only(city_cfg), paths, days[-1])
    path = table_path(leadlag.SUMMARY, paths) / f"ds={days[-1].isoformat()}"
    summary = duckdb.connect().execute(f"select * from read_parquet('{path}/*.parquet')").df()
    return SimpleNamespace(manifest=manifest, summary=summary)


def test_the_truth_is_defined_on_the_operator_window(autumn_city):
    truth = autumn_city.manifest["ground_truth"]["lags"]["mobility_trips_per_person"]["vs_reported_cases"]
    assert truth["window"] == ["2020-08-03", "2020-10-26"]
    assert truth["lag_days"] == truth["designed_response_lag_days"] == -4      # the news takes 4 days
    assert truth["r"] < -0.8 and not truth["edge"]


def test_manifest_mobility_lag_recovered(autumn_city):
    """Trips per person vs reported cases (city, full window, levels, Pearson): the manifest's lag
    within +-1 day, negative (cases lead), with a negative r, not at the window edge."""
    truth = autumn_city.manifest["ground_truth"]["lags"]["mobility_trips_per_person"]["vs_reported_cases"]
    s = autumn_city.summary
    got = s[(s["window_kind"] == "full") & (s["geo_level"] == "city") & (s["series_transform"] == "level")
            & (s["method"] == "pearson") & (s["x_indicator"] == TRIPS) & (s["y_indicator"] == CASES)]
    assert len(got) == 1, got
    got = got.iloc[0]
    print(f"mobility vs cases: best lag {got['best_lag_days']} r {got['r']:.3f} "
          f"[{got['ci_low']:.3f}, {got['ci_high']:.3f}]; truth {truth['lag_days']} r {truth['r']}")
    assert abs(int(got["best_lag_days"]) - truth["lag_days"]) <= 1
    assert np.sign(got["best_lag_days"]) == np.sign(truth["lag_days"]) == -1
    assert got["r"] < 0 and not got["at_window_edge"]
