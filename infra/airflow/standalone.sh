#!/usr/bin/env bash
# Start Airflow standalone (SQLite, LocalExecutor, small parallelism) with the GeoPulse DAGs over
# the demo city's landing folder, unpaused, catch-up window = the demo's delivery days.
#   infra/airflow/standalone.sh            (make airflow; Ctrl-C stops it)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
set -a
# shellcheck disable=SC1091
source infra/airflow/airflow.env
set +a
export AIRFLOW_HOME="$ROOT/${AIRFLOW_HOME#./}"
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/${AIRFLOW__CORE__DAGS_FOLDER#./}"
export GEOPULSE_DATA="${GEOPULSE_DATA:-$ROOT/data}"
export GEOPULSE_LANDING="${GEOPULSE_LANDING:-$GEOPULSE_DATA/landing}"
export PYSPARK_PYTHON="$ROOT/.venv/bin/python" SPARK_LOCAL_IP=127.0.0.1
export PATH="$ROOT/.venv/bin:$PATH"

# Catch-up window: from the first delivery to the GEOPULSE_DAGS_DAYS-th day (default 7; "all":
# the last) on which every feed aggregate_daily waits for delivered, each feed from its own first
# delivery; override with GEOPULSE_DAGS_START / GEOPULSE_DAGS_END. A week shows every DAG at work
# in well under an hour on 2 cores; the demo's whole 93 days take many hours there.
window=$(python - <<'PY'
import os
from pathlib import Path
from jobs.common.config import load_city
landing = Path(os.environ["GEOPULSE_LANDING"])
if not landing.is_dir():
    raise SystemExit(0)
feeds = load_city()["orchestration"]["aggregate_on"]
sets = [{p.name[3:] for p in (landing / f).glob("dt=*")} for f in feeds]
days = sorted(set.intersection(*sets)) if sets and all(sets) else []
first = {f: min(p.name[3:] for p in (landing / f).glob("dt=*")) for f in os.listdir(landing) if (landing / f).is_dir() and any((landing / f).glob("dt=*"))}
wanted = os.environ.get("GEOPULSE_DAGS_DAYS") or "7"
last = days[-1] if wanted == "all" or not days else days[min(int(wanted), len(days)) - 1]
print(f"{min(first.values())} {last} {days[-1]} " + " ".join(f"{f}={d}" for f, d in first.items()) if days else "")
PY
)
if [ -z "$window" ]; then
  echo "make airflow: no day under $GEOPULSE_LANDING has every daily feed; run 'make simulate' (or 'make run') first" >&2
  exit 1
fi
read -r first last every feed_starts <<<"$window"
export GEOPULSE_DAGS_START="${GEOPULSE_DAGS_START:-$first}"     # the first delivery of any feed
export GEOPULSE_DAGS_END="${GEOPULSE_DAGS_END:-$last}"          # the last day every daily feed delivered
for fs in $feed_starts; do                                       # each feed from its own first delivery
  feed=${fs%%=*}; export "GEOPULSE_DAGS_START_${feed^^}=${fs#*=}"
done
if python -c "import sys; from jobs.common.ports import in_use; sys.exit(0 if in_use($AIRFLOW__API__PORT) else 1)"; then
  echo "make airflow: port $AIRFLOW__API__PORT is taken (an Airflow still running? \`ss -ltnp | grep :$AIRFLOW__API__PORT\` names it); stop it first" >&2
  exit 1
fi
mkdir -p "$AIRFLOW_HOME"
airflow db migrate >/dev/null
pool=$(PYTHONPATH="$AIRFLOW__CORE__DAGS_FOLDER" python -c "from geopulse_dags.settings import settings; print(settings().lake_pool)")
if [ "$pool" != "default_pool" ]; then     # one slot: lake-wide jobs never overlap (orchestration.lake_pool)
  airflow pools set "$pool" 1 "GeoPulse lake-wide jobs: geo, aggregate, aggregate_month, analytics, publish" >/dev/null
fi
echo "GeoPulse Airflow"
echo "  DAGs      $AIRFLOW__CORE__DAGS_FOLDER (unpaused; catch-up $GEOPULSE_DAGS_START .. $GEOPULSE_DAGS_END, Asia/Almaty)"
if [ "$GEOPULSE_DAGS_END" != "$every" ]; then
  echo "            deliveries go on to $every: GEOPULSE_DAGS_DAYS=all make airflow runs them all (hours)"
fi
echo "  landing   $GEOPULSE_LANDING"
echo "  lake      ${GEOPULSE_LAKE:-$GEOPULSE_DATA/lake}"
echo "  home      $AIRFLOW_HOME (SQLite)"
echo "  URL       http://127.0.0.1:$AIRFLOW__API__PORT  login: admin / see below (password file"
echo "            $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated)"
( for _ in $(seq 1 120); do
    f="$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"
    if [ -s "$f" ] && curl -sf "http://127.0.0.1:$AIRFLOW__API__PORT/api/v2/monitor/health" >/dev/null 2>&1; then
      echo; echo "  ready: http://127.0.0.1:$AIRFLOW__API__PORT  login: admin / $(python -c "import json,sys; print(json.load(open(sys.argv[1]))['admin'])" "$f")"
      echo; break
    fi
    sleep 5
  done ) &
exec airflow standalone
