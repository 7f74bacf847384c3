"""Reference predictors that a trained model has to beat.

ZeroR predicts the majority class of the training set and, for each intensity
target, its training mean. On the paper's ESConv test split it gives the
paper's ZeroR row to 4 decimals, which also checks the split.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..data import Example
from ..labels import INTENSITY_TARGETS


@dataclass(frozen=True)
class ZeroR:
    label: int
    means: dict[str, float]

    @classmethod
    def fit(cls, train: Sequence[Example]) -> "ZeroR":
        label = Counter(ex.label for ex in train).most_common(1)[0][0]
        means = {t: float(np.nanmean([getattr(ex, t) for ex in train])) for t in INTENSITY_TARGETS}
        return cls(label, means)

    def predict_labels(self, n: int) -> list[int]:
        return [self.label] * n

    def predict_intensity(self, n: int) -> dict[str, list[float]]:
        return {t: [m] * n for t, m in self.means.items()}
