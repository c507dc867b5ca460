"""Operator event ingest on the small dirty city, checked against the delivered files and the
manifest: every row accounted for, staged events equal the truth, rejected files, late files,
keys, row numbers, time zones, idempotent reruns, and a range run equal to the day-by-day runs."""

import gzip
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
import shutil
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import date, datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F

from jobs.common.lake import read_table
from jobs.ingest import beeline, framework, kcell, tele2
from jobs.ingest.framework import Delivery, IngestError, covered_day, ingest_delivery_day, landing_deliveries
from jobs.ingest.operators import key_to_int64
from jobs.ingest.rowstage import read_lines
from jobs.ingest.run import ADAPTERS, IngestRunError, run, run_range
from jobs.simulate import keys

FEEDS = {"operator_kcell": "401-02", "operator_beeline": "401-01", "operator_tele2": "401-77"}
ALMATY = ZoneInfo("Asia/Almaty")


# ---------------------------------------------------------------- helpers
def delivered_rows(path: Path) -> list:
    """The data rows of a delivered file, parsed in Python (the test's own reading)."""
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pylist()
    with (gzip.open if path.suffix == ".gz" else open)(path, "rt", encoding="utf-8") as fh:
        return fh.read().splitlines()[1:]


def expected_event(feed: str, row) -> tuple:
    """(key as int64, epoch ms, cgi, event type) of a delivered row, computed in Python."""
    if feed == "operator_beeline":
        ms = int(row["event_ts_utc"].timestamp() * 1000)
        return keys.key_to_int64(row["subscriber_id"]), ms, f"401-01-{row['tac']}-{row['eci']}", row["event_type"]
    if feed == "operator_kcell":
        key, t, lac, ci, et = row.split(";")
        local = datetime.strptime(t, "%d.%m.%Y %H:%M:%S").replace(tzinfo=ALMATY)
        kind = {"VOICE": "voice", "SMS": "sms", "DATA": "data", "HO": "handover"}[et]
        return keys.key_to_int64(key), int(local.timestamp() * 1000), f"401-02-{lac}-{ci}", kind
    key, ms, cgi, et = row.split(",")
    return keys.key_to_int64(key), int(ms), cgi, {"1": "voice", "2": "sms", "3": "data", "4": "handover"}[et]


def dirt_by_file(manifest: dict) -> dict[str, dict[str, int]]:
    out: dict = defaultdict(lambda: defaultdict(int))
    for e in manifest["dirt"]:
        out[e["file"]][e["kind"]] += e["rows"]
    return out


def dq(spark, paths, feed: str) -> dict:
    rows = read_table(spark, "dq_results", paths).where(F.col("feed_or_table") == feed).collect()
    out: dict = defaultdict(dict)
    for r in rows:
        out[r.ds][r.check_name] = r.value
    return out


def staged_rows(spark, paths, operator: str) -> list[tuple]:
    return sorted(tuple(r) for r in read_table(spark, "stg_operator__events", paths)
                  .where(F.col("operator") == operator).collect())


# ---------------------------------------------------------------- the city, ingested once
@pytest.fixture(scope="module")
def ingested(spark, city_cfg, lake_paths, delivery_days):
    """Every delivery day of each feed through ``run``, one thread per feed (feeds are
    independent; each feed's days run in order): errors by (delivery day, feed), and each
    operator's staged counts by covered day after every delivery day."""
    def one_feed(feed: str) -> tuple[dict, dict]:
        errors, counts = {}, {}
        for ds in delivery_days:
            try:
                run(spark, city_cfg, ds, lake_paths, [feed])
            except IngestRunError as exc:
                errors[(ds, feed)] = exc.errors[feed]
            if feed in FEEDS:
                events = (read_table(spark, "stg_operator__events", lake_paths)
                          .where(F.col("operator") == FEEDS[feed]).groupBy("operator", "ds").count())
                counts[ds] = {(r.operator, r.ds): r["count"] for r in events.collect()}
        return errors, counts

    errors, counts = {}, defaultdict(dict)
    with ThreadPoolExecutor(max_workers=4) as pool:
        for e, c in pool.map(one_feed, ["cell_reference", *FEEDS]):
            errors.update(e)
            for ds, n in c.items():
                counts[ds].update(n)
    return errors, dict(counts)


