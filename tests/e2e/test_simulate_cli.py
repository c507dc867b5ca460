"""The `geopulse simulate` command end to end on a small city: files, summary, determinism."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SMALL = ["--start", "2020-03-16", "--days", "6", "--subscribers", "1200", "--events-per-day", "20",
         "--health-scale", "0.05", "--dirt", "0.02"]


def simulate(out: Path, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONHASHSEED="0")
    return subprocess.run([sys.executable, "-m", "jobs.common.cli", "simulate", *SMALL, *extra,
                           "--out", str(out), "--quiet"],
                          capture_output=True, text=True, env=env, check=False)


def digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    out = tmp_path_factory.mktemp("city")
    proc = simulate(out, "--seed", "11")
    assert proc.returncode == 0, proc.stderr
    return out, proc.stdout


def test_summary_says_what_was_generated_and_where(city):
    out, stdout = city
    assert "6 days" in stdout and "1,200" in stdout
    for feed in ("operator_kcell", "operator_beeline", "operator_tele2", "ambulance",
                 "pharmacy_receipts", "morbidity", "cell_reference", "districts", "restrictions"):
        assert feed in stdout
    assert str(out / "manifest.json") in stdout


def test_every_feed_is_laid_out_by_delivery_day(city):
    out, _ = city
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    for feed, info in manifest["feeds"].items():
        assert info["files"] == len(info["paths"]) > 0, feed
        for rel in info["paths"]:
            parts = Path(rel).parts
            assert parts[0] == feed and parts[1].startswith("dt="), rel
            assert (out / rel).is_file(), rel
    written = sum(info["rows"] for feed, info in manifest["feeds"].items() if feed.startswith("operator_"))
    assert manifest["totals"]["operator_rows_written"] == written


def test_operator_rows_written_are_clean_events_plus_logged_dirt(city):
    out, _ = city
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    extra = sum(e["rows"] for e in manifest["dirt"] if e["feed"].startswith("operator_")
                and e["kind"] in ("duplicate_rows", "malformed_rows", "raw_identifier_file"))
    assert extra > 0
    assert manifest["totals"]["operator_rows_written"] == manifest["totals"]["operator_events"] + extra


def test_same_seed_gives_byte_identical_files(city, tmp_path):
    out, _ = city
    again = tmp_path / "again"
    assert simulate(again, "--seed", "11").returncode == 0
    assert digests(again) == digests(out)


def test_another_seed_gives_other_data(city, tmp_path):
    out, _ = city
    other = tmp_path / "other"
    assert simulate(other, "--seed", "12").returncode == 0
    a, b = digests(out), digests(other)
    changed = [k for k in a if k.endswith((".csv.gz", ".parquet")) and a.get(k) != b.get(k)]
    assert changed


def test_bad_arguments_fail_with_a_clear_message(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "jobs.common.cli", "simulate", "--start",
                           "2020-13-01", "--out", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "not an ISO date" in proc.stderr
