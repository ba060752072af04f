"""Tokenise examples into model features, batch them by length, and cache encodings across HPO trials.

Two formulations of the criterion input (model.criterion_input): `pair` encodes (text, criterion description) once
per criterion, a cross-encoder; `heads` encodes each text (sentence, or post window) once and carries the targets of
all nine criteria, so one encoder pass answers every criterion. Examples stay per (text, criterion) either way.

Span examples (criterion description, post) are cut into overlapping windows as in transformers' run_qa.py:
`truncation="only_second"`, `stride=doc_stride`, `return_overflowing_tokens`. A window's target is the first gold
answer lying wholly inside it, else the CLS position (no answer), so evidence late in a long post is never
truncated away: it is simply in a later window. A window whose boundary cuts a gold answer (and that holds no whole
one) is marked `cut`: it shows evidence (label 1) but has no span target, since CLS would teach it "no answer".
With `sentences` (model.span_unit sentence) a window also carries its candidate sentences (data.sentences): which
candidate each token belongs to, their character spans, and per criterion which of them are evidence; a candidate
cut by the window's boundary is still whole as an answer, so no window is `cut` for this target.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
import torch

from psy_agents.data.criteria_text import SYMPTOMS
from psy_agents.data.sentences import overlaps_gold, sentence_spans, window_sentences
from psy_agents.errors import InputError

# sentence_index: the sentence span unit's token -> candidate sentence map (data.sentences.window_sentences)
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "sentence_index")

_CACHE: dict[tuple, "Features"] = {}


@dataclass
class Features:
    """Column-oriented features: each value is a list with one entry per feature (sentence pair or window)."""

    columns: dict[str, list]

    def __len__(self) -> int:
        return len(self.columns["input_ids"])


def _key(kind: str, tokenizer, max_length: int, stride: int, examples: list[dict]) -> tuple:
    digest = hashlib.sha1()
    for ex in examples:
        digest.update(json.dumps(ex, sort_keys=True).encode())
    return (kind, tokenizer.name_or_path, len(tokenizer), max_length, stride, digest.hexdigest())


def encode_criteria(examples: list[dict], tokenizer, max_length: int, cache: bool = True) -> Features:
    """(sentence, criterion description) pairs with their 0/1 labels."""
    key = _key("criteria", tokenizer, max_length, 0, examples)
    if cache and key in _CACHE:
        return _CACHE[key]
    enc = tokenizer(
        [ex["sentence"] for ex in examples],
        [ex["criterion_text"] for ex in examples],
        truncation="only_first",
        max_length=max_length,
    )
    columns = {name: enc[name] for name in MODEL_INPUTS if name in enc}
    columns["labels"] = [int(ex["label"]) for ex in examples]
    columns["example_index"] = list(range(len(examples)))
    return _stored(key if cache else None, columns)


def _stored(key: tuple | None, columns: dict[str, list], units: dict[str, list] | None = None) -> Features:
    """The features of the columns and of the sentence-unit columns (if any), kept in the cache under `key`
    (None: not kept)."""
    features = Features({**columns, **(units or {})})
    if key is not None:
        _CACHE[key] = features
    return features


def text_slots(examples: list[dict], key) -> tuple[list[int], list[list[int]]]:
    """Group per-(text, criterion) examples by text for the heads formulation: the first example of each text, and
    per text its example index for each of the nine criteria (SYMPTOMS order; -1 where the text has none)."""
    first: list[int] = []
    slots: list[list[int]] = []
    position: dict = {}
    for i, ex in enumerate(examples):
        k = key(ex)
        if k not in position:
            position[k] = len(first)
            first.append(i)
            slots.append([-1] * len(SYMPTOMS))
        slots[position[k]][SYMPTOMS.index(ex["symptom"])] = i
    return first, slots


def encode_criteria_heads(examples: list[dict], tokenizer, max_length: int, cache: bool = True) -> Features:
    """Each sentence once, with its nine labels: the model answers every criterion from one encoder pass."""
    key = _key("criteria_heads", tokenizer, max_length, 0, examples)
    if cache and key in _CACHE:
        return _CACHE[key]
    first, slots = text_slots(examples, lambda ex: (ex["post_id"], ex["sentence_id"]))
    enc = tokenizer([examples[i]["sentence"] for i in first], truncation=True, max_length=max_length)
    columns = {name: enc[name] for name in MODEL_INPUTS if name in enc}
    columns["labels"] = [[int(examples[i]["label"]) if i >= 0 else 0 for i in row] for row in slots]
    columns["example_indices"] = slots
    return _stored(key if cache else None, columns)


def _window_target(example: dict, context: list, first: int, last: int) -> tuple[int, int, int, int, int]:
    """(start, end, label, cut, spanless) of one window for one (post, criterion) example: the first gold answer
    wholly inside the window, else CLS (0, 0); a window holding only part of an answer is `cut` (label 1, no span
    target); a label-1 example without a located span (see groundtruth) is `spanless`: no trustworthy target."""
    start = end = 0
    for answer in example["answers"]:
        if context[first][0] <= answer["start"] and answer["end"] <= context[last][1]:
            start = next(t for t in range(first, last + 1) if context[t][1] > answer["start"])
            end = next(t for t in range(last, first - 1, -1) if context[t][0] < answer["end"])
            break
    partial = start == 0 and any(
        answer["start"] < context[last][1] and context[first][0] < answer["end"] for answer in example["answers"]
    )
    return start, end, int(start > 0 or partial), int(partial), int(example["label"] == 1 and not example["answers"])


def _context(enc, i: int, text_sequence: int) -> tuple[list, int, int]:
    """Offsets of window i with None outside the text, and the window's first and last text token."""
    sequence_ids = enc.sequence_ids(i)
    context = [o if sequence_ids[t] == text_sequence else None for t, o in enumerate(enc["offset_mapping"][i])]
    first = next(t for t, o in enumerate(context) if o is not None)
    last = max(t for t, o in enumerate(context) if o is not None)
    return context, first, last


