# Test harness of the client_refund addon. `make test` is the one test command:
#   1. checks that need no Odoo: pylint-odoo (with the manifest's files),
#      oca-checks-odoo-module (with XML syntax), the harness's own tests (venv .build/venv-checks);
#   2. the Odoo suite (tools/harness.py suite): Odoo 18 from ODOO_HOME, else
#      cloned from ODOO_REPO at ODOO_REF into .build/odoo, run from the venv
#      .build/venv; without an Odoo it says so loudly and passes.
# `make run` serves the salon demo database on PORT; `make bench` measures the
# addon against Odoo core (tools/bench.py).
# Variables: ODOO_HOME=/opt/odoo  ODOO_REPO=https://github.com/odoo/odoo.git
#            ODOO_REF=18.0  PYTHON=your/python (instead of .build/venv)
#            FAST=1 (skip the demo round)  PYTEST_ARGS="-k invoice"
#            CORE_TESTS=0 (skip core's own tests run with the addon)
#            ADDON_DIR=path (another copy of the addon)  BENCH_ARGS="--runs 7"
#            PORT=8069 (make run)
# Nothing is installed outside .build/, but Chromium and wkhtmltopdf (Debian
# packages, when run as root).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test
.DELETE_ON_ERROR:

# Runs the harness, which uses only the standard library: any python3 does.
HOST_PYTHON ?= python3
ODOO_HOME ?= /opt/odoo
ODOO_REPO ?= https://github.com/odoo/odoo.git
ODOO_REF ?= 18.0
PYTHON ?=
ADDON_DIR ?= $(CURDIR)
FAST ?=
PYTEST_ARGS ?=
CORE_TESTS ?= 1
BENCH_ARGS ?=
PORT ?= 8069
export ODOO_HOME ODOO_REPO ODOO_REF PYTHON ADDON_DIR FAST PYTEST_ARGS CORE_TESTS PORT

BUILD := $(CURDIR)/.build
CHECKS_VENV := $(BUILD)/venv-checks
CHECKS_STAGE := $(BUILD)/lint
HARNESS := $(HOST_PYTHON) tools/harness.py

.PHONY: test check odoo-suite run bench clean load

# The Odoo suite runs even when a check fails, so that one run shows everything.
test: $(BUILD)/venv-checks.stamp
	@checks=ok; suite=ok; \
	$(MAKE) --no-print-directory check || checks=FAILED; \
	$(MAKE) --no-print-directory odoo-suite || suite=FAILED; \
	if [ $$checks$$suite != okok ]; then \
	  echo "!!! make test FAILED (checks that need no Odoo: $$checks, Odoo suite: $$suite)"; exit 1; fi

# The stamp follows the requirement file: a change rebuilds the venv.
$(BUILD)/venv-checks.stamp: requirements-checks.txt
	@mkdir -p $(BUILD)
	rm -rf $(CHECKS_VENV)
	$(HOST_PYTHON) -m venv $(CHECKS_VENV)
	$(CHECKS_VENV)/bin/python -m pip install -qq --disable-pip-version-check \
	  --use-pep517 -r requirements-checks.txt
	@touch $@

# Linted as a copy in a folder named client_refund, as Odoo and the OCA tools
# expect: a clone may be called anything. Every check runs, so that one
# round shows all the problems; any problem fails.
check: $(BUILD)/venv-checks.stamp
	@echo "=== checks that need no Odoo"
	@$(HARNESS) stage $(ADDON_DIR) $(CHECKS_STAGE) >/dev/null
	@cd $(CHECKS_STAGE); failed=""; \
	echo "--- pylint-odoo"; \
	$(CHECKS_VENV)/bin/pylint --rcfile=$(CURDIR)/.pylintrc client_refund || failed+=" pylint"; \
	echo "--- oca-checks-odoo-module"; \
	$(CHECKS_VENV)/bin/oca-checks-odoo-module client_refund || failed+=" oca-checks-odoo-module"; \
	po=$$(find client_refund/i18n -name '*.po' 2>/dev/null || true); \
	if [ -n "$$po" ]; then echo "--- oca-checks-po"; \
	  $(CHECKS_VENV)/bin/oca-checks-po --disable=po-pretty-format $$po || failed+=" oca-checks-po"; fi; \
	echo "--- tools/tests"; \
	$(CHECKS_VENV)/bin/python -m pytest -p no:cacheprovider --rootdir=$(CURDIR)/tools/tests -q \
	  $(CURDIR)/tools/tests || failed+=" tools/tests"; \
	if [ -n "$$failed" ]; then echo "!!! checks FAILED:$$failed"; exit 1; fi; \
	echo "checks that need no Odoo: all clean"

odoo-suite: $(BUILD)/venv-checks.stamp
	@echo "=== Odoo suite"
	$(HARNESS) suite

# The salon demo on http://127.0.0.1:$(PORT), database client_refund_demo (made
# when missing; `dropdb client_refund_demo` to start afresh). The harness's
# checklog-odoo is in the checks' venv, for run, bench and load alike.
run: $(BUILD)/venv-checks.stamp
	$(HARNESS) run

# The addon against Odoo core on a throw-away database (a few minutes; not
# part of `make test` nor of CI).
bench: $(BUILD)/venv-checks.stamp
	$(HARNESS) python tools/bench.py $(BENCH_ARGS)

clean:
	rm -rf $(BUILD)

# Refunds under load over real HTTP (tools/load.py): two Odoo servers of two
# workers and a cron worker each on one seeded database, locust (its own venv
# .build/venv-load) refunding through /web/dataset/call_kw, then the books
# checked in SQL. About ten minutes; not part of `make test` nor of CI.
# LOAD_ARGS="--duration 30 --users 8" (see python3 tools/load.py --help).
LOAD_ARGS ?=
load: $(BUILD)/venv-checks.stamp
	$(HARNESS) python tools/load.py $(LOAD_ARGS)
