"""Review (reviewers and admins): the adjudication queue of a campaign, keyboard first; releases of consensus labels;
the review settings and guideline versions of a campaign, and the audit log (admins)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from ..labels import ESCONV_EMOTIONS
from ..services import (
    ADJUDICATION_REASONS,
    AGGREGATION_METHODS,
    DEFAULT_AGGREGATION,
    DEFAULT_THRESHOLDS,
    AdjudicationRequest,
    InputError,
    ReleaseRequest,
    Studio,
)
from .common import on, whole
from .html import banner_html, esc, markdown_html

INTRO = (
    "Items whose k ratings disagree past the campaign's thresholds, most apart first. Raters appear as Rater A, B, C "
    "(names only if the campaign shows them). Keys: the digits set the next disputed scale, **a** ambiguous text, "
    "**g** guideline gap, **e** rater error, **o** other (say why in the note), **Enter** saves and opens the next item."
)
QUEUE_COLUMNS = ["item_id", "disagreement", "scales", "raters", "status"]
REVIEW_JS = """
<script>
(() => {
  const reasons = {a: 'ambiguous text', g: 'guideline gap', e: 'rater error', o: 'other'};
  document.addEventListener('keydown', (ev) => {
    const panel = document.getElementById('review-panel');
    if (!panel || panel.offsetParent === null || ev.metaKey || ev.altKey || ev.ctrlKey) return;
    const t = ev.target;
    if (t && (t.tagName === 'TEXTAREA' ||
              (t.tagName === 'INPUT' && t.type !== 'radio' && t.type !== 'button' && t.type !== 'checkbox'))) return;
    const scales = [...document.querySelectorAll('#review-panel .es-review-scale')].filter(e => e.offsetParent !== null);
    if (ev.key.length === 1 && ev.key >= '0' && ev.key <= '5') {
      const empty = scales.find(e => !e.querySelector('input[type=radio]:checked') && e.querySelector('input[value="' + ev.key + '"]'));
      const input = empty && empty.querySelector('input[type=radio][value="' + ev.key + '"]');
      if (input) { input.click(); ev.preventDefault(); }
    } else if (reasons[ev.key]) {
      const r = document.querySelector('#review-reason input[type=radio][value="' + reasons[ev.key] + '"]');
      if (r) { r.click(); ev.preventDefault(); }
    } else if (ev.key === 'Enter') {
      const b = document.getElementById('review-save'); if (b) { b.click(); ev.preventDefault(); }
    }
  });
})();
</script>
"""


def item_html(view: dict[str, Any] | None) -> str:
    """The item and its ratings as a reviewer sees them; every text shown as typed."""
    if not view:
        return banner_html("The queue is empty: every item's raters agree, or a reviewer settled it.", "info")
    scales = view["scales"]
    assisted = any(r.get("suggestion") for r in view["ratings"])
    head = "".join(f"<th>{esc(s)}{' ⚑' if s in view['disputed'] else ''}</th>" for s in scales)
    head += "<th>note</th>" + ("<th>the model's suggestion, as this rater saw it</th>" if assisted else "")
    rows = "".join(
        "<tr><td style='white-space:nowrap'>"
        + esc(r["rater"])
        + "</td>"
        + "".join(f"<td>{esc(r.get(s))}</td>" for s in scales)
        + f"<td>{esc(r.get('note') or '')}</td>"
        + (f"<td class='es-meta'>{esc(_suggestion(r.get('suggestion')))}</td>" if assisted else "")
        + "</tr>"
        for r in view["ratings"]
    )
    body = (
        f"<div class='es-meta'><b>post</b></div><div class='es-turn'>{esc(view['post'])}</div>"
        f"<div class='es-meta'><b>response</b></div><div class='es-turn'>{esc(view['text'])}</div>"
        if view.get("post") is not None
        else f"<div class='es-meta'><b>the seeker's words</b></div><div class='es-turn'>{esc(view['text'])}</div>"
    )
    gold = (
        "<div class='es-meta'>gold (this campaign is not blind): "
        f"{esc(', '.join(f'{k} {v}' for k, v in view['gold'].items() if v is not None))}</div>"
        if view.get("gold")
        else ""
    )
    past = "".join(
        f"<li>{esc(a['reviewer'])} set {esc(json.dumps(a['values']))} ({esc(a['reason'])}{': ' + esc(a['note']) if a['note'] else ''})</li>"
        for a in view["adjudications"]
    )
    second = (
        f"<div class='es-banner es-warn'>Awaiting a second reviewer: {len(view['adjudications'])} adjudication(s) so "
        f"far</div><ul>{past}</ul>"
        if view["status"] == "awaiting a second reviewer"
        else ""
    )
    return (
        f"<div class='es-review' data-item='{esc(view['item_id'])}'><div class='es-meta'><b>{esc(view['item_id'])}</b> in "
        f"{esc(view['campaign'])}; in dispute: {esc(', '.join(view['disputed']))}</div>{body}"
        f"<table class='es-table'><tr><th>rater</th>{head}</tr>{rows}</table>{gold}{second}</div>"
    )


def _suggestion(raw: Any) -> str:
    """An assisted rating's suggestion (JSON as the claim recorded it) in words: "minilm-quick: anxiety, initial 4.0, final 2.0"."""
    if not raw:
        return ""
    try:
        s = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return str(raw)
    if "levels" in s:
        return f"{s.get('model')}: levels {', '.join(map(str, s['levels']))}"
    parts = [s.get("pred_emotion")] + [
        f"{t} {s[f'pred_{t}']:.1f}" for t in ("initial", "final") if isinstance(s.get(f"pred_{t}"), (int, float))
    ]
    return f"{s.get('model')}: " + ", ".join(p for p in parts if p)


