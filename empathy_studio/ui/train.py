"""Train (admins): pick base model, task, data policy and hyperparameters; run, watch, cancel, compare with the parent.

The empathy rater (task `empathy`) adds its own choices (architecture, losses, what selects
the best epoch); its labels follow the same policies: EPITOME gold, the response-empathy
ratings, or both.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import gradio as gr
import pandas as pd

from ..services import (
    ARCHS,
    DEFAULT_PRESET,
    FAMILY_PRESETS,
    HEAD_OPTIONS,
    LOSSES,
    POLICIES,
    SCORE_LOSSES,
    SELECT_METRICS,
    TASKS,
    InputError,
    Studio,
    TrainRequest,
    metric_name,
)
from .common import on, whole
from .html import esc, fmt

OFFERED_TASKS = ["emotion-intensity", "emotion", "empathy"]  # the tasks trained from this tab (the CLI trains every task)
LATEST_RELEASE = "latest release"
FORM_HEAD_OPTIONS = {"arch", "loss", "score_loss"}  # the head options the form offers (the others keep their preset's value)


JOB_COLUMNS = ["id", "state", "task", "progress %", "model", "policy", "new model", "by", "created", "ended", "duration"]


def _duration(job: dict) -> str:
    """Wall time of a job, start to end (or to now while it runs): "14 min 52 s"."""
    if not job.get("started"):
        return ""
    start = datetime.fromisoformat(job["started"])
    end = datetime.fromisoformat(job["ended"]) if job.get("ended") else datetime.now(timezone.utc)
    seconds = max(0, int((end - start).total_seconds()))
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"


def _jobs_frame(studio: Studio, who=None) -> pd.DataFrame:
    rows = [
        {
            "id": j["id"],
            "state": j["state"],
            "task": j["params"].get("task"),
            "progress %": j["progress"],
            "model": j["params"].get("model"),
            "policy": j["params"].get("policy"),
            "new model": j["model_name"],
            "by": j["created_by"],
            "created": j["created"],
            "ended": j.get("ended"),
            "duration": _duration(j),
        }
        for j in studio.job_list(who)
    ]
    return pd.DataFrame(rows, columns=JOB_COLUMNS)


def _log_html(text: str) -> str:
    """The job's log, its newest line at the bottom and always in view (the box is anchored to its end)."""
    return f"<div class='es-log'><pre>{esc(text or '')}</pre></div>"


COMPARE_COLUMNS = ["metric", "new model", "compared with", "difference"]


def _job_detail(studio: Studio, job_id: float | None, who=None) -> tuple[str, str, pd.DataFrame]:
    """(state line, log, comparison table) of a job; the table compares the new model with its parent or the default at submission."""
    job = studio.job(who, job_id)
    empty = pd.DataFrame(columns=COMPARE_COLUMNS)
    if job is None:
        return "<div class='es-banner es-info'>No jobs yet.</div>", _log_html(""), empty
    running = job["state"] == "running"
    eta = f" · about {max(job['eta_s'], 1) / 60:.1f} min left" if job.get("eta_s") and running else ""
    phase = f" · {esc(job['phase'])}" if job.get("phase") and running else ""
    err = f"<div class='es-banner es-warn'>{esc(job['error'])}</div>" if job.get("error") else ""
    head = (
        f"<div class='es-meta'>job <b>{job['id']}</b>: {esc(job['state'])}, training {fmt(job['progress'], 1)}%, "
        f"epoch {fmt(job['epoch'], 2)}{phase}{eta}</div><progress max='100' value='{job['progress'] or 0}' style='width:100%'></progress>"
    )
    metrics = job.get("metrics") or {}
    test = metrics.get("test")
    if not test:
        return head + err, _log_html(job["log_tail"]), empty
    parent, other = metrics.get("parent") or {}, metrics.get("compared_with") or "–"
    rows = [
        {
            "metric": metric_name(k),
            "new model": test.get(k),
            "compared with": parent.get(k),
            "difference": (test[k] - parent[k]) if isinstance(test.get(k), float) and isinstance(parent.get(k), float) else None,
        }
        for k in TASKS[job["params"].get("task") or "emotion-intensity"].metrics
    ]
    table = (
        pd.DataFrame(rows, columns=COMPARE_COLUMNS)
        .round(4)
        .rename(columns={"new model": job["model_name"] or "new model", "compared with": other})
    )
    on = metrics.get("compared_on")
    where = (
        (f"<div class='es-meta'>Both models measured on the same items: {esc(on['dataset'])} {esc(on['split'])} split, n = {on['n']}</div>")
        if on
        else ""
    )
    if metrics.get("release"):
        where += f"<div class='es-meta'>Trained on release <b>{esc(metrics['release'])}</b> (consensus labels, Campaigns → Releases)</div>"
    ended = f" · ran {_duration(job)}" if job.get("ended") and job.get("started") else ""
    return head.replace("</div><progress", f"{ended}</div><progress", 1) + err + where, _log_html(job["log_tail"]), table


