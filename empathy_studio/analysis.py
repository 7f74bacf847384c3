"""The researcher's use cases over rows of gold and predicted labels: metrics, tables, downloads, filters.

A "row" is one item with its gold labels and a model's predictions, as
`Studio.split_predictions` gives them (predictions come from the store's cache).
Everything here is plain data in and out: the Analyze and Explore tabs, the CLI
and the benchmarks share it, and none of it loads a model.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

from .data import Dialogue
from .labels import INTENSITY_TARGETS
from .metrics import evaluate_predictions, per_class_report
from .models.calibration import reliability, softmax
from .plots import export_confusion, export_reliability, export_violin, fmt_p
from .sources import EsconvSource

ANY = "any"
METRIC_KEYS = ["n", "f1_weighted", "recall_weighted", "accuracy", "f1_macro", "ece"] + [
    f"{k}_{t}" for t in INTENSITY_TARGETS for k in ("mse", "mae", "pearson", "pearson_p", "spearman")
]


def has_intensity(rows: Sequence[dict[str, Any]]) -> bool:
    return bool(rows) and rows[0].get("pred_initial") is not None


def metrics_of(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Classification and intensity metrics of prediction rows against their gold labels."""
    gold_int = {t: [r[f"gold_{t}"] for r in rows] for t in INTENSITY_TARGETS}
    pred_int = {t: [math.nan if r.get(f"pred_{t}") is None else r[f"pred_{t}"] for r in rows] for t in INTENSITY_TARGETS}
    m = evaluate_predictions(
        [r["gold_emotion"] for r in rows], [r["pred_emotion"] for r in rows], gold_int, pred_int if has_intensity(rows) else None
    )
    return {"n": len(rows), **m, "ece": calibration_of(rows)["ece_after"] if rows and rows[0].get("probs") else None}


def calibration_of(rows: Sequence[dict[str, Any]], temperature: float = 1.0) -> dict[str, Any]:
    """ECE and reliability bins of the rows' emotion probabilities, and of the raw ones before `temperature` was applied."""
    import numpy as np

    labels = list(rows[0]["probs"])
    shown = np.array([[r["probs"][lab] for lab in labels] for r in rows])
    gold = [labels.index(r["gold_emotion"]) if r["gold_emotion"] in labels else -1 for r in rows]
    raw = softmax(np.log(np.clip(shown, 1e-12, None)), 1.0 / temperature)
    ece_before, bins_before = reliability(raw, gold)
    ece_after, bins_after = reliability(shown, gold)
    return {
        "temperature": temperature,
        "ece_before": ece_before,
        "ece_after": ece_after,
        "bins_before": bins_before,
        "bins_after": bins_after,
    }


def per_class(rows: Sequence[dict[str, Any]], labels: Sequence[str]) -> list[dict[str, Any]]:
    return per_class_report([r["gold_emotion"] for r in rows], [r["pred_emotion"] for r in rows], labels)


METRIC_NAMES = {
    "n": "items",
    "f1_weighted": "F1 (weighted)",
    "recall_weighted": "recall (weighted)",
    "accuracy": "accuracy",
    "f1_macro": "F1 (macro)",
    "ece": "expected calibration error",
    "mse": "MSE",
    "mae": "MAE",
    "pearson": "Pearson r",
    "pearson_p": "Pearson p",
    "spearman": "Spearman rho",
    "rationale_token_f1": "rationale token F1",
    "rationale_iou_f1": "rationale IOU F1",
    "rationale_n": "pairs with a gold rationale",
}


MECHANISM_SHORT = {"emotional_reactions": "ER", "interpretations": "IP", "explorations": "EX", "level4": "4-level"}


def metric_name(key: str) -> str:
    """`mse_initial` -> "MSE, initial"; `level4_f1_weighted` -> "4-level F1 (weighted)"; names a reader of a paper knows."""
    for t in INTENSITY_TARGETS:
        if key.endswith(f"_{t}") and key[: -len(t) - 1] in METRIC_NAMES:
            return f"{METRIC_NAMES[key[: -len(t) - 1]]}, {t}"
    for prefix, short in MECHANISM_SHORT.items():
        if key.startswith(f"{prefix}_") and key[len(prefix) + 1 :] in METRIC_NAMES:
            return f"{short} {METRIC_NAMES[key[len(prefix) + 1 :]]}"
    if key.startswith("score_") and key[6:] in METRIC_NAMES:
        return f"score {METRIC_NAMES[key[6:]]}"
    return METRIC_NAMES.get(key, key)


