"""Campaigns (admins): create one, watch its progress, read its agreement, and download its ratings.

A campaign rates dialogues' intensity or responses' empathy (per mechanism); its agreement
table has a column per scale: initial and final, or ER, IP and EX.

The numbers come from the same service call as `empathy-studio ratings agreement --json --campaign NAME`.
"""

from __future__ import annotations

from typing import Any

import gradio as gr
import pandas as pd

from ..labels import EPITOME_MECHANISMS, ESCONV_EMOTIONS
from ..plots import bland_altman, qwk_heatmap
from ..services import CAMPAIGN_KINDS, CAMPAIGN_SOURCES, DEFAULT_OVERLAP, OVERLAPS, ROLES, SCALES, CampaignRequest, InputError, Studio
from . import raters
from .common import on, whole

NO_MODEL = "(no model)"
STAT_ROWS = [
    ("alpha_interval", "Krippendorff's alpha (interval)"),
    ("alpha_ordinal", "Krippendorff's alpha (ordinal)"),
    ("icc2_1", "ICC(2,1)"),
    ("icc2_k", "ICC(2,k)"),
    ("icc_items", "items rated by every annotator (ICC)"),
]


def _r(v: Any, digits: int = 3) -> Any:
    return round(v, digits) if isinstance(v, float) else v


def _ci(pair: list[Any]) -> str:
    return "–" if not pair or pair[0] is None else f"{pair[0]:.2f} to {pair[1]:.2f}"


