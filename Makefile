# trailwatchd developer entry points. `make test` is what CI runs (.ci/run).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
CONFIG ?= config/trailwatchd.toml

.PHONY: install lint typecheck test unit run bench bench-s3 bench-daemon clean promtool image-test

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check trailwatchd tests bench
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

test: lint typecheck promtool
	TRAILWATCHD_REQUIRE_PROMTOOL=1 $(BIN)/pytest -q

# promtool (Debian package prometheus) checks and unit-tests `export prometheus-rules` output.
promtool:
	command -v promtool >/dev/null || (apt-get update && apt-get install -y --no-install-recommends prometheus)

unit: install
	$(BIN)/pytest -q tests/unit tests/rules

run: install
	$(BIN)/trailwatchd run --config $(CONFIG)

bench: install
	$(BIN)/python -m bench

bench-s3: install
	$(BIN)/python -m bench.s3_poll

# Opt-in, not part of `make test`: build the image offline, run it, check /healthz and an alert
# (deploy/docker/image-test.sh explains the steps; prints SKIPPED when no Docker engine can start).
image-test: install
	bash deploy/docker/image-test.sh

# Events/s through the whole daemon (directory source, CIS pack, file sink), workers = 1 vs 2 (docs/scaling.md).
bench-daemon: install
	$(BIN)/python -m bench.daemon_throughput

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis var
