"""Operator event feeds end to end on a small city: formats, cells, homes, dirt, truth, determinism."""

import gzip
import hashlib
import re
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.simulate.context import SimContext, SimParams
from jobs.simulate.events import local_midnight_utc_ms, local_time_strings
from jobs.simulate.operators import generate_operators

TZ = "Asia/Almaty"
START = date(2020, 2, 28)          # Fri .. Tue: a weekend and a month boundary
KCELL_TIME = re.compile(r"(\d{2})\.(\d{2})\.(\d{4}) (\d{2}):(\d{2}):(\d{2})")
DAY_IN_NAME = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})")


def run(cfg, landing: Path, **kw):
    params = dict(start=START, days=5, subscribers=3000, events_per_day=40, seed=7, dirt=0.02,
                  chunk_subscribers=1000)
    params.update(kw)
    part_rows = params.pop("part_rows", 30_000)
    ctx = SimContext(cfg, SimParams(**params), landing, salt="test-salt")
    ticks = []
    results = generate_operators(ctx, progress=ticks.append, part_rows=part_rows)
    return ctx, {r.feed: r for r in results}, ticks


@pytest.fixture(scope="module")
def city(city_cfg, tmp_path_factory):
    return run(city_cfg, tmp_path_factory.mktemp("landing"))


def file_day(rel: str) -> date:
    y, m, d = DAY_IN_NAME.search(Path(rel).name).groups()
    return date(int(y), int(m), int(d))


def parse_kcell(path: Path) -> tuple[pd.DataFrame, int, str]:
    text = gzip.decompress(path.read_bytes()).decode("utf-8")
    header, *lines = text.splitlines()
    rows, bad = [], 0
    for line in lines:
        f = line.split(";")
        ok = (len(f) == 5 and re.fullmatch(r"[0-9A-F]{16}|\d{11}", f[0]) and KCELL_TIME.fullmatch(f[1])
              and f[2].isdigit() and f[3].isdigit() and f[4] in ("VOICE", "SMS", "DATA", "HO"))
        if ok:
            try:
                datetime.strptime(f[1], "%d.%m.%Y %H:%M:%S")
            except ValueError:
                ok = False
        if ok:
            rows.append(f)
        else:
            bad += 1
    df = pd.DataFrame(rows, columns=["key", "time", "lac", "ci", "type"])
    df["cgi"] = "401-02-" + df["lac"] + "-" + df["ci"]
    local = pd.to_datetime(df["time"], format="%d.%m.%Y %H:%M:%S")
    df["ts"] = local.dt.tz_localize(TZ, ambiguous="NaT").dt.tz_convert("UTC")
    df["hour"] = local.dt.hour
    return df, bad, header


def parse_tele2(path: Path) -> tuple[pd.DataFrame, int, str]:
    header, *lines = path.read_text(encoding="utf-8").splitlines()
    rows, bad = [], 0
    for line in lines:
        f = line.split(",")
        if (len(f) == 4 and re.fullmatch(r"[0-9a-f]{16}|\d{11}", f[0]) and f[1].isdigit()
                and re.fullmatch(r"401-77-\d+-\d+", f[2]) and f[3] in "1234"):
            rows.append(f)
        else:
            bad += 1
    df = pd.DataFrame(rows, columns=["key", "ts_ms", "cgi", "type"])
    df["ts"] = pd.to_datetime(df["ts_ms"].astype(np.int64), unit="ms", utc=True)
    df["hour"] = df["ts"].dt.tz_convert(TZ).dt.hour
    return df, bad, header


def parse_beeline(path: Path) -> tuple[pd.DataFrame, int, pa.Schema]:
    t = pq.read_table(path)
    df = t.to_pandas()
    bad = df["event_ts_utc"].isna() | df["eci"].isna()
    good = df[~bad].copy()
    good["cgi"] = "401-01-" + good["tac"].astype(np.int64).astype(str) + "-" + good["eci"].astype(np.int64).astype(str)
    good = good.rename(columns={"subscriber_id": "key", "event_ts_utc": "ts", "event_type": "type"})
    good["hour"] = good["ts"].dt.tz_convert(TZ).dt.hour
    return good, int(bad.sum()), t.schema


