# mlgate: every target installs what it needs into .venv first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
MODEL ?= demo-classifier
STAGE ?= production
VERSION ?=
COMMENT ?=
PORT ?= 8080
PROFILE ?=
DEMO_ROUTER ?= registry
# test workers (pytest-xdist): the tests mostly wait on servers they start, so 3 beat 2 on 2 cores
TEST_WORKERS ?= 3

export MLFLOW_DISABLE_TELEMETRY := true
export GX_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: install demo test lint promote approve rollback serve server bench clean docs docs-build docs-screenshots

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev,docs,all]'
	touch $(STAMP)

demo: $(STAMP)
ifeq ($(DEMO_ROUTER),haproxy)
	@command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null; } || \
	  { echo "demo: haproxy is not installed (apt-get install haproxy)"; exit 1; }
	$(PY) pipelines/demo_haproxy.py
else
	$(PY) pipelines/demo.py
endif

test: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

lint: $(STAMP)
	$(VENV)/bin/ruff check mlgate tests pipelines bench
	$(VENV)/bin/ruff format --check mlgate tests pipelines bench
	$(VENV)/bin/mypy mlgate
	$(VENV)/bin/lint-imports

promote: $(STAMP)
	@test -n "$(VERSION)" || { echo "usage: make promote MODEL=name VERSION=n [STAGE=production]"; exit 2; }
	$(VENV)/bin/mlgate promote $(MODEL) $(VERSION) --to $(STAGE)

approve: $(STAMP)
	@test -n "$(VERSION)" || { echo "usage: make approve MODEL=name VERSION=n [STAGE=production] [COMMENT=text]"; exit 2; }
	$(VENV)/bin/mlgate approve $(MODEL) $(VERSION) --stage $(STAGE) $(if $(COMMENT),--comment '$(subst ','\'',$(COMMENT))')

rollback: $(STAMP)
	$(VENV)/bin/mlgate rollback $(MODEL)

serve: $(STAMP)
	$(VENV)/bin/mlgate serve $(MODEL) --port $(PORT)

server: $(STAMP)
	$(VENV)/bin/mlgate server $(if $(PROFILE),--profile $(PROFILE))

bench: $(STAMP)
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; } || \
	  echo "bench: wrk is not installed (apt-get install wrk); the serving bench uses its Python load generator"
	$(PY) bench/run.py

# The docs site (mkdocs-material; reference pages generated from the code by docs/hooks/reference.py).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve

docs-build: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

# Screenshots of the HTML gate and monitoring reports, taken by the tests that render them in Chromium.
docs-screenshots: $(STAMP)
	DOCS_SCREENSHOTS_DIR=docs/assets/screenshots $(PY) -m pytest -q \
	  tests/test_gate.py::test_the_html_report_renders_every_check_in_a_browser \
	  tests/test_monitor_run.py::test_cli_monitor_json_and_report_renders_in_chromium

clean:
	rm -rf .mlgate
