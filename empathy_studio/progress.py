"""The one progress protocol: long work calls `ProgressFn(ProgressEvent)` as it goes.

Training, inference, the first-run model build and jobs all report the same
event, with a phase name a person can read; the CLI draws it as a bar, the UI
as Gradio's progress, and a job writes it to its row. No adapters between
producers: each consumer reads one type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

# Phase names, in the order a fine-tune goes through them.
TOKENISING = "tokenising"
EMBEDDING = "embedding"
TRAINING = "training"
EVALUATING = "evaluating"
FITTING_HEADS = "fitting intensity heads"
CALIBRATING = "calibrating"
TESTING = "testing"
PUBLISHING = "publishing"
PREDICTING = "predicting"


@dataclass(frozen=True)
class ProgressEvent:
    phase: str
    done: int = 0
    total: int = 0
    detail: str = ""  # e.g. "epoch 2 of 6" or "train split"
    epoch: float | None = None
    eta_s: float | None = None
    loss: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def fraction(self) -> float:
        return min(self.done / self.total, 1.0) if self.total else 0.0

    @property
    def label(self) -> str:
        return f"{self.phase} ({self.detail})" if self.detail else self.phase


ProgressFn = Callable[[ProgressEvent], None]


def fan_out(callbacks: Iterable[ProgressFn | None]) -> ProgressFn:
    """One callable that passes each event to every given callback (None entries are skipped)."""
    targets = [cb for cb in callbacks if cb is not None]

    def emit(event: ProgressEvent) -> None:
        for cb in targets:
            cb(event)

    return emit


def silent(event: ProgressEvent) -> None:
    """The callback to use when nobody listens."""
