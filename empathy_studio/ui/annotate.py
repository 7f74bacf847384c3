"""Annotate: the rating queue, the item view, keyboard rating, editing earlier ratings, admin queue settings.

Gold labels and the model's prediction stay hidden unless an admin turns on
model-assisted mode, so they cannot anchor the annotator's judgement.
"""

from __future__ import annotations

from typing import Any

import gradio as gr
import pandas as pd

from ..labels import ESCONV_EMOTIONS, INTENSITY_ANCHORS
from ..services import QUEUE_ORDERS, InputError, Studio
from .common import banner_html, dialogue_html, esc, guard, prediction_html

SCALE = ["1", "2", "3", "4", "5"]
GUIDELINES = """
**What you rate.** How intense the help-seeker's emotion is, on 1-5, *at the start* of the chat
(initial) and *at the end* (final), judged from the seeker's own words.

**Anchors**
""" + "\n".join(f"- {a}" for a in INTENSITY_ANCHORS.values()) + """

**Emotion** (optional): the main emotion, if you can name it.
**Confidence** (optional): how sure you are, 1-5.

**Keys** (outside text fields): `1`-`5` set the highlighted scale (initial first, then final),
`↑`/`↓` switch scale, `Enter` saves and moves on, `s` skips, `b` goes back.
"""


def _progress(who, p: dict[str, int]) -> str:
    return banner_html(f"{who.name} ({who.role}): {p['mine']} of {p['total']} rated by you · team: {p['team']} items rated, "
                       f"{p['team_ratings']} ratings")


