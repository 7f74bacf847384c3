"""The one base class for errors that are the user's to fix, and the kinds of it.

Anything a user can get wrong (a file, a name, a number, a role) raises a
`UserError` whose message is one line meant for them. The UI shows it as a
warning and the CLI prints it and exits 2; every other exception is a bug and
is treated as one. Each kind also derives from the built-in error it refines,
so callers that catch `ValueError` or `PermissionError` keep working.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input or rights; the message is one line for the user."""


class DataError(UserError, ValueError):
    """A malformed input file."""

    def __init__(self, path: object, message: str, index: int | None = None, field: str | None = None):
        where = str(path)
        if index is not None:
            where += f": record {index}"
        if field is not None:
            where += f", field '{field}'"
        super().__init__(f"{where}: {message}")


class ConfigError(UserError, ValueError):
    """An option or setting outside what the studio accepts (a range, a choice, a combination)."""


class InputError(UserError, ValueError):
    """A text or value the user gave that cannot be used (empty, too long, out of range)."""


class StoreError(UserError, ValueError):
    """Invalid input to the store; nothing was written."""


class PermissionDenied(UserError, PermissionError):
    """The caller's role does not allow this."""


class ModelUnavailable(UserError, LookupError):
    """Unknown model name, or weights that cannot be had offline."""


class NotFound(UserError, LookupError):
    """An item, dialogue or job that does not exist."""


def check_choice(name: str, value: object, choices: object) -> None:
    """One message for a value outside its choices, wherever an option is checked."""
    if value not in choices:  # type: ignore[operator]
        raise ConfigError(f"{name} must be one of {', '.join(map(str, choices))}, got {value!r}")  # type: ignore[call-overload]
