"""The `empathy-studio` command: serve, models, train, evaluate, predict, ratings, annotators.

Each command builds `Settings` and a `Studio`, makes one service call and
prints. The `train` options are generated from the `TrainRequest` fields (name,
type, help, choices), so an option is added in one place. A `UserError` is one
line on stderr and exit code 2; long work shows a tqdm bar on stderr; with
`--json` only JSON goes to stdout.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import signal
import sys
import time
import traceback
import typing
from pathlib import Path
from typing import Any, Sequence

from .services import CAMPAIGN_KINDS, CAMPAIGN_SOURCES, COMMAND_LINE, DEFAULT_OVERLAP, OVERLAPS, EPITOME_MECHANISMS, SCORE_TASKS, CampaignRequest, ConfigError, JobCancelled, ProgressEvent, ScoreRequest, Studio, MECHANISM_SHORT, TASKS, TrainRequest, UserError, metric_name
from .services import AGGREGATION_METHODS, DEFAULT_AGGREGATION, ROLES, ReleaseRequest
from .settings import apply_privacy_env, apply_server_env, load_settings, parse_account

ProgressFn = typing.Callable[[ProgressEvent], None]
EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not usage plus error
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(EXIT_BAD_INPUT)


def add_request_options(parser: argparse.ArgumentParser, request_type: type) -> None:
    """One option per field of a request dataclass: `--field-name`, typed from the annotation, help and choices from the metadata."""
    hints = typing.get_type_hints(request_type)
    for f in dataclasses.fields(request_type):
        if not f.metadata.get("flag", True):
            continue
        flag = "--" + f.name.replace("_", "-")
        kind = next((t for t in typing.get_args(hints[f.name]) if t is not type(None)), hints[f.name])
        default = None if f.default is dataclasses.MISSING else f.default
        shown = f" (default: {default})" if default not in (None, False, -1) else ""
        help_text = request_type.option_help(f.name) + shown
        if kind is bool:
            parser.add_argument(flag, action="store_true", default=None, help=help_text)
        else:
            parser.add_argument(flag, type=kind, choices=f.metadata.get("choices"), default=None,
                                metavar=None if f.metadata.get("choices") else f.name.upper(), help=help_text)


def request_from_args(args: argparse.Namespace, request_type: type = TrainRequest) -> Any:
    """The request the options describe; options not given keep the dataclass defaults."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(request_type) if getattr(args, f.name, None) is not None}
    if "model" not in given:
        raise ConfigError("train needs --model NAME (a registry name: empathy-studio models)")
    return request_type(**given)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _print_json(obj: Any) -> None:
    print(json.dumps(_json_safe(obj), indent=2, ensure_ascii=False, allow_nan=False))


def _bar() -> ProgressFn:
    """A progress callback that draws one tqdm bar per phase on stderr."""
    from tqdm import tqdm

    state: dict[str, Any] = {"phase": None, "bar": None}

    def update(event: ProgressEvent) -> None:
        if event.metrics and state["bar"] is not None:  # an evaluation between epochs: a note on the training bar
            state["bar"].set_postfix_str(event.detail)
            return
        if state["phase"] != event.phase:
            if state["bar"] is not None:
                state["bar"].close()
            state["bar"] = tqdm(total=event.total, desc=event.phase, file=sys.stderr, leave=False, dynamic_ncols=True)
            state["phase"] = event.phase
        bar = state["bar"]
        bar.total, bar.n = event.total, event.done
        bar.set_postfix_str(event.detail, refresh=False)
        bar.refresh()

    return update


def _studio(args: argparse.Namespace) -> Studio:
    overrides: dict[str, Any] = {}
    if getattr(args, "db", None):
        overrides["db_path"] = Path(args.db).resolve()
        overrides["persistent_dir"] = None
    if getattr(args, "models_dir", None):
        overrides["models_dir"] = Path(args.models_dir).resolve()
    if getattr(args, "esconv", None):
        overrides["esconv_file"] = Path(args.esconv)
    if getattr(args, "auth", None):
        overrides["auth"] = tuple(parse_account(a) for a in args.auth)
    return Studio(load_settings(**overrides))


