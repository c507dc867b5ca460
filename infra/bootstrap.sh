#!/usr/bin/env bash
# Bootstraps the GeoPulse pipeline environment on a fresh Debian machine; idempotent.
#  1. Debian packages when missing: a Java 17+ JDK (Spark; javac for step 3) and PostgreSQL
#     binaries (tests).
#  2. The pipeline virtualenv (.venv) from requirements.lock, reinstalled only when the lock changes.
#  3. The local file system jar Spark uses for the lake (infra/spark/localfs/), rebuilt when changed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${GEOPULSE_VENV:-$ROOT/.venv}"
PYTHON="${GEOPULSE_PYTHON:-$(command -v python3.11 || command -v python3)}"
LOCK="$ROOT/requirements.lock"
UV_VERSION="0.13.8"

log() { printf '[bootstrap] %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "need root to run: $*"; return 1; fi
}

apt_install() {
  log "installing Debian packages: $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

java_major() {
  command -v java >/dev/null || { echo 0; return; }
  java -version 2>&1 | awk -F'"' '/version/ {split($2, v, "."); print v[1]; exit}'
}

have_pg_binaries() {
  command -v initdb >/dev/null && command -v pg_ctl >/dev/null && return 0
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}

# --- 1. system packages ---------------------------------------------------------------
missing=()
{ [ "$(java_major)" -ge 17 ] 2>/dev/null && command -v javac >/dev/null; } || missing+=(openjdk-17-jdk-headless)
command -v psql >/dev/null || missing+=(postgresql-client)
have_pg_binaries || missing+=(postgresql)
if [ "${#missing[@]}" -gt 0 ]; then apt_install "${missing[@]}"; else log "system packages present"; fi

# --- 2. python environment --------------------------------------------------------------
want="$(sha256sum "$LOCK" "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)"
marker="$VENV/.geopulse-lock"
if [ -f "$marker" ] && [ "$(cat "$marker")" = "$want" ] && [ -x "$VENV/bin/python" ]; then
  log "environment up to date ($VENV)"
else
  log "building environment in $VENV (python: $PYTHON)"
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q "uv==$UV_VERSION"
  start=$(date +%s)
  "$VENV/bin/uv" pip sync -q --python "$VENV/bin/python" "$LOCK"
  "$VENV/bin/uv" pip install -q --python "$VENV/bin/python" --no-deps -e "$ROOT"
  echo "$want" > "$marker"
  log "environment ready in $(( $(date +%s) - start ))s"
fi

# --- 3. local file system jar -------------------------------------------------------------
bash "$ROOT/infra/spark/localfs/build.sh" "$VENV"