def test_every_file_is_accounted_for_as_the_manifest_says(spark, small_city, lake_paths, ingested):
    landing, manifest, _ = small_city
    dirt = dirt_by_file(manifest)
    staged = Counter(r.source_file for r in read_table(spark, "stg_operator__events", lake_paths)
                     .select("source_file").collect())
    quarantined = defaultdict(list)
    for r in read_table(spark, "quarantine", lake_paths).where(F.col("feed").isin(list(FEEDS))).collect():
        quarantined[r.source_file].append((r.source_row, r.reason_code, r.raw_record))
    checked = 0
    for feed in FEEDS:
        for rel in manifest["feeds"][feed]["paths"]:
            received, d, q = len(delivered_rows(landing / rel)), dirt[rel], quarantined[rel]
            if d["raw_identifier_file"]:
                assert staged[rel] == 0 and q == [(0, "raw_identifier", None)], rel
                continue
            assert len(q) == d["malformed_rows"], rel
            assert received - staged[rel] - len(q) == d["duplicate_rows"], rel
            checked += 1
    assert checked >= 12


def test_dq_balances_every_operator_day(spark, small_city, lake_paths, ingested):
    landing, manifest, _ = small_city
    dirt = dirt_by_file(manifest)
    for feed, mcc in FEEDS.items():
        by_day = dq(spark, lake_paths, feed)
        truth = manifest["truth"][feed]["events_by_day"]
        assert sorted(by_day) == sorted(date.fromisoformat(d) for d in truth)
        for day, checks in by_day.items():
            files = [rel for rel in manifest["feeds"][feed]["paths"] if covered_day(feed, Path(rel).name) == day]
            assert checks["rows_unaccounted"] == 0, (feed, day)
            assert checks["rows_received"] == sum(len(delivered_rows(landing / f)) for f in files)
            assert checks["duplicates"] == sum(dirt[f]["duplicate_rows"] for f in files)
            assert checks["quarantined_raw_identifier"] == sum(dirt[f]["raw_identifier_file"] for f in files)
            assert checks["rows_quarantined"] == checks["quarantined_raw_identifier"] + sum(
                dirt[f]["malformed_rows"] for f in files)
            assert checks["rows_staged"] == truth[day.isoformat()]
            assert checks["files"] == len(files)
            assert checks["late_rows"] == sum(dirt[f]["late_file"] for f in files)
            assert checks["distinct_subscribers"] > 0 and checks["distinct_cells"] > 0
            start = datetime.combine(day, datetime.min.time(), ALMATY).timestamp()
            assert start <= checks["event_time_min_epoch_s"] <= checks["event_time_max_epoch_s"] < start + 86400


def test_staged_events_equal_the_truth_and_late_days_complete_with_their_late_file(small_city, ingested):
    manifest = small_city[1]
    _, counts = ingested
    final = counts[max(counts)]
    for feed, mcc in FEEDS.items():
        for day, n in manifest["truth"][feed]["events_by_day"].items():
            assert final[(mcc, date.fromisoformat(day))] == n, (feed, day)
    late = [e for e in manifest["dirt"] if e["kind"] == "late_file" and e["feed"] in FEEDS]
    assert {e["feed"] for e in late} == set(FEEDS)
    for e in late:
        mcc, day, arrives = FEEDS[e["feed"]], date.fromisoformat(e["day"]), date.fromisoformat(e["detail"]["delivered"])
        truth = manifest["truth"][e["feed"]]["events_by_day"][e["day"]]
        assert all(counts[ds].get((mcc, day), 0) < truth for ds in counts if day <= ds < arrives)
        assert counts[arrives][(mcc, day)] == truth


def test_late_files_request_a_recompute_of_their_day(spark, small_city, lake_paths, ingested):
    requests = {(r.feed, r.ds): r for r in read_table(spark, "ops_recompute_requests", lake_paths).collect()}
    for e in [e for e in small_city[1]["dirt"] if e["kind"] == "late_file" and e["feed"] in FEEDS]:
        r = requests[(e["feed"], date.fromisoformat(e["day"]))]
        assert r.delivered_ds == date.fromisoformat(e["detail"]["delivered"]) and r.reason == "late_file"
        assert e["file"] in r.files.split(",")


def test_raw_identifier_files_are_rejected_whole_and_the_run_fails_naming_them(small_city, ingested):
    errors, _ = ingested
    raw = [e for e in small_city[1]["dirt"] if e["kind"] == "raw_identifier_file" and e["feed"] in FEEDS]
    assert {e["feed"] for e in raw} == set(FEEDS)
    arrival = {e["file"]: date.fromisoformat(e["file"].split("/dt=")[1][:10]) for e in raw}
    assert set(errors) == {(arrival[e["file"]], e["feed"]) for e in raw}
    for e in raw:
        err = errors[(arrival[e["file"]], e["feed"])]
        assert isinstance(err, IngestError)
        assert e["file"] in str(err) and "[raw_identifier]" in str(err) and "not a raw MSISDN or IMSI" in str(err)
        assert [r.delivery.rel for r in err.rejected] == [e["file"]]


