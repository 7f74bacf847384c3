"""The empathy rater's use cases: the `EmpathyServices` part of `Studio` (the supporter's side)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from ..data import text_hash
from ..epitome import LEVEL4
from ..errors import NotFound
from ..labels import EPITOME_LEVELS, EPITOME_MECHANISMS
from ..progress import ProgressFn
from ..registry import DEFAULT_RATER, QUICK_RATER, ModelSpec

if TYPE_CHECKING:
    from ..data import Dialogue
    from ..models.rater_predictor import EmpathyPrediction, RaterPredictor

CONTEXT_TURNS = 3  # a supporter turn is rated against this many seeker turns before it (EPITOME's posts are one message)


def supporter_turns(dialogue: Dialogue) -> list[dict[str, Any]]:
    """(turn index, post, response) of every supporter turn after a seeker turn; the post is the last CONTEXT_TURNS seeker turns."""
    rows, seen = [], []
    for i, turn in enumerate(dialogue.turns):
        if turn.role == "seeker":
            seen.append(turn.text.strip())
        elif seen and turn.text.strip():
            rows.append({"turn": i, "post": " ".join(seen[-CONTEXT_TURNS:]), "response": turn.text.strip()})
    return rows


class EmpathyServices:
    def rater_choices(self) -> list[str]:
        """Trained raters, the default rater first when it is built; the quick rater (built on first use) where EPITOME is."""
        names = [s.name for s in self.registry.of_family("rater") if s.kind == "finetuned" or self.sources.epitome is not None]
        return sorted(names, key=lambda n: (n != DEFAULT_RATER, self.registry.get(n).kind == "quick"))

    def built_raters(self) -> list[str]:
        return [n for n in self.rater_choices() if self.registry.get(n).kind == "finetuned"]

    def ensure_quick_rater(self, progress: ProgressFn | None = None) -> ModelSpec:
        return self.ensure_starter(QUICK_RATER, progress)

    def suggestion_rater(self) -> str | None:
        """The rater whose levels an assisted response-empathy campaign shows: the default rater if built, else the first one."""
        names = self.rater_choices()
        return names[0] if names else None

    def rater(self, name: str, progress: ProgressFn | None = None) -> RaterPredictor:
        """An empathy rater's predictor, loaded once (the starter rater is built first)."""
        return self.loaded(name, "rater", progress)

    def predict_empathy(self, name: str, pairs: Sequence[tuple[str, str]], progress: ProgressFn | None = None) -> list[EmpathyPrediction]:
        return self.rater(name, progress).predict(list(pairs), progress)

    def predict_turns(self, name: str, dialogue: Dialogue, progress: ProgressFn | None = None) -> list[dict[str, Any]]:
        """The rater on every supporter turn that follows a seeker turn, against the seeker turns before it."""
        rows = supporter_turns(dialogue)
        if not rows:
            raise NotFound(f"{dialogue.dialogue_id} has no supporter turn after a seeker turn")
        preds = self.predict_empathy(name, [(r["post"], r["response"]) for r in rows], progress)
        return [{**r, **p.to_dict()} for r, p in zip(rows, preds)]

    def _check_turns(self, dataset: str) -> tuple[list[Any], list[tuple[str, str, dict[str, Any]]]]:
        """(the dialogues with the seeker's own empathy rating, (key, dialogue id, supporter turn) for each of their supporter turns)."""
        dialogues = [d for d in self.sources.esconv_like(dataset).dialogues if not math.isnan(d.empathy) and supporter_turns(d)]
        if not dialogues:
            raise NotFound(f"no dialogue of {dataset} has a seeker's empathy rating and a supporter turn")
        return dialogues, [(f"{d.dialogue_id}#t{t['turn']}", d.dialogue_id, t) for d in dialogues for t in supporter_turns(d)]

    def rater_turns_missing(self, name: str, dataset: str = "esconv") -> tuple[int, int]:
        """(supporter turns of a dataset that a rater has not scored yet, all of them): what the external check still has to score.
        The turns' hashes are computed once per dataset (the warmer asks every few seconds)."""
        if dataset not in self._turn_hashes:
            try:
                _, turns = self._check_turns(dataset)
            except NotFound:  # no seeker rated their supporter here: nothing to score (empathy_check says so)
                turns = []
            self._turn_hashes[dataset] = {key: text_hash(t["post"] + "\x00" + t["response"]) for key, _, t in turns}
        hashes = self._turn_hashes[dataset]
        cached = self.store.cached_hashes(name) if hashes else {}
        return sum(cached.get(key) != h for key, h in hashes.items()), len(hashes)

    def empathy_check(self, name: str, dataset: str = "esconv", progress: ProgressFn | None = None) -> dict[str, Any]:
        """Each dialogue's mean predicted empathy score against the seeker's own rating of the supporter's empathy (1-5)."""
        from ..plots import regression_stats

        dialogues, turns = self._check_turns(dataset)
        scores = self._cached_scores(name, turns, progress)
        per: dict[str, list[float]] = {}
        for key, dialogue_id, _ in turns:
            per.setdefault(dialogue_id, []).append(scores[key])
        self_rated = [d.empathy for d in dialogues]
        predicted = [float(sum(per[d.dialogue_id]) / len(per[d.dialogue_id])) for d in dialogues]
        from scipy import stats

        rho, rho_p = stats.spearmanr(self_rated, predicted)
        # where seeker turns carry their own feedback (FailedESConv): the supporter turn just before, against that feedback
        feedback, before = [], []
        for d in self.sources.esconv_like(dataset).dialogues:
            last = None
            for i, turn in enumerate(d.turns):
                key = f"{d.dialogue_id}#t{i}"
                if turn.role == "supporter":
                    last = key
                elif not math.isnan(turn.feedback) and last in scores:
                    feedback.append(turn.feedback)
                    before.append(scores[last])
        return {
            "rater": name,
            "dataset": dataset,
            "dialogues": len(dialogues),
            "turns": len(turns),
            "self_rated": self_rated,
            "predicted": predicted,
            **{f"ols_{k}": v for k, v in regression_stats(self_rated, predicted).items()},
            "spearman": float(rho),
            "spearman_p": float(rho_p),
            "feedback": {
                "seeker_feedback": feedback,
                "score_before": before,
                **{f"ols_{k}": v for k, v in regression_stats(feedback, before).items()},
            },
        }

    def _cached_scores(self, name: str, turns: list[tuple[str, str, dict[str, Any]]], progress: ProgressFn | None) -> dict[str, float]:
        preds = self.cached_empathy_predictions(name, [(key, t["post"], t["response"]) for key, _, t in turns], progress)
        return {key: float(p["pred_score"]) for key, p in preds.items()}

    def cached_empathy_predictions(
        self, name: str, rows: Sequence[tuple[str, str, str]], progress: ProgressFn | None = None
    ) -> dict[str, dict[str, Any]]:
        """A rater's predictions of (key, post, response) rows, from the store's prediction cache (keyed by the row's key and
        the hash of post and response), predicting only what is missing, changed, or cached in an older shape."""
        hashes = {key: text_hash(post + "\x00" + response) for key, post, response in rows}
        cached = self.store.cached_predictions(name)
        missing = [
            (key, post, response)
            for key, post, response in rows
            if key not in cached or cached[key][0] != hashes[key] or "pred_score" not in cached[key][1]
        ]
        if missing:
            preds = self.predict_empathy(name, [(post, response) for _, post, response in missing], progress)
            self.store.cache_predictions(name, [(key, hashes[key], p.to_dict()) for (key, _, _), p in zip(missing, preds)])
            cached = self.store.cached_predictions(name)
        return {key: p for key, (_, p) in cached.items() if key in hashes}

    def rater_downloads(
        self, name: str, metrics: list[dict[str, Any]], mechanisms: list[dict[str, Any]], ev: dict[str, Any], check: dict[str, Any] | None
    ) -> list[Path]:
        """The rater's tables and figures, as Analyze shows them, in a folder to download."""
        from .. import analysis
        from .base import download_folder

        return analysis.write_rater_downloads(name, metrics, mechanisms, ev, check, download_folder())

    def evaluate_rater(self, name: str, split: str = "test", progress: ProgressFn | None = None) -> dict[str, Any]:
        from ..training.rater import rater_metrics  # torch loads with the first model, not at start-up
        from ..training.rater_data import rater_splits

        splits = rater_splits(self.sources)
        if split not in splits:
            raise NotFound(f"split must be train, val or test, got {split!r}")
        pairs = splits[split]
        preds = self.predict_empathy(name, [(p.post, p.response) for p in pairs], progress)
        return {
            "model": name,
            "dataset": "epitome",
            "split": split,
            **rater_metrics(preds, pairs),
            "level4_gold": [LEVEL4[p.level4] for p in pairs],
            "level4_pred": [p.level4 for p in preds],
            "mechanisms": {
                m: {"gold": [EPITOME_LEVELS[p.levels[k]] for p in pairs], "pred": [r.levels[m] for r in preds]}
                for k, m in enumerate(EPITOME_MECHANISMS)
            },
        }
