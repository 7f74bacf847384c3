"""The one progress protocol: long work calls `ProgressFn(ProgressEvent)` as it goes.

Training, inference, the first-run model build and jobs all report the same
event, with a phase name a person can read; the CLI draws it as a bar, the UI
as Gradio's progress, and a job writes it to its row. No adapters between
producers: each consumer reads one type.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

# Phase names, in the order a fine-tune goes through them.
LOADING = "loading"  # before the first event: the model is built
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


class PhaseClock:
    """Seconds spent in each phase, from the events of a run (a progress callback).

    An event reports work just done, so the time since the previous event belongs to the event's
    phase; an event that opens a phase (done 0) closes the one before it instead. Time before the
    first event is `loading` (building the model). `seconds()` closes the running phase.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.last, self.phase = clock(), LOADING
        self.spent: dict[str, float] = {}

    def __call__(self, event: ProgressEvent) -> None:
        now = self.clock()
        owner = self.phase if event.done == 0 else event.phase
        self.spent[owner] = self.spent.get(owner, 0.0) + now - self.last
        self.last, self.phase = now, event.phase

    def seconds(self) -> dict[str, float]:
        now = self.clock()
        self.spent[self.phase] = self.spent.get(self.phase, 0.0) + now - self.last
        self.last = now
        return {k: round(v, 2) for k, v in self.spent.items()}
