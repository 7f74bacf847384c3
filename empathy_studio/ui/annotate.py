"""Annotate: pick a campaign, rate its items by keyboard, go back, skip, undo, edit earlier ratings.

Two kinds of campaign share the tab: the intensity of a seeker's dialogue (1-5, initial
and final) and the empathy of a supporter's response to a post (EPITOME's three
mechanisms, 0-2 each); the form shows the scales of the campaign's kind.

Gold labels are never shown here; in an assisted campaign the model's suggestion
is. Where the annotator is (campaign, item, skips, history, an unsaved draft)
lives in the browser's session state, so a page reload carries on where it was.
Problems are warnings that leave the form as it was.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import gradio as gr
import pandas as pd

from ..labels import EPITOME_MECHANISMS, ESCONV_EMOTIONS, INTENSITY_ANCHORS
from ..services import DEFAULT_CAMPAIGN, QUEUE_ORDERS, InputError, PermissionDenied, Studio
from .common import banner_html, dialogue_html, esc, markdown_html, on, pair_html, prediction_html

SCALE = ["1", "2", "3", "4", "5"]
LEVELS = ["0", "1", "2"]
KEYS = "Keys: 1-5 rate (initial, then final) · ↑↓ switch scale · Enter save · s skip · b back · u undo"
EMPATHY_KEYS = "Keys: 0-2 rate (ER, then IP, then EX) · ↑↓ switch mechanism · Enter save · s skip · b back · u undo"
MECHANISM_LABELS = {"emotional_reactions": ("Emotional reactions (ER)", "warmth, compassion, concern: 0 none · 1 weak (\"I'm sorry\") · "
                                            "2 strong (specific to what the seeker feels)"),
                    "interpretations": ("Interpretations (IP)", "understanding what the seeker feels or lives through: 0 none · 1 weak "
                                        "(\"I understand\") · 2 strong (names their feelings or a shared experience)"),
                    "explorations": ("Explorations (EX)", "asking about the seeker's experience: 0 none · 1 weak (a generic question) · "
                                     "2 strong (a specific question about what they said)")}
EMPATHY_GUIDELINES = """
**What you rate.** How the supporter's response shows empathy for the seeker's post, in EPITOME's three
mechanisms (Sharma et al., 2020), each 0 (none), 1 (weak) or 2 (strong):

""" + "\n".join(f"- **{label}**: {info}" for label, info in MECHANISM_LABELS.values()) + """

**Keys** (outside text fields): `0`-`2` set the highlighted mechanism (ER first, then IP, then EX),
`↑`/`↓` switch mechanism, `Enter` saves and moves on, `s` skips, `b` goes back, `u` (or Ctrl+Z) undoes your last save.
"""
GUIDELINES = """
**What you rate.** How intense the help-seeker's emotion is, on 1-5, *at the start* of the chat
(initial) and *at the end* (final), judged from the seeker's own words.

**Anchors**
""" + "\n".join(f"- {a}" for a in INTENSITY_ANCHORS.values()) + """

**Emotion** (when asked): the main emotion, if you can name it.
**Per-turn intensity** (when asked): one 1-5 value per seeker turn, separated by commas.
**Confidence** (optional): how sure you are, 1-5; leave it empty if you would rather not say.

**Keys** (outside text fields): `1`-`5` set the highlighted scale (initial first, then final),
`↑`/`↓` switch scale, `Enter` saves and moves on, `s` skips, `b` goes back, `u` (or Ctrl+Z) undoes your last save.
"""


def _progress_html(p: dict[str, Any], campaign: str) -> str:
    if p["k"] is None:
        team = f"team: {p['complete']} of {p['items']} items rated"
    else:
        team = f"team: {p['complete']} of {p['items']} items have their {p['k']} ratings"
    pct = 100 * p["done"] / p["assigned"] if p["assigned"] else 100
    return (f"<div class='es-progress'><div class='es-meta'><b>{esc(campaign)}</b>: you have rated {p['done']} of {p['assigned']} · {team}</div>"
            f"<progress max='100' value='{pct:.0f}' style='width:100%'></progress></div>")


def _turns(text: str) -> list[int | None] | None:
    if not (text or "").strip():
        return None
    values = []
    for part in re.split(r"[\s,;]+", text.strip()):
        if part in ("", "-", "_"):
            values.append(None)
        elif part in SCALE:
            values.append(int(part))
        else:
            raise InputError(f"per-turn intensities are 1-5 separated by commas; {part!r} is not one of them")
    return values


def _local_time(stamp: str | None, zone: str) -> str | None:
    """A stored UTC time as "2026-12-02 08:41" in the browser's zone (UTC, said so, when the zone is unknown)."""
    if not stamp:
        return stamp
    try:
        when = datetime.fromisoformat(stamp)
        tz = ZoneInfo(zone) if zone else timezone.utc
    except (ValueError, ZoneInfoNotFoundError):
        return stamp
    return when.astimezone(tz).strftime("%Y-%m-%d %H:%M") + ("" if zone else " UTC")