PARSERS = {"operator_kcell": parse_kcell, "operator_beeline": parse_beeline, "operator_tele2": parse_tele2}


@pytest.fixture(scope="module")
def parsed(city):
    ctx, results, _ = city
    raw = {e.file for e in ctx.dirt_log.entries if e.kind == "raw_identifier_file"}
    out = {}
    for feed, parse in PARSERS.items():
        for rel in results[feed].files:
            df, bad, meta = parse(ctx.landing / rel)
            out[rel] = {"df": df, "bad": bad, "meta": meta, "raw": rel in raw, "day": file_day(rel), "feed": feed}
    return out


def cell_reference(ctx, results) -> dict[str, pd.DataFrame]:
    latest = {}
    for rel in sorted(results["cell_reference"].files):
        latest[Path(rel).name.split("_")[1]] = pd.read_csv(ctx.landing / rel, dtype={"valid_to": str})
    return latest


def test_files_are_named_and_laid_out_as_delivered(city, parsed):
    ctx, results, _ = city
    days = ctx.params.operator_days_list()
    names = {"operator_kcell": r"events_401-02_\d{8}_p\d{3}\.csv\.gz",
             "operator_beeline": r"beeline_events_\d{4}-\d{2}-\d{2}_part\d{3}\.parquet",
             "operator_tele2": r"t2_cdr_\d{8}_\d{3}\.csv"}
    for feed, pattern in names.items():
        files = results[feed].files
        assert all(re.fullmatch(pattern, Path(f).name) and f.startswith(f"{feed}/dt=") for f in files)
        assert {file_day(f) for f in files} == set(days)
        assert len(files) > len(days)                                  # several parts per day
        lines = sum(len(parsed[f]["df"]) + parsed[f]["bad"] for f in files)
        assert results[feed].rows == lines


def test_kcell_is_semicolon_gzip_with_local_time(city, parsed):
    ctx, results, _ = city
    for rel in results["operator_kcell"].files:
        p = parsed[rel]
        raw = (ctx.landing / rel).read_bytes()
        assert raw[:2] == b"\x1f\x8b" and raw[4:8] == b"\0\0\0\0"          # gzip, mtime 0
        assert p["meta"] == "MSISDN_HASH;EVENT_TIME;LAC;CELL_ID;EVENT_TYPE"
        df = p["df"]
        assert (df["time"].str[:10] == f"{p['day']:%d.%m.%Y}").all()
        start = pd.Timestamp(local_midnight_utc_ms(p["day"], TZ), unit="ms", tz="UTC")
        assert df["ts"].between(start, start + pd.Timedelta(days=1), inclusive="left").all()
        assert df["ts"].is_monotonic_increasing                         # sorted by time within a part
        assert set(df["type"]) <= {"VOICE", "SMS", "DATA", "HO"}


def test_beeline_is_parquet_with_utc_milliseconds(city, parsed):
    ctx, results, _ = city
    for rel in results["operator_beeline"].files:
        p = parsed[rel]
        assert p["meta"] == pa.schema([("subscriber_id", pa.string()), ("event_ts_utc", pa.timestamp("ms", tz="UTC")),
                                       ("tac", pa.int32()), ("eci", pa.int64()), ("event_type", pa.string())])
        df = p["df"]
        if p["raw"]:
            assert df["key"].str.fullmatch(r"40101\d{10}").all()
            continue
        assert df["key"].str.fullmatch(r"[0-9a-f]{64}").all()
        assert set(df["type"]) <= {"voice", "sms", "data", "handover"}
        start = pd.Timestamp(local_midnight_utc_ms(p["day"], TZ), unit="ms", tz="UTC")
        assert df["ts"].between(start, start + pd.Timedelta(days=1), inclusive="left").all()
        assert df["ts"].is_monotonic_increasing
        assert (df["ts"].dt.microsecond % 1000 == 0).all() and df["ts"].dt.microsecond.nunique() > 100


