# lro-watcher developer commands. `make setup` prepares .venv and node_modules (Azurite);
# every other target depends on it. Stamp files make setup a no-op until
# requirements*.txt or package-lock.json change.

PYTHON ?= python3
VENV := .venv
VENV_PYTHON := $(VENV)/bin/python
PIP_STAMP := $(VENV)/.requirements.stamp
NPM_STAMP := node_modules/.package-lock.stamp
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.requirements.stamp
PYTEST_ARGS ?=

.PHONY: setup test lint demo clean

# checkov's venv is not part of setup: only `make test` (tests/infra/test_checkov.py) and `make checkov` use it.
setup: $(PIP_STAMP) $(NPM_STAMP)

$(VENV_PYTHON):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "lro-watcher needs Python 3.11+; run: make PYTHON=python3.11 setup")'
	$(PYTHON) -m venv $(VENV)

$(PIP_STAMP): $(filter-out requirements-checkov.txt,$(wildcard requirements*.txt)) | $(VENV_PYTHON)
	$(VENV_PYTHON) -m pip install --disable-pip-version-check --quiet -r requirements-dev.txt
	@touch $@

# checkov has a venv of its own (see requirements-checkov.txt); tests/infra/test_checkov.py runs it.
$(CHECKOV_STAMP): requirements-checkov.txt | $(VENV_PYTHON)
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --disable-pip-version-check --quiet -r requirements-checkov.txt
	@touch $@

# npm ci wipes node_modules (and the stamp in it) and installs exactly package-lock.json.
# --ignore-scripts: Azurite needs no install scripts.
$(NPM_STAMP): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	@touch $@

# The linters and the architecture contract (pyproject.toml): ruff; mypy on the app, and --strict on the
# core; import-linter's contracts (the core imports no IO, no SDK, no tools); vulture (dead code, at 80 %
# confidence, vulture_whitelist.py says why each listed name is used); radon (no function graded D or
# worse: the target fails if `radon cc -n D` prints anything).
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy --strict shared/core
	$(VENV)/bin/lint-imports
	$(VENV)/bin/vulture --min-confidence 80 shared function_app.py vulture_whitelist.py
	@out="$$($(VENV)/bin/radon cc -n D -s shared function_app.py)"; \
	if [ -n "$$out" ]; then echo "radon: functions graded D or worse:"; echo "$$out"; exit 1; fi

# pytest exits 5 when it collected no test: that fails the target, as it should.
test: lint $(CHECKOV_STAMP)
	$(VENV_PYTHON) -m pytest $(PYTEST_ARGS)

demo: setup
	$(VENV_PYTHON) -m tools.demo

# The local stack (README "Running locally"): Azurite queue + blob and the simulator until Ctrl-C,
# local.settings.json written for run_local and func start.
.PHONY: stack
stack: setup
	$(VENV_PYTHON) -m tools.stack --write-local-settings

# checkov over infra/ (part of `make test` through tests/infra/test_checkov.py): the report, then the
# gate, which also fails on a file checkov could not parse (checkov itself exits 0 then).
# app/guards.bicep is skipped: checkov's Bicep parser does not know fail(), and the file has no resource.
.PHONY: checkov
checkov: setup $(CHECKOV_STAMP)
	$(CHECKOV_VENV)/bin/checkov --directory infra --framework bicep --skip-path infra/app/guards.bicep --compact --skip-download
	$(VENV_PYTHON) -m pytest -q tests/infra/test_checkov.py

# Benchmarks P1-P6 (tools/measure/bench): a table on stdout, the figures in bench/latest.json. About
# 13 minutes. azure-mgmt-core (ARMPolling, P2's reference) comes with requirements-dev.txt.
# bench-schedule: P5 and P6 alone (the polling schedule's fleet replays, about a minute and a half), merged
# into bench/latest.json beside the other figures.
.PHONY: bench bench-schedule
bench: setup
	$(VENV_PYTHON) -m tools.bench

bench-schedule: setup
	$(VENV_PYTHON) -m tools.bench --only p5,p6

# Soak (tools/measure/soak): the property tests with at least 10,000 examples each, then OPS operations
# through two run_local workers under injected faults, a worker SIGKILL and a graceful Azurite restart (SIGTERM),
# 5 % of them from the hostile lane. Report on stdout and in soak/$(OPS).json (soak/2000.json, soak/10000.json);
# fails if anything is lost or ends wrong, or any output holds a secret or is not strict JSON.
# About 10 to 20 minutes on 2 vCPUs (docs/guarantees.md, "Measured: make soak").
OPS ?= 2000
.PHONY: soak
soak: setup
	HYPOTHESIS_PROFILE=soak $(VENV_PYTHON) -m pytest -q tests/shared/test_fuzz.py tests/shared/test_request.py tests/shared/test_urls.py tests/shared/test_retry_after.py
	$(VENV_PYTHON) -m tools.soak --ops $(OPS)

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) node_modules .pytest_cache .hypothesis
	find . -path ./.git -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
