"""Evaluation and agreement statistics, on scikit-learn, scipy and `krippendorff`.

`evaluate_predictions` returns the flat dict of the `evaluate --json` contract:
classification metrics, and for each intensity target MSE, MAE, Pearson (with
p), Spearman and n, with NaN gold values masked out. A metric that does not
apply (intensity of a classification-only model) is None.

Agreement: Krippendorff's alpha (interval and ordinal) with a bootstrap CI,
ICC(2,1) and ICC(2,k), pairwise quadratic-weighted kappa, and per-annotator
MAE / Pearson against a reference (gold or a model).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import krippendorff
import numpy as np
from scipy import stats
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support, recall_score

from .labels import INTENSITY_TARGETS


def _none_if_nan(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def entropy(probs: dict[str, float]) -> float:
    """Entropy (nats) of a predicted emotion distribution: the uncertainty queue's score."""
    p = np.clip(np.fromiter(probs.values(), dtype=float), 1e-12, 1.0)
    return float(-(p * np.log(p)).sum())


def classification_metrics(gold: Sequence[str], pred: Sequence[str]) -> dict[str, float]:
    return {
        "f1_weighted": float(f1_score(gold, pred, average="weighted", zero_division=0)),
        "recall_weighted": float(recall_score(gold, pred, average="weighted", zero_division=0)),
        "accuracy": float(accuracy_score(gold, pred)),
        "f1_macro": float(f1_score(gold, pred, average="macro", zero_division=0)),
    }


