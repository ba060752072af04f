"""Generator of the bundled SYNTHETIC demo corpus (ReDSM5 release format, invented texts).

A development tool, outside the installed package and outside every stage's deps: its output in data/demo is
committed. Every text comes from the phrase banks in tools/demo_banks/, written for this project; nothing comes from
ReDSM5 or from any real person, and the labels mean nothing clinically. The corpus exists so that the pipeline
(groundtruth, splits, training, HPO) runs end to end without the gated dataset, so that its tests meet the quirks
of the real release (see shared/design/DATA.md), and so that its test split measures generalisation:

* posts belong to N_COMMUNITIES communities (the writers of the release), named in the post id
  (`demo_<community>_<n>`, read by params.yaml split.group_by.demo), and every bank (evidence cores, two-symptom
  sentences, near misses, fillers and their slot values, intros, closings, links, lists) is split into disjoint
  parts, one per community: a split by community keeps every phrasing of val and test posts out of train,
  whatever split.seed;
* posts without any symptom, some without a single annotation row, some with only status-0 rows;
* status-0 rows on near misses (denied / resolved / someone else's / everyday uses of a symptom's words), and the
  same kind of sentences left unannotated (also in symptom-free posts);
* sentences carrying two symptoms, posts with several evidence sentences for one symptom;
* long posts (up to a few thousand words) whose evidence sits after word 460 (beyond 512 tokens);
* annotated sentences that are not verbatim in their post (whitespace, quotes, case, a small edit) and two that are
  unrelated to their post;
* exact duplicate rows, one ``LEEP_ISSUES`` typo, two ``SPECIAL_CASE`` rows;
* multi-line quoted fields, ``<URL>``, markdown, emoji, curly quotes.

Deterministic: ``random.Random(seed)`` only, so two runs give byte-identical files::

    python tools/demo_corpus.py --out data/demo --seed 13
"""

from __future__ import annotations

import argparse
import csv
import difflib
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from demo_banks.evidence_body import EVIDENCE as _BODY, NEAR_MISSES as _BODY_NEAR
from demo_banks.evidence_mind import EVIDENCE as _MIND, NEAR_MISSES as _MIND_NEAR
from demo_banks.evidence_mood import EVIDENCE as _MOOD, NEAR_MISSES as _MOOD_NEAR
from demo_banks.fillers import FILLER_SENTENCES, FILLER_TEMPLATES, SLOTS
from demo_banks.frame import (
    CLOSINGS, INTROS, LIST_HEADERS, LIST_ITEMS, PAIR_SENTENCES, ROLES, SITUATIONS, URL_SENTENCES,
)

from psy_agents.data.criteria_text import SYMPTOMS, criterion_id

DEFAULT_OUT = "data/demo"
DEFAULT_SEED = 13
DEFAULT_POSTS = 360

POSTS_FILE = "redsm5_posts.csv"
ANNOTATIONS_FILE = "redsm5_annotations.csv"
POST_COLUMNS = ("post_id", "text")
ANNOTATION_COLUMNS = ("post_id", "sentence_id", "sentence_text", "DSM5_symptom", "status", "explanation")

EVIDENCE = {**_MOOD, **_BODY, **_MIND}
NEAR_MISSES = {**_MOOD_NEAR, **_BODY_NEAR, **_MIND_NEAR}

# Symptom labels, looked up by criterion id so that nothing depends on retyping the release labels.
_BY_ID = {criterion_id(s): s for s in SYMPTOMS}
DEPRESSED_MOOD, ANHEDONIA, APPETITE_CHANGE = _BY_ID["A.1"], _BY_ID["A.2"], _BY_ID["A.3"]
SLEEP_ISSUES, PSYCHOMOTOR, FATIGUE = _BY_ID["A.4"], _BY_ID["A.5"], _BY_ID["A.6"]
WORTHLESSNESS, COGNITIVE_ISSUES, SUICIDAL_THOUGHTS = _BY_ID["A.7"], _BY_ID["A.8"], _BY_ID["A.9"]
TYPO_LABEL = SLEEP_ISSUES[1:]  # "LEEP_ISSUES": the typo of the real release
SPECIAL_CASE = "SPECIAL_CASE"