def test_keys_times_cells_and_row_numbers_match_the_delivered_rows(spark, small_city, lake_paths, ingested):
    landing = small_city[0]
    staged = (read_table(spark, "stg_operator__events", lake_paths)
              .select("source_file", "source_row", "subscriber_key", F.unix_millis("event_ts_utc").alias("ms"),
                      "cgi", "event_type").collect())
    files: dict = {}
    for r in staged:
        feed = r.source_file.split("/")[0]
        if r.source_file not in files:
            files[r.source_file] = delivered_rows(landing / r.source_file)
        rows = files[r.source_file]
        assert (r.subscriber_key, r.ms, r.cgi, r.event_type) == expected_event(feed, rows[r.source_row - 1]), r
    assert len(staged) > 60_000


def test_renamed_and_moved_cells_keep_their_delivered_cgi_on_each_side_of_the_change(spark, small_city, lake_paths,
                                                                                    ingested):
    landing, manifest, _ = small_city
    changes = manifest["ground_truth"]["network_changes"]
    renamed, moved = changes["renamed_cell"], changes["moved_cell"]
    watched = [renamed["cgi_old"], renamed["cgi_new"], *moved["cgis"]]
    staged = Counter((r.cgi, r.ds) for r in read_table(spark, "stg_operator__events", lake_paths)
                     .where(F.col("cgi").isin(watched)).select("cgi", "ds").collect())
    delivered = Counter()
    for feed in ("operator_kcell", "operator_beeline"):
        for rel in manifest["feeds"][feed]["paths"]:
            if rel in {e["file"] for e in manifest["dirt"] if e["kind"] == "raw_identifier_file"}:
                continue
            day = covered_day(feed, Path(rel).name)
            seen = {}                                           # exact duplicates count once
            for row in delivered_rows(landing / rel):
                try:
                    cgi = expected_event(feed, row)[2]
                except (KeyError, ValueError, AttributeError):
                    continue                                    # malformed rows are quarantined
                seen[row if isinstance(row, str) else tuple(row.values())] = cgi
            delivered.update((cgi, day) for cgi in seen.values() if cgi in watched)
    assert staged == delivered
    change = date.fromisoformat(renamed["day"])
    assert all(day < change for cgi, day in staged if cgi == renamed["cgi_old"])
    assert all(day >= change for cgi, day in staged if cgi == renamed["cgi_new"])
    move = date.fromisoformat(moved["day"])
    days = {day for cgi, day in staged if cgi in moved["cgis"]}
    assert min(days) < move <= max(days)                        # served on both sides of the move


def test_rerunning_a_delivery_day_gives_identical_tables(spark, small_city, city_cfg, lake_paths, ingested):
    dirt = small_city[1]["dirt"]
    late = {e["detail"]["delivered"] for e in dirt if e["kind"] == "late_file" and e["feed"] == "operator_kcell"}
    raw = {e["file"].split("/dt=")[1][:10] for e in dirt if e["kind"] == "raw_identifier_file"
           and e["feed"] == "operator_kcell"}
    day = date.fromisoformat(min(late & raw or late))              # a late file and a rejected file, if any
    tables = lambda: [sorted(tuple(r) for r in read_table(spark, t, lake_paths).collect())  # noqa: E731
                      for t in ("stg_operator__events", "quarantine", "dq_results", "ops_recompute_requests")]
    before = tables()
    with pytest.raises(IngestError, match="operator_kcell") if day.isoformat() in raw else nullcontext():
        run(spark, city_cfg, day, lake_paths, ["operator_kcell"])
    assert tables() == before


