import json
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

from psy_agents import baseline
from psy_agents.config import BaselineConfig
from psy_agents.data.criteria_text import SYMPTOMS, criterion_id, description

STAGE = Path(__file__).resolve().parents[1] / "stages" / "baseline.py"
WORDS = dict(zip(SYMPTOMS, ["miserable", "bored", "starving", "sleepless", "restless", "exhausted",
                            "useless", "forgetful", "suicidal"]))
TEST_ONLY_WORD = "zebracorn"


def _post(i: int) -> tuple[str, str, list[tuple[str, str | None]]]:
    """Post id, text and its annotated sentences with their symptom (None: judged absent)."""
    split = "train" if i < 27 else "val" if i < 33 else "test"
    symptom = None if i % 6 == 5 else SYMPTOMS[i % 9]
    neutral = f"We walked to the {TEST_ONLY_WORD if split == 'test' else 'park'} after lunch."
    sentences = [(neutral, None)]
    if symptom:
        sentences.append((f"Lately I am {WORDS[symptom]} most days.", symptom))
    return f"p{i}", " ".join(s for s, _ in sentences), sentences


def _dataset():
    criteria, evidence, splits = [], [], {"train": [], "val": [], "test": [], "folds": []}
    for i in range(39):
        post_id, text, sentences = _post(i)
        splits["train" if i < 27 else "val" if i < 33 else "test"].append(post_id)
        for symptom in SYMPTOMS:
            common = {"post_id": post_id, "symptom": symptom, "criterion": criterion_id(symptom),
                      "criterion_text": description(symptom)}
            for j, (sentence, shown) in enumerate(sentences):
                criteria.append({**common, "sentence_id": j, "sentence": sentence, "label": int(shown == symptom)})
            answers = [{"start": text.index(s), "end": text.index(s) + len(s), "text": s}
                       for s, shown in sentences if shown == symptom]
            evidence.append({**common, "post": text, "answers": answers, "label": int(bool(answers))})
    return criteria, evidence, splits


CRITERIA, EVIDENCE, SPLITS = _dataset()
CFG = BaselineConfig(max_features=500)


def test_models_are_fitted_on_train_posts_only(monkeypatch):
    fitted = {}
    for name in ("fit_criteria_models", "fit_post_model"):
        real = getattr(baseline, name)
        monkeypatch.setattr(baseline, name, lambda *a, real=real, name=name: fitted.setdefault(name, real(*a)))
    baseline.criteria_baseline(CRITERIA, SPLITS, CFG)
    baseline.post_baseline(EVIDENCE, SPLITS, CFG)
    vocabularies = [m[0].vocabulary_ for m in fitted["fit_criteria_models"].values()] + [
        fitted["fit_post_model"][0].vocabulary_
    ]
    for vocabulary in vocabularies:
        assert "park" in vocabulary and "sleepless" in vocabulary
        assert TEST_ONLY_WORD not in vocabulary


def test_criteria_baseline_reports_and_beats_majority():
    report = baseline.criteria_baseline(CRITERIA, SPLITS, CFG)
    assert set(report) == {"val", "test"}
    for split in report.values():
        cls = split["cls"]
        assert {"macro_f1", "binary_f1", "accuracy", "auroc", "ece", "n", "positives", "per_group_f1"} <= set(cls)
        assert set(cls["per_group_f1"]) <= set(SYMPTOMS)
        assert split["majority"]["label"] == 0
        # The symptom words are perfectly predictive here, so TF-IDF must beat "always absent".
        assert cls["macro_f1"] > split["majority"]["macro_f1"]
    assert report["test"]["cls"]["n"] == 6 * 9 + 5 * 9  # six posts, five with a symptom sentence, x nine criteria


def test_post_baseline_reports_post_level_cls_and_no_answer_floor():
    report = baseline.post_baseline(EVIDENCE, SPLITS, CFG)
    test = report["test"]
    assert set(test) == {"post", "cls", "span_no_answer", "majority"}
    assert test["post"]["n_posts"] == 6
    assert {"micro_f1", "macro_f1", "per_label_f1"} <= set(test["post"])
    assert test["cls"]["n"] == 6 * 9
    span = test["span_no_answer"]
    assert (span["no_ans_f1"], span["has_ans_f1"]) == (1.0, 0.0)
    assert span["has_ans_total"] == sum(row["label"] for row in EVIDENCE if row["post_id"] in SPLITS["test"])
    assert test["post"]["micro_f1"] > 0.5


def test_criterion_with_one_train_class_predicts_its_prior():
    model = baseline.fit_text_classifier(["a b", "c d"], [0, 0], CFG)
    assert np.array_equal(baseline.positive_proba(model, ["a", "zzz"]), [0.0, 0.0])


def _write_inputs(root: Path, params: str) -> None:
    processed = root / "data" / "processed"
    processed.mkdir(parents=True)
    for name, rows in (("criteria", CRITERIA), ("evidence", EVIDENCE)):
        (processed / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (processed / "splits.json").write_text(json.dumps(SPLITS))
    (root / "params.yaml").write_text(params)


def _run_stage(monkeypatch, agent: str) -> None:
    monkeypatch.setattr(sys, "argv", ["stages/baseline.py", "--agent", agent])
    runpy.run_path(str(STAGE), run_name="__main__")


@pytest.mark.parametrize("agent", ["criteria", "joint"])
def test_stage_writes_rounded_sorted_metrics(tmp_path, monkeypatch, agent):
    _write_inputs(tmp_path, "baseline:\n  max_features: 500\n  ngram_max: 1\n")
    monkeypatch.chdir(tmp_path)
    _run_stage(monkeypatch, agent)
    text = (tmp_path / "metrics" / agent / "baseline.json").read_text()
    report = json.loads(text)
    assert text == json.dumps(report, sort_keys=True, indent=2) + "\n"
    assert report["test"]["cls"]["macro_f1"] == round(report["test"]["cls"]["macro_f1"], 4)
    assert ("post" in report["test"]) == (agent != "criteria")


def test_stage_rejects_unknown_param_with_one_line(tmp_path, monkeypatch, capsys):
    _write_inputs(tmp_path, "baseline:\n  max_feature: 500\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        _run_stage(monkeypatch, "criteria")
    assert exc.value.code == 2
    assert "baseline: unknown key(s) max_feature" in capsys.readouterr().err
