"""Training, prediction and metrics of the empathy rater, on the same `transformers.Trainer` path as the seeker model.

`train_rater` is the rater's one training function: the optimiser settings come from
`TrainConfig` (epochs, batch size, length, the two learning rates, warm-up, early
stopping on the 4-level accuracy or the loss), the heads and losses from
`RaterConfig`. `RaterPredictor` scores (post, response) pairs in length-sorted
batches. `rater_metrics` gives the bench's and the manifest's numbers: per
mechanism accuracy and weighted/macro F1, the 4-level accuracy and weighted F1,
the score's MSE, MAE, Pearson and Spearman.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
from transformers import PrinterCallback, Trainer, TrainingArguments, set_seed

from .epitome import LEVEL4, Pair
from .errors import InputError
from .labels import EPITOME_LEVELS, EPITOME_MECHANISMS
from .progress import PREDICTING, ProgressEvent, ProgressFn, fan_out
from .rater import EmpathyRater, RaterConfig, build_rater, load_rater
from .train_config import TrainConfig
from .training import KeepBest, Rows, StepProgress

MAX_PAIR_CHARS = 20_000


@dataclass
class RaterResult:
    model: EmpathyRater
    tokenizer: Any
    history: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    device: str = "cpu"
    precision: str = "fp32"


def encode(pairs: Sequence[tuple[str, str]], tokenizer: Any, arch: str, max_length: int) -> list[dict[str, Any]]:
    """Token ids of each pair: one `post [SEP] response` sequence (cross), or the two texts apart (bi)."""
    posts, responses = [p for p, _ in pairs], [r for _, r in pairs]
    if arch == "cross":
        ids = tokenizer(posts, responses, truncation="longest_first", max_length=max_length)["input_ids"]
        return [{"input_ids": i} for i in ids]
    a = tokenizer(posts, truncation=True, max_length=max_length)["input_ids"]
    b = tokenizer(responses, truncation=True, max_length=max_length)["input_ids"]
    return [{"post_input_ids": x, "response_input_ids": y} for x, y in zip(a, b)]


def _targets(pair: Pair) -> dict[str, Any]:
    return {"levels": list(pair.levels), "level4": pair.level4, "score": pair.score}


class PairCollator:
    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch: dict[str, torch.Tensor] = {}
        for prefix in ("", "post_", "response_"):
            if f"{prefix}input_ids" in rows[0]:
                padded = self.tokenizer.pad({"input_ids": [r[f"{prefix}input_ids"] for r in rows]}, return_tensors="pt")
                batch[f"{prefix}input_ids"], batch[f"{prefix}attention_mask"] = padded["input_ids"], padded["attention_mask"]
        if "levels" in rows[0]:
            batch["levels"] = torch.tensor([r["levels"] for r in rows], dtype=torch.long)
            batch["level4"] = torch.tensor([r["level4"] for r in rows], dtype=torch.long)
            batch["score"] = torch.tensor([r["score"] for r in rows], dtype=torch.float32)
        return batch


def _compute_metrics(pred) -> dict[str, float]:
    mech, level4, score = pred.predictions[:3]
    gold_levels, gold4, gold_score = pred.label_ids
    out = {"accuracy": float((level4.argmax(-1) == gold4).mean())}
    from sklearn.metrics import f1_score

    out["f1_weighted"] = float(f1_score(gold4, level4.argmax(-1), average="weighted"))
    for k, m in enumerate(EPITOME_MECHANISMS):
        out[f"accuracy_{m}"] = float((mech[:, k].argmax(-1) == gold_levels[:, k]).mean())
    out["mse_score"] = float(((score - gold_score) ** 2).mean())
    return out


def train_rater(config: TrainConfig, rater: RaterConfig, train: Sequence[Pair], val: Sequence[Pair],
                progress: ProgressFn | Sequence[ProgressFn] | None = None) -> RaterResult:
    """Fine-tune an encoder with the rater's heads on EPITOME-style pairs; the best epoch on val is kept."""
    if not train:
        raise ValueError("no training pairs")
    emit = fan_out(progress if isinstance(progress, (list, tuple)) else [progress])
    set_seed(config.seed)
    model, tokenizer = build_rater(config.encoder, rater, config.local_files_only)
    cuda = torch.cuda.is_available()
    bf16 = cuda and torch.cuda.is_bf16_supported()

    def rows(pairs: Sequence[Pair]) -> Rows:
        ids = encode([(p.post, p.response) for p in pairs], tokenizer, rater.arch, config.max_length)
        return Rows([{**i, **_targets(p)} for i, p in zip(ids, pairs)])

    head_params = [p for n, p in model.named_parameters() if not n.startswith("encoder.")]
    optimizer = torch.optim.AdamW([{"params": list(model.encoder.parameters()), "lr": config.learning_rate},
                                   {"params": head_params, "lr": config.head_learning_rate}], weight_decay=config.weight_decay)
    train_rows, val_rows = rows(train), rows(val) if val else None
    args = TrainingArguments(
        output_dir=config.output_dir, num_train_epochs=config.epochs, max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size, per_device_eval_batch_size=max(config.batch_size, 32),
        warmup_steps=config.warmup if config.warmup < 1 else int(config.warmup), lr_scheduler_type="linear",
        eval_strategy="epoch" if val_rows is not None else "no", save_strategy="no", logging_strategy="steps",
        logging_steps=max(1, min(10, len(train_rows) // config.batch_size)), report_to=config.report_to, run_name=config.run_name or None,
        project="empathy-studio", disable_tqdm=True, seed=config.seed, bf16=bf16, fp16=cuda and not bf16, remove_unused_columns=False,
        label_names=["levels", "level4", "score"], train_sampling_strategy="group_by_length" if rater.arch == "cross" else "random",
        dataloader_num_workers=0, dataloader_pin_memory=False,
    )
    history: list[dict[str, Any]] = []
    keep = KeepBest(config.select_metric, config.patience, history)
    trainer = Trainer(model=model, args=args, train_dataset=train_rows, eval_dataset=val_rows, data_collator=PairCollator(tokenizer),
                      optimizers=(optimizer, None), compute_metrics=_compute_metrics, callbacks=[keep, StepProgress(emit, config.epochs)])
    trainer.remove_callback(PrinterCallback)
    t0 = time.monotonic()
    trainer.train()
    if keep.best_state is not None:
        model.load_state_dict(keep.best_state, strict=False)
    return RaterResult(model.eval(), tokenizer, history, keep.best_metrics, time.monotonic() - t0, str(trainer.args.device),
                       "bf16" if bf16 else ("fp16" if cuda else "fp32"))


def time_rater(config: TrainConfig, rater: RaterConfig, pairs: Sequence[Pair]) -> dict[str, float]:
    """Seconds to load the encoder, per training step (forward, backward, update) and per pair rated, timed on a few batches here."""
    t0 = time.monotonic()
    model, tokenizer = build_rater(config.encoder, rater, config.local_files_only)
    load_s = time.monotonic() - t0
    # the longest pairs, so the estimate errs long rather than short
    pairs = sorted(pairs, key=lambda p: -len(p.post) - len(p.response))[: config.batch_size]
    ids = encode([(p.post, p.response) for p in pairs], tokenizer, rater.arch, config.max_length)
    batch = PairCollator(tokenizer)([{**i, **_targets(p)} for i, p in zip(ids, pairs)])
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate)
    model.train()
    steps = []
    for _ in range(3):  # the first step warms up allocations; the median of three is the pace
        t = time.monotonic()
        model(**batch)["loss"].backward()
        optimizer.step()
        optimizer.zero_grad()
        steps.append(time.monotonic() - t)
    model.eval()
    with torch.inference_mode():
        t = time.monotonic()
        model(**{k: v for k, v in batch.items() if k not in ("levels", "level4", "score")})
        forward = (time.monotonic() - t) / len(pairs)
    return {"load_s": load_s, "step_s": float(np.median(steps)), "forward_s": forward, "batch": len(pairs)}


@dataclass
class Rating:
    """The rater's reading of one response: a level per mechanism with its probabilities, the 4-level scale, the 0-1 score."""

    levels: dict[str, str]
    probs: dict[str, dict[str, float]]
    level4: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"levels": self.levels, "probs": self.probs, "level4": self.level4, "score": self.score}


