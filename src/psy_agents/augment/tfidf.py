"""The TF-IDF model behind nlpaug's TfIdfAug, fitted on the train split only.

The system this replaces fitted it on all posts, so augmentation could insert words that occur only in val/test
posts: a leak. Here the caller passes train texts only (`train_texts`), scikit-learn does the fitting, and nlpaug's
own model class writes the two files `TfIdfAug(model_path=...)` reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
from nlpaug.model.word_stats import TfIdf
from sklearn.feature_extraction.text import TfidfVectorizer

from psy_agents.config import TfidfConfig
from psy_agents.data.io import read_jsonl
from psy_agents.errors import InputError

MODEL_FILES = (TfIdf.WORD_2_IDF_FILE_NAME, TfIdf.WORD_2_TFIDF_FILE_NAME)


def train_texts(processed_dir: str | Path, post_ids: Iterable[str]) -> list[str]:
    """Texts of the given (training) posts: each post once, plus each annotated sentence of those posts once.

    evidence.jsonl holds one line per (post, criterion), hence the dedupe by post_id; the sentences are added
    because the criteria agent augments sentences, which in the real release are not always verbatim in the post.
    """
    processed_dir = Path(processed_dir)
    ids = set(post_ids)
    posts = {r["post_id"]: r["post"] for r in read_jsonl(processed_dir / "evidence.jsonl") if r["post_id"] in ids}
    sentences = {
        (r["post_id"], r["sentence_id"]): r["sentence"]
        for r in read_jsonl(processed_dir / "criteria.jsonl")
        if r["post_id"] in ids
    }
    return list(posts.values()) + list(sentences.values())


def fit_tfidf(texts: list[str], cfg: TfidfConfig) -> tuple[dict[str, float], dict[str, float]]:
    """Return nlpaug's two tables: word -> IDF, and word -> probability of being drawn as a replacement."""
    vectorizer = TfidfVectorizer(min_df=cfg.min_df, max_features=cfg.max_features, lowercase=cfg.lowercase)
    try:
        matrix = vectorizer.fit_transform(texts)
    except ValueError as exc:  # empty vocabulary, or min_df prunes every word
        raise InputError(f"tfidf: cannot fit on {len(texts)} train texts ({exc}); lower tfidf.min_df") from None
    words = [str(w) for w in vectorizer.get_feature_names_out()]
    # nlpaug (after UDA) draws replacement words with probability proportional to max - TF-IDF, so frequent
    # uninformative words are drawn most; its TfIdf._normalize returns [0] when all scores tie, hence the uniform.
    mass = np.asarray(matrix.sum(axis=0)).ravel()
    weights = mass.max() - mass
    probs = weights / weights.sum() if weights.sum() > 0 else np.full(len(words), 1.0 / len(words))
    w2idf = {w: float(v) for w, v in zip(words, vectorizer.idf_)}
    w2tfidf = {w: float(p) for w, p in zip(words, probs)}
    return w2idf, w2tfidf


def write_nlpaug_model(out_dir: str | Path, w2idf: dict[str, float], w2tfidf: dict[str, float]) -> Path:
    """Write tfidfaug_w2idf.txt and tfidfaug_w2tfidf.txt with nlpaug's own writer (`word score` per line)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = TfIdf()
    model.w2idf, model.w2tfidf = w2idf, w2tfidf
    model.save(str(out_dir))
    return out_dir


def fit_nlpaug_model(processed_dir: str | Path, post_ids: Iterable[str], cfg: TfidfConfig, out_dir: str | Path) -> int:
    """Fit on the given posts and write the model nlpaug reads; returns the vocabulary size."""
    w2idf, w2tfidf = fit_tfidf(train_texts(processed_dir, post_ids), cfg)
    write_nlpaug_model(out_dir, w2idf, w2tfidf)
    return len(w2idf)
