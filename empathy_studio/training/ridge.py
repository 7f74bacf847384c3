"""The seeker's linear intensity heads, fitted in closed form on the best weights' features, optionally with TF-IDF terms.

The design is [Z, s·W]: the standardised encoder features Z and, with lexical terms,
the TF-IDF block W at a scale s. For every scale, target and penalty the ridge is
solved from one eigendecomposition of the centred kernel of the training rows
(`RidgeSelection`): the kernel of any scale is Z Zᵀ + s² W Wᵀ, from two Gram
matrices computed once (W stays sparse), so the whole grid costs a few n × n
eigendecompositions instead of one scikit-learn fit per (scale, penalty, target).
The penalty and the scale are chosen per target on validation MSE; the out-of-fold
residuals of the chosen fit (5-fold, as `cross_val_predict` splits) feed the
conformal intervals. `sklearn_grid` is the same choice made by fitting
`sklearn.linear_model.Ridge` once per cell: the reference the closed form is
checked against (tests, `bench/ridge.py`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold, cross_val_predict

from ..labels import INTENSITY_TARGETS
from ..models.lexical import LexicalIntensity, fit_vectorizer
from ..models.seeker import EmotionIntensityModel
from ..models.seeker_predictor import Predictor
from ..progress import FITTING_HEADS, ProgressEvent, ProgressFn
from .config import END_SCALES, END_TARGETS, LEXICAL_SCALES, RIDGE_ALPHAS, TrainConfig
from .family import TrainData

EMBED_BATCH = 32  # texts per forward pass when features are embedded for the heads
FOLDS = 5  # out-of-fold residuals for the intervals


@dataclass
class RidgeFit:
    """One target's chosen ridge: penalty, the scales of the end view and TF-IDF blocks, its maps (each block unscaled),
    intercept, val MSE and out-of-fold residuals."""

    alpha: float
    scale: float
    coef_z: np.ndarray
    coef_w: np.ndarray | None  # the weight of each TF-IDF term as the text's own vector reads it (the scale folded in)
    intercept: float
    val_mse: float | None
    residuals: list[float]
    end: float = 0.0  # the end view's scale (0: the target reads the opening only)
    coef_e: np.ndarray | None = None  # the weight of each end-view feature (the scale folded in)

    def predict(self, z: np.ndarray, w: Any = None, e: np.ndarray | None = None) -> np.ndarray:
        out = z @ self.coef_z + self.intercept
        if self.coef_w is not None:
            out = out + w @ self.coef_w
        if self.coef_e is not None:
            out = out + e @ self.coef_e
        return out


def _centred(g: np.ndarray, rows: np.ndarray, cols: np.ndarray, col_mean: np.ndarray, total: float) -> np.ndarray:
    """The block g[rows, cols] of a Gram matrix, centred on the column rows' means (double centring)."""
    block = g[np.ix_(rows, cols)]
    return block - block.mean(1, keepdims=True) - col_mean[None, :] + total