def _request_form(studio: Studio) -> dict[str, Any]:
    """What to train: base model, preset, data, task (with a family's own head options), the numbers, the release, a name."""
    trainable = studio.trainable_models()
    with gr.Row():
        base = gr.Dropdown(trainable, value="minilm", label="Base model", elem_id="train-base")
        preset = gr.Dropdown(
            list(FAMILY_PRESETS["seeker"]),
            value="default",
            label="Preset",
            elem_id="train-preset",
            info="fills the numbers below; quick: the starter model's settings",
        )
        dataset = gr.Dropdown(
            studio.dataset_choices(),
            value="esconv",
            label="Dataset",
            elem_id="train-dataset",
            info="esconv+failed adds FailedESConv's failed chats",
        )
        policy = gr.Radio(list(POLICIES), value="gold", label="Data policy", elem_id="train-policy")
        task = gr.Radio(
            OFFERED_TASKS,
            value="emotion-intensity",
            label="Task",
            elem_id="train-task",
            info="empathy: the rater of supporters' responses (EPITOME gold and/or response-empathy ratings)",
        )
    with gr.Row(visible=False, elem_id="train-rater-options") as rater_row:
        arch = gr.Radio(list(ARCHS), value="bi", label="Rater architecture", info=TrainRequest.option_help("arch"), elem_id="train-arch")
        loss = gr.Radio(list(LOSSES), value="ce", label="Classification loss", info=TrainRequest.option_help("loss"), elem_id="train-loss")
        score_loss = gr.Radio(list(SCORE_LOSSES), value="mse", label="Score loss", info=TrainRequest.option_help("score_loss"))
        select = gr.Radio(
            list(SELECT_METRICS), value="f1_weighted", label="Best epoch on val by", info=TrainRequest.option_help("select_metric")
        )
    t = studio.training_defaults()
    with gr.Row():
        epochs = gr.Number(t["epochs"], label="Epochs", info=TrainRequest.option_help("epochs"), elem_id="train-epochs")
        lr = gr.Number(t["learning_rate"], label="Encoder learning rate", info=TrainRequest.option_help("learning_rate"))
        max_len = gr.Number(
            t["max_length"], label="Max tokens", step=1, info=TrainRequest.option_help("max_length"), elem_id="train-max-len"
        )
        bs = gr.Number(t["batch_size"], label="Batch size", step=1, info=TrainRequest.option_help("batch_size"), elem_id="train-batch")
        min_ann = gr.Number(1, label="Min annotators per item", step=1)
        release = gr.Dropdown(
            [LATEST_RELEASE, *studio.release_choices()],
            value=LATEST_RELEASE,
            label="Release (ratings policies)",
            info=TrainRequest.option_help("release"),
            elem_id="train-release",
            allow_custom_value=True,
        )  # the studio checks the id
        name = gr.Textbox(label="New model name (optional)", elem_id="train-name")
    return dict(
        base=base,
        preset=preset,
        dataset=dataset,
        policy=policy,
        task=task,
        rater_row=rater_row,
        arch=arch,
        loss=loss,
        score_loss=score_loss,
        select=select,
        epochs=epochs,
        lr=lr,
        max_len=max_len,
        bs=bs,
        min_ann=min_ann,
        release=release,
        name=name,
    )


