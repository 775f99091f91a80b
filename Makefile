# Buyswarm: `make run` serves the app with demo data; `make test` runs every check CI runs.
# Debian's python3.11 where it is installed: its statically linked, optimised build serves a bid with
# 12 % less CPU than pyenv's default build (no --enable-optimizations, a shared libpython), as
# measured by bench/bidding.py. Any Python 3.11 works: `make PYTHON=python3.11`.
PYTHON ?= $(firstword $(wildcard /usr/bin/python3.11) python3)
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := wsgi

.PHONY: run test lint test-sqlite test-postgres venv system-deps clean mutation

$(BIN)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || (rm -rf $(VENV) && python3 -m venv $(VENV))
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

# Mutation testing of money.py, the ledger and the clearing (about 6 minutes; docs/mutation-testing.md).
mutation: venv
	rm -rf mutants
	$(BIN)/mutmut run
	$(BIN)/mutmut results

clean:
	rm -rf $(VENV) instance test-artifacts
