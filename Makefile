# Test harness of the client_refund addon. `make test` is the one test command:
#   1. checks that need no Odoo: manifest/XML validity, pylint-odoo,
#      oca-checks-odoo-module, the harness's own unit tests;
#   2. the Odoo suite (tools/harness.py suite) when an Odoo 18 is found in
#      ODOO_HOME or importable; without one it says so loudly and passes.
# `make bench` (tools/bench.py) measures the addon against Odoo core: queries
# and time of refunds, and the refund register at 100,000 records.
# Variables: ODOO_HOME=/opt/odoo  FAST=1 (skip demo install + uninstall)
#            PYTEST_ARGS="-k invoice"  ADDON_DIR=path (another copy of the addon)
#            BENCH_ARGS="--runs 7 --log-sql --explain" (tools/bench.py --help)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test
.DELETE_ON_ERROR:

PYTHON ?= python3
ODOO_HOME ?= /opt/odoo
ADDON_DIR ?= $(CURDIR)
FAST ?=
PYTEST_ARGS ?=
BENCH_ARGS ?=
export PYTHON ODOO_HOME ADDON_DIR FAST PYTEST_ARGS

BUILD := $(CURDIR)/.build
LINT_VENV := $(BUILD)/venv-lint
LINT_STAGE := $(BUILD)/lint
HARNESS := tools/harness.py
# Odoo's own pins constrain the project's packages, so installing them never
# upgrades what Odoo needs (requests, urllib3, Werkzeug, ...).
ODOO_CONSTRAINTS := $(wildcard $(ODOO_HOME)/requirements.txt)

.PHONY: test deps check odoo-suite run bench clean

# The Odoo suite runs even when a check fails, so that one run shows everything.
test: deps
	@checks=ok; suite=ok; \
	$(MAKE) --no-print-directory check || checks=FAILED; \
	$(MAKE) --no-print-directory odoo-suite || suite=FAILED; \
	if [ $$checks$$suite != okok ]; then \
	  echo "!!! make test FAILED (checks that need no Odoo: $$checks, Odoo suite: $$suite)"; exit 1; fi

deps: $(BUILD)/deps-test.stamp $(BUILD)/deps-lint.stamp

# Stamps make a second `make test` skip pip; they follow the requirement files.
$(BUILD)/deps-test.stamp: requirements-test.txt $(ODOO_CONSTRAINTS)
	@mkdir -p $(BUILD)
	$(PYTHON) $(HARNESS) pip-install requirements-test.txt $(ODOO_CONSTRAINTS)
	@touch $@

# The lint tools get a venv of their own: oca-odoo-pre-commit-hooks needs a
# polib that Odoo's pins forbid.
$(BUILD)/deps-lint.stamp: requirements-lint.txt
	@mkdir -p $(BUILD)
	rm -rf $(LINT_VENV)
	$(PYTHON) -m venv $(LINT_VENV)
	PYTHON=$(LINT_VENV)/bin/python $(LINT_VENV)/bin/python $(HARNESS) pip-install requirements-lint.txt
	@touch $@

# Linted as a copy in a folder named client_refund, as Odoo and the OCA tools
# expect: a clone may be called anything. Every check runs, so that one
# round shows all the problems; any problem fails.
check: deps
	@echo "=== checks that need no Odoo"
	@$(PYTHON) $(HARNESS) stage $(ADDON_DIR) $(LINT_STAGE) >/dev/null
	@cd $(LINT_STAGE); failed=""; \
	echo "--- manifest and XML validity"; \
	$(LINT_VENV)/bin/python $(CURDIR)/$(HARNESS) check-files client_refund || failed+=" files"; \
	echo "--- pylint-odoo"; \
	$(LINT_VENV)/bin/pylint --rcfile=$(CURDIR)/.pylintrc client_refund || failed+=" pylint"; \
	echo "--- oca-checks-odoo-module"; \
	$(LINT_VENV)/bin/oca-checks-odoo-module client_refund || failed+=" oca-checks-odoo-module"; \
	po=$$(find client_refund/i18n -name '*.po' 2>/dev/null || true); \
	if [ -n "$$po" ]; then echo "--- oca-checks-po"; \
	  $(LINT_VENV)/bin/oca-checks-po --disable=po-pretty-format $$po || failed+=" oca-checks-po"; fi; \
	if compgen -G '$(CURDIR)/tools/tests/test_*.py' >/dev/null; then echo "--- tools/tests"; \
	  $(PYTHON) -m pytest -p no:odoo -p no:cacheprovider --rootdir=$(CURDIR)/tools/tests -q \
	    $(CURDIR)/tools/tests || failed+=" tools/tests"; fi; \
	if [ -n "$$failed" ]; then echo "!!! checks FAILED:$$failed"; exit 1; fi; \
	echo "checks that need no Odoo: all clean"

odoo-suite: deps
	@echo "=== Odoo suite"
	$(PYTHON) $(HARNESS) suite

# Odoo with the addon on the demo database client_refund_demo, port 8069
# (created from the demo template when missing; `dropdb client_refund_demo`
# to start afresh).
run: $(BUILD)/deps-test.stamp
	$(PYTHON) $(HARNESS) run

# The addon against Odoo core on a throw-away copy of the template database
# (a few minutes; not part of `make test` nor of CI).
bench: $(BUILD)/deps-test.stamp
	$(PYTHON) tools/bench.py $(BENCH_ARGS)

clean:
	rm -rf $(BUILD)
