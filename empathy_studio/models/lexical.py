"""Word n-gram (TF-IDF) terms for the linear intensity heads.

On ESConv the seeker's choice of words carries intensity signal that the frozen
encoder features miss: a TF-IDF ridge beats the encoder-only ridge on final and
change intensity, and one ridge over both feature sets beats each alone
(bench/results/quality.md). Because every part is linear, the fitted model
splits into the encoder head (an affine map of the pooled features) plus the
term here: TF-IDF(text) · weights, one weight row per intensity target.

The vectoriser is stored as its vocabulary and idf in JSON beside the model,
so a model folder never needs pickle.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

from ..errors import ModelUnavailable
from ..labels import INTENSITY_TARGETS

NGRAM_RANGE = (1, 2)
MIN_DF = 2


def fit_vectorizer(texts: Sequence[str]) -> TfidfVectorizer:
    return TfidfVectorizer(ngram_range=NGRAM_RANGE, min_df=MIN_DF, sublinear_tf=True, dtype=np.float32).fit(texts)


@dataclass
class LexicalIntensity:
    """TF-IDF features and their intensity weights, shape (targets, vocabulary)."""

    vocabulary: dict[str, int]
    idf: np.ndarray
    weights: np.ndarray

    def __post_init__(self) -> None:
        self.idf = np.asarray(self.idf, dtype=np.float32)
        self.weights = np.asarray(self.weights, dtype=np.float32)
        if self.weights.shape != (len(INTENSITY_TARGETS), len(self.vocabulary)) or self.idf.shape != (len(self.vocabulary),):
            raise ValueError(
                f"lexical weights {self.weights.shape} and idf {self.idf.shape} do not match a vocabulary of {len(self.vocabulary)}"
            )
        vec = TfidfVectorizer(ngram_range=NGRAM_RANGE, sublinear_tf=True, vocabulary=self.vocabulary, dtype=np.float32)
        vec.idf_ = self.idf
        self._vectorizer = vec

    @classmethod
    def from_vectorizer(cls, vectorizer: TfidfVectorizer, weights: np.ndarray) -> "LexicalIntensity":
        vocab = {term: int(i) for term, i in vectorizer.vocabulary_.items()}
        return cls(vocab, vectorizer.idf_, weights)

    def features(self, texts: Sequence[str]):
        return self._vectorizer.transform(texts)

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), targets): what the words add to each intensity target."""
        return np.asarray(self.features(texts) @ self.weights.T, dtype=np.float32)

    def explain(
        self, text: str, k: int = 6, threshold: float = 0.0, drop_stop_words: bool = False
    ) -> dict[str, tuple[float, list[tuple[str, float]], float]]:
        """Per target: (what all the words add together, the terms that add most, what the other words add).

        A term is listed when it adds at least `threshold` (on the 1-5 scale) either way, it is among
        the `k` largest, and (with `drop_stop_words`) it has a word that is not a stop word; the rest
        is summed as "other words", so the listed terms plus the other words give the total.
        """
        row = self.features([text]).tocsr()
        inverse = {i: t for t, i in self.vocabulary.items()}
        out = {}
        for n, target in enumerate(INTENSITY_TARGETS):
            contrib = row.data * self.weights[n, row.indices]
            order = np.argsort(-np.abs(contrib))
            terms = []
            for i in order:
                term, value = inverse[int(row.indices[i])], float(contrib[i])
                if len(terms) == k or abs(value) < max(threshold, 1e-12):
                    break
                if drop_stop_words and all(w in ENGLISH_STOP_WORDS for w in term.split()):
                    continue
                terms.append((term, value))
            total = float(contrib.sum())
            out[target] = (total, terms, total - sum(v for _, v in terms))
        return out

    def save(self, path: Path | str) -> None:
        # every term stays, weighted or not: each one counts in the L2 norm of a text's vector
        terms = sorted(self.vocabulary, key=self.vocabulary.__getitem__)
        payload: dict[str, Any] = {
            "ngram_range": list(NGRAM_RANGE),
            "targets": list(INTENSITY_TARGETS),
            "terms": terms,
            "idf": self.idf.tolist(),
            "weights": self.weights.tolist(),
        }
        Path(path).write_text(json.dumps(payload))

    @classmethod
    def load(cls, path: Path | str) -> "LexicalIntensity":
        try:
            raw = json.loads(Path(path).read_text())
            terms, idf, weights = raw["terms"], raw["idf"], raw["weights"]
            if raw.get("targets") != list(INTENSITY_TARGETS) or tuple(raw.get("ngram_range", ())) != NGRAM_RANGE:
                raise ModelUnavailable(
                    f"{path}: written for targets {raw.get('targets')} and n-grams {raw.get('ngram_range')}, not this version's"
                )
            return cls({t: i for i, t in enumerate(terms)}, np.array(idf), np.array(weights).reshape(len(INTENSITY_TARGETS), len(terms)))
        except (ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
            raise ModelUnavailable(f"{path}: not a lexical intensity file ({exc.__class__.__name__}: {exc})") from None
