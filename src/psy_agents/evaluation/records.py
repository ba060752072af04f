"""The prediction record: what a model, the TF-IDF baseline or a floor predicts for one example, before any threshold.

One type for every predictor, built by `criteria_record` or `span_record` (training.tasks, baseline): criteria, the
log-odds of label 1 per (sentence, criterion); span agents, per (post, criterion) the best span whatever the null
score, its margin over the null score, the evidence word counts of answering with it, its further candidate
sentences (`more`, sentence unit: spans.Further) and, for share/joint, the classification log-odds. The scoring code
(evaluation.scoring) reads records as their dicts (`to_dict`), the form predictions extend and the jsonl files hold,
with named keys throughout; `from_dict` reads one back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from psy_agents.evaluation.spans import Further, evidence_counts, further_sentences

Span = tuple[int, int, str]  # [start, end, text] in a record's dict; (-1, -1, "") for no span


@dataclass(frozen=True)
class Evidence:
    """A span agent's part of a record. `scored`: whether span scores count the pair (a label-1 pair whose
    evidence could not be located in the post has no gold span); `margin`: None without a valid span; `more`: None
    for the token span unit."""

    scored: bool
    gold: tuple[Span, ...]
    span: Span
    margin: float | None
    counts: tuple[int, int, int]  # [predicted words, gold words, words in both] of answering with `span`
    more: tuple[Further, ...] | None = None


@dataclass(frozen=True)
class Record:
    post_id: Any
    symptom: str
    label: int
    sentence_id: Any = None  # criteria
    evidence: Evidence | None = None  # span agents
    logit: float | None = None  # criteria, share, joint: the classification log-odds of label 1

    def to_dict(self) -> dict[str, Any]:
        """The record as scoring reads it and jsonl holds it: post_id, [sentence_id], symptom, label, [scored, gold,
        span, margin, counts, [more]], [logit]; spans and counts as lists, each further sentence a mapping."""
        out: dict[str, Any] = {"post_id": self.post_id}
        if self.sentence_id is not None:
            out["sentence_id"] = self.sentence_id
        out.update(symptom=self.symptom, label=self.label)
        if (ev := self.evidence) is not None:
            out.update(scored=ev.scored, gold=[list(g) for g in ev.gold], span=list(ev.span), margin=ev.margin,
                       counts=list(ev.counts))
            if ev.more is not None:
                out["more"] = [asdict(sentence) for sentence in ev.more]
        if self.logit is not None:
            out["logit"] = self.logit
        return out

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> Record:
        """The record of a dict `to_dict` wrote (a prediction's extra keys, e.g. `prob`, are left out)."""
        evidence = None
        if "span" in row:
            more = row.get("more")
            evidence = Evidence(
                scored=row["scored"], gold=tuple(tuple(g) for g in row["gold"]), span=tuple(row["span"]),
                margin=row["margin"], counts=tuple(row["counts"]),
                more=None if more is None else tuple(Further(**{f.name: s[f.name] for f in fields(Further)})
                                                     for s in more))
        return cls(post_id=row["post_id"], symptom=row["symptom"], label=row["label"],
                   sentence_id=row.get("sentence_id"), evidence=evidence, logit=row.get("logit"))


def criteria_record(example: Mapping[str, Any], logit: float) -> Record:
    """The record of a (sentence, criterion) example with its log-odds of label 1."""
    return Record(post_id=example["post_id"], symptom=example["symptom"], label=example["label"],
                  sentence_id=example["sentence_id"], logit=logit)


def span_scored(example: Mapping[str, Any]) -> bool:
    """Whether span scores count a (post, criterion) example: a label-1 one whose sentence could not be located has
    no gold span."""
    return not (example["label"] and not example["answers"])


def span_record(example: Mapping[str, Any], best: tuple[float, int, int] | None, null_score: float = 0.0,
                ranked: Sequence[tuple[float, int, int]] | None = None, logit: float | None = None) -> Record:
    """The record of a (post, criterion) example (its `post` text and gold `answers`): `best` is its best span as
    (score, start, end), None when it has none; its margin is score - null_score. `ranked`, the sentence unit's
    candidate sentences best first (spans.rank_sentences, `best` the first), gives the further sentences; None
    for the token unit."""
    post = example["post"]
    golds = [(g["start"], g["end"]) for g in example["answers"]]
    span = None if best is None else (best[1], best[2])
    return Record(
        post_id=example["post_id"], symptom=example["symptom"], label=example["label"], logit=logit,
        evidence=Evidence(
            scored=span_scored(example),
            gold=tuple((g["start"], g["end"], g["text"]) for g in example["answers"]),
            span=(-1, -1, "") if span is None else (span[0], span[1], post[span[0]:span[1]]),
            margin=None if best is None else round(best[0] - null_score, 6),
            counts=tuple(evidence_counts(post, span, golds)),
            more=None if ranked is None else tuple(further_sentences(post, ranked, null_score, golds)),
        ),
    )
