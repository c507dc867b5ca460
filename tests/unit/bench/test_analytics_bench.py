"""make bench BENCH=analytics: the whole analytics stage, in a fresh process, over a lake with
aggregates, without touching that lake."""

import json

import pytest

from jobs.analytics.run import parse_log
from jobs.bench import analytics as ab
from jobs.common.cli import main


def test_days_come_from_the_lake_or_a_clear_error(tmp_path):
    with pytest.raises(ab.BenchInputError, match="no agg_morbidity__district_day partitions under .*`make run`"):
        ab.lake_days(tmp_path)
    for day in ("2020-03-17", "2020-03-16"):
        (tmp_path / ab.DAYS_FROM / f"ds={day}").mkdir(parents=True)
    assert [d.isoformat() for d in ab.lake_days(tmp_path)] == ["2020-03-16", "2020-03-17"]


def test_module_lines_are_parsed():
    out = ("[analytics] indicators: 1200 rows in 14 s\nnoise\n[analytics] leadlag: 0 rows in 3 s\n"
           "Analytics as of 2020-03-19:\n")
    assert parse_log(out) == {"indicators": {"rows": 1200, "seconds": 14.0},
                              "leadlag": {"rows": 0, "seconds": 3.0}}


def test_scratch_lake_links_inputs_and_leaves_outputs_out(tmp_path):
    src = tmp_path / "lake"
    for name in ("agg_morbidity__district_day", "mart_leadlag", "private", "geo_h3_cells"):
        (src / name).mkdir(parents=True)
    scratch = ab.scratch_lake(src, tmp_path / "scratch")
    assert sorted(p.name for p in scratch.iterdir()) == ["agg_morbidity__district_day", "geo_h3_cells"]
    assert all(p.is_symlink() and p.resolve().parent == src.resolve() for p in scratch.iterdir())


def test_bench_runs_the_stage_over_the_small_city(aggregated_city, tmp_path):
    lake = aggregated_city.paths.lake
    before = sorted(p.name for p in lake.iterdir())
    result = ab.bench_analytics(aggregated_city.paths, repeats=1, workdir=tmp_path, log=lambda _: None)
    assert sorted(p.name for p in lake.iterdir()) == before          # the source lake is untouched
    assert result["days"] == len(aggregated_city.days) == 4
    assert result["first_day"] == aggregated_city.days[0].isoformat()
    assert set(result["median_module_s"]) == {"indicators", "leadlag", "forecast_job", "impact", "alerts"}
    # indicators: every district and the city, every day (4 days are too few for lead/lag or forecasts)
    assert result["rows"]["indicators"] > 9 * 4
    assert result["median_wall_s"] >= sum(result["median_module_s"].values())
    path = ab.write_results(tmp_path / "out", result, {"cpus": 2})
    doc = json.loads(path.read_text())
    assert doc["benchmark"] == "analytics_stage" and doc["results"][0]["median_wall_s"] == result["median_wall_s"]


def test_cli_names_the_missing_lake(tmp_path, monkeypatch):
    monkeypatch.setenv("GEOPULSE_LAKE", str(tmp_path / "empty"))
    monkeypatch.setenv("GEOPULSE_BENCH", str(tmp_path / "bench"))
    with pytest.raises(SystemExit, match=r"no agg_morbidity__district_day partitions under .*empty"):
        main(["bench", "--bench", "analytics", "--repeats", "1"])
    assert not (tmp_path / "bench" / "analytics.json").exists()