def _sentence_columns(columns: dict, context: list, post: str, examples: list[dict]) -> None:
    """Append one window's candidate sentences (see the module doc); `examples` holds None for an absent one."""
    index, spans = window_sentences(context, sentence_spans(post))
    columns["sentence_index"].append(index)
    columns["sentence_spans"].append(spans)
    labels = [[int(overlaps_gold(span, [(a["start"], a["end"]) for a in ex["answers"]])) if ex else 0
               for span in spans] for ex in examples]
    columns["sentence_labels"].append(labels if len(examples) > 1 else labels[0])


def encode_spans_heads(examples: list[dict], tokenizer, max_length: int, stride: int, cache: bool = True,
                       sentences: bool = False) -> Features:
    """Windows of each post alone (no criterion text), each with nine start/end targets, labels, cut and spanless
    flags: one encoder pass per window answers every criterion. A criterion the post has no example for is
    `spanless` (no target of either kind)."""
    key = _key("spans_heads" + "_sentences" * sentences, tokenizer, max_length, stride, examples)
    if cache and key in _CACHE:
        return _CACHE[key]
    first_of, slots = text_slots(examples, lambda ex: ex["post_id"])
    if stride >= max_length - 2:
        raise InputError(f"model.doc_stride={stride} must be below the {max_length - 2} post tokens a window of "
                         f"model.max_length={max_length} holds; lower doc_stride or raise max_length")
    enc = tokenizer(
        [examples[i]["post"] for i in first_of],
        truncation=True,
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    columns: dict[str, list] = {name: enc[name] for name in MODEL_INPUTS if name in enc}
    targets: dict[str, list] = {name: [] for name in ("start_positions", "end_positions", "labels", "cut", "spanless")}
    offsets, example_indices = [], []
    units: dict[str, list] = {name: [] for name in ("sentence_index", "sentence_spans", "sentence_labels")}
    absent = {"label": 1, "answers": []}  # no example for this criterion: spanless, so it trains nothing
    for i in range(len(enc["input_ids"])):
        row = slots[enc["overflow_to_sample_mapping"][i]]
        context, first, last = _context(enc, i, 0)
        per_slot = [_window_target(examples[e] if e >= 0 else absent, context, first, last) for e in row]
        for name, values in zip(targets, zip(*per_slot, strict=True), strict=True):
            targets[name].append(list(values))
        if sentences:
            _sentence_columns(units, context, examples[first_of[enc["overflow_to_sample_mapping"][i]]]["post"],
                              [examples[e] if e >= 0 else None for e in row])
        offsets.append(context)
        example_indices.append(row)
    columns.update(targets, offset_mapping=offsets, example_indices=example_indices)
    return _stored(key if cache else None, columns, units if sentences else None)


def window_examples(features: Features) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """(window, criterion slot, example) of every (window, example) pair: in the pair formulation each window
    belongs to one example (slot None); in the heads formulation a window serves one example per criterion slot."""
    if "example_indices" not in features.columns:
        index = np.asarray(features.columns["example_index"])
        return np.arange(len(index)), None, index
    slots = np.asarray(features.columns["example_indices"])
    window, slot = np.nonzero(slots >= 0)
    return window, slot, slots[window, slot]


def encode_spans(examples: list[dict], tokenizer, max_length: int, stride: int, cache: bool = True,
                 sentences: bool = False) -> Features:
    """(criterion description, post) windows with start/end targets, offsets and a window-level label."""
    key = _key("spans" + "_sentences" * sentences, tokenizer, max_length, stride, examples)
    if cache and key in _CACHE:
        return _CACHE[key]
    question = max(len(ids) for ids in tokenizer([ex["criterion_text"] for ex in examples])["input_ids"])
    room = max_length - question - 1  # the question's ids already hold [CLS] and [SEP]; one more [SEP] follows
    if stride >= room:
        raise InputError(
            f"model.doc_stride={stride} must be below the {room} post tokens a window of model.max_length="
            f"{max_length} leaves after the criterion text; lower doc_stride or raise max_length"
        )
    enc = tokenizer(
        [ex["criterion_text"] for ex in examples],
        [ex["post"] for ex in examples],
        truncation="only_second",
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    columns: dict[str, list] = {name: enc[name] for name in MODEL_INPUTS if name in enc}
    starts, ends, offsets, labels, spanless, cut = [], [], [], [], [], []
    units: dict[str, list] = {name: [] for name in ("sentence_index", "sentence_spans", "sentence_labels")}
    for i in range(len(enc["input_ids"])):
        example = examples[enc["overflow_to_sample_mapping"][i]]
        context, first, last = _context(enc, i, 1)
        if sentences:
            _sentence_columns(units, context, example["post"], [example])
        start, end, label, partial, no_span = _window_target(example, context, first, last)
        starts.append(start)
        ends.append(end)
        offsets.append(context)
        labels.append(label)
        cut.append(partial)
        spanless.append(no_span)
    columns.update(
        start_positions=starts,
        end_positions=ends,
        offset_mapping=offsets,
        labels=labels,
        spanless=spanless,
        cut=cut,
        example_index=list(enc["overflow_to_sample_mapping"]),
    )
    return _stored(key if cache else None, columns, units if sentences else None)


def longest_answer_tokens(features: Features, examples: list[dict]) -> int:
    """Tokens of the longest gold answer of `examples` (0 without any), counted as best_answers counts a predicted
    span's length: the post tokens the answer overlaps. `features` are encode_spans' windows of the same examples;
    their union covers every post token, so an answer that no single window holds whole is measured too."""
    tokens: dict[int, set] = {}
    windows, _, owners = window_examples(features)
    for window, example in zip(windows, owners, strict=True):
        tokens.setdefault(int(example), set()).update(
            tuple(o) for o in features.columns["offset_mapping"][window] if o is not None)
    return max(
        (sum(1 for s, e in tokens[i] if s < answer["end"] and answer["start"] < e)
         for i, example in enumerate(examples) for answer in example["answers"]),
        default=0,
    )


def length_batches(lengths: list[int], batch_size: int, rng: np.random.Generator | None) -> list[list[int]]:
    """Batches of similar length (less padding). Training: shuffle, sort within chunks of 50 batches, shuffle the
    batches; evaluation (rng None): fully sorted, longest first so a memory problem shows up at once."""
    order = np.arange(len(lengths))
    if rng is None:
        order = sorted(order, key=lambda i: -lengths[i])
        return [list(order[i : i + batch_size]) for i in range(0, len(order), batch_size)]
    order = rng.permutation(order)
    chunk = batch_size * 50
    batches = []
    for c in range(0, len(order), chunk):
        part = sorted(order[c : c + chunk], key=lambda i: lengths[i])
        batches += [list(part[i : i + batch_size]) for i in range(0, len(part), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def collate(features: Features, indices: list[int], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad one batch to its own longest feature (dynamic padding)."""
    width = max(len(features.columns["input_ids"][i]) for i in indices)
    batch: dict[str, torch.Tensor] = {}
    for name in MODEL_INPUTS:
        if name not in features.columns:
            continue
        pad = pad_id if name == "input_ids" else 0
        rows = [features.columns[name][i] for i in indices]
        batch[name] = torch.tensor([r + [pad] * (width - len(r)) for r in rows], dtype=torch.long)
    for name in ("labels", "start_positions", "end_positions", "spanless", "cut", "example_indices", "keep"):
        if name in features.columns:
            batch[name] = torch.tensor([features.columns[name][i] for i in indices], dtype=torch.long)
    if "sentence_labels" in features.columns:  # ragged: [(criteria,) candidates], padded to the batch's most
        rows = [np.asarray(features.columns["sentence_labels"][i], dtype=np.int64) for i in indices]
        most = max(len(spans) for spans in (features.columns["sentence_spans"][i] for i in indices))
        labels = np.zeros((len(rows), *rows[0].shape[:-1], most), dtype=np.int64)
        for b, row in enumerate(rows):
            labels[b, ..., : row.shape[-1]] = row
        batch["sentence_labels"] = torch.from_numpy(labels)
    return batch