# ----------------------------------------------------------------------------------------------------------------
# Corpus shape
# ----------------------------------------------------------------------------------------------------------------
N_COMMUNITIES = 20  # the default split holds out 3 for val and 3 for test
NO_SYMPTOM_SHARE = 0.25
NO_ROW_POSTS = 8  # symptom-free posts without a single annotation row
LONG_POST_SHARE = 0.05
LONG_WORDS = (520, 900)  # target length of a long post
LONGEST_POSTS = 2  # of the long posts, these run to thousands of words (the release's longest has 6,990)
LONGEST_WORDS = (1800, 2600)
LATE_WORD = 460  # evidence of a long post starts after this many words
FILLERS_SYMPTOM = (2, 6)  # neutral sentences in a post with / without symptoms
FILLERS_FREE = (3, 8)
# (primary weight, extra weight): every symptom post gets one primary symptom, then extras are added on top.
# Shaped like the real release: mood and worthlessness most frequent, psychomotor and appetite rarest.
SYMPTOM_WEIGHTS = {
    DEPRESSED_MOOD: (70, 40),
    ANHEDONIA: (32, 13),
    APPETITE_CHANGE: (21, 6),
    SLEEP_ISSUES: (28, 12),
    PSYCHOMOTOR: (21, 5),
    FATIGUE: (32, 13),
    WORTHLESSNESS: (65, 35),
    COGNITIVE_ISSUES: (23, 7),
    SUICIDAL_THOUGHTS: (38, 17),
}
PAIR_SENTENCE_P = 0.5  # post has both symptoms of a pair -> one sentence carries both
MORE_EVIDENCE_P = (0.25, 0.2)  # a second evidence sentence for a symptom, then a third given a second
DISTRACTOR_ROW_P = 0.3  # a distractor in a symptom post is annotated status 0
FREE_DISTRACTOR_ROW_P = 0.5  # same in a symptom-free post (which always gets at least one status-0 row)
# Quirk counts.
MUTATIONS = {  # annotated sentence not verbatim in its post, fuzzy-matchable
    "double_space_in_post": 3,
    "double_space_in_annotation": 2,
    "newline_in_post": 3,
    "newline_in_annotation": 1,
    "quotes": 7,
    "case": 5,
    "edit": 7,
}
DUPLICATE_ROWS = 10
SPECIAL_CASE_ROWS = 2
MULTILINE_EXPLANATIONS = 5

# ----------------------------------------------------------------------------------------------------------------
# Phrase banks (tools/demo_banks/): every list is split into N_COMMUNITIES disjoint parts, one per community.
# ----------------------------------------------------------------------------------------------------------------
TIME_PREFIXES = ["Lately, ", "These days ", "For the past few months ", "Most days ", "Since the start of the year ",
                 "Right now ", "Some weeks "]
SOFT_PREFIXES = ["Honestly, ", "To be honest, ", "And ", "I guess ", "On top of that, ", "Also ", "Idk, "]
SUFFIXES = [" and I don't know why", " and it's getting worse", " no matter what I do", " and I hate it",
            " if that makes sense", " lately", " most of the time"]
AGES = [16, 17, 19, 20, 21, 23, 24, 26, 28, 31, 34, 38, 42, 47]
EMOJI = [" 🙃", " 😅", " 🙂", " 😔"]

# ----------------------------------------------------------------------------------------------------------------
# Explanations (one short sentence per row).
# ----------------------------------------------------------------------------------------------------------------
EXPLAIN_LEADS = ["The writer", "The author", "The poster", "This person", "The user", "Here the writer"]
EXPLAIN_VERBS = ["describes", "reports", "talks about", "openly mentions", "points to", "hints at"]
EXPLAIN_TAILS = ["which fits criterion {cid}", "consistent with {cid}", "so the symptom is marked present",
                 "a clear sign for {cid}", "counted as evidence for {cid}"]
GLOSS = {
    DEPRESSED_MOOD: ["a sad, empty mood that does not lift", "persistent sadness and hopelessness",
                     "feeling low most of the day"],
    ANHEDONIA: ["losing interest in things once enjoyed", "no pleasure in usual activities",
                "hobbies that no longer mean anything"],
    APPETITE_CHANGE: ["a marked change in eating", "weight change tied to eating habits", "appetite going off track"],
    SLEEP_ISSUES: ["badly disturbed sleep", "insomnia or oversleeping", "a broken sleep pattern"],
    PSYCHOMOTOR: ["slowed movement or speech", "restlessness others can see", "agitation or slowing of the body"],
    FATIGUE: ["constant tiredness", "a lack of energy for small tasks", "exhaustion without a clear cause"],
    WORTHLESSNESS: ["feeling worthless", "heavy guilt and self-blame", "a harsh, negative view of themselves"],
    COGNITIVE_ISSUES: ["trouble concentrating", "memory and decision problems", "foggy, slow thinking"],
    SUICIDAL_THOUGHTS: ["thoughts of death or dying", "suicidal ideas", "wishing not to be alive"],
}
TOPIC = {
    DEPRESSED_MOOD: "their mood", ANHEDONIA: "hobbies or fun", APPETITE_CHANGE: "food or eating",
    SLEEP_ISSUES: "sleep", PSYCHOMOTOR: "how they move", FATIGUE: "energy or tiredness",
    WORTHLESSNESS: "guilt or self-image", COGNITIVE_ISSUES: "focus or memory", SUICIDAL_THOUGHTS: "death",
}
REASONS = {
    "neg": ["but says it is fine now", "but denies having a problem", "but describes it as resolved"],
    "other": ["but it is about someone else", "but the person affected is not the writer"],
    "normal": ["but in an ordinary, short-lived context", "but nothing points to a lasting change",
               "but it reads as everyday life rather than a symptom"],
}
EXPLAIN_ADDENDA = ["Second rater agreed.", "Borderline; kept after discussion.",
                   "Context: the rest of the post supports this reading."]