def test_tele2_is_csv_with_epoch_millis_and_cgi(city, parsed):
    ctx, results, _ = city
    for rel in results["operator_tele2"].files:
        p = parsed[rel]
        assert p["meta"] == "sub_key,ts_ms,cgi,type"
        df = p["df"]
        pattern = r"\d{11}" if p["raw"] else r"[0-9a-f]{16}"
        assert df["key"].str.fullmatch(pattern).all()
        start = local_midnight_utc_ms(p["day"], TZ)
        assert df["ts_ms"].astype(np.int64).between(start, start + 86_400_000 - 1).all()
        if not p["raw"]:
            assert df["ts_ms"].astype(np.int64).is_monotonic_increasing


def test_local_time_strings_follow_the_tz_database_across_the_2024_offset_change():
    rng = np.random.default_rng(0)
    utc = np.sort(rng.integers(1_500_000_000_000, 1_750_000_000_000, 5000))
    utc = np.r_[utc, 1709229599000, 1709229600000, 1709233200000]    # around 2024-03-01 00:00 (+06 -> +05)
    want = pd.to_datetime(utc, unit="ms", utc=True).tz_convert(TZ).strftime("%d.%m.%Y %H:%M:%S")
    assert local_time_strings(utc, TZ).to_pylist() == list(want)
    assert local_time_strings(np.array([1709229599000]), TZ).to_pylist() == ["29.02.2024 23:59:59"]
    assert local_time_strings(np.array([1709233200000]), TZ).to_pylist() == ["01.03.2024 00:00:00"]


def test_days_after_march_2024_use_utc_plus_5(city_cfg, tmp_path):
    ctx, results, _ = run(city_cfg, tmp_path, start=date(2024, 2, 28), days=4, subscribers=400,
                          events_per_day=10, dirt=0.0)
    for rel in results["operator_kcell"].files:
        day = file_day(rel)
        df, bad, _ = parse_kcell(ctx.landing / rel)
        local = pd.to_datetime(df["time"], format="%d.%m.%Y %H:%M:%S").dt.tz_localize(TZ, ambiguous="NaT")
        # 29.02.2024 23:00-23:59 local happened twice (+06, then +05): the format cannot tell
        assert (local.isna() == ((day == date(2024, 2, 29)) & (df["time"].str[11:13] == "23"))).all()
        assert set(local.dropna().dt.strftime("%z")) == ({"+0500"} if day >= date(2024, 3, 1) else {"+0600"})
        assert bad == 0 and (df["time"].str[:10] == f"{day:%d.%m.%Y}").all()
    mar2 = [r for r in results["operator_tele2"].files if file_day(r) == date(2024, 3, 2)]
    ts = pd.concat([parse_tele2(ctx.landing / r)[0] for r in mar2])["ts"]
    assert ts.min() >= pd.Timestamp("2024-03-01T19:00Z") and ts.max() < pd.Timestamp("2024-03-02T19:00Z")


def test_every_event_cell_is_in_the_cell_reference_valid_that_day(city, parsed):
    ctx, results, _ = city
    refs = cell_reference(ctx, results)
    ops = {"operator_kcell": "kcell", "operator_beeline": "beeline", "operator_tele2": "tele2"}
    for rel, p in parsed.items():
        ref = refs[ops[p["feed"]]]
        d = p["day"].isoformat()
        valid = ref[(ref["valid_from"] <= d) & (ref["valid_to"].isna() | (ref["valid_to"] >= d))]
        assert valid["cgi"].is_unique
        assert set(p["df"]["cgi"]) <= set(valid["cgi"]), rel


def test_renamed_cell_old_cgi_only_before_and_new_only_from_the_change_day(city, parsed):
    ctx, results, _ = city
    ren = results["cell_reference"].truth["renamed_cell"]
    x = date.fromisoformat(ren["day"])
    seen = Counter()
    for p in parsed.values():
        if p["feed"] == "operator_kcell" and not p["raw"]:
            cgis = set(p["df"]["cgi"])
            seen[("old", p["day"] >= x)] += ren["cgi_old"] in cgis
            seen[("new", p["day"] >= x)] += ren["cgi_new"] in cgis
    assert seen[("old", False)] > 0 and seen[("new", True)] > 0
    assert seen[("old", True)] == 0 and seen[("new", False)] == 0
    mv = results["cell_reference"].truth["moved_cell"]
    refs = cell_reference(ctx, results)["beeline"]
    assert (refs["cgi"] == mv["cgis"][0]).sum() == 2


