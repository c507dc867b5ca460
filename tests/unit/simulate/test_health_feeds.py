"""Health feeds of the synthetic city: native formats, exact truth, dirt, determinism, lags.

Small runs (health_scale 0.05, 120 days) write real files into tmp folders; the files are
parsed back the way ingest will read them and compared with the generator's ground truth.
"""

import csv
import gzip
import hashlib
import io
import json
import re
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jobs.simulate import ambulance as am
from jobs.simulate import epidemic as ep
from jobs.simulate import morbidity as mo
from jobs.simulate import pharmacy as ph
from jobs.simulate.ambulance_rows import COLUMNS as AMBULANCE_COLUMNS
from jobs.simulate.context import SimContext, SimParams
from jobs.simulate.health import generate_health, health_truth_summary
from jobs.simulate.lags import best_lag, true_lags
from jobs.simulate.pharmacy_sales import GROUPS, day_truth, sales_model, simulate_day
from jobs.simulate.reference import generate_reference

START, DAYS, SCALE, DIRT = date(2020, 3, 1), 120, 0.05, 0.02
FILE_DAY = re.compile(r"(\d{4}-\d{2}-\d{2}|\d{8})")


def run(cfg, landing: Path, dirt: float, seed: int = 7):
    ctx = SimContext(cfg=cfg, params=SimParams(start=START, days=DAYS, seed=seed, dirt=dirt,
                                               health_scale=SCALE), landing=landing, salt="test")
    results = generate_reference(ctx) + generate_health(ctx)
    return ctx, {r.feed: r for r in results}


@pytest.fixture(scope="module")
def dirty(city_cfg, tmp_path_factory):
    return run(city_cfg, tmp_path_factory.mktemp("dirty"), DIRT)


@pytest.fixture(scope="module")
def clean(city_cfg, tmp_path_factory):
    return run(city_cfg, tmp_path_factory.mktemp("clean"), 0.0)


def covered_day(rel: str) -> date:
    text = FILE_DAY.search(Path(rel).name).group(1)
    return date.fromisoformat(text if "-" in text else f"{text[:4]}-{text[4:6]}-{text[6:]}")


def delivered_day(rel: str) -> date:
    return date.fromisoformat(Path(rel).parts[1].removeprefix("dt="))


def district_of_text(cfg) -> dict[str, str]:
    return {d["name_ru"].lower(): d["name"] for d in cfg["districts"]}


def read_ambulance(ctx, rel: str) -> tuple[list[list[str]], str]:
    raw = (ctx.landing / rel).read_bytes()
    try:
        text, enc = raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, enc = raw.decode("cp1251"), "cp1251"
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == list(AMBULANCE_COLUMNS), rel
    return rows[1:], enc


def classify_calls(ctx, rel: str):
    """Rows of one ambulance file split into genuine, duplicate and malformed (as ingest would)."""
    rows, enc = read_ambulance(ctx, rel)
    genuine, dup, bad, seen = [], 0, 0, set()
    for r in rows:
        try:
            assert len(r) == len(AMBULANCE_COLUMNS)
            datetime.strptime(r[1], "%Y-%m-%d %H:%M:%S")
            lat = float(r[2]) if r[2] else None
            lon = float(r[3]) if r[3] else None
        except (AssertionError, ValueError):
            bad += 1
            continue
        key = tuple(r)
        if key in seen:
            dup += 1
            continue
        seen.add(key)
        genuine.append((r, lat, lon))
    return genuine, dup, bad, enc


def logged(ctx, kind: str, feed: str) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for e in ctx.dirt_log.entries:
        if e.kind == kind and e.feed == feed:
            out[e.file] += e.rows
    return dict(out)


