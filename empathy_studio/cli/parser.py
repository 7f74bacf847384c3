"""The argument parser of `empathy-studio`: one subcommand per command, the `train` options from `TrainRequest`."""

from __future__ import annotations

import argparse

from ..services import (
    AGGREGATION_METHODS,
    CAMPAIGN_KINDS,
    CAMPAIGN_SOURCES,
    DEFAULT_AGGREGATION,
    DEFAULT_OVERLAP,
    OVERLAPS,
    ROLES,
    SCORE_TASKS,
    TrainRequest,
)
from .models import cmd_ensemble, cmd_evaluate, cmd_models, cmd_predict, cmd_score, cmd_serve, cmd_train, cmd_warm
from .parser_options import Parser, add_request_options
from .study import cmd_annotators, cmd_audit, cmd_campaigns, cmd_ratings, cmd_releases


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="empathy-studio", description="Emotion category and intensity for help-seeker text.")
    p.add_argument("--traceback", action="store_true", help="show the full traceback of an unexpected error")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)

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

    s = sub.add_parser("ensemble", help=cmd_ensemble.__doc__, description=cmd_ensemble.__doc__)
    s.add_argument("members", nargs="+", metavar="MODEL", help="registry names of seeker models trained with different seeds")
    s.add_argument("--name", required=True, help="the new model's name")
    s.add_argument("--dataset", help="the ESConv-format JSON file the models were trained on, where it is not a named dataset")
    s.add_argument("--description", help="a line for the model card")
    s.add_argument("--json", action="store_true", help="print a JSON summary")
    common(s)
    s.set_defaults(fn=cmd_ensemble)

    s = sub.add_parser("evaluate", help=cmd_evaluate.__doc__, description=cmd_evaluate.__doc__)
    s.add_argument("--model", required=True, help="registry name, or zeror")
    s.add_argument(
        "--task",
        default="emotion-intensity",
        choices=["emotion-intensity", "empathy"],
        help="empathy: an empathy rater on EPITOME's split (the --dataset is then epitome)",
    )
    s.add_argument("--dataset", default="esconv", help="esconv, failed, esconv+failed, sad, epitome, or an ESConv-format JSON file")
    s.add_argument("--split", default="test", choices=["test", "val", "train", "all"], help="the paper's split")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    common(s)
    s.set_defaults(fn=cmd_evaluate)

    s = sub.add_parser("predict", help=cmd_predict.__doc__, description=cmd_predict.__doc__)
    s.add_argument("--model", required=True, help="registry name")
    s.add_argument(
        "--task",
        default="emotion-intensity",
        choices=["emotion-intensity", "empathy"],
        help="empathy: rate a supporter's response (--post and --response, or every supporter turn of --file)",
    )
    g = s.add_mutually_exclusive_group()
    g.add_argument("--text", help="one text")
    g.add_argument("--file", help="a text file (one text per line) or an ESConv-format JSON file")
    s.add_argument("--post", help="with --task empathy: the seeker's post")
    s.add_argument("--response", help="with --task empathy: the supporter's response")
    s.add_argument("--json", action="store_true", help="print JSON")
    common(s)
    s.set_defaults(fn=cmd_predict)

    s = sub.add_parser("score", help=cmd_score.__doc__, description=cmd_score.__doc__)
    s.add_argument(
        "--task", required=True, choices=list(SCORE_TASKS), help="empathy (columns post, response) or emotion-intensity (column text)"
    )
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
    s.add_argument(
        "--kind", default="intensity", choices=list(CAMPAIGN_KINDS), help="what is rated: dialogues' intensity or responses' empathy"
    )
    s.add_argument("--k", type=int, default=2, help="annotators per item")
    s.add_argument(
        "--source",
        default="split",
        choices=list(CAMPAIGN_SOURCES),
        help="items from a split (ESConv, or EPITOME for empathy), ids or a file",
    )
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
    s.add_argument(
        "--overlap",
        choices=OVERLAPS,
        default=DEFAULT_OVERLAP,
        help="fill: each item gets its k ratings before new ones open; spread: least-rated first; subset: everyone rates the first N",
    )
    s.add_argument("--subset", type=int, default=0, help="with --overlap subset: how many items everyone rates (the first ones)")
    s.add_argument("--json", action="store_true", help="print JSON")
    common(s, esconv=False)
    s.set_defaults(fn=cmd_campaigns)

    s = sub.add_parser("annotators", help=cmd_annotators.__doc__, description=cmd_annotators.__doc__)
    s.add_argument("action", choices=["add"], help="what to do")
    s.add_argument("--name", required=True, help="account name")
    s.add_argument("--password", help="password (stored hashed)")
    s.add_argument(
        "--role", default="annotator", choices=list(ROLES), help="role: annotators rate, reviewers also adjudicate, admins run campaigns"
    )
    common(s, esconv=False)
    s.set_defaults(fn=cmd_annotators)

    s = sub.add_parser("releases", help=cmd_releases.__doc__, description=cmd_releases.__doc__)
    s.add_argument("action", choices=["list", "create", "show", "export"], help="what to do")
    s.add_argument("--name", help="release name (create)")
    s.add_argument("--campaign", action="append", help="a campaign to release (create; repeat for several of one kind)")
    s.add_argument(
        "--method",
        default=DEFAULT_AGGREGATION,
        choices=list(AGGREGATION_METHODS),
        help="aggregation where raters disagree without a majority (create)",
    )
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