class RaterPredictor:
    def __init__(self, model: EmpathyRater, tokenizer: Any, name: str = "rater", max_length: int = 256, batch_size: int = 32):
        self.model, self.tokenizer, self.name = model.eval(), tokenizer, name
        self.max_length, self.batch_size = max_length, batch_size

    @classmethod
    def from_folder(cls, folder, name: str | None = None, **kwargs: Any) -> "RaterPredictor":
        model, tokenizer = load_rater(folder)
        return cls(model, tokenizer, name or str(folder), **kwargs)

    def rate(self, pairs: Sequence[tuple[str, str]], progress: ProgressFn | None = None) -> list[Rating]:
        for post, response in pairs:
            for what, text in (("post", post), ("response", response)):
                if not isinstance(text, str) or not text.strip():
                    raise InputError(f"the {what} is empty")
                if len(text) > MAX_PAIR_CHARS:
                    raise InputError(f"the {what} is {len(text):,} characters; the limit is {MAX_PAIR_CHARS:,}")
        rows = encode(pairs, self.tokenizer, self.model.config.arch, self.max_length)
        length = [sum(len(v) for k, v in r.items()) for r in rows]
        order = sorted(range(len(rows)), key=length.__getitem__)
        collate, out = PairCollator(self.tokenizer), [None] * len(rows)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start:start + self.batch_size]
                res = self.model(**collate([rows[i] for i in idx]))
                mech = torch.softmax(res["mechanism_logits"].float(), -1).numpy()
                lv4 = res["level4_logits"].argmax(-1).numpy()
                for row, i in enumerate(idx):
                    out[i] = Rating({m: EPITOME_LEVELS[int(mech[row, k].argmax())] for k, m in enumerate(EPITOME_MECHANISMS)},
                                    {m: dict(zip(EPITOME_LEVELS, map(float, mech[row, k]))) for k, m in enumerate(EPITOME_MECHANISMS)},
                                    LEVEL4[int(lv4[row])], float(res["score"][row]))
                if progress:
                    progress(ProgressEvent(PREDICTING, min(start + self.batch_size, len(order)), len(order)))
        return out  # type: ignore[return-value]