SPECIAL_CASE_EXPLANATION = "Flagged for review: the sentence is ambiguous and fits no single criterion."

# Annotated sentences unrelated to their post (annotation mix-ups; the pipeline cannot match and must drop them).
# (text, symptom, status); each goes to a post that already has verbatim evidence for that symptom.
UNRELATED_ROWS = [
    ("Ever since the greenhouse flooded I have felt like a hollow shell of a person.", DEPRESSED_MOOD, 1),
    ("Our accordion teacher retired and the lessons stopped, which was fine by me.", ANHEDONIA, 0),
]
DROPPABLE_WORDS = ("just", "really", "so", "even", "all", "completely", "honestly", "actually", "now", "still")
WORD_SWAPS = {"I'm": "I am", "can't": "cannot", "don't": "do not", "really": "very", "every": "each"}
EDIT_MIN_CHARS = 60
EDIT_MIN_RATIO = 0.95


# ----------------------------------------------------------------------------------------------------------------
# Data model
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class Row:
    unit: int  # index of the sentence in the post: sentence_id = f"{post_id}_{unit}"
    symptom: str
    status: int
    explanation: str
    text: str | None = None  # annotated text when it differs from the post's sentence
    tag: str = ""  # quirk applied to this row (for the manifest)


@dataclass
class Post:
    post_id: str
    symptoms: tuple[str, ...]
    target_words: int  # a long post's length; 0 for the others
    units: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)  # intro / filler / evidence / distractor / closing / extra
    rows: list[Row] = field(default_factory=list)
    seps: list[str] = field(default_factory=list)

    @property
    def long(self) -> bool:
        return self.target_words > 0

    def add(self, text: str, kind: str) -> int:
        self.units.append(text)
        self.kinds.append(kind)
        return len(self.units) - 1

    def words(self) -> int:
        return sum(len(u.split()) for u in self.units)

    def text(self) -> str:
        out = self.units[0]
        for sep, unit in zip(self.seps, self.units[1:]):
            out += sep + unit
        return out


@dataclass
class Banks:
    """One community's part of every phrase bank: no entry is in two communities' parts."""

    evidence: dict[str, list[tuple[str, bool]]]  # symptom -> (core, is an event)
    pairs: dict[tuple[str, str], list[str]]
    near_misses: list[tuple[str, str, str]]  # (sentence, symptom, kind)
    fillers: list[str]
    slots: dict[str, list[str]]
    intros: list[str]
    situations: list[str]
    roles: list[str]
    closings: list[str]
    urls: list[str]
    list_headers: list[str]
    list_items: list[str]


def _parts(name: str, items: list, seed: int) -> list[list]:
    """items split into N_COMMUNITIES disjoint parts after a shuffle seeded by the bank's name (a str seed is
    hashed by random itself, the same in every process)."""
    items = list(items)
    if len(items) < N_COMMUNITIES:
        raise ValueError(f"bank {name} has {len(items)} entries, fewer than the {N_COMMUNITIES} communities")
    random.Random(f"{seed}/{name}").shuffle(items)
    return [items[c::N_COMMUNITIES] for c in range(N_COMMUNITIES)]