def test_same_seed_gives_identical_bytes_and_truth(city_cfg, dirty, tmp_path):
    ctx, results = dirty
    ctx2, results2 = run(city_cfg, tmp_path / "again", DIRT)

    def digests(root: Path) -> dict[str, str]:
        return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(root.rglob("*")) if p.is_file()}

    assert digests(ctx.landing) == digests(ctx2.landing)
    for feed, r in results.items():
        assert json.dumps(r.truth, sort_keys=True) == json.dumps(results2[feed].truth, sort_keys=True)
    assert ctx.dirt_log.to_json() == ctx2.dirt_log.to_json()
    gz = next(ctx.landing.rglob("*.jsonl.gz")).read_bytes()
    assert gz[4:8] == b"\0\0\0\0" and not gz[3] & 0x08          # gzip: mtime 0, no file name


def test_files_are_laid_out_by_delivery_day(dirty):
    ctx, results = dirty
    late = {e.file for e in ctx.dirt_log.entries if e.kind in ("late_file", "corrected_redelivery")}
    for feed, r in results.items():
        assert r.files, feed
        for rel in r.files:
            assert Path(rel).parts[0] == feed and (ctx.landing / rel).is_file()
            if feed in ("restrictions", "districts"):
                assert delivered_day(rel) == START
            elif rel in late:
                assert delivered_day(rel) > covered_day(rel)
            else:
                assert delivered_day(rel) == covered_day(rel), rel


def test_ambulance_rows_match_truth_and_dirt_log(dirty, city_cfg):
    ctx, results = dirty
    truth = results["ambulance"].truth
    group_of = {r["code"]: r["group"] for r in city_cfg["ambulance_reasons"]}
    names = district_of_text(city_cfg)
    kinds = ("duplicate_rows", "malformed_rows", "out_of_city_coords", "missing_geocode")
    dups, bads, outs, missing = (logged(ctx, k, "ambulance") for k in kinds)
    encodings = Counter()
    for rel in results["ambulance"].files:
        genuine, dup, bad, enc = classify_calls(ctx, rel)
        encodings[enc] += 1
        assert dup == dups.get(rel, 0) and bad == bads.get(rel, 0), rel
        counts: dict = defaultdict(Counter)
        n_out = n_missing = 0
        for r, lat, lon in genuine:
            district = names[re.sub(r"\s+(р-н|район)$", "", r[4].lower())]
            counts[district][group_of[r[5]]] += 1
            if lat is None:
                n_missing += 1
            elif ctx.geo.district_index(*ctx.geo.proj.to_xy([lat], [lon]))[0] < 0:
                n_out += 1
        assert n_out == outs.get(rel, 0) and n_missing == missing.get(rel, 0), rel
        expected = truth["calls"][covered_day(rel).isoformat()]
        assert {d: dict(c) for d, c in counts.items()} == {
            d: {g: n for g, n in v.items() if n} for d, v in expected.items() if sum(v.values())}
    assert encodings == {"utf-8": DAYS - 1, "cp1251": 1}
    cp = [e for e in ctx.dirt_log.entries if e.kind == "cp1251_file"]
    assert len(cp) == 1 and "Алатауский" in (ctx.landing / cp[0].file).read_bytes().decode("cp1251")


def test_dirt_rates_are_binomial(dirty):
    ctx, results = dirty
    for feed, genuine in (("ambulance", sum(sum(sum(g.values()) for g in d.values())
                                             for d in results["ambulance"].truth["calls"].values())),
                          ("pharmacy_receipts", sum(v["receipts"] for d in results["pharmacy_receipts"].truth[
                              "receipts"].values() for v in d.values()))):
        kinds = ["duplicate_rows", "malformed_rows"] + (["out_of_city_coords"] if feed == "ambulance" else [])
        for kind in kinds:
            k = ctx.dirt_log.total(kind, feed)
            mean, sd = genuine * DIRT, np.sqrt(genuine * DIRT * (1 - DIRT))
            assert abs(k - mean) < 4 * sd + 2, (feed, kind, k, mean)
    late = [e for e in ctx.dirt_log.entries if e.kind == "late_file"]
    assert sorted(e.feed for e in late) == ["ambulance", "pharmacy_receipts"]
    for e in late:
        assert delivered_day(e.file) == date.fromisoformat(e.day) + timedelta(days=2)
        assert covered_day(e.file).isoformat() == e.day


