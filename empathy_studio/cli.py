"""The `empathy-studio` command: serve, models, train, evaluate, predict, ratings.

Each command builds `Settings` and a `Studio`, makes one service call and
prints. Bad input is one line on stderr and exit code 2; long work shows a
tqdm bar on stderr; with `--json` only JSON goes to stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from .settings import apply_privacy_env, load_settings, parse_account

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not usage plus error
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(EXIT_BAD_INPUT)


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


def _bar() -> Callable[[int, int, str], None]:
    """A progress callable that draws one tqdm bar per phase on stderr."""
    from tqdm import tqdm

    state: dict[str, Any] = {"what": None, "bar": None}

    def update(done: int, total: int, what: str) -> None:
        if state["what"] != what:
            if state["bar"] is not None:
                state["bar"].close()
            state["bar"], state["what"] = tqdm(total=total, desc=what, file=sys.stderr, leave=False, dynamic_ncols=True), what
        bar = state["bar"]
        bar.total = total
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()
            state["what"] = None

    return update


def _studio(args: argparse.Namespace):
    from .services import Studio

    overrides = {}
    if getattr(args, "db", None):
        overrides["db_path"] = Path(args.db).resolve()
        overrides["persistent_dir"] = None
    if getattr(args, "models_dir", None):
        overrides["models_dir"] = Path(args.models_dir).resolve()
    settings = load_settings(**overrides)
    if getattr(args, "auth", None):
        settings = settings.replace(auth=tuple(parse_account(a) for a in args.auth))
    return Studio(settings, esconv_path=getattr(args, "esconv", None))


def _data_note(studio) -> None:
    if studio.esconv.is_demo:
        print(f"note: using the {studio.esconv.describe()}", file=sys.stderr)


# ---------------------------------------------------------------------------
# commands


def cmd_serve(args: argparse.Namespace) -> int:
    """Start the studio.  Example: empathy-studio serve --port 7860 --auth admin:secret:admin"""
    from .ui import build_app, launch_options

    studio = _studio(args)
    _data_note(studio)
    app = build_app(studio)
    print(f"Empathy Studio on http://{args.host}:{args.port}", file=sys.stderr)
    app.launch(server_name=args.host, server_port=args.port, quiet=True, **launch_options())
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    """List the registry.  Example: empathy-studio models --json"""
    studio = _studio(args)
    rows = studio.registry.rows()
    if args.json:
        _print_json(rows)
    else:
        for r in rows:
            f1 = r["metrics"].get("f1_weighted")
            print(f"{r['name']:<28} {r['kind']:<10} {r['availability']:<24} {'F1 %.3f' % f1 if f1 is not None else ''}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Fine-tune a model and register it.  Example: empathy-studio train --model minilm --dataset esconv --epochs 4"""
    from .services import TrainRequest

    studio = _studio(args)
    _data_note(studio)
    req = TrainRequest(model=args.model, dataset=args.dataset, task=args.task, preset=args.preset, epochs=args.epochs,
                       max_length=args.max_length, batch_size=args.batch_size, learning_rate=args.learning_rate, balanced=args.balanced,
                       seed=args.seed, policy=args.policy, with_ratings=args.with_ratings, name=args.name, max_steps=args.max_steps,
                       freeze_encoder=args.freeze_encoder, pooling=args.pooling, intensity_head=args.intensity_head, focal_gamma=args.focal_gamma,
                       min_annotators=args.min_annotators, aggregate=args.aggregate)
    on_event = None
    from .jobs import JobCancelled, JobReporter

    if args.job_id is not None:
        on_event = JobReporter(studio.store, args.job_id)
    try:
        manifest = studio.train_and_register(req, progress=_bar(), on_event=on_event)
    except JobCancelled as exc:
        print(f"empathy-studio: {exc}", file=sys.stderr)
        return 3
    if args.job_id is not None:
        on_event.finished(manifest)
    summary = {"name": manifest["name"], "parent": manifest["parent"], "train_seconds": manifest["train_seconds"], "metrics": manifest["metrics"], "delta": manifest["delta"]}
    if args.json:
        _print_json(summary)
    else:
        m = manifest["metrics"]
        print(f"registered {manifest['name']} in {manifest['train_seconds']:.0f} s: F1 {m['f1_weighted']:.4f}, "
              f"MSE initial {m.get('mse_initial')}, final {m.get('mse_final')}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Score a model on a split.  Example: empathy-studio evaluate --model zeror --dataset esconv --split test --json"""
    studio = _studio(args)
    if args.dataset == "esconv":
        _data_note(studio)
    result = studio.evaluate(args.model, args.dataset, args.split, progress=None if args.model == "zeror" else _bar())
    per_class = result.pop("per_class")
    if args.json:
        _print_json(result)
        return 0
    for k, v in result.items():
        print(f"{k:<22} {v:.4f}" if isinstance(v, float) else f"{k:<22} {v}")
    for row in per_class:
        print(f"  {row['emotion']:<34} P {row['precision']:.3f}  R {row['recall']:.3f}  F1 {row['f1']:.3f}  n {row['support']}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """Predict emotion and intensity.  Example: empathy-studio predict --model minilm-quick --text "I can't sleep since I lost my job" """
    studio = _studio(args)
    if args.text is not None:
        texts = [args.text]
    else:
        path = Path(args.file)
        if path.suffix.lower() == ".json":
            from .data import load_esconv

            texts = [d.seeker_text for d in load_esconv(path)]
        else:
            try:
                texts = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
            except (FileNotFoundError, UnicodeDecodeError, IsADirectoryError) as exc:
                raise ValueError(f"{path}: cannot read ({exc.__class__.__name__})") from None
        if not texts:
            raise ValueError(f"{path}: no text in file")
    preds = studio.predict_texts(args.model, texts, progress=_bar() if len(texts) > 1 else None)
    rows = [{"text": t, **p.to_dict()} for t, p in zip(texts, preds)]
    if args.json:
        _print_json(rows if len(rows) > 1 else rows[0])
    else:
        for r in rows:
            inten = "  ".join(f"{t} {r[f'pred_{t}']:.2f}" for t in ("initial", "final", "change") if r[f"pred_{t}"] is not None)
            print(f"{r['pred_emotion']:<12} {r['probs'][r['pred_emotion']]:.2f}  {inten}  | {r['text'][:60]}")
    return 0


def cmd_ratings(args: argparse.Namespace) -> int:
    """Export, import or measure agreement of ratings.  Example: empathy-studio ratings export --format csv --out ratings.csv"""
    from .annotation import Annotation, export_ratings, import_ratings

    studio = _studio(args)
    store = studio.store
    if args.action == "export":
        if not args.out:
            raise ValueError("export needs --out PATH")
        n = export_ratings(store, args.out, args.format, args.hub_repo, os.environ.get("HF_TOKEN"))
        print(f"exported {n} ratings to {args.out}", file=sys.stderr)
    elif args.action == "import":
        if not args.file:
            raise ValueError("import needs --file PATH (CSV or JSONL)")
        if not store.item_ids():
            studio.sync_items()
        report = import_ratings(store, args.file, dry_run=args.dry_run, create_annotators=args.create_annotators)
        if args.json:
            _print_json(report)
        else:
            print(f"{report['rows']} rows: {report['ok']} ok, {len(report['rejected'])} rejected, {report['written']} written")
            for r in report["rejected"][:20]:
                print(f"  row {r['row']}: {r['reason']}")
    else:
        report = Annotation(studio).agreement(model=args.model, n_boot=args.n_boot)
        if args.json:
            _print_json(report)
        else:
            for t in ("initial", "final"):
                b = report[t]
                print(f"{t}: alpha interval {b['alpha_interval']}, ordinal {b['alpha_ordinal']}, ICC(2,1) {b['icc2_1']}, ICC(2,k) {b['icc2_k']}")
    return 0


def cmd_annotators(args: argparse.Namespace) -> int:
    """Add or update a local account.  Example: empathy-studio annotators add --name ana --password s3cret --role admin"""
    studio = _studio(args)
    a = studio.store.add_annotator(args.name, args.role, args.password)
    print(f"{a.name} ({a.role})")
    return 0


# ---------------------------------------------------------------------------
# the parser


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="empathy-studio", description="Emotion category and intensity for help-seeker text.")
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
    common(s, esconv=False)
    s.set_defaults(fn=cmd_models)

    s = sub.add_parser("train", help=cmd_train.__doc__, description=cmd_train.__doc__)
    s.add_argument("--model", required=True, help="registry name of the base or parent model")
    s.add_argument("--dataset", default="esconv", help="esconv, sad, epitome, or an ESConv-format JSON file")
    s.add_argument("--task", default="multitask", choices=["multitask", "classify"], help="multi-task (emotion + intensity) or emotion only")
    s.add_argument("--preset", default="default", choices=["default", "paper", "paper-heads", "quick"],
                   help="default (ours), paper (the paper's optimiser and heads), paper-heads (the paper's heads, our optimiser), quick (frozen encoder)")
    s.add_argument("--epochs", type=float, help="training epochs")
    s.add_argument("--max-length", type=int, help="tokens per text")
    s.add_argument("--batch-size", type=int, help="examples per step")
    s.add_argument("--learning-rate", type=float, help="encoder learning rate")
    s.add_argument("--balanced", action="store_true", help="the paper's class balancing (training set only)")
    s.add_argument("--seed", type=int, help="random seed (default 42)")
    s.add_argument("--policy", default="gold", choices=["gold", "gold+ratings", "ratings"], help="which labels to train on")
    s.add_argument("--with-ratings", metavar="DB", help="database whose ratings to use (implies --policy gold+ratings)")
    s.add_argument("--aggregate", default="mean", choices=["mean", "median"], help="how ratings of one item combine")
    s.add_argument("--min-annotators", type=int, default=1, help="ratings needed before an item counts")
    s.add_argument("--name", help="name of the new model (default: derived)")
    s.add_argument("--max-steps", type=int, default=-1, help="stop after this many steps (smoke tests)")
    s.add_argument("--freeze-encoder", action="store_true", help="train the heads only, on cached embeddings")
    s.add_argument("--pooling", choices=["cls", "mean"], help="how the encoder output is pooled")
    s.add_argument("--intensity-head", choices=["per_emotion", "shared"], help="intensity head design")
    s.add_argument("--focal-gamma", type=float, help="focal loss gamma (0 = cross-entropy)")
    s.add_argument("--json", action="store_true", help="print a JSON summary")
    s.add_argument("--job-id", type=int, help=argparse.SUPPRESS)
    common(s)
    s.set_defaults(fn=cmd_train)

    s = sub.add_parser("evaluate", help=cmd_evaluate.__doc__, description=cmd_evaluate.__doc__)
    s.add_argument("--model", required=True, help="registry name, or zeror")
    s.add_argument("--dataset", default="esconv", help="esconv, sad, epitome, or an ESConv-format JSON file")
    s.add_argument("--split", default="test", choices=["test", "val", "train", "all"], help="the paper's split")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    common(s)
    s.set_defaults(fn=cmd_evaluate)

    s = sub.add_parser("predict", help=cmd_predict.__doc__, description=cmd_predict.__doc__)
    s.add_argument("--model", required=True, help="registry name")
    g = s.add_mutually_exclusive_group(required=True)
    g.add_argument("--text", help="one text")
    g.add_argument("--file", help="a text file (one text per line) or an ESConv-format JSON file")
    s.add_argument("--json", action="store_true", help="print JSON")
    common(s)
    s.set_defaults(fn=cmd_predict)

    s = sub.add_parser("ratings", help=cmd_ratings.__doc__, description=cmd_ratings.__doc__)
    s.add_argument("action", choices=["export", "import", "agreement"], help="what to do")
    s.add_argument("--format", default="csv", choices=["csv", "jsonl", "hf"], help="export format")
    s.add_argument("--out", help="export destination")
    s.add_argument("--hub-repo", help="also push the hf export to this dataset repo (needs HF_TOKEN)")
    s.add_argument("--file", help="CSV or JSONL to import")
    s.add_argument("--dry-run", action="store_true", help="validate the import and report, write nothing")
    s.add_argument("--create-annotators", action="store_true", help="create unknown annotators on import")
    s.add_argument("--model", help="agreement: also compare annotators with this model's cached predictions")
    s.add_argument("--n-boot", type=int, default=200, help="agreement: bootstrap resamples for the alpha CI")
    s.add_argument("--json", action="store_true", help="print JSON")
    common(s)
    s.set_defaults(fn=cmd_ratings)

    s = sub.add_parser("annotators", help=cmd_annotators.__doc__, description=cmd_annotators.__doc__)
    s.add_argument("action", choices=["add"], help="what to do")
    s.add_argument("--name", required=True, help="account name")
    s.add_argument("--password", help="password (stored hashed)")
    s.add_argument("--role", default="annotator", choices=["annotator", "admin"], help="role")
    common(s, esconv=False)
    s.set_defaults(fn=cmd_annotators)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    apply_privacy_env()
    args = build_parser().parse_args(argv)
    if getattr(args, "with_ratings", None) and args.policy == "gold":
        args.policy = "gold+ratings"
    from .data import DataError
    from .registry import ModelUnavailable
    from .store import PermissionDenied, StoreError

    try:
        return args.fn(args)
    except (DataError, StoreError, ModelUnavailable, PermissionDenied, ValueError, FileNotFoundError, KeyError, OSError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        sys.stderr.write(f"empathy-studio: error: {msg}\n")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        sys.stderr.write("empathy-studio: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
