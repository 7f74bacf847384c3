"""The model commands: serve, models, warm, train, ensemble, evaluate, predict, score."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from typing import Any

from ..services import (
    COMMAND_LINE,
    MECHANISM_SHORT,
    TASKS,
    ConfigError,
    EnsembleRequest,
    JobCancelled,
    ScoreRequest,
    Studio,
    metric_name,
)
from ..settings import apply_server_env
from .common import data_note, open_studio, print_json, progress_bar
from .parser_options import request_from_args


def interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def cmd_serve(args: argparse.Namespace) -> int:
    """Start the studio.  Example: empathy-studio serve --port 7860 --auth admin:secret:admin"""
    from ..ui import build_app, launch_options

    studio = open_studio(args)
    data_note(studio)
    apply_server_env(studio.settings)
    studio.start()  # the server's own work: snapshots, accounts, jobs left by a dead server, the warmer, the starter model
    app = build_app(studio)
    print(f"Empathy Studio on http://{args.host}:{args.port}; {studio.settings.describe_db()}", file=sys.stderr)
    if studio.needs_first_admin():
        print(f"No admin account yet. Create one: {studio.first_admin_command()}", file=sys.stderr)
    # SIGTERM (a Space or a service manager stopping us) ends the server like Ctrl+C, through the clean-up below
    signal.signal(signal.SIGTERM, interrupt)
    try:
        app.launch(server_name=args.host, server_port=args.port, quiet=True, **launch_options())
    finally:
        studio.close()
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    """List the registry, or manage trained models.  Example: empathy-studio models --rename old-name new-name"""
    studio = open_studio(args)
    if args.set_default:
        print(f"default model: {studio.set_default_model(COMMAND_LINE, args.set_default)}")
        return 0
    if args.rename:
        print(f"renamed {args.rename[0]} to {studio.rename_model(COMMAND_LINE, *args.rename)}")
        return 0
    if args.delete:
        studio.delete_model(COMMAND_LINE, args.delete)
        print(f"deleted {args.delete}")
        return 0
    rows = studio.model_rows()
    if args.json:
        print_json(rows)
    else:
        for r in rows:
            f1 = r["metrics"].get("f1_weighted")
            print(f"{r['name']:<28} {r['kind']:<10} {r['availability']:<24} {'F1 %.3f' % f1 if f1 is not None else ''}")
    return 0


def cmd_warm(args: argparse.Namespace) -> int:
    """Predict and cache every labelled ESConv dialogue, so Analyze answers at once.  Example: empathy-studio warm --model minilm-quick"""
    studio = open_studio(args)
    names = [args.model] if args.model else [name for name, _ in studio.warm_pending()]
    for name in names:
        print(f"{name}: {studio.warm(name, progress=progress_bar())} dialogues cached", file=sys.stderr)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Fine-tune a model and register it.  Example: empathy-studio train --model minilm --task emotion-intensity --epochs 4"""
    studio = open_studio(args)
    data_note(studio)
    started = time.monotonic()
    try:
        if args.job_id is not None:  # a job's child process: the request is in the job's row
            manifest = studio.run_job(args.job_id, progress=progress_bar())
        else:
            manifest = studio.train_and_register(request_from_args(args), progress=progress_bar())
    except JobCancelled as exc:
        print(f"empathy-studio: {exc}", file=sys.stderr)
        return 3
    summary = {
        "name": manifest["name"],
        "parent": manifest["parent"],
        "train_seconds": manifest["train_seconds"],
        "metrics": manifest["metrics"],
        "delta": manifest["delta"],
    }
    if args.json:
        print_json(summary)
    else:
        m, task = manifest["metrics"], TASKS.get(manifest.get("task") or "", TASKS["emotion-intensity"])
        headline = [f"{metric_name(k)} {m[k]:.4f}" for k in task.metrics if isinstance(m.get(k), (int, float))][:4]  # the task's own
        print(
            f"registered {manifest['name']} in {time.monotonic() - started:.0f} s in all ({manifest['train_seconds']:.0f} s of training "
            f"steps): {', '.join(headline) or 'no test metrics'}"
        )
    return 0


