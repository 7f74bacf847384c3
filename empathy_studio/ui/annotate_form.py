"""The Annotate tab's form: its texts (keys, the mechanisms, the general guidelines) and its components, built once.

`build_form` lays the tab out and returns the components as one `Form`, so the
event handlers (`annotate.py`) name each output they update instead of counting
positions in a list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from ..labels import EPITOME_MECHANISMS, ESCONV_EMOTIONS, INTENSITY_ANCHORS
from ..services import DEFAULT_CAMPAIGN, QUEUE_ORDERS, Studio
from .html import banner_html, esc, markdown_html

SCALE = ["1", "2", "3", "4", "5"]
LEVELS = ["0", "1", "2"]
KEYS = "Keys: 1-5 rate (initial, then final) · ↑↓ switch scale · Enter save · s skip · b back · u undo"
EMPATHY_KEYS = "Keys: 0-2 rate (ER, then IP, then EX) · ↑↓ switch mechanism · Enter save · s skip · b back · u undo"
MECHANISM_LABELS = {
    "emotional_reactions": (
        "Emotional reactions (ER)",
        'warmth, compassion, concern: 0 none · 1 weak ("I\'m sorry") · 2 strong (specific to what the seeker feels)',
    ),
    "interpretations": (
        "Interpretations (IP)",
        "understanding what the seeker feels or lives through: 0 none · 1 weak "
        '("I understand") · 2 strong (names their feelings or a shared experience)',
    ),
    "explorations": (
        "Explorations (EX)",
        "asking about the seeker's experience: 0 none · 1 weak (a generic question) · 2 strong (a specific question about what they said)",
    ),
}
EMPATHY_GUIDELINES = (
    """
**What you rate.** How the supporter's response shows empathy for the seeker's post, in EPITOME's three
mechanisms (Sharma et al., 2020), each 0 (none), 1 (weak) or 2 (strong):

"""
    + "\n".join(f"- **{label}**: {info}" for label, info in MECHANISM_LABELS.values())
    + """

**Keys** (outside text fields): `0`-`2` set the highlighted mechanism (ER first, then IP, then EX),
`↑`/`↓` switch mechanism, `Enter` saves and moves on, `s` skips, `b` goes back, `u` (or Ctrl+Z) undoes your last save.
"""
)
GUIDELINES = (
    """
**What you rate.** How intense the help-seeker's emotion is, on 1-5, *at the start* of the chat
(initial) and *at the end* (final), judged from the seeker's own words.

**Anchors**
"""
    + "\n".join(f"- {a}" for a in INTENSITY_ANCHORS.values())
    + """

**Emotion** (when asked): the main emotion, if you can name it.
**Per-turn intensity** (when asked): one 1-5 value per seeker turn, separated by commas.
**Confidence** (optional): how sure you are, 1-5; leave it empty if you would rather not say.

**Keys** (outside text fields): `1`-`5` set the highlighted scale (initial first, then final),
`↑`/`↓` switch scale, `Enter` saves and moves on, `s` skips, `b` goes back, `u` (or Ctrl+Z) undoes your last save.
"""
)


ANCHORS = "1 barely there · 2 mild · 3 moderate · 4 strong · 5 overwhelming"


@dataclass
class Practice:
    """A campaign's qualification: practice items with feedback after each answer, before its own items are served."""

    panel: Any
    head: Any
    item: Any
    item_id: Any
    intensity: Any
    empathy: Any
    initial: Any
    final: Any
    er: Any
    ip: Any
    ex: Any
    submit: Any
    feedback: Any

    @property
    def outputs(self) -> list[Any]:
        return [
            self.panel,
            self.head,
            self.item,
            self.item_id,
            self.intensity,
            self.empathy,
            self.initial,
            self.final,
            self.er,
            self.ip,
            self.ex,
            self.feedback,
        ]


