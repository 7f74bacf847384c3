"""The one `train()` for every model family, and the one timed probe its estimate reads.

Training runs on `transformers.Trainer`, which picks CUDA, MPS or the CPU, runs
bf16/fp16 on CUDA and several GPUs under `accelerate launch` or `torchrun`
with no change here, and logs to trackio, TensorBoard or W&B through its own
integrations (`TrainConfig.report_to`). What we add, for every family: two
learning rates (encoder and heads), early stopping that keeps the best weights
in memory instead of checkpointing to disk, frozen bottom layers or a frozen
encoder, and progress as `ProgressEvent`s with the phase named. A family
(`family.py`) supplies its model, rows, collator, metrics and the work after the
steps (the seeker's ridge-fitted heads); the fine-tune use case, the CLI, the
job runner and the tests all train through `train()`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Sequence

import numpy as np
import torch
from transformers import PrinterCallback, Trainer, TrainerCallback, TrainingArguments, set_seed
from transformers.trainer_pt_utils import LengthGroupedSampler

from ..progress import EVALUATING, LOADING, TRAINING, ProgressEvent, ProgressFn, fan_out
from .config import SELECT_METRICS, TrainConfig
from .family import Family, TrainData

__all__ = ["TrainConfig", "TrainData", "TrainResult", "train", "measure", "freeze_bottom", "Rows", "FamilyTrainer"]


@dataclass
class TrainResult:
    model: Any
    tokenizer: Any
    history: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    train_samples_per_second: float = 0.0
    device: str = "cpu"
    precision: str = "fp32"
    extras: dict[str, Any] = field(default_factory=dict)  # what the family's after-training work reports (the seeker's ridge)


class Rows(torch.utils.data.Dataset):
    """Prepared rows as a torch Dataset (the Trainer's input; the family's collator pads them)."""

    def __init__(self, rows: list[dict[str, Any]]):
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.rows[i]


class FamilyTrainer(Trainer):
    """The Trainer, with length-grouped batches that take each row's length from its family.

    The stock samplers read `input_ids`; a bi-encoder row has two sequences, padded apart, so
    the family says what a row costs (`Family.length`). For rows with `input_ids` these are the
    stock samplers on the same lengths, seeded the same way.
    """

    def __init__(self, *args: Any, family: Family, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.family = family

    def _grouped(self) -> bool:
        return self.args.train_sampling_strategy == "group_by_length"

    def _get_train_sampler(self, train_dataset: Any = None) -> Any:
        if not self._grouped():
            return super()._get_train_sampler(train_dataset)
        rows = (train_dataset or self.train_dataset).rows
        return LengthGroupedSampler(self.args.train_batch_size * self.args.gradient_accumulation_steps, lengths=self._lengths(rows))

    def _get_eval_sampler(self, eval_dataset: Any) -> Any:
        if not self._grouped() or eval_dataset is None:
            return super()._get_eval_sampler(eval_dataset)
        seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
        return LengthGroupedSampler(
            self.args.eval_batch_size, lengths=self._lengths(eval_dataset.rows), generator=torch.Generator().manual_seed(seed)
        )

    def _lengths(self, rows: list[dict[str, Any]]) -> list[int]:
        return [self.family.length(r) for r in rows]


# ---------------------------------------------------------------------------
# callbacks


class KeepBest(TrainerCallback):
    """Early stopping that keeps the best trainable weights in memory (no checkpoint files)."""

    def __init__(self, metric: str, patience: int, history: list[dict[str, Any]]):
        self.key, self.higher = f"eval_{metric}", SELECT_METRICS[metric]
        self.patience, self.history = patience, history
        self.best_value: float | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
        self.best_metrics: dict[str, Any] = {}
        self.bad = 0

    def on_evaluate(self, args, state, control, metrics=None, model=None, **kwargs):
        metrics = dict(metrics or {})
        self.history.append({"epoch": state.epoch, "step": state.global_step, **metrics})
        value = metrics.get(self.key)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return
        better = self.best_value is None or (value > self.best_value if self.higher else value < self.best_value)
        if better:
            self.best_value, self.best_metrics, self.bad = value, metrics, 0
            self.best_state = {k: p.detach().to("cpu", copy=True) for k, p in model.named_parameters() if p.requires_grad}
        else:
            self.bad += 1
            if self.patience and self.bad >= self.patience:
                control.should_training_stop = True


class StepProgress(TrainerCallback):
    """Steps and evaluations as ProgressEvents: the epoch in words, an ETA from the measured step times."""

    def __init__(self, emit: ProgressFn, epochs: float):
        self.emit, self.epochs = emit, epochs
        self.t0 = time.monotonic()

    def on_step_end(self, args, state, control, **kwargs):
        elapsed = time.monotonic() - self.t0
        frac = state.global_step / max(state.max_steps, 1)
        eta = elapsed / frac * (1 - frac) if frac > 0 else None
        loss = next((h["loss"] for h in reversed(state.log_history) if "loss" in h), None)
        epoch = state.epoch or 0.0
        detail = f"epoch {min(math.floor(epoch) + 1, math.ceil(self.epochs))} of {self.epochs:g}" if args.max_steps <= 0 else ""
        self.emit(ProgressEvent(TRAINING, state.global_step, state.max_steps, detail, epoch=epoch, eta_s=eta, loss=loss))

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        self.emit(
            ProgressEvent(
                EVALUATING,
                state.global_step,
                state.max_steps,
                f"after epoch {state.epoch or 0:g}",
                epoch=state.epoch,
                metrics=dict(metrics or {}),
            )
        )


# ---------------------------------------------------------------------------
# the one entry point


def _precision() -> tuple[bool, bool]:
    """(bf16, fp16): bf16 on a CUDA device that has it, else fp16 on CUDA, else fp32."""
    cuda = torch.cuda.is_available()
    bf16 = cuda and torch.cuda.is_bf16_supported()
    return bf16, cuda and not bf16


def _freeze(model: Any, config: TrainConfig) -> None:
    if config.freeze_layers:
        freeze_bottom(model.encoder, config.freeze_layers)
    if config.freeze_encoder:
        model.encoder.requires_grad_(False)


def _optimizer(model: Any, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW with two learning rates: the encoder's (unless frozen) and the heads'."""
    heads = [p for n, p in model.named_parameters() if not n.startswith("encoder.") and p.requires_grad]
    groups = [{"params": heads, "lr": config.head_learning_rate}]
    if not config.freeze_encoder:
        groups.insert(0, {"params": list(model.encoder.parameters()), "lr": config.learning_rate})
    return torch.optim.AdamW(groups, weight_decay=config.weight_decay)