def _data_note(studio: Studio) -> None:
    note, demo = studio.data_note()
    if demo:
        print(f"note: using the {note}", file=sys.stderr)


# ---------------------------------------------------------------------------
# commands


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def cmd_serve(args: argparse.Namespace) -> int:
    """Start the studio.  Example: empathy-studio serve --port 7860 --auth admin:secret:admin"""
    from .ui import build_app, launch_options

    studio = _studio(args)
    _data_note(studio)
    apply_server_env(studio.settings)
    studio.start()  # the server's own work: snapshots, accounts, jobs left by a dead server, the warmer, the starter model
    app = build_app(studio)
    print(f"Empathy Studio on http://{args.host}:{args.port}; {studio.settings.describe_db()}", file=sys.stderr)
    if studio.needs_first_admin():
        print(f"No admin account yet. Create one: {studio.first_admin_command()}", file=sys.stderr)
    # SIGTERM (a Space or a service manager stopping us) ends the server like Ctrl+C, through the clean-up below
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        app.launch(server_name=args.host, server_port=args.port, quiet=True, **launch_options())
    finally:
        studio.close()
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    """List the registry, or manage trained models.  Example: empathy-studio models --rename old-name new-name"""
    studio = _studio(args)
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
        _print_json(rows)
    else:
        for r in rows:
            f1 = r["metrics"].get("f1_weighted")
            print(f"{r['name']:<28} {r['kind']:<10} {r['availability']:<24} {'F1 %.3f' % f1 if f1 is not None else ''}")
    return 0


def cmd_warm(args: argparse.Namespace) -> int:
    """Predict and cache every labelled ESConv dialogue, so Analyze answers at once.  Example: empathy-studio warm --model minilm-quick"""
    studio = _studio(args)
    names = [args.model] if args.model else [name for name, _ in studio.warm_pending()]
    for name in names:
        print(f"{name}: {studio.warm(name, progress=_bar())} dialogues cached", file=sys.stderr)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Fine-tune a model and register it.  Example: empathy-studio train --model minilm --task emotion-intensity --epochs 4"""
    studio = _studio(args)
    _data_note(studio)
    started = time.monotonic()
    try:
        if args.job_id is not None:  # a job's child process: the request is in the job's row
            manifest = studio.run_job(args.job_id, progress=_bar())
        else:
            manifest = studio.train_and_register(request_from_args(args), progress=_bar())
    except JobCancelled as exc:
        print(f"empathy-studio: {exc}", file=sys.stderr)
        return 3
    summary = {"name": manifest["name"], "parent": manifest["parent"], "train_seconds": manifest["train_seconds"], "metrics": manifest["metrics"], "delta": manifest["delta"]}
    if args.json:
        _print_json(summary)
    else:
        m, task = manifest["metrics"], TASKS.get(manifest.get("task") or "", TASKS["emotion-intensity"])
        headline = [f"{metric_name(k)} {m[k]:.4f}" for k in task.metrics if isinstance(m.get(k), (int, float))][:4]  # the task's own
        print(f"registered {manifest['name']} in {time.monotonic() - started:.0f} s in all ({manifest['train_seconds']:.0f} s of training "
              f"steps): {', '.join(headline) or 'no test metrics'}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Score a model on a split.  Example: empathy-studio evaluate --model zeror --dataset esconv --split test --json"""
    return EVALUATE[TASKS[args.task].family](_studio(args), args)


def _evaluate_rater(studio: Studio, args: argparse.Namespace) -> int:
    result = studio.evaluate_rater(args.model, args.split, progress=_bar())
    if args.json:
        _print_json(result)
    else:
        for k, v in result.items():
            if not isinstance(v, list):  # the per-pair levels are for --json
                print(f"{k:<34} {v:.4f}" if isinstance(v, float) else f"{k:<34} {v}")
    return 0


