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

messages: $(STAMP)
	$(PY) manage.py makemessages -l id --ignore=.venv --ignore=tests --ignore=sandbox --no-obsolete
	$(PY) manage.py compilemessages --ignore=.venv

clean:
	rm -rf $(VENV) db.sqlite3* sandbox.sqlite3* staticfiles bench-results test-results
