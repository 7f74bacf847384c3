"""Raters (admins, in the Campaigns tab): a campaign's qualification and attention gate, each rater's quality with the
reasons for its flags, drift over time, a rater's ratings, reinstating a paused rater and excluding one from releases."""

from __future__ import annotations

import json
from typing import Any

import gradio as gr
import pandas as pd

from ..plots import drift as drift_figure
from ..plots import rater_distributions
from ..services import InputError, Studio
from .common import on, whole
from .html import banner_html

QUALITY_COLUMNS = [
    "annotator",
    "items",
    "median s",
    "rushed",
    "longest run",
    "spread (team)",
    "checks right",
    "competence",
    "bias (95% CI)",
    "flags",
    "paused",
    "excluded",
]


def _ci(b: dict) -> str:
    if b.get("mean") is None:
        return ""
    lo, hi = b["ci95"]
    return f"{b['mean']:+.2f}" + (f" ({lo:+.2f} to {hi:+.2f})" if lo is not None else "")


def quality_frame(report: dict) -> pd.DataFrame:
    rows = [
        {
            "annotator": r["annotator"],
            "items": r["items"],
            "median s": r["median_seconds"],
            "rushed": f"{r['rushed_share']:.0%}",
            "longest run": r["longest_run"],
            "spread (team)": f"{r['spread']:.2f} ({r['team_spread']:.2f})",
            "checks right": "" if r["checks_right"] is None else f"{r['checks_right']:.0%} of {r['checks']}",
            "competence": None if r["competence"] is None else round(r["competence"], 3),
            "bias (95% CI)": _ci(r["bias"]),
            "flags": "; ".join(r["flags"]),
            "paused": "yes" if r["paused"] else "",
            "excluded": "yes" if r["excluded"] else "",
        }
        for r in report["raters"]
    ]
    return pd.DataFrame(rows, columns=QUALITY_COLUMNS)


def _gates() -> dict[str, Any]:
    """A campaign's qualification (practice items, rule, attempts) and attention gate (warn, pause, rushed)."""
    with gr.Row():
        practice = gr.Textbox(label="Practice items (ids; empty: no qualification)", max_lines=1, elem_id="gate-practice", scale=3)
        rule = gr.Radio(["within-one", "exact", "qwk"], value="within-one", label="Pass rule", elem_id="gate-rule")
        threshold = gr.Number(0.8, label="Pass at (share or QWK, 0-1]", elem_id="gate-threshold")
        attempts = gr.Number(2, label="Attempts", elem_id="gate-attempts")
        on_fail = gr.Radio(["retry", "exit"], value="retry", label="After a failed attempt", elem_id="gate-on-fail")
    with gr.Row():
        references = gr.Textbox(
            label='Own reference answers (JSON, optional: {"item": {"initial": 4, "final": 2}})',
            max_lines=1,
            elem_id="gate-references",
            scale=3,
        )
        warn_after = gr.Number(0, label="Warn after N missed gold checks (0: no attention gate)", elem_id="gate-warn")
        pause_after = gr.Number(0, label="Pause after N", elem_id="gate-pause")
        rushed = gr.Number(3, label="Rushed under (s)", elem_id="gate-rushed")
        save = gr.Button("Save gates", elem_id="gate-save")
    gate_note = gr.HTML(elem_id="gate-note")
    return dict(
        practice=practice,
        rule=rule,
        threshold=threshold,
        attempts=attempts,
        on_fail=on_fail,
        references=references,
        warn_after=warn_after,
        pause_after=pause_after,
        rushed=rushed,
        save=save,
        gate_note=gate_note,
    )


def _quality_panel() -> dict[str, Any]:
    """Each rater's quality, their answers and drift, and excluding or reinstating one."""
    with gr.Row():
        show_quality = gr.Button("Rater quality", variant="primary", elem_id="quality-show")
        batch = gr.Number(20, label="Drift: items per batch", elem_id="drift-batch")
    quality = gr.Dataframe(
        pd.DataFrame(columns=QUALITY_COLUMNS),
        interactive=False,
        elem_id="quality-table",  # scrolls sideways
        label="Each rater (click a row for their ratings)",
    )
    with gr.Row():
        dist_plot = gr.Plot(label="Answers per rater", elem_id="quality-distribution")
        drift_plot = gr.Plot(label="Drift", elem_id="quality-drift")
    with gr.Row():
        rater = gr.Textbox(label="Rater", max_lines=1, elem_id="quality-rater")
        reason = gr.Textbox(label="Why their ratings leave the next releases", max_lines=1, elem_id="quality-reason")
        exclude = gr.Button("Exclude from the next releases", elem_id="quality-exclude")
        reinstate = gr.Button("Reinstate (paused)", elem_id="quality-reinstate")
    their = gr.Dataframe(
        pd.DataFrame(columns=["item_id", "initial", "final", "created"]),
        interactive=False,
        wrap=True,
        elem_id="quality-ratings",
        label="Their ratings",
    )

    return dict(
        show_quality=show_quality,
        batch=batch,
        quality=quality,
        dist_plot=dist_plot,
        drift_plot=drift_plot,
        rater=rater,
        reason=reason,
        exclude=exclude,
        reinstate=reinstate,
        their=their,
    )


