"""The seeker model's family: ESConv-style examples in, emotion and intensity heads trained, calibrated and tested.

What is the seeker's own: its training set (the data policy, the annotators' or
a release's labels, `--balanced`, the leakage guard), text rows (or, with a
frozen encoder, cached features), the multi-task loss in the model, validation
accuracy, F1 and intensity MSE, the ridge-fitted intensity heads, the
calibration (temperature, intervals, the least text), and test metrics beside
ZeroR's. The rest of training is the family-free path in `trainer.py` and
`finetune.py`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from sklearn.metrics import f1_score

from ..data import Example, examples_hash, with_situations
from ..errors import ConfigError, DataError
from ..labels import INTENSITY_TARGETS
from ..metrics import evaluate_predictions, regression_metrics
from ..models import calibration
from ..models.encoder import balanced_weights
from ..models.ensemble import is_ensemble
from ..models.heads import HeadConfig
from ..models.seeker import EmotionIntensityModel, build_model, load, save
from ..models.seeker_predictor import Predictor
from ..progress import CALIBRATING, EMBEDDING, EVALUATING, FITTING_HEADS, TESTING, ProgressEvent, ProgressFn
from ..registry import HEADS_FILE
from ..tasks import dataset_for
from .config import TrainConfig
from .family import Family, TrainData, TrainingSet
from .policies import balance_dialogues, balance_sentences, training_examples
from .request import training_config
from .ridge import EMBED_BATCH, fit_ridge_heads, time_ridge

CALIBRATION_PREFIX_COST = 0.5  # the six short prefixes of each val text cost about half a full pass together


def _targets(ex: Example) -> list[float]:
    return [float(getattr(ex, t)) for t in INTENSITY_TARGETS]


def portable_source(source: str) -> str:
    """A data source as the manifest keeps it: a file's name, never this machine's path (a hub id or "demo" as is)."""
    return Path(source).name if Path(source).exists() else source


class SeekerFamily(Family):
    name = "seeker"
    heads_file = HEADS_FILE
    label_names = ("labels", "intensity")
    predictor_class = Predictor
    predict_batch = 16
    starter_note = "Building the starter model (one time, under a minute on a free 2-core machine)"

    # -- data ---------------------------------------------------------------------------

    def training_set(self, finetuner: Any, req: Any) -> TrainingSet:
        """The splits a request trains and evaluates on; evaluation items never enter training."""
        task = req.task_spec
        dataset = dataset_for(task, req.dataset)
        splits, labels = finetuner.sources.examples(dataset)
        if req.policy != "gold":
            if not task.ratings:
                raise ConfigError(f"ratings are collected on ESConv items; task {task.name} trains on gold labels only")
            source = finetuner.sources.esconv_like(dataset)
            splits = {**splits, "train": training_examples(source.splits, req.policy, finetuner.ratings(req))}
        if task.objective == "multitask" and all(math.isnan(ex.initial) for ex in splits["train"]):
            raise ConfigError(f"task {task.name} needs intensity labels, and {dataset} has none: use --task emotion")
        if req.balanced:
            seed = req.seed if req.seed is not None else 42
            if task.files or dataset == "esconv":
                ids = {ex.item_id for ex in splits["train"]}
                train_d = [d for d in finetuner.sources.esconv_like(dataset).splits["train"] if d.dialogue_id in ids]
                splits["train"] = balance_dialogues(train_d, seed=seed)
            else:
                splits["train"] = balance_sentences(splits["train"], seed=seed)
        if training_config(req, finetuner.settings, "").situation:  # the seeker's pre-chat situation before their words
            situations = finetuner.sources.situations(dataset)
            splits = {name: with_situations(part, situations) for name, part in splits.items()}
        held_out = {ex.item_id for s in ("val", "test") for ex in splits[s]}
        leaked = [ex.item_id for ex in splits["train"] if ex.item_id.split("#")[0] in held_out]
        if leaked:  # a guard, not a filter: a leak is a bug upstream
            raise RuntimeError(f"{len(leaked)} evaluation items reached the training set, e.g. {leaked[0]}")
        if not splits["train"]:
            raise DataError(dataset, "the training set is empty for this data policy (no rated training items yet?)")
        origin = finetuner.sources.esconv_like(dataset).origin if task.files else dataset
        notes = {
            "dataset": portable_source(dataset),
            "split": "paper (seed 42)",
            "data_hash": examples_hash(splits["train"]),
            "data_source": portable_source(origin),
        }
        return TrainingSet(splits, labels, notes)

    def check_parent(self, spec: Any) -> None:
        if spec.path is not None and is_ensemble(spec.path):
            members = ", ".join(spec.manifest.get("ensemble", []))
            raise ConfigError(f"{spec.name} is an ensemble, which is not trained further; fine-tune one of its models ({members})")

    # -- model and rows -----------------------------------------------------------------

    def build(self, config: TrainConfig, data: TrainData) -> tuple[EmotionIntensityModel, Any]:
        """A new model on a base encoder, or a studio model to continue from.

        A parent keeps its own heads when they fit the task (same labels, same objective, the same views);
        otherwise its fine-tuned encoder gets new heads for this task.
        """
        known = {t: [v for ex in data.train if not math.isnan(v := getattr(ex, t))] for t in INTENSITY_TARGETS}
        heads = HeadConfig(
            labels=list(data.labels),
            task=config.objective,
            pooling=config.pooling,
            intensity_head=config.intensity_head,
            focal_gamma=config.focal_gamma,
            intensity_init=[float(np.mean(v)) if v else 0.0 for v in known.values()],
            intensity_layer=config.intensity_layer,
            end_view=config.end_view,
            situation=config.situation,
            class_weights=balanced_weights([ex.label for ex in data.train], len(data.labels), config.class_weight)
            if config.class_weight
            else None,
        )
        if (Path(config.encoder) / HEADS_FILE).exists():  # continue from a studio model (a fine-tune's parent)
            parent, tokenizer = load(config.encoder)
            model = (
                parent
                if (parent.heads_config.labels, parent.heads_config.task, parent.heads_config.end_view)
                == (heads.labels, heads.task, heads.end_view)
                else EmotionIntensityModel(parent.encoder, heads)
            )
        else:
            model, tokenizer = build_model(config.encoder, heads, config.local_files_only)
        model.heads_config.focal_gamma = config.focal_gamma
        model.heads_config.class_weights = heads.class_weights  # a parent's heads train on with this run's weights
        model.heads_config.situation = heads.situation  # and read what this run's texts hold
        return model, tokenizer

    def rows(self, examples: Sequence[Example], model: Any, tokenizer: Any, config: TrainConfig) -> list[dict[str, Any]]:
        ids = tokenizer([ex.text for ex in examples], truncation=True, max_length=config.max_length)["input_ids"]
        return [{"input_ids": i, "labels": ex.label, "intensity": _targets(ex)} for i, ex in zip(ids, examples)]

    def collate(self, rows: list[dict[str, Any]], tokenizer: Any) -> dict[str, torch.Tensor]:
        batch: dict[str, torch.Tensor] = {
            "labels": torch.tensor([r["labels"] for r in rows], dtype=torch.long),
            "intensity": torch.tensor([r["intensity"] for r in rows], dtype=torch.float32),
        }
        if "pooled" in rows[0]:
            batch["pooled"] = torch.stack([r["pooled"] for r in rows])
            batch["pooled_intensity"] = torch.stack([r["pooled_intensity"] for r in rows])
        else:
            padded = tokenizer.pad({"input_ids": [r["input_ids"] for r in rows]}, return_tensors="pt")
            batch["input_ids"], batch["attention_mask"] = padded["input_ids"], padded["attention_mask"]
        return batch

    def prepare(self, model: Any, tokenizer: Any, config: TrainConfig, data: TrainData, emit: ProgressFn):
        """Text rows, or with a frozen encoder the features of every text, embedded once and kept for the ridge heads too."""
        if not config.freeze_encoder:
            return super().prepare(model, tokenizer, config, data, emit)
        embedder = Predictor(model, tokenizer, max_length=config.max_length, batch_size=EMBED_BATCH, cache_size=0)
        cached = {"train": embedder.embed([e.text for e in data.train], emit, "training set")}
        if data.val:
            cached["val"] = embedder.embed([e.text for e in data.val], emit, "validation set")

        def pooled(examples: Sequence[Example], features: tuple[torch.Tensor, torch.Tensor]) -> list[dict[str, Any]]:
            return [
                {"pooled": p, "pooled_intensity": q, "labels": ex.label, "intensity": _targets(ex)} for p, q, ex in zip(*features, examples)
            ]

        return pooled(data.train, cached["train"]), pooled(data.val, cached["val"]) if data.val else None, {"cached": cached}

    def sampling(self, config: TrainConfig, model: Any) -> str:
        return "random" if config.freeze_encoder else "group_by_length"

    def compute_metrics(self, pred: Any) -> dict[str, float]:
        logits, inten = (pred.predictions if isinstance(pred.predictions, tuple) else (pred.predictions, None))[:2]
        labels = pred.label_ids[0] if isinstance(pred.label_ids, (tuple, list)) else pred.label_ids
        gold = pred.label_ids[1] if isinstance(pred.label_ids, (tuple, list)) else None
        guess = logits.argmax(-1)
        out = {"accuracy": float((guess == labels).mean()), "f1_weighted": float(f1_score(labels, guess, average="weighted"))}
        if inten is not None and gold is not None and inten.ndim == 3:
            col = guess if inten.shape[-1] > 1 else np.zeros_like(guess)
            chosen = inten[np.arange(len(guess)), :, col]
            for k, t in enumerate(INTENSITY_TARGETS):
                m = ~np.isnan(gold[:, k])
                out[f"mse_{t}"] = float(((chosen[m, k] - gold[m, k]) ** 2).mean()) if m.any() else float("nan")
        return out

    def after_training(
        self, model: Any, tokenizer: Any, config: TrainConfig, data: TrainData, state: dict[str, Any], emit: ProgressFn
    ) -> dict[str, Any]:
        """The ridge-fitted intensity heads (a parent model keeps its own heads: ridge applies when they are linear ones)."""
        if not (config.ridge_intensity and model.intensity_heads is not None and model.heads_config.intensity_head == "linear"):
            return {"ridge": {}}
        return {"ridge": fit_ridge_heads(model, tokenizer, data, config, state.get("cached", {}), emit)}

    # -- the probe and the estimate -------------------------------------------------------

    def probe_extras(self, config: TrainConfig, data: TrainData, model: Any) -> dict[str, float]:
        """The ridge heads' selection, timed on features of the real shape."""
        return {f"{FITTING_HEADS}_s": time_ridge(config, data, model.encoder.config.hidden_size)} if config.ridge_intensity else {}

    def passes_after_training(self, config: TrainConfig, n_train: int, n_val: int, n_test: int, evaluations: int) -> dict[str, float]:
        """With a frozen encoder the one embedding pass over train and val is timed as the steps (the head epochs on cached
        features are negligible); else the ridge heads embed train and val again after the steps."""
        frozen = config.freeze_encoder
        return {
            EMBEDDING: 0 if frozen or not config.ridge_intensity else n_train + n_val,
            EVALUATING: 0 if frozen else evaluations * n_val,
            FITTING_HEADS: 0,  # its seconds come from the probe (`probe_extras`)
            CALIBRATING: n_val + CALIBRATION_PREFIX_COST * n_val,
            TESTING: n_test,
        }

    # -- after training -------------------------------------------------------------------

    def finish(self, predictor: Predictor, extras: dict[str, Any], tset: TrainingSet, emit: ProgressFn) -> None:
        """Temperature, intervals (from the ridge's out-of-fold residuals where it has them) and the least text, on val."""
        emit(ProgressEvent(CALIBRATING, 0, 1, "temperature, intervals and the least text, on the validation split"))
        residuals = {t: r.pop("residuals") for t, r in extras.get("ridge", {}).items() if r.get("residuals")}
        predictor.calibration = calibration.fit(predictor, tset.splits["val"], tset.splits["train"], residuals)
        emit(ProgressEvent(CALIBRATING, 1, 1))

    def test_metrics(self, finetuner: Any, predictor: Predictor, tset: TrainingSet, req: Any, emit: ProgressFn) -> dict[str, Any]:
        """Test-split metrics; with a calibrated predictor also ECE before/after and interval coverage (`uncertainty`)."""
        test, labels = tset.splits["test"], tset.labels
        emit(ProgressEvent(TESTING, 0, len(test), f"{predictor.name} on the test split"))
        preds = predictor.predict([ex.text for ex in test])
        gold_int = {t: [getattr(ex, t) for ex in test] for t in INTENSITY_TARGETS}
        pred_int = {t: [p.intensity.get(t, math.nan) for p in preds] for t in INTENSITY_TARGETS} if preds and preds[0].intensity else None
        metrics = evaluate_predictions([labels[ex.label] for ex in test], [p.emotion for p in preds], gold_int, pred_int)
        if req.policy != "gold" and pred_int:
            # the rated items of the test split, scored against the human ratings
            agg = finetuner.ratings(req)
            held = [(i, agg[ex.item_id]) for i, ex in enumerate(test) if ex.item_id in agg]
            for t in ("initial", "final"):
                r = regression_metrics([a[t] for _, a in held], [pred_int[t][i] for i, _ in held])
                metrics[f"rated_mse_{t}"], metrics[f"rated_n_{t}"] = r["mse"], r["n"]
        if predictor.calibration is not None and preds:
            metrics["uncertainty"] = {
                **calibration.uncertainty_metrics(preds, test, labels, predictor.calibration),
                "min_words": predictor.calibration.min_words,
            }
        return metrics

    def same_labels(self, predictor: Predictor, tset: TrainingSet) -> bool:
        return list(predictor.labels) == list(tset.labels)

    def manifest(self, model: EmotionIntensityModel, tset: TrainingSet, req: Any, finetuner: Any) -> dict[str, Any]:
        return {**tset.notes, "heads": model.heads_config.to_dict()}

    def save(self, model: EmotionIntensityModel, tokenizer: Any, predictor: Predictor, folder: Path, manifest: dict[str, Any]) -> None:
        save(model, tokenizer, folder, manifest)
        predictor.calibration.save(folder)
