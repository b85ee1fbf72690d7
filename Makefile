# make run   - install into .venv and start the local stack (claimbridge serve)
# make test  - lint the templates, scan them, run every test
# make bench - the benchmark (ratios measured in the same run)
# make fuzz  - the long property-based campaign against both intakes (20,000 examples each)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
ARGS ?=

.PHONY: run test bench fuzz lint clean node browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.local: $(BIN)/python pyproject.toml requirements.txt
	$(BIN)/pip install -q -e '.[local]'
	touch $@

$(VENV)/.dev: $(BIN)/python pyproject.toml requirements.txt
	$(BIN)/pip install -q -e '.[dev]'
	touch $(VENV)/.local $@

run: $(VENV)/.local
	$(BIN)/claimbridge serve $(ARGS)

lint: $(VENV)/.dev
	$(BIN)/cfn-lint template.yaml
	$(BIN)/checkov -f template.yaml --framework cloudformation --skip-download --quiet --compact
	$(BIN)/cfn-lint infra/mllp/template.yaml
	$(BIN)/checkov -f infra/mllp/template.yaml --framework cloudformation --skip-download --quiet --compact

test: lint node browser
	$(BIN)/python -m pytest -q

# node and npm run ../shared/tools/fhir-validate (profile checks in tests/integration/test_profile_validation.py)
# and fhir-kit-client (tests/clients, driven by tests/integration/test_fhir_clients.py): installed from
# Debian when they are not there; tests/clients' packages from its lockfile.
node:
	@if ! { command -v node && command -v npm; } >/dev/null 2>&1; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null) \
	      || echo "node/npm could not be installed: the fhir-validate and fhir-kit-client tests will be skipped"; \
	  else echo "node/npm missing and not installable here: the fhir-validate and fhir-kit-client tests will be skipped"; fi; \
	fi
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --prefix tests/clients --no-audit --no-fund --loglevel=error \
	    || echo "npm ci failed in tests/clients: the fhir-kit-client test will be skipped"; \
	fi

# Debian's chromium and chromium-driver: tests/browser drives the console in them (headless, Selenium).
browser:
	@if ! { command -v chromium && command -v chromedriver; } >/dev/null 2>&1; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
	      || echo "chromium could not be installed: the console tests (tests/browser) will fail"; \
	  else echo "chromium/chromedriver missing and not installable here: the console tests (tests/browser) will fail"; fi; \
	fi

bench: $(VENV)/.dev browser
	$(BIN)/python bench/bench.py

fuzz: $(VENV)/.dev
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q -p no:cacheprovider tests/unit/test_fuzz_fhir.py tests/unit/test_fuzz_hl7.py

clean:
	rm -rf $(VENV) .pytest_cache