def test_night_events_are_served_near_the_true_home(city, parsed):
    ctx, results, _ = city
    refs = cell_reference(ctx, results)
    ops = {"operator_kcell": "kcell", "operator_beeline": "beeline", "operator_tele2": "tele2"}
    for feed, name in ops.items():
        sample = {s["keys"][m]: s for s in results[feed].truth["sample"] for m in s["keys"]}
        night = pd.concat([p["df"] for p in parsed.values() if p["feed"] == feed and not p["raw"]])
        night = night[(night["hour"] < 6) & night["key"].isin(sample)]
        sites = refs[name].drop_duplicates("cgi", keep="last").set_index("cgi")[["lat", "lon"]]
        near, exact, n = 0, 0, 0
        for key, g in night.groupby("key"):
            if len(g) < 3:
                continue
            s = sample[key]
            modal = g["cgi"].value_counts().index[0]
            lat, lon = sites.loc[modal]
            km = np.hypot((lat - s["home_lat"]) * 110.6, (lon - s["home_lon"]) * 81.2)
            near += km < 2.0
            exact += modal == s["home_cgi"]
            n += 1
        assert n > 50, name
        assert near / n > 0.9, name
        assert exact / n > 0.75, name


def test_dirt_counts_equal_the_log_and_follow_the_rate(city, parsed):
    ctx, results, _ = city
    log = defaultdict(lambda: defaultdict(int))
    for e in ctx.dirt_log.entries:
        log[e.file][e.kind] += e.rows
    total_rows = total_dup = total_bad = 0
    for rel, p in parsed.items():
        if p["raw"]:
            assert log[rel]["raw_identifier_file"] == len(p["df"]) + p["bad"]
            continue
        dup = int(p["df"].duplicated().sum())
        assert dup == log[rel]["duplicate_rows"], rel
        assert p["bad"] == log[rel]["malformed_rows"], rel
        total_rows += len(p["df"])
        total_dup += dup
        total_bad += p["bad"]
    assert 0.012 < total_dup / total_rows < 0.028 and 0.012 < total_bad / total_rows < 0.028
    for feed in PARSERS:
        late = [e for e in ctx.dirt_log.entries if e.kind == "late_file" and e.feed == feed]
        raw = [e for e in ctx.dirt_log.entries if e.kind == "raw_identifier_file" and e.feed == feed]
        assert len(late) == 1 and len(raw) == 1
        day = date.fromisoformat(late[0].day)
        assert late[0].file.startswith(f"{feed}/dt={day + timedelta(days=2)}/") and file_day(late[0].file) == day
        assert late[0].rows == len(parsed[late[0].file]["df"]) + parsed[late[0].file]["bad"]


def test_no_dirt_when_the_rate_is_zero_and_lockdown_shows_in_the_truth(city_cfg, tmp_path):
    # Wed 18 March 2020, then Thu 19 March: the first lockdown day (R1)
    ctx, results, _ = run(city_cfg, tmp_path, start=date(2020, 3, 18), subscribers=3000, days=2,
                          events_per_day=10, dirt=0.0)
    assert {e.kind for e in ctx.dirt_log.entries} <= {"renamed_cell", "moved_cell"}
    for feed, parse in PARSERS.items():
        for rel in results[feed].files:
            assert rel.startswith(f"{feed}/dt={file_day(rel)}/")
            df, bad, _ = parse(ctx.landing / rel)
            assert bad == 0 and not df.duplicated().any()
    truth = results["cell_reference"].truth
    mob = truth["mobility"]
    effects = truth["restriction_effects"]["R1"]["by_district_type"]
    kinds = {d.name: d.kind for d in ctx.geo.districts}
    before, during = mob["2020-03-18"], mob["2020-03-19"]
    n = sum(m["subscribers"] for m in before.values())
    for metric in ("trips_per_person", "stay_put_share"):
        got = sum(during[d][metric] * before[d]["subscribers"] for d in before) / \
            sum(before[d][metric] * before[d]["subscribers"] for d in before) - 1
        want = sum(effects[kinds[d]]["working_day"][metric]["restricted"] * before[d]["subscribers"] for d in before) / \
            sum(effects[kinds[d]]["working_day"][metric]["baseline"] * before[d]["subscribers"] for d in before) - 1
        assert 100 * got == pytest.approx(100 * want, abs=12), metric
    assert n == 3000 and truth["calendar"]["2020-03-19"]["restriction"]["Almaly"] == "R1"


