"""What a user asks to train (`TrainRequest`), and the one mapping of a request to a `TrainConfig`.

`TrainRequest`'s fields carry their own help, choices and ranges, so the CLI's
`train` options, the Train tab and the API all refuse the same values with the
same message. `training_config` maps a request (plus settings and preset) to a
`TrainConfig`; the estimate and the training both call it, so they time and run
the same batches. A family's head options (the rater's `arch`, `loss`,
`score_loss`) and presets are named in `config.FAMILY_PRESETS` and
`config.HEAD_OPTIONS`: a request for another family refuses them. `EnsembleRequest` is what a user asks to publish
seed models as one (`ensemble.py`).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from ..errors import ConfigError
from ..models.heads import ARCHS, LOSSES, MIN_ENSEMBLE_MEMBERS, SCORE_LOSSES
from ..names import check_name
from ..registry import ModelSpec
from ..settings import Settings
from ..tasks import ALIASES, DEFAULT_TASK, TASKS, Task, get_task
from .config import (
    DEFAULT_PRESET,
    FAMILY_PRESETS,
    HEAD_OPTIONS,
    INTENSITY_HEADS,
    POOLINGS,
    PRESETS,
    RANGES,
    REPORT_TO,
    SELECT_METRICS,
    TrainConfig,
    check_choice,
    preset,
)
from .policies import POLICIES

# Packages that each experiment tracker needs, for one clear message instead of transformers' RuntimeError.
TRACKER_PACKAGES = {"trackio": ("trackio",), "tensorboard": ("tensorboard", "tensorboardX"), "wandb": ("wandb",)}


def option(help: str, choices: Sequence[str] | None = None, flag: bool = True) -> dict[str, Any]:
    """Metadata of a request field: its help text and choices (ranges come from `train_config.RANGES`)."""
    return {"help": help, "choices": tuple(choices) if choices else None, "flag": flag}


@dataclass
class TrainRequest:
    """What a user asks for. Every field is a `train` option of the CLI; None means "the preset decides"."""

    model: str = field(metadata=option("registry name of the base or parent model"))
    task: str = field(default=DEFAULT_TASK, metadata=option("what the model learns", [*TASKS, *ALIASES]))
    dataset: str | None = field(default=None, metadata=option("the task's dataset (default: its own), or an ESConv-format JSON file"))
    preset: str = field(
        default="default",
        metadata=option(
            "default (ours), paper (the paper's optimiser and heads), paper-heads (the paper's heads, our optimiser), quick (frozen "
            "encoder); "
            "rater and rater-quick for --task empathy (default: rater)",
            list(PRESETS),
        ),
    )
    epochs: float | None = field(default=None, metadata=option("training epochs"))
    max_length: int | None = field(default=None, metadata=option("tokens per text"))
    batch_size: int | None = field(default=None, metadata=option("examples per step"))
    learning_rate: float | None = field(default=None, metadata=option("encoder learning rate"))
    head_learning_rate: float | None = field(default=None, metadata=option("learning rate of the heads"))
    seed: int | None = field(default=None, metadata=option("random seed (default 42)"))
    patience: int | None = field(
        default=None, metadata=option("evaluations without improvement before training stops (0 turns early stopping off)")
    )
    balanced: bool = field(default=False, metadata=option("the paper's class balancing (training set only)"))
    policy: str = field(default="gold", metadata=option("which labels to train on", POLICIES))
    with_ratings: str | None = field(default=None, metadata=option("database whose ratings to use (implies --policy gold+ratings)"))
    aggregate: str = field(default="mean", metadata=option("how ratings of one item combine", ("mean", "median")))
    release: str | None = field(
        default=None,
        metadata=option(
            "release whose consensus labels to train on, with --policy ratings or gold+ratings (default: the latest release of the "
            "task's kind when there is one, else every rating in the database)"
        ),
    )
    min_annotators: int = field(default=1, metadata=option("ratings needed before an item counts"))
    name: str | None = field(default=None, metadata=option("name of the new model (default: derived)"))
    max_steps: int = field(default=-1, metadata=option("stop after this many steps (smoke tests)"))
    freeze_encoder: bool = field(default=False, metadata=option("train the heads only, on cached embeddings"))
    pooling: str | None = field(default=None, metadata=option("how the encoder output is pooled", POOLINGS))
    intensity_head: str | None = field(default=None, metadata=option("intensity head design", INTENSITY_HEADS))
    focal_gamma: float | None = field(default=None, metadata=option("focal loss gamma (0 = cross-entropy)"))
    class_weight: float | None = field(
        default=None,
        metadata=option(
            "weigh each class in the classification losses (the emotions; each mechanism's levels for --task empathy) by "
            "(n / (classes x its count)) to this power: 1 is scikit-learn's balanced, 0.5 its square root; default 0 (none)"
        ),
    )
    arch: str | None = field(
        default=None, metadata=option("empathy rater: cross (post [SEP] response) or bi (the two embedded apart); default bi", ARCHS)
    )
    loss: str | None = field(
        default=None, metadata=option("empathy rater: classification loss, ce, focal or kl (to soft labels); default ce", LOSSES)
    )
    score_loss: str | None = field(
        default=None, metadata=option("empathy rater: loss of the 0-1 score, mse or mae; default mse", SCORE_LOSSES)
    )
    rationale_weight: float | None = field(
        default=None,
        metadata=option(
            "empathy rater: weight of the rationale head's loss (it marks each mechanism's words in the response, learnt from "
            "EPITOME's rationales; 0 = no such head); default 1"
        ),
    )
    attention: bool | None = field(
        default=None,
        metadata=option(
            "empathy rater, --arch bi: the response's tokens attend to the post's before pooling (Sharma et al. 2020); default off"
        ),
    )
    end_view: bool | None = field(
        default=None,
        metadata=option(
            "seeker models: the final and change heads may also read the text's last max-length tokens, beside its first "
            "(--no-end-view: the opening only); default: the preset's"
        ),
    )
    situation: bool | None = field(
        default=None,
        metadata=option(
            "seeker models: read the seeker's pre-chat situation (their own words, in ESConv's `situation`) before their words; "
            "the paper did not; default: the preset's"
        ),
    )
    select_metric: str | None = field(
        default=None,
        metadata=option(
            "what picks the best epoch on val: accuracy, f1_weighted (the rater's 4-level scale) or loss; default: the preset's",
            list(SELECT_METRICS),
        ),
    )
    compare_with: str | None = field(
        default=None,
        metadata=option(
            "model whose test metrics the new one is compared with (default: the parent when it has them, else the default model)"
        ),
    )
    report_to: str = field(
        default="none", metadata=option("experiment tracker for the run (trackio needs empathy-studio[tracking])", REPORT_TO)
    )

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model.strip():
            raise ConfigError("model is empty: name a registry model (empathy-studio models)")
        hints = typing.get_type_hints(TrainRequest)
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if hints[f.name] in (float, float | None) and isinstance(value, int) and not isinstance(value, bool):
                setattr(self, f.name, value := float(value))
            if f.name in RANGES:
                RANGES[f.name].check(f.name, value)
            if f.metadata.get("choices"):
                check_choice(f.name, value, f.metadata["choices"])
        if self.name is not None:
            check_name(self.name, "model name")
        if self.with_ratings and self.policy == "gold":
            self.policy = "gold+ratings"
        if self.release is not None:
            check_name(self.release, "release id")
            if self.policy == "gold":
                raise ConfigError("--release trains on a release's consensus labels: use it with --policy ratings or gold+ratings")
            if self.with_ratings:
                raise ConfigError("--release and --with-ratings name two sources of ratings: choose one")
        if self.class_weight and self.loss == "kl":
            raise ConfigError("--class-weight weighs the ce and focal losses; --loss kl has soft targets, not one class a row")
        if self.situation and not self.task_spec.files:
            raise ConfigError(f"--situation reads the seeker's pre-chat situation of ESConv-format data; --task {self.task} has none")
        family = self.task_spec.family
        foreign = [f for fam, names in HEAD_OPTIONS.items() if fam != family for f in names if getattr(self, f) is not None]
        if foreign:
            owner = next(fam for fam, names in HEAD_OPTIONS.items() if foreign[0] in names)
            raise ConfigError(f"--{foreign[0].replace('_', '-')} is an option of {_tasks_of(owner)}, not of --task {self.task}")
        if self.preset not in FAMILY_PRESETS[family] and self.preset != "default":
            owner = next(fam for fam, names in FAMILY_PRESETS.items() if self.preset in names)
            raise ConfigError(f"preset {self.preset} is for {_tasks_of(owner)}, not for --task {self.task}")

    @classmethod
    def option_help(cls, name: str) -> str:
        """A field's help text with its accepted range, as the CLI and the Train tab show it."""
        f = next(f for f in dataclasses.fields(cls) if f.name == name)
        return f.metadata["help"] + (f"; {RANGES[name].describe()}" if name in RANGES else "")

    @property
    def task_spec(self) -> Task:
        return get_task(self.task)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainRequest":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown training options {unknown}")
        return cls(**values)


