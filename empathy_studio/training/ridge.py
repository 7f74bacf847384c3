"""The seeker's linear intensity heads, fitted in closed form on the best weights' features, optionally with TF-IDF terms.

The penalty, and the TF-IDF block's weight, are chosen per target on validation
MSE; the out-of-fold residuals of the chosen fit feed the conformal intervals.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold, cross_val_predict

from ..labels import INTENSITY_TARGETS
from ..models.lexical import LexicalIntensity, fit_vectorizer
from ..models.seeker import EmotionIntensityModel
from ..models.seeker_predictor import Predictor
from ..progress import FITTING_HEADS, ProgressEvent, ProgressFn
from .config import LEXICAL_SCALES, RIDGE_ALPHAS, TrainConfig
from .family import TrainData

EMBED_BATCH = 32  # texts per forward pass when features are embedded for the heads


def fit_ridge_heads(
    model: EmotionIntensityModel,
    tokenizer: Any,
    data: TrainData,
    config: TrainConfig,
    cached: dict[str, tuple[torch.Tensor, torch.Tensor]],
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Closed-form linear intensity heads on the intensity features, optionally joined by TF-IDF terms.

    The encoder features are standardised so one penalty fits every dimension; the
    fitted map is folded back to the raw features, so the head stays a plain Linear.
    With `config.lexical_intensity` the TF-IDF block joins the design matrix at a
    scale chosen with the penalty, per target, on validation MSE.
    """
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
        chosen[target] = {
            "alpha": alpha,
            "lexical_scale": scale or None,
            "val_mse": score if labelled[k][3].sum() else None,
            "train_mean": float(np.mean(y[ok])),
            "words_mean": words_mean,
            "residuals": _out_of_fold_residuals(alpha, design("train", scale), design("val", scale) if data.val else None, *labelled[k]),
        }
    model.lexical = LexicalIntensity.from_vectorizer(vectorizer, lexical_weights) if vectorizer else None
    if progress:
        progress(ProgressEvent(FITTING_HEADS, 1, 1))
    return chosen


def _out_of_fold_residuals(
    alpha: float,
    x_train: np.ndarray,
    x_val: np.ndarray | None,
    y: np.ndarray,
    ok: np.ndarray,
    yv: np.ndarray,
    okv: np.ndarray,
    folds: int = 5,
) -> list[float]:
    """Gold minus prediction for every labelled train and val row, each from a ridge fitted without its fold.

    The conformal intervals use these: over train and val together they describe new texts better
    than the val split alone (on ESConv's paper split, val errors run smaller than test errors). They
    are honest where the ridge features did not see the labels: a frozen encoder, or a hidden layer
    below the fine-tuned ones (the presets' `intensity_layer`).
    """
    x = np.vstack([x_train[ok], x_val[okv]]) if x_val is not None and okv.any() else x_train[ok]
    target = np.concatenate([y[ok], yv[okv]]) if x_val is not None and okv.any() else y[ok]
    if len(target) < 2 * folds:
        return []
    pred = cross_val_predict(Ridge(alpha=alpha), x, target, cv=KFold(folds, shuffle=True, random_state=0))
    return (target - pred).astype(float).tolist()


def time_ridge(config: TrainConfig, data: TrainData, hidden: int) -> tuple[float, int]:
    """(seconds of one ridge fit on a design of the real shape, fits the intensity heads make): CPU work no forward pass shows."""
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
