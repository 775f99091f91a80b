# Buyswarm: `make run` serves the app with demo data; `make test` runs every check CI runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := wsgi

.PHONY: run test lint test-sqlite test-postgres venv system-deps clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(BIN)/.installed

system-deps:
	bash scripts/install-system-deps.sh

run: venv
	bash scripts/run.sh

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy app config

test-sqlite: venv system-deps
	$(BIN)/python -m pytest --db=sqlite

test-postgres: venv system-deps
	$(BIN)/python -m pytest --db=postgresql

test: lint test-sqlite test-postgres

clean:
	rm -rf $(VENV) instance test-artifacts
