"""Annotate: pick a campaign, rate its items by keyboard, go back, skip, undo, edit earlier ratings.

Two kinds of campaign share the tab: the intensity of a seeker's dialogue (1-5, initial
and final) and the empathy of a supporter's response to a post (EPITOME's three
mechanisms, 0-2 each); the form shows the scales of the campaign's kind.

Gold labels are never shown here; in an assisted campaign the model's suggestion
is. Where the annotator is (campaign, item, skips, history, an unsaved draft)
lives in the browser's session state, so a page reload carries on where it was.
Problems are warnings that leave the form as it was. The form is laid out in
`annotate_form.py`; each handler here returns the components it updates by name.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import gradio as gr
import pandas as pd

from ..labels import EPITOME_MECHANISMS
from ..services import DEFAULT_CAMPAIGN, InputError, PermissionDenied, Studio
from .annotate_form import EMPATHY_GUIDELINES, EMPATHY_KEYS, GUIDELINES, KEYS, LEVELS, MECHANISM_LABELS, SCALE, Form, build_form
from .common import on
from .html import banner_html, dialogue_html, esc, markdown_html, pair_html, prediction_html

Updates = dict[Any, Any]


def _progress_html(p: dict[str, Any], campaign: str) -> str:
    if p["k"] is None:
        team = f"team: {p['complete']} of {p['items']} items rated"
    else:
        team = f"team: {p['complete']} of {p['items']} items have their {p['k']} ratings"
    pct = 100 * p["done"] / p["assigned"] if p["assigned"] else 100
    return (
        f"<div class='es-progress'><div class='es-meta'><b>{esc(campaign)}</b>: you have rated {p['done']} of {p['assigned']} · "
        f"{team}</div>"
        f"<progress max='100' value='{pct:.0f}' style='width:100%'></progress></div>"
    )


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


def _remember(sess: dict | None, **changes: Any) -> dict:
    return {**_session(sess), **changes}


def _guidelines(campaign: dict[str, Any], change: dict[str, Any] | None = None) -> str:
    """The campaign's own guidelines (an admin's Markdown, rendered without raw HTML or remote images), then the general ones;
    after an edit, first what changed since the version the annotator last read."""
    own = campaign.get("guidelines") or ""
    general = EMPATHY_GUIDELINES if campaign.get("kind") == "empathy" else GUIDELINES
    changed = (
        f"<div class='es-banner es-warn' id='guidelines-changed'>The guidelines of {esc(campaign['name'])} changed (version "
        f"{change['from']} → {change['to']}). What changed:</div><pre class='es-diff'>{esc(change['diff'])}</pre>"
        if change
        else ""
    )
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


class AnnotateEvents:
    """The tab's event handlers over one form; each returns `{component: update}` for what it changes."""

    def __init__(self, studio: Studio, f: Form):
        self.studio, self.f = studio, f

    # -- what showing an item (or none) puts on the form ---------------------------------

    def form_of(self, kind: str) -> Updates:
        """The scales of the campaign's kind, shown; the others hidden (and their keys with them)."""
        f, empathy = self.f, kind == "empathy"
        return {
            f.intensity_box: gr.Column(visible=not empathy),
            f.empathy_box: gr.Column(visible=empathy),
            f.keys: f"<div class='es-keys'>{esc(EMPATHY_KEYS if empathy else KEYS)}</div>",
            f.submit: gr.Button(visible=not empathy),
            f.submit_e: gr.Button(visible=empathy),
        }

    def values(
        self,
        initial: Any = None,
        final: Any = None,
        emotion: Any = None,
        turns: Any = None,
        confidence: Any = None,
        note: str = "",
        levels: tuple[Any, Any, Any] = (None, None, None),
    ) -> Updates:
        f = self.f
        return {
            f.initial: initial,
            f.final: final,
            f.emotion: gr.Dropdown(value="") if emotion is None else emotion,
            f.turns: gr.Textbox(value="") if turns is None else turns,
            f.confidence: confidence,
            f.note: note,
            **dict(zip((f.er, f.ip, f.ex), levels)),
        }

    def next_or_why(self, who: Any, camp: str, skips: Any = ()) -> tuple[str | None, str | None]:
        """The annotator's next item, or why there is none for them now (a qualification to pass, a pause)."""
        try:
            return self.studio.next_in(who, camp, skips), None
        except PermissionDenied as exc:
            return None, str(exc)

    def shown(self, who: Any, camp: str, target: str | None, why: str | None, draft: dict | None = None) -> Updates:
        out = self.show(who, camp, target, draft)
        if why:
            out[self.f.chat] = banner_html(f"No items for you now: {why}", "warn")
        return out

    def show(self, who: Any, camp: str, target: str | None, draft: dict | None = None) -> Updates:
        f, studio = self.f, self.studio
        kind = studio.campaign(camp)["kind"]
        if target is None:
            p = studio.progress(who, camp)
            return {
                f.item_id: None,
                f.chat: "<div class='es-banner es-info'>Nothing left to rate in this campaign. Thank you!</div>",
                f.assisted_html: "",
                **self.values(),
                f.progress: _progress_html(p, camp),
                **self.form_of(kind),
            }
        if kind == "empathy":
            return self.show_pair(who, camp, target, draft)
        v = studio.rating_view(who, target, camp)
        d, r, scales = v["dialogue"], v["rating"] or {}, v["campaign"]["scales"]
        values = {
            "initial": str(r["initial"]) if r else None,
            "final": str(r["final"]) if r else None,
            "emotion": r.get("emotion") or "",
            "turns": ", ".join("-" if t is None else str(t) for t in (r.get("turn_intensities") or [])),
            "confidence": str(r["confidence"]) if r.get("confidence") else None,
            "note": r.get("note") or "",
        }
        values.update({k: val for k, val in (draft or {}).items() if k in values})
        helper = prediction_html(v["suggestion"], None, "the model's suggestion (assisted campaign)") if v["suggestion"] else ""
        edit_note = banner_html(f"Editing your rating of {target}", "warn") if r else ""
        return {
            f.item_id: target,
            f.chat: edit_note + dialogue_html(d, show_gold=False),
            f.assisted_html: helper,
            **self.values(
                values["initial"],
                values["final"],
                gr.Dropdown(value=values["emotion"], visible="emotion" in scales),
                gr.Textbox(value=values["turns"], visible="turns" in scales),
                values["confidence"],
                values["note"],
            ),
            f.progress: _progress_html(v["progress"], camp),
            **self.form_of("intensity"),
        }

    def show_pair(self, who: Any, camp: str, target: str, draft: dict | None) -> Updates:
        f = self.f
        v = self.studio.rating_view(who, target, camp)
        r, pair = v["rating"] or {}, v["pair"]
        values = {**{m: str(r[m]) if r else None for m in EPITOME_MECHANISMS}, "note": r.get("note") or ""}
        values.update({k: val for k, val in (draft or {}).items() if k in values})
        edit_note = banner_html(f"Editing your rating of {target}", "warn") if r else ""
        helper = (
            banner_html(f"Assisted campaign: the levels under the response are {v['rater']}'s suggestion", "info")
            if v["suggestion"]
            else ""
        )
        return {
            f.item_id: target,
            f.chat: edit_note + pair_html(target, pair["post"], pair["response"], v["suggestion"], v["rater"]),
            f.assisted_html: helper,
            **self.values(
                emotion=gr.Dropdown(value="", visible=False),
                turns=gr.Textbox(value="", visible=False),
                note=values["note"],
                levels=tuple(values[m] for m in EPITOME_MECHANISMS),
            ),
            f.progress: _progress_html(v["progress"], camp),
            **self.form_of("empathy"),
        }

    def cleared(self) -> Updates:
        """The form with nobody's work on it: no item, no values, no progress (what a shared computer shows after sign-out)."""
        f = self.f
        return {
            f.item_id: None,
            f.chat: "",
            f.assisted_html: "",
            **self.values(),
            f.progress: banner_html("Sign in above to start rating."),
            **self.form_of("intensity"),
        }

    def guidelines(self, who: Any, camp: str, seen: list[str]) -> tuple[list[str], Updates]:
        """(the session's read list, the guidelines panel: open on first entry and after each new version, with the change)."""
        first, seen, change = _read(self.studio, who, camp, seen)
        return seen, {self.f.guide_panel: gr.Column(visible=first), self.f.guide: _guidelines(self.studio.campaign(camp), change)}

    # -- events ------------------------------------------------------------------------------

    def enter(self, who: Any, sess: dict | None) -> Updates:
        """Signed in (or a reload found the session): the campaign, the item and the draft where they were.
        Signed out: the form, the status line and "My ratings" are cleared."""
        f, studio = self.f, self.studio
        if who is None:
            return {
                f.campaign: gr.Dropdown(choices=[DEFAULT_CAMPAIGN], value=DEFAULT_CAMPAIGN),
                **self.cleared(),
                f.status: "",
                f.mine: pd.DataFrame(),
                f.guide_panel: gr.Column(visible=False),
                f.guide: markdown_html(GUIDELINES),
            }
        names = studio.campaign_names(who)
        sess = _session(sess)
        camp = sess.get("campaign") if sess.get("campaign") in names else studio.first_campaign_with_work(who, names)
        target = sess.get("item") if studio.in_campaign(camp, sess.get("item")) else None  # a session names only its campaign's items
        why = None
        if not target:
            target, why = self.next_or_why(who, camp, sess.get("skips") or [])
        seen, guide = self.guidelines(who, camp, sess.get("seen") or [])
        return {
            f.campaign: gr.Dropdown(choices=names, value=camp),
            **self.shown(who, camp, target, why, sess.get("draft")),
            self.session: _remember(sess, campaign=camp, item=target, seen=seen),
            **guide,
        }

    def switch(self, who: Any, camp: str, sess: dict | None) -> Updates:
        self.studio.require(who)
        sess = _session(sess)
        target, why = self.next_or_why(who, camp)
        seen, guide = self.guidelines(who, camp, sess.get("seen") or [])
        return {
            **self.shown(who, camp, target, why),
            self.session: _remember(sess, campaign=camp, item=target, skips=[], history=[], draft=None, seen=seen),
            **guide,
        }

    def submit_rating(self, who, camp, current, ini, fin, emo, turn_text, conf, text, sess) -> Updates:
        self.studio.require(who)
        if not current:
            raise InputError("no item loaded")
        if ini is None or fin is None:
            raise InputError("set both the initial and the final intensity (keys 1-5)")
        per_turn = _turns(turn_text)
        if per_turn:
            n = len(self.studio.dialogue(current).seeker_turns)
            if len(per_turn) > n:
                raise InputError(
                    f"{len(per_turn)} per-turn intensities for {n} seeker turn{'s' if n != 1 else ''}: one value per seeker turn"
                )
        res = self.studio.rate(
            who,
            current,
            int(ini),
            int(fin),
            campaign=camp,
            emotion=emo or None,
            confidence=int(conf) if conf else None,
            note=text or None,
            turn_intensities=per_turn,
        )
        return self.saved_and_next(who, camp, current, res, sess)

    def submit_empathy(self, who, camp, current, er_, ip_, ex_, text, sess) -> Updates:
        self.studio.require(who)
        if not current:
            raise InputError("no item loaded")
        levels = dict(zip(EPITOME_MECHANISMS, (er_, ip_, ex_)))
        missing = [MECHANISM_LABELS[m][0] for m, v in levels.items() if v in (None, "")]
        if missing:
            raise InputError(f"set {', '.join(missing)} (keys 0-2)")
        res = self.studio.rate_empathy(who, current, {m: _level(v) for m, v in levels.items()}, camp, note=text or None)
        return self.saved_and_next(who, camp, current, res, sess)

    def saved_and_next(self, who, camp, current, res, sess) -> Updates:
        sess = _session(sess)
        if res.get("attention"):  # a missed attention check: what was expected, or the pause
            gr.Warning(esc(res["attention"]), duration=None)
        saved = f"<div class='es-status'>Saved {esc(current)} ({esc(res['status'])})</div>"
        history = [*(sess.get("history") or []), current]
        nxt, why = self.next_or_why(who, camp, sess.get("skips") or [])  # paused just now: the rating is saved, no next item
        return {
            **self.shown(who, camp, nxt, why),
            self.f.status: saved,
            self.session: _remember(sess, item=nxt, history=history, draft=None),
        }

    def skip_item(self, who, camp, current, sess) -> Updates:
        self.studio.require(who)
        sess = _session(sess)
        skips = [*(sess.get("skips") or []), *([current] if current else [])]
        self.studio.skip(who, camp, current)
        nxt, why = self.next_or_why(who, camp, skips)
        history = [*(sess.get("history") or []), *([current] if current else [])]
        return {
            **self.shown(who, camp, nxt, why),
            self.f.status: "",
            self.session: _remember(sess, item=nxt, skips=skips, history=history, draft=None),
        }

    def previous_item(self, who, camp, sess) -> Updates:
        self.studio.require(who)
        sess = _session(sess)
        hist = sess.get("history") or []
        if not hist:
            raise InputError("nothing to go back to: this is the first item of this visit")
        return {
            **self.show(who, camp, hist[-1]),
            self.f.status: "",
            self.session: _remember(sess, item=hist[-1], history=hist[:-1], draft=None),
        }

    def undo_last(self, who, camp, sess) -> Updates:
        done = self.studio.undo(who, camp)
        if done is None:
            raise InputError("nothing to undo")
        what = "restored its previous values" if done["restored"] else "withdrew it; rate it again"
        return {
            **self.show(who, camp, done["item_id"]),
            self.f.status: f"<div class='es-status'>Undid your last save of {esc(done['item_id'])}: {what}</div>",
            self.session: _remember(sess, item=done["item_id"], draft=None),
        }

    def open_rating(self, who, camp, sess, evt: gr.SelectData) -> Updates:
        self.studio.require(who)
        rows = self.studio.my_ratings(who, self.studio.campaign(camp)["kind"])
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        if row is None or not 0 <= row < len(rows):
            raise InputError("pick a row of the table")
        target, where = rows[row]["item_id"], rows[row]["campaign"] or DEFAULT_CAMPAIGN
        if where not in self.studio.campaign_names(who):
            raise InputError(f"campaign {where} is closed; its ratings can no longer be edited")
        return {
            self.f.campaign: gr.Dropdown(value=where),
            **self.show(who, where, target),
            self.f.status: "",
            self.session: _remember(sess, campaign=where, item=target, draft=None),
        }

    def my_ratings(self, who, camp, zone: str = ""):
        """The annotator's ratings, newest first, with the time in the browser's own time zone."""
        kind = self.studio.campaign(camp)["kind"] if camp else "intensity"
        rows = self.studio.my_ratings(who, kind)
        cols = (
            ["item_id", "campaign", *EPITOME_MECHANISMS, "note", "updated"]
            if kind == "empathy"
            else ["item_id", "campaign", "initial", "final", "emotion", "confidence", "note", "updated"]
        )
        shown = [{**r, "updated": _local_time(r["updated"], zone)} for r in rows]
        return pd.DataFrame([{c: r.get(c) for c in cols} for r in shown], columns=cols)  # the table escapes text itself

    def keep_draft(self, who, current, ini, fin, emo, turn_text, conf, text, er_, ip_, ex_, sess):
        if who is None or not current:
            return gr.skip()
        return _remember(
            sess,
            item=current,
            draft={
                "initial": ini,
                "final": fin,
                "emotion": emo,
                "turns": turn_text,
                "confidence": conf,
                "note": text,
                **dict(zip(EPITOME_MECHANISMS, (er_, ip_, ex_))),
            },
        )

    def set_queue(self, who, order_name: str, model_name: str, on_: bool) -> str:
        self.studio.set_queue(who, order_name, model_name, bool(on_))
        gr.Info(f"Queue: {order_name}; assisted mode {'on' if on_ else 'off'}")
        return order_name

    # -- the qualification's practice items ---------------------------------------------------

    def practice_state(self, who, camp, note: str = "") -> Updates:
        """The practice panel: hidden when the campaign asks no qualification or it is passed; else the next practice item."""
        p = self.f.practice
        v = self.studio.practice_view(who, camp) if who is not None and camp else {"required": False}
        answers = {p.initial: None, p.final: None, p.er: None, p.ip: None, p.ex: None, p.feedback: note}
        if not v["required"]:
            return {
                p.panel: gr.Column(visible=False),
                p.head: "",
                p.item: "",
                p.item_id: "",
                p.intensity: gr.Row(),
                p.empathy: gr.Row(),
                **answers,
            }
        st = v["standing"]
        empathy = v["kind"] == "empathy"
        if st["blocked"]:
            head = banner_html(f"Qualification of {camp}: {st['blocked']}", "warn")
        else:
            head = banner_html(
                f"Qualification of {camp} first: practice item {st['answered'] + 1} of {v['of']}, attempt {st['attempt']} of "
                f"{v['attempts']}. After each answer you see the reference. To pass: {v['rule']} on at least "
                f"{v['threshold']:.0%} of the items.",
                "info",
            )
        item = v["item"] or {}
        body = (
            f"<div class='es-meta'><b>post</b></div><div class='es-turn'>{esc(item.get('post'))}</div><div class='es-meta'><b>response</b>"
            f"</div><div class='es-turn'>{esc(item.get('response'))}</div>"
            if "post" in item
            else f"<div class='es-meta'><b>the seeker's words</b></div><div class='es-turn'>{esc(item.get('text'))}</div>"
            if item
            else ""
        )
        return {
            p.panel: gr.Column(visible=True),
            p.head: head,
            p.item: body,
            p.item_id: item.get("item_id") or "",
            p.intensity: gr.Row(visible=not empathy),
            p.empathy: gr.Row(visible=empathy),
            **answers,
        }

    def practice_answer(self, who, camp, item, ini, fin, er_, ip_, ex_) -> Updates:
        if not item:
            raise InputError("no practice item is open")
        values = {"initial": ini, "final": fin, **dict(zip(EPITOME_MECHANISMS, (er_, ip_, ex_)))}
        res = self.studio.practice_answer(who, camp, item, values)
        told = banner_html(
            res["feedback"] + (" " + res["note"] if res["note"] else ""), "info" if not res["standing"]["blocked"] else "warn"
        )
        return self.practice_state(who, camp, told)

    def after_practice(self, who, camp, sess) -> Updates:
        """Passed just now: the campaign's first item, as picking the campaign would show it."""
        if who is None or self.studio.practice_view(who, camp)["required"] or _session(sess).get("item"):
            return {}
        return self.switch(who, camp, sess)

    # -- wiring ------------------------------------------------------------------------------------

    def wire(self, user: gr.State, session: gr.BrowserState) -> None:
        f, p = self.f, self.f.practice
        self.session = session
        view, after, guide = f.view, [f.status, session], [f.guide_panel, f.guide]
        entered = on(
            user.change,
            self.enter,
            [user, session],
            [f.campaign, *view, f.status, f.mine, session, *guide],
            api_name="next_item",
            show_progress="hidden",
        )
        on(entered.then, self.practice_state, [user, f.campaign], p.outputs, api_name=False, show_progress="hidden")
        switched = on(f.campaign.input, self.switch, [user, f.campaign, session], [*view, session, *guide], api_name="switch_campaign")
        on(switched.then, self.practice_state, [user, f.campaign], p.outputs, api_name="practice_view", show_progress="hidden")
        answered = on(
            p.submit.click,
            self.practice_answer,
            [user, f.campaign, p.item_id, p.initial, p.final, p.er, p.ip, p.ex],
            p.outputs,
            api_name="practice_answer",
        )
        on(
            answered.then,
            self.after_practice,
            [user, f.campaign, session],
            [*view, session, *guide],
            api_name=False,
            show_progress="hidden",
        )
        on(f.read.click, lambda: gr.Column(visible=False), None, f.guide_panel, api_name=False, queue=False, show_progress="hidden")
        on(f.again.click, lambda: gr.Column(visible=True), None, f.guide_panel, api_name=False, queue=False, show_progress="hidden")
        on(
            f.submit.click,
            self.submit_rating,
            [user, f.campaign, f.item_id, f.initial, f.final, f.emotion, f.turns, f.confidence, f.note, session],
            [*view, *after],
            api_name="submit_rating",
            concurrency_limit=None,
        )
        on(
            f.submit_e.click,
            self.submit_empathy,
            [user, f.campaign, f.item_id, f.er, f.ip, f.ex, f.note, session],
            [*view, *after],
            api_name="submit_empathy_rating",
            concurrency_limit=None,
        )
        on(f.skip.click, self.skip_item, [user, f.campaign, f.item_id, session], [*view, *after], api_name="skip_item")
        on(f.back.click, self.previous_item, [user, f.campaign, session], [*view, *after], api_name="previous_item")
        on(f.undo.click, self.undo_last, [user, f.campaign, session], [*view, *after], api_name="undo_rating")
        on(f.mine.select, self.open_rating, [user, f.campaign, session], [f.campaign, *view, *after], api_name="open_rating")
        # the table refreshes when it is opened, not after every rating: one event per submit keeps the queue short
        on(f.mine_panel.expand, self.my_ratings, [user, f.campaign, f.zone], f.mine, api_name="my_ratings", show_progress="hidden")
        draft_inputs = [user, f.item_id, f.initial, f.final, f.emotion, f.turns, f.confidence, f.note, f.er, f.ip, f.ex, session]
        for c in (f.initial, f.final, f.emotion, f.confidence, f.er, f.ip, f.ex):
            on(c.input, self.keep_draft, draft_inputs, session, api_name=False, show_progress="hidden", queue=False)
        for c in (f.note, f.turns):
            on(c.blur, self.keep_draft, draft_inputs, session, api_name=False, show_progress="hidden", queue=False)
        on(f.save_queue.click, self.set_queue, [user, f.order, f.qmodel, f.assisted], f.order, api_name="set_queue", concurrency_limit=1)


def render(
    studio: Studio, user: gr.State, session: gr.BrowserState, model_choices: list[str], admin_only: list[gr.Block]
) -> list[tuple[gr.Dropdown, str]]:
    form = build_form(studio, model_choices, admin_only)
    AnnotateEvents(studio, form).wire(user, session)
    return [(form.qmodel, "predict")]
