"""Analyze: a model (or two side by side) against gold on a split, and human ratings against gold and the model."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from ..annotation import aggregate_ratings, require
from ..labels import INTENSITY_TARGETS
from ..metrics import evaluate_predictions, per_class_report
from ..plots import confusion, export_confusion, export_violin, violin
from ..services import Studio
from .common import guard

NONE = "(none)"


def _metrics(studio: Studio, model: str, split: str, progress: Any = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    cb = (lambda d, t, what: progress(d / max(t, 1), desc=f"{model}: {what} {d}/{t}")) if progress else None
    rows = studio.split_predictions(model, split, cb)
    gold_int = {t: [r[f"gold_{t}"] for r in rows] for t in INTENSITY_TARGETS}
    pred_int = {t: [r.get(f"pred_{t}") if r.get(f"pred_{t}") is not None else float("nan") for r in rows] for t in INTENSITY_TARGETS}
    has_int = rows and rows[0].get("pred_initial") is not None
    m = evaluate_predictions([r["gold_emotion"] for r in rows], [r["pred_emotion"] for r in rows], gold_int, pred_int if has_int else None)
    return rows, m


def _figures(rows: list[dict[str, Any]], labels: list[str], who: str) -> list[Any]:
    figs = []
    for t in INTENSITY_TARGETS:
        if rows and rows[0].get(f"pred_{t}") is not None:
            figs.append(violin([r[f"gold_{t}"] for r in rows], [r[f"pred_{t}"] for r in rows], t, who))
        else:
            figs.append(None)
    figs.append(confusion([r["gold_emotion"] for r in rows], [r["pred_emotion"] for r in rows], labels, f"Confusion matrix: {who}"))
    return figs


def _table(metrics: dict[str, dict[str, Any]]) -> pd.DataFrame:
    keys = ["n", "f1_weighted", "recall_weighted", "accuracy", "f1_macro"] + [f"{k}_{t}" for t in INTENSITY_TARGETS for k in ("mse", "mae", "pearson", "pearson_p", "spearman")]
    def show(v: Any) -> Any:
        return round(v, 4) if isinstance(v, float) else v

    return pd.DataFrame([{"metric": k, **{name: show(m.get(k)) for name, m in metrics.items()}} for k in keys])


def render(studio: Studio, model_choices: list[str], user: gr.State) -> None:
    default = studio.settings.default_model if studio.settings.default_model in model_choices else model_choices[0]
    with gr.Row():
        model = gr.Dropdown(model_choices, value=default, label="Model", elem_id="analyze-model")
        other = gr.Dropdown([NONE, *model_choices], value=NONE, label="Compare with (e.g. parent vs fine-tuned child)", elem_id="analyze-other")
        split = gr.Dropdown(["test", "val", "train", "all"], value="test", label="Split (the paper's)")
        run = gr.Button("Analyze", variant="primary", elem_id="analyze-run")
    table = gr.Dataframe(label="Metrics", interactive=False, wrap=True, elem_id="analyze-metrics")
    with gr.Row(equal_height=False):
        with gr.Column():
            va = [gr.Plot(label=f"{t} ({'A'})", elem_id=f"analyze-violin-{t}") for t in INTENSITY_TARGETS]
            ca = gr.Plot(label="Confusion (A)", elem_id="analyze-confusion")
        with gr.Column(visible=False) as col_b:
            vb = [gr.Plot(label=f"{t} (B)") for t in INTENSITY_TARGETS]
            cb = gr.Plot(label="Confusion (B)")
    per_class = gr.Dataframe(label="Per-class precision / recall / F1", interactive=False)
    with gr.Row():
        export = gr.Button("Prepare downloads (PNG, SVG, CSV)", elem_id="analyze-export")
        files = gr.File(label="Downloads", file_count="multiple", interactive=False)
    with gr.Accordion("Human ratings against gold and against the model (admins)", open=False):
        ratings_btn = gr.Button("Ratings vs gold and vs model", elem_id="analyze-ratings")
        with gr.Row():
            rg = [gr.Plot(label=f"ratings vs gold: {t}") for t in ("initial", "final")]
        with gr.Row():
            rm = [gr.Plot(label=f"model vs ratings: {t}") for t in ("initial", "final")]

    @guard
    def analyze(model_name: str, other_name: str, split_name: str, progress=gr.Progress()):
        rows, m = _metrics(studio, model_name, split_name, progress)
        labels = studio.predictor(model_name).labels
        metrics = {f"A: {model_name}": {"n": len(rows), **m}}
        figs_b: list[Any] = [None, None, None, None]
        if other_name and other_name != NONE:
            rows_b, mb = _metrics(studio, other_name, split_name, progress)
            metrics[f"B: {other_name}"] = {"n": len(rows_b), **mb}
            figs_b = _figures(rows_b, labels, other_name)
        report = per_class_report([r["gold_emotion"] for r in rows], [r["pred_emotion"] for r in rows], labels)
        per_class_df = pd.DataFrame(report).round(4)
        return (_table(metrics), *_figures(rows, labels, model_name), *figs_b, per_class_df, gr.Column(visible=len(metrics) > 1))

    @guard
    def analyze_downloads(model_name: str, split_name: str) -> list[str]:
        rows, m = _metrics(studio, model_name, split_name)
        labels = studio.predictor(model_name).labels
        folder = Path(tempfile.mkdtemp(prefix="empathy-studio-"))
        paths: list[Path] = []
        for t in INTENSITY_TARGETS:
            if rows and rows[0].get(f"pred_{t}") is not None:
                paths += export_violin([r[f"gold_{t}"] for r in rows], [r[f"pred_{t}"] for r in rows], t, folder, f"{model_name}-{split_name}-violin-{t}")
        paths += export_confusion([r["gold_emotion"] for r in rows], [r["pred_emotion"] for r in rows], labels, folder, f"{model_name}-{split_name}-confusion")
        metrics_csv = folder / f"{model_name}-{split_name}-metrics.csv"
        _table({model_name: {"n": len(rows), **m}}).to_csv(metrics_csv, index=False)
        preds_csv = folder / f"{model_name}-{split_name}-predictions.csv"
        pd.DataFrame(rows).to_csv(preds_csv, index=False)
        return [str(p) for p in [*paths, metrics_csv, preds_csv]]

    @guard
    def analyze_ratings(who, model_name: str):
        require(who, "admin")
        agg = aggregate_ratings(studio.store.rating_table())
        if not agg:
            raise ValueError("no ratings yet")
        items = {it["id"]: it for it in studio.store.items()}
        ids = [i for i in agg if i in items]
        preds = studio.store.cached_predictions(model_name)
        out = []
        for t in ("initial", "final"):
            out.append(violin([items[i][f"gold_{t}"] if items[i][f"gold_{t}"] is not None else float("nan") for i in ids],
                              [agg[i][t] for i in ids], t, "human rating (mean)"))
        for t in ("initial", "final"):
            have = [i for i in ids if i in preds]
            if not have:
                gr.Warning(f"{model_name} has no cached predictions for the rated items; run Analyze on split 'all' first.")
                out.append(None)
                continue
            out.append(violin([round(agg[i][t]) for i in have], [preds[i][1][f"pred_{t}"] for i in have], t, f"{model_name} (vs rounded rating)"))
        return out

    run.click(analyze, [model, other, split], [table, *va, ca, *vb, cb, per_class, col_b], api_name="analyze", concurrency_limit=1)
    export.click(analyze_downloads, [model, split], files, api_name="analyze_downloads", concurrency_limit=1)
    ratings_btn.click(analyze_ratings, [user, model], [*rg, *rm], api_name="analyze_ratings", concurrency_limit=1)