def cmd_ensemble(args: argparse.Namespace) -> int:
    """Publish seeker models trained with different seeds as one model.  Example: empathy-studio ensemble --name minilm-3 m42 m43 m44"""
    studio = open_studio(args)
    started = time.monotonic()
    req = EnsembleRequest(members=tuple(args.members), name=args.name, dataset=args.dataset, description=args.description or "")
    manifest = studio.publish_ensemble(COMMAND_LINE, req, progress=progress_bar())
    if args.json:
        print_json({k: manifest[k] for k in ("name", "ensemble", "metrics", "members_mean", "delta")})
        return 0
    m, mean = manifest["metrics"], manifest["members_mean"]
    print(
        f"registered {manifest['name']} ({len(req.members)} models as one) in {time.monotonic() - started:.0f} s: weighted F1 "
        f"{m['f1_weighted']:.4f} against its models' mean {mean.get('f1_weighted', float('nan')):.4f} on the same test items"
    )
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Score a model on a split.  Example: empathy-studio evaluate --model zeror --dataset esconv --split test --json"""
    return EVALUATE[TASKS[args.task].family](open_studio(args), args)


def _evaluate_rater(studio: Studio, args: argparse.Namespace) -> int:
    result = studio.evaluate_rater(args.model, args.split, progress=progress_bar())
    if args.json:
        print_json(result)
    else:
        for k, v in result.items():
            if k.endswith("_ci95"):
                print(f"{k:<40} {v[0]:.4f} to {v[1]:.4f}")
            elif not isinstance(v, (list, dict)):  # the per-pair levels are for --json
                print(f"{k:<40} {v:.4f}" if isinstance(v, float) else f"{k:<40} {v}")
    return 0


def _evaluate_seeker(studio: Studio, args: argparse.Namespace) -> int:
    if args.dataset == "esconv":
        data_note(studio)
    result = studio.evaluate(args.model, args.dataset, args.split, progress=None if args.model == "zeror" else progress_bar())
    per_class = result.pop("per_class")
    if result["dropped_note"]:
        print(f"note: {result['dropped_note']}", file=sys.stderr)
    if args.json:
        print_json(result)
        return 0
    result.pop("confusion")
    baseline = result.pop("baseline")
    result.pop("dropped"), result.pop("dropped_note")
    for k, v in result.items():
        zero = baseline.get(k)
        against = f"   ZeroR {zero:.4f}" if isinstance(v, float) and isinstance(zero, float) and k != "n" else ""
        print(f"{k:<22} {v:.4f}{against}" if isinstance(v, float) else f"{k:<22} {v}")
    print(f"ZeroR fitted on the {baseline['fitted_on']}")
    for row in per_class:
        print(f"  {row['emotion']:<34} P {row['precision']:.3f}  R {row['recall']:.3f}  F1 {row['f1']:.3f}  n {row['support']}")
    return 0


EVALUATE = {"seeker": _evaluate_seeker, "rater": _evaluate_rater}  # a task's model family -> how it is evaluated and shown


def _with_interval(row: dict, target: str) -> str:
    iv = (row.get(f"pred_{target}_interval") or {}).get("0.8")
    return f"{row[f'pred_{target}']:.2f} (80%: {iv[0]:.2f} to {iv[1]:.2f})" if iv else f"{row[f'pred_{target}']:.2f}"


def _predict_empathy(studio: Studio, args: argparse.Namespace) -> int:
    """The empathy rater on one (post, response) pair, or on every supporter turn of an ESConv-format file."""
    if args.file:
        rows = [{"dialogue": d.dialogue_id, **r} for d in studio.load_dialogues(args.file) for r in studio.predict_turns(args.model, d)]
    elif args.post is not None and args.response is not None:
        pred = studio.predict_empathy(args.model, [(args.post, args.response)], progress=progress_bar())[0]
        rows = [{"post": args.post, "response": args.response, **pred.to_dict()}]
    else:
        raise ConfigError("--task empathy needs --post TEXT --response TEXT, or --file ESConv.json")
    if args.json:
        print_json(rows if len(rows) > 1 or args.file else rows[0])
        return 0
    for r in rows:
        where = f"{r['dialogue']} turn {r['turn']}: " if "dialogue" in r else ""
        levels = "  ".join(f"{MECHANISM_SHORT.get(m, m)} {v}" for m, v in r["pred_levels"].items())  # ER/IP/EX, as the page says
        print(f"{where}{levels}  4-level {r['pred_level4']}  score {r['pred_score']:.2f}  | {r['response'][:60]}")
        if len(rows) == 1:  # one pair: the words behind each mechanism it shows (a rater with a rationale head)
            for m, spans in (r.get("pred_rationales") or {}).items():
                if spans and r["pred_levels"][m] != "none":
                    print(f"  {MECHANISM_SHORT.get(m, m)} words: " + " … ".join(r["response"][a:b] for a, b in spans))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """Predict emotion and intensity.  Example: empathy-studio predict --model minilm-quick --text "I can't sleep since I lost my job" """
    return PREDICT[TASKS[args.task].family](open_studio(args), args)


def _predict_seeker(studio: Studio, args: argparse.Namespace) -> int:
    if args.post is not None or args.response is not None:
        raise ConfigError("--post and --response go with --task empathy")
    if args.text is None and args.file is None:
        raise ConfigError("give --text TEXT or --file FILE")
    texts = [args.text] if args.text is not None else studio.texts_from_file(args.file)
    preds = studio.predict_texts(args.model, texts, progress=progress_bar())  # a starter model built first shows its phases
    rows = [{"text": t, **p.to_dict()} for t, p in zip(texts, preds)]
    if args.json:
        print_json(rows if len(rows) > 1 else rows[0])
    else:
        for r in rows:
            if r["too_little_text"]:
                print(
                    f"too little text ({r['words']} word{'' if r['words'] == 1 else 's'}; {args.model} needs {r['min_words']})  | "
                    f"{r['text'][:60]}"
                )
                continue
            inten = "  ".join(f"{t} {_with_interval(r, t)}" for t in ("initial", "final", "change") if r[f"pred_{t}"] is not None)
            print(f"{r['pred_emotion']:<12} {r['probs'][r['pred_emotion']]:.2f}  {inten}  | {r['text'][:60]}")
    return 0


PREDICT = {"seeker": _predict_seeker, "rater": _predict_empathy}  # a task's model family -> its predict command


def cmd_score(args: argparse.Namespace) -> int:
    """Score a corpus file into Parquet, in shards that resume after an interruption; runs unchanged under `accelerate launch`.
    Example: empathy-studio score --task empathy --model minilm-rater --input pairs.jsonl --output scored.parquet"""
    studio = open_studio(args)
    req = ScoreRequest(task=args.task, model=args.model, input=args.input, output=args.output, shard_size=args.shard_size)
    summary = studio.score_corpus(req, progress=None if args.json else lambda line: print(line, file=sys.stderr))
    if args.json:
        print_json(summary)
    return 0
