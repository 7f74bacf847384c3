"""Agreement statistics over a ratings table, and ratings aggregated per item.

Inputs are plain rows as the store gives them, `(annotator, item, initial, final,
emotion)` for intensity and `(annotator, item, ER, IP, EX)` for response empathy, so
the same functions serve the app, the CLI, training on ratings and the benchmarks.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Iterable, Sequence

import numpy as np

from ..errors import ConfigError
from ..labels import EPITOME_MECHANISMS, ESCONV_EMOTIONS
from ..metrics import (
    _none_if_nan,
    bootstrap_alpha,
    consensus_of_others,
    icc2,
    krippendorff_alpha,
    mean_differences,
    pairwise_qwk,
    pairwise_qwk_arrays,
    qwk_matrix,
    qwk_summary,
    rowwise_against,
)

RatingRow = tuple[str, str, int, int, "str | None"]


def aggregate_ratings(
    table: Iterable[tuple[str, str, int, int, str | None]], how: str = "mean", min_annotators: int = 1
) -> dict[str, dict[str, Any]]:
    """item id -> {"initial", "final", "emotion" (majority or None), "n"} over items with enough annotators."""
    if how not in ("mean", "median"):
        raise ConfigError(f"aggregate must be mean or median, got {how!r}")
    by_item: dict[str, list[tuple[int, int, str | None]]] = defaultdict(list)
    for _, item, initial, final, emotion in table:
        by_item[item].append((initial, final, emotion))
    f = np.mean if how == "mean" else np.median
    out = {}
    for item, rows in by_item.items():
        if len(rows) < min_annotators:
            continue
        emotions = [e for _, _, e in rows if e]
        majority = max(set(emotions), key=emotions.count) if emotions else None
        out[item] = {
            "initial": float(f([r[0] for r in rows])),
            "final": float(f([r[1] for r in rows])),
            "emotion": majority,
            "n": len(rows),
        }
    return out


def aggregate_empathy(table: Iterable[tuple[str, str, int, int, int]], min_annotators: int = 1) -> dict[str, dict[str, Any]]:
    """item id -> {"levels": [ER, IP, EX] (each the median of the annotators, halves rounded up), "n"}: response-empathy
    ratings as training labels."""
    by_item: dict[str, list[tuple[int, ...]]] = defaultdict(list)
    for _, item, *levels in table:
        by_item[item].append(tuple(levels))
    return {
        item: {
            "levels": [int(math.floor(float(np.median([r[k] for r in rows])) + 0.5)) for k in range(len(EPITOME_MECHANISMS))],
            "n": len(rows),
        }
        for item, rows in by_item.items()
        if len(rows) >= min_annotators
    }


def _matrix(table: Sequence[tuple[str, str, int, int, str | None]], field: int, items: Sequence[str]) -> tuple[list[str], np.ndarray]:
    names = sorted({r[0] for r in table})
    ri = {n: i for i, n in enumerate(names)}
    ci = {it: j for j, it in enumerate(items)}
    m = np.full((len(names), len(items)), np.nan)
    for row in table:
        if row[1] in ci:
            m[ri[row[0]], ci[row[1]]] = row[field]
    return names, m


MAX_LISTED_PAIRS = 500
MAX_MATRIX = 60  # annotators up to which the full pairwise QWK matrix is reported (it is for the heatmap)


def agreement_report(
    table: Sequence[tuple[str, str, int, int, str | None]],
    gold: dict[str, dict[str, Any]],
    model: dict[str, dict[str, Any]] | None = None,
    n_boot: int = 200,
    per_emotion: bool = True,
) -> dict[str, Any]:
    """Inter-annotator agreement and agreement with gold (and a model) for initial and final intensity.

    gold: item id -> {"emotion", "initial", "final"}; model: item id -> {"pred_initial", "pred_final"}.
    Pairwise QWK is summarised over all pairs and listed for the pairs with the most shared items.
    """
    items = sorted({r[1] for r in table})
    report: dict[str, Any] = {"n_ratings": len(table), "n_items": len(items), "n_annotators": len({r[0] for r in table})}
    for field, target in ((2, "initial"), (3, "final")):
        names, m = _matrix(table, field, items)
        lo, hi = bootstrap_alpha(m, "interval", n_boot) if n_boot else (None, None)
        pairs = pairwise_qwk_arrays(m)
        gold_row = np.array([_nan(gold.get(it, {}).get(target)) for it in items], dtype=float)
        model_row = np.array([_nan((model or {}).get(it, {}).get(f"pred_{target}")) for it in items], dtype=float)
        vs_gold = rowwise_against(m, gold_row)
        vs_model = rowwise_against(m, model_row) if model is not None else None
        bias = {
            "consensus": mean_differences(m, consensus_of_others(m)),
            "gold": mean_differences(m, gold_row),
            **({"model": mean_differences(m, model_row)} if model is not None else {}),
        }
        report[target] = {
            "alpha_interval": krippendorff_alpha(m, "interval"),
            "alpha_interval_ci95": [lo, hi],
            "alpha_ordinal": krippendorff_alpha(m, "ordinal"),
            **icc2(m),
            "qwk": qwk_summary(m, arrays=pairs),
            "pairwise_qwk": pairwise_qwk(m, names, top=MAX_LISTED_PAIRS, arrays=pairs),
            "qwk_matrix": {"annotators": names, "values": [[None if math.isnan(v) else float(v) for v in row] for row in qwk_matrix(m)]}
            if len(names) <= MAX_MATRIX
            else None,
            "annotators": {
                name: {
                    "n": vs_gold[i]["n"],
                    "vs_gold": vs_gold[i],
                    **({"vs_model": vs_model[i]} if vs_model else {}),
                    "bias": {ref: rows[i] for ref, rows in bias.items()},
                }
                for i, name in enumerate(names)
            },
        }
    if per_emotion:
        by_emotion: dict[str, list[tuple[str, str, int, int, str | None]]] = defaultdict(list)
        for r in table:
            by_emotion[gold.get(r[1], {}).get("emotion")].append(r)
        report["per_emotion"] = {
            emo: agreement_report(by_emotion[emo], gold, model, n_boot=0, per_emotion=False)
            for emo in ESCONV_EMOTIONS
            if by_emotion.get(emo)
        }
    return report


def _nan(v: Any) -> float:
    return math.nan if v is None else float(v)


def empathy_agreement_report(
    table: Sequence[tuple[str, str, int, int, int]],
    gold: dict[str, Sequence[int]],
    model: dict[str, dict[str, Any]] | None = None,
    n_boot: int = 200,
) -> dict[str, Any]:
    """Agreement on response empathy, per mechanism: Krippendorff's alpha (ordinal, with a bootstrap CI), pairwise QWK,
    and each annotator's exact agreement and QWK with gold (EPITOME's levels) and with a rater's predictions.

    gold: item id -> [ER, IP, EX] levels; model: item id -> a rating's dict ({"levels": {mechanism: "none"|"weak"|"strong"}}).
    """
    from ..labels import EPITOME_LEVELS

    items = sorted({r[1] for r in table})
    report: dict[str, Any] = {"n_ratings": len(table), "n_items": len(items), "n_annotators": len({r[0] for r in table})}
    for k, mech in enumerate(EPITOME_MECHANISMS):
        names, m = _matrix(table, 2 + k, items)
        m = m + 1  # levels 0-2 on the 1-5 domain of the alpha helpers: a shift changes neither alpha nor QWK
        lo, hi = bootstrap_alpha(m, "ordinal", n_boot) if n_boot else (None, None)
        pairs = pairwise_qwk_arrays(m)
        refs = {"gold": np.array([gold[it][k] + 1 if it in gold else np.nan for it in items], dtype=float)}
        if model is not None:
            refs["model"] = np.array(
                [EPITOME_LEVELS.index(model[it]["pred_levels"][mech]) + 1 if it in model else np.nan for it in items], dtype=float
            )
        against = {ref: _exact_and_qwk(m, row) for ref, row in refs.items()}
        report[mech] = {
            "alpha_ordinal": krippendorff_alpha(m, "ordinal"),
            "alpha_ordinal_ci95": [lo, hi],
            "alpha_nominal": krippendorff_alpha(m, "nominal"),
            "qwk": qwk_summary(m, arrays=pairs),
            "pairwise_qwk": pairwise_qwk(m, names, top=MAX_LISTED_PAIRS, arrays=pairs),
            "qwk_matrix": {"annotators": names, "values": [[None if math.isnan(v) else float(v) for v in row] for row in qwk_matrix(m)]}
            if len(names) <= MAX_MATRIX
            else None,
            "annotators": {name: {ref: rows[i] for ref, rows in against.items()} for i, name in enumerate(names)},
        }
    return report


def _exact_and_qwk(matrix: np.ndarray, reference: np.ndarray) -> list[dict[str, Any]]:
    """For each rater: n, the share of items on the reference's level, and QWK with the reference."""
    out = []
    for row in matrix:
        ok = ~(np.isnan(row) | np.isnan(reference))
        n = int(ok.sum())
        kappa = pairwise_qwk_arrays(np.vstack([row[ok], reference[ok]]))[3] if n >= 2 else []
        out.append(
            {
                "n": n,
                "exact": float((row[ok] == reference[ok]).mean()) if n else None,
                "qwk": _none_if_nan(float(kappa[0])) if len(kappa) else None,
            }
        )
    return out