def per_class_report(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> list[dict[str, Any]]:
    p, r, f, s = precision_recall_fscore_support(gold, pred, labels=list(labels), zero_division=0)
    return [
        {"emotion": lab, "precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
        for i, lab in enumerate(labels)
    ]


def bootstrap_classification_ci(
    gold: Sequence[Any], pred: Sequence[Any], n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> dict[str, tuple[float, float]]:
    """Percentile CIs of accuracy and macro-F1, resampling items with replacement (seeded).

    Vectorised over the resamples from per-class counts. Macro-F1 averages the classes present
    (in gold or predictions) in each resample, as scikit-learn's `f1_score(average="macro")` does.
    """
    labels = np.union1d(np.asarray(gold), np.asarray(pred))
    g, p = np.searchsorted(labels, np.asarray(gold)), np.searchsorted(labels, np.asarray(pred))
    idx = np.random.default_rng(seed).integers(0, len(g), (n_boot, len(g)))
    G, P = g[idx], p[idx]
    hit = G == P
    tp = np.stack([(hit & (G == c)).sum(1) for c in range(len(labels))], 1)
    seen = np.stack([(G == c).sum(1) + (P == c).sum(1) for c in range(len(labels))], 1)
    f1 = np.divide(2 * tp, seen, out=np.zeros(tp.shape), where=seen > 0)
    macro = (f1 * (seen > 0)).sum(1) / (seen > 0).sum(1)
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    lo_hi = lambda x: tuple(float(v) for v in np.percentile(x, q))  # noqa: E731
    return {"accuracy": lo_hi(hit.mean(1)), "f1_macro": lo_hi(macro)}


def confusion_counts(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> list[list[int]]:
    """Rows are gold labels, columns predictions, both in `labels` order."""
    return confusion_matrix(gold, pred, labels=list(labels)).tolist()


def regression_metrics(gold: Sequence[float], pred: Sequence[float]) -> dict[str, float | int | None]:
    """MSE, MAE, Pearson r and p, Spearman rho, n; pairs with a NaN on either side are skipped."""
    g, p = np.asarray(gold, dtype=float), np.asarray(pred, dtype=float)
    m = ~(np.isnan(g) | np.isnan(p))
    g, p = g[m], p[m]
    out: dict[str, float | int | None] = {"mse": None, "mae": None, "pearson": None, "pearson_p": None, "spearman": None, "n": int(m.sum())}
    if len(g) == 0:
        return out
    out["mse"] = float(np.mean((g - p) ** 2))
    out["mae"] = float(np.mean(np.abs(g - p)))
    if len(g) > 2 and np.ptp(g) > 0 and np.ptp(p) > 0:
        r = stats.pearsonr(g, p)
        out["pearson"], out["pearson_p"] = _none_if_nan(r.statistic), _none_if_nan(r.pvalue)
        out["spearman"] = _none_if_nan(stats.spearmanr(g, p).statistic)
    return out


def evaluate_predictions(
    gold_emotion: Sequence[str],
    pred_emotion: Sequence[str],
    gold_intensity: dict[str, Sequence[float]] | None = None,
    pred_intensity: dict[str, Sequence[float]] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = classification_metrics(gold_emotion, pred_emotion)
    for t in INTENSITY_TARGETS:
        gold = (gold_intensity or {}).get(t)
        pred = (pred_intensity or {}).get(t)
        if gold is None or pred is None:
            n = int(np.sum(~np.isnan(np.asarray(gold, dtype=float)))) if gold is not None else 0
            reg = {"mse": None, "mae": None, "pearson": None, "pearson_p": None, "spearman": None, "n": n}
        else:
            reg = regression_metrics(gold, pred)
        for key in ("mse", "mae", "pearson", "pearson_p", "spearman", "n"):
            name = f"{key}_{t}" if key != "pearson_p" else f"pearson_p_{t}"
            out[name] = reg[key]
    return out


# ---------------------------------------------------------------------------
# agreement


SCALE = np.arange(1, 6)


def _value_counts(matrix: np.ndarray) -> np.ndarray:
    """raters x items (NaN = not rated) -> items x 5 counts of each scale value, the form `krippendorff` is fastest on."""
    m = np.asarray(matrix, dtype=float)
    return np.stack([(m == v).sum(axis=0) for v in SCALE], axis=1)


def _alpha_from_counts(vc: np.ndarray, level: str) -> float | None:
    vc = vc[vc.sum(axis=1) >= 2]  # items with fewer than two ratings carry no agreement information
    if len(vc) == 0 or np.count_nonzero(vc.sum(axis=0)) < 2:
        return None
    return _none_if_nan(krippendorff.alpha(value_counts=vc, level_of_measurement=level, value_domain=list(SCALE)))


def krippendorff_alpha(matrix: np.ndarray, level: str = "interval") -> float | None:
    """matrix: raters x items on the 1-5 scale, NaN where a rater did not rate an item."""
    return _alpha_from_counts(_value_counts(matrix), level)


def bootstrap_alpha(matrix: np.ndarray, level: str = "interval", n_boot: int = 200, seed: int = 0) -> tuple[float | None, float | None]:
    """95% CI by resampling items with replacement (on the per-item value counts, so it stays cheap at scale)."""
    vc = _value_counts(matrix)
    vc = vc[vc.sum(axis=1) >= 2]
    if len(vc) < 2:
        return None, None
    rng = np.random.default_rng(seed)
    vals = [a for a in (_alpha_from_counts(vc[rng.integers(0, len(vc), len(vc))], level) for _ in range(n_boot)) if a is not None]
    if len(vals) < 10:
        return None, None
    lo, hi = np.percentile(vals, [2.5, 97.5])
    return float(lo), float(hi)


def icc2(matrix: np.ndarray) -> dict[str, float | None]:
    """ICC(2,1) and ICC(2,k) (Shrout & Fleiss), on the items rated by every rater.

    matrix: raters x items. Two-way random effects, absolute agreement.
    """
    m = np.asarray(matrix, dtype=float)
    m = m[:, ~np.isnan(m).any(axis=0)].T  # items x raters, complete rows only
    n, k = m.shape if m.ndim == 2 else (0, 0)
    if n < 2 or k < 2:
        return {"icc2_1": None, "icc2_k": None, "icc_items": int(n)}
    grand = m.mean()
    ss_rows = k * ((m.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((m.mean(axis=0) - grand) ** 2).sum()
    ss_err = ((m - grand) ** 2).sum() - ss_rows - ss_cols
    msr, msc, mse = ss_rows / (n - 1), ss_cols / (k - 1), ss_err / ((n - 1) * (k - 1))
    denom1 = msr + (k - 1) * mse + k * (msc - mse) / n
    denomk = msr + (msc - mse) / n
    return {
        "icc2_1": _none_if_nan((msr - mse) / denom1) if denom1 else None,
        "icc2_k": _none_if_nan((msr - mse) / denomk) if denomk else None,
        "icc_items": int(n),
    }


def pairwise_qwk_arrays(matrix: np.ndarray, min_overlap: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Quadratic-weighted Cohen's kappa for every pair of raters, on the items both rated.

    With weights (i - j)^2, kappa = 1 - mean((a - b)^2) / (var(a) + var(b) + (mean(a) - mean(b))^2),
    which is what `cohen_kappa_score(weights="quadratic")` computes; in this form every pair
    comes out of a few matrix products, so 500 raters (125k pairs) take a fraction of a second.
    """
    m = np.asarray(matrix, dtype=float)
    k = (~np.isnan(m)).astype(float)
    x = np.nan_to_num(m)
    n = k @ k.T
    sa, sa2 = x @ k.T, (x * x) @ k.T  # row i, col j: sums of rater i's values on the items j also rated
    sab = x @ x.T
    i, j = np.triu_indices(m.shape[0], k=1)
    nij = n[i, j]
    keep = nij >= min_overlap
    i, j, nij = i[keep], j[keep], nij[keep]
    ma, mb = sa[i, j] / nij, sa[j, i] / nij
    disagreement = (sa2[i, j] + sa2[j, i] - 2 * sab[i, j]) / nij
    expected = (sa2[i, j] / nij - ma**2) + (sa2[j, i] / nij - mb**2) + (ma - mb) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = np.where(expected > 0, 1 - disagreement / expected, np.nan)
    return i, j, nij, kappa


def pairwise_qwk(
    matrix: np.ndarray, names: Sequence[str], min_overlap: int = 2, top: int | None = None, arrays: tuple[np.ndarray, ...] | None = None
) -> list[dict[str, Any]]:
    """Pairwise QWK as rows; with `top`, only the pairs that share the most items."""
    i, j, nij, kappa = arrays if arrays is not None else pairwise_qwk_arrays(matrix, min_overlap)
    order = np.argsort(-nij, kind="stable")[:top] if top is not None else np.arange(len(nij))
    return [{"a": names[i[k]], "b": names[j[k]], "n": int(nij[k]), "qwk": _none_if_nan(float(kappa[k]))} for k in order]


def qwk_summary(matrix: np.ndarray, min_overlap: int = 2, arrays: tuple[np.ndarray, ...] | None = None) -> dict[str, Any]:
    kappa = (arrays if arrays is not None else pairwise_qwk_arrays(matrix, min_overlap))[3]
    vals = kappa[np.isfinite(kappa)]
    if len(vals) == 0:
        return {"pairs": len(kappa), "mean": None, "median": None, "min": None, "max": None}
    return {
        "pairs": len(kappa),
        "mean": float(vals.mean()),
        "median": float(np.median(vals)),
        "min": float(vals.min()),
        "max": float(vals.max()),
    }


def rowwise_against(matrix: np.ndarray, reference: np.ndarray) -> list[dict[str, Any]]:
    """For each rater (row): n, MAE and Pearson r with p against a reference value per item (NaN skipped)."""
    m = np.asarray(matrix, dtype=float)
    ref = np.broadcast_to(np.asarray(reference, dtype=float), m.shape)
    ok = ~np.isnan(m) & ~np.isnan(ref)
    n = ok.sum(axis=1)
    x, y = np.where(ok, m, 0.0), np.where(ok, ref, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mae = np.abs(x - y).sum(axis=1) / n
        mx, my = x.sum(axis=1) / n, y.sum(axis=1) / n
        dx, dy = np.where(ok, m - mx[:, None], 0.0), np.where(ok, ref - my[:, None], 0.0)
        r = (dx * dy).sum(axis=1) / np.sqrt((dx**2).sum(axis=1) * (dy**2).sum(axis=1))
        r = np.clip(r, -1.0, 1.0)
        t = r * np.sqrt((n - 2) / np.maximum(1 - r**2, 1e-300))
        p = 2 * stats.t.sf(np.abs(t), np.maximum(n - 2, 1))
    out = []
    for k in range(m.shape[0]):
        valid = n[k] > 2 and np.isfinite(r[k])
        out.append(
            {
                "n": int(n[k]),
                "mae": _none_if_nan(float(mae[k])) if n[k] else None,
                "pearson": float(r[k]) if valid else None,
                "pearson_p": float(p[k]) if valid else None,
            }
        )
    return out


def mean_differences(matrix: np.ndarray, reference: np.ndarray) -> list[dict[str, Any]]:
    """For each rater (row): mean of (rating - reference) over the items both have, with a t-based 95% CI.

    `reference` is one value per item, or a raters x items array (a reference per rater, e.g. the consensus of the others).
    Positive means the rater rates higher than the reference.
    """
    m = np.asarray(matrix, dtype=float)
    ref = np.broadcast_to(np.asarray(reference, dtype=float), m.shape)
    out = []
    for row, r in zip(m, ref):
        d = (row - r)[~(np.isnan(row) | np.isnan(r))]
        n = len(d)
        if n == 0:
            out.append({"n": 0, "mean": None, "ci95": [None, None]})
            continue
        mean = float(d.mean())
        if n > 1 and d.std(ddof=1) > 0:
            half = float(stats.t.ppf(0.975, n - 1) * d.std(ddof=1) / math.sqrt(n))
            ci = [mean - half, mean + half]
        else:
            ci = [mean, mean] if n > 1 else [None, None]
        out.append({"n": n, "mean": mean, "ci95": ci})
    return out


def consensus_of_others(matrix: np.ndarray) -> np.ndarray:
    """raters x items: for each rating, the mean of the other raters of that item (NaN when nobody else rated it)."""
    m = np.asarray(matrix, dtype=float)
    ok = ~np.isnan(m)
    total, count = np.nansum(m, axis=0), ok.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        others = (total[None, :] - np.where(ok, m, 0.0)) / (count[None, :] - ok)
    return np.where(ok & (count[None, :] - ok > 0), others, np.nan)


def qwk_matrix(matrix: np.ndarray, min_overlap: int = 2) -> np.ndarray:
    """raters x raters pairwise QWK (NaN where two raters share fewer than `min_overlap` items; 1 on the diagonal)."""
    k = np.asarray(matrix).shape[0]
    out = np.full((k, k), np.nan)
    np.fill_diagonal(out, 1.0)
    i, j, _, kappa = pairwise_qwk_arrays(matrix, min_overlap)
    out[i, j] = out[j, i] = kappa
    return out
