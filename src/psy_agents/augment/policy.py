"""The augmentation policy: which training examples change in an epoch, how, and how the gold spans follow.

The training loop calls `Augmenter.augment(text, spans, rng_key=(epoch, example_index))` on TRAIN examples only,
afresh each epoch, and only on the sentence / post side (never on the criterion description). Gold evidence spans
are locked: only the text outside them is edited, words touching a span are left alone, and the returned offsets
point at the unchanged span text, so `new_text[s:e]` equals the original span.

Determinism: all choices come from a numpy Generator seeded with (seed, *rng_key); nlpaug draws from python's
`random` and numpy's global RNG, so each operation seeds both from that Generator and restores their previous
state afterwards (the training loop's own use of them is not disturbed). Same (seed, rng_key, text) -> same output.
The global-RNG swap is not thread-safe: augment in one thread (the training loop augments in the main process).
"""

from __future__ import annotations

import logging
import random
import re
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from psy_agents.augment import methods as registry
from psy_agents.augment.methods import Method
from psy_agents.config import AugmentConfig
from psy_agents.errors import InputError

log = logging.getLogger(__name__)

WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")  # a word keeps its inner apostrophe: "don't" is one word
WORD_PART = re.compile(r"[^\W_]+")
LETTER = re.compile(r"[^\W\d_]")
INLINE_SPACE = re.compile(r"[ \t]+")  # words are swapped / deleted only across spaces, never across a line break
TRAILING_SPACE = re.compile(r"[ \t]+$")

Span = tuple[int, int]
Piece = list  # [text, locked]: locked pieces are (merged) gold spans and are never edited


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    py_state, np_state = random.getstate(), np.random.get_state()
    random.seed(seed)
    np.random.seed(seed)
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


def match_case(old: str, new: str) -> str:
    if len(old) > 1 and old.isupper():
        return new.upper()
    if old[:1].isupper():
        return new[:1].upper() + new[1:]
    return new


def split_pieces(text: str, spans: Sequence[Span]) -> tuple[list[Piece], list[tuple[int, int, int]]]:
    """Alternate free and locked pieces (free ones may be empty); per span: (locked piece, offset in it, length)."""
    for s, e in spans:
        if not 0 <= s <= e <= len(text):
            raise ValueError(f"span ({s}, {e}) lies outside a text of {len(text)} characters")
    regions: list[list[int]] = []
    for s, e in sorted(spans):
        if regions and s <= regions[-1][1]:
            regions[-1][1] = max(regions[-1][1], e)
        else:
            regions.append([s, e])
    pieces: list[Piece] = []
    pos = 0
    for s, e in regions:
        pieces += [[text[pos:s], False], [text[s:e], True]]
        pos = e
    pieces.append([text[pos:], False])
    starts = [s for s, _ in regions]
    where = []
    for s, e in spans:
        r = bisect_right(starts, s) - 1
        where.append((2 * r + 1, s - regions[r][0], e - s))
    return pieces, where


def join_pieces(pieces: list[Piece], where: list[tuple[int, int, int]]) -> tuple[str, list[Span]]:
    offsets, pos = [], 0
    for text, _ in pieces:
        offsets.append(pos)
        pos += len(text)
    return "".join(text for text, _ in pieces), [(offsets[p] + off, offsets[p] + off + n) for p, off, n in where]


def augmenter_for(run) -> "Augmenter | None":
    """The augmenter a run config asks for (None when augmentation is off): one rule for trials, CV, refit, CLI."""
    if run.augments:
        return Augmenter(run.augment, run.train.seed)
    return None


