"""City configuration and lake locations.

A city is one YAML file (default: the packaged Almaty config, ``jobs/cities/almaty.yaml``;
override with ``GEOPULSE_CITY``). Locations come from environment variables, all defaulting
to folders under the repository's git-ignored ``data/``:

=====================  =================================  =========================
variable               default                            holds
=====================  =================================  =========================
GEOPULSE_DATA          <repo>/data                        parent of the defaults
GEOPULSE_LANDING       $GEOPULSE_DATA/landing             feeds as delivered (+ manifest.json)
GEOPULSE_LAKE          $GEOPULSE_DATA/lake                one folder per table, ``ds=`` partitions
GEOPULSE_SERVING_DB    $GEOPULSE_DATA/serving/geopulse.duckdb   the serving database
GEOPULSE_BENCH         $GEOPULSE_DATA/bench               benchmark JSON results
=====================  =================================  =========================
"""

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CITIES_DIR = Path(__file__).resolve().parents[1] / "cities"
DEFAULT_CITY = CITIES_DIR / "almaty.yaml"


@dataclass(frozen=True)
class Paths:
    """Where GeoPulse reads and writes; see the module docstring for the variables."""

    data: Path
    landing: Path
    lake: Path
    serving_db: Path
    bench: Path

    @property
    def manifest(self) -> Path:
        return self.landing / "manifest.json"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Paths":
        env = dict(os.environ if env is None else env)
        data = Path(env.get("GEOPULSE_DATA", REPO_ROOT / "data"))
        return cls(
            data=data,
            landing=Path(env.get("GEOPULSE_LANDING", data / "landing")),
            lake=Path(env.get("GEOPULSE_LAKE", data / "lake")),
            serving_db=Path(env.get("GEOPULSE_SERVING_DB", data / "serving" / "geopulse.duckdb")),
            bench=Path(env.get("GEOPULSE_BENCH", data / "bench")),
        )


def city_config_path(path: str | Path | None = None) -> Path:
    """The city file: an explicit path, else ``GEOPULSE_CITY``, else Almaty (extracted first when
    ``jobs`` is imported from the ``--py-files`` zip, as in a Spark executor; see ``schemas_dir``)."""
    from jobs.submit import packaged_path

    return packaged_path(path, "GEOPULSE_CITY", DEFAULT_CITY)


@lru_cache(maxsize=8)
def _load(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        cfg = yaml.safe_load(fh)
    _check_city(cfg, path)
    return cfg


def load_city(path: str | Path | None = None) -> dict[str, Any]:
    """Load and sanity-check a city config (a plain dict; treat it as read-only)."""
    return _load(city_config_path(path).resolve())


def _check_city(cfg: dict[str, Any], path: Path) -> None:
    for key in ("city", "districts", "operators", "h3", "privacy", "timeline"):
        if key not in cfg:
            raise ValueError(f"city config {path}: missing section '{key}'")
    shares = sum(op["market_share"] for op in cfg["operators"])
    if abs(shares - 1.0) > 1e-6:
        raise ValueError(f"city config {path}: operator market shares sum to {shares}, not 1")
    names = [d["name"] for d in cfg["districts"]]
    if len(set(names)) != len(names):
        raise ValueError(f"city config {path}: duplicate district names")
    typed = [n for group in cfg.get("district_types", {}).values() for n in group]
    if sorted(typed) != sorted(names):
        raise ValueError(f"city config {path}: district_types must list every district exactly once")


def district_type(cfg: dict[str, Any], district: str) -> str:
    for kind, members in cfg["district_types"].items():
        if district in members:
            return kind
    raise KeyError(district)
