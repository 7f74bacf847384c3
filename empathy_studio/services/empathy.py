"""The empathy rater's use cases: the `EmpathyServices` part of `Studio` (the supporter's side)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from ..errors import ModelUnavailable, NotFound
from ..progress import ProgressFn

if TYPE_CHECKING:
    from ..data import Dialogue
    from ..rater_training import Rating, RaterPredictor

CONTEXT_TURNS = 3  # a supporter turn is rated against this many seeker turns before it (EPITOME's posts are one message)


class EmpathyServices:

    def rater_choices(self) -> list[str]:
        return [s.name for s in self.registry.finetuned() if s.is_rater]

    def rater(self, name: str) -> RaterPredictor:
        with self._lock:
            key = f"rater:{name}"
            if key not in self._predictors:
                spec = self.registry.get(name)
                if not spec.is_rater:
                    raise ModelUnavailable(f"{name} is not an empathy rater; raters: {', '.join(self.rater_choices()) or 'none yet'} "
                                           "(empathy-studio train --task empathy --model minilm)")
                from ..rater_training import RaterPredictor

                max_length = int(spec.manifest.get("hyperparameters", {}).get("max_length", 256))
                self._predictors[key] = RaterPredictor.from_folder(spec.path, name=name, max_length=max_length)
            return self._predictors[key]

    def rate_pairs(self, name: str, pairs: Sequence[tuple[str, str]], progress: ProgressFn | None = None) -> list[Rating]:
        return self.rater(name).rate(list(pairs), progress)

    def rate_dialogue(self, name: str, dialogue: Dialogue, progress: ProgressFn | None = None) -> list[dict[str, Any]]:
        """Every supporter turn that follows a seeker turn, rated against the seeker turns before it."""
        rows, seen = [], []
        for i, turn in enumerate(dialogue.turns):
            if turn.role == "seeker":
                seen.append(turn.text.strip())
            elif seen and turn.text.strip():
                rows.append({"turn": i, "post": " ".join(seen[-CONTEXT_TURNS:]), "response": turn.text.strip()})
        if not rows:
            raise NotFound(f"{dialogue.dialogue_id} has no supporter turn after a seeker turn")
        ratings = self.rate_pairs(name, [(r["post"], r["response"]) for r in rows], progress)
        return [{**r, **rating.to_dict()} for r, rating in zip(rows, ratings)]

    def evaluate_rater(self, name: str, split: str = "test", progress: ProgressFn | None = None) -> dict[str, Any]:
        from ..rater_finetune import rater_splits
        from ..rater_training import rater_metrics

        splits = rater_splits(self.finetune)
        if split not in splits:
            raise NotFound(f"split must be train, val or test, got {split!r}")
        pairs = splits[split]
        ratings = self.rate_pairs(name, [(p.post, p.response) for p in pairs], progress)
        return {"model": name, "dataset": "epitome", "split": split, **rater_metrics(ratings, pairs)}
