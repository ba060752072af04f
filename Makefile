# One command sets up and runs the pipeline (`make repro`), one runs the tests (`make test`).
# The set-up installs the CPU build of torch first so that the project's `torch<2.14` requirement is already met
# and pip never pulls the multi-GB CUDA wheels.
PYTHON ?= python3
VENV := .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup repro test
setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet torch==2.13.0
	$(VENV)/bin/pip install --quiet -e ".[dev]"
	touch $@

repro: setup
	dvc repro

test: setup
	@pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests: the suite is misconfigured" >&2; fi; \
	exit $$rc