def _jobs_panel(studio: Studio) -> dict[str, Any]:
    """Estimate, start, the job list, a job's detail, log and comparison, and the timer that polls while one runs."""
    with gr.Row():
        estimate_btn = gr.Button("Estimate duration")
        start = gr.Button("Start fine-tuning", variant="primary", elem_id="train-start")
        refresh = gr.Button("Refresh")
    estimate_html = gr.HTML()
    with gr.Row():
        with gr.Column(scale=3):
            jobs = gr.Dataframe(_jobs_frame(studio), label="Jobs", interactive=False)
        with gr.Column(scale=2):
            job_id = gr.Number(None, label="Job id (detail / cancel)", precision=0)
            cancel = gr.Button("Cancel job", variant="stop")
    detail = gr.HTML(elem_id="train-detail")
    log = gr.HTML(_log_html(""), label="Log (newest line last)", elem_id="train-log")
    compare = gr.Dataframe(
        pd.DataFrame(columns=COMPARE_COLUMNS),
        interactive=False,
        elem_id="train-compare",
        label="New model against its parent, or the default model when it was started: both on the new model's test items",
    )
    timer = gr.Timer(2.0, active=False)
    return dict(
        estimate_btn=estimate_btn,
        start=start,
        refresh=refresh,
        estimate_html=estimate_html,
        jobs=jobs,
        job_id=job_id,
        cancel=cancel,
        detail=detail,
        log=log,
        compare=compare,
        timer=timer,
    )