def metrics_table(metrics: dict[str, dict[str, Any]], compared: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """One row per metric, one column per model (in the order given); p-values in scientific notation.

    With two models, a "B − A" column, and for weighted F1 and each MSE the paired bootstrap 95% CI of that difference.
    """

    def show(key: str, v: Any) -> Any:
        if v is None:
            return None
        if key.startswith("pearson_p"):
            return fmt_p(v)
        return round(v, 4) if isinstance(v, float) else v

    rows = [{"metric": metric_name(k), **{name: show(k, m.get(k)) for name, m in metrics.items()}} for k in METRIC_KEYS]
    if len(metrics) == 2:
        (_, a), (_, b) = metrics.items()
        for row, k in zip(rows, METRIC_KEYS):
            both = isinstance(a.get(k), (int, float)) and isinstance(b.get(k), (int, float)) and k != "n" and not k.startswith("pearson_p")
            row["B − A"] = round(b[k] - a[k], 4) if both else None
            c = (compared or {}).get(k)
            row["B − A, 95% CI (paired bootstrap)"] = f"{c['ci95'][0]:+.4f} to {c['ci95'][1]:+.4f}" if c else None
    return rows


COMPARED = ("f1_weighted", "mse_initial", "mse_final", "mse_change")


def paired_bootstrap(
    rows_a: Sequence[dict[str, Any]], rows_b: Sequence[dict[str, Any]], n_boot: int = 500, seed: int = 0
) -> dict[str, dict[str, Any]]:
    """B − A for weighted F1 and each MSE on the items both models were scored on, with a 95% CI from
    resampling those items (the same resample for both models: a paired bootstrap)."""
    import numpy as np
    from sklearn.metrics import f1_score

    by_b = {r["item_id"]: r for r in rows_b}
    pairs = [(a, by_b[a["item_id"]]) for a in rows_a if a["item_id"] in by_b]
    if len(pairs) < 2:
        return {}
    gold = np.array([a["gold_emotion"] for a, _ in pairs])
    pred = {side: np.array([p[side]["pred_emotion"] for p in pairs]) for side in (0, 1)}

    def sq_err(side: int, t: str) -> np.ndarray:
        return np.array(
            [
                math.nan
                if p[side].get(f"pred_{t}") is None or p[0][f"gold_{t}"] is None
                else (p[side][f"pred_{t}"] - p[0][f"gold_{t}"]) ** 2
                for p in pairs
            ],
            dtype=float,
        )

    errs = {t: (sq_err(0, t), sq_err(1, t)) for t in INTENSITY_TARGETS}

    def stat(key: str, idx: np.ndarray) -> float:
        if key == "f1_weighted":
            return f1_score(gold[idx], pred[1][idx], average="weighted", zero_division=0) - f1_score(
                gold[idx], pred[0][idx], average="weighted", zero_division=0
            )
        a, b = errs[key[len("mse_") :]]
        return float(np.nanmean(b[idx]) - np.nanmean(a[idx]))

    rng = np.random.default_rng(seed)
    full = np.arange(len(pairs))
    out: dict[str, dict[str, Any]] = {}
    for key in COMPARED:
        if key != "f1_weighted" and (np.isnan(errs[key[4:]][0]).all() or np.isnan(errs[key[4:]][1]).all()):
            continue
        with np.errstate(all="ignore"):
            boots = [stat(key, rng.integers(0, len(pairs), len(pairs))) for _ in range(n_boot)]
        lo, hi = np.nanpercentile(boots, [2.5, 97.5])
        out[key] = {"difference": float(stat(key, full)), "ci95": [float(lo), float(hi)], "n": len(pairs)}
    return out


def prediction_table(rows: Sequence[dict[str, Any]], labels: Sequence[str], split: str) -> list[dict[str, Any]]:
    """One flat row per item: gold, the prediction, each class's probability, the 80% and 90% interval bounds, and the split."""
    out = []
    for r in rows:
        row: dict[str, Any] = {
            "item_id": r["item_id"],
            "split": split,
            "gold_emotion": r["gold_emotion"],
            **{f"gold_{t}": r.get(f"gold_{t}") for t in INTENSITY_TARGETS},
            "pred_emotion": r["pred_emotion"],
            **{f"pred_{t}": r.get(f"pred_{t}") for t in INTENSITY_TARGETS},
        }
        row.update({f"prob_{lab}": (r.get("probs") or {}).get(lab) for lab in labels})
        for t in INTENSITY_TARGETS:
            for level in ("0.8", "0.9"):
                lo, hi = (r.get(f"pred_{t}_interval") or {}).get(level) or (None, None)
                pct = int(float(level) * 100)
                row[f"pred_{t}_lo{pct}"], row[f"pred_{t}_hi{pct}"] = lo, hi
        row["too_little_text"] = r.get("too_little_text")
        out.append(row)
    return out


def zeror_rows(rows: Sequence[dict[str, Any]], label: str, means: dict[str, float]) -> list[dict[str, Any]]:
    """The same items as ZeroR predicts them: the majority class and each target's mean, of the model's own training data."""
    return [
        {
            **{k: r[k] for k in ("item_id", "gold_emotion", *(f"gold_{t}" for t in INTENSITY_TARGETS))},
            "pred_emotion": label,
            **{f"pred_{t}": means[t] for t in INTENSITY_TARGETS},
        }
        for r in rows
    ]


def write_downloads(
    rows: Sequence[dict[str, Any]],
    labels: Sequence[str],
    model: str,
    split: str,
    folder: Path,
    full_scale: bool = False,
    calibration: dict[str, Any] | None = None,
    zeror: Sequence[dict[str, Any]] | None = None,
) -> list[Path]:
    """Publication figures (PNG and SVG, the same figures as on screen: violins, confusion, reliability), the metrics with ZeroR
    beside them, the per-class table, and the predictions (class probabilities, interval bounds, split) of one model on one split."""
    import pandas as pd

    stem = f"{model}-{split}"
    paths: list[Path] = []
    if has_intensity(rows):
        for t in INTENSITY_TARGETS:
            paths += export_violin(
                [r[f"gold_{t}"] for r in rows], [r[f"pred_{t}"] for r in rows], t, folder, f"{stem}-violin-{t}", model, full_scale
            )
    paths += export_confusion(
        [r["gold_emotion"] for r in rows],
        [r["pred_emotion"] for r in rows],
        labels,
        folder,
        f"{stem}-confusion",
        f"Confusion matrix: {model}",
    )
    if calibration:
        paths += export_reliability(
            calibration["bins_before"],
            calibration["bins_after"],
            folder,
            f"{stem}-reliability",
            f"Reliability: {model} (ECE {calibration['ece_before']:.3f} raw, {calibration['ece_after']:.3f} scaled)",
        )
    metrics_csv, preds_csv, classes_csv = (
        folder / f"{stem}-metrics.csv",
        folder / f"{stem}-predictions.csv",
        folder / f"{stem}-per-class.csv",
    )
    columns = {model: metrics_of(rows), **({"ZeroR (majority class, training means)": metrics_of(zeror)} if zeror else {})}
    pd.DataFrame(metrics_table(columns)).to_csv(metrics_csv, index=False)
    pd.DataFrame(prediction_table(rows, labels, split)).to_csv(preds_csv, index=False)
    pd.DataFrame(per_class(rows, labels)).to_csv(classes_csv, index=False)
    return [*paths, metrics_csv, classes_csv, preds_csv]


def write_comparison(
    a: str, b: str, metrics: dict[str, dict[str, Any]], compared: dict[str, dict[str, Any]], split: str, folder: Path
) -> Path:
    """The on-screen comparison of two models: each metric for A and B, B − A, and the paired bootstrap 95% CI, as CSV."""
    import pandas as pd

    path = folder / f"{a}-vs-{b}-{split}-comparison.csv"
    pd.DataFrame(metrics_table(metrics, compared)).to_csv(path, index=False)
    return path


CHECK_AXES = ("seeker's own rating of the supporter's empathy", "mean predicted empathy (0-1)")


def write_rater_downloads(
    name: str,
    metrics: list[dict[str, Any]],
    mechanisms: list[dict[str, Any]],
    ev: dict[str, Any],
    check: dict[str, Any] | None,
    folder: Path,
) -> list[Path]:
    """The rater's section of Analyze for download: its tables (CSV), the 4-level and per-mechanism confusions and the external
    check's violin (PNG and SVG), and each conversation's mean predicted empathy beside the seeker's own rating (CSV)."""
    import pandas as pd

    from .labels import EMPATHY_SCALE, EPITOME_LEVELS, EPITOME_MECHANISMS

    paths = [folder / f"{name}-epitome-test-metrics.csv", folder / f"{name}-epitome-test-mechanisms.csv"]
    pd.DataFrame(metrics).to_csv(paths[0], index=False)
    pd.DataFrame(mechanisms).to_csv(paths[1], index=False)
    paths += export_confusion(
        ev["level4_gold"], ev["level4_pred"], list(EMPATHY_SCALE), folder, f"{name}-confusion-4-level", f"4-level confusion: {name}"
    )
    for m in EPITOME_MECHANISMS:
        paths += export_confusion(
            ev["mechanisms"][m]["gold"],
            ev["mechanisms"][m]["pred"],
            list(EPITOME_LEVELS),
            folder,
            f"{name}-confusion-{m}",
            f"{m.replace('_', ' ')}: {name}",
        )
    if check:
        stem = f"{name}-external-check-{check['dataset']}"
        paths += export_violin(
            check["self_rated"], check["predicted"], "empathy", folder, stem, name, x_title=CHECK_AXES[0], y_title=CHECK_AXES[1]
        )
        table = folder / f"{stem}.csv"
        pd.DataFrame({"seeker_empathy": check["self_rated"], "pred_mean_empathy": check["predicted"]}).to_csv(table, index=False)
        paths.append(table)
    return paths


def ratings_against(
    items: dict[str, dict[str, Any]], aggregated: dict[str, dict[str, Any]], predictions: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """Mean human ratings against gold, and a model's cached predictions against the (rounded) mean rating.

    items: item id -> store row (gold_*); aggregated: item id -> {"initial", "final"};
    predictions: item id -> cached prediction. Returns, per target, the (x, y) pairs of each comparison.
    """
    ids = [i for i in aggregated if i in items]
    out: dict[str, Any] = {"n_items": len(ids), "vs_gold": {}, "model_vs_ratings": {}}
    for t in ("initial", "final"):
        gold = [math.nan if items[i][f"gold_{t}"] is None else items[i][f"gold_{t}"] for i in ids]
        out["vs_gold"][t] = (gold, [aggregated[i][t] for i in ids])
        have = [i for i in ids if i in predictions]
        out["model_vs_ratings"][t] = ([round(aggregated[i][t]) for i in have], [predictions[i][f"pred_{t}"] for i in have])
    return out


def dialogue_choices(
    source: EsconvSource, query: str = "", emotion: str = ANY, problem: str = ANY, split: str = ANY, initial: str = ANY
) -> list[tuple[str, str]]:
    """(label, dialogue id) of the labelled dialogues that match a search and the filters, in dialogue order."""
    q = (query or "").strip().lower()
    out = []
    for name, dialogues in source.splits.items():
        if split not in (ANY, name):
            continue
        for d in dialogues:
            if emotion not in (ANY, d.emotion) or problem not in (ANY, d.problem):
                continue
            if initial != ANY and (math.isnan(d.initial) or int(d.initial) != int(initial)):
                continue
            if q and q not in d.seeker_text.lower() and q not in d.situation.lower():
                continue
            out.append((f"{d.dialogue_id} · {name} · {d.emotion} · {d.situation[:60]}", d.dialogue_id))
    return sorted(out, key=lambda c: _number(c[1]))


def _number(dialogue_id: str) -> int:
    tail = dialogue_id.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def problems(source: EsconvSource) -> list[str]:
    return sorted({d.problem for d in source.dialogues if d.problem})


def trajectory_prefixes(dialogue: Dialogue) -> list[str]:
    """The seeker's words up to and including each of their turns: the inputs of an intensity trajectory."""
    turns = dialogue.seeker_turns
    return [" ".join(turns[: i + 1]) for i in range(len(turns))]
