"""Cost of each augmentation method: ms per 1,000 examples, for sentences (criteria agent) and posts with spans.

    python bench/augment_cost.py [--n 200]

Reads data/processed (sentences, posts and their gold spans) when the groundtruth stage has run, else builds
synthetic ones of realistic length (ReDSM5 posts average ~295 words). Uses data/tfidf when present, else fits a
throwaway model on the bench texts; WordNet methods need /usr/share/wordnet. The first calls of each method (index
loading) are excluded.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from psy_agents.augment.methods import DEFAULTS, tfidf_available
from psy_agents.augment.policy import Augmenter
from psy_agents.augment.tfidf import fit_tfidf, write_nlpaug_model
from psy_agents.config import AugmentConfig, TfidfConfig, build, load_params
from psy_agents.data.io import read_jsonl

PROCESSED = Path("data/processed")
VOCAB = (
    "i feel sad tired empty today work school friends family sleep night eat food nothing anymore really always "
    "never want think know people life time day week month better worse hard help tried stopped lost hope alone "
    "myself everything anyone would could because about after before again still even just like much"
).split()

Example = tuple[str, list[tuple[int, int]]]


def synthetic(n: int, words: int, rng: random.Random) -> list[Example]:
    examples = []
    for _ in range(n):
        sentences = []
        while sum(len(s.split()) for s in sentences) < words:
            sentence = " ".join(rng.choice(VOCAB) for _ in range(rng.randint(8, 20)))
            sentences.append(sentence.capitalize() + ".")
        text = " ".join(sentences)
        span = sentences[len(sentences) // 2] if words > 30 else ""
        start = text.index(span) if span else 0
        examples.append((text, [(start, start + len(span))] if span else []))
    return examples


def load(n: int) -> tuple[list[Example], list[Example]]:
    if (PROCESSED / "criteria.jsonl").is_file() and (PROCESSED / "evidence.jsonl").is_file():
        sentences = [(r["sentence"], []) for r in read_jsonl(PROCESSED / "criteria.jsonl")][:n]
        evidence = read_jsonl(PROCESSED / "evidence.jsonl")[:n]
        return sentences, [(r["post"], [(a["start"], a["end"]) for a in r["answers"]]) for r in evidence]
    rng = random.Random(0)
    return synthetic(n, 15, rng), synthetic(n, 295, rng)


def ms_per_1000(aug: Augmenter, examples: list[Example]) -> float:
    for i, (text, spans) in enumerate(examples[:3]):  # warm-up: lazy index loading is a one-off cost
        aug.augment(text, spans, rng_key=(99, i))
    start = time.perf_counter()
    for i, (text, spans) in enumerate(examples):
        aug.augment(text, spans, rng_key=(0, i))
    return (time.perf_counter() - start) * 1e6 / len(examples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200, help="examples of each kind per method")
    parser.add_argument("--params", default="params.yaml", help="the augment and tfidf settings the bench does not fix")
    args = parser.parse_args()
    params = load_params(args.params)
    sentences, posts = load(args.n)
    tfidf_dir = "data/tfidf"
    if not tfidf_available(tfidf_dir):
        tfidf_dir = tempfile.mkdtemp(prefix="tfidf-bench-")
        tfidf = build(TfidfConfig, {**params["tfidf"], "min_df": 1}, "tfidf")
        write_nlpaug_model(tfidf_dir, *fit_tfidf([t for t, _ in sentences + posts], tfidf))
    print(f"{len(sentences)} sentences, {len(posts)} posts; ops_per_sample=1, max_replace=0.1")
    print(f"{'method':<18}{'sentences ms/1k':>16}{'posts ms/1k':>14}")
    for name in DEFAULTS:
        cfg = build(AugmentConfig, {**params["augment"], "enabled": True, "p_apply": 1.0, "ops_per_sample": 1,
                                    "max_replace": 0.1, "methods": {name: 1.0},
                                    "tfidf_dir": tfidf_dir}, "augment")
        aug = Augmenter(cfg, seed=0)
        if not aug.active:
            print(f"{name:<18}{'disabled (resource missing)':>30}")
            continue
        print(f"{name:<18}{ms_per_1000(aug, sentences):>16.0f}{ms_per_1000(aug, posts):>14.0f}")


if __name__ == "__main__":
    main()
