"""Options generated from a request dataclass (name, type, help, choices), and a parser whose errors are one line."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
from typing import Any

from ..services import ConfigError, TrainRequest
from .common import EXIT_BAD_INPUT


class Parser(argparse.ArgumentParser):
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
        if kind is bool and hints[f.name] is not bool:  # bool | None: on, off, or the preset's choice
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        elif kind is bool:
            parser.add_argument(flag, action="store_true", default=None, help=help_text)
        else:
            parser.add_argument(
                flag,
                type=kind,
                choices=f.metadata.get("choices"),
                default=None,
                metavar=None if f.metadata.get("choices") else f.name.upper(),
                help=help_text,
            )


def request_from_args(args: argparse.Namespace, request_type: type = TrainRequest) -> Any:
    """The request the options describe; options not given keep the dataclass defaults."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(request_type) if getattr(args, f.name, None) is not None}
    if "model" not in given:
        raise ConfigError("train needs --model NAME (a registry name: empathy-studio models)")
    return request_type(**given)
