#!/usr/bin/env bash
# Builds Superset's own environment (.superset-venv) and its metadata database; idempotent.
#  1. Debian chromium (for the browser test) when missing.
#  2. The venv from infra/superset/requirements.lock, rebuilt only when the lock changes (marker file).
#  3. The SQLite metadata DB (db upgrade, admin user, init) as a template made once per venv,
#     copied into $SUPERSET_HOME when that has none.
# Environment: SUPERSET_VENV (default .superset-venv), SUPERSET_HOME (default data/superset),
#              SUPERSET_ADMIN_USER / SUPERSET_ADMIN_PASSWORD (default admin/admin, local demo only).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/infra/superset"
SVENV="${SUPERSET_VENV:-$ROOT/.superset-venv}"
SHOME="${SUPERSET_HOME:-$ROOT/data/superset}"
PYTHON="${GEOPULSE_PYTHON:-$(command -v python3.11 || command -v python3)}"
LOCK="$HERE/requirements.lock"
UV_VERSION="0.13.8"

log() { printf '[superset] %s\n' "$*"; }

# --- 1. chromium for the browser test ---------------------------------------------------
if [ "${SUPERSET_SKIP_CHROMIUM:-0}" != 1 ] && ! command -v chromium >/dev/null; then
  log "installing Debian chromium"
  as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium
fi

# --- 2. the venv -------------------------------------------------------------------------
want="$(sha256sum "$LOCK" | cut -c1-16)"
marker="$SVENV/.geopulse-superset-lock"
if [ -f "$marker" ] && [ "$(cat "$marker")" = "$want" ] && [ -x "$SVENV/bin/superset" ]; then
  log "environment up to date ($SVENV)"
else
  log "building Superset environment in $SVENV (python: $PYTHON)"
  start=$(date +%s)
  [ -x "$SVENV/bin/python" ] || "$PYTHON" -m venv "$SVENV"
  "$SVENV/bin/python" -m pip install -q "uv==$UV_VERSION"
  "$SVENV/bin/uv" pip sync -q --python "$SVENV/bin/python" "$LOCK"
  rm -rf "$SVENV/.geopulse-metadata"           # a new Superset needs a new metadata template
  echo "$want" > "$marker"
  log "environment ready in $(( $(date +%s) - start ))s"
fi

# --- 3. metadata database ----------------------------------------------------------------
# Initialised once per environment into a template (db upgrade, admin user, init: the slow part),
# then copied into each SUPERSET_HOME that has none, so a test session or a fresh demo starts fast.
export SUPERSET_CONFIG_PATH="$HERE/superset_config.py"
template="$SVENV/.geopulse-metadata"
if [ ! -f "$template/.initialised" ]; then
  log "initialising the metadata template in $template"
  start=$(date +%s)
  rm -rf "$template" && mkdir -p "$template"
  export SUPERSET_HOME="$template"
  "$SVENV/bin/superset" db upgrade >"$template/init.log" 2>&1
  "$SVENV/bin/superset" fab create-admin --username "${SUPERSET_ADMIN_USER:-admin}" \
    --password "${SUPERSET_ADMIN_PASSWORD:-admin}" --firstname Geo --lastname Pulse \
    --email admin@geopulse.local >>"$template/init.log" 2>&1
  "$SVENV/bin/superset" init >>"$template/init.log" 2>&1
  touch "$template/.initialised"
  log "metadata template ready in $(( $(date +%s) - start ))s"
fi
mkdir -p "$SHOME"
if [ ! -f "$SHOME/superset.db" ]; then
  cp "$template/superset.db" "$SHOME/superset.db"
  log "metadata database created in $SHOME"
else
  log "metadata database ready ($SHOME)"
fi