def train(config: TrainConfig, family: Family, data: TrainData, progress: ProgressFn | Sequence[ProgressFn] | None = None) -> TrainResult:
    """Fine-tune (or, with `freeze_encoder`, train the heads of) a model of `family` and return it with its history."""
    if not data.train:
        raise ValueError("no training examples")
    emit = fan_out(progress if isinstance(progress, (list, tuple)) else [progress])
    set_seed(config.seed)
    model, tokenizer = family.build(config, data)
    emit(ProgressEvent(LOADING, 1, 1, "the encoder and the heads"))  # the time so far was building the model
    bf16, fp16 = _precision()
    _freeze(model, config)
    train_rows, val_rows, state = family.prepare(model, tokenizer, config, data, emit)
    optimizer = _optimizer(model, config)
    args = TrainingArguments(
        output_dir=config.output_dir,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=max(config.batch_size, 32),
        warmup_steps=config.warmup if config.warmup < 1 else int(config.warmup),
        lr_scheduler_type="linear",
        eval_strategy="epoch" if val_rows is not None else "no",
        save_strategy="no",
        logging_strategy="steps",
        logging_steps=max(1, min(10, len(train_rows) // config.batch_size)),
        report_to=config.report_to,
        run_name=config.run_name or None,
        project="empathy-studio",
        disable_tqdm=True,
        seed=config.seed,
        bf16=bf16,
        fp16=fp16,
        remove_unused_columns=False,
        label_names=list(family.label_names),
        train_sampling_strategy=family.sampling(config, model),
        dataloader_num_workers=0,
        dataloader_pin_memory=False,
    )
    history: list[dict[str, Any]] = []
    keep = KeepBest(config.select_metric, config.patience, history)
    trainer = FamilyTrainer(
        model=model,
        args=args,
        train_dataset=Rows(train_rows),
        eval_dataset=Rows(val_rows) if val_rows is not None else None,
        data_collator=partial(family.collate, tokenizer=tokenizer),
        optimizers=(optimizer, None),
        compute_metrics=family.compute_metrics,
        callbacks=[keep, StepProgress(emit, config.epochs)],
        family=family,
    )
    trainer.remove_callback(PrinterCallback)  # progress goes through our callbacks, not stdout
    t0 = time.monotonic()
    out = trainer.train(ignore_keys_for_eval=["pooled"])
    seconds = time.monotonic() - t0
    if keep.best_state is not None:
        model.load_state_dict(keep.best_state, strict=False)
    model.eval()
    extras = family.after_training(model, tokenizer, config, data, state, emit)
    return TrainResult(
        model=model,
        tokenizer=tokenizer,
        history=history,
        best=keep.best_metrics,
        seconds=seconds,
        train_samples_per_second=float(out.metrics.get("train_samples_per_second", 0.0)),
        device=str(trainer.args.device),
        precision="bf16" if bf16 else ("fp16" if fp16 else "fp32"),
        extras=extras,
    )


def freeze_bottom(encoder: torch.nn.Module, n_layers: int) -> None:
    """Freeze the embeddings and the first `n_layers` transformer blocks (BERT, RoBERTa and ModernBERT layouts)."""
    emb = getattr(encoder, "embeddings", None)
    if emb is not None:
        emb.requires_grad_(False)
    depth = encoder.config.num_hidden_layers
    blocks = next((m for m in encoder.modules() if isinstance(m, torch.nn.ModuleList) and len(m) == depth), None)
    if blocks is None:
        raise ValueError(f"cannot find the {depth} transformer blocks of {type(encoder).__name__} to freeze")
    for block in list(blocks)[:n_layers]:
        block.requires_grad_(False)


EMBED_BATCH = 32  # texts per forward pass when a frozen encoder's features are cached


def measure(config: TrainConfig, family: Family, data: TrainData, steps: int = 2) -> dict[str, float]:
    """A short timed probe on real batches of the training set, after one warm-up step, for any family.

    `step_s`: one training step (forward, backward, optimiser) at the config's batch size and length,
    or, with a frozen encoder, one forward pass of the embedding batch that caches the features,
    which is where that time goes; `batch`: the examples of that step; `forward_s`: one input's
    forward pass in inference mode, the unit of evaluation, calibration and testing; `load_s`:
    building the model; and the family's own extras (`probe_extras`), seconds of work no forward
    pass shows.
    """
    set_seed(config.seed)
    t_load = time.perf_counter()
    model, tokenizer = family.build(config, data)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device)
    load_s = time.perf_counter() - t_load
    batch_size = EMBED_BATCH if config.freeze_encoder else config.batch_size
    rows = family.rows(family.probe_examples(data.train, batch_size * (steps + 1)), model, tokenizer, config)
    _freeze(model, config)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.learning_rate)

    def batch_at(k: int, inputs_only: bool = False) -> dict[str, Any]:
        batch = family.collate([rows[i % len(rows)] for i in range(k * batch_size, (k + 1) * batch_size)], tokenizer)
        return {key: v.to(device) for key, v in batch.items() if not (inputs_only and key in family.label_names)}

    model.train(not config.freeze_encoder)
    times = []
    for k in range(steps + 1):
        batch = batch_at(k, inputs_only=config.freeze_encoder)
        t0 = time.perf_counter()
        if config.freeze_encoder:
            with torch.inference_mode():
                model(**batch)
        else:
            model(**batch)["loss"].backward()
            opt.step()
            opt.zero_grad()
        times.append(time.perf_counter() - t0)
    step_s = float(np.mean(times[1:]))
    if config.freeze_encoder:
        forward_s = step_s / batch_size
    else:
        model.eval()
        batch = batch_at(0, inputs_only=True)
        with torch.inference_mode():
            t0 = time.perf_counter()
            model(**batch)
            forward_s = (time.perf_counter() - t0) / batch_size
    return {"step_s": step_s, "batch": batch_size, "forward_s": forward_s, "load_s": load_s, **family.probe_extras(config, data, model)}
