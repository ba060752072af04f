"""The tfidf stage: fitted on train posts only, written in the format nlpaug's TfIdfAug reads."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import nlpaug.augmenter.word as naw
import nlpaug.augmenter.word.tfidf as nlpaug_tfidf
import pytest

from psy_agents.augment.tfidf import MODEL_FILES, fit_tfidf, train_texts, write_nlpaug_model
from psy_agents.config import TfidfConfig
from psy_agents.errors import InputError
from conftest import defaults, run_sections, run_stage, write_params

POSTS = {
    "p1": "I feel sad and tired every day. Work is hard.",
    "p2": "I feel tired and my sleep is bad. Work is hard.",
    "v1": "My zebracorn haunts me at night.",  # val only
    "t1": "The quokkaberry tastes of nothing now.",  # test only
}


def write_processed(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    splits = {"train": ["p1", "p2"], "val": ["v1"], "test": ["t1"], "folds": [{"train": ["p1"], "val": ["p2"]}]}
    (directory / "splits.json").write_text(json.dumps(splits), encoding="utf-8")
    with (directory / "evidence.jsonl").open("w", encoding="utf-8") as fh:
        for post_id, post in POSTS.items():
            for criterion in ("A.1", "A.4"):  # one line per (post, criterion): the post text repeats
                row = {"post_id": post_id, "symptom": "X", "criterion": criterion, "criterion_text": "desc",
                       "post": post, "answers": [], "label": 0}
                fh.write(json.dumps(row) + "\n")
    with (directory / "criteria.jsonl").open("w", encoding="utf-8") as fh:
        for post_id, post in POSTS.items():
            sentence = post.split(". ")[0]
            for criterion in ("A.1", "A.4"):
                row = {"post_id": post_id, "sentence_id": f"{post_id}_0", "sentence": sentence, "symptom": "X",
                       "criterion": criterion, "criterion_text": "desc", "label": 0}
                fh.write(json.dumps(row) + "\n")


def read_words(path: Path) -> dict[str, float]:
    return {w: float(s) for w, s in (line.split(" ") for line in path.read_text(encoding="utf-8").splitlines())}


def test_train_texts_reads_each_train_post_and_sentence_once(tmp_path):
    write_processed(tmp_path)
    texts = train_texts(tmp_path, ["p1", "p2"])
    sentences = ["I feel sad and tired every day", "I feel tired and my sleep is bad"]
    assert sorted(texts) == sorted([POSTS["p1"], POSTS["p2"], *sentences])


def test_fit_gives_nlpaug_tables_of_unigrams():
    w2idf, w2tfidf = fit_tfidf(list(POSTS.values()), defaults(TfidfConfig, min_df=1))
    assert set(w2idf) == set(w2tfidf) and all(" " not in w for w in w2idf)
    assert sum(w2tfidf.values()) == pytest.approx(1.0)  # nlpaug samples replacement words with these as p
    assert w2idf["feel"] < w2idf["zebracorn"]  # frequent words have a lower IDF
    assert "zebracorn" not in fit_tfidf(list(POSTS.values()), defaults(TfidfConfig, min_df=2))[0]


def test_fit_on_nothing_is_one_clear_error():
    with pytest.raises(InputError, match="min_df"):
        fit_tfidf(["a b"], defaults(TfidfConfig, min_df=1))  # the default token pattern keeps no 1-letter word


def test_stage_fits_on_train_only_and_nlpaug_loads_it(tmp_path, monkeypatch):
    write_processed(tmp_path / "data" / "processed")
    write_params(tmp_path, {"tfidf.min_df": 1})
    result = run_stage("tfidf.py", tmp_path)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "data" / "tfidf"
    assert sorted(p.name for p in out.iterdir()) == sorted(MODEL_FILES)
    for name in MODEL_FILES:
        words = read_words(out / name)
        assert {"sad", "tired", "sleep"} <= set(words)
        assert not {"zebracorn", "quokkaberry", "haunts", "tastes"} & set(words)  # val / test words never leak

    monkeypatch.setattr(nlpaug_tfidf, "TFIDF_MODEL", {})  # nlpaug caches one model per process
    aug = naw.TfIdfAug(model_path=str(out), action="substitute", aug_min=2)
    assert set(aug.model.w2idf) == set(read_words(out / MODEL_FILES[0]))
    assert aug.augment("I feel sad and tired every day")[0] != "I feel sad and tired every day"


def test_stage_without_groundtruth_fails_with_one_line(tmp_path):
    write_params(tmp_path)
    result = run_stage("tfidf.py", tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: data/processed/splits.json: not found; run `dvc repro` to build it"
    ]


def test_write_creates_the_directory(tmp_path):
    out = write_nlpaug_model(tmp_path / "a" / "b", {"sad": 1.5}, {"sad": 1.0})
    assert read_words(out / MODEL_FILES[1]) == {"sad": 1.0}


def test_stage_c_fits_tfidf_on_each_fold_train_part_only(tmp_path, monkeypatch):
    import psy_agents.hpo.crossval as stages
    from psy_agents.config import HpoConfig

    processed = tmp_path / "processed"
    write_processed(processed)
    splits = json.loads((processed / "splits.json").read_text(encoding="utf-8"))
    splits["folds"] = [{"train": ["p1", "p2"], "val": ["v1"]}, {"train": ["p1", "v1"], "val": ["p2"]}]
    examples = [{"post_id": p, "label": 0} for p in POSTS]
    seen = []

    class Result:
        best_metrics, best_epoch, epochs_run = {"primary": 0.5}, 1, 1
        best_predictions = [{"post_id": "v1", "sentence_id": 0, "symptom": "FATIGUE", "label": 1, "logit": 0.3},
                            {"post_id": "p2", "sentence_id": 0, "symptom": "FATIGUE", "label": 0, "logit": -1.0}]

    def fake_train(run, train_ex, val_ex, **_):
        seen.append(set(read_words(Path(run.augment.tfidf_dir) / MODEL_FILES[0])))
        return Result()

    fits = []
    real_fit = stages.fit_nlpaug_model
    monkeypatch.setattr(stages, "fit_nlpaug_model", lambda *a: fits.append(a[1]) or real_fit(*a))
    monkeypatch.setattr(stages, "PROCESSED", processed)
    monkeypatch.setattr(stages, "train", fake_train)
    inputs = stages.StageInputs(
        agent="criteria", sections=run_sections(), search={}, hpo=defaults(HpoConfig),
        tfidf=defaults(TfidfConfig, min_df=1), examples=examples, splits=splits, out_dir=tmp_path,
    )
    inputs = replace(inputs, hpo=replace(inputs.hpo, c=replace(inputs.hpo.c, candidates=2)))
    candidates = [{"trial": t, "params": {"augment.p_apply": 0.5}} for t in (0, 1)]
    stages.cross_validate(inputs, candidates, progress=False)
    assert "zebracorn" not in seen[0] and "sleep" in seen[0]  # fold 1 validates on v1
    assert "zebracorn" in seen[1] and "sleep" not in seen[1]  # fold 2 validates on p2, the only "sleep" post
    assert seen[2:] == seen[:2]  # the second candidate trains on the same fold models...
    assert fits == [splits["folds"][0]["train"], splits["folds"][1]["train"]]  # ...fitted once per fold
