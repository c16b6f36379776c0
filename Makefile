# lro-watcher developer commands. `make setup` prepares .venv and node_modules (Azurite);
# every other target depends on it. Stamp files make setup a no-op until
# requirements*.txt or package-lock.json change.

PYTHON ?= python3
VENV := .venv
VENV_PYTHON := $(VENV)/bin/python
PIP_STAMP := $(VENV)/.requirements.stamp
NPM_STAMP := node_modules/.package-lock.stamp
PYTEST_ARGS ?=

.PHONY: setup test demo clean

setup: $(PIP_STAMP) $(NPM_STAMP)

$(VENV_PYTHON):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "lro-watcher needs Python 3.11+; run: make PYTHON=python3.11 setup")'
	$(PYTHON) -m venv $(VENV)

$(PIP_STAMP): $(wildcard requirements*.txt) | $(VENV_PYTHON)
	$(VENV_PYTHON) -m pip install --disable-pip-version-check --quiet -r requirements-dev.txt
	@touch $@

# npm ci wipes node_modules (and the stamp in it) and installs exactly package-lock.json.
# --ignore-scripts: Azurite needs no install scripts.
$(NPM_STAMP): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	@touch $@

# pytest exits 5 when it collected no test: that fails the target, as it should.
test: setup
	$(VENV_PYTHON) -m pytest $(PYTEST_ARGS)

demo: setup
	$(VENV_PYTHON) -m tools.demo

clean:
	rm -rf $(VENV) node_modules .pytest_cache .hypothesis
	find . -path ./.git -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