def test_truth_counts_match_the_delivered_events(city, parsed, city_cfg):
    ctx, results, ticks = city
    for feed in PARSERS:
        truth = results[feed].truth
        clean = Counter()
        for p in parsed.values():
            if p["feed"] == feed and not p["raw"]:
                clean[p["day"].isoformat()] += len(p["df"]) - int(p["df"].duplicated().sum())
        assert dict(clean) == truth["events_by_day"]
        share = next(o["market_share"] for o in city_cfg["operators"] if f"operator_{o['name']}" == feed)
        assert abs(truth["subscribers"] - 3000 * share) <= 1
        assert sum(truth["subscribers_by_district"].values()) == truth["subscribers"]
    total = sum(results[f].truth["events"] for f in PARSERS)
    assert sum(ticks) == total == results["cell_reference"].truth["generation"]["events"]
    assert total / (3000 * 5) == pytest.approx(40, rel=0.05)
    mob = results["cell_reference"].truth["mobility"]
    assert set(mob) == {(START + timedelta(days=i)).isoformat() for i in range(5)}
    fri, sat = mob["2020-02-28"]["Almaly"], mob["2020-02-29"]["Almaly"]
    assert fri["trips_per_person"] > sat["trips_per_person"] and fri["stay_put_share"] < sat["stay_put_share"]
    assert sum(m["subscribers"] for m in mob["2020-02-28"].values()) == 3000


def test_keys_are_stable_within_a_month_and_change_across_months(city, parsed):
    ctx, results, _ = city
    for feed in PARSERS:
        by_month = defaultdict(set)
        for p in parsed.values():
            if p["feed"] == feed and not p["raw"]:
                by_month[f"{p['day']:%Y-%m}"] |= set(p["df"]["key"])
        assert not by_month["2020-02"] & by_month["2020-03"]
        for s in results[feed].truth["sample"][:50]:
            assert s["keys"]["2020-02"] != s["keys"]["2020-03"]
            assert s["keys"]["2020-03"] not in by_month["2020-02"]
        seen = [s for s in results[feed].truth["sample"] if s["keys"]["2020-02"] in by_month["2020-02"]]
        assert len(seen) > 0.9 * len(results[feed].truth["sample"])
        assert all(s["keys"]["2020-03"] in by_month["2020-03"] for s in seen[:20])


def test_event_types_look_like_signalling_data(city, parsed):
    types = Counter()
    for p in parsed.values():
        if p["feed"] == "operator_beeline" and not p["raw"]:
            types.update(p["df"]["type"])
    n = sum(types.values())
    assert types["data"] / n > 0.6 and 0.03 < types["handover"] / n < 0.25
    assert types["voice"] > types["sms"] > 0


def test_sparse_call_records_have_no_handovers(city_cfg, tmp_path):
    ctx, results, _ = run(city_cfg, tmp_path, subscribers=1500, days=2, events_per_day=2.5, dirt=0.0)
    df = pd.concat([parse_tele2(ctx.landing / r)[0] for r in results["operator_tele2"].files])
    counts = df["type"].value_counts()
    assert "4" not in counts and counts["1"] > counts["3"]
    assert len(df) / (300 * 2) == pytest.approx(2.5, rel=0.15)


def digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_files_and_another_seed_differs(city, city_cfg, tmp_path):
    ctx, _, _ = city
    again, _, _ = run(city_cfg, tmp_path / "again")
    assert digests(again.landing) == digests(ctx.landing)
    assert [e.file for e in again.dirt_log.entries] == [e.file for e in ctx.dirt_log.entries]
    other, _, _ = run(city_cfg, tmp_path / "other", seed=8)
    a, b = digests(ctx.landing), digests(other.landing)
    assert all(a[k] != b.get(k) for k in a if k.endswith((".csv.gz", ".parquet")) and k in b)
