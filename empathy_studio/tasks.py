"""The tasks the studio trains models for, as one declarative table.

A task names the data it learns from, its label space, the heads the model
carries (`objective`), the model family that learns it (`family`: its data,
trainer hooks, predictor and folder, in `training/families.py`) and the metrics
that headline its results, the first being its headline. Adding a task is one
row here plus the modules it needs, never a branch in the use cases.
`multitask` and `classify` are the names earlier versions gave the two ESConv
tasks; they stay accepted so old commands and manifests keep their meaning.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ConfigError
from .labels import EMPATHY_SCALE, EPITOME_LEVELS, ESCONV_EMOTIONS, SAD_LABELS

CLASSIFICATION = ("f1_weighted", "recall_weighted", "accuracy", "f1_macro")
RATER = (
    "level4_f1_weighted",
    "level4_accuracy",
    "emotional_reactions_accuracy",
    "interpretations_accuracy",
    "explorations_accuracy",
    "score_mse",
    "score_pearson",
)
INTENSITY = ("mse_initial", "mse_final", "mse_change", "pearson_initial", "pearson_final")


@dataclass(frozen=True)
class Task:
    name: str
    description: str
    datasets: tuple[str, ...]  # the datasets it trains on; the first is the default
    labels: tuple[str, ...]
    objective: str  # the model's heads: "multitask" (emotion + intensity), "classify", or "rater" (the empathy rater)
    family: str  # the model family that learns it (`training.families`): "seeker" or "rater"
    metrics: tuple[str, ...]  # the headline metrics, in the order tables show them
    files: bool = False  # also trains on ESConv-format JSON files (FailedESConv, uploads)
    ratings: bool = False  # annotators' ratings of ESConv items can join or replace the gold labels


TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task(
            "emotion-intensity",
            "emotion and its intensity (initial, final, change) of a help-seeker; the paper's multi-task model",
            ("esconv",),
            ESCONV_EMOTIONS,
            "multitask",
            "seeker",
            CLASSIFICATION + INTENSITY,
            files=True,
            ratings=True,
        ),
        Task(
            "emotion",
            "emotion of a help-seeker alone; the paper's classification-only variant",
            ("esconv",),
            ESCONV_EMOTIONS,
            "classify",
            "seeker",
            CLASSIFICATION,
            files=True,
            ratings=True,
        ),
        Task(
            "stressor",
            "stressor category of a short text (SAD, 9 classes; the paper's Table 1)",
            ("sad",),
            SAD_LABELS,
            "classify",
            "seeker",
            CLASSIFICATION,
        ),
        Task(
            "epitome-er",
            "level of emotional reaction in a supporter's response (EPITOME, none/weak/strong)",
            ("epitome",),
            EPITOME_LEVELS,
            "classify",
            "seeker",
            CLASSIFICATION,
        ),
        Task(
            "empathy",
            "how empathic a supporter's response to a post is: EPITOME's three mechanisms, the 4-level scale, a 0-1 score",
            ("epitome",),
            EMPATHY_SCALE,
            "rater",
            "rater",
            RATER,
        ),
    )
}

DEFAULT_TASK = "emotion-intensity"
ESCONV_NAMED = ("esconv", "failed")  # ESConv and the configured FailedESConv; "+" joins them or files
ALIASES = {"multitask": "emotion-intensity", "classify": "emotion"}


def get_task(name: str) -> Task:
    task = TASKS.get(ALIASES.get(name, name))
    if task is None:
        raise ConfigError(f"unknown task {name!r}; choose from {', '.join(TASKS)}")
    return task


def dataset_for(task: Task, dataset: str | None) -> str:
    """The dataset a request trains on: the task's default, a dataset it knows, or (where allowed) a file."""
    if dataset in (None, ""):
        return task.datasets[0]
    if dataset in task.datasets:
        return dataset
    if task.files and all(part in ESCONV_NAMED or part.lower().endswith((".json", ".jsonl")) for part in dataset.split("+")):
        return dataset
    others = [t.name for t in TASKS.values() if dataset in t.datasets]
    hint = f"; {dataset} is for --task {others[0]}" if others else ""
    files = ", failed, esconv+failed, or ESConv-format JSON files (joined by +)" if task.files else ""
    raise ConfigError(f"task {task.name} trains on {', '.join(task.datasets)}{files}, not {dataset!r}{hint}")
