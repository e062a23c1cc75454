# One virtualenv for everything: .venv. Every target that needs it depends on it,
# so `make run` and `make test` work on a fresh clone with nothing set up by hand.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
CHARM_DEPS := $(VENV)/.charm-deps

.PHONY: run test test-server test-unit build bench clean system-deps screenshot

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[dev]'
	touch $@

venv: $(STAMP)

## make run: the server on an embedded PostgreSQL under ./.livepatch, on 127.0.0.1:8080
run: $(STAMP)
	$(PY) -m livepatch_app dev

## make test: everything (unit, server, charm, end to end)
test: $(STAMP) $(CHARM_DEPS) build system-deps
	LIVEPATCH_REQUIRE_ALL_TESTS=1 $(PY) -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder --durations=15 tests

test-server: $(STAMP)
	$(PY) -m pytest -q tests/server tests/unit

## make build: the deployable charm in build/livepatch (charm-tools, ./interfaces, offline
## wheelhouse for Python 3.10/3.12 and this machine's); a no-op when nothing changed
build:
	PYTHON=$(PYTHON) bash scripts/build-charm.sh

# The charm's own packages (charms.reactive, charmhelpers) in .venv, for tests/charm.
$(CHARM_DEPS): wheelhouse.txt $(STAMP)
	$(PIP) install -q -r wheelhouse.txt
	touch $@

## make bench: the server's downloads and check-ins under wrk, and patch sync, against references
## started in the same run (nginx, bare Flask views under waitress, curl); installs wrk, nginx
## and curl when missing
bench: $(STAMP)
	bash scripts/apt-ensure.sh wrk=wrk nginx=nginx-light curl=curl
	$(PY) bench/bench.py

## make screenshot: docs/console-overview.png, the web console's overview of a seeded fleet
## in a headless Chromium at 1280 px (installs chromium and chromium-driver when missing)
screenshot: $(STAMP)
	bash scripts/apt-ensure.sh chromium=chromium chromedriver=chromium-driver
	$(PY) scripts/console-screenshot.py docs/console-overview.png

# System packages the tests need (haproxy for the end-to-end tests; promtool, from
# Debian's prometheus package, checks the alert rules in monitoring/; chromium and
# its chromedriver, from Debian's chromium-driver package, drive the web console in
# tests/browser).
system-deps:
	bash scripts/apt-ensure.sh haproxy=haproxy unshare=util-linux promtool=prometheus \
		chromium=chromium chromedriver=chromium-driver

clean:
	rm -rf build .livepatch