def test_a_range_run_gives_the_tables_of_the_day_by_day_runs(spark, small_city, city_cfg, lake_paths, delivery_days,
                                                            ingested, lake_tables, tmp_path, monkeypatch):
    """All delivery days at once, in passes of about two covered days (a late file joins its day's
    pass): the same staged rows, quarantine, dq_results and recompute requests as day by day."""
    monkeypatch.setattr(framework, "PASS_BYTES", 2 * max(f.stat().st_size for f in small_city[0].glob(
        "operator_kcell/*/*.csv.gz")) * framework.COMPRESSION_WEIGHT)
    paths = replace(lake_paths, lake=tmp_path / "lake")
    feeds = ["cell_reference", *FEEDS]
    with pytest.raises(IngestRunError) as exc:
        run_range(spark, city_cfg, delivery_days[0], delivery_days[-1], paths, feeds, workers=2)
    raw = [e["file"] for e in small_city[1]["dirt"] if e["kind"] == "raw_identifier_file" and e["feed"] in FEEDS]
    assert sorted(r.delivery.rel for r in exc.value.rejected) == sorted(raw)
    assert f"delivery days {delivery_days[0]} .. {delivery_days[-1]}" in str(exc.value)
    tables = ("stg_operator__events", "stg_operator__cells", "quarantine", "dq_results", "ops_recompute_requests")
    assert lake_tables(paths, tables, feeds) == lake_tables(lake_paths, tables, feeds)