class TrainEvents:
    """The tab's handlers: a request from the form, its estimate, the job, its progress; the form follows the task's family."""

    def __init__(self, studio: Studio):
        self.studio = studio

    @staticmethod
    def request(base_name, pol, tk, ep, rate, ml, b, mn, nm, ar, ls, sl, sel, pr=None, ds=None, rl=None) -> TrainRequest:
        if any(v is None for v in (ep, rate, ml, b, mn)):
            raise InputError("fill in every number (epochs, learning rate, max tokens, batch size, min annotators)")
        task = TASKS.get(tk)
        if task is None:
            raise InputError(f"task must be one of {', '.join(OFFERED_TASKS)}, got {tk!r}")
        offered = {
            k: v for k, v in dict(arch=ar, loss=ls, score_loss=sl).items() if k in FORM_HEAD_OPTIONS & set(HEAD_OPTIONS[task.family])
        }
        heads = {**offered, "select_metric": sel} if offered else {}
        data = {"dataset": ds} if ds and task.files else {}
        return TrainRequest(
            model=base_name or "",
            policy=pol,
            task=tk,
            epochs=ep,
            learning_rate=rate,
            max_length=whole(ml),
            batch_size=whole(b),
            min_annotators=whole(mn),
            name=(nm or "").strip() or None,
            release=rl if rl and rl != LATEST_RELEASE and pol != "gold" else None,
            **({"preset": pr} if pr else {}),
            **data,
            **heads,
        )

    def estimate_training(self, who, *values):
        est = self.studio.estimate_training(who, self.request(*values))
        parts = ", ".join(f"{k} {v / 60:.1f}" for k, v in est["phases"].items())
        return (
            f"<div class='es-banner es-info'>{est['n_train']} training items, {est['steps']} steps at "
            f"{est['seconds_per_step']:.2f} s/step on {est['device']}: about <b>{est['estimated_seconds'] / 60:.1f} minutes</b> "
            f"({parts} min; timed on this machine{' earlier' if est['probe_cached'] else ' now'})</div>"
        )

    def start_training(self, who, *values):
        job = self.studio.submit_training(who, self.request(*values))
        gr.Info(f"Job {job} queued")
        return _jobs_frame(self.studio, who), job, *_job_detail(self.studio, job, who), gr.Timer(active=True)

    def poll_jobs(self, who, jid):
        return _jobs_frame(self.studio, who), *_job_detail(self.studio, jid, who), gr.Timer(active=self.studio.jobs_active())

    def cancel_job(self, who, jid):
        if not jid:
            raise InputError("enter a job id")
        state = self.studio.cancel_job(who, int(jid))
        gr.Info(f"Job {int(jid)}: {state}")
        return _jobs_frame(self.studio, who), *_job_detail(self.studio, jid, who)

    def task_changed(self, tk):
        """A family's own choices and presets appear with its task, and its default preset's numbers fill the form; datasets go
        with the tasks that read ESConv-format files. An estimate made for the other task is cleared."""
        task = TASKS[tk]
        name = DEFAULT_PRESET[task.family]
        d = self.studio.training_defaults(name)
        return (
            gr.Row(visible=bool(FORM_HEAD_OPTIONS & set(HEAD_OPTIONS[task.family]))),
            d["epochs"],
            d["learning_rate"],
            d["max_length"],
            d["batch_size"],
            gr.Dropdown(choices=list(FAMILY_PRESETS[task.family]), value=name),
            gr.Dropdown(visible=task.files),
            "",
        )

    def preset_changed(self, name):
        """A preset's numbers fill the form (the defaults, space_config.yaml's training block, then the preset)."""
        d = self.studio.training_defaults(name or "default")
        return d["epochs"], d["learning_rate"], d["max_length"], d["batch_size"], ""

    def wire(self, user: gr.State, f: dict[str, Any], j: dict[str, Any]) -> None:
        inputs = [
            f[c]
            for c in (
                "base",
                "policy",
                "task",
                "epochs",
                "lr",
                "max_len",
                "bs",
                "min_ann",
                "name",
                "arch",
                "loss",
                "score_loss",
                "select",
                "preset",
                "dataset",
                "release",
            )
        ]
        on(
            f["task"].input,
            self.task_changed,
            f["task"],
            [f["rater_row"], f["epochs"], f["lr"], f["max_len"], f["bs"], f["preset"], f["dataset"], j["estimate_html"]],
            api_name=False,
            show_progress="hidden",
            queue=False,
        )
        on(
            f["preset"].input,
            self.preset_changed,
            f["preset"],
            [f["epochs"], f["lr"], f["max_len"], f["bs"], j["estimate_html"]],
            api_name=False,
            show_progress="hidden",
            queue=False,
        )
        for c in ("base", "dataset", "policy", "epochs", "lr", "max_len", "bs", "min_ann"):  # a changed request makes the estimate stale
            on(f[c].input, lambda: "", None, j["estimate_html"], api_name=False, show_progress="hidden", queue=False)
        detail = [j["jobs"], j["detail"], j["log"], j["compare"]]
        on(
            j["estimate_btn"].click,
            self.estimate_training,
            [user, *inputs],
            j["estimate_html"],
            api_name="estimate_training",
            concurrency_limit=1,
        )
        on(
            j["start"].click,
            self.start_training,
            [user, *inputs],
            [j["jobs"], j["job_id"], *detail[1:], j["timer"]],
            api_name="start_training",
        )
        on(j["refresh"].click, self.poll_jobs, [user, j["job_id"]], [*detail, j["timer"]], api_name="jobs")
        on(j["timer"].tick, self.poll_jobs, [user, j["job_id"]], [*detail, j["timer"]], api_name="poll_jobs", show_progress="hidden")
        on(j["cancel"].click, self.cancel_job, [user, j["job_id"]], detail, api_name="cancel_job")


def render(studio: Studio, user: gr.State) -> list[tuple[gr.Dropdown, str]]:
    gr.Markdown(
        "Fine-tune on the accumulated labels. Admins only. Jobs run one at a time in the background; "
        "the test split of the paper is never trained on."
    )
    form, jobs = _request_form(studio), _jobs_panel(studio)
    TrainEvents(studio).wire(user, form, jobs)
    return [(form["base"], "train"), (form["release"], "release")]
