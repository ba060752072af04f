# One command sets up and runs the pipeline (`make repro`), one runs the tests (`make test`).
# The set-up installs the CPU build of torch first so that the project's `torch<2.14` requirement is already met
# and pip never pulls the multi-GB CUDA wheels. pip compiles every module at install time: where the environment
# sets PYTHONDONTWRITEBYTECODE (this project's machines do), Python never caches what it compiles on import, so each
# of the pipeline's stage processes would compile torch, transformers and scikit-learn again.
PYTHON ?= python3
VENV := .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup repro repro-full test
setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet torch==2.13.0
	$(VENV)/bin/pip install --quiet -e ".[dev]"
	touch $@

repro: setup
	dvc repro

# The full-size search, meant for a GPU: profiles/full.yaml (every layer; the pair formulation, token spans, depth,
# epochs, every optimizer, batch 32 and lr down to 3e-5 in the space; 40 + 24 trials, 5 folds), an experiment on top
# of params.yaml (`dvc exp show` lists it). tools/profile_flags.py prints the profile as shell-quoted -S arguments;
# tests/test_full_size.py checks that they apply and every stage loads the result.
repro-full: setup
	flags=$$(python tools/profile_flags.py profiles/full.yaml) && eval "dvc exp run $$flags"

test: setup
	@pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests: the suite is misconfigured" >&2; fi; \
	exit $$rc
