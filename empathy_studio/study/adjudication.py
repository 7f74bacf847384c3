"""Adjudication: which items' ratings disagree enough to go to a reviewer, in what order, and what a reviewer may set.

The scales a reviewer settles are rows of `SCALES`; a campaign's thresholds (JSON on the campaign, defaults in
`DEFAULT_THRESHOLDS`) say how much disagreement sends an item to review:

- intensity (initial, final; 1-5): a range of `intensity_range` or more (default 2);
- emotion: no label held by more than half the raters (`emotion_majority`);
- response empathy (each mechanism, 0-2): two levels apart (`level_range`), or no majority (`level_majority`).

An item enters the queue when it has its k ratings (at least two) and one of its scales disagrees. With one
reviewer per item, an adjudication settles it; with two, it is settled when two different reviewers set the same
values. Nothing here touches the database: the service reads ratings and adjudications and calls these.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ..errors import ConfigError, InputError
from ..labels import EPITOME_MECHANISMS, ESCONV_EMOTIONS


@dataclass(frozen=True)
class Scale:
    name: str
    levels: tuple[Any, ...]
    ordinal: bool  # aggregated as an ordinal value (posterior mean) or as a label
    range_key: str | None  # the threshold on max - min, if the scale has one
    majority_key: str | None  # the threshold flag "no majority disagrees", if the scale has one

    def check(self, value: Any) -> Any:
        """A reviewer's value for this scale, as stored; refused when outside the scale."""
        if self.levels and isinstance(self.levels[0], int):
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise InputError(f"{self.name} must be one of {', '.join(map(str, self.levels))}, got {value!r}") from None
            if not number.is_integer() or int(number) not in self.levels:
                raise InputError(f"{self.name} must be one of {', '.join(map(str, self.levels))}, got {value!r}")
            return int(number)
        if value not in self.levels:
            raise InputError(f"{self.name} must be one of the scale's labels, got {value!r}")
        return value


SCALES: dict[str, Scale] = {
    "initial": Scale("initial", (1, 2, 3, 4, 5), True, "intensity_range", None),
    "final": Scale("final", (1, 2, 3, 4, 5), True, "intensity_range", None),
    "emotion": Scale("emotion", tuple(ESCONV_EMOTIONS), False, None, "emotion_majority"),
    **{m: Scale(m, (0, 1, 2), False, "level_range", "level_majority") for m in EPITOME_MECHANISMS},
}
DEFAULT_THRESHOLDS: dict[str, Any] = {"intensity_range": 2, "emotion_majority": True, "level_range": 2, "level_majority": True}
_RANGES = {"intensity_range": (1, 4), "level_range": (1, 2)}


def thresholds(values: Mapping[str, Any] | None) -> dict[str, Any]:
    """A campaign's thresholds over the defaults, each checked: ranges are whole numbers within the scale's span."""
    out = dict(DEFAULT_THRESHOLDS)
    for key, value in (values or {}).items():
        if key not in DEFAULT_THRESHOLDS:
            raise ConfigError(f"unknown threshold {key!r}; the thresholds are {', '.join(DEFAULT_THRESHOLDS)}")
        if key in _RANGES:
            lo, hi = _RANGES[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer() or not lo <= value <= hi:
                raise ConfigError(f"threshold {key} must be a whole number from {lo} to {hi}, got {value!r}")
            value = int(value)
        elif not isinstance(value, bool):
            raise ConfigError(f"threshold {key} must be true or false, got {value!r}")
        out[key] = value
    return out


def reviewed_scales(campaign_scales: Sequence[str]) -> list[str]:
    """The scales of a campaign a reviewer settles, in the campaign's order (per-turn intensities are not adjudicated)."""
    return [s for s in campaign_scales if s in SCALES]


def majority(values: Sequence[Any]) -> Any | None:
    """The value more than half the raters gave, or None."""
    if not values:
        return None
    value, count = Counter(values).most_common(1)[0]
    return value if count * 2 > len(values) else None


def disagreement(ratings: Sequence[Mapping[str, Any]], scales: Sequence[str], limits: Mapping[str, Any]) -> dict[str, float]:
    """scale -> how far apart the raters are (the range over the scale's span, plus one half when there is no majority), for the
    scales whose disagreement passes the thresholds; empty when the raters agree well enough."""
    out = {}
    for name in scales:
        scale = SCALES[name]
        values = [r[name] for r in ratings if r.get(name) is not None]
        if len(values) < 2:
            continue
        spread = 0.0
        passes = False
        if scale.range_key:
            span = max(values) - min(values)
            spread += span / (scale.levels[-1] - scale.levels[0])
            passes |= span >= limits[scale.range_key]
        if scale.majority_key and majority(values) is None:
            spread += 0.5  # a split counts as half the scale apart
            passes |= bool(limits[scale.majority_key])
        if passes:
            out[name] = round(spread, 3)
    return out


def settled(adjudications: Sequence[Mapping[str, Any]], reviewers: int) -> dict[str, Any] | None:
    """The values that settle an item: the latest adjudication; with two reviewers, the latest two of different reviewers
    when they set the same values. None while the item is still open."""
    if not adjudications:
        return None
    last = adjudications[-1]
    if reviewers == 1:
        return last["vals"]
    other = next((a for a in reversed(adjudications[:-1]) if a["reviewer_id"] != last["reviewer_id"]), None)
    return last["vals"] if other is not None and other["vals"] == last["vals"] else None


def status(adjudications: Sequence[Mapping[str, Any]], reviewers: int) -> str:
    if settled(adjudications, reviewers) is not None:
        return "adjudicated"
    if not adjudications:
        return "open"
    return "awaiting a second reviewer"


def rater_labels(n: int) -> list[str]:
    """Rater A, B, C ... (then AA, AB ...) for n raters: how a reviewer sees them when names are hidden."""
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return [f"Rater {letters[i]}" if i < 26 else f"Rater {letters[i // 26 - 1]}{letters[i % 26]}" for i in range(n)]
