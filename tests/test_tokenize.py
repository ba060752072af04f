"""Sliding windows keep evidence that sits beyond token 512, and the spans map back to the exact text."""

from __future__ import annotations

import numpy as np

from psy_agents.data.tokenize import collate, encode_spans, length_batches
from psy_agents.evaluation.spans import best_answers
from psy_agents.models.backbone import load_tokenizer


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
