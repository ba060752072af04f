import json
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import defaults, write_params

from psy_agents import baseline
from psy_agents.config import BaselineConfig
from psy_agents.data.io import read_jsonl
from psy_agents.data.sentences import sentence_spans
from psy_agents.data.criteria_text import SYMPTOMS, criterion_id, description
from psy_agents.evaluation import scoring
from psy_agents.evaluation.scoring import fit_thresholds, score

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
    criteria, evidence, splits = [], [], {"train": [], "val": [], "test": []}
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
    train_val = splits["train"] + splits["val"]
    fold = [(j + j // 9) % 3 for j in range(len(train_val))]  # posts of one symptom land in different folds
    splits["folds"] = [{"train": [p for j, p in enumerate(train_val) if fold[j] != k],
                        "val": [p for j, p in enumerate(train_val) if fold[j] == k]} for k in range(3)]
    return criteria, evidence, splits


CRITERIA, EVIDENCE, SPLITS = _dataset()
CFG = defaults(BaselineConfig, max_features=500)


def _report(agent: str) -> dict:
    return baseline.baseline_report(agent, CRITERIA if agent == "criteria" else EVIDENCE, CRITERIA, SPLITS, CFG)[0]


@pytest.mark.parametrize("agent", ["criteria", "share"])
def test_classifiers_never_see_test_posts_nor_thresholds_test_rows(monkeypatch, agent):
    """The test column trains on train+val and takes its thresholds from out-of-fold predictions; the val column
    is cross-fitted, as a trial's val figures are: each half of the val posts is fitted on, the other decided."""
    fitted, thresholded = [], []
    real_vectorizer, real_fit = baseline._vectorizer, baseline.fit_thresholds

    def vectorizer(cfg):
        v = real_vectorizer(cfg)
        real = v.fit_transform
        v.fit_transform = lambda texts, *a, **k: fitted.append(list(texts)) or real(texts, *a, **k)
        return v

    monkeypatch.setattr(baseline, "_vectorizer", vectorizer)
    def spy(agent, records, calibrate):
        thresholded.append(records)
        return real_fit(agent, records, calibrate)

    monkeypatch.setattr(baseline, "fit_thresholds", spy)
    monkeypatch.setattr(scoring, "fit_thresholds", spy)  # what cross_fitted calls
    _report(agent)
    assert fitted and all(TEST_ONLY_WORD not in text for texts in fitted for text in texts)
    assert any("park" in text for texts in fitted for text in texts)
    assert len(thresholded) == 3  # the two halves of val, then test's (on out-of-fold records)
    halves = [{r["post_id"] for r in records} for records in thresholded[:2]]
    assert not halves[0] & halves[1] and halves[0] | halves[1] == set(SPLITS["val"])
    assert all(r["post_id"] not in SPLITS["test"] for records in thresholded for r in records)
    assert {r["post_id"] for r in thresholded[2]} == set(SPLITS["train"] + SPLITS["val"])


# What the floors that answer something score here (val and test alike: five posts with one symptom sentence each,
# a different symptom each, and one post without): always_positive decides every (text, criterion) 1, so a symptom
# scores F1 = 2 TP / (2 TP + FP) over its texts: criteria 2 / (2 + 10) over the 11 sentences, share and joint
# 2 / (2 + 5) over the 6 posts with no evidence (halved); every_sentence answers all 648 words of the 54 (post,
# criterion) pairs, 30 of them gold: evidence F1 60 / 678, and share and joint add the decisions' 2 / 7 to it.
# The evidence agent decides by answering, so its always_positive is every_sentence.
ANSWERING_FLOORS = {
    "criteria": {"always_positive": 1 / 6},
    "evidence": {"always_positive": 60 / 678, "every_sentence": 60 / 678},
    "share": {"always_positive": 1 / 7, "every_sentence": (2 / 7 + 60 / 678) / 2},
    "joint": {"always_positive": 1 / 7, "every_sentence": (2 / 7 + 60 / 678) / 2},
}


@pytest.mark.parametrize("agent", ["criteria", "evidence", "share", "joint"])
def test_every_entry_has_a_primary_floors_score_low_and_tfidf_beats_them(agent):
    report = _report(agent)
    floors = {"majority", "predict_nothing"}  # for the span agents majority is also "always no answer"
    for split in ("val", "test"):
        assert set(report[split]) == {"tfidf"} | floors | set(ANSWERING_FLOORS[agent])
        for floor in floors:
            assert report[split][floor] == {"primary": 0.0}
        for floor, primary in ANSWERING_FLOORS[agent].items():
            assert report[split][floor]["primary"] == pytest.approx(primary) and primary < 0.2
        # The symptom words are perfectly predictive here, so TF-IDF must beat every floor.
        assert report[split]["tfidf"]["primary"] > 0.5
    if agent != "criteria":
        post = report["test"]["tfidf"]["post"]
        assert {"micro_f1", "macro_f1", "micro_f1_at_05", "macro_f1_at_05", "floor_micro_f1"} <= set(post)


def test_evidence_baseline_answers_with_a_sentence_of_the_post():
    assert sentence_spans("I walked. Lately I am sad.  ") == [(0, 9), (10, 26)]
    report = _report("evidence")
    assert report["test"]["tfidf"]["evidence_recall"] > 0.5


def test_criterion_with_one_train_class_predicts_its_prior():
    model = baseline.TextClassifier(["a b", "c d"], [0, 0], CFG)
    assert np.all(model.log_odds(["a", "zzz"]) < -10)


def _write_inputs(root: Path, params: dict) -> None:
    processed = root / "data" / "processed"
    processed.mkdir(parents=True)
    for name, rows in (("criteria", CRITERIA), ("evidence", EVIDENCE)):
        (processed / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (processed / "splits.json").write_text(json.dumps(SPLITS))
    write_params(root, params)


def _run_stage(monkeypatch, agent: str) -> None:
    monkeypatch.setattr(sys, "argv", ["stages/baseline.py", "--agent", agent])
    runpy.run_path(str(STAGE), run_name="__main__")


@pytest.mark.parametrize("agent", ["criteria", "joint"])
def test_stage_writes_the_rounded_report_and_the_tfidf_primaries_as_metrics(tmp_path, monkeypatch, agent):
    _write_inputs(tmp_path, {"baseline.max_features": 500, "baseline.ngram_max": 1})
    monkeypatch.chdir(tmp_path)
    _run_stage(monkeypatch, agent)
    text = (tmp_path / "outputs" / agent / "baseline" / "report.json").read_text()
    report = json.loads(text)
    assert text == json.dumps(report, sort_keys=True, indent=2) + "\n"
    primary = report["test"]["tfidf"]["primary"]
    assert primary == round(primary, 4)
    assert ("post" in report["test"]["tfidf"]) == (agent != "criteria")
    assert all(floor["primary"] < 0.2 for split in ("val", "test") for name, floor in report[split].items()
               if name != "tfidf")  # trivial predictors score low: the metrics leave the floors out
    metrics = json.loads((tmp_path / "metrics" / agent / "baseline.json").read_text())
    tfidf = report["test"]["tfidf"]
    assert metrics == {"primary": primary, "low": tfidf["primary_low"], "high": tfidf["primary_high"]}
    assert metrics["low"] <= primary <= metrics["high"]
    # refit's reference: the TF-IDF test predictions, one per test example, with the decisions the primary counts
    predictions = read_jsonl(tmp_path / "outputs" / agent / "baseline" / "test_predictions.jsonl")
    examples = CRITERIA if agent == "criteria" else EVIDENCE
    assert len(predictions) == len([r for r in examples if r["post_id"] in SPLITS["test"]])
    assert all(p["decision"] in (0, 1) for p in predictions)


def test_stage_rejects_unknown_param_with_one_line(tmp_path, monkeypatch, capsys):
    _write_inputs(tmp_path, {"baseline.max_feature": 500})
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        _run_stage(monkeypatch, "criteria")
    assert exc.value.code == 2
    assert "baseline: unknown key(s) max_feature" in capsys.readouterr().err


def test_evidence_baseline_answers_every_sentence_its_criterion_scores_above_the_threshold():
    train, val = (set(SPLITS[k]) for k in ("train", "val"))
    model = baseline.PostBaseline([r for r in EVIDENCE if r["post_id"] in train],
                                  [r for r in CRITERIA if r["post_id"] in train], CFG)
    thresholds = fit_thresholds("evidence", model.records([r for r in EVIDENCE if r["post_id"] in val]), True)
    first, second = "Lately I am miserable most days.", "I am miserable again."
    text = f"{first} We walked to the park after lunch. {second}"
    gold = [{"start": text.index(s), "end": text.index(s) + len(s), "text": s} for s in (first, second)]
    row = {"post_id": "new", "symptom": "DEPRESSED_MOOD", "post": text, "answers": gold, "label": 1}
    (prediction,) = score("evidence", model.records([row]), thresholds)[1]
    assert prediction["answer"] == [[g["start"], g["end"], g["text"]] for g in gold]
    assert prediction["answer_counts"] == [10, 10, 10]  # 6 + 4 words, all gold