def test_clean_run_has_no_dirt(clean):
    ctx, results = clean
    assert {e.kind for e in ctx.dirt_log.entries} == {"missing_geocode"}
    for rel in results["ambulance"].files:
        genuine, dup, bad, enc = classify_calls(ctx, rel)
        assert (dup, bad, enc) == (0, 0, "utf-8")
        for r, lat, lon in genuine:
            if lat is not None:
                assert ctx.geo.district_index(*ctx.geo.proj.to_xy([lat], [lon]))[0] >= 0
    assert not any("_rev" in f for f in results["morbidity"].files)
    assert all(delivered_day(f) == covered_day(f) for r in results.values() for f in r.files
               if r.feed not in ("restrictions", "districts"))


def test_pharmacy_receipts_parse_and_match_truth(clean, city_cfg):
    ctx, results = clean
    truth = results["pharmacy_receipts"].truth
    ref = pd.read_csv(ctx.landing / results["pharmacy_reference"].files[-1], dtype=str, keep_default_na=False)
    district = dict(zip(ref["pharmacy_id"], ref["district"]))
    group = {a["atc"]: a["group"] for a in city_cfg["atc_groups"]}
    registers: dict = defaultdict(set)
    ids = set()
    for rel in results["pharmacy_receipts"].files:
        day = covered_day(rel)
        counts: dict = defaultdict(Counter)
        for line in gzip.decompress((ctx.landing / rel).read_bytes()).decode("utf-8").splitlines():
            rec = json.loads(line)
            assert list(rec) == ["receipt_id", "kkm_id", "pharmacy_id", "ts", "total", "items"]
            assert rec["receipt_id"] not in ids
            ids.add(rec["receipt_id"])
            ts = datetime.fromisoformat(rec["ts"])
            assert ts.date() == day and ts.utcoffset() == timedelta(hours=6)
            assert rec["total"] == pytest.approx(sum(i["amount"] for i in rec["items"]))
            atcs = [i["atc"] for i in rec["items"]]
            assert len(set(atcs)) == len(atcs) and all(i["qty"] >= 1 for i in rec["items"])
            registers[rec["pharmacy_id"]].add(rec["kkm_id"])
            d = district[rec["pharmacy_id"]]
            counts[d]["receipts"] += 1
            for g in {group[a] for a in atcs}:
                counts[d][g] += 1
        exp = truth["receipts"][day.isoformat()]
        for d, c in counts.items():
            assert c["receipts"] == exp[d]["receipts"]
            assert {g: c[g] for g in GROUPS} == {g: exp[d][g]["receipts"] for g in GROUPS}
    assert all(1 <= len(k) <= 3 for k in registers.values())