def stats_frame(report: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for key, label in STAT_ROWS:
        rows.append({"statistic": label, **{t: _r(report[t].get(key)) for t in ("initial", "final")}})
    rows.insert(
        1, {"statistic": "alpha 95% CI (bootstrap over items)", **{t: _ci(report[t]["alpha_interval_ci95"]) for t in ("initial", "final")}}
    )
    rows.append({"statistic": "pairwise QWK, mean over pairs", **{t: _r(report[t]["qwk"]["mean"]) for t in ("initial", "final")}})
    rows.append({"statistic": "annotator pairs", **{t: report[t]["qwk"]["pairs"] for t in ("initial", "final")}})
    return pd.DataFrame(rows)


SHORT = dict(zip(EPITOME_MECHANISMS, ("ER", "IP", "EX")))
EMPATHY_STATS = [("alpha_ordinal", "Krippendorff's alpha (ordinal)"), ("alpha_nominal", "Krippendorff's alpha (nominal)")]


MECHANISM_NAMES = {
    "emotional_reactions": "ER (emotional reactions)",
    "interpretations": "IP (interpretations)",
    "explorations": "EX (explorations)",
}


def empathy_stats_frame(report: dict[str, Any]) -> pd.DataFrame:
    """Agreement per mechanism: a column each for ER, IP and EX."""
    rows = [{"statistic": label, **{SHORT[m]: _r(report[m][key]) for m in EPITOME_MECHANISMS}} for key, label in EMPATHY_STATS]
    rows.insert(
        1,
        {
            "statistic": "alpha 95% CI (bootstrap over items)",
            **{SHORT[m]: _ci(report[m]["alpha_ordinal_ci95"]) for m in EPITOME_MECHANISMS},
        },
    )
    rows.append({"statistic": "pairwise QWK, mean over pairs", **{SHORT[m]: _r(report[m]["qwk"]["mean"]) for m in EPITOME_MECHANISMS}})
    rows.append({"statistic": "annotator pairs", **{SHORT[m]: report[m]["qwk"]["pairs"] for m in EPITOME_MECHANISMS}})
    return pd.DataFrame(rows)


def empathy_annotator_frame(report: dict[str, Any]) -> pd.DataFrame:
    """Each annotator's exact agreement and QWK with gold (EPITOME's levels) and with the rater, per mechanism."""
    rows = []
    for name in report[EPITOME_MECHANISMS[0]]["annotators"]:
        row: dict[str, Any] = {"annotator": name}
        for m in EPITOME_MECHANISMS:
            for ref, against in report[m]["annotators"][name].items():
                row[f"{SHORT[m]} vs {ref}: n"] = against["n"]
                row[f"{SHORT[m]} vs {ref}: exact"] = _r(against["exact"])
                row[f"{SHORT[m]} vs {ref}: QWK"] = _r(against["qwk"])
        rows.append(row)
    return pd.DataFrame(rows)


def bias_frame(report: dict[str, Any], target: str) -> pd.DataFrame:
    rows = []
    for name, a in report[target]["annotators"].items():
        row: dict[str, Any] = {"annotator": name, "n": a["n"]}
        for ref, label in (("consensus", "vs the others"), ("gold", "vs gold"), ("model", "vs model")):
            b = a["bias"].get(ref)
            if b is not None:
                row[f"{label}: mean difference"] = _r(b["mean"])
                row[f"{label}: 95% CI"] = _ci(b["ci95"])
        rows.append(row)
    return pd.DataFrame(rows)


def emotion_frame(report: dict[str, Any]) -> pd.DataFrame:
    rows = [
        {
            "emotion": emo,
            "ratings": r["n_ratings"],
            "items": r["n_items"],
            "alpha initial": _r(r["initial"]["alpha_interval"]),
            "alpha final": _r(r["final"]["alpha_interval"]),
            "ICC(2,1) initial": _r(r["initial"]["icc2_1"]),
        }
        for emo, r in (report.get("per_emotion") or {}).items()
    ]
    return pd.DataFrame(rows, columns=["emotion", "ratings", "items", "alpha initial", "alpha final", "ICC(2,1) initial"])


def _new_campaign() -> dict[str, Any]:
    with gr.Accordion("New campaign", open=True):
        with gr.Row():
            name = gr.Textbox(label="Name", placeholder="pilot-1", max_lines=1, elem_id="campaign-name")
            kind = gr.Radio(
                list(CAMPAIGN_KINDS),
                value="intensity",
                label="What is rated",
                elem_id="campaign-kind",
                info="intensity: a seeker's dialogue, 1-5 · empathy: a supporter's response to a post, ER/IP/EX 0-2",
            )
            k = gr.Number(2, label="Annotators per item (k)", step=1, elem_id="campaign-k")
            source = gr.Radio(list(CAMPAIGN_SOURCES), value="split", label="Items from", elem_id="campaign-source")
            split = gr.Dropdown(["test", "val", "train", "all"], value="test", label="Split", elem_id="campaign-split")
            emotion = gr.Dropdown(["", *ESCONV_EMOTIONS], value="", label="Only this gold emotion")
            limit = gr.Number(None, label="At most this many items", placeholder="all of them", step=1, elem_id="campaign-limit")
        with gr.Row():
            ids = gr.Textbox(label="Item ids (with 'ids')", lines=2, placeholder="esconv-12, esconv-40 ...")
            upload = gr.File(
                label="With 'file': an ESConv-format JSON (intensity), or a CSV/JSONL of post and response (empathy)",
                file_types=[".json", ".jsonl", ".csv"],
                elem_id="campaign-file-upload",
            )
        with gr.Row():
            scales = gr.CheckboxGroup(list(SCALES), value=["initial", "final"], label="Scales asked (initial and final always)")
            blind = gr.Checkbox(True, label="Blind (no model suggestion)", elem_id="campaign-blind")
            calibration = gr.Number(0, label="Calibration items (everyone, first)", step=1)
            gold_rate = gr.Number(0.0, label="Gold checks per item (0-0.5)")
        with gr.Row():
            overlap = gr.Radio(
                list(OVERLAPS),
                value=DEFAULT_OVERLAP,
                label="Overlap between annotators",
                elem_id="campaign-overlap",
                info="fill: each item gets its k ratings before new ones open (agreement from the first ratings) · "
                "spread: least-rated first (the widest coverage) · subset: everyone rates the first N, the rest spread",
            )
            subset = gr.Number(0, label="N, with subset: items everyone rates", step=1, elem_id="campaign-subset")
        guidelines = gr.Textbox(label="Guidelines (shown on first entry and on demand)", lines=3)
        create = gr.Button("Create campaign", variant="primary", elem_id="campaign-create")
    return dict(
        name=name,
        kind=kind,
        k=k,
        source=source,
        split=split,
        emotion=emotion,
        limit=limit,
        ids=ids,
        upload=upload,
        scales=scales,
        blind=blind,
        calibration=calibration,
        gold_rate=gold_rate,
        overlap=overlap,
        subset=subset,
        guidelines=guidelines,
        create=create,
    )


def _listing() -> dict[str, Any]:
    with gr.Row():
        refresh = gr.Button("Refresh", size="sm")
        toggle_name = gr.Dropdown([], label="Campaign to close or reopen", allow_custom_value=True, scale=2, elem_id="toggle-campaign")
        toggle_sure = gr.Checkbox(False, label="Yes, close or reopen it", elem_id="campaign-toggle-sure", scale=1)
        toggle = gr.Button("Close / reopen", size="sm", elem_id="campaign-toggle")
    overview = gr.Dataframe(label="Campaigns", interactive=False, wrap=True, elem_id="campaign-table")
    return dict(refresh=refresh, toggle_name=toggle_name, toggle_sure=toggle_sure, toggle=toggle, overview=overview)


def _agreement_panel(model_choices: list[str]) -> dict[str, Any]:
    with gr.Accordion("Agreement and export", open=True):
        with gr.Row():
            chosen = gr.Dropdown([], label="Campaign", elem_id="agreement-campaign", allow_custom_value=True)
            model = gr.Dropdown(
                [NO_MODEL, *model_choices],
                value=NO_MODEL,
                label="Compare annotators with (a model; an empathy rater for empathy)",
                allow_custom_value=True,
            )
            compute = gr.Button("Compute agreement", variant="primary", elem_id="agreement-run")
        stats = gr.Dataframe(label="Agreement", interactive=False, elem_id="agreement-stats")
        with gr.Row():
            heat_i = gr.Plot(label="Pairwise QWK", elem_id="agreement-qwk")
            heat_f = gr.Plot(label="Pairwise QWK")
            heat_x = gr.Plot(label="Pairwise QWK", visible=False)
        bias = gr.Dataframe(label="Each annotator", interactive=False, elem_id="agreement-bias")
        per_emotion = gr.Dataframe(label="Per gold emotion: agreement within each", interactive=False, elem_id="agreement-per-emotion")
        with gr.Row():
            a_name = gr.Dropdown([], label="Annotator A", allow_custom_value=True)
            b_name = gr.Dropdown([], label="Annotator B", allow_custom_value=True)
            target = gr.Radio(["initial", "final"], value="initial", label="Intensity (1-5)", elem_id="agreement-scale")
            ba_run = gr.Button("Bland-Altman")
        ba_plot = gr.Plot(label="Bland-Altman")
        with gr.Row():
            fmt = gr.Radio(["csv", "jsonl", "hf"], value="csv", label="Export format (hf: a datasets folder, zipped)")
            with_text = gr.Checkbox(False, label="With the items' text (seeker text; post and response)", elem_id="campaign-export-text")
            export = gr.Button("Download ratings", elem_id="campaign-export")
            files = gr.File(label="Download", interactive=False, elem_id="campaign-file")

    return dict(
        chosen=chosen,
        model=model,
        compute=compute,
        stats=stats,
        heat_i=heat_i,
        heat_f=heat_f,
        heat_x=heat_x,
        bias=bias,
        per_emotion=per_emotion,
        a_name=a_name,
        b_name=b_name,
        target=target,
        ba_run=ba_run,
        ba_plot=ba_plot,
        fmt=fmt,
        with_text=with_text,
        export=export,
        files=files,
    )


def _accounts() -> dict[str, Any]:
    with gr.Accordion("Accounts: roles (annotator, reviewer, admin); a Hugging Face user after their first sign-in", open=False):
        with gr.Row():
            acc_name = gr.Textbox(label="Account name", max_lines=1, elem_id="account-name")
            acc_role = gr.Radio(list(ROLES), value="reviewer", label="Role", elem_id="account-role")
            acc_pw = gr.Textbox(
                label="Password (new accounts; blank keeps the old one)", type="password", max_lines=1, elem_id="account-password"
            )
            acc_set = gr.Button("Create or set role", elem_id="account-set")

    return dict(acc_name=acc_name, acc_role=acc_role, acc_pw=acc_pw, acc_set=acc_set)


class CampaignEvents:
    """The tab's handlers: create, list, close or reopen campaigns, their agreement and export, and accounts' roles."""

    def __init__(self, studio: Studio):
        self.studio = studio

    def set_account(self, who, nm, role, pw):
        if not (nm or "").strip():
            raise InputError("name the account")
        account = self.studio.create_account(who, nm.strip(), role, pw or None)
        gr.Info(f"{account.name} is now {'an' if account.role[0] in 'aeiou' else 'a'} {account.role}")
        return ""

    def table(self, who) -> Any:
        rows = self.studio.campaign_overview(who)
        names = [r["name"] for r in rows]
        return pd.DataFrame(rows), gr.Dropdown(choices=names), gr.Dropdown(choices=names, value=names[-1] if names else None)

    def create_campaign(
        self, who, nm, kk, src, sp, emo, lim, id_text, path, sc, bl, cal, gr_rate, guide, kd="intensity", ov=DEFAULT_OVERLAP, sub=0
    ):
        if kk is None:
            raise InputError("set k, the number of annotators per item")
        req = CampaignRequest(
            name=(nm or "").strip(),
            kind=kd or "intensity",
            k=whole(kk),
            source=src,
            split=sp,
            emotion=emo or None,
            ids=id_text or "",
            file=path,
            limit=None if lim in (None, "") else whole(lim),
            scales=sorted(set(sc) | {"initial", "final"}, key=list(SCALES).index),
            blind=bool(bl),
            guidelines=guide or "",
            calibration=whole(cal) if cal not in (None, "") else 0,
            gold_rate=float(gr_rate or 0),
            overlap=ov or DEFAULT_OVERLAP,
            subset=whole(sub) if sub not in (None, "") else 0,
        )
        self.studio.create_campaign(who, req)
        gr.Info(f"Campaign {req.name} created")
        return self.table(who)

    def toggle_campaign(self, who, nm, sure=False):
        if not nm:
            raise InputError("pick a campaign")
        current = next((r for r in self.studio.campaign_overview(who) if r["name"] == nm), None)
        if current is None:
            raise InputError(f"unknown campaign {nm!r}")
        if not sure:  # one more click, on purpose: closing stops every annotator of the campaign at once
            raise InputError(
                f"tick 'Yes, close or reopen it' to {'close' if current['active'] else 'reopen'} {nm}"
                + (": its annotators can no longer rate or edit its items" if current["active"] else "")
            )
        self.studio.set_campaign_active(who, nm, not current["active"])
        gr.Info(f"Campaign {nm} {'closed' if current['active'] else 'reopened'}")
        return *self.table(who), False

    def agreement(self, who, camp, mdl):
        if not camp:
            raise InputError("pick a campaign")
        report = self.studio.campaign_agreement(who, camp, None if mdl in (None, NO_MODEL) else mdl)
        if not report["n_ratings"]:
            raise InputError(f"campaign {camp} has no ratings yet")
        # every view is labelled for what the campaign rates: ER/IP/EX at 0-2, or initial/final intensity at 1-5
        if report["kind"] == "empathy":
            heat = []
            for m in EPITOME_MECHANISMS:
                q = report[m].get("qwk_matrix")
                heat.append(qwk_heatmap(q["annotators"], q["values"], f"Pairwise QWK, {MECHANISM_NAMES[m]} ({camp})") if q else None)
            names = list(report[EPITOME_MECHANISMS[0]]["annotators"])
            plots = [gr.Plot(value=h, label=f"Pairwise QWK, {MECHANISM_NAMES[m]}", visible=True) for h, m in zip(heat, EPITOME_MECHANISMS)]
            return (
                empathy_stats_frame(report),
                *plots,
                gr.Dataframe(
                    value=empathy_annotator_frame(report), label="Each annotator against EPITOME's gold and the rater, per mechanism"
                ),
                gr.Dataframe(value=pd.DataFrame(), visible=False),
                gr.Dropdown(choices=names, value=names[0] if names else None),
                gr.Dropdown(choices=names, value=names[1] if len(names) > 1 else None),
                gr.Radio(choices=list(EPITOME_MECHANISMS), value=EPITOME_MECHANISMS[0], label="Mechanism (0-2)"),
            )
        heat = []
        for t in ("initial", "final"):
            m = report[t].get("qwk_matrix")
            heat.append(qwk_heatmap(m["annotators"], m["values"], f"Pairwise QWK, {t} intensity ({camp})") if m else None)
        names = list(report["initial"]["annotators"])
        return (
            stats_frame(report),
            *(gr.Plot(value=h, label=f"Pairwise QWK, {t} intensity", visible=True) for h, t in zip(heat, ("initial", "final"))),
            gr.Plot(value=None, visible=False),
            gr.Dataframe(
                value=bias_frame(report, "initial"), label="Each annotator's bias (initial intensity): mean difference with 95% CI"
            ),
            gr.Dataframe(value=emotion_frame(report), visible=True),
            gr.Dropdown(choices=names, value=names[0] if names else None),
            gr.Dropdown(choices=names, value=names[1] if len(names) > 1 else None),
            gr.Radio(choices=["initial", "final"], value="initial", label="Intensity (1-5)"),
        )

    def bland(self, who, camp, a, b, t):
        if not (camp and a and b) or a == b:
            raise InputError("pick a campaign and two different annotators")
        rows = self.studio.campaign_ratings(who, camp)
        if rows and t not in rows[0]:
            raise InputError(f"campaign {camp} has no {t.replace('_', ' ')} scale; pick one of its own")
        va = {r["item_id"]: r[t] for r in rows if r["annotator"] == a}
        vb = {r["item_id"]: r[t] for r in rows if r["annotator"] == b}
        both = sorted(set(va) & set(vb))
        if not both:
            raise InputError(f"{a} and {b} have rated no item in common in {camp}")
        return bland_altman([va[i] for i in both], [vb[i] for i in both], a, b, t)

    def download(self, who, camp, f, text=False):
        if not camp:
            raise InputError("pick a campaign")
        return str(self.studio.campaign_export(who, camp, f, bool(text)))

    @staticmethod
    def kind_changed(kd):
        """The intensity scales and the emotion filter belong to dialogues; a response-empathy campaign asks ER, IP and EX."""
        dialogues = kd != "empathy"
        return gr.CheckboxGroup(visible=dialogues), gr.Dropdown(visible=dialogues)

    def wire(self, user: gr.State, new: dict[str, Any], listed: dict[str, Any], agree: dict[str, Any], accounts: dict[str, Any]) -> None:
        n, a = new, agree
        on(
            accounts["acc_set"].click,
            self.set_account,
            [user, accounts["acc_name"], accounts["acc_role"], accounts["acc_pw"]],
            accounts["acc_pw"],
            api_name="set_account",
        )
        on(n["kind"].input, self.kind_changed, n["kind"], [n["scales"], n["emotion"]], api_name=False, show_progress="hidden", queue=False)
        form = [
            n[c]
            for c in (
                "name",
                "k",
                "source",
                "split",
                "emotion",
                "limit",
                "ids",
                "upload",
                "scales",
                "blind",
                "calibration",
                "gold_rate",
                "guidelines",
                "kind",
                "overlap",
                "subset",
            )
        ]
        listing = [listed["overview"], listed["toggle_name"], a["chosen"]]
        on(n["create"].click, self.create_campaign, [user, *form], listing, api_name="create_campaign", concurrency_limit=1)
        on(listed["refresh"].click, self.table, user, listing, api_name="campaigns")
        on(
            listed["toggle"].click,
            self.toggle_campaign,
            [user, listed["toggle_name"], listed["toggle_sure"]],
            [*listing, listed["toggle_sure"]],
            api_name="toggle_campaign",
        )
        on(
            a["compute"].click,
            self.agreement,
            [user, a["chosen"], a["model"]],
            [a[c] for c in ("stats", "heat_i", "heat_f", "heat_x", "bias", "per_emotion", "a_name", "b_name", "target")],
            api_name="campaign_agreement",
            concurrency_limit=2,
        )
        on(a["ba_run"].click, self.bland, [user, a["chosen"], a["a_name"], a["b_name"], a["target"]], a["ba_plot"], api_name="bland_altman")
        on(a["export"].click, self.download, [user, a["chosen"], a["fmt"], a["with_text"]], a["files"], api_name="campaign_export")
        on(
            user.change,
            lambda who: self.table(who) if who is not None and who.is_admin else (gr.skip(), gr.skip(), gr.skip()),
            user,
            listing,
            api_name=False,
            show_progress="hidden",
        )


def render(studio: Studio, user: gr.State, model_choices: list[str]) -> list[tuple[gr.Dropdown, str]]:
    gr.Markdown(
        "Admins: a campaign serves each item to exactly k annotators, in the order of its overlap policy (fill: each item gets its k "
        "ratings before new ones open). Annotators choose it in the Annotate tab."
    )
    new, listed, agree, accounts = _new_campaign(), _listing(), _agreement_panel(model_choices), _accounts()
    raters.render(studio, user, agree["chosen"])
    CampaignEvents(studio).wire(user, new, listed, agree, accounts)
    return [(agree["model"], "predict-or-rater-or-no-model")]
