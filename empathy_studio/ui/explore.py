"""Explore: pick an ESConv dialogue (search and filters) or type text, and see the model's reading of it."""

from __future__ import annotations

from typing import Any

import gradio as gr
import pandas as pd

from ..labels import ESCONV_EMOTIONS
from ..plots import probabilities, trajectory
from ..services import InputError, Studio
from .common import on, progress_bar
from .html import RATIONALE_LEGEND, banner_html, dialogue_html, empathy_badges, esc, marks_words, prediction_html, rationale_html, text_html

ANY = "any"
NO_RATER = "(no empathy rater)"
MAX_CHOICES = 400
PRED_COLUMNS = ("pred_emotion", "pred_initial", "pred_final", "pred_change")


def _count_label(choices: list) -> str:
    if len(choices) > MAX_CHOICES:
        return f"Dialogue ({MAX_CHOICES} of {len(choices)} shown; search or filter to narrow)"
    return f"Dialogue ({len(choices)} match)"


def _probabilities(pred: dict[str, Any], gold: str | None = None) -> Any:
    """The emotion bars, or none at all when the text is too short to read (the page never says "too little" and then draws)."""
    return gr.Plot(None, visible=False) if pred.get("too_little_text") else gr.Plot(probabilities(pred["probs"], gold), visible=True)


def _picker(studio: Studio, model_choices: list[str]) -> dict[str, Any]:
    """The data note, the model, the search and filters, the dialogue and the empathy rater."""
    problems = studio.problems()
    note, demo = studio.data_note()
    gr.HTML(banner_html(note, "warn" if demo else "info"))
    model = gr.Dropdown(
        model_choices, value=studio.default_model(model_choices), label="Model", elem_id="explore-model", allow_custom_value=True
    )  # a model published after the page was built: the registry checks the name
    query = gr.Textbox(label="Search seeker text or situation", placeholder="e.g. job, exam, breakup")
    with gr.Row():
        emotion = gr.Dropdown([ANY, *ESCONV_EMOTIONS], value=ANY, label="Gold emotion", min_width=120)
        split = gr.Dropdown([ANY, "train", "val", "test"], value=ANY, label="Split", min_width=100, elem_id="explore-split")
    with gr.Row():
        problem = gr.Dropdown([ANY, *problems], value=ANY, label="Problem", min_width=120)
        initial = gr.Dropdown([ANY, "1", "2", "3", "4", "5"], value=ANY, label="Gold initial", min_width=100)
    first = studio.dialogue_choices()
    dialogue = gr.Dropdown(first[:MAX_CHOICES], value=first[0][1] if first else None, label=_count_label(first), elem_id="explore-dialogue")
    raters = studio.rater_choices()
    built = studio.built_raters()  # a rater built on first use is offered, never chosen for the user
    rater = gr.Dropdown(
        [NO_RATER, *raters],
        value=built[0] if built else NO_RATER,
        label="Empathy rater (badges on supporter turns)",
        elem_id="explore-rater",
        allow_custom_value=True,
    )
    return dict(model=model, query=query, emotion=emotion, split=split, problem=problem, initial=initial, dialogue=dialogue, rater=rater)


