# One command surface: make install | run | test | test-fast | bench | lint | codegen
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ARGS ?=

.PHONY: install run test test-fast bench lint codegen system-deps clean

install: $(STAMP)

$(STAMP): pyproject.toml setup.py
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q -e '.[test,bench]'
	touch $(STAMP)

# Debian packages the tests drive (kcat); installed only when missing.
system-deps:
	@command -v kcat >/dev/null 2>&1 || { \
	  command -v apt-get >/dev/null 2>&1 && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat >/dev/null) \
	  || echo "warning: kcat not installed; its tests will be skipped"; }

run: install
	$(VENV)/bin/panda-runtime $(ARGS)

test: install system-deps
	$(PY) -m pytest -q $(ARGS)

# The unit tests only (in-process, no sleeps to speak of): under 30 s. tests/README.md.
test-fast: install
	$(PY) -m pytest -m unit -q $(ARGS)

# Every benchmark, then the suite against the peer broker (about 15 minutes more).
bench: install
	@for b in ring protocol record_batch storage broker; do \
	  echo "== bench/$$b.py"; $(PY) -m panda.bench.$$b || exit 1; done
	$(PY) -m panda.bench.kafka --plots-dir docs/img

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy -p panda

codegen: install
	$(PY) -m panda.net.kafka.codegen

clean:
	rm -rf $(VENV) build *.egg-info
