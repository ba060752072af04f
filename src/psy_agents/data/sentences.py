"""Sentences of a post: the evidence units of ReDSM5, whose annotators judged a post sentence by sentence.

pysbd splits a post into character spans; the sentence span unit (model.span_unit) answers with those that show a
criterion, the TF-IDF baseline scores them and `psy-agents predict` shows the criteria agent's decisions per sentence.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Sequence

import pysbd

Span = tuple[int, int]


@functools.lru_cache(maxsize=1)
def _segmenter() -> pysbd.Segmenter:
    return pysbd.Segmenter(language="en", clean=False, char_span=True)


def sentence_spans(text: str) -> list[Span]:
    """Character spans of the sentences of a post (pysbd), stripped of surrounding whitespace."""
    return list(_sentence_spans(text))


@functools.lru_cache(maxsize=4096)  # pair windows read each post once per criterion
def _sentence_spans(text: str) -> tuple[Span, ...]:
    # pysbd locates each sentence by searching the text, and on runs of punctuation such as "...." the spans it
    # finds can overlap; each starts where the previous one ended, so the sentences of a post never overlap.
    spans: list[Span] = []
    for sent in sorted(_segmenter().segment(text), key=lambda sent: sent.start):
        start = max(sent.start, spans[-1][1] if spans else 0)
        end = sent.start + len(sent.sent.rstrip())
        while start < end and text[start].isspace():
            start += 1
        if end > start:
            spans.append((start, end))
    return tuple(spans)


def window_sentences(context: Sequence[Span | None], sentences: Sequence[Span]) -> tuple[list[int], list[Span]]:
    """The candidate sentences of one window: per token the 1-based index of the candidate it belongs to (0 for
    tokens outside the post text: CLS, the criterion text, separators), and the candidates' character spans, whole
    even where the window's boundary cuts them. A token between two sentences joins the one it follows."""
    starts = [s for s, _ in sentences]
    index, spans, position = [], [], {}
    for offset in context:
        if offset is None or offset[1] <= offset[0] or not sentences:
            index.append(0)
            continue
        k = max(bisect.bisect_right(starts, offset[0]) - 1, 0)
        if k not in position:
            position[k] = len(spans) + 1
            spans.append(sentences[k])
        index.append(position[k])
    return index, spans


def overlaps_gold(span: Span, golds: Sequence[Span]) -> bool:
    """Whether a candidate sentence is evidence: at least half of it, or half of a gold span, lies in a gold span
    (a splitter and the annotators may cut a sentence differently)."""
    for start, end in golds:
        shared = min(span[1], end) - max(span[0], start)
        if shared > 0 and 2 * shared >= min(span[1] - span[0], end - start):
            return True
    return False
