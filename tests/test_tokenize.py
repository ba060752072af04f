"""Sliding windows keep evidence that sits beyond token 512, and the spans map back to the exact text."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import run_cfg, tiny_examples

from psy_agents.data.criteria_text import SYMPTOMS
from psy_agents.data.tokenize import MODEL_INPUTS, collate, encode_spans, encode_spans_heads, length_batches
from psy_agents.errors import InputError
from psy_agents.evaluation.spans import best_answers
from psy_agents.models.agents import build_model
from psy_agents.models.backbone import load_tokenizer
from psy_agents.training.tasks import make_task


def long_example():
    filler = " ".join(f"Filler sentence number {i} about an ordinary day at work." for i in range(80))
    evidence = "I have not slept more than three hours a night for weeks."
    post = f"{filler} {evidence} The end."
    start = post.index(evidence)
    return {"post_id": "p1", "symptom": "SLEEP_ISSUES", "criterion": "A.4",
            "criterion_text": "Sleeping far too little or far too much.", "post": post,
            "answers": [{"start": start, "end": start + len(evidence), "text": evidence}], "label": 1}


def test_gold_span_beyond_token_512_is_found_through_windows():
    tokenizer = load_tokenizer("all-MiniLM-L6-v2")
    example = long_example()
    assert len(tokenizer(example["post"])["input_ids"]) > 700
    answer = example["answers"][0]
    assert len(tokenizer(example["post"][: answer["start"]])["input_ids"]) > 512  # evidence starts past token 512

    feats = encode_spans([example], tokenizer, max_length=128, stride=32, cache=False)
    cols = feats.columns
    assert len(feats) > 6 and all(len(ids) <= 128 for ids in cols["input_ids"])
    hits = [i for i in range(len(feats)) if cols["start_positions"][i] > 0]
    assert hits, "no window holds the late evidence"
    for i in hits:
        offsets = cols["offset_mapping"][i]
        s, e = cols["start_positions"][i], cols["end_positions"][i]
        assert example["post"][offsets[s][0] : offsets[e][1]] == answer["text"]
        assert cols["labels"][i] == 1
    # windows without the answer point at CLS
    assert all(cols["start_positions"][i] == 0 == cols["end_positions"][i] for i in range(len(feats)) if i not in hits)

    # hand-made logits that point at the gold tokens of the hit window: post-processing recovers the text
    width = max(len(ids) for ids in cols["input_ids"])
    start_logits = np.full((len(feats), width), -5.0)
    end_logits = np.full((len(feats), width), -5.0)
    w = hits[0]
    start_logits[w, cols["start_positions"][w]] = 5.0
    end_logits[w, cols["end_positions"][w]] = 5.0
    [pred] = best_answers(1, cols["example_index"], cols["offset_mapping"], start_logits, end_logits,
                          [example["post"]], max_answer_tokens=64)
    assert pred["text"] == answer["text"]


def test_heads_windows_find_a_gold_span_beyond_token_512_for_its_criterion():
    from psy_agents.data.tokenize import window_examples

    tokenizer = load_tokenizer("all-MiniLM-L6-v2")
    example = long_example()
    other = {**example, "symptom": "FATIGUE", "criterion": "A.6", "answers": [], "label": 0}
    feats = encode_spans_heads([other, example], tokenizer, max_length=128, stride=32, cache=False)
    cols = feats.columns
    assert len(feats) > 6 and all(len(ids) <= 128 for ids in cols["input_ids"])  # the post alone, windowed once
    slot = SYMPTOMS.index("SLEEP_ISSUES")
    hits = [i for i in range(len(feats)) if cols["start_positions"][i][slot] > 0]
    assert hits and all(cols["start_positions"][i][SYMPTOMS.index("FATIGUE")] == 0 for i in range(len(feats)))
    windows, slots, owners = window_examples(feats)
    assert sorted(set(owners)) == [0, 1] and len(owners) == 2 * len(feats)
    width = max(len(ids) for ids in cols["input_ids"])
    start_logits = np.full((len(feats), 9, width), -5.0)
    end_logits = np.full((len(feats), 9, width), -5.0)
    w = hits[0]
    start_logits[w, slot, cols["start_positions"][w][slot]] = 5.0
    end_logits[w, slot, cols["end_positions"][w][slot]] = 5.0
    preds = best_answers(2, owners, [cols["offset_mapping"][i] for i in windows], start_logits[windows, slots],
                         end_logits[windows, slots], [other["post"], example["post"]], max_answer_tokens=64)
    assert preds[1]["text"] == example["answers"][0]["text"]


def test_length_batches_cover_every_index_once_and_group_lengths():
    lengths = list(np.random.default_rng(0).integers(5, 200, size=500))
    batches = length_batches(lengths, 16, np.random.default_rng(1))
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(500))
    spread = np.mean([max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches])
    assert spread < 40  # bucketing: far less padding than random batches (spread ~ 180)
    assert length_batches(lengths, 16, np.random.default_rng(1)) == batches  # seeded


def test_collate_pads_to_the_batch_longest():
    tokenizer = load_tokenizer("all-MiniLM-L6-v2")
    example = long_example()
    feats = encode_spans([example], tokenizer, max_length=128, stride=32, cache=False)
    batch = collate(feats, [0, len(feats) - 1], tokenizer.pad_token_id)
    assert batch["input_ids"].shape == (2, max(len(feats.columns["input_ids"][i]) for i in (0, len(feats) - 1)))
    assert batch["attention_mask"][1].sum() == len(feats.columns["input_ids"][-1])


def cut_example():
    filler = " ".join(f"day {i} was ok." for i in range(12))
    evidence = "i never sleep now."
    post = f"{filler} {evidence} {filler}"
    start = post.index(evidence)
    return {"post_id": "p1", "symptom": "SLEEP_ISSUES", "criterion": "A.4", "criterion_text": "Too little sleep.",
            "post": post, "answers": [{"start": start, "end": start + len(evidence), "text": evidence}], "label": 1}


def window_kind(context, answer) -> str:
    """whole / cut / none, from the window's post character range alone."""
    lo = next(o for o in context if o is not None)[0]
    hi = [o for o in context if o is not None][-1][1]
    if lo <= answer["start"] and answer["end"] <= hi:
        return "whole"
    return "cut" if answer["start"] < hi and lo < answer["end"] else "none"


