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
	$(PY) manage.py createcachetable
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

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

bench: install
	@mkdir -p bench-results
	@set -e; for f in tests/bench/bench_*.py; do \
		echo "== $$f"; $(PY) -m tests.bench.$$(basename $$f .py); \
	done

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

messages: $(STAMP)
	$(PY) manage.py makemessages -l id --ignore=.venv --ignore=tests --ignore=sandbox --no-obsolete
	$(PY) manage.py compilemessages --ignore=.venv

clean:
	rm -rf $(VENV) db.sqlite3* sandbox.sqlite3* staticfiles bench-results test-results
