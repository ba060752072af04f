"""model.span_unit sentence: the span agents answer with one of the post's sentences, scored from the mean of its
token states, with no answer at CLS; evidence past token 512 is found through the windows."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import defaults
from test_models import PAIRS
from test_tokenize import long_example
from tiny import build_tiny_backbone

from psy_agents.config import ModelConfig
from psy_agents.data.criteria_text import SYMPTOMS
from psy_agents.data.sentences import overlaps_gold, sentence_spans, window_sentences
from psy_agents.data.tokenize import collate, encode_spans, encode_spans_heads, window_examples
from psy_agents.evaluation.spans import best_sentences
from psy_agents.models.agents import build_model
from psy_agents.models.backbone import load_tokenizer
from psy_agents.training.losses import sentence_loss


def test_window_sentences_map_tokens_to_whole_candidate_sentences():
    text = "I walked. Lately I am sad."
    sentences = sentence_spans(text)
    assert sentences == [(0, 9), (10, 26)]
    # CLS, "I", "walked", ".", "lately", ..., SEP; a window cut after "Lately" still answers the whole sentence
    context = [None, (0, 1), (2, 8), (8, 9), (10, 16), None]
    index, spans = window_sentences(context, sentences)
    assert index == [0, 1, 1, 1, 2, 0]
    assert spans == [(0, 9), (10, 26)]
    # a window starting inside the second sentence has it as its only (first) candidate
    assert window_sentences([None, (18, 21), (22, 25), None], sentences) == ([0, 1, 1, 0], [(10, 26)])


def test_sentences_of_a_post_never_overlap():
    # pysbd finds overlapping spans on runs of dots, one starting inside a word
    text = "..\naI .... I ....\n"
    spans = sentence_spans(text)
    assert spans == sorted(spans) and all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
    assert sum(s <= text.index("aI") < e for s, e in spans) == 1


def test_a_sentence_is_evidence_when_half_of_it_or_of_a_gold_span_is_gold():
    assert overlaps_gold((10, 26), [(10, 26)])
    assert overlaps_gold((10, 20), [(10, 40)])  # the splitter cut the annotated sentence in two
    assert overlaps_gold((0, 40), [(10, 30)])  # the splitter joined it to a neighbour
    assert not overlaps_gold((0, 40), [(38, 48)])  # a few characters shared
    assert not overlaps_gold((0, 9), [])


@pytest.mark.parametrize("heads", [True, False])
def test_evidence_past_token_512_is_a_candidate_of_a_later_window(heads):
    tokenizer = load_tokenizer("all-MiniLM-L6-v2")
    example = long_example()
    answer = example["answers"][0]
    other = {**example, "symptom": "FATIGUE", "criterion": "A.6", "answers": [], "label": 0}
    examples = [other, example] if heads else [example]
    encode = encode_spans_heads if heads else encode_spans
    feats = encode(examples, tokenizer, max_length=128, stride=32, cache=False, sentences=True)
    cols = feats.columns
    slot = SYMPTOMS.index("SLEEP_ISSUES")
    labels = [np.asarray(row)[slot] if heads else np.asarray(row) for row in cols["sentence_labels"]]
    hits = [w for w, row in enumerate(labels) if row.any()]
    assert hits and hits[0] > 3, "the late evidence must sit in a later window"
    for w in hits:
        [j] = np.flatnonzero(labels[w])
        assert cols["sentence_spans"][w][j] == (answer["start"], answer["end"])
        assert len(cols["sentence_index"][w]) == len(cols["input_ids"][w])
        assert max(cols["sentence_index"][w]) == len(cols["sentence_spans"][w])
    if heads:
        assert not any(np.asarray(row)[SYMPTOMS.index("FATIGUE")].any() for row in cols["sentence_labels"])

    # logits that favour the gold sentence in one hit window: post-processing answers with its whole text
    windows, slots, owners = window_examples(feats)
    width = max(len(ids) for ids in cols["input_ids"])
    logits = np.full((len(feats), 9, width) if heads else (len(feats), width), -5.0)
    w = hits[0]
    j = int(np.flatnonzero(labels[w])[0]) + 1
    logits[(w, slot, j) if heads else (w, j)] = 5.0
    rows = logits[windows, slots] if heads else logits[windows]
    preds = best_sentences(len(examples), owners, [cols["sentence_spans"][i] for i in windows], rows,
                           [ex["post"] for ex in examples])
    assert preds[-1]["text"] == answer["text"] and preds[-1]["score"] == 5.0 and preds[-1]["null_score"] == -5.0


@pytest.mark.parametrize("agent", ["evidence", "share", "joint"])
@pytest.mark.parametrize("criterion_input", ["heads", "pair"])
def test_sentence_logits_shapes_and_padding(agent, criterion_input):
    config, tokenizer = build_tiny_backbone(words=["feel", "sad", "sleep"])
    enc = tokenizer(*PAIRS, padding=True, return_tensors="pt")
    # two candidates in the first row, one in the second; its padding is no candidate
    index = torch.zeros_like(enc["input_ids"])
    index[0, 1:3], index[0, 3:5], index[1, 1:3] = 1, 2, 1
    torch.manual_seed(0)
    model = build_model(agent, defaults(ModelConfig, criterion_input=criterion_input, span_unit="sentence"),
                        backbone=config).eval()
    with torch.no_grad():
        out = model(**enc, sentence_index=index)
        changed = dict(enc)
        changed["input_ids"] = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, 7)
        again = model(**changed, sentence_index=index)
    assert set(out) == ({"sentence_logits"} | ({"logits"} if agent != "evidence" else set()))
    logits = out["sentence_logits"]
    assert logits.shape == ((2, 9, 3) if criterion_input == "heads" else (2, 3))
    assert (logits[1, ..., 2] == torch.finfo(logits.dtype).min).all()  # the second row has no second sentence
    assert (logits[0] > torch.finfo(logits.dtype).min).all()
    torch.testing.assert_close(logits, again["sentence_logits"])


def test_sentence_loss_targets_any_evidence_sentence_or_no_answer():
    low = torch.finfo(torch.float32).min
    logits = torch.tensor([[0.0, 2.0, 2.0, low], [3.0, 0.0, 0.0, 0.0]])
    labels = torch.tensor([[1, 1, 0], [0, 0, 0]])  # row 0: either of two evidence sentences; row 1: none
    log_p = torch.tensor([[0.0, 2.0, 2.0], [3.0, 0.0, 0.0, 0.0]][0]).log_softmax(0)
    expected_0 = -(log_p[1].exp() + log_p[2].exp()).log()
    expected_1 = -torch.tensor([3.0, 0.0, 0.0, 0.0]).log_softmax(0)[0]
    torch.testing.assert_close(sentence_loss(logits, labels), (expected_0 + expected_1) / 2)
    smoothed = sentence_loss(logits, labels, label_smoothing=0.1)
    assert torch.isfinite(smoothed)  # padding takes no share of the smoothing


def test_collate_pads_sentence_labels_to_the_batch_candidates():
    tokenizer = load_tokenizer("all-MiniLM-L6-v2")
    feats = encode_spans_heads([long_example()], tokenizer, max_length=128, stride=32, cache=False, sentences=True)
    batch = collate(feats, list(range(len(feats))), tokenizer.pad_token_id)
    most = max(len(s) for s in feats.columns["sentence_spans"])
    assert batch["sentence_labels"].shape == (len(feats), 9, most)
    assert batch["sentence_index"].shape == batch["input_ids"].shape and int(batch["sentence_index"].max()) == most


def _description_units(encoder, tokenizer):
    from psy_agents.data.criteria_text import description

    enc = tokenizer([description(s) for s in SYMPTOMS], padding=True, return_tensors="pt")
    with torch.no_grad():
        states = encoder.eval()(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).float()
    return torch.nn.functional.normalize((states * mask).sum(1) / mask.sum(1), dim=-1)


@pytest.mark.parametrize("agent", ["evidence", "share", "joint"])
def test_heads_criterion_parts_start_from_the_criterion_descriptions(tiny_backbone, agent):
    import dataclasses

    from psy_agents.models.agents import start_from_descriptions
    from psy_agents.models.heads import SentenceHead

    tokenizer = load_tokenizer(tiny_backbone)
    cfg = defaults(ModelConfig, backbone=tiny_backbone, criterion_input="heads", span_unit="sentence")
    torch.manual_seed(0)
    model = build_model(agent, cfg)
    start_from_descriptions(model, tokenizer)
    # every head reads the evidence encoder (joint's second, conditioned); joint's criteria pooler the first
    unit = _description_units(model.encoders[-1], tokenizer)
    torch.testing.assert_close(model.span_head.score.weight, SentenceHead.DESCRIPTION_SCALE * (unit - unit.mean(0)))
    assert (model.span_head.score.bias == 0).all()
    if agent != "evidence":
        torch.testing.assert_close(model.cls_head.pooler.queries.weight, unit)
    if agent == "joint":
        torch.testing.assert_close(model.criteria_pooler.queries.weight,
                                   _description_units(model.encoders[0], tokenizer))

    # token spans keep their random span head; pair models have no per-criterion part at all
    for overrides in ({"span_unit": "token"}, {"criterion_input": "pair"}):
        torch.manual_seed(0)
        other = build_model(agent, dataclasses.replace(cfg, **overrides))
        before = {k: v.clone() for k, v in other.state_dict().items()}
        start_from_descriptions(other, tokenizer)
        changed = {k for k, v in other.state_dict().items() if not torch.equal(before[k], v)}
        expected = set()
        if "span_unit" in overrides and agent != "evidence":
            expected = {"cls_head.pooler.queries.weight"}
            if agent == "joint":
                expected.add("criteria_pooler.queries.weight")
        assert changed == expected
