"""The empathy rater's options: architecture, losses and head weights, as a plain dataclass (no torch).

`TrainRequest` offers these choices on the command line and in the Train tab, and
`rater.py` builds the model from them; the config is saved beside the weights as `rater.json`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .train_config import check_choice

ARCHS = ("cross", "bi")
LOSSES = ("ce", "focal", "kl")
SCORE_LOSSES = ("mse", "mae")


@dataclass
class RaterConfig:
    """What sits on top of the encoder, and how it learns. Saved beside the weights as rater.json."""

    # bench/results/empathy-rater.md: the bi-encoder with cross-entropy is the best of the grid on EPITOME's val (mean of 3
    # seeds 0.654) and on test (4-level weighted F1 0.661 ± 0.002)
    arch: str = "bi"
    loss: str = "ce"
    score_loss: str = "mse"
    focal_gamma: float = 2.0
    kl_smoothing: float = 0.2  # the share of a soft label's mass moved to the gold level's neighbours
    mechanism_weight: float = 1.0
    level4_weight: float = 1.0
    score_weight: float = 1.0
    hidden: int = 256

    def __post_init__(self) -> None:
        check_choice("arch", self.arch, ARCHS)
        check_choice("loss", self.loss, LOSSES)
        check_choice("score_loss", self.score_loss, SCORE_LOSSES)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
