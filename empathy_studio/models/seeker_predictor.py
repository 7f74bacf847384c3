"""The seeker model's predictor: emotion, its probabilities, intensity (initial, final, change) with intervals.

Batching, the input checks and the cache are `BatchPredictor`'s; this module adds
what a seeker's prediction is: the calibrated temperature, the TF-IDF terms of
the linear intensity heads, the intensity cut to its scale, the spread across
emotions, the conformal intervals, "too little text" below the model's
calibrated minimum, and for a model with the end view the text's last
max_length tokens beside its first.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from ..data import Dialogue, situated, text_hash
from ..labels import INTENSITY_MAX, INTENSITY_MIN, INTENSITY_TARGETS
from ..progress import EMBEDDING, ProgressEvent, ProgressFn
from .calibration import Calibration, word_count
from .ensemble import load_seeker
from .predictor import BatchPredictor, check_text
from .seeker import EmotionIntensityModel, rows_differ, select_emotion

MAX_TEXT_CHARS = 100_000  # beyond this a "text" is a pasted file, not a help-seeker's words
CHANGE_RANGE = (INTENSITY_MIN - INTENSITY_MAX, INTENSITY_MAX - INTENSITY_MIN)


@dataclass
class Prediction:
    emotion: str
    probs: dict[str, float]
    intensity_raw: dict[str, float] = field(default_factory=dict)  # empty for classification-only models
    intensity: dict[str, float] = field(default_factory=dict)  # clipped to the scale
    embedding: np.ndarray | None = None
    spread: float | None = None  # sd of the intensity outputs across emotions, weighted by their probabilities
    intervals: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # target -> level ("0.8") -> [lo, hi]
    words: int = 0
    min_words: int | None = None  # the model's calibrated minimum; below it the prediction is "too little text"
    reads_end: tuple[str, ...] = ()  # the targets that read the text's end: it outgrew the first view, and their heads read the end view

    @property
    def too_little_text(self) -> bool:
        return self.min_words is not None and self.words < self.min_words

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "pred_emotion": self.emotion,
            "probs": self.probs,
            "pred_spread": self.spread,
            "words": self.words,
            "min_words": self.min_words,
            "too_little_text": self.too_little_text,
            "reads_end": list(self.reads_end),
        }
        for t in INTENSITY_TARGETS:
            out[f"pred_{t}"] = self.intensity.get(t)
            out[f"pred_{t}_raw"] = self.intensity_raw.get(t)
            if t in self.intervals:
                out[f"pred_{t}_interval"] = self.intervals[t]
        return out


def clip_intensity(target: str, value: float) -> float:
    lo, hi = CHANGE_RANGE if target == "change" else (INTENSITY_MIN, INTENSITY_MAX)
    return float(min(max(value, lo), hi))


def _spread(intensity: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """(B, 3, C) outputs and (B, C) probabilities -> (B,) mean over initial/final of the weighted sd across emotions."""
    if intensity.shape[-1] == 1:
        return np.zeros(len(probs))
    mean = (intensity * probs[:, None, :]).sum(-1, keepdims=True)
    var = (((intensity - mean) ** 2) * probs[:, None, :]).sum(-1)
    return np.sqrt(var[:, :2]).mean(-1)


class Predictor(BatchPredictor[str, Prediction]):
    family = "seeker"

    def __init__(
        self,
        model: EmotionIntensityModel,
        tokenizer: Any,
        name: str = "model",
        max_length: int = 256,
        batch_size: int = 16,
        cache_size: int = 20_000,
        calibration: Calibration | None = None,
    ):
        super().__init__(model, tokenizer, name, max_length, batch_size, cache_size)
        self.labels = list(model.heads_config.labels)
        self.calibration = calibration
        # the end view's tokenizer: a copy that cuts a long text from the left, keeping its last tokens
        self.end_tokenizer = None
        if model.heads_config.end_view:
            self.end_tokenizer = copy.deepcopy(tokenizer)
            self.end_tokenizer.truncation_side = "left"

    @classmethod
    def from_folder(cls, folder: Path | str, name: str | None = None, **kwargs: Any) -> "Predictor":
        model, tokenizer = load_seeker(folder)  # one model or a seed ensemble
        kwargs.setdefault("calibration", Calibration.load(folder))
        return cls(model, tokenizer, name or Path(folder).name, **kwargs)

    @property
    def calibration(self) -> Calibration | None:
        return self._calibration

    @calibration.setter
    def calibration(self, value: Calibration | None) -> None:
        """A new calibration (temperature, intervals, the least text) makes every cached prediction stale: they are dropped."""
        self._calibration = value
        self.clear_cache()

    @property
    def reads_situation(self) -> bool:
        return bool(self.model.heads_config.situation)

    def dialogue_text(self, dialogue: Dialogue, text: str | None = None) -> str:
        """What this model reads of a dialogue (or of `text`, part of the seeker's words in it): the seeker's words, after
        their pre-chat situation for a model trained to read it (`train --situation`)."""
        text = dialogue.seeker_text if text is None else text
        return situated(dialogue.situation, text) if self.reads_situation else text

    def check(self, item: str) -> None:
        check_text("text", item, MAX_TEXT_CHARS)

    def key(self, item: str) -> str:
        return text_hash(item)

    def encode(self, items: Sequence[str]) -> list[dict[str, list[int]]]:
        ids = self.tokenizer(list(items), truncation=True, max_length=self.max_length)["input_ids"]
        if self.end_tokenizer is None:
            return [{"input_ids": i} for i in ids]
        ends = self.end_tokenizer(list(items), truncation=True, max_length=self.max_length)["input_ids"]
        return [{"input_ids": i, "end_input_ids": e} for i, e in zip(ids, ends)]

    def embed(self, texts: Sequence[str], progress: ProgressFn | None = None, detail: str = "") -> tuple[torch.Tensor, torch.Tensor]:
        """Pooled features for the emotion and the intensity heads, in input order (no cache: used to train heads).

        With the end view the intensity features are twice as wide: the first view's, then the end view's.
        """
        h = self.model.encoder.config.hidden_size
        emo, inten = torch.empty(len(texts), h), torch.empty(len(texts), h * (2 if self.model.heads_config.end_view else 1))
        done = 0
        with torch.inference_mode():
            for idx, batch in self.batches(texts):
                a, b = self.model.encode(**batch)
                emo[idx], inten[idx] = a.float().cpu(), b.float().cpu()
                done += len(idx)
                if progress:
                    progress(ProgressEvent(EMBEDDING, done, len(texts), detail))
        return emo, inten

    def explain_intensity(
        self, text: str, k: int = 6, threshold: float = 0.0, drop_stop_words: bool = False
    ) -> dict[str, tuple[float, list[tuple[str, float]], float]]:
        """The words that move each intensity prediction most (see `LexicalIntensity.explain`); empty for models without TF-IDF terms."""
        if self.model.lexical is None or self.model.intensity_heads is None:
            return {}
        return self.model.lexical.explain(text, k, threshold, drop_stop_words)

    def outputs(self, texts: Sequence[str], batch: dict[str, torch.Tensor]) -> list[Prediction]:
        res = self.model(**batch)
        if "intensity" in res and self.model.lexical is not None:
            words = torch.from_numpy(self.model.lexical.predict(list(texts))).to(res["intensity"])
            res["intensity"] = res["intensity"] + words[:, :, None]  # the same for every emotion's output
        cal = self.calibration
        probs = torch.softmax(res["logits"].float() / (cal.temperature if cal else 1.0), dim=-1).cpu().numpy()
        pred = res["logits"].argmax(-1)
        inten = select_emotion(res["intensity"], pred).float().cpu().numpy() if "intensity" in res else None
        spread = _spread(res["intensity"].float().cpu().numpy(), probs) if "intensity" in res else None
        pooled = res["pooled"].float().cpu().numpy()
        reads_end, end_targets = [False] * len(texts), ()
        if "end_input_ids" in batch:  # the heads that read the end view read it for the rows that outgrew the first view
            reads_end = rows_differ(
                batch["input_ids"], batch["attention_mask"], batch["end_input_ids"], batch["end_attention_mask"]
            ).tolist()
            end_targets = self.model.end_targets()
        out = []
        for row, text in enumerate(texts):
            raw = {t: float(inten[row, k]) for k, t in enumerate(INTENSITY_TARGETS)} if inten is not None else {}
            clipped = {t: clip_intensity(t, v) for t, v in raw.items()}
            out.append(
                Prediction(
                    emotion=self.labels[int(pred[row])],
                    probs={lab: float(p) for lab, p in zip(self.labels, probs[row])},
                    intensity_raw=raw,
                    intensity=clipped,
                    embedding=pooled[row],
                    spread=float(spread[row]) if spread is not None else None,
                    intervals=cal.intervals(clipped) if cal else {},
                    words=word_count(text),
                    min_words=cal.min_words if cal else None,
                    reads_end=end_targets if reads_end[row] else (),
                )
            )
        return out