def _level(value: Any) -> Any:
    """A mechanism level as the store takes it: "0"-"2" as a number; anything else as given, for the store to refuse."""
    return int(value) if isinstance(value, str) and value in LEVELS else value


def _session(value: Any) -> dict[str, Any]:
    """The browser's session state, or an empty one when it holds something else (an API caller may send anything)."""
    return value if isinstance(value, dict) else {}


def _guidelines(campaign: dict[str, Any], change: dict[str, Any] | None = None) -> str:
    """The campaign's own guidelines (an admin's Markdown, rendered without raw HTML or remote images), then the general ones;
    after an edit, first what changed since the version the annotator last read."""
    own = campaign.get("guidelines") or ""
    general = EMPATHY_GUIDELINES if campaign.get("kind") == "empathy" else GUIDELINES
    changed = (f"<div class='es-banner es-warn' id='guidelines-changed'>The guidelines of {esc(campaign['name'])} changed (version "
               f"{change['from']} → {change['to']}). What changed:</div><pre class='es-diff'>{esc(change['diff'])}</pre>" if change else "")
    head = f"<div class='es-meta'><b>Guidelines of {esc(campaign['name'])}</b></div>{markdown_html(own)}<hr>" if own else ""
    return changed + head + markdown_html(general)


def _read(studio: Studio, who: Any, camp: str, seen: list[str]) -> tuple[bool, list[str], dict[str, Any] | None]:
    """(show the guidelines, the session's read list, what changed): a campaign's guidelines open on first entry and again,
    with the change, once after each new version. The read list names "campaign@version" (a plain name: version 1)."""
    campaign = studio.campaign(camp)
    version = campaign.get("guideline_version") or 1
    key = f"{camp}@{version}"
    if key in seen or (version == 1 and camp in seen):
        return False, seen, None
    before = [int(s.rsplit("@", 1)[1]) for s in seen if s.rsplit("@", 1)[0] == camp and s.rsplit("@", 1)[1].isdigit()]
    last = max(before, default=1 if camp in seen else 0)
    return True, [*seen, key], studio.guideline_change(who, camp, last) if last else None


