"""Same code, same inputs, same numbers: a run repeated in another process writes bit-identical records.

Each run is a fresh Python process with its own PYTHONHASHSEED (what a DVC stage rerun gets), and the two run side
by side, so each shares the CPU with the other. Anything that takes an order from string hashing (a set iterated,
e.g. nlpaug's misspelling lists), from timing or from the machine's load shows up as a difference.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from psy_agents.errors import InputError

TESTS = Path(__file__).resolve().parent

# A tiny joint model (heads, sentence spans: params.yaml's defaults) trained two epochs with every training post
# rewritten by nlpaug's misspellings each epoch; everything it produced is written out for comparison.
RUN = """
import hashlib, json, sys
from dataclasses import replace
sys.path.insert(0, sys.argv[1])
from conftest import run_cfg, tiny_examples
from psy_agents.augment.policy import augmenter_for
from psy_agents.training.loop import train

_, evidence = tiny_examples()
val_posts = sorted({e["post_id"] for e in evidence})[::4]
train_ex = [e for e in evidence if e["post_id"] not in val_posts]
val_ex = [e for e in evidence if e["post_id"] in val_posts]
run = run_cfg("joint", {
    "model": {"backbone": sys.argv[2], "max_length": 160, "doc_stride": 16, "head_hidden": 16},
    "train": {"epochs": 2, "patience": 0, "threads": 1},
    "augment": {"enabled": True, "p_apply": 1.0, "ops_per_sample": 2, "max_replace": 0.3,
                "methods": {"spelling": 1.0}},
})
result = train(run, train_ex, val_ex, augmenter=augmenter_for(run))
digest = hashlib.sha256()
for name, value in result.model.state_dict().items():
    digest.update(name.encode())
    digest.update(value.detach().contiguous().numpy().tobytes())
json.dump({"history": result.history, "predictions": result.best_predictions, "weights": digest.hexdigest()},
          open(sys.argv[3], "w"))
"""


def test_a_rerun_in_another_process_gives_identical_records(tiny_backbone, tmp_path):
    runs = []
    for hash_seed in ("1", "2"):
        out = tmp_path / f"run{hash_seed}.json"
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "TOKENIZERS_PARALLELISM": "false"}
        runs.append((out, subprocess.Popen([sys.executable, "-c", RUN, str(TESTS), tiny_backbone, str(out)],
                                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
    for _, process in runs:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr[-3000:]
    first, second = (json.loads(out.read_text()) for out, _ in runs)
    assert first["history"][0]["train_loss"] > 0 and len(first["predictions"]) > 0
    assert first["weights"] == second["weights"]
    assert first["history"] == second["history"]
    assert first["predictions"] == second["predictions"]


def test_spelling_misspellings_do_not_depend_on_string_hashing():
    """nlpaug dedupes each word's misspellings with list(set(...)); the method sorts them, so a seeded draw picks
    the same one in every process."""
    from psy_agents.augment import methods

    method = methods.build("spelling", {}, "", "")
    assert method.rewrite is not None
    import nlpaug.augmenter.word.spelling as spelling

    options = [values for values in spelling.SPELLING_ERROR_MODEL.dict.values() if len(values) > 1]
    assert options and all(values == sorted(values) for values in options)


def test_a_thread_team_that_shrinks_with_the_load_is_refused(monkeypatch):
    import torch

    from psy_agents.training.loop import deterministic_kernels

    monkeypatch.setenv("OMP_DYNAMIC", "TRUE")
    with pytest.raises(InputError, match="OMP_DYNAMIC"):
        deterministic_kernels(torch.device("cpu"))
    monkeypatch.setenv("OMP_DYNAMIC", "false")
    deterministic_kernels(torch.device("cpu"))
