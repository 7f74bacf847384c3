"""The one rule for names that become paths: model names, export names, campaign names.

A name is short, starts with a letter or digit, and holds only letters, digits,
`.`, `_` and `-`, so it can never climb out of its folder, hide as a dotfile,
or contain a separator; `inside` checks the resolved path as well, in case a
folder itself is a link.
"""

from __future__ import annotations

import re
from pathlib import Path

from .errors import ConfigError

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
NAME_RULE = "1-64 characters: letters, digits, '.', '_' or '-', starting with a letter or digit"


def check_name(name: str, what: str = "name") -> str:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or name.endswith(".tmp"):
        raise ConfigError(f"{what} {name!r} is not allowed: use {NAME_RULE}")
    return name


def inside(folder: Path, name: str, what: str = "name") -> Path:
    """`folder / name` for a checked name, refused if it resolves outside `folder`."""
    check_name(name, what)
    path = (Path(folder) / name).resolve()
    if path.parent != Path(folder).resolve():
        raise ConfigError(f"{what} {name!r} would be written outside {Path(folder).name}/")
    return path