# ---------------------------------------------------------------- hand-made files
def _gz(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def _delivery(feed: str, root: Path, path: Path, covered: date, delivered: date | None = None) -> Delivery:
    return Delivery(feed, path, str(path.relative_to(root)), delivered or covered, covered)


def test_kcell_local_time_goes_through_the_tz_database(spark, city_cfg, tmp_path):
    """Almaty was UTC+6 until 2024-03-01 and UTC+5 since: no fixed offset can pass both days."""
    header = "MSISDN_HASH;EVENT_TIME;LAC;CELL_ID;EVENT_TYPE"
    cases = {date(2020, 3, 5): ["05.03.2020 12:00:00", "05.03.2020 23:30:00"],
             date(2024, 3, 5): ["05.03.2024 00:30:00", "05.03.2024 12:00:00"]}
    got = {}
    for day, times in cases.items():
        f = _gz(tmp_path / f"operator_kcell/dt={day}/events_401-02_{day:%Y%m%d}_p000.csv.gz",
                [header] + [f"0123456789ABCDEF;{t};10101;12345;HO" for t in times])
        res = kcell.stage(spark, [_delivery("operator_kcell", tmp_path, f, day)], city_cfg, day)
        staged = res.staged["stg_operator__events"]
        rows = staged.select(F.unix_millis("event_ts_utc").alias("ms"), "source_row").collect()
        got.update({(day, r.source_row): datetime.fromtimestamp(r.ms / 1000, timezone.utc) for r in rows})
        assert {c.name: c.value for c in res.checks}["rows_staged"] == 2
        for frame in res.persisted:
            frame.unpersist()
    utc = lambda *a: datetime(*a, tzinfo=timezone.utc)  # noqa: E731
    assert got == {(date(2020, 3, 5), 1): utc(2020, 3, 5, 6, 0), (date(2020, 3, 5), 2): utc(2020, 3, 5, 17, 30),
                   (date(2024, 3, 5), 1): utc(2024, 3, 4, 19, 30), (date(2024, 3, 5), 2): utc(2024, 3, 5, 7, 0)}


def _landing_copy(small_city, tmp_path, feed: str, day: date) -> tuple:
    landing = tmp_path / "landing"
    for d in landing_deliveries(small_city[0], feed, day):
        (landing / d.rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(d.path, landing / d.rel)
    return landing, replace(small_city[2], landing=landing, lake=tmp_path / "lake")


def test_a_truncated_gzip_is_rejected_whole_and_the_rest_staged(spark, city_cfg, small_city, tmp_path):
    day = date(2020, 3, 17)
    landing, paths = _landing_copy(small_city, tmp_path, "operator_kcell", day)
    good = landing / f"operator_kcell/dt={day}/events_401-02_{day:%Y%m%d}_p000.csv.gz"
    cut = good.with_name(good.name.replace("p000", "p007"))
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(IngestError) as exc:
        ingest_delivery_day(spark, "operator_kcell", day, city_cfg, kcell.stage, paths)
    assert "events_401-02_20200317_p007.csv.gz rejected [unreadable_file]" in str(exc.value)
    assert "reads to its end as csv (gzip)" in str(exc.value)
    staged = read_table(spark, "stg_operator__events", paths).groupBy("source_file").count().collect()
    assert [(r.source_file.rsplit("/", 1)[1], r["count"]) for r in staged] == [
        (good.name, small_city[1]["truth"]["operator_kcell"]["events_by_day"][day.isoformat()])]
    q = read_table(spark, "quarantine", paths).where(F.col("source_row") == 0).collect()
    assert [(r.source_file.rsplit("/", 1)[1], r.reason_code) for r in q] == [(cut.name, "unreadable_file")]


def test_wrong_columns_are_rejected_whole(spark, city_cfg, small_city, tmp_path):
    day = date(2020, 3, 18)
    landing, paths = _landing_copy(small_city, tmp_path, "operator_tele2", day)
    csv = landing / f"operator_tele2/dt={day}/t2_cdr_{day:%Y%m%d}_000.csv"
    renamed = csv.with_name(csv.name.replace("_000", "_001"))
    renamed.write_text(csv.read_text().replace("sub_key,ts_ms,cgi,type", "sub_key,ts_ms,cell,type", 1))
    with pytest.raises(IngestError) as exc:
        ingest_delivery_day(spark, "operator_tele2", day, city_cfg, tele2.stage, paths)
    assert (f"{renamed.name} rejected [wrong_columns]: header is sub_key,ts_ms,cgi,type "
            "(found sub_key,ts_ms,cell,type)") in str(exc.value)
    parquet = landing / f"operator_beeline/dt={day}/beeline_events_{day}_part003.parquet"
    parquet.parent.mkdir(parents=True)
    pq.write_table(pa.table({"subscriber_id": ["a" * 64], "event_ts_utc": pa.array([0], pa.timestamp("ms", "UTC")),
                             "tac": pa.array([1], pa.int32()), "eci": ["1"], "event_type": ["voice"]}), parquet)
    res = beeline.stage(spark, [_delivery("operator_beeline", landing, parquet, day)], city_cfg, day)
    assert [(r.reason_code, r.rule, r.detail) for r in res.rejected] == [
        ("wrong_columns", "column eci is bigint", "found string")]
    assert {c.name: c.value for c in res.checks}["files_rejected"] == 1


def test_row_numbers_stay_exact_when_a_file_is_read_in_splits(spark, city_cfg, small_city):
    day = date(2020, 3, 18)
    deliveries = landing_deliveries(small_city[0], "operator_tele2", day)
    whole = tele2.stage(spark, deliveries, city_cfg, day)
    expect = sorted(tuple(r) for r in whole.staged["stg_operator__events"].collect())
    split = None
    spark.conf.set("spark.sql.files.maxPartitionBytes", "16k")
    try:
        assert read_lines(spark, [deliveries[0].path]).select("_block").distinct().count() > 3
        split = tele2.stage(spark, deliveries, city_cfg, day)
        assert sorted(tuple(r) for r in split.staged["stg_operator__events"].collect()) == expect
        rejects = [sorted(tuple(r) for r in res.quarantine.collect()) for res in (split, whole)]
        assert rejects[0] == rejects[1]
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")
        for frame in whole.persisted + (split.persisted if split else []):
            frame.unpersist()


def test_key_conversion_matches_the_reference(spark):
    samples = ["0000000000000000", "7FFFFFFFFFFFFFFF", "8000000000000000", "FFFFFFFFFFFFFFFF", "861128A8074FED70",
               "e463519ad4397c1c", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"]
    got = spark.createDataFrame([(k,) for k in samples], "k string").select("k", key_to_int64(F.col("k")).alias("v"))
    assert {r.k: r.v for r in got.collect()} == {k: keys.key_to_int64(k) for k in samples}


def test_a_missing_adapter_fails_only_its_feed(spark, city_cfg, small_city, tmp_path, monkeypatch):
    day = date(2020, 3, 18)
    _, paths = _landing_copy(small_city, tmp_path, "operator_tele2", day)
    (paths.landing / "operator_kcell" / f"dt={day}").mkdir(parents=True)
    (paths.landing / "operator_kcell" / f"dt={day}" / "events_401-02_20200318_p000.csv.gz").write_bytes(b"")
    monkeypatch.setitem(ADAPTERS, "operator_kcell", "jobs.ingest.no_such_adapter:stage")
    with pytest.raises(IngestRunError) as exc:
        run(spark, city_cfg, day, paths, ["operator_kcell", "operator_tele2"], workers=2)
    assert set(exc.value.errors) == {"operator_kcell"}
    assert isinstance(exc.value.errors["operator_kcell"], ModuleNotFoundError)
    assert "operator_kcell: ModuleNotFoundError" in str(exc.value)
    staged = read_table(spark, "stg_operator__events", paths).count()
    assert staged == small_city[1]["truth"]["operator_tele2"]["events_by_day"][day.isoformat()]
