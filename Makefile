# taisly-dash: `make run` for a working demo, `make test` for the suite. See README.md.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install migrate run test bench lint messages clean

install: $(STAMP) migrate

# Reinstall only when the dependencies change.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

migrate: $(STAMP)
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py migrate --database sandbox --noinput -v0

run: install
	$(PY) manage.py demo
	@echo
	@echo "  taisly-dash:    http://127.0.0.1:8000/"
	@echo "  Taisly sandbox: http://127.0.0.1:8765/api/private"
	@echo "  Logins (password demo-pass-123): agency@demo.test, editor@demo.test,"
	@echo "  client@demo.test, solo@demo.test (two-factor: secret printed above), staff@demo.test"
	@echo
	$(VENV)/bin/honcho start

# The suite runs on PostgreSQL, as CI and production do: DATABASE_URL when it is set (CI sets
# it), else the local server when one answers (its database $(TEST_DB), made if missing), else
# SQLite, said out loud: the tests that mean something only on PostgreSQL (marked
# postgres_only: row locks, concurrent requests) then fail, unless ALLOW_SQLITE=1 leaves them out.
TEST_DB ?= taisly_dash_test
TEST_PG ?= -h 127.0.0.1 -p 5432 -U postgres
TEST_PG_URL ?= postgres://postgres@127.0.0.1:5432

test: $(STAMP)
	@if [ -n "$$DATABASE_URL" ]; then \
		echo "make test: the database of DATABASE_URL ($${DATABASE_URL%%://*})"; \
		$(PY) -m pytest $(PYTEST_ARGS); \
	elif command -v pg_isready >/dev/null 2>&1 && pg_isready -q $(TEST_PG); then \
		psql $(TEST_PG) -tAc "SELECT 1 FROM pg_database WHERE datname = '$(TEST_DB)'" | grep -q 1 \
			|| psql $(TEST_PG) -qc 'CREATE DATABASE "$(TEST_DB)"' || exit 1; \
		echo "make test: the local PostgreSQL, database $(TEST_DB)"; \
		DATABASE_URL=$(TEST_PG_URL)/$(TEST_DB) $(PY) -m pytest $(PYTEST_ARGS); \
	else \
		echo "make test: no PostgreSQL answers (pg_isready $(TEST_PG)), so SQLite: the"; \
		echo "  PostgreSQL-only tests fail unless ALLOW_SQLITE=1 leaves them out."; \
		$(PY) -m pytest $(PYTEST_ARGS); \
	fi

# Every benchmark runs, whatever the others did. A missed goal is a verdict (printed, and
# "passed": false in its JSON), not an error; only a benchmark that could not run fails the target.
bench: install
	@mkdir -p bench-results
	@crashed=""; for f in tests/bench/bench_*.py; do \
		echo "== $$f"; $(PY) -m tests.bench.$$(basename $$f .py) || crashed="$$crashed $$f"; \
	done; \
	echo "== verdicts"; $(PY) -m tests.bench.verdicts bench-results/*.json; \
	if [ -n "$$crashed" ]; then echo "Could not run:$$crashed"; exit 1; fi

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-logo

messages: $(STAMP)
	$(PY) manage.py makemessages -l id --ignore=.venv --ignore=tests --ignore=sandbox --no-obsolete
	$(PY) manage.py compilemessages --ignore=.venv

clean:
	rm -rf $(VENV) db.sqlite3* sandbox.sqlite3* staticfiles bench-results test-results
