"""What the page shows, as HTML: dialogues, (post, response) pairs, predictions and their words, badges, banners, Markdown.

Every piece of dialogue text, typed text or note reaches the page through
`html.escape` here, so `<script>` or `<img onerror>` in data renders as text.
"""

from __future__ import annotations

import functools
import html
import math
from typing import Any, Sequence

from markdown_it import MarkdownIt


def esc(text: Any) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


@functools.lru_cache(maxsize=256)
def markdown_html(text: str) -> str:
    """Markdown as HTML for text an admin wrote (campaign guidelines): raw HTML is shown as typed, never run or
    dropped, and images are not loaded (a remote image would be fetched by every annotator's browser, a tracker);
    each image left out is named in a line under the text. Links stay links (markdown-it refuses javascript: ones).
    Kept per text: every annotator who opens a campaign is shown the same guidelines, rendered once."""
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
        body += (
            f'<div class="es-meta es-removed">{len(left_out)} image{"s" if len(left_out) != 1 else ""} in these guidelines '
            f"{'are' if len(left_out) != 1 else 'is'} not shown, so that no page calls out to another site: "
            + ", ".join(esc(src) for src in left_out)
            + "</div>"
        )
    return f'<div class="es-markdown">{body}</div>'


MECHANISM_BADGES = {"emotional_reactions": "ER", "interpretations": "IP", "explorations": "EX"}


BADGE_LEGEND = (
    "ER emotional reactions · IP interpretations · EX explorations, each none, weak or strong (EPITOME's mechanisms); "
    "the number is the empathy score from 0 (none at all) to 1 (all three strong)"
)


def badge_legend() -> str:
    return f'<div class="es-meta es-legend">{esc(BADGE_LEGEND)}</div>'


def empathy_badges(levels: dict[str, str], score: float | None = None) -> str:
    """The rater's levels of one response as small badges: ER/IP/EX with none, weak or strong."""
    badges = "".join(
        f'<span class="es-badge es-{esc(v)}" title="{esc(m.replace("_", " "))}: {esc(v)}">{MECHANISM_BADGES.get(m, m)} {esc(v)}</span>'
        for m, v in levels.items()
    )
    return badges + (f'<span class="es-badge es-score" title="empathy score, 0-1">{score:.2f}</span>' if score is not None else "")


def rationale_html(text: str, rationales: dict[str, list[list[int]]] | None, levels: dict[str, str] | None = None) -> str:
    """The response as typed (escaped, never parsed), with the words behind each mechanism the rater predicts above "none"
    marked: one `<mark>` per run of text, its classes and title naming the mechanisms (ER, IP, EX) that run shows."""
    cover: dict[int, set[str]] = {}
    for m, spans in (rationales or {}).items():
        if levels is not None and levels.get(m, "none") == "none":
            continue
        for start, end in spans:
            for i in range(max(0, start), min(len(text), end)):
                cover.setdefault(i, set()).add(MECHANISM_BADGES.get(m, m))
    out, i = [], 0
    while i < len(text):
        tags, j = cover.get(i, set()), i + 1
        while j < len(text) and cover.get(j, set()) == tags:
            j += 1
        piece = esc(text[i:j])
        if tags:
            names = sorted(tags, key=list(MECHANISM_BADGES.values()).index)
            classes = " ".join(f"es-why-{n.lower()}" for n in names)
            piece = f'<mark class="es-why {classes}" title="the words behind {", ".join(names)}">{piece}</mark>'
        out.append(piece)
        i = j
    return "".join(out)


def marks_words(pred: dict[str, Any]) -> bool:
    """Whether a prediction marks any words: a rationale span of a mechanism it puts above none."""
    return any(spans and pred["pred_levels"].get(m, "none") != "none" for m, spans in (pred.get("pred_rationales") or {}).items())