@dataclass
class Form:
    """Every component of the tab that an event reads or updates."""

    item_id: Any
    guide_panel: Any
    guide: Any
    read: Any
    practice: Practice
    campaign: Any
    progress: Any
    assisted_html: Any
    chat: Any
    back: Any
    skip: Any
    undo: Any
    again: Any
    submit: Any
    submit_e: Any
    status: Any
    intensity_box: Any
    initial: Any
    final: Any
    emotion: Any
    turns: Any
    confidence: Any
    empathy_box: Any
    er: Any
    ip: Any
    ex: Any
    note: Any
    keys: Any
    zone: Any
    mine_panel: Any
    mine: Any
    order: Any
    qmodel: Any
    assisted: Any
    save_queue: Any

    @property
    def view(self) -> list[Any]:
        """What showing an item updates: the item, its text, the scales of its kind with their values, the progress."""
        return [
            self.item_id,
            self.chat,
            self.assisted_html,
            self.initial,
            self.final,
            self.emotion,
            self.turns,
            self.confidence,
            self.note,
            self.progress,
            self.er,
            self.ip,
            self.ex,
            self.intensity_box,
            self.empathy_box,
            self.keys,
            self.submit,
            self.submit_e,
        ]


def _practice_panel() -> Practice:
    with gr.Column(visible=False, elem_id="practice-panel") as panel:
        head = gr.HTML(elem_id="practice-head")
        item = gr.HTML(elem_id="practice-item")
        item_id = gr.Textbox(visible=False, elem_id="practice-current")
        with gr.Row() as intensity:
            initial = gr.Radio(SCALE, label="Initial intensity", elem_id="practice-initial")
            final = gr.Radio(SCALE, label="Final intensity", elem_id="practice-final")
        with gr.Row(visible=False) as empathy:
            er, ip, ex = (
                gr.Radio(LEVELS, label=MECHANISM_LABELS[m][0], elem_id=f"practice-{short}")
                for m, short in zip(EPITOME_MECHANISMS, ("er", "ip", "ex"))
            )
        submit = gr.Button("Answer", variant="primary", elem_id="practice-submit")
    feedback = gr.HTML(elem_id="practice-feedback")  # outside the panel: "you passed" stays in view
    return Practice(panel, head, item, item_id, intensity, empathy, initial, final, er, ip, ex, submit, feedback)


def _scales() -> dict[str, Any]:
    """The two kinds' scales: intensity (1-5, initial and final, and what a campaign adds) and empathy (0-2 per mechanism)."""
    with gr.Column(elem_id="intensity-form") as intensity_box:
        initial = gr.Radio(
            SCALE, label="Initial intensity (start of chat)", info=ANCHORS, elem_id="rate-initial", elem_classes=["es-scale"]
        )
        final = gr.Radio(SCALE, label="Final intensity (end of chat)", elem_id="rate-final", elem_classes=["es-scale"])
        emotion = gr.Dropdown(["", *ESCONV_EMOTIONS], value="", label="Emotion", visible=False, elem_id="rate-emotion")
        turns = gr.Textbox(label="Per-turn intensity (1-5 per seeker turn, commas)", visible=False, max_lines=1, elem_id="rate-turns")
        confidence = gr.Radio(SCALE, label="Confidence (optional)", elem_id="rate-confidence", elem_classes=["es-scale"])
    with gr.Column(elem_id="empathy-form", visible=False) as empathy_box:
        er, ip, ex = (
            gr.Radio(LEVELS, label=MECHANISM_LABELS[m][0], info=MECHANISM_LABELS[m][1], elem_id=f"rate-{short}", elem_classes=["es-scale"])
            for m, short in zip(EPITOME_MECHANISMS, ("er", "ip", "ex"))
        )
    return dict(
        intensity_box=intensity_box,
        initial=initial,
        final=final,
        emotion=emotion,
        turns=turns,
        confidence=confidence,
        empathy_box=empathy_box,
        er=er,
        ip=ip,
        ex=ex,
    )


