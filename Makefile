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

.PHONY: help bootstrap run pipeline simulate docs test bench lock clean

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

test: bootstrap  ## set up if needed, run the whole test suite
	@$(PY) -m pytest

bench: bootstrap  ## simulate + aggregate benchmarks, JSON in data/bench/ (EVENTS=N one size; REPEATS, BENCH=aggregate)
	@$(GP) bench $(if $(EVENTS),--events $(EVENTS),) $(if $(REPEATS),--repeats $(REPEATS),) \
	  $(if $(BENCH),--bench $(BENCH),)

lock:  ## re-resolve requirements.lock from requirements.in
	@$(VENV)/bin/uv pip compile requirements.in -o requirements.lock --python-version 3.11 --no-header

clean:  ## remove generated data (keeps the environment)
	rm -rf data test-artifacts