def _stack(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return a
    return sp.vstack([a, b]).tocsr() if sp.issparse(a) else np.vstack([a, b])


class RidgeSelection:
    """Every (scale, end, penalty) ridge of every target from the Gram matrices of the train and val rows.

    Blocks: Z (the first view's features), E (the end view's, optional) at a scale `end`, W (TF-IDF, optional) at `scale`.
    """

    def __init__(self, z: np.ndarray, zv: np.ndarray | None, w: Any = None, wv: Any = None, e: Any = None, ev: Any = None):
        self.n = len(z)  # train rows come first; val rows follow at n, n + 1, ...
        self.z, self.w, self.e = _stack(z, zv), _stack(w, wv), _stack(e, ev)
        self.gz = self.z @ self.z.T  # (train + val) × (train + val)
        self.gw = None if self.w is None else (self.w @ self.w.T).toarray()
        self.ge = None if self.e is None else self.e @ self.e.T

    def gram(self, scale: float, end: float = 0.0) -> np.ndarray:
        g = self.gz if not scale or self.gw is None else self.gz + scale * scale * self.gw
        return g if not end or self.ge is None else g + end * end * self.ge

    def select(
        self, y: np.ndarray, yv: np.ndarray, scales: Sequence[float], alphas: Sequence[float], ends: Sequence[float] = (0.0,)
    ) -> tuple[float, float, float, float]:
        """(val MSE, alpha, scale, end) of the best cell, the first best in (scale, end, alpha) order; with no val, the smallest
        penalty."""
        ok = np.flatnonzero(~np.isnan(y))
        okv = self.n + np.flatnonzero(~np.isnan(yv)) if len(yv) else np.array([], dtype=int)
        if not len(okv):
            return float(alphas[0]), float(alphas[0]), scales[0], ends[0]
        best: tuple[float, float, float, float] | None = None
        yc = y[ok] - y[ok].mean()
        for scale in scales:
            for end in ends:
                g = self.gram(scale, end)
                col_mean = g[np.ix_(ok, ok)].mean(0)
                total = col_mean.mean()
                lam, q = np.linalg.eigh(_centred(g, ok, ok, col_mean, total))
                kv = _centred(g, okv, ok, col_mean, total) @ q
                a = q.T @ yc
                for alpha in alphas:
                    pred = kv @ (a / (lam + alpha)) + y[ok].mean()
                    score = float(np.mean((pred - yv[okv - self.n]) ** 2))
                    if best is None or score < best[0]:
                        best = (score, float(alpha), scale, end)
        return best

    def fit(
        self, rows: np.ndarray, target: np.ndarray, alpha: float, scale: float, end: float = 0.0
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, float]:
        """(coef on Z, coef on the scaled W block, coef on the scaled E block, intercept) of the ridge on `rows`
        (indices into train + val)."""
        g = self.gram(scale, end)
        col_mean = g[np.ix_(rows, rows)].mean(0)
        beta = np.linalg.solve(_centred(g, rows, rows, col_mean, col_mean.mean()) + alpha * np.eye(len(rows)), target - target.mean())
        zr = self.z[rows]
        coef_z = (zr - zr.mean(0)).T @ beta
        intercept = target.mean() - zr.mean(0) @ coef_z
        coef_w = coef_e = None
        if scale and self.w is not None:
            wr = self.w[rows]
            mean_w = np.asarray(wr.mean(0)).ravel()
            coef_w = scale * (wr.T @ beta - mean_w * beta.sum())  # the weight of the scaled block
            intercept -= scale * (mean_w @ coef_w)
        if end and self.e is not None:
            er = self.e[rows]
            coef_e = end * ((er - er.mean(0)).T @ beta)
            intercept -= end * (er.mean(0) @ coef_e)
        return coef_z, coef_w, coef_e, float(intercept)

    def out_of_fold(
        self, rows: np.ndarray, target: np.ndarray, alpha: float, scale: float, end: float = 0.0, folds: int = FOLDS
    ) -> list[float]:
        """Gold minus prediction for every row, each from a ridge fitted without its fold (`KFold(folds, shuffle, seed 0)`)."""
        if len(target) < 2 * folds:
            return []
        g = self.gram(scale, end)
        pred = np.empty(len(target))
        for fit_idx, held in KFold(folds, shuffle=True, random_state=0).split(rows):
            r, h = rows[fit_idx], rows[held]
            col_mean = g[np.ix_(r, r)].mean(0)
            total = col_mean.mean()
            y = target[fit_idx]
            beta = np.linalg.solve(_centred(g, r, r, col_mean, total) + alpha * np.eye(len(r)), y - y.mean())
            pred[held] = _centred(g, h, r, col_mean, total) @ beta + y.mean()
        return (target - pred).astype(float).tolist()


def select_ridges(
    z: np.ndarray,
    zv: np.ndarray | None,
    ys: dict[str, tuple[np.ndarray, np.ndarray]],
    w: Any = None,
    wv: Any = None,
    scales: Sequence[float] = (0.0,),
    alphas: Sequence[float] = RIDGE_ALPHAS,
    e: np.ndarray | None = None,
    ev: np.ndarray | None = None,
    ends: dict[str, Sequence[float]] | None = None,
) -> dict[str, RidgeFit]:
    """Per target (`ys`: name -> (train y, val y), NaN where unlabelled): the chosen ridge, its map and its residuals.

    `ends` (target -> the end view's scales to try) lets a target read the end view `e`; a target not in it does not.
    """
    sel = RidgeSelection(z, zv, w, wv, e, ev)
    out = {}
    for name, (y, yv) in ys.items():
        ok, okv = np.flatnonzero(~np.isnan(y)), np.flatnonzero(~np.isnan(yv)) if len(yv) else np.array([], dtype=int)
        if len(ok) < 2:
            continue
        grid = (ends or {}).get(name, (0.0,)) if e is not None else (0.0,)
        score, alpha, scale, end = sel.select(y, yv, scales, alphas, grid)
        coef_z, coef_w, coef_e, intercept = sel.fit(ok, y[ok], alpha, scale, end)
        both = np.concatenate([ok, len(z) + okv]) if zv is not None else ok
        target = np.concatenate([y[ok], yv[okv]]) if zv is not None else y[ok]
        out[name] = RidgeFit(
            alpha,
            scale,
            coef_z,
            None if coef_w is None else coef_w * scale,
            intercept,
            score if len(okv) else None,
            sel.out_of_fold(both, target, alpha, scale, end),
            end,
            None if coef_e is None else coef_e * end,
        )
    return out


def sklearn_grid(
    z: np.ndarray,
    zv: np.ndarray | None,
    ys: dict[str, tuple[np.ndarray, np.ndarray]],
    w: np.ndarray | None = None,
    wv: np.ndarray | None = None,
    scales: Sequence[float] = (0.0,),
    alphas: Sequence[float] = RIDGE_ALPHAS,
    e: np.ndarray | None = None,
    ev: np.ndarray | None = None,
    ends: dict[str, Sequence[float]] | None = None,
) -> dict[str, RidgeFit]:
    """The same choice by one `sklearn.linear_model.Ridge` fit per (scale, end, penalty, target) on the dense design: the
    reference."""
    h, he = z.shape[1], 0 if e is None else e.shape[1]

    def design(zz: np.ndarray, ee: np.ndarray | None, ww: np.ndarray | None, scale: float, end: float) -> np.ndarray:
        parts = [zz] + ([end * ee] if end and ee is not None else []) + ([scale * ww] if scale and ww is not None else [])
        return np.hstack(parts)

    out = {}
    for name, (y, yv) in ys.items():
        ok, okv = ~np.isnan(y), ~np.isnan(yv) if len(yv) else np.zeros(0, bool)
        if ok.sum() < 2:
            continue
        best = None
        for scale in scales:
            for end in (ends or {}).get(name, (0.0,)) if e is not None else (0.0,):
                x, xv = design(z, e, w, scale, end), design(zv, ev, wv, scale, end) if zv is not None else None
                for alpha in alphas:
                    fit = Ridge(alpha=alpha).fit(x[ok], y[ok])
                    score = float(np.mean((fit.predict(xv[okv]) - yv[okv]) ** 2)) if okv.sum() else alpha
                    if best is None or score < best[0]:
                        best = (score, alpha, scale, end, fit)
        score, alpha, scale, end, fit = best
        x, xv = design(z, e, w, scale, end), design(zv, ev, wv, scale, end) if zv is not None else None
        both = np.vstack([x[ok], xv[okv]]) if xv is not None and okv.any() else x[ok]
        target = np.concatenate([y[ok], yv[okv]]) if xv is not None and okv.any() else y[ok]
        residuals = (
            []
            if len(target) < 2 * FOLDS
            else (target - cross_val_predict(Ridge(alpha=alpha), both, target, cv=KFold(FOLDS, shuffle=True, random_state=0)))
            .astype(float)
            .tolist()
        )
        at = h + (he if end else 0)
        coef_e = fit.coef_[h:at] * end if end else None
        coef_w = fit.coef_[at:] * scale if scale and w is not None else None
        out[name] = RidgeFit(
            float(alpha), scale, fit.coef_[:h], coef_w, float(fit.intercept_), score if okv.sum() else None, residuals, end, coef_e
        )
    return out


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
    scale chosen with the penalty, per target, on validation MSE. With the end view
    (`HeadConfig.end_view`) the end view's features are a third block, open to the
    targets in `END_TARGETS` at a scale chosen the same way (0 among them: the
    opening alone), and closed to the others.
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
    h = model.encoder.config.hidden_size
    end = {k: v[:, h:] for k, v in z.items()} if model.heads_config.end_view else {}
    z = {k: v[:, :h] for k, v in z.items()}
    vectorizer = fit_vectorizer([e.text for e in data.train]) if config.lexical_intensity else None
    words = (
        {k: vectorizer.transform([e.text for e in rows]).astype(np.float64).tocsr() for k, rows in splits.items() if rows}
        if vectorizer
        else {}
    )
    if progress:
        progress(ProgressEvent(FITTING_HEADS, 0, 1, "ridge over encoder features" + (" and TF-IDF terms" if vectorizer else "")))
    ys = {
        t: (
            np.array([getattr(e, t) for e in data.train], dtype=float),
            np.array([getattr(e, t) for e in data.val], dtype=float) if data.val else np.array([]),
        )
        for t in INTENSITY_TARGETS
    }
    fits = select_ridges(
        z["train"],
        z.get("val"),
        ys,
        words.get("train"),
        words.get("val"),
        LEXICAL_SCALES if vectorizer else (0.0,),
        RIDGE_ALPHAS,
        end.get("train"),
        end.get("val"),
        {t: END_SCALES for t in END_TARGETS},
    )
    lexical_weights = np.zeros((len(INTENSITY_TARGETS), len(vectorizer.vocabulary_)), np.float32) if vectorizer else None
    chosen = {}
    for k, target in enumerate(INTENSITY_TARGETS):
        if target not in fits:
            continue
        f = fits[target]
        head = model.intensity_heads[target].last
        coef = np.concatenate([f.coef_z, f.coef_e if f.coef_e is not None else np.zeros(h)]) if end else f.coef_z
        with torch.no_grad():
            head.weight.copy_(torch.as_tensor(coef / sd, dtype=head.weight.dtype)[None, :].expand_as(head.weight))
            head.bias.fill_(float(f.intercept - np.sum(coef * mu / sd)))
        if lexical_weights is not None and f.coef_w is not None:
            lexical_weights[k] = f.coef_w
        ok = ~np.isnan(ys[target][0])
        # where an explanation starts: the average training seeker, and what the average training text's words add
        # (a ridge with an intercept predicts the target's mean on average over its training rows)
        words_mean = float(np.mean(words["train"][np.flatnonzero(ok)] @ f.coef_w)) if f.coef_w is not None else 0.0
        chosen[target] = {
            "alpha": f.alpha,
            "lexical_scale": f.scale or None,
            "end_scale": f.end or None,
            "val_mse": f.val_mse,
            "train_mean": float(np.mean(ys[target][0][ok])),
            "words_mean": words_mean,
            "residuals": f.residuals,
        }
    model.lexical = LexicalIntensity.from_vectorizer(vectorizer, lexical_weights) if vectorizer else None
    if progress:
        progress(ProgressEvent(FITTING_HEADS, 1, 1))
    return chosen


def time_ridge(config: TrainConfig, data: TrainData, hidden: int) -> float:
    """Seconds the intensity heads' selection takes on features of the real shape: the CPU work no forward pass shows."""
    rng = np.random.default_rng(0)
    texts = [e.text for e in data.train]
    n, nv = len(texts), len(data.val)
    w = wv = None
    if config.lexical_intensity:
        vec = fit_vectorizer(texts)
        w = vec.transform(texts).astype(np.float64).tocsr()
        wv = vec.transform([e.text for e in data.val]).astype(np.float64).tocsr() if nv else None
    ys = {t: (rng.standard_normal(n), rng.standard_normal(nv)) for t in INTENSITY_TARGETS}
    features = (lambda rows: rng.standard_normal((rows, hidden)) if rows else None) if config.end_view else (lambda rows: None)
    t0 = time.perf_counter()
    select_ridges(
        rng.standard_normal((n, hidden)),
        rng.standard_normal((nv, hidden)) if nv else None,
        ys,
        w,
        wv,
        LEXICAL_SCALES if config.lexical_intensity else (0.0,),
        RIDGE_ALPHAS,
        features(n),
        features(nv),
        {t: END_SCALES for t in END_TARGETS},
    )
    return time.perf_counter() - t0
