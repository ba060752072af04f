"""Split posts (never rows) into train/val/test and K folds of train+val, by group, stratified on symptom sets.

A group is a post's writer as split.group_by reads it from the post id (or the post itself): posts of one writer on
both sides of a split would inflate every score, so whole groups are split and no group is in two splits or in two
folds' validation parts. Multi-label sets cannot be stratified exactly, so each group gets one stratum: the rarest
symptom over its posts (by frequency over groups), or NO_SYMPTOMS. Strata too small for the requested split are
merged into one "OTHER" stratum, so stratification holds "as far as the counts allow" and never fails on a rare
combination. With every post its own group this is the per-post split.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable

from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

from psy_agents.config import SplitConfig
from psy_agents.data.criteria_text import NO_SYMPTOMS
from psy_agents.errors import InputError


def strata(post_symptoms: dict[str, frozenset[str]], min_size: int) -> list[str]:
    """One stratum label per post or group (sorted key order); strata smaller than min_size are merged."""
    frequency = Counter(s for symptoms in post_symptoms.values() for s in symptoms)
    posts = sorted(post_symptoms)
    labels = [
        min(post_symptoms[p], key=lambda s: (frequency[s], s)) if post_symptoms[p] else NO_SYMPTOMS for p in posts
    ]
    sizes = Counter(labels)
    labels = [label if sizes[label] >= min_size else "OTHER" for label in labels]
    sizes = Counter(labels)
    if 0 < sizes.get("OTHER", 0) < min_size:  # too few even merged: fold them into the largest stratum
        largest = max((label for label in sizes if label != "OTHER"), key=lambda s: (sizes[s], s), default="OTHER")
        labels = [largest if label == "OTHER" else label for label in labels]
    return labels


def group_pattern(cfg: SplitConfig, source: str) -> re.Pattern | None:
    """split.group_by's rule for `source`, checked before any input is read: None groups by post."""
    if source not in cfg.group_by:
        raise InputError(
            f"params.yaml split.group_by has no entry for data.source {source}; add `{source}: post` or a regex"
        )
    where = f"params.yaml split.group_by.{source}='{cfg.group_by[source]}'"
    if cfg.group_by[source] == "post":
        return None
    try:
        pattern = re.compile(cfg.group_by[source])
    except (re.error, TypeError) as exc:
        raise InputError(f"{where} is not a valid regex ({exc}); fix it, or use post") from None
    if pattern.groups < 1:
        raise InputError(f"{where} has no capture group; put the part naming the writer in (), e.g. '^(s_\\d+)_'")
    return pattern


def post_groups(post_ids: list[str], pattern: re.Pattern | None) -> dict[str, str]:
    """post id -> group: the pattern's first capture group, or the post id itself where the pattern does not match."""
    groups = {}
    for post_id in post_ids:
        match = pattern.search(post_id) if pattern else None
        groups[post_id] = match.group(1) if match and match.group(1) else post_id
    return groups


def split_posts(post_symptoms: dict[str, frozenset[str]], cfg: SplitConfig, groups: dict[str, str]) -> dict:
    """Return {"train", "val", "test": sorted post ids, "folds": [{"train", "val"}] over train+val, "stratified"}.

    `groups` maps every post to its group (post_groups); sizes are shares of the groups, not of the posts.
    """
    posts = sorted(post_symptoms)
    if cfg.folds < 2:
        raise InputError(f"params.yaml split.folds={cfg.folds}: K-fold cross-validation needs at least 2 folds")
    if not (0 < cfg.test_size < 1 and 0 < cfg.val_size < 1 and cfg.test_size + cfg.val_size < 1):
        raise InputError("params.yaml split: test_size and val_size must be in (0, 1) and sum to less than 1")
    members: dict[str, list[str]] = defaultdict(list)
    for post in posts:
        members[groups[post]].append(post)
    group_ids = sorted(members)
    n_test = round(len(group_ids) * cfg.test_size)
    n_val = round(len(group_ids) * cfg.val_size)
    if min(n_test, n_val) < 1 or len(group_ids) - n_test < cfg.folds:
        raise InputError(
            f"only {len(posts)} posts in {len(group_ids)} groups (split.group_by): too few for the split in"
            " params.yaml split; add data"
        )
    group_symptoms = {g: frozenset().union(*(post_symptoms[p] for p in members[g])) for g in group_ids}
    labels = dict(zip(group_ids, strata(group_symptoms, min_size=cfg.folds + 2), strict=True))
    stratified = True

    def expand(chosen: Iterable[str]) -> list[str]:
        return sorted(p for g in chosen for p in members[g])

    def holdout(items: list[str], size: int) -> tuple[list[str], list[str]]:
        nonlocal stratified
        try:
            return train_test_split(items, test_size=size, stratify=[labels[g] for g in items], random_state=cfg.seed)
        except ValueError:  # fewer held-out groups than strata (tiny corpora): fall back to a plain shuffle
            stratified = False
            return train_test_split(items, test_size=size, random_state=cfg.seed)

    rest, test = holdout(group_ids, n_test)
    train, val = holdout(rest, n_val)
    train_val = sorted(rest)
    if min(Counter(labels[g] for g in train_val).values()) >= cfg.folds:
        splitter = StratifiedKFold(n_splits=cfg.folds, shuffle=True, random_state=cfg.seed)
    else:
        stratified = False
        splitter = KFold(n_splits=cfg.folds, shuffle=True, random_state=cfg.seed)
    fold_list = [
        {"train": expand(train_val[i] for i in tr), "val": expand(train_val[i] for i in va)}
        for tr, va in splitter.split(train_val, [labels[g] for g in train_val])
    ]
    return {
        "train": expand(train),
        "val": expand(val),
        "test": expand(test),
        "folds": fold_list,
        "stratified": stratified,
    }


def post_subset(examples: list[dict], post_ids: list[str], fraction: float, seed: int) -> list[str]:
    """A seeded `fraction` of post_ids (sorted), stratified on each post's rarest symptom among these posts.

    The low-fidelity training data of the search stages (hpo.a|b.train_fraction); fraction 1 keeps every post.
    """
    posts = sorted(post_ids)
    if fraction >= 1:
        return posts
    if int(fraction * len(posts)) < 1:
        raise InputError(f"train_fraction={fraction} of {len(posts)} train posts leaves none; raise it")
    keep = set(posts)
    symptoms: dict[str, set[str]] = {p: set() for p in posts}
    for ex in examples:
        if ex["label"] and ex["post_id"] in keep:
            symptoms[ex["post_id"]].add(ex["symptom"])
    labels = strata({p: frozenset(s) for p, s in symptoms.items()}, min_size=2)
    try:
        chosen, _ = train_test_split(posts, train_size=fraction, stratify=labels, random_state=seed)
    except ValueError:  # too few posts for every stratum on both sides (tiny corpora): a plain seeded draw
        chosen, _ = train_test_split(posts, train_size=fraction, random_state=seed)
    return sorted(chosen)
