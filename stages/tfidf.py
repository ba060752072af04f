"""DVC stage `tfidf`: train-split texts of data/processed -> data/tfidf/, the files nlpaug's TfIdfAug reads."""

from __future__ import annotations

import argparse
from pathlib import Path

from psy_agents.augment.tfidf import fit_nlpaug_model
from psy_agents.config import TfidfConfig, build, load_params
from psy_agents.data.examples import load_splits
from psy_agents.errors import run_main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--processed", default="data/processed")
    parser.add_argument("--out", default="data/tfidf")
    args = parser.parse_args()
    cfg = build(TfidfConfig, load_params(args.params).get("tfidf"), "tfidf")
    train = load_splits(Path(args.processed))["train"]
    words = fit_nlpaug_model(args.processed, train, cfg, args.out)
    print(f"tfidf: {words} words from {len(train)} train posts and their sentences -> {args.out}")


if __name__ == "__main__":
    run_main(main)
