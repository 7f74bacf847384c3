"""Scoring a corpus file with a seeker model or an empathy rater: the `ScoringServices` part of `Studio` (see `scoring.py`).

A row the model cannot read (an empty or over-long text) does not stop a corpus run: it gets empty
outputs and its reason in the `skipped` column.
"""

from __future__ import annotations

from typing import Any, Callable

from ..labels import EPITOME_MECHANISMS
from ..scoring import Scorer, ScoreRequest, score_file

MAX_TEXT_CHARS = 20_000


def _skip_reason(row: dict[str, Any], columns: tuple[str, ...]) -> str | None:
    for c in columns:
        v = row.get(c)
        if not isinstance(v, str) or not v.strip():
            return f"{c} is empty"
        if len(v) > MAX_TEXT_CHARS:
            return f"{c} is over {MAX_TEXT_CHARS:,} characters"
    return None


def _skipping(columns: tuple[str, ...], empty: dict[str, Any], fn: Scorer) -> Scorer:
    """`fn` on the rows it can read; the others get `empty` outputs and their reason."""

    def score(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        reasons = [_skip_reason(r, columns) for r in rows]
        ok = [r for r, why in zip(rows, reasons) if why is None]
        results = iter(fn(ok) if ok else [])
        return [{**(next(results) if why is None else empty), "skipped": why} for why in reasons]

    return score


def _seeker_scorer(studio: Any, model: str) -> Scorer:
    studio.predictor(model)  # loaded once, before any shard

    def predict(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        preds = studio.predict_texts(model, [r["text"] for r in rows])
        return [
            {
                "emotion": p.emotion,
                "emotion_probability": p.probs[p.emotion],
                "pred_initial": p.intensity.get("initial"),
                "pred_final": p.intensity.get("final"),
                "pred_change": p.intensity.get("change"),
                "too_little_text": p.too_little_text,
            }
            for p in preds
        ]

    empty = {
        "emotion": None,
        "emotion_probability": None,
        "pred_initial": None,
        "pred_final": None,
        "pred_change": None,
        "too_little_text": None,
    }
    return _skipping(("text",), empty, predict)


def _rater_scorer(studio: Any, model: str) -> Scorer:
    studio.rater(model)

    def predict(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        preds = studio.predict_empathy(model, [(r["post"], r["response"]) for r in rows])
        return [{**{m: x.levels[m] for m in EPITOME_MECHANISMS}, "level4": x.level4, "score": x.score} for x in preds]

    return _skipping(("post", "response"), {**{m: None for m in EPITOME_MECHANISMS}, "level4": None, "score": None}, predict)


SCORERS = {"emotion-intensity": _seeker_scorer, "empathy": _rater_scorer}  # a task of `scoring.TASK_COLUMNS` -> its scorer


class ScoringServices:
    def scorer(self, req: ScoreRequest) -> Scorer:
        """The task's model as a function of a shard's rows to flat output columns (loaded once, before any shard)."""
        return SCORERS[req.task](self, req.model)

    def score_corpus(self, req: ScoreRequest, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
        return score_file(req, self.scorer(req), progress)