def _levels_radio(label: str, elem: str, levels: list[int]) -> gr.Radio:
    return gr.Radio(levels, label=label, elem_id=elem, elem_classes=["es-review-scale"], min_width=200)


def _queue_panel() -> dict[str, Any]:
    with gr.Row():
        camp = gr.Dropdown([], label="Campaign", elem_id="review-campaign", scale=3, allow_custom_value=True)  # the studio checks it
        version = gr.Number(0, label="Guideline version (0: every version)", elem_id="review-version", scale=1, minimum=0)
        load = gr.Button("Open the queue", elem_id="review-load", scale=1)
    queue = gr.Dataframe(
        pd.DataFrame(columns=QUEUE_COLUMNS),
        label="Review queue (most apart first; click a row to open it)",
        interactive=False,
        elem_id="review-queue",
        max_height=240,
    )
    with gr.Column(elem_id="review-panel"):
        shown = gr.HTML(item_html(None), elem_id="review-item")
        current = gr.Textbox(visible=False, elem_id="review-current")
        with gr.Row() as intensity_row:
            initial = _levels_radio("Initial intensity (final value)", "review-initial", [1, 2, 3, 4, 5])
            final = _levels_radio("Final intensity (final value)", "review-final", [1, 2, 3, 4, 5])
            emotion = gr.Dropdown(["", *ESCONV_EMOTIONS], value="", label="Emotion (when in dispute)", elem_id="review-emotion")
        with gr.Row(visible=False) as empathy_row:
            er = _levels_radio("Emotional reactions", "review-er", [0, 1, 2])
            ip = _levels_radio("Interpretations", "review-ip", [0, 1, 2])
            ex = _levels_radio("Explorations", "review-ex", [0, 1, 2])
        with gr.Row():
            reason = gr.Radio(list(ADJUDICATION_REASONS), label="Reason (a, g, e, o)", elem_id="review-reason", scale=3)
            note = gr.Textbox(label="Note (required for 'other')", max_lines=3, elem_id="review-note", scale=2)
        save = gr.Button("Save adjudication (Enter)", variant="primary", elem_id="review-save")

    return dict(
        camp=camp,
        version=version,
        load=load,
        queue=queue,
        shown=shown,
        current=current,
        intensity_row=intensity_row,
        empathy_row=empathy_row,
        initial=initial,
        final=final,
        emotion=emotion,
        er=er,
        ip=ip,
        ex=ex,
        reason=reason,
        note=note,
        save=save,
    )