def _other_inputs() -> dict[str, Any]:
    """The dialogue's button, and the other inputs: typed text, a (post, response) pair, an uploaded file."""
    show = gr.Button("Predict dialogue", variant="primary", elem_id="explore-run")
    with gr.Accordion("…or type text", open=False):
        text = gr.Textbox(label="Help-seeker text", lines=4, max_length=20_000, elem_id="explore-text")
        predict_btn = gr.Button("Predict text", elem_id="explore-predict-text")
    with gr.Accordion("…or score a supporter's response", open=False):
        post = gr.Textbox(label="Seeker's post", lines=3, max_length=20_000, elem_id="explore-post")
        response = gr.Textbox(label="Supporter's response", lines=3, max_length=20_000, elem_id="explore-response")
        rate_btn = gr.Button("Predict its empathy", elem_id="explore-rate")
        rating_html = gr.HTML(elem_id="explore-rating")
    with gr.Accordion("…or upload an ESConv-format file", open=False):
        upload = gr.File(label="ESConv.json / FailedESConv.json format", file_types=[".json", ".jsonl"], elem_id="explore-upload")
        upload_table = gr.Dataframe(
            label="Predictions for the uploaded dialogues", interactive=False, wrap=True, elem_id="explore-upload-table"
        )
    return dict(
        show=show,
        text=text,
        predict_btn=predict_btn,
        post=post,
        response=response,
        rate_btn=rate_btn,
        rating_html=rating_html,
        upload=upload,
        upload_table=upload_table,
    )