class RaterEvents:
    """The section's handlers over the campaign picked above."""

    def __init__(self, studio: Studio):
        self.studio = studio

    def save_gates(self, who, camp, items, rl, th, att, fail, refs, warn, pause, rush):
        if not camp:
            raise InputError("pick a campaign above")
        ids = [i for i in (items or "").replace(",", " ").split() if i]
        try:
            own = json.loads(refs) if (refs or "").strip() else {}
        except ValueError:
            raise InputError('own reference answers must be JSON, e.g. {"demo-3": {"initial": 4, "final": 2}}') from None
        q = {"items": ids, "rule": rl, "threshold": th, "attempts": whole(att), "on_fail": fail, "references": own} if ids else None
        a = {"warn_after": whole(warn), "pause_after": whole(pause)} if warn or pause else None  # 0 and 0: no gate
        if a and not (warn and pause):
            raise InputError("set both: warn after and pause after (or 0 and 0 for no attention gate)")
        out = self.studio.set_rater_gates(who, camp, q, a, {"rushed_seconds": rush} if rush not in (None, "") else None)
        parts = [
            f"qualification: {len(ids)} practice items, {rl} at {th}" if q else "no qualification",
            f"warn after {a['warn_after']}, pause after {a['pause_after']} missed checks" if a else "no attention gate",
            f"rushed under {out['rules']['rushed_seconds']:g} s",
        ]
        return banner_html(f"{camp}: " + "; ".join(parts), "info")

    def quality_of(self, who, camp, size):
        if not camp:
            raise InputError("pick a campaign above")
        report = self.studio.rater_quality(who, camp)
        d = self.studio.drift(who, camp, whole(size) if size not in (None, "") else 20)
        return (
            quality_frame(report),
            rater_distributions(report["raters"], report["scale"]),
            drift_figure(d["batches"], d["raters"], d["batch"]),
        )

    def open_rater(self, who, camp, evt: gr.SelectData):
        row = evt.row_value if evt is not None else None
        if not row:
            raise InputError("click a rater's row")
        rows = self.studio.rater_ratings(who, camp, row[0])
        keep = [
            c
            for c in (
                "item_id",
                "initial",
                "final",
                "emotion",
                "emotional_reactions",
                "interpretations",
                "explorations",
                "note",
                "seconds_on_item",
                "guideline_version",
                "updated",
            )
            if c in rows[0]
        ]
        return row[0], pd.DataFrame([{c: r.get(c) for c in keep} for r in rows], columns=keep)

    def exclude_rater(self, who, camp, name, why):
        self.studio.exclude_rater(who, camp, (name or "").strip(), why or "")
        gr.Info(f"{name}: left out of the next releases of {camp} (recorded in the audit log)")
        return quality_frame(self.studio.rater_quality(who, camp))

    def reinstate_rater(self, who, camp, name):
        self.studio.reinstate(who, camp, (name or "").strip())
        gr.Info(f"{name} is reinstated in {camp}")
        return quality_frame(self.studio.rater_quality(who, camp))

    def wire(self, user: gr.State, campaign: gr.Dropdown, g: dict[str, Any], q: dict[str, Any]) -> None:
        gates = [
            g[c] for c in ("practice", "rule", "threshold", "attempts", "on_fail", "references", "warn_after", "pause_after", "rushed")
        ]
        on(g["save"].click, self.save_gates, [user, campaign, *gates], g["gate_note"], api_name="set_rater_gates")
        on(
            q["show_quality"].click,
            self.quality_of,
            [user, campaign, q["batch"]],
            [q["quality"], q["dist_plot"], q["drift_plot"]],
            api_name="rater_quality",
            concurrency_limit=2,
        )
        on(q["quality"].select, self.open_rater, [user, campaign], [q["rater"], q["their"]], api_name=False)
        on(q["exclude"].click, self.exclude_rater, [user, campaign, q["rater"], q["reason"]], q["quality"], api_name="exclude_rater")
        on(q["reinstate"].click, self.reinstate_rater, [user, campaign, q["rater"]], q["quality"], api_name="reinstate_rater")


def render(studio: Studio, user: gr.State, campaign: gr.Dropdown) -> None:
    """Blocks under the Campaigns tab's campaign picker (`campaign`, the agreement section's)."""
    with gr.Accordion("Raters: qualification, attention checks, quality and drift", open=False, elem_id="raters-section"):
        gr.Markdown(
            "For the campaign picked above. A qualification serves practice items with feedback before any item; "
            "the attention gate warns and then pauses an annotator who misses hidden gold checks."
        )
        gates, quality = _gates(), _quality_panel()
    RaterEvents(studio).wire(user, campaign, gates, quality)
