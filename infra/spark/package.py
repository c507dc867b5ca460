"""`make package`: the jobs as a wheel and as a zip for ``spark-submit --py-files``.

Writes to ``dist/`` (or ``--out``):
- ``geopulse-<version>-py3-none-any.whl``: the ``jobs`` package with its city configs
  (``jobs/cities/*.yaml``) and the contracts (``schemas/`` copied in as ``jobs/schemas/``, found
  there by ``jobs.common.contracts`` when no repository is around), built by ``uv build --offline``
  from a staging copy (the build backend comes from uv's cache, filled by the bootstrap; nothing
  is downloaded and the repository gets no build/ folder);
- ``geopulse-jobs.zip``: the same tree for ``--py-files`` (``jobs/submit.py`` extracts its YAML
  files, which cannot be opened inside a zip);
- ``submit.py``: the launcher, the application file for ``spark-submit``.
The zip is reproducible: sorted entries, fixed timestamps.

    .venv/bin/python infra/spark/package.py [--out dist]
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ZIP_NAME = "geopulse-jobs.zip"
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo")


def stage(staging: Path) -> Path:
    """A copy of what the wheel is built from: pyproject, README, jobs/ with schemas/ inside."""
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, staging / name)
    shutil.copytree(ROOT / "jobs", staging / "jobs", ignore=SKIP)
    shutil.rmtree(staging / "jobs" / "schemas", ignore_errors=True)
    shutil.copytree(ROOT / "schemas", staging / "jobs" / "schemas",
                    ignore=shutil.ignore_patterns("*.md", "__pycache__"))
    return staging


def build_wheel(staging: Path, out: Path) -> Path:
    uv = Path(sys.executable).parent / "uv"
    before = set(out.glob("*.whl"))
    subprocess.run([str(uv if uv.exists() else "uv"), "build", "--wheel", "--offline", "--quiet",
                    "--out-dir", str(out), str(staging)], check=True)
    built = sorted(set(out.glob("*.whl")) - before) or sorted(out.glob("geopulse-*.whl"))
    return built[-1]


def build_zip(staging: Path, target: Path) -> Path:
    files = sorted(p for p in (staging / "jobs").rglob("*") if p.is_file())
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for f in files:
            info = zipfile.ZipInfo(f.relative_to(staging).as_posix(), date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, f.read_bytes())
    return target


def package(out: Path) -> dict[str, Path]:
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("geopulse-*.whl"):
        old.unlink()
    with tempfile.TemporaryDirectory(prefix="geopulse-package-") as tmp:
        staging = stage(Path(tmp))
        wheel = build_wheel(staging, out)
        archive = build_zip(staging, out / ZIP_NAME)
    launcher = out / "submit.py"
    shutil.copy2(ROOT / "jobs" / "submit.py", launcher)
    return {"wheel": wheel, "zip": archive, "launcher": launcher}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "dist")
    a = p.parse_args(argv)
    for kind, path in package(a.out).items():
        print(f"{kind:8} {path} ({path.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
