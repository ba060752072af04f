"""Does a corpus's held-out data repeat its training text? Counts, per split seed, under the project's own split.

    python tools/heldout_check.py data/demo --seeds 42 7 13

For val and test posts: sentences (as pysbd splits them, as `predict` and the criteria examples do) that occur
verbatim in a train post, case-, quote- and whitespace-insensitively; and the demo generator's bank entries
(tools/demo_banks) found in both a train post and a held-out post. Also, per symptom, the evidence cores that only
val or only test posts use. Prints one line per seed; exits 1 if any held-out sentence or bank entry repeats train.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import pandas as pd

from psy_agents.config import SplitConfig, build, load_params
from psy_agents.data.criteria_text import SYMPTOMS
from psy_agents.data.sentences import sentence_spans
from psy_agents.data.splits import group_pattern, post_groups, split_posts

sys.path.insert(0, str(Path(__file__).resolve().parent))
import demo_corpus  # noqa: E402  (tools/ is not a package)


def norm(text: str) -> str:
    text = text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    return re.sub(r"\s+", " ", text).strip().lower()


def bank_entries() -> dict[str, list[str]]:
    """Every phrasing the generator composes posts from, by bank (slot values and prefixes excepted: a slot value
    only ever appears inside a filled template, which the sentence check covers)."""
    evidence = {f"evidence/{s}": [core for kind in ("states", "events") for core in demo_corpus.EVIDENCE[s][kind]]
                for s in SYMPTOMS}
    return {
        **evidence,
        "pairs": [core for cores in demo_corpus.PAIR_SENTENCES.values() for core in cores],
        "near_misses": [text for s in SYMPTOMS for text, _ in demo_corpus.NEAR_MISSES[s]],
        "fillers": list(demo_corpus.FILLER_SENTENCES),
        "frame": [*demo_corpus.INTROS, *demo_corpus.CLOSINGS, *demo_corpus.URL_SENTENCES,
                  *demo_corpus.SITUATIONS, *demo_corpus.ROLES],
    }


def split_of(posts: pd.DataFrame, annotations: pd.DataFrame, seed: int) -> dict[str, str]:
    """post id -> train | val | test, by the split the groundtruth stage makes (params.yaml split, this seed)."""
    params = load_params()
    cfg = build(SplitConfig, {**params["split"], "seed": seed}, "split")
    symptoms = {p: frozenset() for p in posts.post_id}
    for post_id, group in annotations[annotations.status == 1].groupby("post_id"):
        if post_id in symptoms:
            symptoms[post_id] = frozenset(set(group.DSM5_symptom) & set(SYMPTOMS))
    groups = post_groups(sorted(symptoms), group_pattern(cfg, params["data"]["source"]))
    splits = split_posts(symptoms, cfg, groups)
    return {p: name for name in ("train", "val", "test") for p in splits[name]}


def check(corpus: Path, seed: int) -> dict:
    posts = pd.read_csv(corpus / demo_corpus.POSTS_FILE)
    annotations = pd.read_csv(corpus / demo_corpus.ANNOTATIONS_FILE)
    where = split_of(posts, annotations, seed)
    text = {p: norm(t) for p, t in zip(posts.post_id, posts.text)}
    train = [t for p, t in text.items() if where[p] == "train"]
    train_blob = "\n".join(train)
    out = {"seed": seed, "posts": {s: sum(v == s for v in where.values()) for s in ("train", "val", "test")}}
    held_sentences = repeated = 0
    for post_id, raw in zip(posts.post_id, posts.text):
        if where[post_id] == "train":
            continue
        for start, end in sentence_spans(raw):
            held_sentences += 1
            repeated += norm(raw[start:end]) in train_blob
    out["heldout_sentences"], out["heldout_sentences_in_train"] = held_sentences, repeated
    shared, only = 0, {"val": {}, "test": {}}
    for bank, entries in bank_entries().items():
        for entry in entries:
            key = norm(entry)
            used = {where[p] for p, t in text.items() if key in t}
            shared += "train" in used and len(used) > 1
            for name in ("val", "test"):
                if bank.startswith("evidence/") and used == {name}:
                    only[name][bank[9:]] = only[name].get(bank[9:], 0) + 1
    out["bank_entries_shared_with_train"] = shared
    for name in ("val", "test"):
        out[f"min_{name}_only_evidence"] = min(only[name].get(s, 0) for s in SYMPTOMS)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 7, 13])
    args = parser.parse_args(argv)
    bad = False
    for seed in args.seeds:
        result = check(args.corpus, seed)
        print(" ".join(f"{k}={v}" for k, v in result.items()))
        bad |= result["heldout_sentences_in_train"] > 0 or result["bank_entries_shared_with_train"] > 0
    return int(bad)


if __name__ == "__main__":
    raise SystemExit(main())