class ExploreEvents:
    """The tab's handlers: filter and show a dialogue, predict typed text or a file, predict a response's empathy."""

    def __init__(self, studio: Studio):
        self.studio = studio

    def filter_dialogues(self, who, q: str, emo: str, prob: str, sp: str, ini: str):
        choices = self.studio.dialogue_choices(q, emo, prob, sp, ini, actor=who)
        if not choices:
            gr.Warning("No dialogue matches these filters.")
        return gr.Dropdown(choices=choices[:MAX_CHOICES], value=choices[0][1] if choices else None, label=_count_label(choices))

    def explore_dialogue(self, who, model_name: str, dialogue_id: str, rater_name: str = NO_RATER, progress=gr.Progress()):
        if not dialogue_id:
            raise InputError("pick a dialogue first")
        self.studio.check_visible(who, dialogue_id)
        d = self.studio.dialogue(dialogue_id)
        progress(0.05, desc=f"loading {model_name}")
        pred = self.studio.predict_dialogues(model_name, [d], progress_bar(progress))[0].to_dict()
        progress(0.6, desc="trajectory")
        points = self.studio.trajectory(model_name, dialogue_id)
        words = self.studio.explain_intensity(model_name, self.studio.dialogue_texts(model_name, [d])[0])
        ratings = (
            {r["turn"]: r for r in self.studio.predict_turns(rater_name, d, progress_bar(progress))}
            if rater_name and rater_name != NO_RATER
            else None
        )
        return (
            prediction_html(pred, d, model_name, words, baseline=self.studio.intensity_baseline(model_name)),
            _probabilities(pred, d.emotion),
            gr.Plot(trajectory(points, d.initial, d.final), visible=True),
            dialogue_html(d, ratings=ratings),
        )

    def predict_response(self, _who, rater_name: str, post_text: str, response_text: str) -> str:
        if not rater_name or rater_name == NO_RATER:
            raise InputError("pick an empathy rater first (train one: empathy-studio train --task empathy --model minilm)")
        r = self.studio.predict_empathy(rater_name, [(post_text or "", response_text or "")])[0]
        rows = "".join(
            f"<tr><td>{esc(m.replace('_', ' '))}</td><td><b>{esc(v)}</b></td><td>"
            + " · ".join(f"{lv} {p:.0%}" for lv, p in r.probs[m].items())
            + "</td></tr>"
            for m, v in r.levels.items()
        )
        why = (
            f'<div class="es-turn es-supporter"><div class="es-who">the response, the words behind each mechanism marked</div>'
            f'<div class="es-text">{rationale_html(response_text, r.rationales, r.levels)}</div></div>'
            f'<div class="es-meta es-legend">{esc(RATIONALE_LEGEND)}</div>'
            if marks_words(r.to_dict())
            else ""
        )
        return (
            f'<div class="es-pred"><div class="es-meta">rater <b>{esc(rater_name)}</b>: {empathy_badges(r.levels, r.score)} '
            f'4-level: <b>{esc(r.level4)}</b></div><table class="es-table"><tr><th>mechanism</th><th>level</th><th>probabilities</th></tr>'
            f"{rows}</table>{why}</div>"
        )

    def predict_text(self, _who, model_name: str, value: str, progress=gr.Progress()) -> tuple[Any, ...]:
        if not value or not value.strip():
            raise InputError("type some text first")
        pred = self.studio.predict_texts(model_name, [value], progress_bar(progress))[0].to_dict()
        words = self.studio.explain_intensity(model_name, value)
        # one text has no turns to follow: the trajectory plot goes away rather than stay an empty frame
        html = prediction_html(pred, None, model_name, words, typed=True, baseline=self.studio.intensity_baseline(model_name))
        return html, _probabilities(pred), gr.Plot(None, visible=False), text_html(value)

    def predict_file(self, _who, model_name: str, path: str | None):
        if not path:
            raise InputError("upload a file first")
        dialogues = self.studio.load_upload(path)
        preds = self.studio.predict_dialogues(model_name, dialogues)
        rows = [
            {
                "#": i,
                "gold emotion": d.emotion,
                **{k: v for k, v in p.to_dict().items() if k in PRED_COLUMNS},
                "seeker text": d.seeker_text[:200],
            }
            for i, (d, p) in enumerate(zip(dialogues, preds))
        ]
        gr.Info(f"{len(rows)} dialogues predicted")
        return pd.DataFrame(rows)

    def wire(self, user: gr.State, p: dict[str, Any], i: dict[str, Any], outputs: list[Any]) -> None:
        filters = [p["query"], p["emotion"], p["problem"], p["split"], p["initial"]]
        on(
            lambda *a, **k: gr.on([c.change for c in filters], *a, **k),
            self.filter_dialogues,
            [user, *filters],
            p["dialogue"],
            api_name="filter_dialogues",
            show_progress="hidden",
        )
        shown = [user, p["model"], p["dialogue"], p["rater"]]
        on(i["show"].click, self.explore_dialogue, shown, outputs, api_name="explore_dialogue", concurrency_limit=2)
        # picking a dialogue shows its prediction at once (a pick, not the list refreshing under a filter)
        on(p["dialogue"].input, self.explore_dialogue, shown, outputs, api_name=False, concurrency_limit=2, trigger_mode="always_last")
        # `user` rides along (a hidden state, not an API argument) so the studio knows the caller: only an admin's first use builds a model
        on(
            i["rate_btn"].click,
            self.predict_response,
            [user, p["rater"], i["post"], i["response"]],
            i["rating_html"],
            api_name="predict_empathy",
            concurrency_limit=2,
        )
        on(i["predict_btn"].click, self.predict_text, [user, p["model"], i["text"]], outputs, api_name="predict_text", concurrency_limit=2)
        on(
            i["upload"].upload,
            self.predict_file,
            [user, p["model"], i["upload"]],
            i["upload_table"],
            api_name="predict_file",
            concurrency_limit=1,
        )
        on(i["text"].submit, self.predict_text, [user, p["model"], i["text"]], outputs, api_name=False, concurrency_limit=2)


def render(studio: Studio, model_choices: list[str], user: gr.State) -> list[tuple[gr.Dropdown, str]]:
    with gr.Row():
        with gr.Column(scale=2, min_width=300):
            picked = _picker(studio, model_choices)
            inputs = _other_inputs()
        with gr.Column(scale=3, min_width=360):
            pred_html = gr.HTML(elem_id="explore-prediction")
            probs_plot = gr.Plot(label="Emotion probabilities", elem_id="explore-probs")
            traj_plot = gr.Plot(label="Intensity trajectory", elem_id="explore-trajectory")
        with gr.Column(scale=3, min_width=320):
            chat = gr.HTML(elem_id="explore-chat")
    ExploreEvents(studio).wire(user, picked, inputs, [pred_html, probs_plot, traj_plot, chat])
    return [(picked["model"], "predict"), (picked["rater"], "rater-or-none")]