def slot_of(cols: dict, criterion_input: str, symptom: str):
    """A window column's value for one criterion: the pair formulation has one per window, heads nine."""
    if criterion_input == "pair":
        return cols
    k = SYMPTOMS.index(symptom)
    return {name: [row[k] for row in values] if name in SLOTTED else values for name, values in cols.items()}


SLOTTED = ("start_positions", "end_positions", "labels", "cut", "spanless", "example_indices")


@pytest.mark.parametrize("criterion_input", ["heads", "pair"])
def test_a_window_boundary_cutting_the_gold_span_gives_no_span_target(tiny_backbone, criterion_input):
    # The tiny tokenizer has about one token per character, so this post spans many short windows.
    example, tokenizer = cut_example(), load_tokenizer(tiny_backbone)
    answer = example["answers"][0]
    encode = encode_spans_heads if criterion_input == "heads" else encode_spans
    cols = slot_of(encode([example], tokenizer, max_length=48, stride=16, cache=False).columns, criterion_input,
                   example["symptom"])
    kinds = []
    for i, context in enumerate(cols["offset_mapping"]):
        kind = window_kind(context, answer)
        kinds.append(kind)
        s, e = cols["start_positions"][i], cols["end_positions"][i]
        if kind == "whole":  # targets the span
            assert example["post"][context[s][0] : context[e][1]] == answer["text"]
            assert (cols["cut"][i], cols["labels"][i]) == (0, 1)
        elif kind == "cut":  # part of the evidence: a positive window without a span target, never CLS-trained
            assert (s, e, cols["cut"][i], cols["labels"][i]) == (0, 0, 1, 1)
        else:  # no part of it: no answer, CLS
            assert (s, e, cols["cut"][i], cols["labels"][i]) == (0, 0, 0, 0)
    assert {"whole", "cut", "none"} <= set(kinds)


