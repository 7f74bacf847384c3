"""What sits on top of the encoder, as plain data: each family's head options, saved beside the weights.

`HeadConfig` is the seeker model's (`heads.json`), `RaterConfig` the empathy rater's
(`rater.json`). Neither imports torch, so settings, requests and estimates can
check options cheaply; the models in `seeker.py` and `rater.py` are built from them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError, check_choice
from ..labels import ESCONV_EMOTIONS

OBJECTIVES = ("multitask", "classify", "rater")  # emotion + intensity heads, the emotion head alone, or the empathy rater
POOLINGS = ("cls", "mean")
INTENSITY_HEADS = ("per_emotion", "shared", "linear")
ARCHS = ("cross", "bi")
LOSSES = ("ce", "focal", "kl")
SCORE_LOSSES = ("mse", "mae")
# the rationale head's loss weight a new rater trains with (a saved rater without the key has no head: 0)
DEFAULT_RATIONALE_WEIGHT = 1.0
MIN_ENSEMBLE_MEMBERS = 2  # a seed ensemble (`ensemble.py`) averages at least this many seeker models


@dataclass
class HeadConfig:
    """The seeker model's heads. Saved beside the weights as heads.json."""

    labels: list[str] = field(default_factory=lambda: list(ESCONV_EMOTIONS))
    task: str = "multitask"  # the objective: "multitask" or "classify" (the key keeps its name in heads.json)
    pooling: str = "cls"  # "cls" (the paper) or "mean"
    intensity_head: str = "per_emotion"  # "per_emotion" (the paper), "shared" (one MLP output) or "linear" (ridge-fitted)
    intensity_layer: int | None = None  # read intensity from this hidden layer (mean-pooled) instead of the last
    emotion_hidden: int = 256
    intensity_hidden: int = 128
    ce_weight: float = 0.5
    mse_weight: float = 0.5 / 3
    focal_gamma: float = 0.0  # 0 is plain cross-entropy
    intensity_init: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    # the linear intensity heads also read the end of the text: its last max_length tokens, a second view beside the first
    # max_length (their features joined, first view then end view); False, as every model saved before it, reads the opening only
    end_view: bool = False
    # one cross-entropy weight per emotion (`--class-weight`); None weighs every class the same
    class_weights: list[float] | None = None
    # the model reads the seeker's pre-chat situation before their words (`data.situated`); the paper read the words alone
    situation: bool = False

    def __post_init__(self) -> None:
        check_choice("task", self.task, OBJECTIVES)
        check_choice("pooling", self.pooling, POOLINGS)
        check_choice("intensity_head", self.intensity_head, INTENSITY_HEADS)
        if len(self.labels) < 2:
            raise ConfigError("at least two labels are needed")
        if self.end_view and self.intensity_head != "linear":
            raise ConfigError("end_view needs intensity_head='linear' (the ridge-fitted heads read it)")

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class RaterConfig:
    """The empathy rater's architecture, losses and head weights. Saved beside the weights as rater.json."""

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
    # > 0: a token-tagging head marks each mechanism's rationale words in the response, trained with this weight
    # (multi-task, as Sharma et al. 2020); 0, as every rater saved before it, has no such head
    rationale_weight: float = 0.0
    # per mechanism, one cross-entropy weight per level (`--class-weight`); None weighs every level the same
    class_weights: list[list[float]] | None = None
    # bi only: the response's tokens attend to the post's before pooling (Sharma et al. 2020); False, as every rater saved
    # before it, embeds the two apart
    attention: bool = False

    def __post_init__(self) -> None:
        check_choice("arch", self.arch, ARCHS)
        check_choice("loss", self.loss, LOSSES)
        check_choice("score_loss", self.score_loss, SCORE_LOSSES)
        if not 0 <= self.rationale_weight <= 100:
            raise ConfigError(f"rationale_weight must be between 0 and 100, got {self.rationale_weight}")
        if self.attention and self.arch != "bi":
            raise ConfigError("attention from the response to the post is for --arch bi: a cross-encoder's layers read both already")
        if self.class_weights is not None and self.loss == "kl":
            raise ConfigError("class weights weigh the ce and focal losses; the kl loss has soft targets, not one class a row")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