def _releases_panel() -> dict[str, Any]:
    with gr.Accordion("Releases: freeze consensus labels as a versioned dataset", open=False, elem_id="releases-section"):
        with gr.Row():
            rel_camps = gr.Dropdown(
                [], multiselect=True, label="Campaigns (one kind)", elem_id="release-campaigns", scale=3, allow_custom_value=True
            )
            method = gr.Dropdown(
                list(AGGREGATION_METHODS),
                value=DEFAULT_AGGREGATION,
                label="Aggregation where raters disagree",
                elem_id="release-method",
                scale=1,
            )
            rel_name = gr.Textbox(label="Release name", max_lines=1, elem_id="release-name", scale=2)
            create = gr.Button("Freeze a release (admins)", variant="primary", elem_id="release-create", scale=1)
        releases = gr.Dataframe(
            pd.DataFrame(), label="Releases (never edited: a new one supersedes an old one)", interactive=False, elem_id="release-table"
        )
        with gr.Row():
            pick = gr.Dropdown([], label="Release", elem_id="release-pick", scale=3, allow_custom_value=True)
            show_rel = gr.Button("Show", elem_id="release-show", scale=1)
            target = gr.Textbox(
                label="Export to (file://FOLDER or a Hub dataset repo owner/name)", max_lines=1, elem_id="release-target", scale=3
            )
            export_btn = gr.Button("Export (admins)", elem_id="release-export", scale=1)
        card = gr.HTML(elem_id="release-card")
        files = gr.File(label="The release's files", file_count="multiple", interactive=False, elem_id="release-files")
    return dict(
        rel_camps=rel_camps,
        method=method,
        rel_name=rel_name,
        create=create,
        releases=releases,
        pick=pick,
        show_rel=show_rel,
        target=target,
        export_btn=export_btn,
        card=card,
        files=files,
    )


def _settings_panel() -> dict[str, Any]:
    with gr.Accordion("Review settings and guidelines of a campaign (admins)", open=False) as settings_box:
        with gr.Row():
            rng = gr.Number(
                DEFAULT_THRESHOLDS["intensity_range"], label="Intensity range that sends an item to review (1-4)", elem_id="review-range"
            )
            lrng = gr.Number(DEFAULT_THRESHOLDS["level_range"], label="Empathy level range (1-2)", elem_id="review-level-range")
            emaj = gr.Checkbox(True, label="No emotion majority sends it too")
            lmaj = gr.Checkbox(True, label="No level majority sends it too")
            reviewers = gr.Radio([1, 2], value=1, label="Reviewers who must agree", elem_id="review-reviewers")
            names = gr.Checkbox(False, label="Reviewers see raters' names")
            save_opts = gr.Button("Save review settings", elem_id="review-options-save")
        guidelines = gr.Textbox(
            label="Guidelines (Markdown; saving a change makes a new version, and annotators are shown the change)",
            lines=4,
            elem_id="review-guidelines",
        )
        save_guide = gr.Button("Save guidelines as a new version", elem_id="guidelines-save")
    return dict(
        box=settings_box,
        rng=rng,
        lrng=lrng,
        emaj=emaj,
        lmaj=lmaj,
        reviewers=reviewers,
        names=names,
        save_opts=save_opts,
        guidelines=guidelines,
        save_guide=save_guide,
    )


def _audit_panel() -> dict[str, Any]:
    with gr.Accordion(
        "Audit log (admins): every rating made, changed or undone, adjudication, release, campaign and role change", open=False
    ) as audit_box:
        with gr.Row():
            audit_btn = gr.Button("Show the latest 500", elem_id="audit-show")
            audit_export = gr.Button("Download all (CSV)", elem_id="audit-export")
        audit = gr.Dataframe(pd.DataFrame(), interactive=False, wrap=True, elem_id="audit-table", max_height=360)
        audit_file = gr.File(label="Audit log", interactive=False)
    return dict(box=audit_box, audit_btn=audit_btn, audit_export=audit_export, audit=audit, audit_file=audit_file)


