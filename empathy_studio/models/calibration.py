"""How sure a model is: temperature scaling, split-conformal intervals, and the least text it can read.

Fitted once on the validation split after training and stored beside the
weights as `calibration.json`; the `Predictor` applies it to every prediction.

- **Emotion**: one temperature T divides the logits (fitted by minimising the
  negative log-likelihood on val), with the expected calibration error before
  and after and the reliability bins behind it.
- **Intensity**: split-conformal intervals. For each target the val residuals
  |gold - predicted| give the quantile q at rank ceil((n + 1) * level); the
  interval is prediction ± q, cut to the scale. Under exchangeability it covers
  the gold value with probability at least `level`.
- **Too little text**: val texts are cut to their first L words for a grid of L;
  the least L from which on the model beats ZeroR (fitted on the training set)
  on both emotion accuracy and initial-intensity MSE is `min_words`. Below it a
  prediction says "too little text" instead of presenting a number.

The log of probabilities works in place of logits (softmax is shift-invariant),
so fitting needs nothing from the model but its predicted probabilities.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import ModelUnavailable
from ..labels import INTENSITY_MAX, INTENSITY_MIN, INTENSITY_TARGETS
from .baselines import ZeroR

CALIBRATION_FILE = "calibration.json"
LEVELS = (0.8, 0.9)
PREFIX_WORDS = (2, 4, 8, 16, 32, 64)
ECE_BINS = 10
MIN_VAL_FOR_LENGTH = 20  # fewer val texts than this measure nothing about length: no minimum is set


def word_count(text: str) -> int:
    return len(text.split())


def scale_of(target: str) -> tuple[float, float]:
    span = INTENSITY_MAX - INTENSITY_MIN
    return (-span, span) if target == "change" else (INTENSITY_MIN, INTENSITY_MAX)


def conformal_quantile(residuals: Sequence[float], level: float) -> float:
    """The split-conformal quantile: the ceil((n + 1) * level)-th smallest residual (inf when n is too small)."""
    r = np.sort(np.abs(np.asarray(residuals, dtype=float)))
    k = math.ceil((len(r) + 1) * level)
    return float(r[k - 1]) if 0 < k <= len(r) else math.inf


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=float) / temperature
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def fit_temperature(log_probs: np.ndarray, labels: Sequence[int]) -> float:
    """The temperature that minimises the negative log-likelihood of the gold labels."""
    from scipy.optimize import minimize_scalar

    y = np.asarray(labels, dtype=int)

    def nll(log_t: float) -> float:
        p = softmax(log_probs, math.exp(log_t))
        return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None))))

    res = minimize_scalar(nll, bounds=(math.log(0.05), math.log(20.0)), method="bounded")
    return float(math.exp(res.x))


def reliability(probs: np.ndarray, labels: Sequence[int], bins: int = ECE_BINS) -> tuple[float, list[dict[str, float]]]:
    """(expected calibration error, one row per non-empty confidence bin: its range, n, mean confidence, accuracy)."""
    probs = np.asarray(probs, dtype=float)
    conf, guess = probs.max(-1), probs.argmax(-1)
    right = guess == np.asarray(labels)
    edges = np.linspace(0, 1, bins + 1)
    rows, ece = [], 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            rows.append(
                {
                    "lo": float(lo),
                    "hi": float(hi),
                    "n": int(m.sum()),
                    "confidence": float(conf[m].mean()),
                    "accuracy": float(right[m].mean()),
                }
            )
            ece += m.mean() * abs(conf[m].mean() - right[m].mean())
    return float(ece), rows


@dataclass
class Calibration:
    """What `calibration.json` holds; see the module docstring."""

    temperature: float = 1.0
    quantiles: dict[str, dict[str, float]] = field(default_factory=dict)  # target -> level ("0.8") -> half-width
    min_words: int | None = None  # None: no length measured at which the model beats ZeroR
    n_val: int = 0
    n_residuals: dict[str, int] = field(default_factory=dict)  # how many residuals each target's quantiles come from
    ece_before: float | None = None
    ece_after: float | None = None
    reliability_before: list[dict[str, float]] = field(default_factory=list)
    reliability_after: list[dict[str, float]] = field(default_factory=list)
    prefix_curve: list[dict[str, Any]] = field(default_factory=list)

    def interval(self, target: str, value: float, level: float) -> tuple[float, float] | None:
        q = self.quantiles.get(target, {}).get(str(level))
        if q is None or not math.isfinite(q):
            return None
        lo, hi = scale_of(target)
        return max(lo, value - q), min(hi, value + q)

    def intervals(self, intensity: dict[str, float]) -> dict[str, dict[str, list[float]]]:
        out: dict[str, dict[str, list[float]]] = {}
        for target, value in intensity.items():
            found = {str(level): list(iv) for level in LEVELS if (iv := self.interval(target, value, level)) is not None}
            if found:
                out[target] = found
        return out

    def too_little(self, text: str) -> bool:
        return self.min_words is not None and word_count(text) < self.min_words

    def save(self, folder: Path | str) -> Path:
        path = Path(folder) / CALIBRATION_FILE
        path.write_text(json.dumps(asdict(self), indent=2, default=lambda v: None))
        return path

    @classmethod
    def load(cls, folder: Path | str) -> "Calibration | None":
        path = Path(folder) / CALIBRATION_FILE
        if not path.exists():
            return None
        try:
            raw = json.loads(path.read_text())
            cal = cls(**raw)
            if not (isinstance(cal.temperature, (int, float)) and cal.temperature > 0):
                raise ValueError("temperature must be positive")
            return cal
        except (ValueError, TypeError) as exc:
            raise ModelUnavailable(f"{path}: not a calibration file ({exc})") from None


def first_words(text: str, n: int) -> str:
    return " ".join(text.split()[:n])


def fit(predictor: Any, val: Sequence[Any], train: Sequence[Any], residuals: dict[str, Sequence[float]] | None = None) -> Calibration:
    """Fit temperature, intervals and `min_words` for a predictor on val examples; ZeroR comes from `train`.

    `residuals` (target -> gold minus prediction), where training produced held-out ones over more
    than val (the ridge heads' out-of-fold residuals), replace the val residuals for the intervals.
    `predictor` must not carry a calibration yet (its probabilities are the raw ones).
    """

    if not val:
        return Calibration()
    labels = [ex.label for ex in val]
    preds = predictor.predict([ex.text for ex in val])
    log_p = np.log(np.clip(np.array([[p.probs[lab] for lab in predictor.labels] for p in preds]), 1e-12, None))
    temperature = fit_temperature(log_p, labels)
    ece_before, rel_before = reliability(np.exp(log_p), labels)
    ece_after, rel_after = reliability(softmax(log_p, temperature), labels)
    quantiles: dict[str, dict[str, float]] = {}
    counts: dict[str, int] = {}
    if preds[0].intensity:
        for t in INTENSITY_TARGETS:
            res = (residuals or {}).get(t) or [
                getattr(ex, t) - p.intensity[t] for ex, p in zip(val, preds) if not math.isnan(getattr(ex, t))
            ]
            if res:
                quantiles[t] = {str(level): conformal_quantile(res, level) for level in LEVELS}
                counts[t] = len(res)
    curve, min_words = [], None
    if len(val) >= MIN_VAL_FOR_LENGTH:
        curve, min_words = _prefix_curve(predictor, val, ZeroR.fit(train), bool(preds[0].intensity))
    return Calibration(temperature, quantiles, min_words, len(val), counts, ece_before, ece_after, rel_before, rel_after, curve)


def _prefix_curve(predictor: Any, val: Sequence[Any], zeror: Any, intensity: bool) -> tuple[list[dict[str, Any]], int | None]:
    """Accuracy and initial MSE on val texts cut to L words, against ZeroR; and the least L from which the model wins."""
    labels = np.array([ex.label for ex in val])
    gold = np.array([ex.initial for ex in val], dtype=float)
    known = ~np.isnan(gold)
    zeror_acc = float((labels == zeror.label).mean())
    zeror_mse = float(np.mean((gold[known] - zeror.means["initial"]) ** 2)) if known.any() else math.nan
    rows = []
    for n in PREFIX_WORDS:
        preds = predictor.predict([first_words(ex.text, n) for ex in val])
        acc = float(np.mean([predictor.labels.index(p.emotion) == y for p, y in zip(preds, labels)]))
        mse = (
            float(np.mean((np.array([p.intensity["initial"] for p in preds])[known] - gold[known]) ** 2))
            if intensity and known.any()
            else None
        )
        wins = acc > zeror_acc and (mse is None or mse < zeror_mse)
        rows.append(
            {
                "words": n,
                "accuracy": acc,
                "mse_initial": mse,
                "zeror_accuracy": zeror_acc,
                "zeror_mse_initial": zeror_mse if intensity else None,
                "beats_zeror": wins,
            }
        )
    min_words = None
    for row in reversed(rows):  # the least L such that the model wins at L and at every longer L
        if not row["beats_zeror"]:
            break
        min_words = row["words"]
    return rows, min_words


def uncertainty_metrics(preds: Sequence[Any], examples: Sequence[Any], labels: Sequence[str], cal: Calibration) -> dict[str, Any]:
    """On held-out examples: ECE before and after the temperature, and how often each interval holds the gold value
    (with its exact binomial 95% CI, `coverage_<target>_<level>_ci95`)."""
    y = [ex.label for ex in examples]
    calibrated = np.array([[p.probs[lab] for lab in labels] for p in preds])
    raw = softmax(np.log(np.clip(calibrated, 1e-12, None)), 1.0 / cal.temperature)  # undo the temperature
    out: dict[str, Any] = {"ece_before": reliability(raw, y)[0], "ece_after": reliability(calibrated, y)[0], "temperature": cal.temperature}
    for t in cal.quantiles:
        for level in LEVELS:
            hits = [
                lo <= getattr(ex, t) <= hi
                for ex, p in zip(examples, preds)
                if not math.isnan(getattr(ex, t)) and (iv := p.intervals.get(t, {}).get(str(level)))
                for lo, hi in [iv]
            ]
            out[f"coverage_{t}_{int(level * 100)}"] = float(np.mean(hits)) if hits else None
            if hits:
                out[f"coverage_{t}_{int(level * 100)}_ci95"] = coverage_ci(sum(hits), len(hits))
    return out


def coverage_ci(hits: int, n: int, confidence: float = 0.95) -> list[float]:
    """The exact (Clopper-Pearson) interval of a coverage of `hits` in `n`: does the nominal level lie inside?"""
    from scipy.stats import binomtest

    ci = binomtest(int(hits), int(n)).proportion_ci(confidence)
    return [float(ci.low), float(ci.high)]
