# GeoPulse — the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV   ?= .venv
PY     := $(VENV)/bin/python
GP     := $(VENV)/bin/geopulse
export PYSPARK_PYTHON := $(abspath $(PY))
export SPARK_LOCAL_IP := 127.0.0.1

# Demo city (make run). Override on the command line, e.g. `make run SUBSCRIBERS=50000`.
START          ?= 2020-01-01
DAYS           ?= 366
SUBSCRIBERS    ?= 20000
EVENTS_PER_DAY ?= 20
OPERATOR_START ?= 2020-01-03
OPERATOR_DAYS  ?= 91
SEED           ?= 42
DIRT           ?= 0.002
# Benchmark size (make bench): events per city-day; empty = the full ladder.
EVENTS         ?=

.PHONY: help bootstrap run pipeline simulate docs test test-heavy bench lock clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

bootstrap:  ## install system packages and the pinned environment (idempotent)
	@bash infra/bootstrap.sh

run: bootstrap docs simulate  ## set up if needed, generate the demo city, run the pipeline, say where to look
	@$(GP) pipeline
	@$(GP) where

pipeline: bootstrap  ## ingest + geo + aggregates over what is in data/landing, then the DQ summary
	@$(GP) pipeline

simulate: bootstrap  ## generate the demo city into data/landing (see variables above)
	@$(GP) simulate --start $(START) --days $(DAYS) --subscribers $(SUBSCRIBERS) \
	  --events-per-day $(EVENTS_PER_DAY) --operator-start $(OPERATOR_START) \
	  --operator-days $(OPERATOR_DAYS) --seed $(SEED) --dirt $(DIRT) --clean

docs: bootstrap  ## write the data dictionary from schemas/ to schemas/data_dictionary.md
	@$(GP) docs

HEAVY_LOG := test-artifacts/heavy.log

# Two pytest processes side by side (each with its own Spark driver; the heavy one's output goes
# to $(HEAVY_LOG) and is printed when both are done): the suite's wall time is about the longer
# of the two instead of their sum. Fails when either fails.
test: bootstrap superset-env  ## set up if needed (incl. Superset's venv and chromium), run the whole test suite
	@mkdir -p $(dir $(HEAVY_LOG))
	@echo "[test] heavy end-to-end tests (every DAG over days, the standalone cluster, the autumn city) in a second process beside the first: $(HEAVY_LOG)"
	@$(PY) -m pytest -m heavy -p no:cacheprovider > $(HEAVY_LOG) 2>&1 & heavy=$$!; \
	  GEOPULSE_REQUIRE_UI=1 $(PY) -m pytest; first=$$?; \
	  wait $$heavy; second=$$?; \
	  echo "[test] the heavy process ($(HEAVY_LOG)):"; cat $(HEAVY_LOG); \
	  echo "[test] exit codes: first process $$first, heavy process $$second"; \
	  test $$first -eq 0 && test $$second -eq 0

bench: bootstrap  ## simulate + aggregate (+ analytics after make run) benchmarks, JSON in data/bench/ (EVENTS=N; REPEATS; BENCH=simulate|aggregate|analytics|cluster)
	@$(GP) bench $(if $(EVENTS),--events $(EVENTS),) $(if $(REPEATS),--repeats $(REPEATS),) \
	  $(if $(BENCH),--bench $(BENCH),)

lock:  ## re-resolve requirements.lock from requirements.in
	@$(VENV)/bin/uv pip compile requirements.in -o requirements.lock --python-version 3.11 --no-header

# --- dashboards (Superset in its own venv, .superset-venv) ---------------------------------
.PHONY: dashboards dashboards-stop superset-env superset-lock test-ui

superset-env:  ## build Superset's own environment and Debian chromium if missing (idempotent)
	@bash infra/superset/bootstrap.sh

dashboards: bootstrap  ## start Superset on 127.0.0.1:8088 with the six dashboards over the serving DB (make run first)
	@$(PY) -m jobs.dashboards.serve

dashboards-stop:  ## stop the Superset started by make dashboards
	@$(PY) -m jobs.dashboards.serve --stop

superset-lock:  ## re-resolve infra/superset/requirements.lock from requirements.in
	@$(VENV)/bin/uv pip compile infra/superset/requirements.in -o infra/superset/requirements.lock \
	  --python-version 3.11 --no-header

test-heavy: bootstrap  ## heavy end-to-end tests: every DAG over days, the standalone cluster
	@$(PY) -m pytest -m heavy

test-ui: bootstrap superset-env  ## browser tests of the dashboards (real Superset on a free port, headless chromium)
	@GEOPULSE_REQUIRE_UI=1 $(PY) -m pytest tests/ui tests/contracts/test_dashboard_datasets.py -q

# --- scale-out (wheel + --py-files zip, local Spark standalone cluster) -----------------------
.PHONY: package cluster cluster-run cluster-stop
CLUSTER_PORT ?= 7177

package: bootstrap  ## wheel + --py-files zip + launcher of the jobs in dist/ (offline build)
	@$(PY) infra/spark/package.py --out dist

cluster: bootstrap package  ## start a Spark master (7177, UI 8180) + 2 workers (UIs 8181/8182) on 127.0.0.1; PIDs/logs in data/cluster/
	@$(PY) -m jobs.common.standalone start --port $(CLUSTER_PORT) --ui-port 8180 \
	  --worker-ui-port 8181 --worker-ui-port 8182 --cores 1 --memory 1g

cluster-run: bootstrap package  ## the pipeline over everything in data/landing, by spark-submit on the make-cluster master
	@echo "spark-submit --master spark://127.0.0.1:$(CLUSTER_PORT) ... jobs/submit.py pipeline"
	@$(VENV)/bin/spark-submit --master spark://127.0.0.1:$(CLUSTER_PORT) --driver-memory 4g --executor-memory 1g \
	  $$($(PY) -c "from jobs.common.spark import localfs_submit_args as a; print(' '.join(a()))") \
	  --py-files dist/geopulse-jobs.zip jobs/submit.py pipeline

cluster-stop:  ## stop the cluster started by make cluster (by the PIDs in data/cluster/)
	@$(PY) -m jobs.common.standalone stop

# --- orchestration (Airflow standalone on 127.0.0.1:8080, SQLite, AIRFLOW_HOME=data/airflow) ---
.PHONY: airflow

airflow: bootstrap  ## start Airflow with the GeoPulse DAGs over the demo city, unpaused (make simulate first); prints URL and login
	@bash infra/airflow/standalone.sh

clean:  ## remove generated data (keeps the environment)
	rm -rf data test-artifacts
