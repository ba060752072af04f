"""Model directories: saved after training, loaded in one call (in a new process too), answering new posts."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import pytest
import torch
from conftest import ROOT, tiny_examples
from safetensors.torch import load_file
from test_loop import split, tiny_run
from transformers import AutoConfig, AutoTokenizer

import psy_agents
from psy_agents.data.sentences import sentence_spans
from psy_agents.data.criteria_text import SYMPTOMS
from psy_agents.errors import InputError
from psy_agents.inference import Post, load_model, predict_posts, save_model
from psy_agents.models.backbone import load_tokenizer
from psy_agents.training.loop import train

# every agent in both formulations with the default span unit (sentence), and token spans once
COMBOS = [(agent, form, "sentence") for agent in ("criteria", "evidence", "share", "joint") for form in ("pair", "heads")]
COMBOS.append(("share", "heads", "token"))
POSTS = [Post("a", "I feel empty and sad every single day. I lie awake until four every night.\n\nThanks."),
         Post(7, "Nothing I used to love gives me any joy now! I am exhausted after the smallest chore.")]


@pytest.fixture(scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trained(tiny_backbone, tmp_path_factory, one_thread):
    """COMBOS, each trained two epochs on tiny examples and saved: name -> (dir, result, val)."""
    criteria, evidence = tiny_examples()
    out = {}
    for agent, form, unit in COMBOS:
        run = tiny_run(agent, tiny_backbone)
        run = replace(run, model=replace(run.model, criterion_input=form, span_unit=unit))
        train_ex, val_ex = split(criteria if agent == "criteria" else evidence)
        result = train(run, train_ex, val_ex)
        directory = save_model(tmp_path_factory.mktemp(f"{agent}-{form}"), run, result.model, result.readout,
                               load_tokenizer(tiny_backbone), result.thresholds)
        out[f"{agent}-{form}" + "-token" * (unit == "token")] = (directory, result, val_ex)
    return out


LOAD_AND_PREDICT = """
import json, sys, torch
torch.set_num_threads(1)
from psy_agents import load_model
from psy_agents.inference import predict_examples
jobs = json.load(open(sys.argv[1]))
answers = {}
for name, (directory, examples) in jobs.items():
    predictions = predict_examples(load_model(directory), examples)
    answers[name] = [[p["prob"], p.get("answer")] for p in predictions]
