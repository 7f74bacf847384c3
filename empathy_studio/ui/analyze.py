"""Analyze: a model (or two side by side) against gold on a split, and human ratings against gold and the model."""

from __future__ import annotations

from typing import Any

import gradio as gr
import pandas as pd

from ..labels import EMPATHY_SCALE, EPITOME_LEVELS, EPITOME_MECHANISMS, INTENSITY_TARGETS
from ..plots import confusion, reliability_diagram, violin
from ..services import SHARMA_2020, SHARMA_2020_NOTE, InputError, Studio, metric_name
from .common import on, progress_bar
from .html import banner_html

NONE = "(none)"
ALL_RATINGS = "every rating (mean per item)"
INLINE_TURNS = 1500  # supporter turns the external check scores within the request (about 20 s); more are the warmer's
PAIRS_PER_S = 82  # the rater's speed on 2 cores (bench/results/empathy-check.md), for the time a scoring takes


def _figures(result: dict[str, Any], full_scale: bool = False) -> list[Any]:
    rows, who = result["rows"], result["model"]
    figs: list[Any] = []
    for t in INTENSITY_TARGETS:
        has = rows and rows[0].get(f"pred_{t}") is not None
        figs.append(violin([r[f"gold_{t}"] for r in rows], [r[f"pred_{t}"] for r in rows], t, who, full_scale=full_scale) if has else None)
    figs.append(
        confusion([r["gold_emotion"] for r in rows], [r["pred_emotion"] for r in rows], result["labels"], f"Confusion matrix: {who}")
    )
    return figs


def _reliability(result: dict[str, Any]) -> Any:
    cal = result.get("calibration")
    if not cal:
        return None
    title = f"Reliability: {result['model']}  (ECE {cal['ece_before']:.3f} raw, {cal['ece_after']:.3f} at T = {cal['temperature']:.2f})"
    return reliability_diagram(cal["bins_before"], cal["bins_after"], title)


def _model_panel(studio: Studio, model_choices: list[str]) -> dict[str, Any]:
    """A model (A), and another (B) to compare with, on a split: metrics, violins per gold level, confusion, reliability, downloads."""
    default = studio.default_model(model_choices)
    datasets = studio.analysis_datasets()
    with gr.Row():
        # custom values: a model published after this page was built is a valid name for API callers too (the registry checks it)
        model = gr.Dropdown(model_choices, value=default, label="Model (A)", elem_id="analyze-model", allow_custom_value=True)
        other = gr.Dropdown(
            [NONE, *model_choices],
            value=NONE,
            label="Compare with (B), e.g. parent vs fine-tuned child",
            elem_id="analyze-other",
            allow_custom_value=True,
        )
        dataset = gr.Dropdown(
            datasets,
            value=datasets[0],
            label="Data",
            elem_id="analyze-dataset",
            info="failed: FailedESConv, chats where support did not work" if len(datasets) > 1 else None,
        )
        split = gr.Dropdown(["test", "val", "train", "all"], value="test", label="Split (the paper's)", elem_id="analyze-split")
        full = gr.Checkbox(False, label="Full scale on the y axis", elem_id="analyze-full-scale")
        run = gr.Button("Analyze", variant="primary", elem_id="analyze-run")
    note = gr.HTML(elem_id="analyze-note")
    table = gr.Dataframe(label="Metrics", interactive=False, wrap=True, elem_id="analyze-metrics")
    with gr.Row(equal_height=False):  # A and B side by side on a wide screen, one under the other below about 1,150 px
        with gr.Column(min_width=560):
            va = [gr.Plot(label=f"{t} (A)", elem_id=f"analyze-violin-{t}") for t in INTENSITY_TARGETS]
            ca = gr.Plot(label="Confusion (A)", elem_id="analyze-confusion")
            ra = gr.Plot(label="Reliability (A)", elem_id="analyze-reliability")
        with gr.Column(visible=False, min_width=560) as col_b:
            vb = [gr.Plot(label=f"{t} (B)") for t in INTENSITY_TARGETS]
            cb = gr.Plot(label="Confusion (B)")
            rb = gr.Plot(label="Reliability (B)")
    with gr.Row(equal_height=False):
        per_class = gr.Dataframe(label="Per-class precision / recall / F1 (A)", interactive=False, elem_id="analyze-per-class")
        with gr.Column(visible=False) as col_pb:
            per_class_b = gr.Dataframe(label="Per-class precision / recall / F1 (B)", interactive=False, elem_id="analyze-per-class-b")
    with gr.Row():
        export = gr.Button("Prepare downloads (the figures above as PNG and SVG, CSV tables; both models)", elem_id="analyze-export")
        files = gr.File(label="Downloads", file_count="multiple", interactive=False)
    return dict(
        model=model,
        other=other,
        dataset=dataset,
        split=split,
        full=full,
        run=run,
        note=note,
        table=table,
        va=va,
        ca=ca,
        ra=ra,
        col_b=col_b,
        vb=vb,
        cb=cb,
        rb=rb,
        per_class=per_class,
        col_pb=col_pb,
        per_class_b=per_class_b,
        export=export,
        files=files,
    )


