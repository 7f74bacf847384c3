"""Consensus labels with provenance: one final value per item and scale, and where it came from.

For each item and scale, in this order:

- `adjudicated`: a reviewer settled it (see `adjudication.settled`);
- `unresolved`: its raters disagree past the campaign's thresholds and no reviewer has settled it yet (the value is
  the aggregator's, kept for reference; training on a release leaves these items out);
- `unanimous`: every rater gave the same value (one rater counts as unanimous; `n` says how many there were);
- `majority`: more than half gave one value, and the aggregator agrees with them;
- `aggregated`: otherwise, the aggregation method's value (`aggregation.METHODS`).

Each label carries `n` (its raters) and `spread` (max - min on a numeric scale; distinct labels - 1 on the emotion).
Each rater's competence per scale comes from the same aggregation, with the raters it flags.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Mapping, Sequence

import numpy as np

from ..metrics import bootstrap_alpha, krippendorff_alpha
from .adjudication import SCALES, disagreement, majority, settled
from .aggregation import DEFAULT_METHOD, aggregate

SOURCES = ("unanimous", "majority", "adjudicated", "aggregated", "unresolved")


def _value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (float, np.floating)):
        return round(float(value), 3)
    if isinstance(value, (int, np.integer)):
        return int(value)
    return value


def consensus(
    ratings: Sequence[Mapping[str, Any]],
    scales: Sequence[str],
    limits: Mapping[str, Any],
    adjudications: Mapping[str, Sequence[Mapping[str, Any]]],
    reviewers: int = 1,
    method: str = DEFAULT_METHOD,
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """(item -> scale -> {"value", "source", "n", "spread"}, scale -> {"competence": rater -> float, "flagged": [...]}).

    `ratings` are dicts with `annotator`, `item_id` and one key per scale; `adjudications` maps an item to its
    adjudications, oldest first."""
    by_item: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in ratings:
        by_item[r["item_id"]].append(r)
    raters: dict[str, dict[str, Any]] = {}
    aggregated: dict[str, dict[str, Any]] = {}
    for name in scales:
        rows = [(r["annotator"], r["item_id"], r[name]) for r in ratings if r.get(name) is not None]
        result = aggregate(rows, method, ordinal=SCALES[name].ordinal)
        aggregated[name] = result.values
        raters[name] = {"competence": {w: round(c, 4) for w, c in sorted(result.competence.items())}, "flagged": result.flagged()}
    items: dict[str, dict[str, Any]] = {}
    for item, rows in sorted(by_item.items()):
        apart = disagreement(rows, scales, limits)
        final = settled(list(adjudications.get(item, ())), reviewers)
        labels = {}
        for name in scales:
            values = [r[name] for r in rows if r.get(name) is not None]
            if not values:
                continue
            numeric = isinstance(values[0], (int, float))
            spread = (max(values) - min(values)) if numeric else len(set(values)) - 1
            agg = aggregated[name].get(item)
            top = majority(values)
            if final is not None and name in final:
                value, source = final[name], "adjudicated"
            elif name in apart:
                value, source = agg, "unresolved"
            elif len(set(values)) == 1:
                value, source = values[0], "unanimous"
            elif top is not None and (agg is None or (round(agg) == top if numeric and isinstance(agg, float) else agg == top)):
                value, source = top, "majority"
            elif agg is not None:
                value, source = agg, "aggregated"
            else:
                value, source = None, "unresolved"
            labels[name] = {"value": _value(value), "source": source, "n": len(values), "spread": _value(spread)}
        items[item] = labels
    return items, raters


def provenance_counts(items: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """scale -> source -> how many items' labels came from it."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: {s: 0 for s in SOURCES})
    for labels in items.values():
        for scale, label in labels.items():
            out[scale][label["source"]] += 1
    return {k: dict(v) for k, v in out.items()}


def agreement(ratings: Sequence[Mapping[str, Any]], scales: Sequence[str], n_boot: int = 200) -> dict[str, dict[str, Any]]:
    """scale -> Krippendorff's alpha (interval for intensity, ordinal for levels, nominal for the emotion) with a 95%
    bootstrap CI over items, on the ratings as they were made (before any adjudication)."""
    raters = sorted({r["annotator"] for r in ratings})
    item_ids = sorted({r["item_id"] for r in ratings})
    col = {it: j for j, it in enumerate(item_ids)}
    row = {a: i for i, a in enumerate(raters)}
    out = {}
    for name in scales:
        scale = SCALES[name]
        codes = {v: i for i, v in enumerate(scale.levels)} if not isinstance(scale.levels[0], int) else None
        m = np.full((len(raters), len(item_ids)), np.nan)
        for r in ratings:
            v = r.get(name)
            if v is not None:
                m[row[r["annotator"]], col[r["item_id"]]] = codes[v] if codes else v
        level = "interval" if name in ("initial", "final") else ("nominal" if codes else "ordinal")
        if codes:  # labels: krippendorff on the raw matrix, items resampled for the CI
            alpha, (lo, hi) = _nominal_alpha(m), _nominal_ci(m, n_boot)
        else:  # 1-5, or 0-2 shifted onto 1-3, on the value counts `metrics` computes fast
            shifted = m + (1 - scale.levels[0])
            alpha, (lo, hi) = krippendorff_alpha(shifted, level), bootstrap_alpha(shifted, level, n_boot)
        out[name] = {"alpha": alpha, "ci95": [lo, hi], "level": level}
    return out


def _nominal_alpha(m: np.ndarray) -> float | None:
    import krippendorff

    m = m[:, (~np.isnan(m)).sum(axis=0) >= 2]
    if m.shape[1] < 2 or len(np.unique(m[~np.isnan(m)])) < 2:
        return None
    value = krippendorff.alpha(reliability_data=m, level_of_measurement="nominal")
    return None if np.isnan(value) else float(value)


def _nominal_ci(m: np.ndarray, n_boot: int, seed: int = 0) -> tuple[float | None, float | None]:
    m = m[:, (~np.isnan(m)).sum(axis=0) >= 2]
    if m.shape[1] < 2 or not n_boot:
        return None, None
    rng = np.random.default_rng(seed)
    vals = [a for a in (_nominal_alpha(m[:, rng.integers(0, m.shape[1], m.shape[1])]) for _ in range(n_boot)) if a is not None]
    if len(vals) < 10:
        return None, None
    lo, hi = np.percentile(vals, [2.5, 97.5])
    return float(lo), float(hi)
