# AgencyOps: `make demo` runs the embedded demo, `make test` runs every check.
.DEFAULT_GOAL := help
SHELL := /bin/bash

VENV    := .venv
TOOLS   := .tools
UV      := $(TOOLS)/bin/uv
PY      := $(VENV)/bin/python
UV_VERSION := 0.13.8
PORT    ?= 8000

# Test services: real PostgreSQL and Redis on loopback (.ci/run starts them).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/agencyops
TEST_REDIS_URL    ?= redis://127.0.0.1:6379/15

# The first Python >= 3.12 on PATH, else under pyenv. Django 6 needs 3.12+.
define FIND_PYTHON
for c in python3.13 python3.12 python3 $$HOME/.pyenv/versions/3.13*/bin/python3 $$HOME/.pyenv/versions/3.12*/bin/python3; do \
  p=$$(command -v $$c 2>/dev/null) || continue; \
  "$$p" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && { echo "$$p"; exit 0; }; \
done; exit 1
endef

.PHONY: help
help:
	@echo "make demo   set everything up and run the app on http://127.0.0.1:$(PORT)/"
	@echo "make test   run every test layer and check (needs PostgreSQL and Redis; see README)"
	@echo "make lint   ruff, mypy, import contract, migrations check"
	@echo "make clean  remove the virtualenv and the demo data (var/)"

$(UV):
	@py=$$($(FIND_PYTHON)) || { \
	  echo "AgencyOps needs Python 3.12 or newer, and none was found on PATH or under ~/.pyenv."; \
	  echo "Install one (for example 'pyenv install 3.12' or your system's python3.12 package) and retry."; \
	  exit 1; }; \
	echo "Using $$py"; \
	"$$py" -m venv $(TOOLS) && $(TOOLS)/bin/pip install --quiet "uv==$(UV_VERSION)"

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	@py=$$($(FIND_PYTHON)); \
	UV_PROJECT_ENVIRONMENT=$(VENV) UV_PYTHON_DOWNLOADS=never $(UV) sync --frozen --quiet --python "$$py"
	@touch $@

.PHONY: install
install: $(VENV)/.synced

.PHONY: demo
demo: install
	@DEBUG=true $(PY) manage.py demo --port $(PORT)

.PHONY: lint
# mypy's Django plugin and makemigrations import the settings, which need a SECRET_KEY
# unless DEBUG is on; linting never serves a page.
lint: export DEBUG := true
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(VENV)/bin/lint-imports
	$(PY) manage.py makemigrations --check --dry-run

.PHONY: test
test: lint
	DATABASE_URL=$(TEST_DATABASE_URL) TEST_REDIS_URL=$(TEST_REDIS_URL) \
	  $(VENV)/bin/pytest $(PYTEST_ARGS)

.PHONY: clean
clean:
	rm -rf $(VENV) $(TOOLS) var staticfiles
