"""What every command shares: the studio it opens from the options, JSON output, the progress bar on stderr."""

from __future__ import annotations

import argparse
import json
import math
import sys
import typing
from pathlib import Path
from typing import Any

from ..services import ProgressEvent, Studio
from ..settings import load_settings, parse_account

ProgressFn = typing.Callable[[ProgressEvent], None]
EXIT_BAD_INPUT = 2


def json_safe(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def print_json(obj: Any) -> None:
    print(json.dumps(json_safe(obj), indent=2, ensure_ascii=False, allow_nan=False))


def progress_bar() -> ProgressFn:
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


def open_studio(args: argparse.Namespace) -> Studio:
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


def data_note(studio: Studio) -> None:
    note, demo = studio.data_note()
    if demo:
        print(f"note: using the {note}", file=sys.stderr)