def _rater_panel(studio: Studio) -> dict[str, Any]:
    """An empathy rater on EPITOME's test split, and against the seekers' own empathy ratings."""
    datasets = studio.analysis_datasets()
    with gr.Accordion("Empathy rater: EPITOME test split, and the seekers' own empathy ratings", open=False):
        raters, built = studio.rater_choices(), studio.built_raters()
        with gr.Row():
            rater = gr.Dropdown(
                raters, value=built[0] if built else None, label="Empathy rater", elem_id="analyze-rater", allow_custom_value=True
            )
            rater_data = gr.Dropdown(
                datasets[:2], value=datasets[0], label="Conversations for the external check", elem_id="analyze-rater-data"
            )
            rater_btn = gr.Button("Analyze the rater", elem_id="analyze-rater-run")
        rater_note = gr.HTML(elem_id="analyze-rater-note")
        rater_table = gr.Dataframe(label="EPITOME test split", interactive=False, elem_id="analyze-rater-metrics")
        with gr.Row():
            rater_confusion = gr.Plot(label="4-level confusion (EPITOME test)", elem_id="analyze-rater-confusion")
            rater_check = gr.Plot(
                label="Mean predicted empathy per conversation against the seeker's own rating", elem_id="analyze-rater-check"
            )
        rater_feedback = gr.Plot(
            label="The supporter turn just before a seeker's own feedback (FailedESConv)", elem_id="analyze-rater-feedback", visible=False
        )
        rater_mechanisms = gr.Dataframe(
            label=f"Per mechanism (EPITOME test; 95% CIs by bootstrap over its pairs). Beside it: {SHARMA_2020_NOTE}",
            interactive=False,
            elem_id="analyze-rater-mechanisms",
        )
        with gr.Row():
            rater_mech_confusions = [
                gr.Plot(label=f"{m.replace('_', ' ')}: confusion (EPITOME test)", elem_id=f"analyze-rater-confusion-{m}")
                for m in EPITOME_MECHANISMS
            ]
        rater_files = gr.File(
            label="The rater's tables (CSV) and figures (PNG, SVG)", file_count="multiple", interactive=False, elem_id="analyze-rater-files"
        )
    return dict(
        rater=rater,
        rater_data=rater_data,
        rater_btn=rater_btn,
        rater_note=rater_note,
        rater_table=rater_table,
        rater_confusion=rater_confusion,
        rater_check=rater_check,
        rater_feedback=rater_feedback,
        rater_mechanisms=rater_mechanisms,
        rater_mech_confusions=rater_mech_confusions,
        rater_files=rater_files,
    )


def _ratings_panel(studio: Studio) -> dict[str, Any]:
    with gr.Accordion("Human ratings against gold and against the model (admins)", open=False, elem_id="analyze-ratings-section"):
        with gr.Row():
            reference = gr.Dropdown(
                [ALL_RATINGS, *studio.release_choices()],
                value=ALL_RATINGS,
                label="Reference: every rating, or a release's consensus labels",
                elem_id="analyze-reference",
                scale=3,
                allow_custom_value=True,
            )  # a release made after the page loaded; the studio checks the id
            ratings_btn = gr.Button("Ratings vs gold and vs model", elem_id="analyze-ratings", scale=1)
        with gr.Row():
            rg = [gr.Plot(label=f"ratings vs gold: {t}") for t in ("initial", "final")]
        with gr.Row():
            rm = [gr.Plot(label=f"model vs ratings: {t}") for t in ("initial", "final")]

    return dict(reference=reference, ratings_btn=ratings_btn, rg=rg, rm=rm)


def _ci(bounds: list[float]) -> str:
    return f"{bounds[0]:.4f} to {bounds[1]:.4f}"


