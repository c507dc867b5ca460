"""`make package`: the wheel and the --py-files zip carry the whole jobs package with its city
configs and contracts, and the jobs find them when imported from the wheel or the zip alone
(no repository on the path); the launcher maps stages and dates onto each job's own options."""

import json
import subprocess
import sys
import zipfile
from datetime import date
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, os, sys
import jobs
from jobs.submit import package_data
chosen = package_data()
from jobs.common.config import load_city
from jobs.common.contracts import all_contracts, schemas_dir
cfg = load_city()
print(json.dumps({"jobs": jobs.__file__, "chosen": chosen, "schemas": str(schemas_dir()),
                  "tables": sorted(c.name for c in all_contracts("table")), "city": cfg["city"]["name"]}))
"""


# A Spark executor's Python worker: it imports jobs from the zip and never runs jobs/submit.py.
EXECUTOR_PROBE = """
import json, os
from jobs.common.contracts import load_contract, schemas_dir
contract = load_contract("mart_lagcorr")
print(json.dumps({"schemas": str(schemas_dir()), "grain": list(contract.grain),
                  "env": os.environ.get("GEOPULSE_SCHEMAS")}))
"""


def _probe(pythonpath: Path, cwd: Path, probe: str = PROBE) -> dict:
    env = {"PYTHONPATH": str(pythonpath), "PATH": "/usr/bin:/bin", "HOME": str(cwd)}
    done = subprocess.run([sys.executable, "-c", probe], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _repo_tables() -> list[str]:
    return sorted(p.stem for p in (ROOT / "schemas" / "tables").glob("*.yaml"))


def test_wheel_and_zip_carry_code_configs_and_contracts(package):
    wheel = zipfile.ZipFile(package["wheel"]).namelist()
    archive = zipfile.ZipFile(package["zip"]).namelist()
    code = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "jobs").rglob("*.py") if "__pycache__" not in p.parts)
    for names in (wheel, archive):
        assert set(code) <= set(names), sorted(set(code) - set(names))[:5]
        assert "jobs/cities/almaty.yaml" in names
        assert sorted(n.split("/")[-1][:-5] for n in names if n.startswith("jobs/schemas/tables/")) == _repo_tables()
        assert any(n.startswith("jobs/schemas/feeds/") for n in names)
    assert any(n.endswith(".dist-info/entry_points.txt") for n in wheel)
    assert package["launcher"].read_text() == (ROOT / "jobs" / "submit.py").read_text()


def test_jobs_installed_from_the_wheel_find_their_contracts(package, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(package["wheel"]).extractall(site)        # a pure-Python wheel installs by unpacking
    seen = _probe(site, tmp_path)
    assert seen["jobs"].startswith(str(site)), seen["jobs"]
    assert seen["schemas"] == str(site / "jobs" / "schemas") and seen["chosen"] == {}
    assert seen["tables"] == _repo_tables() and seen["city"] == "Almaty"


def test_jobs_imported_from_the_zip_extract_their_contracts(package, tmp_path):
    seen = _probe(package["zip"], tmp_path)
    assert seen["jobs"].startswith(str(package["zip"])), seen["jobs"]
    assert set(seen["chosen"]) == {"GEOPULSE_SCHEMAS", "GEOPULSE_CITY"}
    assert seen["schemas"] == seen["chosen"]["GEOPULSE_SCHEMAS"]
    assert seen["tables"] == _repo_tables() and seen["city"] == "Almaty"


def test_a_spark_executor_importing_the_zip_finds_the_contracts(package, tmp_path):
    """Code shipped to executors (applyInPandas) loads contracts there: the zip's contracts are
    extracted on first use, without the launcher having run in that process."""
    from jobs.common.contracts import load_contract

    seen = _probe(package["zip"], tmp_path, EXECUTOR_PROBE)
    assert seen["env"] == seen["schemas"] and Path(seen["schemas"]).name == "schemas"
    assert not seen["schemas"].startswith(str(package["zip"]))
    assert seen["grain"] == list(load_contract("mart_lagcorr").grain)


def test_launcher_translates_dates_for_each_stage():
    from jobs.submit import stage_argv

    d, e = date(2020, 3, 16), date(2020, 3, 17)
    assert stage_argv("ingest", d, e, ["--feed", "morbidity"]) == ["--ds", "2020-03-16", "--end", "2020-03-17",
                                                                   "--feed", "morbidity"]
    assert stage_argv("ingest", d, None, []) == ["--ds", "2020-03-16", "--end", "2020-03-16"]
    assert stage_argv("aggregate", d, e, []) == ["--start", "2020-03-16", "--end", "2020-03-17"]
    assert stage_argv("aggregate", d, None, []) == ["--ds", "2020-03-16"]
    assert stage_argv("analytics", d, e, []) == ["--start", "2020-03-16", "--end", "2020-03-17"]
    assert stage_argv("publish", d, e, ["--url", "postgresql://x"]) == ["--ds", "2020-03-17", "--url", "postgresql://x"]
    assert stage_argv("geo", None, None, []) == []
    with pytest.raises(SystemExit):
        stage_argv("aggregate", None, None, [])


def test_launcher_rejects_unknown_stages_and_reversed_ranges():
    from jobs.submit import main

    with pytest.raises(SystemExit, match="unknown stage"):
        main(["ingest,frobnicate", "--ds", "2020-03-16"])
    with pytest.raises(SystemExit, match="before"):
        main(["aggregate", "--ds", "2020-03-17", "--end", "2020-03-16"])
