# One command sets up and runs the pipeline (`make repro`), one runs the tests (`make test`).
# The set-up installs the CPU build of torch first so that the project's `torch<2.14` requirement is already met
# and pip never pulls the multi-GB CUDA wheels.
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

# The full-size search, meant for a GPU: every layer; the pair formulation, token spans, depth, epochs, every
# optimizer, batch 32 and lr down to 3e-5 in the space; 40 + 24 trials, 5 folds. An experiment on top of params.yaml
# (`dvc exp show` lists it); tests/test_full_size.py checks it loads.
FULL_SIZE := -S model.num_layers=null -S split.folds=5 \
	-S '+search.common.model.criterion_input={type: categorical, choices: [heads, pair]}' \
	-S '+search.common.model.num_layers={type: categorical, choices: [4, null]}' \
	-S '+search.common.model.span_unit={type: categorical, choices: [sentence, token]}' \
	-S 'search.common.train.optimizer.choices=[adamw, adam, adafactor, lion, sgd]' -S search.common.train.lr.low=3e-5 \
	-S 'search.common.train.batch_size.choices=[8, 16, 32]' \
	-S search.common.train.freeze_layers.high=4 -S '+search.common.train.epochs={type: int, low: 2, high: 6}' -S search.criteria.train.epochs.high=8 \
	-S search.evidence.train.epochs.high=6 -S 'search.criteria.train.batch_size.choices=[8, 16, 32]' \
	-S hpo.a.n_trials=40 -S hpo.a.tpe_startup=10 -S hpo.a.max_resource=8 -S hpo.a.train_fraction=0.5 \
	-S hpo.a.top_k=4 -S hpo.b.n_trials=24 -S hpo.b.population_size=8 -S hpo.b.train_fraction=1.0 \
	-S hpo.c.candidates=3
repro-full: setup
	dvc exp run $(FULL_SIZE)

test: setup
	@pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests: the suite is misconfigured" >&2; fi; \
	exit $$rc
