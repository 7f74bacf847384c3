"""The fine-tune use case for the empathy rater (`--task empathy`): EPITOME pairs in, a published rater folder out.

The same request, config mapping and publishing as the seeker model (`finetune.py`):
the optimiser settings come from `training_config`, the heads and losses from the
request's `arch`, `loss` and `score_loss`; the model is trained by `train_rater`,
scored on the test split of the documented 80/10/10 split, and moved into `models/`
in one rename. A rater starts from a base encoder: continuing from a trained rater
or a seeker model is not offered yet, and says so.

The labels follow the request's policy, as for intensity: EPITOME's gold levels
(`gold`), the response-empathy ratings of the studio's campaigns (`ratings`: each
pair's median level per mechanism over its annotators), or both (`gold+ratings`:
a rated EPITOME training pair takes its raters' levels). Validation and test stay
EPITOME's; a rated pair that is one of them (by id or by its text) never trains.
Without EPITOME, a ratings-only rater splits the rated pairs 80/10/10 the same way.
"""

from __future__ import annotations

import os
import secrets
import shutil
from typing import Any

from .agreement import aggregate_empathy
from .releases import training_labels
from .data import text_hash
from .epitome import Pair, epitome_pairs, split_pairs
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


def _key(post: str, response: str) -> str:
    return text_hash(post.strip() + "\x00" + response.strip())


def rated_pairs(store: Any, req: Any) -> list[Pair]:
    """The studio's rated (post, response) pairs with their raters' levels (`aggregate_empathy`), as training pairs."""
    if getattr(req, "release", None):  # a release's settled levels
        labels = training_labels(store.release_items(req.release))
        items = {i: store.item(i) for i in labels}
        return [Pair(item_id.removeprefix("epitome:"), items[item_id]["post"], items[item_id]["text"], tuple(v["levels"]))
                for item_id, v in labels.items() if items.get(item_id)]
    table = store.empathy_rating_table()
    if req.with_ratings:
        from .store import Store

        other = Store(req.with_ratings)
        try:
            table = other.empathy_rating_table()
            items = {i: other.item(i) for i in {r[1] for r in table}}
        finally:
            other.close()
    else:
        items = {i: store.item(i) for i in {r[1] for r in table}}
    agg = aggregate_empathy(table, req.min_annotators)
    return [Pair(item_id.removeprefix("epitome:"), items[item_id]["post"], items[item_id]["text"], tuple(v["levels"]))
            for item_id, v in agg.items() if items.get(item_id)]


def rater_training_set(finetuner: Any, req: Any) -> tuple[dict[str, list[Pair]], int]:
    """(train / val / test pairs for the request's policy, how many rated pairs were held out because they are val or test)."""
    if req.policy == "gold":
        return rater_splits(finetuner), 0
    rated = rated_pairs(finetuner.store, req)
    if finetuner.sources.epitome is None:
        if req.policy != "ratings":
            raise DataError("epitome", "EPITOME is not configured (space_config.yaml: epitome): train on --policy ratings alone")
        return split_pairs(rated, source="response-empathy ratings"), 0
    splits = rater_splits(finetuner)
    held = {p.pair_id for s in ("val", "test") for p in splits[s]} | {_key(p.post, p.response) for s in ("val", "test") for p in splits[s]}
    usable = [p for p in rated if p.pair_id not in held and _key(p.post, p.response) not in held]
    dropped = len(rated) - len(usable)
    if req.policy == "ratings":
        train = usable
    else:  # gold+ratings: a rated gold pair takes its raters' levels
        by_id = {p.pair_id: p for p in usable}
        train = [by_id.pop(p.pair_id, p) for p in splits["train"]] + list(by_id.values())
    leaked = [p.pair_id for p in train if p.pair_id in held or _key(p.post, p.response) in held]
    if leaked:  # a guard, not a filter: a leak is a bug upstream
        raise RuntimeError(f"{len(leaked)} evaluation pairs reached the training set, e.g. {leaked[0]}")
    if not train:
        raise DataError("ratings", "no rated (post, response) pair to train on yet (rate some in a response-empathy campaign)")
    return {**splits, "train": train}, dropped


def estimate_rater(finetuner: Any, req: Any, config: TrainConfig) -> dict[str, Any]:
    """The rater's training time on this machine: steps times a timed step, plus a forward pass per val pair and epoch and per test pair."""
    import math

    from .rater_training import time_rater

    splits, _ = rater_training_set(finetuner, req)
    probe = time_rater(config, _rater_config(req), splits["train"])
    n_train, n_val, n_test = (len(splits[s]) for s in ("train", "val", "test"))
    steps = math.ceil(n_train / config.batch_size) * config.epochs
    steps = min(steps, config.max_steps) if config.max_steps > 0 else steps
    evaluations = math.ceil(config.epochs) if config.max_steps <= 0 else 1
    phases = {"loading": probe["load_s"], "training": probe["step_s"] * steps, "evaluating, testing": probe["forward_s"] * (evaluations * n_val + n_test)}
    return {"n_train": n_train, "steps": int(math.ceil(steps)), "seconds_per_step": round(probe["step_s"], 3),
            "estimated_seconds": round(sum(phases.values())), "phases": {k: round(v, 1) for k, v in phases.items()},
            "batch_size": config.batch_size, "max_length": config.max_length, "epochs": config.epochs, "probe_cached": False}


def _rater_config(req: Any) -> RaterConfig:
    return RaterConfig(**{k: v for k, v in (("arch", req.arch), ("loss", req.loss), ("score_loss", req.score_loss)) if v is not None})


def train_and_register_rater(finetuner: Any, req: Any, spec: ModelSpec, name: str, config: TrainConfig, emit: ProgressFn,
                              common: dict[str, Any]) -> dict[str, Any]:
    """Train, test and publish a rater for a `Finetuner` and its `TrainRequest` (typed loosely: `finetune` calls this module, not
    the other way round); `config` comes from `finetune.training_config`, `common` holds the manifest fields every model has."""
    from .rater import save_rater
    from .rater_training import RaterPredictor, rater_metrics, train_rater

    if spec.kind == "finetuned":
        raise ModelUnavailable(f"{spec.name} is a trained model; the empathy rater starts from a base encoder (e.g. --model minilm)")
    target = inside(finetuner.settings.models_dir, name, "model name")
    if target.exists():
        raise ConfigError(f"a model named {name!r} already exists in {finetuner.settings.models_dir.name}/")
    splits, held_out = rater_training_set(finetuner, req)
    rater = _rater_config(req)
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
        "objective": "rater", "dataset": "epitome" if finetuner.sources.epitome is not None else "ratings", "split": SPLIT_NOTE,
        "policy": req.policy, "rated_pairs_held_out": held_out,
        "n_train": len(splits["train"]), "n_val": len(splits["val"]), "n_test": len(splits["test"]),
        "rater": rater.to_dict(), "request": req.to_dict(), "release": finetuner.lineage(req),
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
