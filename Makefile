# Two commands for a newcomer: `make run` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run console workers test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: setup
	$(BIN)/python -m bot

console: setup
	$(BIN)/python -m bot console

# N workers on one PostgreSQL (README, "Scaling out").
N ?= 3
workers: setup
	scripts/workers $(N)

lint: setup
	$(BIN)/ruff check bot adapters storage tests bench
	$(BIN)/mypy bot
	$(BIN)/lint-imports

test: lint
	NO_PROXY=127.0.0.1,localhost $(BIN)/python -m pytest -q

bench: setup
	for b in scheduler ingest discord_e2e telegram_e2e export load follow; do \
		[ ! -f bench/$$b.py ] || $(BIN)/python -m bench.$$b || exit 1; done

clean:
	rm -rf $(VENV)