def render(studio: Studio, user: gr.State, model_choices: list[str]) -> None:
    item_id = gr.State(None)
    history = gr.State([])
    skipped = gr.State([])
    with gr.Column(elem_id="annotate-panel"):
        with gr.Row():
            with gr.Column(scale=3, min_width=360):
                progress_md = gr.HTML(banner_html("Sign in above to start rating."), elem_id="annotate-progress")
                assisted_html = gr.HTML(elem_id="annotate-assisted")
                chat = gr.HTML(elem_id="annotate-chat")
            with gr.Column(scale=2, min_width=300):
                anchors = "1 barely there · 2 mild · 3 moderate · 4 strong · 5 overwhelming"
                initial = gr.Radio(SCALE, label="Initial intensity (start of chat)", info=anchors, elem_id="rate-initial", elem_classes=["es-scale"])
                final = gr.Radio(SCALE, label="Final intensity (end of chat)", info=anchors, elem_id="rate-final", elem_classes=["es-scale"])
                emotion = gr.Dropdown(["", *ESCONV_EMOTIONS], value="", label="Emotion (optional)")
                confidence = gr.Slider(1, 5, value=3, step=1, label="Confidence")
                note = gr.Textbox(label="Note (optional)", lines=2, max_length=5000)
                with gr.Row():
                    back = gr.Button("← Back (b)", elem_id="back-item", size="sm")
                    skip = gr.Button("Skip (s)", elem_id="skip-item", size="sm")
                    submit = gr.Button("Save (Enter)", variant="primary", elem_id="submit-rating")
                with gr.Accordion("Guidelines", open=False):
                    gr.Markdown(GUIDELINES)
        with gr.Accordion("My ratings (pick one to edit)", open=False) as mine_panel:
            mine = gr.Dataframe(interactive=False, elem_id="my-ratings")
            with gr.Row():
                edit_id = gr.Textbox(label="Item id to edit", placeholder="esconv-12")
                edit_btn = gr.Button("Load for editing")
        with gr.Accordion("Queue settings (admins)", open=False):
            with gr.Row():
                order = gr.Dropdown(list(QUEUE_ORDERS), value=studio.annotation.queue_order(), label="Queue order")
                qmodel = gr.Dropdown(model_choices, value=model_choices[0], label="Model for uncertainty")
                assisted = gr.Checkbox(value=studio.annotation.assisted(), label="Model-assisted mode (shows prediction and gold)")
                save_queue = gr.Button("Apply")

    view = [item_id, chat, assisted_html, initial, final, emotion, confidence, note, progress_md]

    def show(who, target: str | None) -> list[Any]:
        if target is None:
            p = studio.annotation.progress(who)
            return [None, "<div class='es-banner es-info'>Nothing left to rate. Thank you!</div>", "", None, None, "", 3, "", _progress(who, p)]
        view = studio.rating_view(who, target)
        d, r = view["dialogue"], view["rating"] or {}
        helper = prediction_html(view["suggestion"], d, "assisted mode") if view["suggestion"] else ""
        edit_note = banner_html(f"Editing your rating of {target}", "warn") if r else ""
        return [target, edit_note + dialogue_html(d, show_gold=view["assisted"]), helper,
                str(r["initial"]) if r else None, str(r["final"]) if r else None, r.get("emotion") or "", r.get("confidence") or 3,
                r.get("note") or "", _progress(who, view["progress"])]

    def _next(who, skip_ids: list[str]) -> str | None:
        return next((i for i in studio.annotation.queue(who) if i not in set(skip_ids)), None)

    @guard
    def next_item(who, skip_ids: list[str]):
        studio.annotation.require(who)
        return show(who, _next(who, skip_ids or []))

    @guard
    def submit_rating(who, current: str | None, ini: str | None, fin: str | None, emo: str, conf: float, text: str, hist: list[str], skip_ids: list[str]):
        studio.annotation.require(who)
        if not current:
            raise InputError("no item loaded")
        if ini is None or fin is None:
            raise InputError("set both the initial and the final intensity (keys 1-5)")
        res = studio.annotation.rate(who, current, int(ini), int(fin), emotion=emo or None, confidence=int(conf), note=text or None)
        gr.Info(f"Saved {current} ({res['status']})")
        hist = [*(hist or []), current]
        return [*show(who, _next(who, skip_ids or [])), hist]

    @guard
    def skip_item(who, current: str | None, skip_ids: list[str], hist: list[str]):
        studio.annotation.require(who)
        skip_ids = [*(skip_ids or []), *([current] if current else [])]
        return [*show(who, _next(who, skip_ids)), skip_ids, [*(hist or []), *([current] if current else [])]]

    @guard
    def previous_item(who, hist: list[str]):
        studio.annotation.require(who)
        if not hist:
            raise InputError("nothing to go back to")
        return [*show(who, hist[-1]), hist[:-1]]

    @guard
    def load_item(who, target: str):
        studio.annotation.require(who)
        return show(who, studio.check_item(target))

    @guard
    def my_ratings(who):
        rows = studio.annotation.my_ratings(who)
        cols = ["item_id", "initial", "final", "emotion", "confidence", "note", "updated"]
        return pd.DataFrame([{c: (esc(r[c]) if c == "note" else r[c]) for c in cols} for r in rows], columns=cols)

    @guard
    def set_queue(who, order_name: str, model_name: str, on: bool) -> str:
        studio.set_queue(who, order_name, model_name, bool(on))
        gr.Info(f"Queue: {order_name}; assisted mode {'on' if on else 'off'}")
        return order_name

    submit.click(submit_rating, [user, item_id, initial, final, emotion, confidence, note, history, skipped], [*view, history],
                 api_name="submit_rating", concurrency_limit=None)
    # the table refreshes when it is opened, not after every rating: one event per submit keeps the queue short
    mine_panel.expand(my_ratings, user, mine, api_name="my_ratings", show_progress="hidden")
    skip.click(skip_item, [user, item_id, skipped, history], [*view, skipped, history], api_name="skip_item")
    back.click(previous_item, [user, history], [*view, history], api_name="previous_item")
    edit_btn.click(load_item, [user, edit_id], view, api_name="load_item")
    save_queue.click(set_queue, [user, order, qmodel, assisted], order, api_name="set_queue", concurrency_limit=1)
    user.change(next_item, [user, skipped], view, api_name="next_item", show_progress="hidden")