RATIONALE_LEGEND = "Marked words: what the rater reads as each mechanism (ER rose, IP blue, EX green; a title names them)."


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
        # the rater read the stripped turn, and its rationale spans count from there
        marked = bool(rated) and "pred_rationales" in rated
        text = rationale_html(t.text.strip(), rated["pred_rationales"], rated["pred_levels"]) if marked else esc(t.text)
        rows.append(
            f'<div class="es-turn es-{who}"><div class="es-who">{who}{strategy}</div><div class="es-text">{text}</div>{badges}</div>'
        )
    meta = [f"<b>{esc(d.dialogue_id)}</b>", f"problem: {esc(d.problem or '–')}"]
    if show_gold:
        meta += [f"gold emotion: <b>{esc(d.emotion)}</b>", f"gold initial {fmt(d.initial, 0)}", f"final {fmt(d.final, 0)}"]
    situation = f'<div class="es-situation">Situation: {esc(d.situation)}</div>' if d.situation else ""
    if ratings:
        situation += badge_legend()
        if any(marks_words(r) for r in ratings.values()):
            situation += f'<div class="es-meta es-legend">{esc(RATIONALE_LEGEND)}</div>'
    head = f'<div class="es-meta">{" · ".join(meta)}</div>'
    return f'<div class="es-dialogue" data-item="{esc(d.dialogue_id)}">{head}{situation}{"".join(rows)}</div>'


def pair_html(item_id: str, post: str, response: str, suggestion: dict[str, Any] | None = None, rater: str | None = None) -> str:
    """A (post, response) item to rate for empathy; in an assisted campaign the rater's levels sit under the response."""
    hint = (
        (
            f'<div class="es-badges"><span class="es-meta">{esc(rater or "rater")} suggests:</span> '
            f"{empathy_badges(suggestion['pred_levels'], suggestion['pred_score'])}</div>{badge_legend()}"
            + (f'<div class="es-meta es-legend">{esc(RATIONALE_LEGEND)}</div>' if marks_words(suggestion) else "")
        )
        if suggestion
        else ""
    )
    shown = (
        rationale_html(response, suggestion["pred_rationales"], suggestion["pred_levels"])
        if suggestion and "pred_rationales" in suggestion
        else esc(response)
    )
    return (
        f'<div class="es-dialogue" data-item="{esc(item_id)}"><div class="es-meta"><b>{esc(item_id)}</b> · how empathic is the response '
        'to this post?</div><div class="es-turn es-seeker"><div class="es-who">seeker\'s post</div><div '
        f'class="es-text">{esc(post)}</div></div>'
        '<div class="es-turn es-supporter"><div class="es-who">supporter\'s response</div><div '
        f'class="es-text">{shown}</div>{hint}</div></div>'
    )


def text_html(text: str) -> str:
    turn = f'<div class="es-turn es-seeker"><div class="es-who">typed text</div><div class="es-text">{esc(text)}</div></div>'
    return f'<div class="es-dialogue">{turn}</div>'


def words_html(
    words: dict[str, tuple[float, list[tuple[str, float]], float]],
    pred: dict[str, Any] | None = None,
    baseline: dict[str, tuple[float, float]] | None = None,
) -> str:
    """How each intensity came about, in numbers a person can follow: the average seeker of the training data, then what
    this text's words move it by against the average text's words (each word that moves it at least 0.05, and the others
    together), then the rest (how the text reads as a whole, and the 1-5 limits). The parts add up to the prediction."""
    rows = []
    for target, (total, terms, other) in words.items():
        chips = [
            f"<span class='es-word es-{'up' if v > 0 else 'down'}'>{esc(t)} {'raises' if v > 0 else 'lowers'} {abs(v):.2f}</span>"
            for t, v in terms
        ]
        chips.append(f"<span class='es-word es-other'>other words {other:+.2f}</span>")
        if baseline and target in baseline and pred and pred.get(f"pred_{target}") is not None:
            start, words_mean = baseline[target]
            moved = total - words_mean
            rest = pred[f"pred_{target}"] - start - moved
            rows.append(
                f"<tr><td>{esc(target)}</td><td>{start:.2f}</td><td><b>{moved:+.2f}</b>: {' '.join(chips)} "
                f"<span class='es-word es-other'>(the average text's words {words_mean:+.2f})</span></td><td>{rest:+.2f}</td>"
                f"<td><b>{pred[f'pred_{target}']:.2f}</b></td></tr>"
            )
        else:
            rows.append(f"<tr><td>{esc(target)}</td><td>–</td><td><b>{total:+.2f}</b>: {' '.join(chips)}</td><td>–</td><td>–</td></tr>")
    if not rows:
        return ""
    return (
        "<table class=\"es-table es-words\"><tr><th></th><th>average seeker</th><th>this text's words, against the average text's</th>"
        "<th>the rest</th><th>prediction</th></tr>" + "".join(rows) + "</table>"
        '<div class="es-meta es-note">How to read it: start from the average seeker of the training data (their own rating, on '
        "the 1-5 scale). This text's words move that up or down, compared with what the words of an average text do; each word "
        'or phrase that moves it by 0.05 or more is named. "The rest" is how the text reads as a whole to the model, beyond its '
        "single words, and the 1-5 limits. The parts add up to the prediction.</div>"
    )