def test_pharmacy_dirt_matches_log(dirty):
    ctx, results = dirty
    dups = logged(ctx, "duplicate_rows", "pharmacy_receipts")
    bads = logged(ctx, "malformed_rows", "pharmacy_receipts")
    truth = results["pharmacy_receipts"].truth["receipts"]
    for rel in results["pharmacy_receipts"].files:
        seen: dict[str, str] = {}
        dup = bad = 0
        for line in gzip.decompress((ctx.landing / rel).read_bytes()).decode("utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                bad += 1
                continue
            if rec["receipt_id"] in seen:
                assert seen[rec["receipt_id"]] == line          # a duplicate is an exact copy
                dup += 1
            seen[rec["receipt_id"]] = line
        assert (dup, bad) == (dups.get(rel, 0), bads.get(rel, 0)), rel
        assert len(seen) == sum(v["receipts"] for v in truth[covered_day(rel).isoformat()].values())


def test_reference_feeds(clean, city_cfg):
    ctx, results = clean
    restr = list(csv.DictReader(open(ctx.landing / results["restrictions"].files[0], encoding="utf-8")))
    assert [r["restriction_id"] for r in restr] == [r["id"] for r in city_cfg["restrictions"]]
    assert restr[0] == {"restriction_id": "R1", "start_date": "2020-03-19", "end_date": "2020-05-11",
                        "scope": "city", "measure": "lockdown", "stringency": "85"}
    gj = json.loads((ctx.landing / results["districts"].files[0]).read_text(encoding="utf-8"))
    assert gj["type"] == "FeatureCollection" and len(gj["features"]) == 8
    props = {"name", "name_ru", "name_kk", "population", "district_type"}
    assert all(set(f["properties"]) == props for f in gj["features"])
    ref = pd.read_csv(ctx.landing / results["pharmacy_reference"].files[0], dtype=str, keep_default_na=False)
    assert list(ref.columns) == ["pharmacy_id", "name", "lat", "lon", "district", "valid_from", "valid_to"]
    assert 400 <= len(ref) <= 600 and ref["pharmacy_id"].is_unique
    x, y = ctx.geo.proj.to_xy(ref["lat"].astype(float), ref["lon"].astype(float))
    idx = ctx.geo.district_index(x, y)
    assert [ctx.geo.districts[i].name for i in idx] == ref["district"].tolist()
    population = pd.Series({d.name: d.population for d in ctx.geo.districts})
    per_resident = ref.groupby("district").size() / population
    kinds = {d.name: d.kind for d in ctx.geo.districts}
    downtown = per_resident[[n for n in per_resident.index if kinds[n] == "business_centre"]]
    outskirts = per_resident[[n for n in per_resident.index if kinds[n] == "outskirts"]]
    assert downtown.min() > outskirts.max()


def test_morbidity_reports_and_corrections(dirty):
    ctx, results = dirty
    truth = results["morbidity"].truth
    frames = {rel: pd.read_csv(ctx.landing / rel) for rel in results["morbidity"].files}
    for rel, f in frames.items():
        assert list(f.columns) == list(mo.COLUMNS) and len(f) == 8
        assert (f["tests"] >= f["new_cases"]).all() and (f[list(mo.MEASURES)] >= 0).all().all()
    revs = {rel: f for rel, f in frames.items() if "_rev2" in rel}
    corrections = logged(ctx, "corrected_redelivery", "morbidity")
    assert revs and len(revs) == len(truth["revisions"]) == len(corrections)
    assert set(corrections) == set(revs)
    for rel, f in revs.items():
        day = covered_day(rel).isoformat()
        first_rev = frames[next(r for r in frames if r.endswith(f"morbidity_{day}.csv"))]
        assert (f["revision"] == 2).all() and (first_rev["revision"] == 1).all()
        assert (f["new_cases"].to_numpy() >= first_rev["new_cases"].to_numpy()).all()
        assert f["new_cases"].sum() > first_rev["new_cases"].sum()
        got = {r.district: {m: int(getattr(r, m)) for m in mo.MEASURES} for r in f.itertuples()}
        assert got == truth["revisions"][day]["counts"]
    first = {rel: f for rel, f in frames.items() if "_rev" not in rel}
    for rel, f in first.items():
        got = {r.district: {m: int(getattr(r, m)) for m in mo.MEASURES} for r in f.itertuples()}
        assert got == truth["reported"][covered_day(rel).isoformat()]
    city = pd.concat(first.values()).groupby("report_date").sum(numeric_only=True)
    city.index = pd.to_datetime(city.index)
    ratio = (city["new_cases"] / city["new_cases"].rolling(7, center=True).mean())["2020-05-01":]
    dow = ratio.groupby(ratio.index.dayofweek).mean()
    assert dow[5] < 0.8 and dow[6] < 0.8 and dow[0] > 1.15                # weekend dip, Monday catch-up
    positivity = (city["new_cases"] / city["tests"]).rolling(7).mean()
    assert positivity["2020-06-15":].mean() > 2 * positivity["2020-03-20":"2020-04-20"].mean()


def test_volumes_follow_population_and_waves_age_callers(clean):
    ctx, results = clean
    calls = results["ambulance"].truth["calls"]
    pop = pd.Series({d.name: d.population for d in ctx.geo.districts}, dtype=float)
    other = pd.Series({d: sum(v[d][g] for v in calls.values() for g in ("cardiac", "trauma", "other"))
                       for d in pop.index}, dtype=float)
    np.testing.assert_allclose(other / other.sum(), pop / pop.sum(), rtol=0.08)
    ages = {"before": Counter(), "wave": Counter()}
    for rel in results["ambulance"].files:
        day = covered_day(rel)
        period = "before" if day < date(2020, 3, 25) else "wave" if day >= date(2020, 6, 10) else None
        if period:
            for r, _, _ in classify_calls(ctx, rel)[0]:
                if r[5] in ("J06", "R50", "J18"):
                    ages[period][r[9] == "65+"] += 1
    share = {k: c[True] / (c[True] + c[False]) for k, c in ages.items()}
    assert share["wave"] > share["before"] + 0.05


def test_truth_is_serialisable_and_summarised(dirty):
    ctx, results = dirty
    for r in results.values():
        json.dumps(r.truth)
    summary = health_truth_summary(list(results.values()))
    assert set(summary) == {"lags", "expected_city", "epidemic"}
    assert -15 <= summary["lags"]["deaths"]["vs_reported_cases"]["lag_days"] <= -13
    assert len(summary["epidemic"]["new_infections"]) == DAYS
    json.dumps(ctx.dirt_log.to_json())


def test_noisy_counts_honour_true_lags(city_cfg):
    """Counts drawn exactly as the feeds draw them (ambulance and morbidity at health_scale 1,
    pharmacy at 0.25 to stay fast) recover the manifest lags within a day. Deaths are small
    counts (a dozen a day at the peaks): Poisson noise moves their best lag by about a day
    (sd), so they get two."""
    start, n = date(2020, 3, 1), 300
    ctx = SimContext(cfg=city_cfg, params=SimParams(start=start, days=n, seed=3), landing=Path("."), salt="t")
    days = ctx.params.all_days()
    idx = pd.to_datetime(days)
    epi = ep.simulate_epidemic(city_cfg, ctx.calendar, start, ctx.params.end)
    expected = ep.city_series(epi, ["new_infections", "reported_cases", "hospitalised", "deaths"])
    expected.index = idx
    calls_exp, _ = am.expected_calls(ctx, epi)
    expected["ambulance_respiratory"] = calls_exp[:, :, 0].sum(axis=1)
    calls = am.draw_calls(ctx, calls_exp)
    noisy = pd.DataFrame({"ambulance_respiratory": calls[:, :, 0].sum(axis=1)}, index=idx)
    rep = mo.expected_reports(epi, days, 8)
    draws = [mo.draw_reports(rep, i, ctx.rng("morbidity", d)) for i, d in enumerate(days)]
    for col, key in (("reported_cases", "new_cases"), ("hospitalised", "hospitalised"), ("deaths", "deaths")):
        noisy[col] = [int(x[key].sum()) for x in draws]
    ctx.params.health_scale = 0.25
    net = ph.pharmacy_network(ctx)
    model = sales_model(ctx, net, epi)
    got = []
    for i, d in enumerate(days):
        counts = day_truth(model, net, simulate_day(model, net, i, ctx.rng("pharmacy_receipts", d)), 8)
        got.append([counts[g]["receipts"].sum() for g in GROUPS[:3]])
    got = np.array(got)
    for k, g in enumerate(GROUPS[:3]):
        expected[f"pharmacy_{g}"] = model.expected[:, :, 1 + k].sum(axis=1)
        noisy[f"pharmacy_{g}"] = got[:, k]
    lags = true_lags(expected)
    assert len(lags) == 7
    for signal, ref in lags.items():
        from_infections = best_lag(noisy[signal], expected["new_infections"])["lag_days"]
        from_cases = best_lag(noisy[signal], noisy["reported_cases"])["lag_days"]
        tolerance = 2 if signal == "deaths" else 1
        assert abs(from_infections - ref["vs_infections"]["lag_days"]) <= tolerance, signal
        assert abs(from_cases - ref["vs_reported_cases"]["lag_days"]) <= tolerance, signal
        assert not ref["vs_infections"]["edge"] and not ref["vs_reported_cases"]["edge"]
