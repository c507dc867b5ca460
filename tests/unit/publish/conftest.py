"""Fixtures of the publish tests.

- ``pg_server``: a PostgreSQL server URL without database: the one on 127.0.0.1:5432 when it
  answers, else a throwaway cluster (initdb + pg_ctl on a free port, trust auth) stopped after.
- ``pg_url``: a database of its own per test function, ``geopulse_test_<random>``, dropped after.
- ``write_lake``: writes a pandas frame as a lake table (contract-conformed, Hive partitions of
  its contract) into a lake folder: what Spark's ``write_table`` leaves, without Spark.
- ``mini_lake``: a hand-made lake with every published table the serving views read, for three
  days, values safely above every privacy threshold: the serving and role tests load it.
"""

import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import h3
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.common.config import Paths
from jobs.common.conform import conform
from jobs.common.contracts import load_contract

LOCAL_PG = "postgresql://postgres@127.0.0.1:5432"
DAYS = [date(2020, 3, 16), date(2020, 3, 17), date(2020, 3, 18)]
DISTRICTS = {"Almaly": "business_centre", "Auezov": "residential", "Alatau": "outskirts"}
CENTRES = {"Almaly": (43.252, 76.909), "Auezov": (43.224, 76.851), "Alatau": (43.299, 76.835)}


