"""`TrainConfig`, the named presets, and the accepted range of every numeric option.

This module holds the training defaults, and nothing else does: `space_config.yaml`
(its `training:` block) overrides them, a preset overrides that, and a user's
request overrides the preset (`request.training_config`). It imports neither
torch nor transformers, so settings, the CLI and estimates can use it cheaply.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, check_choice
from ..models.heads import INTENSITY_HEADS, OBJECTIVES, POOLINGS

__all__ = [
    "TrainConfig",
    "PRESETS",
    "RATER_PRESETS",
    "FAMILY_PRESETS",
    "DEFAULT_PRESET",
    "HEAD_OPTIONS",
    "RANGES",
    "SELECT_METRICS",
    "REPORT_TO",
    "INTENSITY_HEADS",
    "OBJECTIVES",
    "POOLINGS",
    "check_choice",
    "preset",
]

SELECT_METRICS = {"loss": False, "accuracy": True, "f1_weighted": True}  # name -> higher is better
REPORT_TO = ("none", "trackio", "tensorboard", "wandb")


@dataclass(frozen=True)
class Range:
    """Accepted values of a numeric option: lo..hi, with lo itself excluded when `open_lo`."""

    lo: float
    hi: float
    integer: bool = False
    open_lo: bool = False

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a number"
        lo, hi = (str(int(v)) if v == int(v) else f"{v:g}" for v in (self.lo, self.hi))
        return f"{kind} above {lo}, at most {hi}" if self.open_lo else f"{kind} from {lo} to {hi}"

    def check(self, name: str, value: Any) -> None:
        ok_type = isinstance(value, int) if self.integer else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok_type or (isinstance(value, float) and not math.isfinite(value)):
            raise ConfigError(f"{name} must be {self.describe()}, got {value!r}")
        if value > self.hi or value < self.lo or (self.open_lo and value == self.lo):
            raise ConfigError(f"{name} must be {self.describe()}, got {value!r}")


RANGES: dict[str, Range] = {
    "epochs": Range(0, 10_000, open_lo=True),
    "batch_size": Range(1, 4096, integer=True),
    "max_length": Range(8, 8192, integer=True),
    "learning_rate": Range(0, 1, open_lo=True),
    "head_learning_rate": Range(0, 1, open_lo=True),
    "weight_decay": Range(0, 1),
    "warmup": Range(0, 1_000_000),
    "patience": Range(0, 100_000, integer=True),
    "seed": Range(0, 2**32 - 1, integer=True),
    "focal_gamma": Range(0, 10),
    "class_weight": Range(0, 2),
    "rationale_weight": Range(0, 100),
    "freeze_layers": Range(0, 1000, integer=True),
    "max_steps": Range(-1, 10_000_000, integer=True),
    "min_annotators": Range(1, 10_000, integer=True),
}


@dataclass
class TrainConfig:
    """Hyperparameters for one run. `encoder` is a local folder or hub id, or a studio model folder to continue from."""

    encoder: str
    local_files_only: bool = True
    objective: str = "multitask"
    pooling: str = "cls"
    intensity_head: str = "per_emotion"
    focal_gamma: float = 0.0
    class_weight: float = 0.0  # weigh each class by (n / (classes · count)) ** class_weight in the classification losses; 0: none
    epochs: float = 6
    batch_size: int = 16
    max_length: int = 256
    learning_rate: float = 5e-5  # encoder
    head_learning_rate: float = 1e-3
    weight_decay: float = 0.01
    warmup: float = 0.1  # a ratio of all steps below 1, a step count from 1 up
    patience: int = 2  # evaluations without improvement before stopping; 0 turns it off
    select_metric: str = "loss"
    seed: int = 42
    freeze_encoder: bool = False
    freeze_layers: int = 0  # freeze the embeddings and this many bottom layers
    intensity_layer: int | None = None  # intensity heads read this (mean-pooled) hidden layer
    ridge_intensity: bool = False  # after training, fit linear intensity heads in closed form (alpha chosen on val)
    lexical_intensity: bool = False  # the ridge heads also read the text's TF-IDF vector (lexical.py)
    end_view: bool = False  # the ridge heads of END_TARGETS may also read the text's last max_length tokens
    situation: bool = False  # the seeker's pre-chat situation is read before their words (ESConv-format data has one)
    report_to: str = "none"  # experiment tracking through transformers' own integrations
    run_name: str = ""  # the run's name in the tracker
    output_dir: str = ".cache/trainer"
    max_steps: int = -1  # for smoke tests; -1 means epochs decide

    def __post_init__(self) -> None:
        for name, rng in RANGES.items():
            if hasattr(self, name):
                rng.check(name, getattr(self, name))
        check_choice("objective", self.objective, OBJECTIVES)
        check_choice("pooling", self.pooling, POOLINGS)
        check_choice("intensity_head", self.intensity_head, INTENSITY_HEADS)
        check_choice("select_metric", self.select_metric, SELECT_METRICS)
        check_choice("report_to", self.report_to, REPORT_TO)
        if self.ridge_intensity and self.intensity_head != "linear":
            raise ConfigError("ridge_intensity needs intensity_head='linear'")
        if self.lexical_intensity and not self.ridge_intensity:
            raise ConfigError("lexical_intensity needs ridge_intensity")
        if self.end_view and not self.ridge_intensity:
            raise ConfigError("end_view needs ridge_intensity")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# Ridge penalties tried for the closed-form intensity heads (on standardised features), and the TF-IDF
# block's weight against the standardised encoder block (unit variance per dimension); both chosen on val.
RIDGE_ALPHAS = (1.0, 10.0, 100.0, 300.0, 1000.0, 3000.0, 10000.0, 30000.0)
LEXICAL_SCALES = (10.0, 20.0, 30.0, 50.0, 100.0)
# With the end view: the targets whose heads may read it (initial is about the opening) and its weights against the
# first view's block (0: the opening alone), chosen per target on val with the penalty and the TF-IDF scale.
END_TARGETS = ("final", "change")
END_SCALES = (0.0, 0.5, 1.0, 2.0)

# Keys that space_config.yaml may set under `training:` (the optimiser settings, not the architecture).
SETTABLE = ("epochs", "batch_size", "max_length", "learning_rate", "head_learning_rate", "weight_decay", "warmup", "patience", "seed")

# What both rater presets share: batch, learning rates, no early stopping, the epoch chosen by 4-level weighted F1.
_RATER = dict(batch_size=16, learning_rate=5e-5, head_learning_rate=1e-3, patience=0, select_metric="f1_weighted")

# name -> overrides of the defaults above (and of space_config.yaml).
PRESETS: dict[str, dict[str, Any]] = {
    # ours: fine-tune the top 2 layers for emotion; intensity from the frozen layer 4, ridge-fitted
    # (bench/results/esconv-minilm.md: fine-tuning erases the intensity signal, layer 4 keeps it)
    # (bench/results/quality.md: TF-IDF terms joined to layer 4 beat either alone)
    # (bench/results/class-weights.md: the emotions weighted by the square root of balanced weights, macro-F1 on val 0.458
    # against 0.411, disgust, fear and shame above 0 there; weighted F1 on val 0.538 against 0.552, on test 0.615 against 0.562)
    # (bench/results/situation.md: the seeker's pre-chat situation read before their words, weighted F1 on val 0.609 against
    # 0.538, on test 0.615 against 0.615; the paper did not read it)
    "default": dict(
        pooling="mean",
        intensity_head="linear",
        freeze_layers=4,
        intensity_layer=4,
        ridge_intensity=True,
        lexical_intensity=True,
        class_weight=0.5,
        situation=True,
    ),
    # the paper's optimiser and heads: Adam, 1e-5 / 3e-5, 500 warm-up steps, batch 6, patience 50
    # on validation accuracy, up to 1,000 epochs (a GPU preset)
    "paper": dict(
        pooling="cls",
        intensity_head="per_emotion",
        epochs=1000,
        batch_size=6,
        max_length=512,
        learning_rate=1e-5,
        head_learning_rate=3e-5,
        weight_decay=0.0,
        warmup=500,
        patience=50,
        select_metric="accuracy",
    ),
    # the paper's heads (CLS, per-emotion MLPs) with our optimiser defaults, every layer fine-tuned
    "paper-heads": dict(pooling="cls", intensity_head="per_emotion"),
    # frozen encoder, heads on cached embeddings: the first-run model
    "quick": dict(
        freeze_encoder=True,
        pooling="mean",
        intensity_head="linear",
        intensity_layer=4,
        ridge_intensity=True,
        lexical_intensity=True,
        epochs=150,
        batch_size=64,
        head_learning_rate=2e-3,
        weight_decay=0.0,
        warmup=0.0,
        patience=15,
        select_metric="loss",
    ),
    # the empathy rater (--task empathy), as bench/empathy.py trains it; the best epoch on val by 4-level weighted F1; each
    # mechanism's levels weighted by the square root of balanced weights (bench/results/rationales-class-weights-val.md: the
    # mean of the mechanisms' macro-F1 on val 0.656 against 0.629 unweighted, 3 seeds each)
    "rater": dict(**_RATER, epochs=3, max_length=128, class_weight=0.5),
    # the first-use rater: one epoch on shorter texts, the embeddings and the bottom 2 layers frozen (under 90 s on 2 cores;
    # 4-level F1 0.616 against 0.614 with every layer trained, which took 117 s)
    "rater-quick": dict(**_RATER, epochs=1, max_length=64, freeze_layers=2),
}
# Each model family's presets, the one "default" means for it, and the request fields only it reads (its head options).
FAMILY_PRESETS = {"seeker": ("default", "paper", "paper-heads", "quick"), "rater": ("rater", "rater-quick")}
DEFAULT_PRESET = {"seeker": "default", "rater": "rater"}
HEAD_OPTIONS = {"seeker": ("end_view", "situation"), "rater": ("arch", "loss", "score_loss", "rationale_weight", "attention")}
RATER_PRESETS = FAMILY_PRESETS["rater"]


def check_overrides(raw: dict[str, Any], where: str) -> dict[str, Any]:
    """The `training:` block of space_config.yaml, checked: known keys, values in range."""
    unknown = sorted(set(raw) - set(SETTABLE))
    if unknown:
        raise ConfigError(f"{where}: unknown training keys {unknown}; known: {', '.join(SETTABLE)}")
    out = {}
    for key, value in raw.items():
        rng = RANGES[key]
        if not rng.integer and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        rng.check(f"{where}: training.{key}", value)
        out[key] = value
    return out


def preset(name: str, encoder: str, defaults: dict[str, Any] | None = None, **overrides: Any) -> TrainConfig:
    """TrainConfig defaults, then `defaults` (space_config.yaml), then the preset, then `overrides`."""
    check_choice("preset", name, PRESETS)
    return TrainConfig(encoder=encoder, **{**(defaults or {}), **PRESETS[name], **overrides})
