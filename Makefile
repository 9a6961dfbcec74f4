# OMS: `make demo` runs the whole stack on the embedded default (SQLite, filesystem broker);
# `make test` runs the test suite against MariaDB and Redis on loopback.
# Both work on a fresh Debian machine: missing system packages are installed with apt-get.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
PORT ?= 8000
PYTEST_WORKERS ?= 2
export OMS_VAR_DIR ?= $(CURDIR)/var

# python3-dev: mysqlclient has no Linux wheel and compiles against Python.h; gettext: compilemessages.
APT_PACKAGES := build-essential pkg-config python3-dev libmariadb-dev gettext python3-venv curl
# `make test-scale` starts its own Redis Sentinel and Cluster nodes and uses RabbitMQ on loopback.
SCALE_APT_PACKAGES := redis-server redis-sentinel redis-tools rabbitmq-server
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help demo test test-scale lint migrate messages system-deps scale-deps venv venv-dev

help:
	@echo "make demo      install, migrate, load demo data, run web + worker + beat on http://127.0.0.1:$(PORT)"
	@echo "make test      run the test suite against MariaDB and Redis on 127.0.0.1"
	@echo "make test-scale  the scale-out tests: RabbitMQ, Redis Sentinel and Cluster, two beats"
	@echo "make lint      ruff check and format check"
	@echo "make migrate   apply database migrations"
	@echo "make messages  compile every app's translations"

system-deps scale-deps: PACKAGES = $(if $(filter scale-deps,$@),$(SCALE_APT_PACKAGES),$(APT_PACKAGES))
system-deps scale-deps:
	@missing=""; \
	for pkg in $(PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$pkg 2>/dev/null | grep -q "ok installed" || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "Installing system packages:$$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(PY): | system-deps
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.installed: requirements.txt | $(PY)
	$(PIP) install -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(PY)
	$(PIP) install -q -r requirements-dev.txt
	touch $@ $(VENV)/.installed

venv: system-deps $(VENV)/.installed

venv-dev: system-deps $(VENV)/.installed-dev

messages: venv
	$(PY) manage.py compilemessages -v0 --ignore=.venv --ignore=var --ignore=.git

migrate: venv
	$(PY) manage.py migrate --no-input

# The demo's simulated WMS, payment sandbox and platform simulator call back to the web
# process; the web process and worker send fulfillments to the simulated WMS.
demo: export OMS_BASE_URL ?= http://127.0.0.1:$(PORT)
demo: export PAYMENT_NOTIFY_BASE_URL ?= http://127.0.0.1:$(PORT)
demo: export WMS_BASE_URL ?= http://127.0.0.1:8002
# Parcels wait one minute (not five) for a merge, so shipments show up while you watch.
demo: export MERGE_HOLD_MINUTES ?= 1
demo: venv messages
	$(PY) manage.py migrate --no-input -v0
	$(PY) manage.py collectstatic --no-input -v0
	$(PY) manage.py demo_seed
	$(PY) manage.py demo_admin --port $(PORT)
	exec $(PY) manage.py demo_run --port $(PORT)

test: venv-dev messages
	$(PY) -m pytest -n $(PYTEST_WORKERS) -q -m "not scale" $(PYTEST_ARGS)

# Serial: the tests start servers on ports of their own (OMS_SCALE_PORT_BASE, default 17600).
test-scale: venv-dev messages scale-deps
	$(PY) -m pytest -q -m scale $(PYTEST_ARGS)

lint: venv-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache
