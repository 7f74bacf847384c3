"""Shared UI pieces: error mapping, escaped HTML rendering, CSS and the keyboard script.

Every piece of dialogue text, typed text or note reaches the page through
`html.escape` here, so `<script>` or `<img onerror>` in data renders as text.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import html
import inspect
import logging
import math
import typing
from typing import Any, Callable, Iterator

import gradio as gr
from markdown_it import MarkdownIt

from ..services import Annotator, ProgressEvent, UserError

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


def guard(fn: Callable[..., Any], n_outputs: int | None = None,
          actors: tuple[Callable[[Any], Any], Callable[[Any], Any]] | None = None) -> Callable[..., Any]:
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
        at = 0 if any(p.kind == p.VAR_POSITIONAL for p in params) else next(
            (i for i, p in enumerate(params) if p.kind in (p.VAR_KEYWORD, p.KEYWORD_ONLY)), len(params))
        params.insert(at, inspect.Parameter("_request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=gr.Request,
                                            default=inspect.Parameter.empty if at == 0 else None))

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


def markdown_html(text: str) -> str:
    """Markdown as HTML for text an admin wrote (campaign guidelines): raw HTML is shown as typed, never run or
    dropped, and images are not loaded (a remote image would be fetched by every annotator's browser, a tracker);
    each image left out is named in a line under the text. Links stay links (markdown-it refuses javascript: ones)."""
    left_out: list[str] = []

    def image(_renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        tok = tokens[idx]
        src = tok.attrGet("src") or ""
        left_out.append(src)
        return f'<span class="es-removed">[image not shown: {esc(tok.content or src)}]</span>'

    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    md.add_render_rule("image", image)
    body = md.render(text or "")
    if left_out:
        body += (f'<div class="es-meta es-removed">{len(left_out)} image{"s" if len(left_out) != 1 else ""} in these guidelines '
                 f'{"are" if len(left_out) != 1 else "is"} not shown, so that no page calls out to another site: '
                 + ", ".join(esc(src) for src in left_out) + "</div>")
    return f'<div class="es-markdown">{body}</div>'


def esc(text: Any) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def progress_bar(progress: gr.Progress) -> Callable[[ProgressEvent], None]:
    """The page's progress bar as a `ProgressEvent` callback (e.g. while the first-run model is built)."""
    return lambda event: progress(event.fraction, desc=event.label)


MECHANISM_BADGES = {"emotional_reactions": "ER", "interpretations": "IP", "explorations": "EX"}


BADGE_LEGEND = ("ER emotional reactions · IP interpretations · EX explorations, each none, weak or strong (EPITOME's mechanisms); "
                "the number is the empathy score from 0 (none at all) to 1 (all three strong)")


def badge_legend() -> str:
    return f'<div class="es-meta es-legend">{esc(BADGE_LEGEND)}</div>'


def empathy_badges(levels: dict[str, str], score: float | None = None) -> str:
    """The rater's levels of one response as small badges: ER/IP/EX with none, weak or strong."""
    badges = "".join(f'<span class="es-badge es-{esc(v)}" title="{esc(m.replace("_", " "))}: {esc(v)}">{MECHANISM_BADGES.get(m, m)} {esc(v)}</span>'
                     for m, v in levels.items())
    return badges + (f'<span class="es-badge es-score" title="empathy score, 0-1">{score:.2f}</span>' if score is not None else "")


def dialogue_html(d: Any, show_gold: bool = True, ratings: dict[int, dict[str, Any]] | None = None) -> str:
    """A dialogue as chat bubbles; `data-item` tells the keyboard script when a new item is on screen.

    `ratings` (turn index -> what the empathy rater predicts) puts ER/IP/EX badges on those supporter bubbles.
    """
    rows = []
    for i, t in enumerate(d.turns):
        who = "seeker" if t.role == "seeker" else "supporter"
        strategy = f'<span class="es-strategy">{esc(t.strategy)}</span>' if t.strategy else ""
        rated = (ratings or {}).get(i)
        badges = f'<div class="es-badges">{empathy_badges(rated["pred_levels"], rated["pred_score"])}</div>' if rated else ""
        rows.append(f'<div class="es-turn es-{who}"><div class="es-who">{who}{strategy}</div><div class="es-text">{esc(t.text)}</div>{badges}</div>')
    meta = [f"<b>{esc(d.dialogue_id)}</b>", f"problem: {esc(d.problem or '–')}"]
    if show_gold:
        meta += [f"gold emotion: <b>{esc(d.emotion)}</b>", f"gold initial {fmt(d.initial, 0)}", f"final {fmt(d.final, 0)}"]
    situation = f'<div class="es-situation">Situation: {esc(d.situation)}</div>' if d.situation else ""
    if ratings:
        situation += badge_legend()
    return f'<div class="es-dialogue" data-item="{esc(d.dialogue_id)}"><div class="es-meta">{" · ".join(meta)}</div>{situation}{"".join(rows)}</div>'


def pair_html(item_id: str, post: str, response: str, suggestion: dict[str, Any] | None = None, rater: str | None = None) -> str:
    """A (post, response) item to rate for empathy; in an assisted campaign the rater's levels sit under the response."""
    hint = (f'<div class="es-badges"><span class="es-meta">{esc(rater or "rater")} suggests:</span> '
            f'{empathy_badges(suggestion["pred_levels"], suggestion["pred_score"])}</div>{badge_legend()}') if suggestion else ""
    return (f'<div class="es-dialogue" data-item="{esc(item_id)}"><div class="es-meta"><b>{esc(item_id)}</b> · how empathic is the response '
            f'to this post?</div><div class="es-turn es-seeker"><div class="es-who">seeker\'s post</div><div class="es-text">{esc(post)}</div></div>'
            f'<div class="es-turn es-supporter"><div class="es-who">supporter\'s response</div><div class="es-text">{esc(response)}</div>{hint}</div></div>')


def text_html(text: str) -> str:
    return f'<div class="es-dialogue"><div class="es-turn es-seeker"><div class="es-who">typed text</div><div class="es-text">{esc(text)}</div></div></div>'


def words_html(words: dict[str, tuple[float, list[tuple[str, float]], float]], pred: dict[str, Any] | None = None,
               baseline: dict[str, tuple[float, float]] | None = None) -> str:
    """How each intensity came about, in numbers a person can follow: the average seeker of the training data, then what
    this text's words move it by against the average text's words (each word that moves it at least 0.05, and the others
    together), then the rest (how the text reads as a whole, and the 1-5 limits). The parts add up to the prediction."""
    rows = []
    for target, (total, terms, other) in words.items():
        chips = [f"<span class='es-word es-{'up' if v > 0 else 'down'}'>{esc(t)} {'raises' if v > 0 else 'lowers'} {abs(v):.2f}</span>"
                 for t, v in terms]
        chips.append(f"<span class='es-word es-other'>other words {other:+.2f}</span>")
        if baseline and target in baseline and pred and pred.get(f"pred_{target}") is not None:
            start, words_mean = baseline[target]
            moved = total - words_mean
            rest = pred[f"pred_{target}"] - start - moved
            rows.append(f"<tr><td>{esc(target)}</td><td>{start:.2f}</td><td><b>{moved:+.2f}</b>: {' '.join(chips)} "
                        f"<span class='es-word es-other'>(the average text's words {words_mean:+.2f})</span></td><td>{rest:+.2f}</td>"
                        f"<td><b>{pred[f'pred_{target}']:.2f}</b></td></tr>")
        else:
            rows.append(f"<tr><td>{esc(target)}</td><td>–</td><td><b>{total:+.2f}</b>: {' '.join(chips)}</td><td>–</td><td>–</td></tr>")
    if not rows:
        return ""
    return ('<table class="es-table es-words"><tr><th></th><th>average seeker</th><th>this text\'s words, against the average text\'s</th>'
            '<th>the rest</th><th>prediction</th></tr>' + "".join(rows) + "</table>"
            '<div class="es-meta es-note">How to read it: start from the average seeker of the training data (their own rating, on '
            'the 1-5 scale). This text\'s words move that up or down, compared with what the words of an average text do; each word '
            'or phrase that moves it by 0.05 or more is named. "The rest" is how the text reads as a whole to the model, beyond its '
            'single words, and the 1-5 limits. The parts add up to the prediction.</div>')


TYPED_TEXT_NOTE = ("For one typed text: <b>initial</b> is how intense the feeling reads, on the seeker's own 1-5 scale before a chat; "
                   "<b>final</b> is what seekers who wrote like this reported after a supportive chat in ESConv; <b>change</b> is their difference as "
                   "the model learned it.")


def _value(pred: dict[str, Any], target: str) -> str:
    """"4.52 (80%: 3.41-5.00)": the prediction and its conformal interval, when the model is calibrated."""
    value = fmt(pred[f"pred_{target}"])
    iv = (pred.get(f"pred_{target}_interval") or {}).get("0.8")
    return f"{value} <span class='es-interval'>(80%: {iv[0]:.2f} to {iv[1]:.2f})</span>" if iv else value


def prediction_html(pred: dict[str, Any], gold: Any = None, model: str = "",
                    words: dict[str, tuple[float, list[tuple[str, float]], float]] | None = None, typed: bool = False,
                    baseline: dict[str, tuple[float, float]] | None = None) -> str:
    title = f'<div class="es-meta">model <b>{esc(model)}</b></div>' if model else ""
    if pred.get("too_little_text"):
        n = pred["words"]
        return (f'<div class="es-pred">{title}<div class="es-banner es-warn">Too little text to read: {n} word{"" if n == 1 else "s"}, and this '
                f'model beats a constant guess only from {pred["min_words"]} words on (measured on its validation split). Type more of what '
                f'the seeker said.</div></div>')
    head = "<tr><th></th><th>predicted</th>" + ("<th>gold</th>" if gold else "") + "</tr>"
    rows = [f"<tr><td>emotion</td><td><b>{esc(pred['pred_emotion'])}</b> ({pred['probs'][pred['pred_emotion']]:.0%})</td>"
            + (f"<td>{esc(gold.emotion)}</td>" if gold else "") + "</tr>"]
    for t in ("initial", "final", "change"):
        if pred.get(f"pred_{t}") is None:
            continue
        g = f"<td>{fmt(gold.gold(t), 0)}</td>" if gold else ""
        rows.append(f"<tr><td>{t} intensity</td><td>{_value(pred, t)}</td>{g}</tr>")
    notes = []
    if pred.get("pred_change") is not None:
        diff = pred["pred_final"] - pred["pred_initial"]
        if abs(pred["pred_change"] - diff) >= 0.05:
            notes.append(f"Change has a head of its own, trained on the reported change, so it need not equal final − initial ({diff:+.2f} here).")
        if pred.get("pred_initial_interval"):
            notes.append("Ranges are 80% conformal intervals, fitted on held-out errors: about 4 in 5 seekers' own ratings fall inside.")
    if typed:
        notes.append(TYPED_TEXT_NOTE)
    note_html = "".join(f'<div class="es-meta es-note">{n}</div>' for n in notes)
    return f'<div class="es-pred">{title}<table class="es-table">{head}{"".join(rows)}</table>{note_html}{words_html(words or {}, pred, baseline)}</div>'


def banner_html(text: str, kind: str = "info") -> str:
    return f'<div class="es-banner es-{kind}">{esc(text)}</div>'


CSS = """
.es-dialogue { max-height: 520px; overflow-y: auto; padding: 6px; }
.es-turn { margin: 6px 0; padding: 8px 12px; border-radius: 12px; max-width: 85%; line-height: 1.4; }
.es-seeker { background: #eef3fb; border: 1px solid #d3e0f3; margin-right: auto; }
.es-supporter { background: #f4f1ea; border: 1px solid #e6dfcf; margin-left: auto; }
.es-who { font-size: 11px; text-transform: uppercase; letter-spacing: .05em; color: #667; margin-bottom: 2px; }
.es-badges { margin-top: 4px; }
.es-badge { display: inline-block; margin: 2px 4px 0 0; padding: 0 6px; border-radius: 8px; font-size: 11px; border: 1px solid #cbd5e1; }
.es-badge.es-none { background: #f1f5f9; color: #64748b; }
.es-badge.es-weak { background: #fef3c7; color: #92400e; }
.es-badge.es-strong { background: #dcfce7; color: #166534; }
.es-badge.es-score { background: #e0e7ff; color: #3730a3; }
.es-strategy { margin-left: 8px; padding: 1px 6px; border-radius: 8px; background: #e6dfcf; color: #554; text-transform: none; }
.es-meta { font-size: 13px; color: #445; margin-bottom: 6px; }
.es-situation { font-size: 13px; font-style: italic; color: #556; margin-bottom: 8px; }
.es-table { border-collapse: collapse; width: 100%; font-size: 14px; }
.es-table th, .es-table td { border-bottom: 1px solid #e5e7eb; padding: 6px 8px; text-align: left; }
.es-banner { padding: 8px 12px; border-radius: 8px; font-size: 13px; }
.es-info { background: #eef6ff; color: #1e3a5f; }
.es-warn { background: #fff5e6; color: #6b4200; }
.es-scale.es-active { box-shadow: inset 0 0 0 2px #3b6ea5 !important; border-radius: 8px; }
.es-keys { font-size: 12px; color: #667; }
.es-word { white-space: nowrap; font-size: 13px; }
.es-up { color: #9a3412; }
.es-down { color: #1d4ed8; }
.es-other { color: #6b7280; }
.es-interval { color: #6b7280; font-size: 13px; }
.es-note { margin-top: 6px; }
.es-removed { color: #92400e; }
.es-hidden { display: none !important; }
.es-log { max-height: 220px; overflow-y: auto; display: flex; flex-direction: column-reverse; background: #f8fafc;
          border: 1px solid #e5e7eb; border-radius: 8px; }
.es-log pre { margin: 0; padding: 8px 10px; font-size: 12px; white-space: pre-wrap; word-break: break-word; }
.es-status { font-size: 13px; color: #14532d; background: #ecfdf3; border-radius: 6px; padding: 4px 8px; }
.es-progress progress { height: 10px; }
/* the 1-5 scales stay on one line, down to a phone's width */
.es-scale .wrap { flex-wrap: nowrap !important; gap: 6px !important; }
.es-scale .wrap label { flex: 1 1 0; justify-content: center; min-width: 0 !important; padding: 6px 4px !important; }
@media (max-width: 900px) {
  .es-turn { max-width: 100%; }
  /* on a narrow screen the rating controls come before the dialogue, so Save is on screen without scrolling */
  #rate-col { order: -1; }
  #annotate-chat .es-dialogue { max-height: 320px; }
}
"""

# 1-5 set the active scale (initial, then final), Enter submits, s skips, b goes back, u or Ctrl+Z undoes,
# arrow keys switch the scale. In a response-empathy campaign 0-2 set the active mechanism (ER, then IP,
# then EX). Inactive while typing in a text field. Whenever the form is filled from elsewhere (a new item,
# a draft restored after a reload, a campaign picked again) and until the next key, the active scale is
# the first one still empty, so a key never overwrites a restored value; a refused save keeps it.
# After sign-in, focus leaves the password box.
# Toasts live outside the app's container, where Gradio's scoping of `css` does not reach rules inside @media; these go in
# the page's head as they are. Wide: bottom left, away from the rating controls on the right. Narrow (the form's scales
# fill the lower screen): a thin bar at the top, clear of them.
TOAST_CSS = """
<style>
.toast-wrap { top: auto !important; bottom: 16px !important; left: 16px !important; right: auto !important; }
@media (max-width: 900px) {
  .toast-wrap { top: 4px !important; bottom: auto !important; left: 50% !important; right: auto !important; transform: translateX(-50%);
                width: min(96vw, 520px) !important; }
  .toast-wrap .toast-body { margin: 0 !important; padding: 6px 10px !important; }
}
</style>
"""

KEYBOARD_JS = TOAST_CSS + """
<script>
(() => {
  const orders = {intensity: ['initial', 'final'], empathy: ['er', 'ip', 'ex']};
  let active = 'initial';
  let shown = null;
  let keyed = false;  // a rating key was pressed on this item since the form was last filled from elsewhere
  const mode = () => { const e = document.getElementById('rate-er'); return e && e.offsetParent !== null ? 'empathy' : 'intensity'; };
  const isSet = (n) => { const el = document.getElementById('rate-' + n); return !!(el && el.querySelector('input[type=radio]:checked')); };
  const firstEmpty = () => orders[mode()].find(n => !isSet(n)) || orders[mode()][0];
  const mark = () => {
    document.querySelectorAll('.es-scale').forEach(e => e.classList.remove('es-active'));
    const el = document.getElementById('rate-' + active); if (el) el.classList.add('es-active');
  };
  const settle = () => { const next = firstEmpty(); if (next !== active || !document.querySelector('.es-scale.es-active')) { active = next; mark(); } };
  const zone = () => {  // the browser's time zone, into the hidden field the ratings table reads it from
    const box = document.querySelector('#browser-zone textarea, #browser-zone input');
    if (box && !box.value) {
      box.value = Intl.DateTimeFormat().resolvedOptions().timeZone || '';
      box.dispatchEvent(new Event('input', {bubbles: true}));
    }
  };
  new MutationObserver(() => {
    zone();
    const d = document.querySelector('#annotate-chat .es-dialogue');
    const item = d ? d.getAttribute('data-item') : null;
    if (item !== shown) { shown = item; keyed = false; }
    if (!keyed || orders[mode()].every(n => !isSet(n))) settle();  // filled (or cleared) from elsewhere: the first empty scale
    const who = document.getElementById('whoami');
    if (who && who.innerText.startsWith('Signed in') && !who.dataset.seen) {
      who.dataset.seen = '1';
      const pw = document.querySelector('#signin-password input');
      if (pw && document.activeElement === pw) pw.blur();
      const panel = document.getElementById('annotate-panel');
      if (panel) { panel.setAttribute('tabindex', '-1'); panel.focus({preventScroll: true}); }
    } else if (who && !who.innerText.startsWith('Signed in')) { delete who.dataset.seen; }
  }).observe(document.documentElement, {childList: true, subtree: true, characterData: true});
  document.addEventListener('focusin', (ev) => {
    const scale = ev.target.closest && ev.target.closest('.es-scale');
    const name = scale ? scale.id.replace('rate-', '') : null;
    if (name && orders[mode()].includes(name)) { keyed = true; active = name; mark(); }
  });
  document.addEventListener('keydown', (ev) => {
    const panel = document.getElementById('annotate-panel');
    if (!panel || panel.offsetParent === null || ev.metaKey || ev.altKey) return;
    const t = ev.target;
    if (t && (t.tagName === 'TEXTAREA' || (t.tagName === 'INPUT' && t.type !== 'radio' && t.type !== 'button' && t.type !== 'checkbox'))) return;
    const click = (sel) => { const b = document.querySelector(sel); if (b) b.click(); };
    const guide = document.getElementById('annotate-guidelines');
    if (guide && guide.offsetParent !== null) {  // the guidelines are read first: Enter says so, no key rates until then
      if (ev.key === 'Enter') { click('#guidelines-read'); ev.preventDefault(); }
      return;
    }
    if (ev.ctrlKey) { if (ev.key === 'z') { click('#undo-rating'); ev.preventDefault(); } return; }
    const order = orders[mode()];
    if (!order.includes(active)) active = order[0];
    const [lo, hi] = mode() === 'empathy' ? ['0', '2'] : ['1', '5'];
    if (ev.key.length === 1 && ev.key >= lo && ev.key <= hi) {
      const input = document.querySelector('#rate-' + active + ' input[type=radio][value="' + ev.key + '"]');
      if (input) { keyed = true; input.click(); const i = order.indexOf(active); if (i < order.length - 1) active = order[i + 1]; mark(); ev.preventDefault(); }
    } else if (ev.key === 'Enter') { click(mode() === 'empathy' ? '#submit-empathy' : '#submit-rating'); ev.preventDefault(); }
    else if (ev.key === 's') { click('#skip-item'); ev.preventDefault(); }
    else if (ev.key === 'b') { click('#back-item'); ev.preventDefault(); }
    else if (ev.key === 'u') { click('#undo-rating'); ev.preventDefault(); }
    else if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
      keyed = true;
      const step = ev.key === 'ArrowDown' ? 1 : order.length - 1;
      active = order[(order.indexOf(active) + step) % order.length]; mark(); ev.preventDefault();
    }
  });
})();
</script>
"""