class Augmenter:
    def __init__(self, cfg: AugmentConfig, seed: int):
        self.cfg, self.seed = cfg, seed
        validate(cfg)
        self.reserved = frozenset(part for w in cfg.reserved_words for part in WORD_PART.findall(w.lower()))
        self.methods: dict[str, Method] = self._build() if cfg.enabled and cfg.p_apply > 0 else {}
        weights = np.array([cfg.methods[name] for name in self.methods], dtype=float)
        self.probs = weights / weights.sum() if self.methods else weights

    def _build(self) -> dict[str, Method]:
        cfg = self.cfg
        # antonym replacement can flip a symptom's meaning: params.yaml weights it 0, which leaves it out here
        wanted = [name for name, weight in cfg.methods.items() if weight > 0]
        missing: dict[str, list[str]] = {}
        for name in wanted:
            reason = registry.missing_resource(name, cfg.tfidf_dir, cfg.wordnet_dir)
            if reason:
                missing.setdefault(reason, []).append(name)
        for reason, names in missing.items():
            log.warning("augment: %s; method(s) %s disabled", reason, ", ".join(names))
        disabled = {name for names in missing.values() for name in names}
        built = {
            name: registry.build(name, cfg.method_params.get(name, {}), cfg.tfidf_dir, cfg.wordnet_dir)
            for name in wanted
            if name not in disabled
        }
        if not built:
            log.warning("augment: no augmentation method available; training examples stay unchanged")
        return built

    @property
    def active(self) -> tuple[str, ...]:
        return tuple(self.methods)

    def augment(
        self, text: str, spans: Sequence[Span] = (), rng_key: tuple[int, ...] = (0, 0)
    ) -> tuple[str, list[Span]]:
        spans = [(int(s), int(e)) for s, e in spans]
        if not self.methods:
            return text, spans
        rng = np.random.default_rng([self.seed, *rng_key])
        if rng.random() >= self.cfg.p_apply:
            return text, spans
        pieces, where = split_pieces(text, spans)
        for _ in range(self.cfg.ops_per_sample):
            method = self.methods[self.active[rng.choice(len(self.active), p=self.probs)]]
            with seeded(int(rng.integers(2**32))):
                self._operate(pieces, method, rng)
        return join_pieces(pieces, where)

    def augment_examples(self, examples: list[dict], epoch: int) -> list[dict]:
        """Augmented copies of training rows: the `sentence` of criteria rows, the `post` of evidence rows with
        their answer offsets moved (answer texts unchanged); the criterion description is never touched.

        One rewrite per text, shared by the rows of all its criteria, with every criterion's evidence locked: the
        heads formulation reads a text once for all nine criteria, and no criterion's evidence is ever edited."""
        if not self.methods:
            return examples
        def key(ex: dict) -> tuple:
            return ("post", ex["post_id"]) if "post" in ex else ("sentence", ex["post_id"], ex["sentence_id"])

        locked: dict = {}
        for ex in examples:
            locked.setdefault(key(ex), set()).update((a["start"], a["end"]) for a in ex.get("answers", ()))
        rewritten: dict = {}
        out = []
        for ex in examples:
            k = key(ex)
            field = k[0]
            if k not in rewritten:
                spans = sorted(locked[k])
                text, moved = self.augment(ex[field], spans, rng_key=(epoch, len(rewritten)))
                rewritten[k] = text, dict(zip(spans, moved, strict=True))
            text, moved = rewritten[k]
            row = {**ex, field: text}
            if field == "post":
                row["answers"] = [{**a, "start": moved[a["start"], a["end"]][0], "end": moved[a["start"], a["end"]][1]}
                                  for a in ex["answers"]]
            out.append(row)
        return out

    def _candidates(self, pieces: list[Piece]) -> tuple[list[tuple[int, int, int]], int]:
        """Editable words as (piece, start, end), and the number of words outside the spans."""
        words, n_words = [], 0
        for i, (text, locked) in enumerate(pieces):
            if locked:
                continue
            for m in WORD.finditer(text):
                n_words += 1
                touches_span = (m.start() == 0 and i > 0) or (m.end() == len(text) and i < len(pieces) - 1)
                reserved = any(part in self.reserved for part in WORD_PART.findall(m.group().lower()))
                if not touches_span and not reserved and LETTER.search(m.group()):
                    words.append((i, m.start(), m.end()))
        return words, n_words

    def _operate(self, pieces: list[Piece], method: Method, rng: np.random.Generator) -> None:
        """One operation: change at most max_replace of the words outside the spans (at least one word)."""
        words, n_words = self._candidates(pieces)
        budget = max(1, int(self.cfg.max_replace * n_words))
        if method.kind == "swap":
            edits = self._swap(pieces, words, budget, rng)
        elif method.kind == "delete":
            edits = self._delete(pieces, words, min(budget, n_words - 1), rng)
        else:
            edits = self._rewrite(pieces, words, budget, method, rng)
        for i in sorted({i for i, *_ in edits}):
            text = pieces[i][0]
            for _, s, e, new in sorted((edit for edit in edits if edit[0] == i), reverse=True):
                text = text[:s] + new + text[e:]
            pieces[i][0] = text

    def _rewrite(self, pieces, words, budget, method, rng) -> list[tuple[int, int, int, str]]:
        texts = [pieces[i][0][s:e] for i, s, e in words]
        if method.weights is None:
            order = rng.permutation(len(words))
        else:
            weights = method.weights(texts)
            order = np.flatnonzero(weights > 0)
            if len(order):
                order = rng.choice(order, size=len(order), replace=False, p=weights[order] / weights[order].sum())
        edits = []
        for k in order:
            if len(edits) == budget:
                break
            new = method.rewrite(texts[k], rng)
            if not new or new == texts[k]:
                continue
            i, s, e = words[k]
            edits.append((i, s, e, f"{texts[k]} {new}" if method.kind == "insert" else match_case(texts[k], new)))
        return edits

    def _swap(self, pieces, words, budget, rng) -> list[tuple[int, int, int, str]]:
        """Swap neighbouring words separated by spaces only; each swap changes two words."""
        pairs = []
        for a in range(len(words) - 1):
            (i, s1, e1), (j, s2, e2) = words[a], words[a + 1]
            text = pieces[i][0]
            if i == j and INLINE_SPACE.fullmatch(text, e1, s2) and text[s1:e1] != text[s2:e2]:
                pairs.append(a)
        edits, used = [], set()
        for a in rng.permutation(pairs) if pairs else ():
            if edits and len(edits) + 2 > budget:
                break
            if a in used or a + 1 in used:
                continue
            (i, s1, e1), (_, s2, e2) = words[a], words[a + 1]
            text = pieces[i][0]
            edits += [(i, s1, e1, text[s2:e2]), (i, s2, e2, text[s1:e1])]
            used |= {a, a + 1}
        return edits

    def _delete(self, pieces, words, budget, rng) -> list[tuple[int, int, int, str]]:
        """Delete words with one neighbouring run of spaces; neighbours of a deleted word stay (no overlapping cuts)."""
        edits, blocked = [], set()
        for k in rng.permutation(len(words)) if budget > 0 else ():
            if len(edits) == budget:
                break
            if k in blocked:
                continue
            i, s, e = words[k]
            text = pieces[i][0]
            after, before = INLINE_SPACE.match(text, e), TRAILING_SPACE.search(text, 0, s)
            if not (after or before):
                continue
            edits.append((i, s, after.end(), "") if after else (i, before.start(), e, ""))
            blocked |= {k - 1, k, k + 1}
        return edits


def validate(cfg: AugmentConfig) -> None:
    """Reject a bad augment section when the Augmenter is built, before any training starts."""
    if not 0.0 <= cfg.p_apply <= 1.0:
        raise InputError(f"augment.p_apply: expected a probability in [0, 1], got {cfg.p_apply}")
    if cfg.ops_per_sample < 1:
        raise InputError(f"augment.ops_per_sample: expected at least 1, got {cfg.ops_per_sample}")
    if not 0.0 < cfg.max_replace <= 1.0:
        raise InputError(f"augment.max_replace: expected a fraction in (0, 1], got {cfg.max_replace}")
    for section, names in (("methods", cfg.methods), ("method_params", cfg.method_params)):
        unknown = sorted(set(names) - set(registry.DEFAULTS))
        if unknown:
            raise InputError(
                f"augment.{section}: unknown method(s) {', '.join(unknown)}; known: {', '.join(registry.DEFAULTS)}"
            )
    negative = sorted(name for name, weight in cfg.methods.items() if weight < 0)
    if negative:
        raise InputError(f"augment.methods: negative weight for {', '.join(negative)}")
