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

import dataclasses
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from scipy import stats
from sklearn.metrics import accuracy_score, f1_score

from .. import rationales
from ..epitome import LEVEL4, Pair
from ..errors import ModelUnavailable
from ..labels import EPITOME_LEVELS, EPITOME_MECHANISMS
from ..metrics import bootstrap_classification_ci
from ..models.encoder import balanced_weights
from ..models.heads import DEFAULT_RATIONALE_WEIGHT, RaterConfig
from ..models.predictor import pad
from ..models.rater import IGNORE, EmpathyRater, build_rater, encode_pairs, rationale_labels, save_rater
from ..models.rater_predictor import EmpathyPrediction, RaterPredictor
from ..progress import TESTING, ProgressEvent, ProgressFn
from ..registry import RATER_FILE
from .config import HEAD_OPTIONS, TrainConfig
from .family import Family, TrainData, TrainingSet
from .rater_data import SPLIT_NOTE, rater_training_set


def _targets(pair: Pair) -> dict[str, Any]:
    return {"levels": list(pair.levels), "level4": pair.level4, "score": pair.score}


def rater_metrics(predictions: Sequence[EmpathyPrediction], pairs: Sequence[Pair]) -> dict[str, Any]:
    """Per mechanism accuracy and weighted/macro F1, with bootstrap 95% CIs of accuracy and macro F1 (1,000 resamples of the
    pairs, seed 0), and for a rater with a rationale head its token F1 and IOU F1 (`rationales.score`); 4-level accuracy and
    weighted F1; score MSE, MAE, Pearson, Spearman."""
    out: dict[str, Any] = {"n": len(pairs)}
    for k, m in enumerate(EPITOME_MECHANISMS):
        gold = [p.levels[k] for p in pairs]
        pred = [EPITOME_LEVELS.index(r.levels[m]) for r in predictions]
        out[f"{m}_accuracy"] = float(accuracy_score(gold, pred))
        out[f"{m}_f1_weighted"] = float(f1_score(gold, pred, average="weighted"))
        out[f"{m}_f1_macro"] = float(f1_score(gold, pred, average="macro"))
        ci = bootstrap_classification_ci(gold, pred)
        out[f"{m}_accuracy_ci95"], out[f"{m}_f1_macro_ci95"] = list(ci["accuracy"]), list(ci["f1_macro"])
    if predictions and predictions[0].rationales is not None and any(p.rationales for p in pairs):
        known = [(p, r) for p, r in zip(pairs, predictions) if p.rationales]  # the head against EPITOME's rationales
        responses = [p.response for p, _ in known]
        for k, m in enumerate(EPITOME_MECHANISMS):
            got = rationales.score(responses, [p.rationales[k] for p, _ in known], [r.rationales[m] for _, r in known])
            out[f"{m}_rationale_token_f1"], out[f"{m}_rationale_iou_f1"] = got["token_f1"], got["iou_f1"]
            out[f"{m}_rationale_n"] = got["n"]
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
    starter_note = "Building the starter empathy rater (one time, about 90 s on a free 2-core machine)"

    def training_set(self, finetuner: Any, req: Any) -> TrainingSet:
        splits, held_out = rater_training_set(finetuner.sources, finetuner.store, req)
        notes = {
            "dataset": "epitome" if finetuner.sources.epitome is not None else "ratings",
            "split": SPLIT_NOTE,
            "rated_pairs_held_out": held_out,
        }
        return TrainingSet(splits, EPITOME_LEVELS, notes)

    def head_options(self, req: Any) -> RaterConfig:
        chosen = {k: getattr(req, k) for k in HEAD_OPTIONS[self.name] if getattr(req, k) is not None}
        return RaterConfig(**{"rationale_weight": DEFAULT_RATIONALE_WEIGHT, **chosen})

    def check_parent(self, spec: Any) -> None:
        if spec.kind == "finetuned":
            raise ModelUnavailable(f"{spec.name} is a trained model; the empathy rater starts from a base encoder (e.g. --model minilm)")

    def build(self, config: TrainConfig, data: TrainData) -> tuple[EmpathyRater, Any]:
        heads = data.heads or RaterConfig()
        if heads.rationale_weight > 0 and not any(p.rationales for p in data.train):  # rated pairs alone: nothing to learn it from
            heads = dataclasses.replace(heads, rationale_weight=0.0)
        if config.class_weight:
            levels = np.array([p.levels for p in data.train], dtype=int).reshape(-1, len(EPITOME_MECHANISMS))
            weights = [balanced_weights(levels[:, k], len(EPITOME_LEVELS), config.class_weight) for k in range(len(EPITOME_MECHANISMS))]
            heads = dataclasses.replace(heads, class_weights=weights)
        return build_rater(config.encoder, heads, config.local_files_only)

    def rows(self, examples: Sequence[Pair], model: EmpathyRater, tokenizer: Any, config: TrainConfig) -> list[dict[str, Any]]:
        ids = encode_pairs([(p.post, p.response) for p in examples], tokenizer, model.config.arch, config.max_length)
        rows = [{**i, **_targets(p)} for i, p in zip(ids, examples)]
        if model.config.rationale_weight > 0:
            rationale_labels(examples, rows, tokenizer, model.config.arch, config.max_length)
        return rows

    def collate(self, rows: list[dict[str, Any]], tokenizer: Any) -> dict[str, torch.Tensor]:
        batch = pad(tokenizer, rows)
        if "levels" in rows[0]:
            batch["levels"] = torch.tensor([r["levels"] for r in rows], dtype=torch.long)
            batch["level4"] = torch.tensor([r["level4"] for r in rows], dtype=torch.long)
            batch["score"] = torch.tensor([r["score"] for r in rows], dtype=torch.float32)
        if "rationale" in rows[0]:  # padded on the right, as the tokens they label
            width = batch["input_ids" if "input_ids" in batch else "response_input_ids"].shape[1]
            none = [IGNORE] * len(EPITOME_MECHANISMS)
            batch["rationale"] = torch.tensor([r["rationale"] + [none] * (width - len(r["rationale"])) for r in rows], dtype=torch.long)
        return batch

    def length(self, row: dict[str, Any]) -> int:
        """The bi-encoder pads the post and the response apart: the longer of the two sets a pair's cost."""
        return len(row["input_ids"]) if "input_ids" in row else max(len(row["post_input_ids"]), len(row["response_input_ids"]))

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
