"""The registry of offline augmentation methods: what each one does to ONE word, and its default parameters.

The policy (policy.py) picks the words and the positions; a method only rewrites a word. nlpaug is used for what it
does per word (keyboard / OCR / random-character noise, splitting, misspelling, TF-IDF sampling) but is never
handed a whole text: its tokenizer splits "don't" into "don ' t" and its detokenizer joins tokens with single
spaces, so untouched parts of a post (newlines, punctuation) and the gold span offsets would shift.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import nlpaug.augmenter.char as nac
import nlpaug.augmenter.word as naw
from nlpaug.model.word_stats import TfIdf

from psy_agents.augment import wordnet
from psy_agents.errors import InputError

# Word -> new word (None: this method cannot change this word); `rng` for methods not built on nlpaug.
Rewrite = Callable[[str, np.random.Generator], str | None]


@dataclass(frozen=True)
class Method:
    name: str
    kind: str  # replace: rewrite the word | insert: add a word after it | swap | delete (the policy does both)
    rewrite: Rewrite | None = None
    weights: Callable[[list[str]], np.ndarray] | None = None  # preference over candidate words; None = uniform


# Default parameters per method; augment.method_params.<name> overrides them key by key. For nlpaug methods they
# are the augmenter's keyword arguments: one or two characters of noise per word, no digits or symbols.
DEFAULTS: dict[str, dict[str, Any]] = {
    "keyboard": {"aug_char_max": 1, "include_special_char": False, "include_numeric": False,
                 "include_upper_case": False},
    "ocr": {"aug_char_min": 1, "aug_char_max": 1},
    "random_char": {"action": "swap", "aug_char_max": 1, "include_numeric": False},
    "random_swap": {},
    "random_delete": {},
    "split": {"min_char": 4},
    "spelling": {},  # nlpaug ships its misspelling dictionary (res/word/spelling/spelling_en.txt)
    "tfidf_substitute": {},
    "tfidf_insert": {},
    "synonym": {"min_char": 3},  # shorter words ("I", "am") only have absurd WordNet senses
    "antonym": {"min_char": 3},
}
RESOURCES = {"tfidf_substitute": "tfidf", "tfidf_insert": "tfidf", "synonym": "wordnet", "antonym": "wordnet"}
# nlpaug rewrites the single word it is given: one token in, one word changed.
ONE_WORD_CHAR = {"aug_word_min": 1, "aug_word_max": 1, "tokenizer": str.split, "reverse_tokenizer": " ".join}
ONE_WORD = {"aug_min": 1, "aug_max": 1, "tokenizer": str.split, "reverse_tokenizer": " ".join}
NLPAUG = {
    "keyboard": (nac.KeyboardAug, ONE_WORD_CHAR),
    "ocr": (nac.OcrAug, ONE_WORD_CHAR),
    "random_char": (nac.RandomCharAug, ONE_WORD_CHAR),
    "split": (naw.SplitAug, ONE_WORD),
    "spelling": (naw.SpellingAug, ONE_WORD),
}
HAS_DIGIT = re.compile(r"\d")


def tfidf_available(directory: str | Path) -> bool:
    files = (TfIdf.WORD_2_IDF_FILE_NAME, TfIdf.WORD_2_TFIDF_FILE_NAME)
    return all((Path(directory) / name).is_file() for name in files)


@lru_cache(maxsize=4)
def _tfidf_model(directory: str) -> TfIdf:
    # nlpaug's own model class. TfIdfAug keeps ONE model per process in a global and ignores a later model_path,
    # so it is not used here: a study (or a test) may point different Augmenters at different directories.
    return TfIdf(model_path=directory)


def _nlpaug(name: str, params: dict[str, Any]) -> Method:
    cls, fixed = NLPAUG[name]
    try:
        aug = cls(**{**params, **fixed})
    except TypeError as exc:
        raise InputError(f"augment.method_params.{name}: {exc}") from None
    if name == "spelling":
        # nlpaug's Spelling model dedupes each word's misspellings with list(set(...)), so their order, and with it
        # the one a seeded draw picks, changed with PYTHONHASHSEED from process to process. Sorted, a draw depends
        # on the seed only. The model is one per process, shared by every SpellingAug; sorting it is idempotent.
        for options in aug.model.dict.values():
            options.sort()

    def rewrite(word: str, rng: np.random.Generator) -> str | None:
        out = aug.augment(word)  # draws from python `random` / numpy's global RNG, seeded by the policy
        return out[0] if out else None

    return Method(name, "replace", rewrite)


def _tfidf(name: str, directory: str) -> Method:
    model = _tfidf_model(directory)

    def key(word: str) -> str:
        return word if word in model.w2idf else word.lower()

    def draw(word: str, rng: np.random.Generator) -> str | None:
        # Replacement / inserted words come from the train vocabulary, drawn by nlpaug (low TF-IDF favoured).
        new = model.predict(word, top_k=1)[0]
        return None if new == key(word) else new

    def substitute(word: str, rng: np.random.Generator) -> str | None:
        return draw(word, rng) if key(word) in model.w2idf else None

    def weights(words: list[str]) -> np.ndarray:
        # As in nlpaug's TfIdfAug (after UDA): words of low IDF are the likeliest to be replaced; unknown words never.
        idf = np.array([model.w2idf.get(key(w), np.nan) for w in words])
        known = ~np.isnan(idf)
        out = np.zeros(len(words))
        if known.any():
            out[known] = idf[known].max() - idf[known] + 1e-3
        return out

    if name == "tfidf_insert":
        return Method(name, "insert", draw)
    return Method(name, "replace", substitute, weights)


def _wordnet(name: str, directory: str, min_char: int) -> Method:
    reader = wordnet.reader(directory)
    lookup = reader.synonyms if name == "synonym" else reader.antonyms

    def rewrite(word: str, rng: np.random.Generator) -> str | None:
        if len(word) < min_char:
            return None
        options = [w for w in lookup(word) if not HAS_DIGIT.search(w)]
        return options[int(rng.integers(len(options)))] if options else None

    return Method(name, "replace", rewrite)


def build(name: str, overrides: dict[str, Any], tfidf_dir: str, wordnet_dir: str) -> Method:
    """Build one method; its resource must exist (the policy checks with `missing_resource` first)."""
    if name not in DEFAULTS:
        raise InputError(f"augment.methods: unknown method {name!r}; known: {', '.join(DEFAULTS)}")
    params = {**DEFAULTS[name], **overrides}
    if name in NLPAUG:
        return _nlpaug(name, params)
    unknown = sorted(set(params) - set(DEFAULTS[name]))
    if unknown:
        raise InputError(f"augment.method_params.{name}: unknown parameter(s) {', '.join(unknown)}")
    if name in ("random_swap", "random_delete"):
        return Method(name, name.removeprefix("random_"))
    if RESOURCES[name] == "tfidf":
        return _tfidf(name, tfidf_dir)
    return _wordnet(name, wordnet_dir, int(params["min_char"]))


def missing_resource(name: str, tfidf_dir: str, wordnet_dir: str) -> str | None:
    """Why method `name` cannot run on this machine, or None when it can."""
    resource = RESOURCES.get(name)
    if resource == "tfidf" and not tfidf_available(tfidf_dir):
        return f"no TF-IDF model in {tfidf_dir} (run `dvc repro tfidf`)"
    if resource == "wordnet" and not wordnet.available(wordnet_dir):
        return f"no WordNet database in {wordnet_dir} (apt-get install wordnet-base wordnet-sense-index)"
    return None