def render(studio: Studio, user: gr.State, session: gr.BrowserState, model_choices: list[str],
           admin_only: list[gr.Block]) -> list[tuple[gr.Dropdown, str]]:
    item_id = gr.State(None)
    with gr.Column(elem_id="annotate-panel"):
        # a campaign's guidelines, on first entry, at the top of the form: read before the first key (Enter: "I have read them")
        with gr.Column(visible=False, elem_id="annotate-guidelines") as guide_panel:
            guide = gr.HTML(markdown_html(GUIDELINES), elem_id="annotate-guidelines-text")
            read = gr.Button("I have read them (Enter)", variant="primary", size="sm", elem_id="guidelines-read")
        # a campaign's qualification: practice items with feedback after each answer, before its own items are served
        with gr.Column(visible=False, elem_id="practice-panel") as practice_panel:
            practice_head = gr.HTML(elem_id="practice-head")
            practice_item = gr.HTML(elem_id="practice-item")
            practice_id = gr.Textbox(visible=False, elem_id="practice-current")
            with gr.Row() as practice_intensity:
                p_initial = gr.Radio(SCALE, label="Initial intensity", elem_id="practice-initial")
                p_final = gr.Radio(SCALE, label="Final intensity", elem_id="practice-final")
            with gr.Row(visible=False) as practice_empathy:
                p_er, p_ip, p_ex = (gr.Radio(LEVELS, label=MECHANISM_LABELS[m][0], elem_id=f"practice-{short}")
                                    for m, short in zip(EPITOME_MECHANISMS, ("er", "ip", "ex")))
            p_submit = gr.Button("Answer", variant="primary", elem_id="practice-submit")
        practice_feedback = gr.HTML(elem_id="practice-feedback")  # outside the panel: "you passed" stays in view
        with gr.Row(equal_height=True):
            # custom values are checked by the studio itself (an unknown campaign is refused), so API callers may name any
            campaign = gr.Dropdown([DEFAULT_CAMPAIGN], value=DEFAULT_CAMPAIGN, label="Campaign", elem_id="annotate-campaign", scale=1, min_width=160,
                                   allow_custom_value=True)
            progress_html = gr.HTML(banner_html("Sign in above to start rating."), elem_id="annotate-progress")
        with gr.Row():
            with gr.Column(scale=3, min_width=360, elem_id="chat-col"):
                assisted_html = gr.HTML(elem_id="annotate-assisted")
                chat = gr.HTML(elem_id="annotate-chat")
            with gr.Column(scale=2, min_width=300, elem_id="rate-col"):
                with gr.Row():
                    back = gr.Button("← Back (b)", elem_id="back-item", size="sm", min_width=60)
                    skip = gr.Button("Skip (s)", elem_id="skip-item", size="sm", min_width=60)
                    undo = gr.Button("Undo (u)", elem_id="undo-rating", size="sm", min_width=60)
                    again = gr.Button("Guidelines", elem_id="show-guidelines", size="sm", min_width=60)
                    submit = gr.Button("Save (Enter)", variant="primary", elem_id="submit-rating", size="sm", min_width=90)
                    submit_e = gr.Button("Save (Enter)", variant="primary", elem_id="submit-empathy", size="sm", min_width=90, visible=False)
                status = gr.HTML(elem_id="annotate-status")
                with gr.Column(elem_id="intensity-form") as intensity_box:
                    anchors = "1 barely there · 2 mild · 3 moderate · 4 strong · 5 overwhelming"
                    initial = gr.Radio(SCALE, label="Initial intensity (start of chat)", info=anchors, elem_id="rate-initial", elem_classes=["es-scale"])
                    final = gr.Radio(SCALE, label="Final intensity (end of chat)", elem_id="rate-final", elem_classes=["es-scale"])
                    emotion = gr.Dropdown(["", *ESCONV_EMOTIONS], value="", label="Emotion", visible=False, elem_id="rate-emotion")
                    turns = gr.Textbox(label="Per-turn intensity (1-5 per seeker turn, commas)", visible=False, max_lines=1, elem_id="rate-turns")
                    confidence = gr.Radio(SCALE, label="Confidence (optional)", elem_id="rate-confidence", elem_classes=["es-scale"])
                with gr.Column(elem_id="empathy-form", visible=False) as empathy_box:
                    er, ip, ex = (gr.Radio(LEVELS, label=MECHANISM_LABELS[m][0], info=MECHANISM_LABELS[m][1], elem_id=f"rate-{short}",
                                           elem_classes=["es-scale"]) for m, short in zip(EPITOME_MECHANISMS, ("er", "ip", "ex")))
                note = gr.Textbox(label="Note (optional)", lines=2, max_length=5000, elem_id="rate-note")
                keys = gr.HTML(f"<div class='es-keys'>{esc(KEYS)}</div>", elem_id="annotate-keys")
        # the browser's time zone, written here by the page's script, so times read as the annotator's own
        zone = gr.Textbox("", elem_id="browser-zone", elem_classes=["es-hidden"], container=False, show_label=False)
        with gr.Accordion("My ratings, newest first (click a row to open it)", open=False) as mine_panel:
            mine = gr.Dataframe(interactive=False, elem_id="my-ratings", wrap=True)
        with gr.Accordion("Queue of the default campaign (admins)", open=False, visible=False) as queue_panel:
            admin_only.append(queue_panel)
            with gr.Row():
                order = gr.Dropdown(list(QUEUE_ORDERS), value=studio.queue_order(), label="Queue order")
                qmodel = gr.Dropdown(model_choices, value=model_choices[0] if model_choices else None, label="Model for uncertainty")
                assisted = gr.Checkbox(value=studio.assisted(), label="Model-assisted (shows the model's suggestion, never gold)")
                save_queue = gr.Button("Apply")

    view = [item_id, chat, assisted_html, initial, final, emotion, turns, confidence, note, progress_html,
            er, ip, ex, intensity_box, empathy_box, keys, submit, submit_e]

    def form(kind: str) -> list[Any]:
        """The scales of the campaign's kind, shown; the others hidden (and their keys with them)."""
        empathy = kind == "empathy"
        return [gr.Column(visible=not empathy), gr.Column(visible=empathy), f"<div class='es-keys'>{esc(EMPATHY_KEYS if empathy else KEYS)}</div>",
                gr.Button(visible=not empathy), gr.Button(visible=empathy)]

    def next_or_why(who, camp: str, skips: Any = ()) -> tuple[str | None, str | None]:
        """The annotator's next item, or why there is none for them now (a qualification to pass, a pause)."""
        try:
            return studio.next_in(who, camp, skips), None
        except PermissionDenied as exc:
            return None, str(exc)

    def shown(who, camp: str, target: str | None, why: str | None, draft: dict | None = None) -> list[Any]:
        out = show(who, camp, target, draft)
        if why:
            out[1] = banner_html(f"No items for you now: {why}", "warn")
        return out

    def show(who, camp: str, target: str | None, draft: dict | None = None) -> list[Any]:
        kind = studio.campaign(camp)["kind"]
        if target is None:
            p = studio.progress(who, camp)
            return [None, "<div class='es-banner es-info'>Nothing left to rate in this campaign. Thank you!</div>", "", None, None,
                    gr.Dropdown(value=""), gr.Textbox(value=""), None, "", _progress_html(p, camp), None, None, None, *form(kind)]
        if kind == "empathy":
            return show_pair(who, camp, target, draft)
        v = studio.rating_view(who, target, camp)
        d, r, scales = v["dialogue"], v["rating"] or {}, v["campaign"]["scales"]
        values = {"initial": str(r["initial"]) if r else None, "final": str(r["final"]) if r else None, "emotion": r.get("emotion") or "",
                  "turns": ", ".join("-" if t is None else str(t) for t in (r.get("turn_intensities") or [])),
                  "confidence": str(r["confidence"]) if r.get("confidence") else None, "note": r.get("note") or ""}
        values.update({k: val for k, val in (draft or {}).items() if k in values})
        helper = prediction_html(v["suggestion"], None, "the model's suggestion (assisted campaign)") if v["suggestion"] else ""
        edit_note = banner_html(f"Editing your rating of {target}", "warn") if r else ""
        return [target, edit_note + dialogue_html(d, show_gold=False), helper, values["initial"], values["final"],
                gr.Dropdown(value=values["emotion"], visible="emotion" in scales), gr.Textbox(value=values["turns"], visible="turns" in scales),
                values["confidence"], values["note"], _progress_html(v["progress"], camp), None, None, None, *form("intensity")]

    def show_pair(who, camp: str, target: str, draft: dict | None) -> list[Any]:
        v = studio.rating_view(who, target, camp)
        r, pair = v["rating"] or {}, v["pair"]
        values = {**{m: str(r[m]) if r else None for m in EPITOME_MECHANISMS}, "note": r.get("note") or ""}
        values.update({k: val for k, val in (draft or {}).items() if k in values})
        edit_note = banner_html(f"Editing your rating of {target}", "warn") if r else ""
        helper = banner_html(f"Assisted campaign: the levels under the response are {v['rater']}'s suggestion", "info") if v["suggestion"] else ""
        return [target, edit_note + pair_html(target, pair["post"], pair["response"], v["suggestion"], v["rater"]), helper, None, None,
                gr.Dropdown(value="", visible=False), gr.Textbox(value="", visible=False), None, values["note"], _progress_html(v["progress"], camp),
                *(values[m] for m in EPITOME_MECHANISMS), *form("empathy")]

    def remember(sess: dict | None, **changes: Any) -> dict:
        return {**_session(sess), **changes}

    def cleared() -> list[Any]:
        """The form with nobody's work on it: no item, no values, no progress (what a shared computer shows after sign-out)."""
        return [None, "", "", None, None, gr.Dropdown(value=""), gr.Textbox(value=""), None, "", banner_html("Sign in above to start rating."),
                None, None, None, *form("intensity")]

    def enter(who, sess: dict | None):
        """Signed in (or a reload found the session): the campaign, the item and the draft where they were.
        Signed out: the form, the status line and "My ratings" are cleared."""
        if who is None:
            return [gr.Dropdown(choices=[DEFAULT_CAMPAIGN], value=DEFAULT_CAMPAIGN), *cleared(), "", pd.DataFrame(), gr.skip(),
                    gr.Column(visible=False), markdown_html(GUIDELINES)]
        names = studio.campaign_names(who)
        sess = _session(sess)
        camp = sess.get("campaign") if sess.get("campaign") in names else studio.first_campaign_with_work(who, names)
        target = sess.get("item") if studio.in_campaign(camp, sess.get("item")) else None  # a session names only its campaign's items
        why = None
        if not target:
            target, why = next_or_why(who, camp, sess.get("skips") or [])
        first, seen, change = _read(studio, who, camp, sess.get("seen") or [])
        return [gr.Dropdown(choices=names, value=camp), *shown(who, camp, target, why, sess.get("draft")), gr.skip(), gr.skip(),
                remember(sess, campaign=camp, item=target, seen=seen),
                gr.Column(visible=first), _guidelines(studio.campaign(camp), change)]

    def switch(who, camp: str, sess: dict | None):
        studio.require(who)
        sess = _session(sess)
        target, why = next_or_why(who, camp)
        first, seen, change = _read(studio, who, camp, sess.get("seen") or [])
        return [*shown(who, camp, target, why), remember(sess, campaign=camp, item=target, skips=[], history=[], draft=None, seen=seen),
                gr.Column(visible=first), _guidelines(studio.campaign(camp), change)]

    def submit_rating(who, camp, current, ini, fin, emo, turn_text, conf, text, sess):
        studio.require(who)
        if not current:
            raise InputError("no item loaded")
        if ini is None or fin is None:
            raise InputError("set both the initial and the final intensity (keys 1-5)")
        per_turn = _turns(turn_text)
        if per_turn:
            n = len(studio.dialogue(current).seeker_turns)
            if len(per_turn) > n:
                raise InputError(f"{len(per_turn)} per-turn intensities for {n} seeker turn{'s' if n != 1 else ''}: one value per seeker turn")
        res = studio.rate(who, current, int(ini), int(fin), campaign=camp, emotion=emo or None, confidence=int(conf) if conf else None,
                                     note=text or None, turn_intensities=per_turn)
        return saved_and_next(who, camp, current, res, sess)

    def submit_empathy(who, camp, current, er_, ip_, ex_, text, sess):
        studio.require(who)
        if not current:
            raise InputError("no item loaded")
        levels = dict(zip(EPITOME_MECHANISMS, (er_, ip_, ex_)))
        missing = [MECHANISM_LABELS[m][0] for m, v in levels.items() if v in (None, "")]
        if missing:
            raise InputError(f"set {', '.join(missing)} (keys 0-2)")
        res = studio.rate_empathy(who, current, {m: _level(v) for m, v in levels.items()}, camp, note=text or None)
        return saved_and_next(who, camp, current, res, sess)

    def saved_and_next(who, camp, current, res, sess):
        sess = _session(sess)
        if res.get("attention"):  # a missed attention check: what was expected, or the pause
            gr.Warning(esc(res["attention"]), duration=None)
        saved = f"<div class='es-status'>Saved {esc(current)} ({esc(res['status'])})</div>"
        history = [*(sess.get("history") or []), current]
        nxt, why = next_or_why(who, camp, sess.get("skips") or [])  # paused just now: the rating is saved, no next item
        return [*shown(who, camp, nxt, why), saved, remember(sess, item=nxt, history=history, draft=None)]

    def skip_item(who, camp, current, sess):
        studio.require(who)
        sess = _session(sess)
        skips = [*(sess.get("skips") or []), *([current] if current else [])]
        studio.skip(who, camp, current)
        nxt, why = next_or_why(who, camp, skips)
        return [*shown(who, camp, nxt, why), "", remember(sess, item=nxt, skips=skips, history=[*(sess.get("history") or []), *([current] if current else [])],
                                                     draft=None)]

    def previous_item(who, camp, sess):
        studio.require(who)
        sess = _session(sess)
        hist = sess.get("history") or []
        if not hist:
            raise InputError("nothing to go back to: this is the first item of this visit")
        return [*show(who, camp, hist[-1]), "", remember(sess, item=hist[-1], history=hist[:-1], draft=None)]

    def undo_last(who, camp, sess):
        done = studio.undo(who, camp)
        if done is None:
            raise InputError("nothing to undo")
        what = "restored its previous values" if done["restored"] else "withdrew it; rate it again"
        return [*show(who, camp, done["item_id"]), f"<div class='es-status'>Undid your last save of {esc(done['item_id'])}: {what}</div>",
                remember(sess, item=done["item_id"], draft=None)]

    def open_rating(who, camp, sess, evt: gr.SelectData):
        studio.require(who)
        rows = studio.my_ratings(who, studio.campaign(camp)["kind"])
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        if row is None or not 0 <= row < len(rows):
            raise InputError("pick a row of the table")
        target, where = rows[row]["item_id"], rows[row]["campaign"] or DEFAULT_CAMPAIGN
        if where not in studio.campaign_names(who):
            raise InputError(f"campaign {where} is closed; its ratings can no longer be edited")
        return [gr.Dropdown(value=where), *show(who, where, target), "", remember(sess, campaign=where, item=target, draft=None)]

    def my_ratings(who, camp, zone: str = ""):
        """The annotator's ratings, newest first, with the time in the browser's own time zone."""
        kind = studio.campaign(camp)["kind"] if camp else "intensity"
        rows = studio.my_ratings(who, kind)
        cols = (["item_id", "campaign", *EPITOME_MECHANISMS, "note", "updated"] if kind == "empathy" else
                ["item_id", "campaign", "initial", "final", "emotion", "confidence", "note", "updated"])
        shown = [{**r, "updated": _local_time(r["updated"], zone)} for r in rows]
        return pd.DataFrame([{c: r.get(c) for c in cols} for r in shown], columns=cols)  # the table escapes text itself

    def keep_draft(who, current, ini, fin, emo, turn_text, conf, text, er_, ip_, ex_, sess):
        if who is None or not current:
            return gr.skip()
        return remember(sess, item=current, draft={"initial": ini, "final": fin, "emotion": emo, "turns": turn_text, "confidence": conf, "note": text,
                                                   **dict(zip(EPITOME_MECHANISMS, (er_, ip_, ex_)))})

    def set_queue(who, order_name: str, model_name: str, on_: bool) -> str:
        studio.set_queue(who, order_name, model_name, bool(on_))
        gr.Info(f"Queue: {order_name}; assisted mode {'on' if on_ else 'off'}")
        return order_name

    practice = [practice_panel, practice_head, practice_item, practice_id, practice_intensity, practice_empathy, p_initial, p_final,
                p_er, p_ip, p_ex, practice_feedback]

    def practice_state(who, camp, note: str = "") -> list[Any]:
        """The practice panel: hidden when the campaign asks no qualification or it is passed; else the next practice item."""
        v = studio.practice_view(who, camp) if who is not None and camp else {"required": False}
        if not v["required"]:
            return [gr.Column(visible=False), "", "", "", gr.Row(), gr.Row(), None, None, None, None, None, note]
        st = v["standing"]
        empathy = v["kind"] == "empathy"
        if st["blocked"]:
            head = banner_html(f"Qualification of {camp}: {st['blocked']}", "warn")
        else:
            head = banner_html(f"Qualification of {camp} first: practice item {st['answered'] + 1} of {v['of']}, attempt {st['attempt']} of "
                               f"{v['attempts']}. After each answer you see the reference. To pass: {v['rule']} on at least "
                               f"{v['threshold']:.0%} of the items.", "info")
        item = v["item"] or {}
        body = (f"<div class='es-meta'><b>post</b></div><div class='es-turn'>{esc(item.get('post'))}</div><div class='es-meta'><b>response</b>"
                f"</div><div class='es-turn'>{esc(item.get('response'))}</div>" if "post" in item else
                f"<div class='es-meta'><b>the seeker's words</b></div><div class='es-turn'>{esc(item.get('text'))}</div>" if item else "")
        return [gr.Column(visible=True), head, body, item.get("item_id") or "", gr.Row(visible=not empathy), gr.Row(visible=empathy),
                None, None, None, None, None, note]

    def practice_answer(who, camp, item, ini, fin, er_, ip_, ex_):
        if not item:
            raise InputError("no practice item is open")
        values = {"initial": ini, "final": fin, **dict(zip(EPITOME_MECHANISMS, (er_, ip_, ex_)))}
        res = studio.practice_answer(who, camp, item, values)
        told = banner_html(res["feedback"] + (" " + res["note"] if res["note"] else ""), "info" if not res["standing"]["blocked"] else "warn")
        return practice_state(who, camp, told)

    def after_practice(who, camp, sess):
        """Passed just now: the campaign's first item, as picking the campaign would show it."""
        if who is None or studio.practice_view(who, camp)["required"] or _session(sess).get("item"):
            return [gr.skip()] * (len(view) + 3)
        return switch(who, camp, sess)

    after = [status, session]
    entered = on(user.change, enter, [user, session], [campaign, *view, status, mine, session, guide_panel, guide], api_name="next_item",
                 show_progress="hidden")
    on(entered.then, practice_state, [user, campaign], practice, api_name=False, show_progress="hidden")
    switched = on(campaign.input, switch, [user, campaign, session], [*view, session, guide_panel, guide], api_name="switch_campaign")
    on(switched.then, practice_state, [user, campaign], practice, api_name="practice_view", show_progress="hidden")
    answered = on(p_submit.click, practice_answer, [user, campaign, practice_id, p_initial, p_final, p_er, p_ip, p_ex], practice,
                  api_name="practice_answer")
    on(answered.then, after_practice, [user, campaign, session], [*view, session, guide_panel, guide], api_name=False, show_progress="hidden")
    on(read.click, lambda: gr.Column(visible=False), None, guide_panel, api_name=False, queue=False, show_progress="hidden")
    on(again.click, lambda: gr.Column(visible=True), None, guide_panel, api_name=False, queue=False, show_progress="hidden")
    on(submit.click, submit_rating, [user, campaign, item_id, initial, final, emotion, turns, confidence, note, session], [*view, *after],
       api_name="submit_rating", concurrency_limit=None)
    on(submit_e.click, submit_empathy, [user, campaign, item_id, er, ip, ex, note, session], [*view, *after],
       api_name="submit_empathy_rating", concurrency_limit=None)
    on(skip.click, skip_item, [user, campaign, item_id, session], [*view, *after], api_name="skip_item")
    on(back.click, previous_item, [user, campaign, session], [*view, *after], api_name="previous_item")
    on(undo.click, undo_last, [user, campaign, session], [*view, *after], api_name="undo_rating")
    on(mine.select, open_rating, [user, campaign, session], [campaign, *view, *after], api_name="open_rating")
    # the table refreshes when it is opened, not after every rating: one event per submit keeps the queue short
    on(mine_panel.expand, my_ratings, [user, campaign, zone], mine, api_name="my_ratings", show_progress="hidden")
    draft_inputs = [user, item_id, initial, final, emotion, turns, confidence, note, er, ip, ex, session]
    for c in (initial, final, emotion, confidence, er, ip, ex):
        on(c.input, keep_draft, draft_inputs, session, api_name=False, show_progress="hidden", queue=False)
    for c in (note, turns):
        on(c.blur, keep_draft, draft_inputs, session, api_name=False, show_progress="hidden", queue=False)
    on(save_queue.click, set_queue, [user, order, qmodel, assisted], order, api_name="set_queue", concurrency_limit=1)
    return [(qmodel, "predict")]