def _answers(url: str) -> bool:
    import psycopg2

    try:
        psycopg2.connect(url + "/postgres", connect_timeout=3).close()
        return True
    except psycopg2.OperationalError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def throwaway_cluster():
    """A PostgreSQL cluster of its own (initdb + pg_ctl, trust auth, a free port), removed after;
    run as the postgres user when we are root (initdb refuses root)."""
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.fail("no PostgreSQL server on 127.0.0.1:5432 and no initdb/pg_ctl to start one")
    root = Path(tempfile.mkdtemp(prefix="geopulse_pg_"))
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(root, "postgres")
    port = _free_port()
    subprocess.run(as_user + [initdb, "-D", str(root / "data"), "-U", "postgres", "--auth=trust"], check=True,
                   capture_output=True)
    subprocess.run(as_user + [pg_ctl, "-D", str(root / "data"), "-l", str(root / "log"), "-w", "-o",
                              f"-h 127.0.0.1 -p {port} -k {root}", "start"], check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(as_user + [pg_ctl, "-D", str(root / "data"), "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server():
    if _answers(LOCAL_PG):
        yield LOCAL_PG
        return
    with throwaway_cluster() as url:
        yield url


@pytest.fixture
def pg_url(pg_server):
    import psycopg2

    name = f"geopulse_test_{secrets.token_hex(4)}"
    admin = psycopg2.connect(pg_server + "/postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{pg_server}/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def write_lake_table(paths: Paths, table: str, pdf: pd.DataFrame) -> None:
    """Conform ``pdf`` and write it like ``lake.write_table``: the partitions in ``pdf`` are
    replaced, other partitions are left alone."""
    c = load_contract(table)
    pdf = pdf.assign(**{col.name: None for col in c.columns          # columns added to the contract later
                        if col.nullable and col.name not in pdf.columns})
    out = conform(pdf, c)
    root = paths.lake / c.name
    if not c.partition_by:
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        pq.write_table(pa.Table.from_pandas(out, preserve_index=False), root / "part-0.parquet")
        return
    for key, part in out.groupby(list(c.partition_by), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        folder = root.joinpath(*(f"{p}={v.isoformat() if hasattr(v, 'isoformat') else v}"
                                 for p, v in zip(c.partition_by, key)))
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        body = part.drop(columns=list(c.partition_by))
        pq.write_table(pa.Table.from_pandas(body, preserve_index=False), folder / "part-0.parquet")


@pytest.fixture(scope="session")
def write_lake():
    return write_lake_table


def _boundary(cell: str) -> str:
    ring = [[lng, lat] for lat, lng in h3.cell_to_boundary(cell)]
    return json.dumps({"type": "Polygon", "coordinates": [ring + [ring[0]]]})


def geo_cells_frame() -> pd.DataFrame:
    rows = []
    for district, (lat, lng) in CENTRES.items():
        parent = h3.latlng_to_cell(lat, lng, 7)
        for cell in [parent] + sorted(h3.cell_to_children(parent, 8)):
            clat, clng = h3.cell_to_latlng(cell)
            rows.append(dict(h3_cell=cell, resolution=h3.get_resolution(cell),
                             parent_h3_cell=None if cell == parent else parent, district=district,
                             zone_type=DISTRICTS[district], centroid_lat=clat, centroid_lon=clng,
                             area_km2=h3.cell_area(cell), boundary_geojson=_boundary(cell)))
    return pd.DataFrame(rows)


def indicator_frame(days: list[date], cells: pd.DataFrame, scale: float = 1.0) -> pd.DataFrame:
    rows = []
    for n, day in enumerate(days):
        def add(level, gid, ind, value, unit, source):
            rows.append(dict(ds=day, geo_level=level, geo_id=gid, indicator=ind, value=value * scale,
                             value_7d_mean=None, unit=unit, missing_code="not_missing", suppressed=False,
                             source_table=source))
        add("city", "Almaty", "restriction_stringency", 80.0 if day >= date(2020, 3, 17) else 0.0,
            "index", "stg_restrictions__restrictions")
        for d in DISTRICTS:
            add("district", d, "ambulance_calls_all", 40.0 + n, "calls", "agg_ambulance__district_day")
            add("district", d, "morbidity_new_cases", 20.0 + n, "cases", "agg_morbidity__district_day")
            add("district", d, "people_present", 50000.0 + 100 * n, "people", "agg_presence__h3_hour")
            add("district", d, "mobility_stay_put_share", 0.3 + 0.01 * n, "share", "agg_mobility__district_day")
        for cell in cells.loc[cells["resolution"] == 8, "h3_cell"]:
            add("h3", cell, "people_present", 3000.0 + n, "people", "agg_presence__h3_hour")
            add("h3", cell, "ambulance_calls_all", 6.0, "calls", "agg_ambulance__h3_day")
    return pd.DataFrame(rows)


def mobility_frame(days: list[date]) -> pd.DataFrame:
    rows = []
    for day in days:
        for level, gid in [("city", "Almaty")] + [("district", d) for d in DISTRICTS]:
            rows.append(dict(ds=day, geo_level=level, geo_id=gid, weekday=day.isoweekday(),
                             baseline_start=date(2020, 1, 3), baseline_end=date(2020, 2, 6), people_est=90000.0,
                             trips_per_person=2.0, trips_per_person_baseline=3.0, trips_per_person_change_pct=-33.3,
                             radius_gyration_km_median=2.0, radius_gyration_km_median_baseline=4.0,
                             radius_gyration_change_pct=-50.0, stay_put_share=0.4, stay_put_share_baseline=0.2,
                             stay_put_share_change_pct=100.0, km_travelled_per_person=10.0,
                             km_travelled_per_person_baseline=20.0, km_travelled_change_pct=-50.0, suppressed=False))
    return pd.DataFrame(rows)


def alerts_frame(days: list[date]) -> pd.DataFrame:
    return pd.DataFrame([dict(ds=day, geo_level="district", geo_id=d, indicator="ambulance_calls_respiratory_fever",
                              method="ears_c2", observed=30.0, expected=20.0, threshold=28.0, score=3.1,
                              baseline_days=28, alert_level="warning" if d == "Auezov" else "none")
                         for day in days for d in DISTRICTS])


def dq_frame(days: list[date]) -> pd.DataFrame:
    return pd.DataFrame([dict(feed_or_table="ambulance", ds=day, check_name=check, value=v, threshold=None,
                              status="pass", detail=None)
                         for day in days for check, v in (("rows_received", 100.0), ("rows_staged", 98.0),
                                                          ("rows_quarantined", 2.0))])


def build_mini_lake(root: Path) -> Paths:
    paths = Paths(data=root, landing=root / "landing", lake=root / "lake",
                  serving_db=root / "serving" / "geopulse.duckdb", bench=root / "bench")
    cells = geo_cells_frame()
    write_lake_table(paths, "geo_h3_cells", cells)
    write_lake_table(paths, "mart_indicator_daily", indicator_frame(DAYS, cells))
    write_lake_table(paths, "mart_mobility_index", mobility_frame(DAYS))
    write_lake_table(paths, "mart_alerts", alerts_frame(DAYS))
    write_lake_table(paths, "dq_results", dq_frame(DAYS))
    return paths


@pytest.fixture
def mini_lake(tmp_path) -> Paths:
    """A fresh hand-made lake per test (tests may rewrite its days)."""
    return build_mini_lake(tmp_path)


@pytest.fixture(scope="session")
def mini():
    """The hand-made lake's days and frame builders, for tests that rewrite a day of it."""
    from types import SimpleNamespace

    return SimpleNamespace(days=DAYS, districts=DISTRICTS, geo_cells=geo_cells_frame, indicators=indicator_frame,
                           mobility=mobility_frame, alerts=alerts_frame, dq=dq_frame)