print(json.dumps(answers))
"""


def test_saved_model_predicts_its_training_probabilities_in_a_new_process(trained, tmp_path):
    jobs = tmp_path / "jobs.json"
    jobs.write_text(json.dumps({name: [str(d), val] for name, (d, _, val) in trained.items()}))
    done = subprocess.run([sys.executable, "-c", LOAD_AND_PREDICT, str(jobs)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    answers = json.loads(done.stdout.splitlines()[-1])
    for name, (_, result, _) in trained.items():
        expected = result.best_predictions  # the best epoch's, whose weights and thresholds train() keeps
        assert [prob for prob, _ in answers[name]] == pytest.approx([p["prob"] for p in expected], abs=1e-5), name
        if not name.startswith("criteria"):
            assert [answer for _, answer in answers[name]] == [p["answer"] for p in expected], name


def test_directory_has_the_transformers_layout_safetensors_and_fitted_values(trained, tiny_backbone):
    directory, result, _ = trained["share-heads-token"]
    run = json.loads((directory / "run_config.json").read_text())
    assert run["agent"] == "share" and run["model"]["criterion_input"] == "heads"
    assert AutoConfig.from_pretrained(directory).hidden_size == 32
    text = "I lie awake until four every night."
    saved = AutoTokenizer.from_pretrained(directory)
    assert saved(text)["input_ids"] == load_tokenizer(tiny_backbone)(text)["input_ids"]
    weights = load_file(directory / "agent.safetensors")
    assert {"encoder.embeddings.word_embeddings.weight", "cls_head.mlp.1.weight", "span_head.qa.weight"} <= set(weights)
    assert set(weights) == set(result.model.state_dict())  # weights only: nothing fitted is stored on the model
    assert not {"prior_shift", "max_answer_tokens", "decision_threshold"} & set(weights)
    fitted = json.loads((directory / "thresholds.json").read_text())
    assert fitted == {**result.thresholds.to_dict(), "prior_shift": result.readout.prior_shift,
                      "max_answer_tokens": result.readout.max_answer_tokens}
    assert isinstance(fitted["max_answer_tokens"], int)
    # a sentence answer is never cut short: no max_answer_tokens to save
    directory, result, _ = trained["share-heads"]
    assert json.loads((directory / "run_config.json").read_text())["model"]["span_unit"] == "sentence"
    assert {"span_head.score.weight", "span_head.null.weight"} <= set(load_file(directory / "agent.safetensors"))
    assert result.readout.max_answer_tokens is None
    assert json.loads((directory / "thresholds.json").read_text()) == {
        **result.thresholds.to_dict(), "prior_shift": result.readout.prior_shift}


@pytest.mark.parametrize("name", ["criteria-pair", "joint-heads"])
def test_load_model_restores_weights_and_every_fitted_value(trained, name):
    directory, result, _ = trained[name]
    loaded = psy_agents.load_model(directory)
    assert loaded.run.agent == name.split("-")[0]
    assert not loaded.model.training
    saved, restored = result.model.state_dict(), loaded.model.state_dict()
    assert saved.keys() == restored.keys()
    assert not {"prior_shift", "max_answer_tokens"} & set(saved)
    # saved beside the weights, not in them
    assert loaded.thresholds == result.thresholds and loaded.readout == result.readout
    for key, value in saved.items():
        assert torch.equal(value.cpu(), restored[key].cpu()), key


def test_span_agent_answers_every_symptom_with_offsets_into_the_text(trained):
    loaded = load_model(trained["evidence-heads"][0])
    rows = predict_posts(loaded, POSTS)
    assert [row["id"] for row in rows] == ["a", 7]
    decision = loaded.thresholds.decision
    for post, row in zip(POSTS, rows, strict=True):
        assert list(row["symptoms"]) == list(SYMPTOMS)
        for answer in row["symptoms"].values():
            assert 0.0 <= answer["prob"] <= 1.0 and answer["decision"] == (answer["prob"] >= decision)
            for span in answer["evidence"]:
                assert post.text[span["start"]:span["end"]] == span["text"] != ""


def test_criteria_agent_decides_per_pysbd_sentence_and_per_post(trained):
    loaded = load_model(trained["criteria-heads"][0])
    rows = predict_posts(loaded, POSTS)
    decision = loaded.thresholds.decision
    for post, row in zip(POSTS, rows, strict=True):
        sentences = row["sentences"]
        assert [(s["start"], s["end"]) for s in sentences] == sentence_spans(post.text)
        assert len(sentences) == 3 if post.id == "a" else len(sentences) == 2
        for s in sentences:
            assert post.text[s["start"]:s["end"]] == s["text"]
        for symptom, answer in row["symptoms"].items():
            assert answer["prob"] == max(s["symptoms"][symptom]["prob"] for s in sentences)
            assert answer["decision"] == any(s["symptoms"][symptom]["decision"] for s in sentences)
            assert answer["decision"] == (answer["prob"] >= decision)


def test_posts_predicted_in_chunks_match_one_by_one(trained, monkeypatch):
    from psy_agents.inference import predict as predict_module

    loaded = load_model(trained["share-pair"][0])
    together = predict_posts(loaded, POSTS)
    monkeypatch.setattr(predict_module, "CHUNK_POSTS", 1)
    apart = predict_posts(loaded, POSTS)
    for a, b in zip(together, apart, strict=True):
        for symptom in SYMPTOMS:
            assert a["symptoms"][symptom]["prob"] == pytest.approx(b["symptoms"][symptom]["prob"], abs=1e-5)


def test_not_a_model_directory_is_one_clear_error(trained, tmp_path):
    with pytest.raises(InputError, match="not a model directory.*agent.safetensors"):
        load_model(tmp_path)
    directory, _, _ = trained["criteria-pair"]
    other, _, _ = trained["evidence-pair"]
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in directory.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    (broken / "agent.safetensors").write_bytes((other / "agent.safetensors").read_bytes())
    with pytest.raises(InputError, match="does not hold the weights"):
        load_model(broken)

