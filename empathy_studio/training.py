"""The one `train()` that the fine-tune use case, and through it the CLI, the job runner and the tests, call.

Training runs on `transformers.Trainer`, which picks CUDA, MPS or the CPU, runs
bf16/fp16 on CUDA and several GPUs under `accelerate launch` or `torchrun`
with no change here, and logs to trackio, TensorBoard or W&B through its own
integrations (`TrainConfig.report_to`). What we add: two learning rates
(encoder and heads), early stopping that keeps the best weights in memory
instead of checkpointing to disk, a frozen-encoder mode that trains the heads
on cached embeddings, ridge-fitted intensity heads, and progress reported as
`ProgressEvent`s with the phase named. `TrainConfig` and the presets live in
`train_config.py`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from transformers import PrinterCallback, Trainer, TrainerCallback, TrainingArguments, set_seed

from .data import Example
from .inference import Predictor
from .labels import INTENSITY_TARGETS
from .lexical import LexicalIntensity, fit_vectorizer
from .modeling import EmotionIntensityModel, HeadConfig, build_model, load
from .progress import EVALUATING, FITTING_HEADS, TOKENISING, TRAINING, ProgressEvent, ProgressFn, fan_out
from .train_config import LEXICAL_SCALES, RIDGE_ALPHAS, SELECT_METRICS, TrainConfig

EMBED_BATCH = 32  # texts per forward pass when a frozen encoder's features are cached

__all__ = ["TrainConfig", "TrainData", "TrainResult", "train", "fit_ridge_heads", "measure_step_seconds", "RIDGE_ALPHAS", "LEXICAL_SCALES"]

@dataclass
class TrainData:
    train: Sequence[Example]
    val: Sequence[Example]
    labels: Sequence[str]


@dataclass
class TrainResult:
    model: EmotionIntensityModel
    tokenizer: Any
    history: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    train_samples_per_second: float = 0.0
    device: str = "cpu"
    precision: str = "fp32"
    ridge: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------
# rows and batches


class Rows(torch.utils.data.Dataset):
    """Prepared rows as a torch Dataset (the Trainer's input; the collators pad them)."""

    def __init__(self, rows: list[dict[str, Any]]):
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.rows[i]


def _targets(ex: Example) -> list[float]:
    return [float(getattr(ex, t)) for t in INTENSITY_TARGETS]


def _text_rows(examples: Sequence[Example], tokenizer: Any, max_length: int) -> Rows:
    ids = tokenizer([ex.text for ex in examples], truncation=True, max_length=max_length)["input_ids"]
    return Rows([{"input_ids": i, "labels": ex.label, "intensity": _targets(ex)} for i, ex in zip(ids, examples)])


def _pooled_rows(examples: Sequence[Example], pooled: tuple[torch.Tensor, torch.Tensor]) -> Rows:
    return Rows([{"pooled": p, "pooled_intensity": q, "labels": ex.label, "intensity": _targets(ex)} for p, q, ex in zip(*pooled, examples)])


class _Collator:
    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch: dict[str, torch.Tensor] = {
            "labels": torch.tensor([r["labels"] for r in rows], dtype=torch.long),
            "intensity": torch.tensor([r["intensity"] for r in rows], dtype=torch.float32),
        }
        if "pooled" in rows[0]:
            batch["pooled"] = torch.stack([r["pooled"] for r in rows])
            batch["pooled_intensity"] = torch.stack([r["pooled_intensity"] for r in rows])
        else:
            padded = self.tokenizer.pad({"input_ids": [r["input_ids"] for r in rows]}, return_tensors="pt")
            batch["input_ids"], batch["attention_mask"] = padded["input_ids"], padded["attention_mask"]
        return batch


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
        self.emit(ProgressEvent(EVALUATING, state.global_step, state.max_steps, f"after epoch {state.epoch or 0:g}", epoch=state.epoch,
                                metrics=dict(metrics or {})))


def _compute_metrics(pred) -> dict[str, float]:
    logits, inten = (pred.predictions if isinstance(pred.predictions, tuple) else (pred.predictions, None))[:2]
    labels = pred.label_ids[0] if isinstance(pred.label_ids, (tuple, list)) else pred.label_ids
    gold = pred.label_ids[1] if isinstance(pred.label_ids, (tuple, list)) else None
    from sklearn.metrics import f1_score

    guess = logits.argmax(-1)
    out = {"accuracy": float((guess == labels).mean()), "f1_weighted": float(f1_score(labels, guess, average="weighted"))}
    if inten is not None and gold is not None and inten.ndim == 3:
        col = guess if inten.shape[-1] > 1 else np.zeros_like(guess)
        chosen = inten[np.arange(len(guess)), :, col]
        for k, t in enumerate(INTENSITY_TARGETS):
            m = ~np.isnan(gold[:, k])
            out[f"mse_{t}"] = float(((chosen[m, k] - gold[m, k]) ** 2).mean()) if m.any() else float("nan")
    return out


# ---------------------------------------------------------------------------
# the one entry point


def _init_model(config: TrainConfig, data: TrainData) -> tuple[EmotionIntensityModel, Any]:
    """A new model on a base encoder, or a studio model to continue from.

    A parent keeps its own heads when they fit the task (same labels, same objective); otherwise its
    fine-tuned encoder gets new heads for this task.
    """
    known = {t: [v for ex in data.train if not math.isnan(v := getattr(ex, t))] for t in INTENSITY_TARGETS}
    heads = HeadConfig(labels=list(data.labels), task=config.objective, pooling=config.pooling, intensity_head=config.intensity_head,
                       focal_gamma=config.focal_gamma, intensity_init=[float(np.mean(v)) if v else 0.0 for v in known.values()],
                       intensity_layer=config.intensity_layer)
    if (Path(config.encoder) / "heads.json").exists():  # continue from a studio model (a fine-tune's parent)
        parent, tokenizer = load(config.encoder)
        if parent.heads_config.labels == heads.labels and parent.heads_config.task == heads.task:
            return parent, tokenizer
        return EmotionIntensityModel(parent.encoder, heads), tokenizer
    return build_model(config.encoder, heads, config.local_files_only)


def train(config: TrainConfig, data: TrainData, progress: ProgressFn | Sequence[ProgressFn] | None = None) -> TrainResult:
    """Fine-tune (or, with `freeze_encoder`, train the heads of) a model and return it with its history."""
    if not data.train:
        raise ValueError("no training examples")
    emit = fan_out(progress if isinstance(progress, (list, tuple)) else [progress])
    set_seed(config.seed)
    model, tokenizer = _init_model(config, data)
    model.heads_config.focal_gamma = config.focal_gamma
    cuda = torch.cuda.is_available()
    bf16 = cuda and torch.cuda.is_bf16_supported()

    if config.freeze_layers:
        freeze_bottom(model.encoder, config.freeze_layers)
    cached: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    if config.freeze_encoder:
        model.encoder.requires_grad_(False)
        embedder = Predictor(model, tokenizer, max_length=config.max_length, batch_size=EMBED_BATCH, cache_size=0)
        cached["train"] = embedder.embed([e.text for e in data.train], emit, "training set")
        train_rows = _pooled_rows(data.train, cached["train"])
        if data.val:
            cached["val"] = embedder.embed([e.text for e in data.val], emit, "validation set")
        val_rows = _pooled_rows(data.val, cached["val"]) if data.val else None
    else:
        emit(ProgressEvent(TOKENISING, 0, len(data.train) + len(data.val)))
        train_rows = _text_rows(data.train, tokenizer, config.max_length)
        val_rows = _text_rows(data.val, tokenizer, config.max_length) if data.val else None
        emit(ProgressEvent(TOKENISING, len(data.train) + len(data.val), len(data.train) + len(data.val)))

    head_params = [p for n, p in model.named_parameters() if not n.startswith("encoder.") and p.requires_grad]
    groups = [{"params": head_params, "lr": config.head_learning_rate}]
    if not config.freeze_encoder:
        groups.insert(0, {"params": list(model.encoder.parameters()), "lr": config.learning_rate})
    optimizer = torch.optim.AdamW(groups, weight_decay=config.weight_decay)

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
        fp16=cuda and not bf16,
        remove_unused_columns=False,
        label_names=["labels", "intensity"],
        train_sampling_strategy="random" if config.freeze_encoder else "group_by_length",
        dataloader_num_workers=0,
        dataloader_pin_memory=False,
    )
    history: list[dict[str, Any]] = []
    keep = KeepBest(config.select_metric, config.patience, history)
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_rows,
        eval_dataset=val_rows,
        data_collator=_Collator(tokenizer),
        optimizers=(optimizer, None),
        compute_metrics=_compute_metrics,
        callbacks=[keep, StepProgress(emit, config.epochs)],
    )
    trainer.remove_callback(PrinterCallback)  # progress goes through our callbacks, not stdout
    t0 = time.monotonic()
    out = trainer.train(ignore_keys_for_eval=["pooled"])
    seconds = time.monotonic() - t0
    if keep.best_state is not None:
        model.load_state_dict(keep.best_state, strict=False)
    model.eval()
    # a parent model keeps its own heads: ridge applies when they are linear ones
    ridge_ok = config.ridge_intensity and model.intensity_heads is not None and model.heads_config.intensity_head == "linear"
    ridge = fit_ridge_heads(model, tokenizer, data, config, cached, emit) if ridge_ok else {}
    return TrainResult(
        model=model,
        tokenizer=tokenizer,
        history=history,
        best=keep.best_metrics,
        seconds=seconds,
        train_samples_per_second=float(out.metrics.get("train_samples_per_second", 0.0)),
        device=str(trainer.args.device),
        precision="bf16" if bf16 else ("fp16" if cuda else "fp32"),
        ridge=ridge,
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


def fit_ridge_heads(model: EmotionIntensityModel, tokenizer: Any, data: TrainData, config: TrainConfig,
                    cached: dict[str, tuple[torch.Tensor, torch.Tensor]], progress: ProgressFn | None = None) -> dict[str, Any]:
    """Closed-form linear intensity heads on the intensity features, optionally joined by TF-IDF terms.

    The encoder features are standardised so one penalty fits every dimension; the
    fitted map is folded back to the raw features, so the head stays a plain Linear.
    With `config.lexical_intensity` the TF-IDF block joins the design matrix at a
    scale chosen with the penalty, per target, on validation MSE.
    """
    from sklearn.linear_model import Ridge

    if model.heads_config.intensity_head != "linear":
        raise ValueError("ridge fitting needs intensity_head='linear'")
    embedder = Predictor(model, tokenizer, max_length=config.max_length, batch_size=EMBED_BATCH, cache_size=0)
    splits = {"train": data.train, "val": data.val}
    feats = {}
    for split, rows in splits.items():
        if split in cached:
            feats[split] = cached[split][1].numpy()
        elif rows:
            feats[split] = embedder.embed([e.text for e in rows], progress, f"{split} set, for the intensity heads")[1].numpy()
    mu, sd = feats["train"].mean(0), feats["train"].std(0) + 1e-6
    z = {k: ((v - mu) / sd).astype(np.float64) for k, v in feats.items()}
    vectorizer = fit_vectorizer([e.text for e in data.train]) if config.lexical_intensity else None
    words = {k: vectorizer.transform([e.text for e in rows]).toarray() for k, rows in splits.items() if rows} if vectorizer else {}
    lexical_weights = np.zeros((len(INTENSITY_TARGETS), len(vectorizer.vocabulary_)), np.float32) if vectorizer else None
    h = z["train"].shape[1]

    def design(split: str, scale: float) -> np.ndarray:
        return np.hstack([z[split], scale * words[split]]) if scale else z[split]

    if progress:
        progress(ProgressEvent(FITTING_HEADS, 0, 1, "ridge over encoder features" + (" and TF-IDF terms" if vectorizer else "")))
    labelled = {}
    for k, target in enumerate(INTENSITY_TARGETS):
        y = np.array([getattr(e, target) for e in data.train], dtype=float)
        yv = np.array([getattr(e, target) for e in data.val], dtype=float) if data.val else np.array([])
        if (~np.isnan(y)).sum() >= 2:
            labelled[k] = (y, ~np.isnan(y), yv, ~np.isnan(yv))
    best: dict[int, tuple] = {}
    # one design matrix per scale, shared by the three targets
    for scale in LEXICAL_SCALES if vectorizer else (0.0,):
        x_train, x_val = design("train", scale), design("val", scale) if data.val else None
        for k, (y, ok, yv, okv) in labelled.items():
            for alpha in RIDGE_ALPHAS:
                fit = Ridge(alpha=alpha).fit(x_train[ok], y[ok])
                score = float(np.mean((fit.predict(x_val[okv]) - yv[okv]) ** 2)) if okv.sum() else alpha  # no val: the smallest penalty
                if k not in best or score < best[k][0]:
                    best[k] = (score, alpha, scale, fit)
    chosen = {}
    for k, (score, alpha, scale, fit) in best.items():
        target = INTENSITY_TARGETS[k]
        coef = fit.coef_
        head = model.intensity_heads[target].last
        with torch.no_grad():
            head.weight.copy_(torch.as_tensor(coef[:h] / sd, dtype=head.weight.dtype)[None, :].expand_as(head.weight))
            head.bias.fill_(float(fit.intercept_ - np.sum(coef[:h] * mu / sd)))
        if lexical_weights is not None:
            lexical_weights[k] = coef[h:] * scale
        y, ok = labelled[k][0], labelled[k][1]
        # where an explanation starts: the average training seeker, and what the average training text's words add
        # (a ridge with an intercept predicts the target's mean on average over its training rows)
        words_mean = float(np.mean(words["train"][ok] @ (coef[h:] * scale))) if vectorizer is not None and scale else 0.0
        chosen[target] = {"alpha": alpha, "lexical_scale": scale or None, "val_mse": score if labelled[k][3].sum() else None,
                          "train_mean": float(np.mean(y[ok])), "words_mean": words_mean,
                          "residuals": _out_of_fold_residuals(alpha, design("train", scale), design("val", scale) if data.val else None,
                                                              *labelled[k])}
    model.lexical = LexicalIntensity.from_vectorizer(vectorizer, lexical_weights) if vectorizer else None
    if progress:
        progress(ProgressEvent(FITTING_HEADS, 1, 1))
    return chosen


def _out_of_fold_residuals(alpha: float, x_train: np.ndarray, x_val: np.ndarray | None, y: np.ndarray, ok: np.ndarray,
                           yv: np.ndarray, okv: np.ndarray, folds: int = 5) -> list[float]:
    """Gold minus prediction for every labelled train and val row, each from a ridge fitted without its fold.

    The conformal intervals use these: over train and val together they describe new texts better
    than the val split alone (on ESConv's paper split, val errors run smaller than test errors). They
    are honest where the ridge features did not see the labels: a frozen encoder, or a hidden layer
    below the fine-tuned ones (the presets' `intensity_layer`).
    """
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import KFold, cross_val_predict

    x = np.vstack([x_train[ok], x_val[okv]]) if x_val is not None and okv.any() else x_train[ok]
    target = np.concatenate([y[ok], yv[okv]]) if x_val is not None and okv.any() else y[ok]
    if len(target) < 2 * folds:
        return []
    pred = cross_val_predict(Ridge(alpha=alpha), x, target, cv=KFold(folds, shuffle=True, random_state=0))
    return (target - pred).astype(float).tolist()


def measure_step_seconds(config: TrainConfig, data: TrainData, steps: int = 2) -> dict[str, float]:
    """A short timed probe on real batches of the training set, after one warm-up step.

    `step_s`: one training step (forward, backward, optimiser) at the config's batch size and length,
    or, with a frozen encoder, one forward pass of the embedding batch that caches the features,
    which is where that time goes; `batch`: the examples of that step; `forward_s`: one text's
    forward pass in inference mode, the unit of evaluation, the heads' embedding pass, calibration
    and testing; `load_s`: building the model; `ridge_fit_s` and `ridge_fits`: one fit of the linear
    intensity heads on a design of the real shape, and how many fits training makes.
    """
    set_seed(config.seed)
    t_load = time.perf_counter()
    model, tokenizer = _init_model(config, data)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device)
    load_s = time.perf_counter() - t_load
    batch_size = EMBED_BATCH if config.freeze_encoder else config.batch_size
    rows = _text_rows(list(data.train)[: batch_size * (steps + 1)], tokenizer, config.max_length)
    collate = _Collator(tokenizer)
    if config.freeze_layers and not config.freeze_encoder:
        freeze_bottom(model.encoder, config.freeze_layers)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.learning_rate)
    model.train(not config.freeze_encoder)
    times = []
    for k in range(steps + 1):
        batch = collate([rows[i % len(rows)] for i in range(k * batch_size, (k + 1) * batch_size)])
        batch = {key: v.to(device) for key, v in batch.items()}
        t0 = time.perf_counter()
        if config.freeze_encoder:
            with torch.inference_mode():
                model.encode(batch["input_ids"], batch["attention_mask"])
        else:
            loss = model(**batch)["loss"]
            loss.backward()
            opt.step()
            opt.zero_grad()
        times.append(time.perf_counter() - t0)
    step_s = float(np.mean(times[1:]))
    if config.freeze_encoder:
        forward_s = step_s / batch_size
    else:
        model.eval()
        batch = collate([rows[i % len(rows)] for i in range(batch_size)])
        batch = {key: v.to(device) for key, v in batch.items() if key in ("input_ids", "attention_mask")}
        with torch.inference_mode():
            t0 = time.perf_counter()
            model(**batch)
            forward_s = (time.perf_counter() - t0) / batch_size
    ridge_fit_s, ridge_fits = _time_ridge(config, data, model.encoder.config.hidden_size) if config.ridge_intensity else (0.0, 0)
    return {"step_s": step_s, "batch": batch_size, "forward_s": forward_s, "load_s": load_s, "ridge_fit_s": ridge_fit_s, "ridge_fits": ridge_fits}


def _time_ridge(config: TrainConfig, data: TrainData, hidden: int) -> tuple[float, int]:
    """(seconds of one ridge fit on a design of the real shape, fits the intensity heads make): CPU work no forward pass shows."""
    from sklearn.linear_model import Ridge

    texts = [e.text for e in data.train]
    x = np.random.default_rng(0).standard_normal((len(texts), hidden))
    if config.lexical_intensity:
        x = np.hstack([x, fit_vectorizer(texts).transform(texts).toarray()])
    y = np.random.default_rng(1).standard_normal(len(texts))
    times = []
    for alpha in (1.0, 100.0):  # the first fit pays for warming BLAS up; the second is what the grid's fits cost
        t0 = time.perf_counter()
        Ridge(alpha=alpha).fit(x, y)
        times.append(time.perf_counter() - t0)
    one = times[-1]
    grid = (len(LEXICAL_SCALES) if config.lexical_intensity else 1) * len(RIDGE_ALPHAS)
    return one, len(INTENSITY_TARGETS) * (grid + 5)  # the grid per target, then 5 out-of-fold fits
