"""Shared UI pieces: how an event is registered (`on`, `guard`: a user's mistake is a warning, never a locked page), numbers
from form fields, and the progress bar. What the page shows is rendered in `html.py`; its CSS and scripts are in `style.py`."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import logging
import typing
from typing import Any, Callable, Iterator

import gradio as gr

from ..services import Annotator, ProgressEvent, UserError
from .html import esc

log = logging.getLogger("empathy_studio.ui")
WARNING_SECONDS = 4  # long enough to read a line; short, so warnings do not pile up over the form


_ACTOR = contextvars.ContextVar("actor", default=None)


@contextlib.contextmanager
def actors_from(resolve: Callable[[Any], Any], acting: Callable[[Any], Any]) -> Iterator[None]:
    """While the app is built: every handler registered by `on` hands its arguments through `resolve` first,
    and runs within `acting(the caller)`.

    `build_app` passes `Studio.current_actor` and `Studio.acting`, so a signed-in user held in the page's
    state is checked again on every call (session still open, role as it is now), not trusted as it was
    at sign-in, and the studio knows who is calling (an anonymous caller never starts a model build).
    """
    token = _ACTOR.set((resolve, acting))
    try:
        yield
    finally:
        _ACTOR.reset(token)


def guard(
    fn: Callable[..., Any], n_outputs: int | None = None, actors: tuple[Callable[[Any], Any], Callable[[Any], Any]] | None = None
) -> Callable[..., Any]:
    """Run an event handler so that a user's mistake never locks the page.

    In the browser a `UserError` becomes a warning toast and every output keeps its value (a
    raised `gr.Error` would turn each output into a red pill and freeze the form). An API
    caller (gradio_client) gets a real error instead, so scripts see the refusal. Anything
    else is logged and reported without a traceback, and the server stays up.
    """
    try:
        hints = typing.get_type_hints(fn)
    except (NameError, TypeError):
        hints = {}
    sig = inspect.signature(fn)
    own_request = next((n for n, t in hints.items() if t is gr.Request), None)
    params = list(sig.parameters.values())
    if own_request is None:  # Gradio hands a request only to a positional parameter before any *args: first, then
        at = (
            0
            if any(p.kind == p.VAR_POSITIONAL for p in params)
            else next((i for i, p in enumerate(params) if p.kind in (p.VAR_KEYWORD, p.KEYWORD_ONLY)), len(params))
        )
        params.insert(
            at,
            inspect.Parameter(
                "_request",
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                annotation=gr.Request,
                default=inspect.Parameter.empty if at == 0 else None,
            ),
        )

    def refuse(message: str, request: gr.Request | None) -> Any:
        if n_outputs is None or from_api(request):
            raise gr.Error(message, print_exception=False)
        gr.Warning(esc(message), duration=WARNING_SECONDS)
        if n_outputs == 0:
            return None
        return gr.skip() if n_outputs == 1 else tuple(gr.skip() for _ in range(n_outputs))

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        # Gradio hands special arguments in by position or by name; find ours, and keep it from `fn` unless it asked too
        request = next((a for a in (*args, *kwargs.values()) if isinstance(a, gr.Request)), None)
        if own_request is None:
            args = tuple(a for a in args if a is not request or request is None)
            kwargs.pop("_request", None)
        try:
            if actors is None:
                return fn(*args, **kwargs)
            resolve, acting = actors
            args = tuple(resolve(a) for a in args)
            kwargs = {k: resolve(v) for k, v in kwargs.items()}
            with acting(next((a for a in (*args, *kwargs.values()) if isinstance(a, Annotator)), None)):
                return fn(*args, **kwargs)
        except gr.Error:
            raise
        except UserError as exc:
            return refuse(str(exc), request)
        except Exception as exc:  # the server stays up and the user gets a message, never a traceback
            log.exception("unexpected error in %s", fn.__name__)
            return refuse(f"Something went wrong ({exc.__class__.__name__}); the details are in the server log.", request)

    wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {**hints, **({} if own_request else {"_request": gr.Request})}
    return wrapper


def from_api(request: gr.Request | None) -> bool:
    """Whether a call came from an API client (gradio_client says so in a header), not from the page."""
    return request is not None and request.headers.get("x-gradio-user") == "api"


def on(trigger: Callable[..., Any], fn: Callable[..., Any], inputs: Any = None, outputs: Any = None, **kwargs: Any) -> Any:
    """Register `fn` on an event (`button.click`, `timer.tick`, ...) behind `guard`, which needs to know how many outputs to keep."""
    n = 0 if outputs is None else (len(outputs) if isinstance(outputs, (list, tuple, set)) else 1)
    return trigger(guard(fn, n, _ACTOR.get()), inputs, outputs, **kwargs)


def whole(value: Any) -> Any:
    """A number field's value as an integer when it is one ("3", 3.0), else as given, for the request's own check to refuse.

    Number fields carry no `precision=0`: Gradio would round 2.5 to 2 before any handler sees it.
    """
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return value


def progress_bar(progress: gr.Progress) -> Callable[[ProgressEvent], None]:
    """The page's progress bar as a `ProgressEvent` callback (e.g. while the first-run model is built)."""
    return lambda event: progress(event.fraction, desc=event.label)
