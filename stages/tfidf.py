"""DVC stage `tfidf`: train-split texts of data/processed -> data/tfidf/, the files nlpaug's TfIdfAug reads."""

from __future__ import annotations

import argparse
from pathlib import Path

from psy_agents.augment.tfidf import fit_tfidf, train_texts, write_nlpaug_model
from psy_agents.config import TfidfConfig, build, load_params
from psy_agents.errors import run_main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--processed", default="data/processed")
    parser.add_argument("--out", default="data/tfidf")
    args = parser.parse_args()
    cfg = build(TfidfConfig, load_params(args.params).get("tfidf"), "tfidf")
    texts = train_texts(Path(args.processed), "train")
    w2idf, w2tfidf = fit_tfidf(texts, cfg)
    write_nlpaug_model(args.out, w2idf, w2tfidf)
    print(f"tfidf: {len(w2idf)} words from {len(texts)} train texts -> {args.out}")


if __name__ == "__main__":
    run_main(main)