def community_banks(seed: int) -> list[Banks]:
    evidence = {s: _parts(f"evidence/{s}", [(c, False) for c in EVIDENCE[s]["states"]]
                          + [(c, True) for c in EVIDENCE[s]["events"]], seed) for s in SYMPTOMS}
    pairs = {pair: _parts(f"pair/{'+'.join(pair)}", cores, seed) for pair, cores in PAIR_SENTENCES.items()}
    near = {s: _parts(f"near/{s}", [(text, s, kind) for text, kind in NEAR_MISSES[s]], seed) for s in SYMPTOMS}
    slots = {slot: _parts(f"slot/{slot}", values, seed) for slot, values in SLOTS.items()}
    lists = {name: _parts(name, values, seed) for name, values in (
        ("fillers", FILLER_SENTENCES), ("intros", INTROS), ("situations", SITUATIONS), ("roles", ROLES),
        ("closings", CLOSINGS), ("urls", URL_SENTENCES), ("list_headers", LIST_HEADERS),
        ("list_items", LIST_ITEMS))}
    return [
        Banks(
            evidence={s: evidence[s][c] for s in SYMPTOMS},
            pairs={pair: parts[c] for pair, parts in pairs.items()},
            near_misses=[m for s in SYMPTOMS for m in near[s][c]],
            slots={slot: parts[c] for slot, parts in slots.items()},
            **{name: parts[c] for name, parts in lists.items()},
        )
        for c in range(N_COMMUNITIES)
    ]


# ----------------------------------------------------------------------------------------------------------------
# Sentence builders
# ----------------------------------------------------------------------------------------------------------------
def _capitalise(s: str) -> str:
    return s[0].upper() + s[1:]


def compose(core: str, rng: random.Random, event: bool = False) -> str:
    """Evidence sentence from a core clause: optional prefix, optional suffix, end punctuation."""
    prefix = ""
    if rng.random() < 0.45:
        prefix = rng.choice(SOFT_PREFIXES if event else TIME_PREFIXES + SOFT_PREFIXES)
    suffix = rng.choice(SUFFIXES) if not event and rng.random() < 0.35 else ""
    end = "!" if rng.random() < 0.05 else "."
    return _capitalise(prefix + core + suffix) + end


def filler_sentence(bank: Banks, rng: random.Random) -> str:
    if rng.random() < 0.35:
        return rng.choice(bank.fillers)
    # every slot value belongs to this community alone, so a filled template is too
    return rng.choice(FILLER_TEMPLATES).format(**{slot: rng.choice(values) for slot, values in bank.slots.items()})


def fresh_filler(bank: Banks, rng: random.Random, avoid: list[str]) -> str:
    """A filler not yet in the post; the longest posts may exhaust their community's fillers and repeat one."""
    sentence = ""
    for _ in range(200):
        sentence = _capitalise(filler_sentence(bank, rng))
        if sentence not in avoid:
            break
    return sentence


def with_emoji(sentence: str, rng: random.Random) -> str:
    """An emoji in place of the final full stop (after a question or exclamation mark, none), as people write it:
    after the sentence's end a splitter would make the emoji a sentence of its own."""
    return sentence if sentence[-1] in "?!" else sentence.rstrip(".") + rng.choice(EMOJI)


def intro_sentence(bank: Banks, rng: random.Random) -> str:
    r = rng.random()
    if r < 0.35:
        return rng.choice(bank.intros)
    if r < 0.7:
        return f"I'm {rng.choice(AGES)} and {rng.choice(bank.situations)}."
    return f"{rng.choice(AGES)}{rng.choice('MF')}, {rng.choice(bank.roles)}."


def list_unit(bank: Banks, rng: random.Random) -> str:
    items = rng.sample(bank.list_items, min(len(bank.list_items), rng.randint(2, 4)))
    return rng.choice(bank.list_headers) + "".join(f"\n- {item}" for item in items)


def explain(symptom: str, status: int, kind: str, rng: random.Random) -> str:
    lead = rng.choice(EXPLAIN_LEADS)
    cid = criterion_id(symptom)
    if status == 1:
        tail = rng.choice(EXPLAIN_TAILS).format(cid=cid)
        return f"{lead} {rng.choice(EXPLAIN_VERBS)} {rng.choice(GLOSS[symptom])}, {tail}."
    return f"{lead} mentions {TOPIC[symptom]} {rng.choice(REASONS[kind])}, so {cid} is not met."