@pytest.mark.parametrize("criterion_input", ["heads", "pair"])
@pytest.mark.parametrize("span_unit", ["token", "sentence"])
def test_cut_windows_train_the_classification_head_but_not_the_span_head(tiny_backbone, criterion_input, span_unit):
    """Token spans: a cut answer has no start/end target. Sentence spans: the cut sentence is still a whole answer."""
    example, tokenizer = cut_example(), load_tokenizer(tiny_backbone)
    model = {"backbone": tiny_backbone, "max_length": 48, "doc_stride": 16, "head_hidden": 16,
             "criterion_input": criterion_input, "span_unit": span_unit}
    for agent, expect_loss in (("evidence", span_unit == "sentence"), ("share", True)):
        run = run_cfg(agent, {"model": model})
        task = make_task(run, tokenizer)
        features = task.features([example], cache=False)
        task.build_loss(features)
        # heads: the post's other eight criteria have no example here, so they train nothing
        cut = [i for i, c in enumerate(slot_of(features.columns, criterion_input, example["symptom"])["cut"]) if c]
        view, indices = task.epoch(features, np.random.default_rng(0))
        assert cut and set(cut) <= set(indices)  # positives: kept
        if criterion_input == "heads":
            assert all(view.columns["keep"][i][SYMPTOMS.index(example["symptom"])] for i in cut)
        batch = collate(features, cut, 0)
        torch.manual_seed(0)
        outputs = build_model(agent, run.model)(**{k: batch[k] for k in MODEL_INPUTS if k in batch})
        assert (task.loss(outputs, batch).item() > 0.0) == expect_loss


def tokens_overlapping(tokenizer, post: str, answer: dict) -> int:
    offsets = tokenizer(post, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    return sum(1 for s, e in offsets if s < answer["end"] and answer["start"] < e)


def test_default_max_answer_tokens_is_the_longest_train_gold_span(tiny_backbone):
    from psy_agents.training.loop import train

    _, evidence = tiny_examples()
    tokenizer = load_tokenizer(tiny_backbone)
    longest = max(tokens_overlapping(tokenizer, ex["post"], a) for ex in evidence for a in ex["answers"])
    # Pair windows of 96 tokens, most of them criterion text, hold no gold span whole; the longest is still measured.
    model = {"backbone": tiny_backbone, "max_length": 96, "doc_stride": 16, "head_hidden": 16,
             "criterion_input": "pair", "span_unit": "token"}  # a sentence answer has no length limit
    run = run_cfg("evidence", {"model": model})
    assert run.train.max_answer_tokens is None
    task = make_task(run, tokenizer)
    features = task.features(evidence, cache=False)
    assert not any(s > 0 for s in features.columns["start_positions"])
    task.build_loss(features)
    assert task.readout(features, evidence).max_answer_tokens == longest

    # through the loop, on longer windows: the readout the run carries into post-processing
    model["max_length"] = 160
    run = run_cfg("evidence", {"model": model, "train": {"epochs": 1, "precision": "fp32", "batch_size": 8}})
    result = train(run, evidence, evidence[:18])
    assert result.readout.max_answer_tokens == longest
    assert "max_answer_tokens" not in result.model.state_dict()

    fixed = make_task(run_cfg("evidence", {"model": model, "train": {"max_answer_tokens": 5}}), tokenizer)
    fixed.build_loss(features)
    assert fixed.readout(features, evidence).max_answer_tokens == 5
    negatives = [ex for ex in evidence if not ex["answers"]]
    with pytest.raises(InputError, match="max_answer_tokens is null"):
        task.readout(task.features(negatives, cache=False), negatives)


def test_heads_epoch_encodes_only_sentences_holding_a_drawn_pair(tiny_backbone):
    """Every sentence is a criteria example, most of them negative for all nine criteria: an epoch draws
    neg_ratio x as many negative (sentence, criterion) pairs as positives and encodes only the sentences that hold
    a kept pair, every positive one among them."""
    from psy_agents.data.criteria_text import criterion_id, description

    examples = [
        {"post_id": f"p{i // 10}", "sentence_id": f"p{i // 10}:{i % 10}", "sentence": f"Sentence number {i} here.",
         "symptom": s, "criterion": criterion_id(s), "criterion_text": description(s),
         "label": int(i % 10 == 0 and s == SYMPTOMS[i // 10 % 9])}
        for i in range(200) for s in SYMPTOMS
    ]
    run = run_cfg("criteria", {"model": {"backbone": tiny_backbone, "criterion_input": "heads"},
                               "train": {"neg_ratio": 2.0}})
    task = make_task(run, load_tokenizer(tiny_backbone))
    features = task.features(examples, cache=False)
    view, indices = task.epoch(features, np.random.default_rng(0))
    keep, labels = np.asarray(view.columns["keep"]), np.asarray(features.columns["labels"])
    positives = int(labels.sum())
    assert positives == 20
    assert int((keep * labels).sum()) == positives and int((keep * (1 - labels)).sum()) == 2 * positives
    assert indices == sorted(np.flatnonzero(keep.any(axis=1)).tolist())
    assert set(np.flatnonzero(labels.any(axis=1))) <= set(indices) and len(indices) < len(features) // 2