def _rating_column() -> dict[str, Any]:
    """The buttons, the status line, the scales, the note and the keys, beside the item."""
    with gr.Row():
        back = gr.Button("← Back (b)", elem_id="back-item", size="sm", min_width=60)
        skip = gr.Button("Skip (s)", elem_id="skip-item", size="sm", min_width=60)
        undo = gr.Button("Undo (u)", elem_id="undo-rating", size="sm", min_width=60)
        again = gr.Button("Guidelines", elem_id="show-guidelines", size="sm", min_width=60)
        submit = gr.Button("Save (Enter)", variant="primary", elem_id="submit-rating", size="sm", min_width=90)
        submit_e = gr.Button("Save (Enter)", variant="primary", elem_id="submit-empathy", size="sm", min_width=90, visible=False)
    status = gr.HTML(elem_id="annotate-status")
    scales = _scales()
    note = gr.Textbox(label="Note (optional)", lines=2, max_length=5000, elem_id="rate-note")
    keys = gr.HTML(f"<div class='es-keys'>{esc(KEYS)}</div>", elem_id="annotate-keys")
    return dict(
        back=back, skip=skip, undo=undo, again=again, submit=submit, submit_e=submit_e, status=status, note=note, keys=keys, **scales
    )


def _admin_queue(studio: Studio, model_choices: list[str], admin_only: list[gr.Block]) -> dict[str, Any]:
    with gr.Accordion("Queue of the default campaign (admins)", open=False, visible=False) as queue_panel:
        admin_only.append(queue_panel)
        with gr.Row():
            order = gr.Dropdown(list(QUEUE_ORDERS), value=studio.queue_order(), label="Queue order")
            qmodel = gr.Dropdown(model_choices, value=model_choices[0] if model_choices else None, label="Model for uncertainty")
            assisted = gr.Checkbox(value=studio.assisted(), label="Model-assisted (shows the model's suggestion, never gold)")
            save_queue = gr.Button("Apply")
    return dict(order=order, qmodel=qmodel, assisted=assisted, save_queue=save_queue)


def build_form(studio: Studio, model_choices: list[str], admin_only: list[gr.Block]) -> Form:
    item_id = gr.State(None)
    with gr.Column(elem_id="annotate-panel"):
        # a campaign's guidelines, on first entry, at the top of the form: read before the first key (Enter: "I have read them")
        with gr.Column(visible=False, elem_id="annotate-guidelines") as guide_panel:
            guide = gr.HTML(markdown_html(GUIDELINES), elem_id="annotate-guidelines-text")
            read = gr.Button("I have read them (Enter)", variant="primary", size="sm", elem_id="guidelines-read")
        practice = _practice_panel()
        with gr.Row(equal_height=True):
            # custom values are checked by the studio itself (an unknown campaign is refused), so API callers may name any
            campaign = gr.Dropdown(
                [DEFAULT_CAMPAIGN],
                value=DEFAULT_CAMPAIGN,
                label="Campaign",
                elem_id="annotate-campaign",
                scale=1,
                min_width=160,
                allow_custom_value=True,
            )
            progress = gr.HTML(banner_html("Sign in above to start rating."), elem_id="annotate-progress")
        with gr.Row():
            with gr.Column(scale=3, min_width=360, elem_id="chat-col"):
                assisted_html = gr.HTML(elem_id="annotate-assisted")
                chat = gr.HTML(elem_id="annotate-chat")
            with gr.Column(scale=2, min_width=300, elem_id="rate-col"):
                column = _rating_column()
        # the browser's time zone, written here by the page's script, so times read as the annotator's own
        zone = gr.Textbox("", elem_id="browser-zone", elem_classes=["es-hidden"], container=False, show_label=False)
        with gr.Accordion("My ratings, newest first (click a row to open it)", open=False) as mine_panel:
            mine = gr.Dataframe(interactive=False, elem_id="my-ratings", wrap=True)
        queue = _admin_queue(studio, model_choices, admin_only)
    return Form(
        item_id=item_id,
        guide_panel=guide_panel,
        guide=guide,
        read=read,
        practice=practice,
        campaign=campaign,
        progress=progress,
        assisted_html=assisted_html,
        chat=chat,
        zone=zone,
        mine_panel=mine_panel,
        mine=mine,
        **column,
        **queue,
    )
