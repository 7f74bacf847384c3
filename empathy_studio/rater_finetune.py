"""The fine-tune use case for the empathy rater (`--task empathy`): EPITOME pairs in, a published rater folder out.

The same request, config mapping and publishing as the seeker model (`finetune.py`):
the optimiser settings come from `training_config`, the heads and losses from the
request's `arch`, `loss` and `score_loss`; the model is trained by `train_rater`,
scored on the test split of the documented 80/10/10 split, and moved into `models/`
in one rename. A rater starts from a base encoder: continuing from a trained rater
or a seeker model is not offered yet, and says so.
"""

from __future__ import annotations

import os
import secrets
import shutil
from typing import Any

from .epitome import epitome_pairs, split_pairs
from .errors import ConfigError, DataError, ModelUnavailable
from .names import inside
from .progress import PUBLISHING, TESTING, ProgressEvent, ProgressFn
from .rater_config import RaterConfig
from .registry import ModelSpec
from .train_config import TrainConfig

SPLIT_NOTE = "80/10/10 stratified on the 4-level scale (seed 42)"


def rater_splits(finetuner: Any) -> dict[str, list]:
    folder = finetuner.sources.epitome
    if folder is None:
        raise DataError("epitome", "EPITOME is not configured (space_config.yaml: epitome)")
    return split_pairs(epitome_pairs(folder), source=str(folder))


def train_and_register_rater(finetuner: Any, req: Any, spec: ModelSpec, name: str, config: TrainConfig, emit: ProgressFn,
                              common: dict[str, Any]) -> dict[str, Any]:
    """Train, test and publish a rater for a `Finetuner` and its `TrainRequest` (typed loosely: `finetune` calls this module, not
    the other way round); `config` comes from `finetune.training_config`, `common` holds the manifest fields every model has."""
    from .rater import save_rater
    from .rater_training import RaterPredictor, rater_metrics, train_rater

    if req.policy != "gold":
        raise ConfigError("the empathy rater trains on EPITOME's gold levels only, for now")
    if spec.kind == "finetuned":
        raise ModelUnavailable(f"{spec.name} is a trained model; the empathy rater starts from a base encoder (e.g. --model minilm)")
    target = inside(finetuner.settings.models_dir, name, "model name")
    if target.exists():
        raise ConfigError(f"a model named {name!r} already exists in {finetuner.settings.models_dir.name}/")
    splits = rater_splits(finetuner)
    rater = RaterConfig(**{k: v for k, v in (("arch", req.arch), ("loss", req.loss), ("score_loss", req.score_loss)) if v is not None})
    try:
        result = train_rater(config, rater, splits["train"], splits["val"], emit)
    finally:
        shutil.rmtree(config.output_dir, ignore_errors=True)
    emit(ProgressEvent(TESTING, 0, len(splits["test"]), "test split"))
    predictor = RaterPredictor(result.model, result.tokenizer, name=name, max_length=config.max_length)
    metrics = rater_metrics(predictor.rate([(p.post, p.response) for p in splits["test"]]), splits["test"])
    compared = finetuner.registry.get(req.compare_with) if req.compare_with else None
    parent_metrics = compared.metrics if compared is not None and compared.is_rater else {}
    manifest = {
        **common, "name": name, "parent": spec.name, "parent_source": spec.source, "task": "empathy",
        "objective": "rater", "dataset": "epitome", "split": SPLIT_NOTE, "policy": req.policy,
        "n_train": len(splits["train"]), "n_val": len(splits["val"]), "n_test": len(splits["test"]),
        "rater": rater.to_dict(), "request": req.to_dict(),
        "metrics": metrics, "compared_with": compared.name if compared is not None and compared.is_rater else None,
        "parent_metrics": parent_metrics,
        "delta": {k: metrics[k] - parent_metrics[k] for k in metrics if isinstance(metrics[k], float) and isinstance(parent_metrics.get(k), float)},
        "history": result.history, "train_seconds": round(result.seconds, 1), "device": result.device, "precision": result.precision,
    }
    emit(ProgressEvent(PUBLISHING, 0, 1, name))
    tmp = finetuner.settings.models_dir / f".tmp-{os.getpid()}-{secrets.token_hex(4)}-{name}"
    save_rater(result.model, result.tokenizer, tmp, manifest)
    os.replace(tmp, target)
    emit(ProgressEvent(PUBLISHING, 1, 1, name))
    return manifest
