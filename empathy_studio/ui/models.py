"""Models: the registry as a table; admins set the default model, rename and delete trained ones, and publish seed
models as one (a seed ensemble)."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from ..services import TASKS, EnsembleRequest, InputError, Studio, metric_name
from .common import on, progress_bar


def _headline(task: str | None, metrics: dict) -> str:
    """The task's own first headline metric on its test split ("F1 (weighted) 0.5712"; a rater's 4-level F1), or blank."""
    for key in TASKS[task].metrics if task in TASKS else ():
        if isinstance(metrics.get(key), (int, float)):
            return f"{metric_name(key)} {metrics[key]:.4f}"
    return ""


def models_frame(studio: Studio) -> pd.DataFrame:
    default = studio.default_model()
    rows = []
    for r in studio.model_rows():
        m = r["metrics"] or {}
        rows.append(
            {
                "name": r["name"] + (" (default)" if r["name"] == default else ""),
                "kind": r["kind"],
                "availability": r["availability"],
                "parent": r["parent"],
                "task": r["task"],
                "data": r["dataset"],
                "release": r["release"] or "",
                "test metric": _headline(r["task"], m),
                "measured on": r["measured_on"] or "",
                "MSE initial": m.get("mse_initial"),
                "MSE final": m.get("mse_final"),
                "r initial": m.get("pearson_initial"),
                "created": r["created_at"],
                "description": r["description"],
            }
        )
    return pd.DataFrame(rows).round(4)


def _trained(studio: Studio) -> list[str]:
    return [r["name"] for r in studio.model_rows() if r["kind"] == "finetuned"]


def render(studio: Studio, user: gr.State, admin_only: list[gr.Block]) -> tuple[gr.Dataframe, list[tuple[gr.Dropdown, str]]]:
    table = gr.Dataframe(models_frame(studio), interactive=False, wrap=True, elem_id="models-table")
    refresh = gr.Button("Refresh", elem_id="models-refresh")
    with gr.Accordion("Manage trained models (admins)", open=False, visible=False) as manage:
        admin_only.append(manage)
        with gr.Row():
            target = gr.Dropdown(_trained(studio), value=None, label="Model", elem_id="models-target")
            new_name = gr.Textbox(
                label="New name",
                max_lines=1,
                elem_id="models-new-name",
                info="1-64 characters: letters, digits, '.', '_' or '-', starting with a letter or digit",
            )
            sure = gr.Checkbox(False, label="Yes, delete it (its cached predictions go too)", elem_id="models-sure")
        with gr.Row():
            default_btn = gr.Button("Set as default", elem_id="models-default")
            rename_btn = gr.Button("Rename", elem_id="models-rename")
            delete_btn = gr.Button("Delete", variant="stop", elem_id="models-delete")
        gr.Markdown(
            "**One model from several seeds.** Seeker models trained the same way with different seeds, averaged, calibrated "
            "on val and tested beside each of them, published as one model."
        )
        with gr.Row():
            members = gr.Dropdown(
                studio.ensemble_candidates(),
                value=[],
                multiselect=True,
                label="Models (2 or more)",
                elem_id="models-members",
                allow_custom_value=True,  # a model published after the page was built: the registry checks the names
            )
            ensemble_name = gr.Textbox(label="Name of the new model", max_lines=1, elem_id="models-ensemble-name")
            ensemble_btn = gr.Button("Publish as one model", elem_id="models-ensemble")

    def after(message: str):
        gr.Info(message)
        names = _trained(studio)
        return models_frame(studio), gr.Dropdown(choices=names, value=None), "", False

    def set_default(who, name):
        if not name:
            raise InputError("pick a model first")
        return after(f"{studio.set_default_model(who, name)} is now the default model")

    def rename(who, name, new):
        if not name:
            raise InputError("pick a model first")
        return after(f"renamed {name} to {studio.rename_model(who, name, new)}")

    def delete(who, name, confirmed):
        if not name:
            raise InputError("pick a model first")
        if not confirmed:
            raise InputError(f"tick 'Yes, delete it' to delete {name}")
        fallback = studio.delete_model(who, name)
        return after(f"deleted {name}" + (f"; it was the default model: the default is now {fallback}" if fallback else ""))

    def publish(who, chosen, name, progress=gr.Progress()):
        if not name or not name.strip():
            raise InputError("name the new model first")
        req = EnsembleRequest(members=tuple(chosen or ()), name=name.strip())
        m = studio.publish_ensemble(who, req, progress_bar(progress))
        mean = m["members_mean"].get("f1_weighted")
        gr.Info(
            f"published {m['name']}: weighted F1 {m['metrics']['f1_weighted']:.4f} on the test split"
            + (f", its models' mean {mean:.4f}" if mean is not None else "")
        )
        return (
            models_frame(studio),
            gr.Dropdown(choices=_trained(studio), value=None),
            gr.Dropdown(choices=studio.ensemble_candidates(), value=[]),
            "",
        )

    on(ensemble_btn.click, publish, [user, members, ensemble_name], [table, target, members, ensemble_name], api_name="publish_ensemble")
    outs = [table, target, new_name, sure]
    on(default_btn.click, set_default, [user, target], outs, api_name="set_default_model")
    on(rename_btn.click, rename, [user, target, new_name], outs, api_name="rename_model")
    on(delete_btn.click, delete, [user, target, sure], outs, api_name="delete_model")
    on(refresh.click, lambda: models_frame(studio), None, table, api_name="models")
    return table, [(target, "trained"), (members, "ensemble")]