# ----------------------------------------------------------------------------------------------------------------
# Corpus plan and post builder
# ----------------------------------------------------------------------------------------------------------------
def _largest_remainder(total: int, weights: list[int]) -> list[int]:
    raw = [total * w / sum(weights) for w in weights]
    counts = [int(x) for x in raw]
    order = sorted(range(len(raw)), key=lambda i: (counts[i] - raw[i], i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def plan_symptoms(n_posts: int, rng: random.Random) -> list[tuple[str, ...]]:
    """Symptom set of every post (in SYMPTOMS order); () for a symptom-free post."""
    n_free = round(n_posts * NO_SYMPTOM_SHARE)
    n_sym = n_posts - n_free
    primary_w = [SYMPTOM_WEIGHTS[s][0] for s in SYMPTOMS]
    primaries = [s for s, c in zip(SYMPTOMS, _largest_remainder(n_sym, primary_w)) for _ in range(c)]
    rng.shuffle(primaries)
    sets = [{s} for s in primaries]
    scale = n_sym / sum(primary_w)
    for s in SYMPTOMS:
        candidates = [i for i, chosen in enumerate(sets) if s not in chosen]
        for i in rng.sample(candidates, round(SYMPTOM_WEIGHTS[s][1] * scale)):
            sets[i].add(s)
    plan = [tuple(s for s in SYMPTOMS if s in chosen) for chosen in sets] + [()] * n_free
    rng.shuffle(plan)
    return plan


def _distractor(bank: Banks, rng: random.Random, post: Post) -> tuple[str, str, str]:
    for _ in range(50):
        text, symptom, kind = rng.choice(bank.near_misses)
        if text not in post.units:
            return symptom, text, kind
    raise RuntimeError("near-miss bank exhausted")


Evidence = list[tuple[str, list[str], str]]  # (sentence, its symptoms, its core)


def deal_evidence(plan: list[tuple[str, ...]], members: list[int], bank: Banks, rng: random.Random) -> dict:
    """The evidence sentences of one community's posts: post index -> Evidence.

    Cores are dealt from a shuffled deck per symptom (refilled when empty), so a community uses its whole part of
    a bank before it repeats a core; cores still unused after every post had its share go to further evidence
    sentences of posts with that symptom, so every core of the community appears in its posts."""
    out: dict[int, Evidence] = {i: [] for i in members}
    decks: dict[object, list] = {}
    unused = {s: set(bank.evidence[s]) for s in SYMPTOMS}

    def draw(key, entries: list, i: int):
        in_post = {core for _, _, core in out[i]}
        for _ in range(2 * len(entries) + 2):
            if not decks.get(key):
                decks[key] = rng.sample(entries, len(entries))
            entry = decks[key].pop()
            if (entry[0] if isinstance(entry, tuple) else entry) not in in_post:
                return entry
        raise RuntimeError(f"community bank for {key} too small for one post")

    def add(i: int, symptom: str) -> None:
        core, event = draw(symptom, bank.evidence[symptom], i)
        unused[symptom].discard((core, event))
        out[i].append((compose(core, rng, event), [symptom], core))

    for i in members:
        todo = list(plan[i])
        for pair, cores in bank.pairs.items():
            if cores and pair[0] in todo and pair[1] in todo and rng.random() < PAIR_SENTENCE_P:
                core = draw(pair, cores, i)
                out[i].append((compose(core, rng), list(pair), core))
                todo = [s for s in todo if s not in pair]
        for symptom in todo:
            add(i, symptom)
            for p in MORE_EVIDENCE_P:
                if rng.random() >= p:
                    break
                add(i, symptom)
    for symptom in SYMPTOMS:
        holders = [i for i in members if symptom in plan[i]]
        while unused[symptom]:
            add(rng.choice(holders), symptom)
    return out


def build_post(post: Post, evidence: Evidence, bank: Banks, rng: random.Random, annotate_free: bool) -> None:
    """Fill post.units/rows. Middle sentences are shuffled; a long post keeps its evidence after LATE_WORD words."""
    # Distractors: (sentence, symptom, kind).
    n_distract = rng.randint(1, 4) if not post.symptoms else rng.choice([0, 0, 1, 1, 2])
    distractors = []
    for _ in range(n_distract):
        symptom, text, kind = _distractor(bank, rng, post)
        if text not in (d[0] for d in distractors):
            distractors.append((text, symptom, kind))

    # Middle: evidence + distractors + fillers (+ extras), shuffled.
    middle: list[tuple[str, str, object]] = [(s, "evidence", syms) for s, syms, _ in evidence]
    middle += [(t, "distractor", (sym, kind)) for t, sym, kind in distractors]
    n_fill = rng.randint(*FILLERS_FREE) if not post.symptoms else rng.randint(*FILLERS_SYMPTOM)
    if rng.random() < 0.07:
        middle.append((list_unit(bank, rng), "extra", None))
    if rng.random() < 0.06:
        middle.append((rng.choice(bank.urls), "extra", None))

    if rng.random() < 0.75:
        post.add(intro_sentence(bank, rng), "intro")
    if post.long:
        target = post.target_words
        while post.words() < LATE_WORD:
            post.add(fresh_filler(bank, rng, post.units), "filler")
        late = [m for m in middle if m[1] in ("evidence", "distractor")]
        rng.shuffle(late)
        tail_fill: list[tuple[str, str, object]] = []
        while post.words() + sum(len(m[0].split()) for m in late + tail_fill) < target - 15:
            tail_fill.append((fresh_filler(bank, rng, post.units + [m[0] for m in tail_fill]), "filler", None))
        ordered = late + tail_fill[: len(tail_fill) // 2] + [m for m in middle if m[1] == "extra"]
        ordered += tail_fill[len(tail_fill) // 2:]
    else:
        for _ in range(n_fill):
            middle.append((fresh_filler(bank, rng, post.units + [m[0] for m in middle]), "filler", None))
        rng.shuffle(middle)
        ordered = middle
    for text, kind, info in ordered:
        i = post.add(text, kind)
        if kind == "evidence":
            for symptom in info:
                post.rows.append(Row(i, symptom, 1, explain(symptom, 1, "", rng)))
        elif kind == "distractor":
            symptom, dkind = info
            p_row = DISTRACTOR_ROW_P if post.symptoms else FREE_DISTRACTOR_ROW_P * annotate_free
            if rng.random() < p_row:
                post.rows.append(Row(i, symptom, 0, explain(symptom, 0, dkind, rng)))
    if not post.symptoms and annotate_free and not post.rows:  # at least one status-0 row
        i = next(k for k, kind in enumerate(post.kinds) if kind == "distractor")
        symptom, dkind = next(d[1:] for d in distractors if d[0] == post.units[i])
        post.rows.append(Row(i, symptom, 0, explain(symptom, 0, dkind, rng)))
    if rng.random() < 0.5 or post.long:
        closing = rng.choice(bank.closings)
        if rng.random() < 0.15:
            closing = with_emoji(closing, rng)
        post.add(closing, "closing")
    elif rng.random() < 0.1:
        k = rng.randrange(len(post.units))
        if post.kinds[k] == "filler":
            post.units[k] = with_emoji(post.units[k], rng)

    # Separators: a space, or paragraph breaks in ~70% of posts.
    paragraphs = rng.random() < 0.7
    for _ in range(len(post.units) - 1):
        r = rng.random()
        if paragraphs and r < 0.18:
            post.seps.append("\n\n")
        elif paragraphs and r < 0.26:
            post.seps.append("\n")
        else:
            post.seps.append(" ")


def curlify(s: str) -> str:
    out, opening = [], True
    for ch in s.replace("'", "’"):
        if ch == '"':
            out.append("“" if opening else "”")
            opening = not opening
        else:
            out.append(ch)
    return "".join(out)


def straighten(s: str) -> str:
    return s.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')


# ----------------------------------------------------------------------------------------------------------------
# Quirks applied after building
# ----------------------------------------------------------------------------------------------------------------
def _single_row_units(post: Post) -> set[int]:
    counts = Counter(r.unit for r in post.rows)
    return {u for u, c in counts.items() if c == 1}


def _space_positions(s: str) -> list[int]:
    spaces = [i for i, ch in enumerate(s) if ch == " "]
    return spaces[1:-1] or spaces


def _edit(s: str, rng: random.Random) -> str | None:
    words = s.split(" ")
    drops = [i for i, w in enumerate(words) if w.lower() in DROPPABLE_WORDS and 0 < i < len(words) - 1]
    swaps = [i for i, w in enumerate(words) if straighten(w) in WORD_SWAPS]
    if drops and (not swaps or rng.random() < 0.6):
        i = rng.choice(drops)
        return " ".join(words[:i] + words[i + 1:])
    if swaps:
        i = rng.choice(swaps)
        return " ".join(words[:i] + [WORD_SWAPS[straighten(words[i])]] + words[i + 1:])
    return None


def mutate(kind: str, unit: str, rng: random.Random) -> tuple[str, str] | None:
    """(new post sentence, annotated text) for one non-verbatim quirk, or None if the sentence does not suit it."""
    if len(unit) < 40 or "\n" in unit:
        return None
    spaces = _space_positions(unit)
    i = rng.choice(spaces)
    if kind == "double_space_in_post":
        return unit[:i] + "  " + unit[i + 1:], unit
    if kind == "double_space_in_annotation":
        return unit, unit[:i] + "  " + unit[i + 1:]
    if kind == "newline_in_post":
        return unit[:i] + "\n" + unit[i + 1:], unit
    if kind == "newline_in_annotation":
        return unit, unit[:i] + "\n" + unit[i + 1:]
    if kind == "quotes":
        if straighten(unit) != unit:
            return unit, straighten(unit)
        return (unit, curlify(unit)) if curlify(unit) != unit else None
    if kind == "case":
        return (unit, unit.lower()) if unit.lower() != unit else None
    if kind == "edit":  # only on long sentences, so one changed word keeps the similarity well above 90%
        edited = _edit(unit, rng) if len(unit) >= EDIT_MIN_CHARS else None
        if edited and difflib.SequenceMatcher(None, unit, edited).ratio() >= EDIT_MIN_RATIO:
            return unit, edited
        return None
    raise ValueError(kind)


def apply_quirks(posts: list[Post], rng: random.Random) -> dict[str, list[str]]:
    """Typo label, SPECIAL_CASE, non-verbatim sentences, unrelated rows, multi-line explanations, duplicates.

    Returns the manifest: quirk -> list of "post_id/sentence_id" (or post ids) it was applied to.
    """
    manifest: dict[str, list[str]] = {}
    touched: set[str] = set()  # posts that already carry a row-level quirk (keeps quirks independent)
    normal = [p for p in posts if not p.long]

    def note(quirk: str, post: Post, row: Row | None) -> None:
        manifest.setdefault(quirk, []).append(f"{post.post_id}_{row.unit}" if row else post.post_id)
        touched.add(post.post_id)

    # Typo label: the only sleep row of a post (the post is SLEEP_ISSUES only if the pipeline maps the typo).
    for post in rng.sample(normal, len(normal)):
        sleep = [r for r in post.rows if r.symptom == SLEEP_ISSUES]
        if len(sleep) == 1 and sleep[0].status == 1 and sleep[0].unit in _single_row_units(post):
            sleep[0].symptom, sleep[0].tag = TYPO_LABEL, "typo"
            note("typo_label", post, sleep[0])
            break
    # SPECIAL_CASE: status-1 rows on unannotated sentences of symptom posts.
    for post in rng.sample(normal, len(normal)):
        if len(manifest.get("special_case", [])) == SPECIAL_CASE_ROWS:
            break
        free = [i for i, k in enumerate(post.kinds) if k in ("distractor", "filler")
                and i not in {r.unit for r in post.rows}]
        if post.symptoms and free and post.post_id not in touched:
            row = Row(rng.choice(free), SPECIAL_CASE, 1, SPECIAL_CASE_EXPLANATION, tag="special")
            post.rows.append(row)
            note("special_case", post, row)
    # Non-verbatim but fuzzy-matchable sentences.
    for kind, count in MUTATIONS.items():
        done = 0
        for post in rng.sample(normal, len(normal)):
            if done == count:
                break
            if post.post_id in touched:
                continue
            singles = _single_row_units(post)
            candidates = [r for r in post.rows if r.unit in singles and not r.tag]
            if not candidates:
                continue
            row = rng.choice(candidates)
            result = mutate(kind, post.units[row.unit], rng)
            if result is None:
                continue
            post.units[row.unit], annotated = result
            row.text = annotated if annotated != post.units[row.unit] else None
            row.tag = kind
            note(f"not_verbatim:{kind}", post, row)
            done += 1
    # Unrelated sentences: an extra row (sentence ordinal one past the post's last sentence) in a post that already
    # has verbatim evidence for the same symptom, so dropping it changes no post label.
    for sentence, symptom, status in UNRELATED_ROWS:
        for post in rng.sample(normal, len(normal)):
            if post.post_id in touched or symptom not in post.symptoms:
                continue
            row = Row(len(post.units), symptom, status, explain(symptom, status, "normal", rng),
                      text=sentence, tag="unrelated")
            post.rows.append(row)
            note("unrelated", post, row)
            break
    # Multi-line explanations.
    for post in rng.sample(normal, MULTILINE_EXPLANATIONS * 3):
        if len(manifest.get("multiline_explanation", [])) == MULTILINE_EXPLANATIONS:
            break
        plain = [r for r in post.rows if not r.tag]
        if plain:
            row = plain[0]
            row.explanation += "\n" + rng.choice(EXPLAIN_ADDENDA)
            row.tag = "multiline"  # not duplicated below, so exactly MULTILINE_EXPLANATIONS rows carry a newline
            manifest.setdefault("multiline_explanation", []).append(f"{post.post_id}_{row.unit}")
    # Exact duplicate rows (copied right after the original).
    for post in rng.sample(normal, len(normal)):
        if len(manifest.get("duplicate", [])) == DUPLICATE_ROWS:
            break
        plain = [r for r in post.rows if not r.tag]
        if post.post_id in touched or not plain:
            continue
        row = rng.choice(plain)
        post.rows.insert(post.rows.index(row) + 1, Row(row.unit, row.symptom, row.status, row.explanation,
                                                        tag="duplicate"))
        note("duplicate", post, row)
    return manifest


# ----------------------------------------------------------------------------------------------------------------
# Generation and writing
# ----------------------------------------------------------------------------------------------------------------
def assign_communities(plan: list[tuple[str, ...]], rng: random.Random) -> list[int]:
    """Each post's community, in equal shares; a community that the plan left without a symptom gets it as an
    extra symptom of one of its symptom posts, so every community's evidence cores can all be dealt."""
    communities = [i % N_COMMUNITIES for i in range(len(plan))]
    rng.shuffle(communities)
    for c in range(N_COMMUNITIES):
        members = [i for i, k in enumerate(communities) if k == c and plan[i]]
        for symptom in SYMPTOMS:
            if not any(symptom in plan[i] for i in members):
                i = rng.choice(members)
                plan[i] = tuple(s for s in SYMPTOMS if s in plan[i] or s == symptom)
    return communities


def generate(seed: int = DEFAULT_SEED, n_posts: int = DEFAULT_POSTS) -> tuple[list[Post], dict[str, list[str]]]:
    rng = random.Random(seed)
    banks = community_banks(seed)
    plan = plan_symptoms(n_posts, rng)
    communities = assign_communities(plan, rng)
    ids = [f"demo_{c:02d}_{i:04d}" for i, c in enumerate(communities, start=1)]
    symptom_idx = [i for i, s in enumerate(plan) if s]
    free_idx = [i for i, s in enumerate(plan) if not s]
    long_idx = rng.sample(symptom_idx, round(n_posts * LONG_POST_SHARE))
    targets = {i: rng.randint(*(LONGEST_WORDS if k < LONGEST_POSTS else LONG_WORDS)) for k, i in enumerate(long_idx)}
    no_row_idx = set(rng.sample(free_idx, min(NO_ROW_POSTS, len(free_idx))))
    evidence: dict[int, Evidence] = {}
    for c in range(N_COMMUNITIES):
        members = [i for i, k in enumerate(communities) if k == c]
        evidence.update(deal_evidence(plan, members, banks[c], rng))
    posts = []
    for i, (post_id, symptoms) in enumerate(zip(ids, plan)):
        post = Post(post_id, symptoms, targets.get(i, 0))
        build_post(post, evidence[i], banks[communities[i]], rng, annotate_free=i not in no_row_idx)
        if rng.random() < 0.35:  # writer uses curly apostrophes and quotes
            post.units = [curlify(u) for u in post.units]
        posts.append(post)
    manifest = apply_quirks(posts, rng)
    for post in posts:
        post.rows.sort(key=lambda r: r.unit)  # stable: pair rows and duplicates keep their order
    return posts, manifest


def write(posts: list[Post], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / POSTS_FILE, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(POST_COLUMNS)
        for post in posts:
            writer.writerow((post.post_id, post.text()))
    with open(out / ANNOTATIONS_FILE, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(ANNOTATION_COLUMNS)
        for post in posts:
            for row in post.rows:
                text = row.text if row.text is not None else post.units[row.unit]
                writer.writerow((post.post_id, f"{post.post_id}_{row.unit}", text, row.symptom, row.status,
                                 row.explanation))


def summary(posts: list[Post], manifest: dict[str, list[str]]) -> str:
    rows = [r for p in posts for r in p.rows]
    per_symptom = Counter(s for p in posts for s in p.symptoms)
    words = [p.words() for p in posts]
    lines = [
        f"posts: {len(posts)}  rows: {len(rows)}  status 1: {sum(r.status for r in rows)}  "
        f"status 0: {sum(1 - r.status for r in rows)}",
        f"posts without symptoms: {sum(not p.symptoms for p in posts)} "
        f"(no row at all: {sum(not p.rows for p in posts)})  long posts: {sum(p.long for p in posts)}",
        f"words per post: mean {sum(words) / len(words):.1f}, max {max(words)}",
        "posts per symptom (planned): " + ", ".join(f"{s} {per_symptom[s]}" for s in SYMPTOMS),
    ]
    lines += [f"{quirk}: {len(items)} {' '.join(items) if len(items) <= 12 else ''}".rstrip()
              for quirk, items in sorted(manifest.items())]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the synthetic ReDSM5-format demo corpus.")
    parser.add_argument("--out", type=Path, default=Path(DEFAULT_OUT), help="output folder")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--posts", type=int, default=DEFAULT_POSTS)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    posts, manifest = generate(args.seed, args.posts)
    write(posts, args.out)
    if not args.quiet:
        print(summary(posts, manifest))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
