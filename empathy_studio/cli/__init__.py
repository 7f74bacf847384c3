"""The `empathy-studio` command: serve, models, train, evaluate, predict, score, ratings, campaigns, annotators, releases, audit.

Each command builds `Settings` and a `Studio`, makes one service call and
prints. The `train` options are generated from the `TrainRequest` fields (name,
type, help, choices), so an option is added in one place. A `UserError` is one
line on stderr and exit code 2; long work shows a tqdm bar on stderr; with
`--json` only JSON goes to stdout. One module per part: `common`, `parser_options`
and `parser`, `models` (the model commands), `study` (ratings, campaigns, releases).
"""

from __future__ import annotations

import sys
import traceback
from typing import Sequence

from ..services import UserError
from ..settings import apply_privacy_env
from .common import EXIT_BAD_INPUT
from .parser import build_parser
from .parser_options import request_from_args

__all__ = ["main", "build_parser", "request_from_args"]


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