def end_view_note(targets: Sequence[str]) -> str:
    """What a prediction of a long text read: the opening, and for the heads with the end view its last turns as well."""
    names = " and ".join(targets)
    return (
        f"The text is longer than what the model reads at once: {names} {'reads' if len(targets) == 1 else 'read'} its last turns "
        "as well as its opening (the end view)."
    )


TYPED_TEXT_NOTE = (
    "For one typed text: <b>initial</b> is how intense the feeling reads, on the seeker's own 1-5 scale before a chat; "
    "<b>final</b> is what seekers who wrote like this reported after a supportive chat in ESConv; <b>change</b> is their difference as "
    "the model learned it."
)


def _value(pred: dict[str, Any], target: str) -> str:
    """ "4.52 (80%: 3.41-5.00)": the prediction and its conformal interval, when the model is calibrated."""
    value = fmt(pred[f"pred_{target}"])
    iv = (pred.get(f"pred_{target}_interval") or {}).get("0.8")
    return f"{value} <span class='es-interval'>(80%: {iv[0]:.2f} to {iv[1]:.2f})</span>" if iv else value


def prediction_html(
    pred: dict[str, Any],
    gold: Any = None,
    model: str = "",
    words: dict[str, tuple[float, list[tuple[str, float]], float]] | None = None,
    typed: bool = False,
    baseline: dict[str, tuple[float, float]] | None = None,
) -> str:
    title = f'<div class="es-meta">model <b>{esc(model)}</b></div>' if model else ""
    if pred.get("too_little_text"):
        n = pred["words"]
        return (
            f'<div class="es-pred">{title}<div class="es-banner es-warn">Too little text to read: {n} word{"" if n == 1 else "s"}, and '
            "this "
            f"model beats a constant guess only from {pred['min_words']} words on (measured on its validation split). Type more of what "
            f"the seeker said.</div></div>"
        )
    head = "<tr><th></th><th>predicted</th>" + ("<th>gold</th>" if gold else "") + "</tr>"
    rows = [
        f"<tr><td>emotion</td><td><b>{esc(pred['pred_emotion'])}</b> ({pred['probs'][pred['pred_emotion']]:.0%})</td>"
        + (f"<td>{esc(gold.emotion)}</td>" if gold else "")
        + "</tr>"
    ]
    for t in ("initial", "final", "change"):
        if pred.get(f"pred_{t}") is None:
            continue
        g = f"<td>{fmt(gold.gold(t), 0)}</td>" if gold else ""
        rows.append(f"<tr><td>{t} intensity</td><td>{_value(pred, t)}</td>{g}</tr>")
    notes = []
    if pred.get("pred_change") is not None:
        diff = pred["pred_final"] - pred["pred_initial"]
        if abs(pred["pred_change"] - diff) >= 0.05:
            notes.append(
                f"Change has a head of its own, trained on the reported change, so it need not equal final − initial ({diff:+.2f} here)."
            )
        if pred.get("pred_initial_interval"):
            notes.append("Ranges are 80% conformal intervals, fitted on held-out errors: about 4 in 5 seekers' own ratings fall inside.")
    if pred.get("reads_end"):
        notes.append(end_view_note(pred["reads_end"]))
    if typed:
        notes.append(TYPED_TEXT_NOTE)
    note_html = "".join(f'<div class="es-meta es-note">{n}</div>' for n in notes)
    table = f'<table class="es-table">{head}{"".join(rows)}</table>'
    return f'<div class="es-pred">{title}{table}{note_html}{words_html(words or {}, pred, baseline)}</div>'


def banner_html(text: str, kind: str = "info") -> str:
    return f'<div class="es-banner es-{kind}">{esc(text)}</div>'
