"""The empathy rater's predictor: a level per mechanism with its probabilities, the 4-level scale, the 0-1 score.

Batching, the input checks and the cache are `BatchPredictor`'s; an input is a
(post, response) pair, hashed as one text.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch

from ..data import text_hash
from ..epitome import LEVEL4
from ..labels import EPITOME_LEVELS, EPITOME_MECHANISMS
from ..rationales import Span, spans_of, word_mask
from .predictor import BatchPredictor, check_text
from .rater import EmpathyRater, encode_pairs, load_rater, response_tokens

MAX_PAIR_CHARS = 20_000
RATIONALE_THRESHOLD = 0.5  # a token is a rationale token of a mechanism past this probability
Pair = tuple[str, str]  # (post, response)


def pair_hash(post: str, response: str) -> str:
    return text_hash(post + "\x00" + response)


@dataclass
class EmpathyPrediction:
    """What the rater predicts for one response: a level per mechanism with its probabilities, the 4-level scale, the 0-1 score."""

    levels: dict[str, str]
    probs: dict[str, dict[str, float]]
    level4: str
    score: float
    # a rater with a rationale head: per mechanism, the words of the response that show it (character spans, whole words)
    rationales: dict[str, list[Span]] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"pred_levels": self.levels, "probs": self.probs, "pred_level4": self.level4, "pred_score": self.score}
        if self.rationales is not None:
            out["pred_rationales"] = {m: [list(s) for s in spans] for m, spans in self.rationales.items()}
        return out


class RaterPredictor(BatchPredictor[Pair, EmpathyPrediction]):
    family = "rater"

    def __init__(
        self,
        model: EmpathyRater,
        tokenizer: Any,
        name: str = "rater",
        max_length: int = 256,
        batch_size: int = 32,
        cache_size: int = 20_000,
    ):
        super().__init__(model, tokenizer, name, max_length, batch_size, cache_size)

    @classmethod
    def from_folder(cls, folder: Path | str, name: str | None = None, **kwargs: Any) -> "RaterPredictor":
        model, tokenizer = load_rater(folder)
        return cls(model, tokenizer, name or Path(folder).name, **kwargs)

    def check(self, item: Pair) -> None:
        check_text("the post", item[0], MAX_PAIR_CHARS)
        check_text("the response", item[1], MAX_PAIR_CHARS)

    def key(self, item: Pair) -> str:
        return pair_hash(*item)

    def encode(self, items: Sequence[Pair]) -> list[dict[str, list[int]]]:
        return encode_pairs(items, self.tokenizer, self.model.config.arch, self.max_length)

    def outputs(self, items: Sequence[Pair], batch: dict[str, torch.Tensor]) -> list[EmpathyPrediction]:
        res = self.model(**batch)
        mech = torch.softmax(res["mechanism_logits"].float(), -1).numpy()
        lv4 = res["level4_logits"].argmax(-1).numpy()
        why = self._rationales(items, res["rationale_logits"]) if "rationale_logits" in res else [None] * len(items)
        return [
            EmpathyPrediction(
                {m: EPITOME_LEVELS[int(mech[row, k].argmax())] for k, m in enumerate(EPITOME_MECHANISMS)},
                {m: dict(zip(EPITOME_LEVELS, map(float, mech[row, k]))) for k, m in enumerate(EPITOME_MECHANISMS)},
                LEVEL4[int(lv4[row])],
                float(res["score"][row]),
                why[row],
            )
            for row in range(len(items))
        ]

    def _rationales(self, items: Sequence[Pair], logits: torch.Tensor) -> list[dict[str, list[Span]]]:
        """Tokens of the response whose rationale probability passes 0.5, as whole words (`rationales.spans_of`)."""
        marked = (torch.sigmoid(logits.float()) > RATIONALE_THRESHOLD).numpy()
        out = []
        for i, ((_, response), tokens) in enumerate(
            zip(items, response_tokens(items, self.tokenizer, self.model.config.arch, self.max_length))
        ):
            out.append(
                {
                    m: spans_of(response, word_mask(response, [span for t, span in enumerate(tokens) if span and marked[i, t, k]]))
                    for k, m in enumerate(EPITOME_MECHANISMS)
                }
            )
        return out