def _evaluate_seeker(studio: Studio, args: argparse.Namespace) -> int:
    if args.dataset == "esconv":
        _data_note(studio)
    result = studio.evaluate(args.model, args.dataset, args.split, progress=None if args.model == "zeror" else _bar())
    per_class = result.pop("per_class")
    if result["dropped_note"]:
        print(f"note: {result['dropped_note']}", file=sys.stderr)
    if args.json:
        _print_json(result)
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
        pred = studio.predict_empathy(args.model, [(args.post, args.response)], progress=_bar())[0]
        rows = [{"post": args.post, "response": args.response, **pred.to_dict()}]
    else:
        raise ConfigError("--task empathy needs --post TEXT --response TEXT, or --file ESConv.json")
    if args.json:
        _print_json(rows if len(rows) > 1 or args.file else rows[0])
        return 0
    for r in rows:
        where = f"{r['dialogue']} turn {r['turn']}: " if "dialogue" in r else ""
        levels = "  ".join(f"{MECHANISM_SHORT.get(m, m)} {v}" for m, v in r["pred_levels"].items())  # ER/IP/EX, as the page says
        print(f"{where}{levels}  4-level {r['pred_level4']}  score {r['pred_score']:.2f}  | {r['response'][:60]}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """Predict emotion and intensity.  Example: empathy-studio predict --model minilm-quick --text "I can't sleep since I lost my job" """
    return PREDICT[TASKS[args.task].family](_studio(args), args)


def _predict_seeker(studio: Studio, args: argparse.Namespace) -> int:
    if args.post is not None or args.response is not None:
        raise ConfigError("--post and --response go with --task empathy")
    if args.text is None and args.file is None:
        raise ConfigError("give --text TEXT or --file FILE")
    texts = [args.text] if args.text is not None else studio.texts_from_file(args.file)
    preds = studio.predict_texts(args.model, texts, progress=_bar() if len(texts) > 1 else None)
    rows = [{"text": t, **p.to_dict()} for t, p in zip(texts, preds)]
    if args.json:
        _print_json(rows if len(rows) > 1 else rows[0])
    else:
        for r in rows:
            if r["too_little_text"]:
                print(f"too little text ({r['words']} word{'' if r['words'] == 1 else 's'}; {args.model} needs {r['min_words']})  | {r['text'][:60]}")
                continue
            inten = "  ".join(f"{t} {_with_interval(r, t)}" for t in ("initial", "final", "change") if r[f"pred_{t}"] is not None)
            print(f"{r['pred_emotion']:<12} {r['probs'][r['pred_emotion']]:.2f}  {inten}  | {r['text'][:60]}")
    return 0


PREDICT = {"seeker": _predict_seeker, "rater": _predict_empathy}  # a task's model family -> its predict command


def cmd_score(args: argparse.Namespace) -> int:
    """Score a corpus file into Parquet, in shards that resume after an interruption; runs unchanged under `accelerate launch`.
    Example: empathy-studio score --task empathy --model minilm-rater --input pairs.jsonl --output scored.parquet"""
    studio = _studio(args)
    req = ScoreRequest(task=args.task, model=args.model, input=args.input, output=args.output, shard_size=args.shard_size)
    summary = studio.score_corpus(req, progress=None if args.json else lambda line: print(line, file=sys.stderr))
    if args.json:
        _print_json(summary)
    return 0


def cmd_ratings(args: argparse.Namespace) -> int:
    """Export, import or measure agreement of ratings, or each rater's quality with its flags.
    Example: empathy-studio ratings export --format csv --out ratings.csv"""
    studio = _studio(args)
    if args.action == "quality":
        if not args.campaign:
            raise ConfigError("quality needs --campaign NAME")
        report = studio.rater_quality(COMMAND_LINE, args.campaign)
        if args.json:
            _print_json(report)
        else:
            for r in report["raters"]:
                print(f"{r['annotator']:<20} {r['items']:>5} items  median {r['median_seconds'] or 0:6.1f} s  run {r['longest_run']:>3}  "
                      f"spread {r['spread']:.2f}  {'; '.join(r['flags']) or 'no flags'}")
        return 0
    if args.action == "export":
        if not args.out:
            raise ConfigError("export needs --out PATH")
        n = studio.export_ratings(args.out, args.format, args.hub_repo, args.campaign, args.with_text)
        print(f"exported {n} ratings to {args.out}", file=sys.stderr)
    elif args.action == "import":
        if not args.file:
            raise ConfigError("import needs --file PATH (CSV or JSONL)")
        report = studio.import_ratings(args.file, dry_run=args.dry_run, create_annotators=args.create_annotators)
        if args.json:
            _print_json(report)
        else:
            print(f"{report['rows']} rows: {report['ok']} ok, {len(report['rejected'])} rejected, {report['written']} written")
            for r in report["rejected"][:20]:
                print(f"  row {r['row']}: {r['reason']}")
    else:
        if args.guideline_version is not None and not args.campaign:
            raise ConfigError("--guideline-version filters one campaign's ratings: add --campaign NAME")
        report = (studio.campaign_agreement(COMMAND_LINE, args.campaign, args.model, args.n_boot, args.guideline_version) if args.campaign
                  else studio.agreement(model=args.model, n_boot=args.n_boot))
        if args.json:
            _print_json(report)
        elif report["kind"] == "empathy":
            for m in EPITOME_MECHANISMS:
                b = report[m]
                print(f"{m}: alpha ordinal {b['alpha_ordinal']}, nominal {b['alpha_nominal']}, pairwise QWK mean {b['qwk']['mean']} "
                      f"({b['qwk']['pairs']} pairs)")
        else:
            for t in ("initial", "final"):
                b = report[t]
                print(f"{t}: alpha interval {b['alpha_interval']}, ordinal {b['alpha_ordinal']}, ICC(2,1) {b['icc2_1']}, ICC(2,k) {b['icc2_k']}")
    return 0


def cmd_campaigns(args: argparse.Namespace) -> int:
    """Create, list, close or reopen rating campaigns (intensity of dialogues, or empathy of responses).
    Example: empathy-studio campaigns create --name pilot --kind empathy --source file --file pairs.csv --k 2"""
    studio = _studio(args)
    if args.action == "create":
        if not args.name:
            raise ConfigError("create needs --name")
        req = CampaignRequest(name=args.name, kind=args.kind, k=args.k, source=args.source, split=args.split, emotion=args.emotion,
                              ids=args.ids or "", file=args.file, limit=args.limit, blind=not args.assisted, guidelines=args.guidelines or "",
                              calibration=args.calibration, gold_rate=args.gold_rate, overlap=args.overlap, subset=args.subset,
                              **({"scales": args.scales.split(",")} if args.scales else {}))
        studio.create_campaign(COMMAND_LINE, req)
        print(f"campaign {req.name} created ({req.kind})", file=sys.stderr)
    elif args.action in ("close", "reopen"):
        if not args.name:
            raise ConfigError(f"{args.action} needs --name")
        studio.set_campaign_active(COMMAND_LINE, args.name, args.action == "reopen")
    rows = studio.campaign_overview(COMMAND_LINE)
    if args.json:
        _print_json(rows)
    elif args.action == "list":
        for r in rows:
            print(f"{r['name']:<24} {r['kind']:<9} k={r['k'] or '-':<3} {r['complete']}/{r['items']} complete, {r['ratings']} ratings"
                  f"{'' if r['active'] else ' (closed)'}")
    return 0


def cmd_annotators(args: argparse.Namespace) -> int:
    """Add or update a local account.  Example: empathy-studio annotators add --name ana --password s3cret --role admin"""
    a = _studio(args).add_annotator(args.name, args.role, args.password)
    print(f"{a.name} ({a.role})")
    return 0


def cmd_releases(args: argparse.Namespace) -> int:
    """Freeze, list, show and export releases: versioned consensus labels of campaigns, with provenance and a dataset card.
    Example: empathy-studio releases create --name pilot-v1 --campaign pilot --method mace"""
    studio = _studio(args)
    if args.action == "create":
        if not args.name or not args.campaign:
            raise ConfigError("create needs --name and at least one --campaign")
        rel = studio.create_release(COMMAND_LINE, ReleaseRequest(args.name, list(args.campaign), args.method))
        print(f"release {rel['id']} frozen: {rel['n_items']} items, hash {rel['content_hash']}", file=sys.stderr)
        rows: Any = rel
    elif args.action in ("show", "export"):
        if not args.id:
            raise ConfigError(f"{args.action} needs --id (see: empathy-studio releases list)")
        if args.action == "export":
            if not args.to:
                raise ConfigError("export needs --to file://FOLDER or a Hub dataset repo owner/name")
            print(studio.export_release(COMMAND_LINE, args.id, args.to))
            return 0
        rows = studio.release(COMMAND_LINE, args.id)
        if not args.json:
            print(rows["card"])
            return 0
    else:
        rows = studio.releases(COMMAND_LINE)
        if not args.json:
            for r in rows:
                print(f"{r['id']:<40} {r['created'][:19]}  {r['method']:<13} {r['n_items']:>6} items  "
                      f"{', '.join(c['name'] + ' v' + str(c['guideline_version']) for c in r['campaigns'])}"
                      f"{'  supersedes ' + r['supersedes'] if r['supersedes'] else ''}")
            return 0
    _print_json(rows)
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    """Read the append-only audit log (ratings made, changed and undone, adjudications, releases, campaign, guideline
    and role changes), newest first, or write all of it as CSV.  Example: empathy-studio audit --limit 20"""
    studio = _studio(args)
    if args.csv:
        print(studio.audit_export(COMMAND_LINE))
        return 0
    rows = studio.audit_log(COMMAND_LINE, args.limit, args.action)
    if args.json:
        _print_json(rows)
    else:
        for r in rows:
            print(f"{r['at'][:19]}  {r['actor'] or '-':<16} {r['action']:<18} {r['campaign'] or '':<16} {r['item_id'] or ''}")
    return 0


# ---------------------------------------------------------------------------
# the parser


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="empathy-studio", description="Emotion category and intensity for help-seeker text.")
    p.add_argument("--traceback", action="store_true", help="show the full traceback of an unexpected error")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def common(sp: argparse.ArgumentParser, esconv: bool = True) -> None:
        sp.add_argument("--db", help="SQLite database (default: db_path in space_config.yaml)")
        sp.add_argument("--models-dir", help="folder of fine-tuned models (default: models_dir in space_config.yaml)")
        if esconv:
            sp.add_argument("--esconv", help="ESConv-format JSON file (ESConv.json or FailedESConv.json)")

    s = sub.add_parser("serve", help=cmd_serve.__doc__, description=cmd_serve.__doc__)
    s.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    s.add_argument("--port", type=int, default=7860, help="port to listen on")
    s.add_argument("--auth", action="append", help="local account USER:PASS or USER:PASS:ROLE (repeatable)")
    common(s)
    s.set_defaults(fn=cmd_serve)

    s = sub.add_parser("models", help=cmd_models.__doc__, description=cmd_models.__doc__)
    s.add_argument("--json", action="store_true", help="print JSON")
    manage = s.add_mutually_exclusive_group()
    manage.add_argument("--set-default", metavar="NAME", help="the model every list opens on")
    manage.add_argument("--rename", nargs=2, metavar=("OLD", "NEW"), help="rename a trained model (its cached predictions follow)")
    manage.add_argument("--delete", metavar="NAME", help="delete a trained model and its cached predictions")
    common(s, esconv=False)
    s.set_defaults(fn=cmd_models)

    s = sub.add_parser("warm", help=cmd_warm.__doc__, description=cmd_warm.__doc__)
    s.add_argument("--model", help="registry name (default: every model that is not warm yet)")
    common(s)
    s.set_defaults(fn=cmd_warm)

    s = sub.add_parser("train", help=cmd_train.__doc__, description=cmd_train.__doc__)
    add_request_options(s, TrainRequest)
    s.add_argument("--json", action="store_true", help="print a JSON summary")
    s.add_argument("--job-id", type=int, help=argparse.SUPPRESS)  # a job's child: the request is in the job's row
    common(s)
    s.set_defaults(fn=cmd_train)

    s = sub.add_parser("evaluate", help=cmd_evaluate.__doc__, description=cmd_evaluate.__doc__)
    s.add_argument("--model", required=True, help="registry name, or zeror")
    s.add_argument("--task", default="emotion-intensity", choices=["emotion-intensity", "empathy"],
                   help="empathy: an empathy rater on EPITOME's split (the --dataset is then epitome)")
    s.add_argument("--dataset", default="esconv", help="esconv, failed, esconv+failed, sad, epitome, or an ESConv-format JSON file")
    s.add_argument("--split", default="test", choices=["test", "val", "train", "all"], help="the paper's split")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    common(s)
    s.set_defaults(fn=cmd_evaluate)

    s = sub.add_parser("predict", help=cmd_predict.__doc__, description=cmd_predict.__doc__)
    s.add_argument("--model", required=True, help="registry name")
    s.add_argument("--task", default="emotion-intensity", choices=["emotion-intensity", "empathy"],
                   help="empathy: rate a supporter's response (--post and --response, or every supporter turn of --file)")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--text", help="one text")
    g.add_argument("--file", help="a text file (one text per line) or an ESConv-format JSON file")
    s.add_argument("--post", help="with --task empathy: the seeker's post")
    s.add_argument("--response", help="with --task empathy: the supporter's response")
    s.add_argument("--json", action="store_true", help="print JSON")
    common(s)
    s.set_defaults(fn=cmd_predict)

    s = sub.add_parser("score", help=cmd_score.__doc__, description=cmd_score.__doc__)
    s.add_argument("--task", required=True, choices=list(SCORE_TASKS), help="empathy (columns post, response) or emotion-intensity (column text)")
    s.add_argument("--model", required=True, help="an empathy rater (--task empathy) or a seeker model")
    s.add_argument("--input", required=True, help="a .jsonl, .csv or .parquet file")
    s.add_argument("--output", required=True, help="the .parquet file to write (shards beside it until the end)")
    s.add_argument("--shard-size", type=int, default=1000, help="rows per shard: the unit of resuming and of work per process")
    s.add_argument("--json", action="store_true", help="print a JSON summary")
    common(s, esconv=False)
    s.set_defaults(fn=cmd_score)

    s = sub.add_parser("ratings", help=cmd_ratings.__doc__, description=cmd_ratings.__doc__)
    s.add_argument("action", choices=["export", "import", "agreement", "quality"], help="what to do (quality: each rater's, with flags)")
    s.add_argument("--format", default="csv", choices=["csv", "jsonl", "hf"], help="export format")
    s.add_argument("--out", help="export destination")
    s.add_argument("--hub-repo", help="also push the hf export to this dataset repo (needs HF_TOKEN)")
    s.add_argument("--with-text", action="store_true", help="export: add the items' text (seeker text; post and response)")
    s.add_argument("--file", help="CSV or JSONL to import")
    s.add_argument("--dry-run", action="store_true", help="validate the import and report, write nothing")
    s.add_argument("--create-annotators", action="store_true", help="create unknown annotators on import")
    s.add_argument("--model", help="agreement: also compare annotators with this model's cached predictions")
    s.add_argument("--guideline-version", type=int, help="agreement: only the ratings made under this version of the campaign's guidelines")
    s.add_argument("--n-boot", type=int, default=200, help="agreement: bootstrap resamples for the alpha CI")
    s.add_argument("--campaign", help="export or agreement: one campaign's ratings only")
    s.add_argument("--json", action="store_true", help="print JSON")
    common(s)
    s.set_defaults(fn=cmd_ratings)

    s = sub.add_parser("campaigns", help=cmd_campaigns.__doc__, description=cmd_campaigns.__doc__)
    s.add_argument("action", choices=["list", "create", "close", "reopen"], help="what to do")
    s.add_argument("--name", help="the campaign")
    s.add_argument("--kind", default="intensity", choices=list(CAMPAIGN_KINDS), help="what is rated: dialogues' intensity or responses' empathy")
    s.add_argument("--k", type=int, default=2, help="annotators per item")
    s.add_argument("--source", default="split", choices=list(CAMPAIGN_SOURCES), help="items from a split (ESConv, or EPITOME for empathy), ids or a file")
    s.add_argument("--split", default="test", help="with --source split: train, val, test or all")
    s.add_argument("--emotion", help="with --source split (intensity): only this gold emotion")
    s.add_argument("--ids", help="with --source ids: item ids, comma-separated")
    s.add_argument("--file", help="with --source file: ESConv-format JSON (intensity) or a CSV/JSONL of post and response (empathy)")
    s.add_argument("--limit", type=int, help="at most this many items, drawn with seed 42")
    s.add_argument("--scales", help="intensity: comma-separated scales (initial,final[,emotion][,turns])")
    s.add_argument("--assisted", action="store_true", help="show the model's (or the rater's) suggestion: not blind")
    s.add_argument("--guidelines", help="shown to annotators on first entry")
    s.add_argument("--calibration", type=int, default=0, help="items everyone rates first")
    s.add_argument("--gold-rate", type=float, default=0.0, help="hidden gold checks per item (0-0.5)")
    s.add_argument("--overlap", choices=OVERLAPS, default=DEFAULT_OVERLAP,
                   help="fill: each item gets its k ratings before new ones open; spread: least-rated first; subset: everyone rates the first N")
    s.add_argument("--subset", type=int, default=0, help="with --overlap subset: how many items everyone rates (the first ones)")
    s.add_argument("--json", action="store_true", help="print JSON")
    common(s, esconv=False)
    s.set_defaults(fn=cmd_campaigns)

    s = sub.add_parser("annotators", help=cmd_annotators.__doc__, description=cmd_annotators.__doc__)
    s.add_argument("action", choices=["add"], help="what to do")
    s.add_argument("--name", required=True, help="account name")
    s.add_argument("--password", help="password (stored hashed)")
    s.add_argument("--role", default="annotator", choices=list(ROLES), help="role: annotators rate, reviewers also adjudicate, admins run campaigns")
    common(s, esconv=False)
    s.set_defaults(fn=cmd_annotators)

    s = sub.add_parser("releases", help=cmd_releases.__doc__, description=cmd_releases.__doc__)
    s.add_argument("action", choices=["list", "create", "show", "export"], help="what to do")
    s.add_argument("--name", help="release name (create)")
    s.add_argument("--campaign", action="append", help="a campaign to release (create; repeat for several of one kind)")
    s.add_argument("--method", default=DEFAULT_AGGREGATION, choices=list(AGGREGATION_METHODS),
                   help="aggregation where raters disagree without a majority (create)")
    s.add_argument("--id", help="release id (show, export)")
    s.add_argument("--to", help="export target: file://FOLDER or a Hub dataset repo owner/name (export)")
    s.add_argument("--json", action="store_true", help="print JSON")
    common(s, esconv=False)
    s.set_defaults(fn=cmd_releases)

    s = sub.add_parser("audit", help=cmd_audit.__doc__, description=cmd_audit.__doc__)
    s.add_argument("--limit", type=int, default=50, help="latest rows to print")
    s.add_argument("--action", help="only this action (e.g. 'item adjudicated')")
    s.add_argument("--csv", action="store_true", help="write the whole log as CSV and print its path")
    s.add_argument("--json", action="store_true", help="print JSON")
    common(s, esconv=False)
    s.set_defaults(fn=cmd_audit)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    apply_privacy_env()
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except UserError as exc:
        sys.stderr.write(f"empathy-studio: error: {exc}\n")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        sys.stderr.write("empathy-studio: interrupted\n")
        return 130
    except Exception as exc:  # a bug: one line, and the traceback on request
        if args.traceback:
            traceback.print_exc()
        first = str(exc).splitlines()[0] if str(exc) else ""
        sys.stderr.write(f"empathy-studio: unexpected error ({exc.__class__.__name__}: {first}); --traceback shows where\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