class ReviewEvents:
    """The tab's handlers: the review queue and adjudication, releases, a campaign's review settings and guidelines, the audit log."""

    def __init__(self, studio: Studio):
        self.studio = studio

    def blank(self, kind: str = "intensity") -> dict[Any, Any]:
        """The form for an item of `kind`: its own scales shown, every value empty."""
        q = self.q
        return {
            q["intensity_row"]: gr.Row(visible=kind != "empathy"),
            q["empathy_row"]: gr.Row(visible=kind == "empathy"),
            **{q[c]: None for c in ("initial", "final", "er", "ip", "ex", "reason")},
            q["emotion"]: "",
            q["note"]: "",
        }

    def opened(self, who, name: str, item: str | None, ver: Any = 0):
        """A campaign's queue (of the ratings under one guideline version, or all), and an item of it (the first when none is
        named) with an empty form."""
        if not name:
            raise InputError("choose a campaign")
        rows = self.studio.review_queue(who, name, whole(ver) or None)
        frame = pd.DataFrame(rows, columns=QUEUE_COLUMNS)
        item = item or (rows[0]["item_id"] if rows else None)
        view = self.studio.review_item(who, name, item) if item else None
        q = self.q
        return {
            q["queue"]: frame,
            q["shown"]: item_html(view),
            q["current"]: item or "",
            **self.blank(view["kind"] if view else "intensity"),
        }

    def open_queue(self, who, name, ver=0):
        return self.opened(who, name, None, ver)

    def open_row(self, who, name, ver, evt: gr.SelectData):
        row = evt.row_value if evt is not None else None
        return self.opened(who, name, row[0] if row else None, ver)

    def save_adjudication(self, who, name, item, ini, fin, emo, er_, ip_, ex_, why, text):
        if not item:
            raise InputError("open an item of the queue first")
        values = {
            "initial": ini,
            "final": fin,
            "emotion": emo or None,
            "emotional_reactions": er_,
            "interpretations": ip_,
            "explorations": ex_,
        }
        kind = "empathy" if any(v is not None for v in (er_, ip_, ex_)) else "intensity"
        asked = ("emotional_reactions", "interpretations", "explorations") if kind == "empathy" else ("initial", "final", "emotion")
        if not why:
            raise InputError("choose a reason (a, g, e or o)")
        res = self.studio.adjudicate(
            who,
            AdjudicationRequest(
                name,
                item,
                {k: whole(v) for k, v in values.items() if k in asked and v not in (None, "")},
                why,
                (text or "").strip() or None,
            ),
        )
        gr.Info(f"{item}: {res['status']}")
        return self.opened(who, name, None)

    def campaigns_for(self, who):
        names = self.studio.review_campaigns(who) if who is not None and who.is_reviewer else []
        return gr.Dropdown(choices=names, value=names[0] if names else None), gr.Dropdown(choices=names, value=[]), *self.release_lists(who)

    def release_lists(self, who):
        rows = self.studio.releases(who) if who is not None and who.is_reviewer else []
        frame = pd.DataFrame(
            [
                {
                    "id": r["id"],
                    "name": r["name"],
                    "created": r["created"],
                    "campaigns": ", ".join(c["name"] for c in r["campaigns"]),
                    "method": r["method"],
                    "items": r["n_items"],
                    "hash": r["content_hash"][:16],
                    "supersedes": r["supersedes"] or "",
                    "by": r["created_by"],
                }
                for r in reversed(rows)
            ]
        )
        ids = [r["id"] for r in reversed(rows)]
        return frame, gr.Dropdown(choices=ids, value=ids[0] if ids else None)

    def create_release(self, who, camps, how, name):
        rel = self.studio.create_release(who, ReleaseRequest((name or "").strip(), list(camps or []), how))
        gr.Info(f"Release {rel['id']} frozen: {rel['n_items']} items")
        return *self.release_lists(who), *self.show(who, rel["id"])

    def show(self, who, ident):
        if not ident:
            raise InputError("choose a release")
        rel = self.studio.release(who, ident)
        folder = Path(rel["folder"])
        return markdown_html(rel["card"].split("---", 2)[-1]), [
            str(folder / n) for n in ("README.md", "labels.csv", "labels.jsonl", "release.json")
        ]

    def export_release(self, who, ident, to):
        if not ident or not (to or "").strip():
            raise InputError("choose a release and say where to export it")
        where = self.studio.export_release(who, ident, to.strip())
        gr.Info(f"Exported to {where}")
        return banner_html(f"Exported {ident} to {where}")

    def save_options(self, who, name, r, lr, em, lm, n, show_names):
        if not name:
            raise InputError("choose a campaign")
        limits = self.studio.set_review_options(
            who,
            name,
            {"intensity_range": whole(r), "level_range": whole(lr), "emotion_majority": bool(em), "level_majority": bool(lm)},
            int(n or 1),
            bool(show_names),
        )
        gr.Info(f"{name}: review settings saved ({', '.join(f'{k} {v}' for k, v in limits.items())})")
        return self.opened(who, name, None)

    def save_guidelines(self, who, name, text):
        if not name:
            raise InputError("choose a campaign")
        version = self.studio.edit_guidelines(who, name, text or "")
        gr.Info(f"{name}: guidelines version {version}")

    def audit_rows(self, who):
        return pd.DataFrame(self.studio.audit_log(who, 500))

    def audit_csv(self, who):
        return str(self.studio.audit_export(who))

    def wire(self, user: gr.State, q: dict[str, Any], r: dict[str, Any], st: dict[str, Any], au: dict[str, Any]) -> None:
        self.q = q
        state = [
            q[c]
            for c in (
                "queue",
                "shown",
                "current",
                "intensity_row",
                "empathy_row",
                "initial",
                "final",
                "emotion",
                "er",
                "ip",
                "ex",
                "reason",
                "note",
            )
        ]
        on(q["load"].click, self.open_queue, [user, q["camp"], q["version"]], state, api_name="review_queue")
        on(q["camp"].input, self.open_queue, [user, q["camp"]], state, api_name=False)
        on(q["queue"].select, self.open_row, [user, q["camp"], q["version"]], state, api_name=False)
        on(
            q["save"].click,
            self.save_adjudication,
            [user, *(q[c] for c in ("camp", "current", "initial", "final", "emotion", "er", "ip", "ex", "reason", "note"))],
            state,
            api_name="adjudicate",
        )
        on(
            r["create"].click,
            self.create_release,
            [user, r["rel_camps"], r["method"], r["rel_name"]],
            [r["releases"], r["pick"], r["card"], r["files"]],
            api_name="create_release",
        )
        on(r["show_rel"].click, self.show, [user, r["pick"]], [r["card"], r["files"]], api_name="show_release")
        on(r["export_btn"].click, self.export_release, [user, r["pick"], r["target"]], r["card"], api_name="export_release")
        on(
            st["save_opts"].click,
            self.save_options,
            [user, q["camp"], *(st[c] for c in ("rng", "lrng", "emaj", "lmaj", "reviewers", "names"))],
            state,
            api_name="review_options",
        )
        on(st["save_guide"].click, self.save_guidelines, [user, q["camp"], st["guidelines"]], None, api_name="edit_guidelines")
        on(au["audit_btn"].click, self.audit_rows, user, au["audit"], api_name="audit_log")
        on(au["audit_export"].click, self.audit_csv, user, au["audit_file"], api_name="audit_export")


def render(studio: Studio, user: gr.State, admin_only: list[gr.Block]) -> tuple[Any, list[gr.Component]]:
    """The tab's blocks; returns what refreshes its lists (campaigns, releases) and their outputs, for the tab's select and sign-in."""
    gr.Markdown(INTRO)
    q, r, st, au = _queue_panel(), _releases_panel(), _settings_panel(), _audit_panel()
    admin_only += [st["box"], au["box"]]
    events = ReviewEvents(studio)
    events.wire(user, q, r, st, au)
    return events.campaigns_for, [q["camp"], r["rel_camps"], r["releases"], r["pick"]]