@dataclass(frozen=True)
class EnsembleRequest:
    """Which seeker models to average, and the name of the one model they become."""

    members: tuple[str, ...]
    name: str
    dataset: str | None = None  # where the members' data is not one the studio names (a file), the file to rebuild it from
    description: str = ""

    def __post_init__(self) -> None:
        check_name(self.name, "model name")
        if len(self.members) < MIN_ENSEMBLE_MEMBERS:
            raise ConfigError(f"an ensemble needs at least {MIN_ENSEMBLE_MEMBERS} models, got {len(self.members)}")
        if len(set(self.members)) != len(self.members):
            raise ConfigError("an ensemble names each model once")


def _tasks_of(family: str) -> str:
    """The tasks a model family learns, as a message names them: "--task empathy", "--task a, b or c"."""
    names = [t.name for t in TASKS.values() if t.family == family]
    return "--task " + (", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0])


def training_config(req: TrainRequest, settings: Settings, encoder: str, local: bool = True, **extra: Any) -> TrainConfig:
    """The one mapping of a request to a TrainConfig: defaults, then space_config.yaml, then the preset, then the request."""
    asked = {
        "epochs": req.epochs,
        "max_length": req.max_length,
        "batch_size": req.batch_size,
        "learning_rate": req.learning_rate,
        "head_learning_rate": req.head_learning_rate,
        "seed": req.seed,
        "patience": req.patience,
        "pooling": req.pooling,
        "intensity_head": req.intensity_head,
        "focal_gamma": req.focal_gamma,
        "class_weight": req.class_weight,
        "end_view": req.end_view,
        "situation": req.situation,
        "freeze_encoder": req.freeze_encoder or None,
        "select_metric": req.select_metric,
    }
    overrides = {k: v for k, v in asked.items() if v is not None}
    if not req.task_spec.files:  # a preset's situation applies to ESConv-format data, the only data with one
        overrides["situation"] = False
    if req.loss == "kl":  # soft targets have no one class a row to weigh: a preset's class weights do not apply
        overrides["class_weight"] = 0.0
    name = DEFAULT_PRESET[req.task_spec.family] if req.preset == "default" else req.preset
    return preset(
        name,
        encoder,
        defaults=settings.training,
        objective=req.task_spec.objective,
        local_files_only=local,
        max_steps=req.max_steps,
        report_to=req.report_to,
        **overrides,
        **extra,
    )


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def portable_source(source: str) -> str:
    """A data source as the manifest keeps it: a file's name, never this machine's path (a hub id or "demo" as is)."""
    return Path(source).name if Path(source).exists() else source


def portable(hyperparameters: dict[str, Any], spec: ModelSpec) -> dict[str, Any]:
    """Hyperparameters as they go into a manifest: the encoder by registry name, no local paths."""
    out = {k: v for k, v in hyperparameters.items() if k not in ("output_dir", "local_files_only")}
    out["encoder"] = spec.name
    return out
