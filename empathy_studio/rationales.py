"""Rationales: the words of a response that show an empathy mechanism, as character spans, and how to score them.

EPITOME's CSVs carry, for each (post, response) pair and mechanism, the spans of the response
that annotators marked (`rationales`, separated by `|`). A span here is `(start, end)` in
characters of the response. Scoring is on words (runs of non-space characters), as Sharma et al.
(EMNLP 2020) and ERASER (DeYoung et al., 2020) score rationales:

- **token F1**: per pair, F1 between the predicted and the gold rationale words, averaged over the
  pairs that have a gold rationale;
- **IOU F1**: a predicted span (a run of consecutive rationale words) matches a gold span when
  their word sets overlap by at least half their union; precision and recall over all spans.

Floors, fitted on the training pairs (`RationaleLexicon`): every word of the response, and the
lexicon of words marked in at least half of their training occurrences (in responses with a rationale).
No torch here: the rater's head predicts spans, this module scores them.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

Span = tuple[int, int]
_WORD = re.compile(r"\S+")
IOU_MATCH = 0.5


def locate(response: str, marked: str) -> list[Span]:
    """EPITOME's `rationales` cell (spans of the response separated by `|`) as character spans; a span not found is dropped."""
    spans, start = [], 0
    for piece in (p.strip() for p in marked.split("|")):
        if not piece:
            continue
        at = response.find(piece, start)
        at = at if at >= 0 else response.find(piece)
        if at >= 0:
            spans.append((at, at + len(piece)))
            start = at + len(piece)
    return sorted(spans)


def words(text: str) -> list[Span]:
    return [(m.start(), m.end()) for m in _WORD.finditer(text)]


def touches(start: int, end: int, spans: Iterable[Span]) -> bool:
    """Whether the characters start..end (a word, a token) overlap one of the spans."""
    return any(s < end and start < e for s, e in spans)


def word_mask(text: str, spans: Iterable[Span]) -> np.ndarray:
    """Which words of `text` a span touches."""
    spans = list(spans)
    return np.array([touches(s, e, spans) for s, e in words(text)], dtype=bool)


def runs(mask: np.ndarray) -> list[set[int]]:
    """Runs of consecutive marked words, as sets of word indices."""
    out, cur = [], set()
    for i, on in enumerate(mask):
        if on:
            cur.add(i)
        elif cur:
            out.append(cur)
            cur = set()
    return out + ([cur] if cur else [])


def spans_of(text: str, mask: np.ndarray) -> list[Span]:
    """Marked words as character spans, consecutive words joined (the spaces between them included)."""
    ws = words(text)
    return [(ws[min(r)][0], ws[max(r)][1]) for r in runs(mask)]


def token_f1(gold: np.ndarray, pred: np.ndarray) -> float:
    tp = int((gold & pred).sum())
    return 0.0 if tp == 0 else 2 * tp / (int(gold.sum()) + int(pred.sum()))


def iou_counts(gold: np.ndarray, pred: np.ndarray) -> tuple[int, int, int]:
    """(predicted spans that match a gold span, predicted spans, gold spans matched by a predicted span)."""
    g, p = runs(gold), runs(pred)

    def match(a: set[int], b: set[int]) -> bool:
        return len(a & b) / len(a | b) >= IOU_MATCH

    return sum(any(match(x, y) for y in g) for x in p), len(p), sum(any(match(y, x) for x in p) for y in g)


def score(texts: Sequence[str], gold: Sequence[Sequence[Span]], pred: Sequence[Sequence[Span]]) -> dict[str, float | int]:
    """Token F1 and IOU F1 over the pairs with a gold rationale (`n`)."""
    f1s, hit_p, n_p, hit_g, n_g = [], 0, 0, 0, 0
    for text, g_spans, p_spans in zip(texts, gold, pred):
        g, p = word_mask(text, g_spans), word_mask(text, p_spans)
        if not g.any():
            continue
        f1s.append(token_f1(g, p))
        a, b, c = iou_counts(g, p)
        hit_p, n_p, hit_g = hit_p + a, n_p + b, hit_g + c
        n_g += len(runs(g))
    precision, recall = (hit_p / n_p if n_p else 0.0), (hit_g / n_g if n_g else 0.0)
    iou_f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return {"token_f1": float(np.mean(f1s)) if f1s else float("nan"), "iou_f1": float(iou_f1), "n": len(f1s)}


def _key(word: str) -> str:
    return word.strip(".,!?;:\"'()[]").lower()


@dataclass
class RationaleLexicon:
    """A floor: the words marked in at least `share` of their occurrences in training responses that have a rationale."""

    share: float = 0.5
    min_count: int = 3
    marked: set[str] = field(default_factory=set)

    def fit(self, texts: Sequence[str], gold: Sequence[Sequence[Span]]) -> "RationaleLexicon":
        seen, hit = Counter(), Counter()
        for text, spans in zip(texts, gold):
            mask = word_mask(text, spans)
            if not mask.any():
                continue
            for (s, e), on in zip(words(text), mask):
                seen[_key(text[s:e])] += 1
                hit[_key(text[s:e])] += int(on)
        self.marked = {w for w, n in seen.items() if n >= self.min_count and hit[w] / n >= self.share}
        return self

    def predict(self, text: str) -> list[Span]:
        return spans_of(text, np.array([_key(text[s:e]) in self.marked for s, e in words(text)], dtype=bool))
