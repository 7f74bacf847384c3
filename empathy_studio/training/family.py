"""The model family contract: what a family supplies so that one trainer, one estimate and one publish path serve it.

A family (the seeker model, the empathy rater) owns what is truly its own: its
training set from gold, ratings or both (with the leakage guard), its rows and
collator, its heads and losses (in the model it builds), its test metrics and
headline metric, its heads file, its probe inputs and its predictor. Everything
else (the `transformers.Trainer` set-up, the timed probe and the estimate, test,
manifest and the atomic publish) is written once, in `trainer.py` and
`finetune.py`, and reaches a family through this class. `families.py` names the
families; `tasks.py` says which one learns each task. A new family is one module
and one row there.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from ..progress import EVALUATING, TESTING, TOKENISING, ProgressEvent, ProgressFn

if TYPE_CHECKING:
    from ..registry import ModelSpec
    from .config import TrainConfig
    from .request import TrainRequest


@dataclass
class TrainingSet:
    """The splits a request trains, selects and tests on, the label names, and what the family's manifest adds about them."""

    splits: dict[str, list[Any]]
    labels: Sequence[str]
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainData:
    """What the one `train()` gets: examples of the family's own type, the labels, the family's head options."""

    train: Sequence[Any]
    val: Sequence[Any]
    labels: Sequence[str] = ()
    heads: Any = None


class Family(ABC):
    """The hooks of one model family. Defaults are what both families do; a family overrides what is its own."""

    name: str = ""
    heads_file: str = ""  # the file beside the weights that marks a folder as this family's
    label_names: tuple[str, ...] = ()  # the batch keys that hold labels (the Trainer's `label_names`)
    predictor_class: Any = None
    predict_batch: int = 32  # inputs per forward pass when the published model predicts
    starter_note: str = ""  # what the page says while the family's starter model is built on first use

    # -- data ---------------------------------------------------------------------------

    @abstractmethod
    def training_set(self, finetuner: Any, req: TrainRequest) -> TrainingSet: ...

    def head_options(self, req: TrainRequest) -> Any:
        """The family's head options from a request (None where the config and the data decide them)."""
        return None

    def check_parent(self, spec: ModelSpec) -> None:
        """Refuse a parent this family cannot start from."""

    # -- model and rows -----------------------------------------------------------------

    @abstractmethod
    def build(self, config: TrainConfig, data: TrainData) -> tuple[Any, Any]:
        """(model, tokenizer) to train: new heads on a base encoder, or a parent to continue from."""

    @abstractmethod
    def rows(self, examples: Sequence[Any], model: Any, tokenizer: Any, config: TrainConfig) -> list[dict[str, Any]]:
        """Token ids and targets of each example, as `model` reads them."""

    @abstractmethod
    def collate(self, rows: list[dict[str, Any]], tokenizer: Any) -> dict[str, Any]: ...

    def prepare(
        self, model: Any, tokenizer: Any, config: TrainConfig, data: TrainData, emit: ProgressFn
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None, dict[str, Any]]:
        """(train rows, val rows or None, state the family's `after_training` reads)."""
        n = len(data.train) + len(data.val)
        emit(ProgressEvent(TOKENISING, 0, n))
        train = self.rows(data.train, model, tokenizer, config)
        val = self.rows(data.val, model, tokenizer, config) if data.val else None
        emit(ProgressEvent(TOKENISING, n, n))
        return train, val, {}

    def sampling(self, config: TrainConfig, model: Any) -> str:
        """How the Trainer draws batches: "group_by_length" where rows vary in length, else "random"."""
        return "group_by_length"

    def length(self, row: dict[str, Any]) -> int:
        """A row's length for length-grouped batches: its token count (a family with two sequences per row says its own)."""
        return len(row["input_ids"])

    @abstractmethod
    def compute_metrics(self, pred: Any) -> dict[str, float]:
        """Validation metrics after each epoch, from the Trainer's EvalPrediction."""

    def after_training(
        self, model: Any, tokenizer: Any, config: TrainConfig, data: TrainData, state: dict[str, Any], emit: ProgressFn
    ) -> dict[str, Any]:
        """Work on the best weights after the steps (the seeker's ridge-fitted heads); what it returns goes into the manifest."""
        return {}

    # -- the probe and the estimate -------------------------------------------------------

    def probe_examples(self, train: Sequence[Any], n: int) -> list[Any]:
        """The examples a timed probe steps on."""
        return list(train)[:n]

    def probe_extras(self, config: TrainConfig, data: TrainData, model: Any) -> dict[str, float]:
        """Seconds of CPU work after the steps that no forward pass shows (named `<phase>_s`)."""
        return {}

    def passes_after_training(self, config: TrainConfig, n_train: int, n_val: int, n_test: int, evaluations: int) -> dict[str, float]:
        """Forward passes of each phase after (and between) the training steps, in units of one input, by `progress` phase name."""
        return {EVALUATING: evaluations * n_val, TESTING: n_test}

    # -- after training: the published model ------------------------------------------------

    def predictor(self, model: Any, tokenizer: Any, name: str, max_length: int) -> Any:
        return self.predictor_class(model, tokenizer, name=name, max_length=max_length, cache_size=0)

    def load_predictor(self, folder: Path, name: str, max_length: int) -> Any:
        return self.predictor_class.from_folder(folder, name=name, max_length=max_length)

    def finish(self, predictor: Any, extras: dict[str, Any], tset: TrainingSet, emit: ProgressFn) -> None:
        """Fit what the published model needs besides its weights (the seeker's calibration), on the predictor."""

    @abstractmethod
    def test_metrics(self, finetuner: Any, predictor: Any, tset: TrainingSet, req: TrainRequest, emit: ProgressFn) -> dict[str, Any]: ...

    def same_labels(self, predictor: Any, tset: TrainingSet) -> bool:
        """Whether another model of this family predicts what this training set labels (so the two compare)."""
        return True

    def manifest(self, model: Any, tset: TrainingSet, req: TrainRequest, finetuner: Any) -> dict[str, Any]:
        """The family's own manifest fields (its heads, its data's notes)."""
        return dict(tset.notes)

    @abstractmethod
    def save(self, model: Any, tokenizer: Any, predictor: Any, folder: Path, manifest: dict[str, Any]) -> None: ...


Collate = Callable[[list[dict[str, Any]]], dict[str, Any]]
