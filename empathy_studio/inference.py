"""`Predictor`: batched, length-bucketed, cached predictions from a studio model.

Texts are tokenised once, sorted by length and cut into batches, so a batch
pads only to its own longest text: on 2 CPU cores unsorted batches at 512
tokens run at half the speed. Results are cached per (model, text hash) in a
bounded LRU owned by the predictor, not by the module.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .calibration import Calibration, word_count
from .data import text_hash
from .errors import InputError
from .labels import INTENSITY_MAX, INTENSITY_MIN, INTENSITY_TARGETS
from .modeling import EmotionIntensityModel, load, select_emotion
from .progress import EMBEDDING, PREDICTING, ProgressEvent, ProgressFn

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

    @property
    def too_little_text(self) -> bool:
        return self.min_words is not None and self.words < self.min_words

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"pred_emotion": self.emotion, "probs": self.probs, "pred_spread": self.spread,
                               "words": self.words, "min_words": self.min_words, "too_little_text": self.too_little_text}
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


class Predictor:
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
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        self.max_length = max_length
        self.batch_size = batch_size
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[str, str], Prediction] = OrderedDict()
        self.labels = list(model.heads_config.labels)
        self.calibration = calibration

    @classmethod
    def from_folder(cls, folder: Path | str, name: str | None = None, **kwargs: Any) -> "Predictor":
        model, tokenizer = load(folder)
        kwargs.setdefault("calibration", Calibration.load(folder))
        return cls(model, tokenizer, name or Path(folder).name, **kwargs)

    @property
    def calibration(self) -> Calibration | None:
        return self._calibration

    @calibration.setter
    def calibration(self, value: Calibration | None) -> None:
        """A new calibration (temperature, intervals, the least text) makes every cached prediction stale: they are dropped."""
        self._calibration = value
        self._cache.clear()

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    # -- batching -------------------------------------------------------------

    def _batches(self, texts: Sequence[str]):
        """Yield (indices, padded batch) in order of increasing length."""
        enc = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)
        ids = enc["input_ids"]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            batch = self.tokenizer.pad({"input_ids": [ids[i] for i in idx]}, return_tensors="pt")
            yield idx, {k: v.to(self.device) for k, v in batch.items() if k in ("input_ids", "attention_mask")}

    def embed(self, texts: Sequence[str], progress: ProgressFn | None = None, detail: str = "") -> tuple[torch.Tensor, torch.Tensor]:
        """Pooled features for the emotion and the intensity heads, in input order (no cache: used to train heads)."""
        h = self.model.encoder.config.hidden_size
        emo, inten = torch.empty(len(texts), h), torch.empty(len(texts), h)
        done = 0
        with torch.inference_mode():
            for idx, batch in self._batches(texts):
                a, b = self.model.encode(**batch)
                emo[idx], inten[idx] = a.float().cpu(), b.float().cpu()
                done += len(idx)
                if progress:
                    progress(ProgressEvent(EMBEDDING, done, len(texts), detail))
        return emo, inten

    # -- prediction -----------------------------------------------------------

    def predict(self, texts: Sequence[str], progress: ProgressFn | None = None) -> list[Prediction]:
        for t in texts:
            if not isinstance(t, str) or not t.strip():
                raise InputError("text is empty")
            if len(t) > MAX_TEXT_CHARS:
                raise InputError(f"text is {len(t):,} characters; the limit is {MAX_TEXT_CHARS:,}")
        keys = [(self.name, text_hash(t)) for t in texts]
        results: dict[int, Prediction] = {}
        todo = []
        for i, key in enumerate(keys):
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                results[i] = hit
            else:
                todo.append(i)
        unique = list(dict.fromkeys(texts[i] for i in todo))
        fresh = dict(zip(unique, self._run(unique, progress))) if unique else {}
        for i in todo:
            results[i] = fresh[texts[i]]
            self._remember(keys[i], results[i])
        return [results[i] for i in range(len(texts))]

    def predict_one(self, text: str) -> Prediction:
        return self.predict([text])[0]

    def explain_intensity(self, text: str, k: int = 6, threshold: float = 0.0, drop_stop_words: bool = False) -> dict[str, tuple[float, list[tuple[str, float]], float]]:
        """The words that move each intensity prediction most (see `LexicalIntensity.explain`); empty for models without TF-IDF terms."""
        if self.model.lexical is None or self.model.intensity_heads is None:
            return {}
        return self.model.lexical.explain(text, k, threshold, drop_stop_words)

    def _run(self, texts: Sequence[str], progress: ProgressFn | None) -> list[Prediction]:
        out: list[Prediction | None] = [None] * len(texts)
        done = 0
        with torch.inference_mode():
            for idx, batch in self._batches(texts):
                res = self.model(**batch)
                if "intensity" in res and self.model.lexical is not None:
                    words = torch.from_numpy(self.model.lexical.predict([texts[i] for i in idx])).to(res["intensity"])
                    res["intensity"] = res["intensity"] + words[:, :, None]  # the same for every emotion's output
                temperature = self.calibration.temperature if self.calibration else 1.0
                probs = torch.softmax(res["logits"].float() / temperature, dim=-1).cpu().numpy()
                pred = res["logits"].argmax(-1)
                inten = select_emotion(res["intensity"], pred).float().cpu().numpy() if "intensity" in res else None
                spread = _spread(res["intensity"].float().cpu().numpy(), probs) if "intensity" in res else None
                pooled = res["pooled"].float().cpu().numpy()
                for row, i in enumerate(idx):
                    raw = {t: float(inten[row, k]) for k, t in enumerate(INTENSITY_TARGETS)} if inten is not None else {}
                    clipped = {t: clip_intensity(t, v) for t, v in raw.items()}
                    cal = self.calibration
                    out[i] = Prediction(
                        emotion=self.labels[int(pred[row])],
                        probs={lab: float(p) for lab, p in zip(self.labels, probs[row])},
                        intensity_raw=raw,
                        intensity=clipped,
                        embedding=pooled[row],
                        spread=float(spread[row]) if spread is not None else None,
                        intervals=cal.intervals(clipped) if cal else {},
                        words=word_count(texts[i]),
                        min_words=cal.min_words if cal else None,
                    )
                done += len(idx)
                if progress:
                    progress(ProgressEvent(PREDICTING, done, len(texts)))
        return out  # type: ignore[return-value]

    def _remember(self, key: tuple[str, str], value: Prediction) -> None:
        if self.cache_size <= 0:
            return
        self._cache[key] = value
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
