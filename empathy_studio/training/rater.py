"""The empathy rater's family: (post, response) pairs in, three mechanism heads, the 4-level scale and a 0-1 score out.

What is the rater's own: its training set (`rater_data.py`), pair rows (one
sequence for the cross-encoder, two for the bi-encoder), the weighted multi-task
loss in the model (`models/rater.py`), validation accuracy and F1 on the 4-level
scale, its probe on the longest pairs, and the test metrics of `rater_metrics`:
per mechanism accuracy and weighted/macro F1, the 4-level accuracy and weighted
F1, the score's MSE, MAE, Pearson and Spearman. A rater starts from a base
encoder: continuing from a trained rater or a seeker model is not offered yet,
and says so.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from scipy import stats
from sklearn.metrics import accuracy_score, f1_score

from ..epitome import LEVEL4, Pair
from ..errors import ModelUnavailable
from ..labels import EPITOME_LEVELS, EPITOME_MECHANISMS
from ..models.heads import RaterConfig
from ..models.predictor import pad
from ..models.rater import EmpathyRater, build_rater, encode_pairs, save_rater
from ..models.rater_predictor import EmpathyPrediction, RaterPredictor
from ..progress import TESTING, ProgressEvent, ProgressFn
from ..registry import RATER_FILE
from .config import TrainConfig
from .family import Family, TrainData, TrainingSet
from .rater_data import SPLIT_NOTE, rater_training_set


def _targets(pair: Pair) -> dict[str, Any]:
    return {"levels": list(pair.levels), "level4": pair.level4, "score": pair.score}


def rater_metrics(predictions: Sequence[EmpathyPrediction], pairs: Sequence[Pair]) -> dict[str, Any]:
    """Per mechanism accuracy and weighted/macro F1; 4-level accuracy and weighted F1; score MSE, MAE, Pearson, Spearman."""
    out: dict[str, Any] = {"n": len(pairs)}
    for k, m in enumerate(EPITOME_MECHANISMS):
        gold = [p.levels[k] for p in pairs]
        pred = [EPITOME_LEVELS.index(r.levels[m]) for r in predictions]
        out[f"{m}_accuracy"] = float(accuracy_score(gold, pred))
        out[f"{m}_f1_weighted"] = float(f1_score(gold, pred, average="weighted"))
        out[f"{m}_f1_macro"] = float(f1_score(gold, pred, average="macro"))
    gold4, pred4 = [p.level4 for p in pairs], [LEVEL4.index(r.level4) for r in predictions]
    out["level4_accuracy"] = float(accuracy_score(gold4, pred4))
    out["level4_f1_weighted"] = float(f1_score(gold4, pred4, average="weighted"))
    gs, ps = np.array([p.score for p in pairs]), np.array([r.score for r in predictions])
    out["score_mse"], out["score_mae"] = float(np.mean((gs - ps) ** 2)), float(np.mean(np.abs(gs - ps)))
    ok = np.ptp(gs) > 0 and np.ptp(ps) > 0
    out["score_pearson"] = float(stats.pearsonr(gs, ps)[0]) if ok else math.nan
    out["score_spearman"] = float(stats.spearmanr(gs, ps)[0]) if ok else math.nan
    return out


class RaterFamily(Family):
    name = "rater"
    heads_file = RATER_FILE
    label_names = ("levels", "level4", "score")
    predictor_class = RaterPredictor
    predict_batch = 32
    starter_note = "Building the starter empathy rater (one time, about 2 minutes on a free 2-core machine)"

    def training_set(self, finetuner: Any, req: Any) -> TrainingSet:
        splits, held_out = rater_training_set(finetuner.sources, finetuner.store, req)
        notes = {
            "dataset": "epitome" if finetuner.sources.epitome is not None else "ratings",
            "split": SPLIT_NOTE,
            "rated_pairs_held_out": held_out,
        }
        return TrainingSet(splits, EPITOME_LEVELS, notes)

    def head_options(self, req: Any) -> RaterConfig:
        return RaterConfig(**{k: v for k, v in (("arch", req.arch), ("loss", req.loss), ("score_loss", req.score_loss)) if v is not None})

    def check_parent(self, spec: Any) -> None:
        if spec.kind == "finetuned":
            raise ModelUnavailable(f"{spec.name} is a trained model; the empathy rater starts from a base encoder (e.g. --model minilm)")

    def build(self, config: TrainConfig, data: TrainData) -> tuple[EmpathyRater, Any]:
        return build_rater(config.encoder, data.heads or RaterConfig(), config.local_files_only)

    def rows(self, examples: Sequence[Pair], model: EmpathyRater, tokenizer: Any, config: TrainConfig) -> list[dict[str, Any]]:
        ids = encode_pairs([(p.post, p.response) for p in examples], tokenizer, model.config.arch, config.max_length)
        return [{**i, **_targets(p)} for i, p in zip(ids, examples)]

    def collate(self, rows: list[dict[str, Any]], tokenizer: Any) -> dict[str, torch.Tensor]:
        batch = pad(tokenizer, rows)
        if "levels" in rows[0]:
            batch["levels"] = torch.tensor([r["levels"] for r in rows], dtype=torch.long)
            batch["level4"] = torch.tensor([r["level4"] for r in rows], dtype=torch.long)
            batch["score"] = torch.tensor([r["score"] for r in rows], dtype=torch.float32)
        return batch

    def sampling(self, config: TrainConfig, model: EmpathyRater) -> str:
        return "group_by_length" if model.config.arch == "cross" else "random"

    def compute_metrics(self, pred: Any) -> dict[str, float]:
        mech, level4, score = pred.predictions[:3]
        gold_levels, gold4, gold_score = pred.label_ids
        out = {
            "accuracy": float((level4.argmax(-1) == gold4).mean()),
            "f1_weighted": float(f1_score(gold4, level4.argmax(-1), average="weighted")),
        }
        for k, m in enumerate(EPITOME_MECHANISMS):
            out[f"accuracy_{m}"] = float((mech[:, k].argmax(-1) == gold_levels[:, k]).mean())
        out["mse_score"] = float(((score - gold_score) ** 2).mean())
        return out

    def probe_examples(self, train: Sequence[Pair], n: int) -> list[Pair]:
        """The longest pairs, so the estimate errs long rather than short."""
        return sorted(train, key=lambda p: -len(p.post) - len(p.response))[:n]

    def test_metrics(self, finetuner: Any, predictor: RaterPredictor, tset: TrainingSet, req: Any, emit: ProgressFn) -> dict[str, Any]:
        test = tset.splits["test"]
        emit(ProgressEvent(TESTING, 0, len(test), f"{predictor.name} on the test split"))
        return rater_metrics(predictor.predict([(p.post, p.response) for p in test]), test)

    def manifest(self, model: EmpathyRater, tset: TrainingSet, req: Any, finetuner: Any) -> dict[str, Any]:
        return {**tset.notes, "rater": model.config.to_dict()}

    def save(self, model: EmpathyRater, tokenizer: Any, predictor: RaterPredictor, folder: Path, manifest: dict[str, Any]) -> None:
        save_rater(model, tokenizer, folder, manifest)