class AnalyzeEvents:
    """The tab's handlers: a model (or two) against gold, the empathy rater, human ratings against gold and the model."""

    def __init__(self, studio: Studio):
        self.studio = studio

    def analyze(self, who, model_name: str, other_name: str, data: str, split_name: str, full_scale: bool, progress=gr.Progress()):
        a = self.studio.analyze(model_name, split_name, progress_bar(progress), actor=who, dataset=data)
        notes = [a["dropped_note"]] if a["dropped_note"] else []
        if a["hidden"]:
            notes.append(f"{a['hidden']} items of blind rating campaigns are left out until those campaigns close.")
        metrics = {f"A: {model_name}": a["metrics"]}
        figs_b: list[Any] = [None] * 5
        compared, classes_b = None, None
        if other_name and other_name != NONE:
            b = self.studio.analyze(other_name, split_name, progress_bar(progress), actor=who, dataset=data)
            metrics[f"B: {other_name}"] = b["metrics"]
            figs_b = [*_figures(b, full_scale), _reliability(b)]
            compared = self.studio.compare(a, b)
            classes_b = pd.DataFrame(b["per_class"]).round(4)
        two = len(metrics) > 1
        return (
            banner_html(" ".join(notes)) if notes else "",
            pd.DataFrame(self.studio.metrics_table(metrics, compared)),
            *_figures(a, full_scale),
            _reliability(a),
            *figs_b,
            pd.DataFrame(a["per_class"]).round(4),
            classes_b,
            gr.Column(visible=two),
            gr.Column(visible=two),
        )

    def analyze_downloads(self, who, model_name: str, other_name: str, data: str, split_name: str, full_scale: bool) -> list[str]:
        names = [model_name] + ([other_name] if other_name and other_name != NONE else [])
        return [str(p) for p in self.studio.analysis_downloads(names, split_name, actor=who, dataset=data, full_scale=full_scale)]

    def analyze_ratings(self, who, model_name: str, ref: str = ALL_RATINGS):
        release = ref if ref and ref != ALL_RATINGS else None
        pairs = self.studio.ratings_comparison(who, model_name, release)
        whom = f"consensus of {release}" if release else "annotators"
        y_name = "consensus" if release else "annotator mean"
        out = [violin(*pairs["vs_gold"][t], t, f"{whom} vs the seeker", y_title=f"{y_name}, {t} intensity") for t in ("initial", "final")]
        for t in ("initial", "final"):
            x, y = pairs["model_vs_ratings"][t]
            if not x:
                gr.Warning(f"{model_name} has no cached predictions for the rated items; run Analyze on split 'all' first.")
                out.append(None)
                continue
            out.append(violin(x, y, t, f"{model_name} vs {whom}", x_title=f"{y_name}, {t} intensity (rounded)"))
        return out

    def analyze_rater(self, name: str, data: str, progress=gr.Progress()):
        """EPITOME's test split at once; the external check from the rater's cached turn scores. A few missing turns are scored
        here (said first, with the time it takes); many are left to the background warmer, and the page says so."""
        if not name:
            raise InputError("pick an empathy rater first (train one: empathy-studio train --task empathy --model minilm)")
        bar = progress_bar(progress)
        ev = self.studio.evaluate_rater(name, "test", bar)
        rows = [{"metric": metric_name(k), "value": round(v, 4)} for k, v in ev.items() if isinstance(v, float)]
        mech_rows = [
            {
                "mechanism": m.replace("_", " "),
                "accuracy": round(ev[f"{m}_accuracy"], 4),
                "accuracy 95% CI": _ci(ev[f"{m}_accuracy_ci95"]),
                "F1 macro": round(ev[f"{m}_f1_macro"], 4),
                "F1 macro 95% CI": _ci(ev[f"{m}_f1_macro_ci95"]),
                "F1 weighted": round(ev[f"{m}_f1_weighted"], 4),
                "Sharma et al. 2020 accuracy / F1 macro": f"{SHARMA_2020[m][0] / 100:.4f} / {SHARMA_2020[m][1] / 100:.4f}",
                **(
                    {
                        "rationale token F1": round(ev[f"{m}_rationale_token_f1"], 4),
                        "rationale IOU F1": round(ev[f"{m}_rationale_iou_f1"], 4),
                    }
                    if f"{m}_rationale_token_f1" in ev
                    else {}
                ),
            }
            for m in EPITOME_MECHANISMS
        ]
        mech_figs = [
            confusion(ev["mechanisms"][m]["gold"], ev["mechanisms"][m]["pred"], list(EPITOME_LEVELS), f"{m.replace('_', ' ')}: {name}")
            for m in EPITOME_MECHANISMS
        ]
        level4 = confusion(ev["level4_gold"], ev["level4_pred"], list(EMPATHY_SCALE), f"4-level confusion: {name}")
        missing, total = self.studio.rater_turns_missing(name, data)
        if missing > INLINE_TURNS:
            minutes = missing / PAIRS_PER_S / 60
            who_scores = (
                "The server's background warmer is scoring them (niced, one model at a time); open this again when it is done, "
                f"or on the server: empathy-studio warm --model {name}"
                if data == "esconv"
                else "On the server: empathy-studio score, or pick esconv, which the background warmer scores"
            )
            note = banner_html(
                f"The external check reads {name}'s scores of {total:,} supporter turns of {data}; {missing:,} are not scored "
                f"yet, about {minutes:.0f} minutes at the {PAIRS_PER_S} pairs/s measured on 2 cores. {who_scores}. The EPITOME "
                "test results above are ready.",
                "warn",
            )
            files = self.studio.rater_downloads(name, rows, mech_rows, ev, None)
            return (
                pd.DataFrame(rows),
                level4,
                gr.Plot(None, visible=False),
                gr.Plot(None, visible=False),
                pd.DataFrame(mech_rows),
                *mech_figs,
                note,
                [str(f) for f in files],
            )
        if missing:
            progress(
                0, desc=f"scoring the {missing:,} supporter turns of {data} not scored yet (about {max(1, missing / PAIRS_PER_S):.0f} s)"
            )
        check = self.studio.empathy_check(name, data, bar)
        fig = violin(
            check["self_rated"],
            check["predicted"],
            "empathy",
            f"{name} on {data}",
            x_title="seeker's own rating of the supporter's empathy",
            y_title="mean predicted empathy (0-1)",
        )
        fb = check["feedback"]
        per_turn = (
            gr.Plot(
                violin(
                    fb["seeker_feedback"],
                    fb["score_before"],
                    "empathy",
                    f"{name}, turn before the feedback",
                    x_title="seeker's feedback on the chat so far (1-5)",
                    y_title="predicted empathy (0-1)",
                ),
                visible=True,
            )
            if fb["seeker_feedback"]
            else gr.Plot(None, visible=False)
        )
        files = self.studio.rater_downloads(name, rows, mech_rows, ev, check)
        return (
            pd.DataFrame(rows),
            level4,
            gr.Plot(fig, visible=True),
            per_turn,
            pd.DataFrame(mech_rows),
            *mech_figs,
            "",
            [str(f) for f in files],
        )

    def wire(self, user: gr.State, m: dict[str, Any], r: dict[str, Any], h: dict[str, Any]) -> None:
        controls = [user, m["model"], m["other"], m["dataset"], m["split"], m["full"]]
        on(
            m["run"].click,
            self.analyze,
            controls,
            [
                m["note"],
                m["table"],
                *m["va"],
                m["ca"],
                m["ra"],
                *m["vb"],
                m["cb"],
                m["rb"],
                m["per_class"],
                m["per_class_b"],
                m["col_b"],
                m["col_pb"],
            ],
            api_name="analyze",
            concurrency_limit=1,
        )
        on(m["export"].click, self.analyze_downloads, controls, m["files"], api_name="analyze_downloads", concurrency_limit=1)
        # one progress bar (on the first table), not one on each of the section's outputs
        on(
            r["rater_btn"].click,
            self.analyze_rater,
            [r["rater"], r["rater_data"]],
            [
                r["rater_table"],
                r["rater_confusion"],
                r["rater_check"],
                r["rater_feedback"],
                r["rater_mechanisms"],
                *r["rater_mech_confusions"],
                r["rater_note"],
                r["rater_files"],
            ],
            api_name="analyze_rater",
            concurrency_limit=1,
            show_progress_on=[r["rater_table"]],
        )
        on(
            h["ratings_btn"].click,
            self.analyze_ratings,
            [user, m["model"], h["reference"]],
            [*h["rg"], *h["rm"]],
            api_name="analyze_ratings",
            concurrency_limit=1,
        )


def render(studio: Studio, model_choices: list[str], user: gr.State) -> list[tuple[gr.Dropdown, str]]:
    m, r, h = _model_panel(studio, model_choices), _rater_panel(studio), _ratings_panel(studio)
    AnalyzeEvents(studio).wire(user, m, r, h)
    return [(m["model"], "predict"), (m["other"], "predict-or-none"), (r["rater"], "rater"), (h["reference"], "reference")]
