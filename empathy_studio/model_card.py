"""A trained model's card: the `README.md` of its folder, written from its manifest when it is published.

It says what the model reads, what it was trained on and how, what it scored on
its test split, and where it departs from the paper it reproduces. Every figure
in it is the manifest's own: the card is a view of the manifest, never a second
source of numbers.
"""

from __future__ import annotations

from typing import Any

from .analysis import metric_name
from .tasks import TASKS

CARD_FILE = "README.md"
PAPER = "Wang & Roman (CCN 2025)"
SITUATION_NOTE = (
    f"It reads the seeker's pre-chat situation (their own words, ESConv's `situation`) before their words. {PAPER} read "
    "the seeker's words alone. Given a text with no situation (a typed text), it reads the words alone."
)
DATA_NOTE = "ESConv, FailedESConv, SAD and EPITOME are licensed for non-commercial research; a model trained on them inherits their terms."


def _value(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def _reads(m: dict[str, Any]) -> list[str]:
    hp, heads = m.get("hyperparameters", {}), m.get("heads", {})
    if m.get("family") == "rater":
        return [f"- A post and a supporter's response, up to {hp.get('max_length', '?')} tokens of each."]
    lines = [f"- The seeker's words in a chat (their turns joined), the first {hp.get('max_length', '?')} tokens."]
    if heads.get("end_view"):
        lines.append("- For the final and change intensity, also the last tokens of a longer chat (the end view).")
    if heads.get("situation"):
        lines.append(f"- {SITUATION_NOTE}")
    return lines


def model_card(manifest: dict[str, Any]) -> str:
    """The card of a model folder, from its manifest."""
    m = manifest
    task = TASKS.get(m.get("task") or "")
    hp = m.get("hyperparameters", {})
    lines = [
        "---",
        "library_name: transformers",
        "tags: [empathy-studio, " + ("empathy" if m.get("family") == "rater" else "emotion, emotion-intensity") + "]",
        "---",
        "",
        f"# {m.get('name', 'model')}",
        "",
    ]
    if m.get("description"):
        lines += [m["description"], ""]
    parent, source = m.get("parent"), m.get("parent_source")
    built = f"Trained with Empathy Studio from `{parent}`" + (f" (`{source}`)" if source and source not in (parent, "bundled") else "")
    lines += [f"{built} for the task `{m.get('task')}`" + (f": {task.description}." if task else "."), ""]
    if m.get("ensemble"):
        lines += [
            f"A seed ensemble published as one model: {', '.join(f'`{n}`' for n in m['ensemble'])} (seeds "
            f"{', '.join(map(str, hp.get('seed', [])))}), their probabilities and intensities averaged.",
            "",
        ]
    lines += ["## What it reads", "", *_reads(m), ""]
    lines += [
        "## Training",
        "",
        f"- Data: `{m.get('dataset')}` (split: {m.get('split', 'its own')}), {m.get('n_train', '?')} training, {m.get('n_val', '?')} "
        f"validation and {m.get('n_test', '?')} test items; labels: {m.get('policy', 'gold')}; training-set hash `{m.get('data_hash')}`.",
    ]
    if m.get("release"):
        lines.append(f"- Release: `{m['release'].get('id')}` (content hash `{m['release'].get('content_hash')}`).")
    options = ("epochs", "batch_size", "max_length", "learning_rate", "class_weight", "freeze_layers", "seed")
    lines += ["- Options: " + ", ".join(f"{k} {hp[k]}" for k in options if k in hp) + ".", ""]
    metrics = m.get("metrics", {})
    shown = [k for k in (task.metrics if task else ()) if isinstance(metrics.get(k), float)]
    if shown:
        on = m.get("compared_on") or {}
        lines += [f"## Test metrics ({on.get('dataset', m.get('dataset'))}, {on.get('n', m.get('n_test', '?'))} items)", ""]
        lines += ["| metric | value |", "|---|---|", *(f"| {metric_name(k)} | {_value(metrics[k])} |" for k in shown), ""]
        if m.get("members_mean"):
            mean = m["members_mean"]
            lines += [
                "Its models' mean on the same items: "
                + ", ".join(f"{metric_name(k)} {_value(mean[k])}" for k in shown if isinstance(mean.get(k), float))
                + ".",
                "",
            ]
    lines += ["## Licence of the data", "", DATA_NOTE, ""]
    return "\n".join(lines)