def rater_metrics(ratings: Sequence[Rating], pairs: Sequence[Pair]) -> dict[str, Any]:
    """Per mechanism accuracy and weighted/macro F1; 4-level accuracy and weighted F1; score MSE, MAE, Pearson, Spearman."""
    from scipy import stats
    from sklearn.metrics import accuracy_score, f1_score

    out: dict[str, Any] = {"n": len(pairs)}
    for k, m in enumerate(EPITOME_MECHANISMS):
        gold = [p.levels[k] for p in pairs]
        pred = [EPITOME_LEVELS.index(r.levels[m]) for r in ratings]
        out[f"{m}_accuracy"] = float(accuracy_score(gold, pred))
        out[f"{m}_f1_weighted"] = float(f1_score(gold, pred, average="weighted"))
        out[f"{m}_f1_macro"] = float(f1_score(gold, pred, average="macro"))
    gold4, pred4 = [p.level4 for p in pairs], [LEVEL4.index(r.level4) for r in ratings]
    out["level4_accuracy"] = float(accuracy_score(gold4, pred4))
    out["level4_f1_weighted"] = float(f1_score(gold4, pred4, average="weighted"))
    gs, ps = np.array([p.score for p in pairs]), np.array([r.score for r in ratings])
    out["score_mse"], out["score_mae"] = float(np.mean((gs - ps) ** 2)), float(np.mean(np.abs(gs - ps)))
    ok = np.ptp(gs) > 0 and np.ptp(ps) > 0
    out["score_pearson"] = float(stats.pearsonr(gs, ps)[0]) if ok else math.nan
    out["score_spearman"] = float(stats.spearmanr(gs, ps)[0]) if ok else math.nan
    return out
