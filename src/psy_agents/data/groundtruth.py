"""Turn a release (posts + sentence annotations) into the examples of every agent, split by post group.

Every row that does not make it into the examples is counted under `dropped` in the returned report, so
outputs/groundtruth/report.json accounts for all input records (metrics/groundtruth.json keeps its `headline`).
Handling (documented in the README):
- posts: an empty text drops the post (and its rows); a repeated post_id keeps the first record;
- annotation rows: unknown post_id -> data.unknown_posts (drop | fail); empty sentence -> dropped;
  labels in data.label_map are renamed (typos), in data.drop_labels dropped, any other unknown label ->
  data.unknown_labels (fail | drop); duplicate (post, sentence, symptom) rows -> one row, status 1 if any row says 1;
- matching: a sentence no level can locate keeps its criteria examples (its text was labelled) but gives no
  evidence span; such rows are counted as `unmatched`. The evidence `label` still says the symptom is present
  (it comes from the annotations, not from the matcher), so post-level labels stay true; span agents leave such
  label-1-without-span examples out of the span loss and span scores.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from psy_agents.config import DataConfig, SplitConfig
from psy_agents.data.criteria_text import CRITERIA, NO_SYMPTOMS, SYMPTOMS, criterion_id, description
from psy_agents.data.matching import LEVELS, find_sentence
from psy_agents.data.sentences import overlaps_gold, sentence_spans
from psy_agents.data.release import ANNOTATIONS_FILE, read_release
from psy_agents.data.splits import group_pattern, post_groups, split_posts
from psy_agents.data.tokenize import encode_spans, encode_spans_heads, longest_answer_tokens
from psy_agents.errors import InputError


@dataclass
class GroundTruth:
    criteria: list[dict]
    evidence: list[dict]
    splits: dict
    report: dict


def _natural_key(text: str) -> list:
    """Sort sentence ids like s_12_2 before s_12_10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def clean_posts(posts: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    duplicated = posts["post_id"].duplicated(keep="first")
    posts = posts[~duplicated]
    empty = posts["text"].str.strip() == ""
    report = {"read": int(len(duplicated)), "duplicate_id": int(duplicated.sum()), "empty_text": int(empty.sum())}
    posts = posts[~empty]
    report["kept"] = int(len(posts))
    return posts, report


def clean_annotations(annotations: pd.DataFrame, post_ids: set[str], cfg: DataConfig) -> tuple[pd.DataFrame, dict]:
    """Apply the label and row policies from params; return the clean rows and the count of each decision."""
    path = cfg.input_dir / ANNOTATIONS_FILE
    dropped: Counter[str] = Counter()
    rows = annotations.copy()

    unknown_post = ~rows["post_id"].isin(post_ids)
    if unknown_post.any() and cfg.unknown_posts == "fail":
        example = rows.loc[unknown_post, "post_id"].iloc[0]
        raise InputError(
            f"{path}: {int(unknown_post.sum())} record(s) name a post_id not in the posts file (e.g. {example!r});"
            " fix the files or set data.unknown_posts: drop"
        )
    dropped["unknown_post_or_empty_post"] = int(unknown_post.sum())
    rows = rows[~unknown_post]

    empty = rows["sentence_text"].str.strip() == ""
    dropped["empty_sentence"] = int(empty.sum())
    rows = rows[~empty]

    mapped = rows["DSM5_symptom"].map(lambda label: cfg.label_map.get(label, label))
    relabelled = Counter(
        f"{old}->{new}" for old, new in zip(rows["DSM5_symptom"], mapped, strict=True) if old != new
    )
    rows = rows.assign(DSM5_symptom=mapped)
    for label in cfg.drop_labels:
        hit = rows["DSM5_symptom"] == label
        dropped[f"label_{label}"] = int(hit.sum())
        rows = rows[~hit]
    unknown = ~rows["DSM5_symptom"].isin(CRITERIA)
    if unknown.any():
        labels = sorted(rows.loc[unknown, "DSM5_symptom"].unique())
        if cfg.unknown_labels == "fail":
            raise InputError(
                f"{path}: unknown DSM5_symptom label(s) {', '.join(map(repr, labels))}; map them in"
                " data.label_map, list them in data.drop_labels, or set data.unknown_labels: drop"
            )
        dropped["unknown_label"] = int(unknown.sum())
        rows = rows[~unknown]

    key = ["post_id", "sentence_id", "DSM5_symptom"]
    statuses = rows.groupby(key, sort=False)["status"].nunique()
    merged = rows.groupby(key, sort=False, as_index=False).agg(
        sentence_text=("sentence_text", "first"), status=("status", "max")
    )
    dropped["duplicate"] = int(len(rows) - len(merged))
    report = {
        "records": int(len(annotations)),
        "dropped": dict(sorted(dropped.items())),
        "relabelled": dict(sorted(relabelled.items())),
        "conflicting_status": int((statuses > 1).sum()),
        "kept": int(len(merged)),
        "kept_status_1": int((merged["status"] == 1).sum()),
        "kept_status_0": int((merged["status"] == 0).sum()),
    }
    return merged, report


def build_examples(posts: pd.DataFrame, rows: pd.DataFrame, cfg: DataConfig) -> tuple[list, list, dict, dict]:
    """Criteria examples (sentence x criterion), evidence examples (post x criterion) and each post's symptoms."""
    text_of = dict(zip(posts["post_id"], posts["text"], strict=True))
    levels: Counter[str] = Counter()
    span_of: dict[tuple[str, str], tuple[int, int] | None] = {}
    sentences = rows.drop_duplicates(["post_id", "sentence_id"])[["post_id", "sentence_id", "sentence_text"]]
    for post_id, sentence_id, sentence in sentences.itertuples(index=False):
        match = find_sentence(sentence, text_of[post_id], cfg.match.fuzzy_threshold)
        levels[match.level if match else "unmatched"] += 1
        span_of[(post_id, sentence_id)] = (match.start, match.end) if match else None

    present = rows[rows["status"] == 1]
    positive = set(zip(present["post_id"], present["sentence_id"], present["DSM5_symptom"], strict=True))
    criteria, sentence_report = sentence_examples(text_of, sentences, span_of, positive)

    spans: dict[tuple[str, str], set[tuple[int, int]]] = defaultdict(set)
    post_symptoms: dict[str, set[str]] = {post_id: set() for post_id in text_of}
    unmatched_rows = 0
    for post_id, sentence_id, symptom in positive:
        post_symptoms[post_id].add(symptom)
        span = span_of[(post_id, sentence_id)]
        if span is None:
            unmatched_rows += 1
        else:
            spans[(post_id, symptom)].add(span)
    evidence = []
    for post_id in sorted(text_of):
        post = text_of[post_id]
        for symptom in SYMPTOMS:
            answers = [{"start": s, "end": e, "text": post[s:e]} for s, e in sorted(spans.get((post_id, symptom), ()))]
            evidence.append(
                {
                    "post_id": post_id,
                    "symptom": symptom,
                    "criterion": criterion_id(symptom),
                    "criterion_text": description(symptom),
                    "post": post,
                    "answers": answers,
                    "label": int(symptom in post_symptoms[post_id]),
                }
            )
    symptom_free = sum(1 for s in post_symptoms.values() if not s)
    report = {
        "sentences": {level: levels[level] for level in (*LEVELS, "unmatched")},
        "status_1_rows_without_span": unmatched_rows,
        "posts_with_symptom_but_no_span": sum(
            1 for (post_id, symptom) in {(p, s) for p, _, s in positive} if not spans.get((post_id, symptom))
        ),
        "posts_without_symptoms": symptom_free,
        "criteria_sentences": sentence_report,
    }
    return criteria, evidence, {p: frozenset(s) for p, s in post_symptoms.items()}, report


def _criteria_rows(post_id: str, sentence_id: str, sentence: str, span: tuple[int, int] | None,
                   symptoms: set[str], annotated: bool) -> list[dict]:
    return [
        {
            "post_id": post_id,
            "sentence_id": sentence_id,
            "sentence": sentence,
            "start": span[0] if span else None,
            "end": span[1] if span else None,
            "annotated": annotated,  # an annotation row covers it (the only sentences the release's rows list)
            "symptom": symptom,
            "criterion": criterion_id(symptom),
            "criterion_text": description(symptom),
            "label": int(symptom in symptoms),
        }
        for symptom in SYMPTOMS
    ]


def sentence_examples(text_of: dict[str, str], sentences: pd.DataFrame, span_of: dict, positive: set) -> tuple:
    """Criteria examples over EVERY sentence of a post, as `predict` splits it (pysbd): the release is annotated
    exhaustively, so a sentence no status-1 row covers is a negative for all nine criteria. A pysbd sentence takes
    the symptoms of every located annotated sentence it overlaps (`overlaps_gold`: the annotators and the splitter
    may cut differently); an annotated sentence no level located keeps an example of its own text, since it was
    labelled. Sentence ids are `{post_id}:{k}` for the k-th pysbd sentence, the release's id otherwise."""
    annotated: dict[str, list[tuple[str, tuple[int, int]]]] = defaultdict(list)
    unlocated = []
    for post_id, sentence_id, sentence in sorted(sentences.itertuples(index=False),
                                                 key=lambda r: (r[0], _natural_key(r[1]))):
        span = span_of[(post_id, sentence_id)]
        if span is None:
            unlocated.append((post_id, sentence_id, sentence))
        else:
            annotated[post_id].append((sentence_id, span))
    by_post: dict[str, list[dict]] = defaultdict(list)
    counts: Counter[str] = Counter()
    for post_id in sorted(text_of):
        text = text_of[post_id]
        for k, span in enumerate(sentence_spans(text)):
            covering = [sid for sid, gold in annotated[post_id] if overlaps_gold(span, [gold])]
            symptoms = {s for s in SYMPTOMS for sid in covering if (post_id, sid, s) in positive}
            counts["sentences"] += 1
            counts["annotated" if covering else "unannotated"] += 1
            counts["positive"] += bool(symptoms)
            by_post[post_id] += _criteria_rows(post_id, f"{post_id}:{k}", text[span[0]:span[1]], span, symptoms,
                                               bool(covering))
    for post_id, sentence_id, sentence in unlocated:
        symptoms = {s for s in SYMPTOMS if (post_id, sentence_id, s) in positive}
        counts["unlocated_annotated"] += 1
        counts["positive"] += bool(symptoms)
        by_post[post_id] += _criteria_rows(post_id, sentence_id, sentence, None, symptoms, True)
    criteria = [ex for post_id in sorted(by_post) for ex in by_post[post_id]]
    report = {key: counts[key] for key in ("sentences", "annotated", "unannotated", "unlocated_annotated", "positive")}
    return criteria, report


def split_report(
    criteria: list[dict], evidence: list[dict], splits: dict, post_symptoms: dict, groups: dict[str, str]
) -> tuple[dict, dict]:
    """Posts, groups, examples and labels per split, and per symptom."""
    split_of = {p: name for name in ("train", "val", "test") for p in splits[name]}
    per_split = {
        name: {
            "posts": len(splits[name]),
            "groups": len({groups[p] for p in splits[name]}),
            "posts_without_symptoms": sum(1 for p in splits[name] if not post_symptoms[p]),
            "criteria_examples": 0,
            "criteria_positive": 0,
            "evidence_examples": 0,
            "evidence_positive": 0,
            "evidence_answers": 0,
        }
        for name in ("train", "val", "test")
    }
    per_symptom = {s: {"posts": 0, "train": 0, "val": 0, "test": 0, "positive_sentences": 0} for s in SYMPTOMS}
    for ex in criteria:
        block = per_split[split_of[ex["post_id"]]]
        block["criteria_examples"] += 1
        block["criteria_positive"] += ex["label"]
        per_symptom[ex["symptom"]]["positive_sentences"] += ex["label"]
    for ex in evidence:
        block = per_split[split_of[ex["post_id"]]]
        block["evidence_examples"] += 1
        block["evidence_positive"] += ex["label"]
        block["evidence_answers"] += len(ex["answers"])
    for post_id, symptoms in post_symptoms.items():
        for symptom in symptoms:
            per_symptom[symptom]["posts"] += 1
            per_symptom[symptom][split_of[post_id]] += 1
    per_symptom[NO_SYMPTOMS] = {
        name: per_split[name]["posts_without_symptoms"] for name in ("train", "val", "test")
    } | {"posts": sum(1 for s in post_symptoms.values() if not s)}
    return per_split, per_symptom


def build_groundtruth(data_cfg: DataConfig, split_cfg: SplitConfig) -> GroundTruth:
    pattern = group_pattern(split_cfg, data_cfg.source)  # a bad rule fails before the release is read
    posts, annotations = read_release(Path(data_cfg.input_dir))
    posts, post_report = clean_posts(posts)
    rows, annotation_report = clean_annotations(annotations, set(posts["post_id"]), data_cfg)
    criteria, evidence, post_symptoms, match_report = build_examples(posts, rows, data_cfg)
    groups = post_groups(sorted(post_symptoms), pattern)
    splits = split_posts(post_symptoms, split_cfg, groups)
    per_split, per_symptom = split_report(criteria, evidence, splits, post_symptoms, groups)
    split_summary = {
        "group_by": split_cfg.group_by[data_cfg.source],
        "folds": len(splits["folds"]),
        "fold_val_groups": [len({groups[p] for p in fold["val"]}) for fold in splits["folds"]],
        "stratified": splits["stratified"],
    }
    report = {
        "source": data_cfg.source,
        "posts": post_report,
        "annotations": annotation_report,
        "match": match_report,
        "splits": per_split | split_summary,
        "symptoms": per_symptom,
    }
    return GroundTruth(criteria, evidence, splits, report)


def headline(report: dict) -> dict[str, int]:
    """The counts metrics/groundtruth.json keeps: posts kept, sentences no matching level located, annotation rows
    dropped (the examples per split are in the report)."""
    return {
        "posts": report["posts"]["kept"],
        "unmatched": report["match"]["sentences"]["unmatched"],
        "dropped": sum(report["annotations"]["dropped"].values()),
    }


def window_report(evidence: list[dict], splits: dict, tokenizer, max_length: int, stride: int, heads: bool) -> dict:
    """Per split, the windows (as the span agents cut them) of the evidence examples with a gold span: how many
    (window, criterion) pairs hold a whole gold span, how many a window boundary cuts one (those train no span
    target), and the longest gold span in tokens (the default train.max_answer_tokens on train). Other examples
    have no span a window could cut. `heads`: windows of the post alone (model.criterion_input), else of
    (criterion, post) pairs."""
    split_of = {p: name for name in ("train", "val", "test") for p in splits[name]}
    encode = encode_spans_heads if heads else encode_spans
    report = {}
    for name in ("train", "val", "test"):
        examples = [ex for ex in evidence if ex["answers"] and split_of[ex["post_id"]] == name]
        block = {"examples": len(examples), "windows": 0, "whole_span": 0, "cut_span": 0, "longest_span_tokens": 0}
        if examples:
            features = encode(examples, tokenizer, max_length, stride, cache=False)
            cols = features.columns
            block.update(
                windows=len(features),
                whole_span=int((np.asarray(cols["start_positions"]) > 0).sum()),
                cut_span=int(np.asarray(cols["cut"]).sum()),
                longest_span_tokens=longest_answer_tokens(features, examples),
            )
        report[name] = block
    return report
