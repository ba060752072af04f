"""Locate an annotated sentence in its post as a character span: exact, then normalised, then fuzzy.

Normalisation folds case, curly quotes and dashes, and collapses whitespace runs, keeping a map from every
normalised character back to the original offset, so a normalised hit is returned in original coordinates and
`post[start:end]` is always the answer text.
"""

from __future__ import annotations

from dataclasses import dataclass

import bisect

from rapidfuzz import fuzz, process

LEVELS = ("exact", "normalized", "fuzzy")

_FOLD = str.maketrans(
    {
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u2032": "'", "`": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"',
        "\u2013": "-", "\u2014": "-", "\u00a0": " ",
    }
)


@dataclass(frozen=True)
class Match:
    start: int
    end: int
    level: str  # one of LEVELS
    score: float  # 100 for exact and normalised hits, the fuzz.ratio similarity (0-100) otherwise


def normalize_with_map(text: str) -> tuple[str, list[int]]:
    """Return (normalised text, original index of each normalised character)."""
    chars: list[str] = []
    index: list[int] = []
    previous_space = True  # drops leading whitespace
    for i, ch in enumerate(text):
        if ch.isspace():
            if not previous_space:
                chars.append(" ")
                index.append(i)
            previous_space = True
            continue
        folded = ch.translate(_FOLD).lower()
        if len(folded) != 1:  # a few characters lower-case to two; keep them as they are
            folded = ch
        chars.append(folded)
        index.append(i)
        previous_space = False
    if chars and chars[-1] == " ":
        chars.pop()
        index.pop()
    return "".join(chars), index


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "'"


def _snap_to_words(post: str, start: int, end: int) -> tuple[int, int]:
    """Widen a fuzzy span to whole words and trim surrounding whitespace."""
    while start > 0 and _is_word(post[start - 1]) and _is_word(post[start]):
        start -= 1
    while end < len(post) and _is_word(post[end - 1]) and _is_word(post[end]):
        end += 1
    while start < end and post[start].isspace():
        start += 1
    while end > start and post[end - 1].isspace():
        end -= 1
    return start, end


def find_sentence(sentence: str, post: str, fuzzy_threshold: float) -> Match | None:
    """The span of `sentence` in `post`, or None when no level finds it (the caller counts and drops it)."""
    stripped = sentence.strip()
    if not stripped:
        return None
    start = post.find(stripped)
    if start >= 0:
        return Match(start, start + len(stripped), "exact", 100.0)

    norm_post, post_map = normalize_with_map(post)
    norm_sentence, _ = normalize_with_map(stripped)
    if not norm_sentence or not norm_post:
        return None
    hit = norm_post.find(norm_sentence)
    if hit >= 0:
        return Match(post_map[hit], post_map[hit + len(norm_sentence) - 1] + 1, "normalized", 100.0)

    window = _best_window(norm_sentence, norm_post, fuzzy_threshold)
    if window is None:
        return None
    (w_start, w_end), score = window
    start, end = _snap_to_words(post, post_map[w_start], post_map[w_end - 1] + 1)
    if end <= start:
        return None
    return Match(start, end, "fuzzy", round(float(score), 2))


def _best_window(needle: str, haystack: str, threshold: float) -> tuple[tuple[int, int], float] | None:
    """The word-aligned window of `haystack` most similar to `needle` (fuzz.ratio), if any reaches threshold.

    Windows span 0.7-1.3x the needle's length, so a dropped or added word costs only its own characters
    (partial_ratio compares fixed-length windows and punishes such edits twice).
    """
    starts = [0] + [i + 1 for i, ch in enumerate(haystack) if ch == " "]
    ends = [i for i, ch in enumerate(haystack) if ch == " "] + [len(haystack)]
    low, high = 0.7 * len(needle), 1.3 * len(needle)
    windows = []
    for s in starts:
        first = bisect.bisect_left(ends, s + low)
        last = bisect.bisect_right(ends, s + high)
        windows.extend((s, e) for e in ends[first:last])
    if not windows:
        return None
    best = process.extractOne(
        needle, [haystack[s:e] for s, e in windows], scorer=fuzz.ratio, score_cutoff=threshold
    )
    if best is None:
        return None
    _, score, index = best
    return windows[index], score
