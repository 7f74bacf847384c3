"""Train (admins): pick base model, data policy and hyperparameters; run, watch, cancel, compare with the parent."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from ..services import POLICIES, InputError, Studio, TrainRequest
from .common import esc, fmt, on

HEADLINE = ["f1_weighted", "recall_weighted", "accuracy", "mse_initial", "mse_final", "mse_change", "pearson_initial", "pearson_final"]


def _jobs_frame(studio: Studio, who=None) -> pd.DataFrame:
    rows = [{"id": j["id"], "state": j["state"], "progress %": j["progress"], "model": j["params"].get("model"),
             "policy": j["params"].get("policy"), "new model": j["model_name"], "by": j["created_by"], "created": j["created"]}
            for j in studio.job_list(who)]
    return pd.DataFrame(rows, columns=["id", "state", "progress %", "model", "policy", "new model", "by", "created"])


def _job_detail(studio: Studio, job_id: float | None, who=None) -> tuple[str, pd.DataFrame | None]:
    job = studio.job(who, job_id)
    if job is None:
        return "<div class='es-banner es-info'>No jobs yet.</div>", None
    eta = f", about {job['eta_s'] / 60:.1f} min left" if job.get("eta_s") and job["state"] == "running" else ""
    phase = f" · {esc(job['phase'])}" if job.get("phase") and job["state"] == "running" else ""
    err = f"<div class='es-banner es-warn'>{esc(job['error'])}</div>" if job.get("error") else ""
    head = (f"<div class='es-meta'>job <b>{job['id']}</b>: {esc(job['state'])}, {fmt(job['progress'], 1)}%, "
            f"epoch {fmt(job['epoch'], 2)}{eta}{phase}</div><progress max='100' value='{job['progress'] or 0}' style='width:100%'></progress>")
    log = f"<pre style='max-height:220px;overflow:auto;font-size:12px'>{esc(job['log_tail'] or '')}</pre>"
    table = None
    test = (job.get("metrics") or {}).get("test")
    if test:
        parent = (job["metrics"] or {}).get("parent") or {}
        table = pd.DataFrame([{"metric": k, "new model": test.get(k), "parent": parent.get(k),
                               "change": (test[k] - parent[k]) if isinstance(test.get(k), float) and isinstance(parent.get(k), float) else None}
                              for k in HEADLINE]).round(4)
    return head + err + log, table


def render(studio: Studio, user: gr.State) -> list[tuple[gr.Dropdown, str]]:
    trainable = studio.trainable_models()
    gr.Markdown("Fine-tune on the accumulated labels. Admins only. Jobs run one at a time in the background; "
                "the test split of the paper is never trained on.")
    with gr.Row():
        base = gr.Dropdown(trainable, value="minilm", label="Base model")
        policy = gr.Radio(list(POLICIES), value="gold", label="Data policy")
        task = gr.Radio(["emotion-intensity", "emotion"], value="emotion-intensity", label="Task")
    t = studio.training_defaults()
    with gr.Row():
        epochs = gr.Number(t["epochs"], label="Epochs", info=TrainRequest.option_help("epochs"))
        lr = gr.Number(t["learning_rate"], label="Encoder learning rate", info=TrainRequest.option_help("learning_rate"))
        max_len = gr.Number(t["max_length"], label="Max tokens", precision=0, info=TrainRequest.option_help("max_length"))
        bs = gr.Number(t["batch_size"], label="Batch size", precision=0, info=TrainRequest.option_help("batch_size"))
        min_ann = gr.Number(1, label="Min annotators per item", precision=0, minimum=1)
        name = gr.Textbox(label="New model name (optional)")
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
    detail = gr.HTML()
    compare = gr.Dataframe(pd.DataFrame(columns=["metric", "new model", "parent", "change"]), label="New model vs parent (test split)",
                           interactive=False)
    timer = gr.Timer(2.0, active=False)

    def request(base_name, pol, tk, ep, rate, ml, b, mn, nm) -> TrainRequest:
        if any(v is None for v in (ep, rate, ml, b, mn)):
            raise InputError("fill in every number (epochs, learning rate, max tokens, batch size, min annotators)")
        return TrainRequest(model=base_name or "", policy=pol, task=tk, epochs=ep, learning_rate=rate, max_length=ml,
                            batch_size=b, min_annotators=mn, name=(nm or "").strip() or None)

    inputs = [base, policy, task, epochs, lr, max_len, bs, min_ann, name]

    def estimate_training(who, base_name, pol, tk, ep, rate, ml, b, mn, nm):
        est = studio.estimate_training(who, request(base_name, pol, tk, ep, rate, ml, b, mn, nm))
        return (f"<div class='es-banner es-info'>{est['n_train']} training items, {est['steps']} steps at "
                f"{est['seconds_per_step']:.2f} s/step on {est['device']}: about {est['estimated_seconds'] / 60:.1f} minutes</div>")

    def start_training(who, base_name, pol, tk, ep, rate, ml, b, mn, nm):
        job = studio.submit_training(who, request(base_name, pol, tk, ep, rate, ml, b, mn, nm))
        gr.Info(f"Job {job} queued")
        html, table = _job_detail(studio, job, who)
        return _jobs_frame(studio, who), job, html, table, gr.Timer(active=True)

    def poll_jobs(who, jid):
        html, table = _job_detail(studio, jid, who)
        return _jobs_frame(studio, who), html, table, gr.Timer(active=studio.jobs_active())

    def cancel_job(who, jid):
        if not jid:
            raise InputError("enter a job id")
        state = studio.cancel_job(who, int(jid))
        gr.Info(f"Job {int(jid)}: {state}")
        html, table = _job_detail(studio, jid, who)
        return _jobs_frame(studio, who), html, table

    on(estimate_btn.click, estimate_training, [user, *inputs], estimate_html, api_name="estimate_training", concurrency_limit=1)
    on(start.click, start_training, [user, *inputs], [jobs, job_id, detail, compare, timer], api_name="start_training")
    on(refresh.click, poll_jobs, [user, job_id], [jobs, detail, compare, timer], api_name="jobs")
    on(timer.tick, poll_jobs, [user, job_id], [jobs, detail, compare, timer], api_name="poll_jobs", show_progress="hidden")
    on(cancel.click, cancel_job, [user, job_id], [jobs, detail, compare], api_name="cancel_job")
    return [(base, "train")]
