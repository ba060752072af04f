"""Synonyms and antonyms from the WordNet 3.0 database files that Debian ships (`wordnet-base`, /usr/share/wordnet).

nlpaug's SynonymAug/AntonymAug need nltk's `wordnet` corpus and its POS tagger, which are downloaded at run time;
nltk's reader also wants a `lexnames` file Debian does not ship. So this reads the plain WordNet files itself
(format: wndb(5WN)) and looks a word up in every part of speech instead of tagging it.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

POS_FILES = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
# Inflection suffix -> base suffix, as in WordNet's morphy(7WN); irregular forms come from the *.exc files.
SUFFIXES = {
    "n": [("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"), ("men", "man"),
          ("ies", "y")],
    "v": [("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""), ("ing", "e"), ("ing", "")],
    "a": [("er", ""), ("est", ""), ("er", "e"), ("est", "e")],
    "r": [],
}
ADJ_MARKER = re.compile(r"\([a-z]+\)$")  # syntactic marker of some adjectives: "big(a)", "galore(ip)"


def available(directory: str | Path) -> bool:
    directory = Path(directory)
    return all((directory / f"{kind}.{name}").is_file() for name in POS_FILES.values() for kind in ("index", "data"))


class WordNet:
    """Lazy reader: the index is loaded on the first lookup, synsets are read by byte offset from data.*."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self._index: dict[tuple[str, str], list[int]] | None = None
        self._exceptions: dict[tuple[str, str], list[str]] = {}

    def _load(self) -> dict[tuple[str, str], list[int]]:
        if self._index is None:
            index: dict[tuple[str, str], list[int]] = {}
            for pos, name in POS_FILES.items():
                with (self.directory / f"index.{name}").open(encoding="utf-8") as fh:
                    for line in fh:
                        if line.startswith("  "):  # license header
                            continue
                        fields = line.split()
                        n_synsets = int(fields[2])
                        index[(fields[0], pos)] = [int(o) for o in fields[len(fields) - n_synsets :]]
                exc = self.directory / f"{name}.exc"
                if exc.is_file():
                    for line in exc.read_text(encoding="utf-8").splitlines():
                        inflected, *bases = line.split()
                        self._exceptions[(inflected, pos)] = bases
            self._index = index
        return self._index

    def _lemmas(self, word: str, pos: str) -> list[str]:
        """Base forms of `word` that WordNet lists for `pos` (the word itself, an irregular base, or a stem)."""
        index = self._load()
        forms = [word, *self._exceptions.get((word, pos), [])]
        forms += [word[: -len(old)] + new for old, new in SUFFIXES[pos] if word.endswith(old) and len(word) > len(old)]
        return list(dict.fromkeys(f for f in forms if (f, pos) in index))

    def _synset(self, pos: str, offset: int) -> tuple[list[str], list[tuple[str, str, int, int, int]]]:
        """Words of one synset and its pointers (symbol, pos, offset, source word no., target word no.)."""
        with (self.directory / f"data.{POS_FILES['a' if pos == 's' else pos]}").open("rb") as fh:
            fh.seek(offset)
            fields = fh.readline().decode("utf-8").split(" | ")[0].split()
        n_words = int(fields[3], 16)
        words = [ADJ_MARKER.sub("", fields[4 + 2 * i]) for i in range(n_words)]
        at = 4 + 2 * n_words
        pointers = []
        for i in range(int(fields[at])):
            symbol, target, target_pos, source_target = fields[at + 1 + 4 * i : at + 5 + 4 * i]
            pointers.append((symbol, target_pos, int(target), int(source_target[:2], 16), int(source_target[2:], 16)))
        return words, pointers

    @lru_cache(maxsize=65536)  # noqa: B019 - one reader per directory lives for the process; the cache is the point
    def synonyms(self, word: str) -> tuple[str, ...]:
        """Other words of every synset of `word`, all parts of speech, most frequent sense first."""
        word = word.lower()
        found: dict[str, None] = {}
        for pos in POS_FILES:
            for lemma in self._lemmas(word, pos):
                for offset in self._index[(lemma, pos)]:
                    for other in self._synset(pos, offset)[0]:
                        if other.lower() not in (word, lemma):
                            found[other.replace("_", " ")] = None
        return tuple(found)

    @lru_cache(maxsize=65536)  # noqa: B019
    def antonyms(self, word: str) -> tuple[str, ...]:
        """Words linked to a sense of `word` by WordNet's lexical antonym pointer `!`."""
        word = word.lower()
        found: dict[str, None] = {}
        for pos in POS_FILES:
            for lemma in self._lemmas(word, pos):
                for offset in self._index[(lemma, pos)]:
                    words, pointers = self._synset(pos, offset)
                    number = [w.lower() for w in words].index(lemma) + 1
                    for symbol, target_pos, target, source, target_no in pointers:
                        if symbol == "!" and source == number:
                            found[self._synset(target_pos, target)[0][target_no - 1].replace("_", " ")] = None
        return tuple(found)


@lru_cache(maxsize=4)
def reader(directory: str) -> WordNet:
    """One reader per directory per process, so every Augmenter of a study shares the loaded index."""
    return WordNet(directory)
