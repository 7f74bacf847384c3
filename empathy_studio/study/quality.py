"""Rater quality: per annotator, the signs of a rater who cannot be trusted, each flag with its reason.

Inputs are plain rows (one per rating, in time order) and the consensus a release aggregator gives; nothing here
reads the database. The flags and their thresholds (`QualityRules`, per campaign):

- `rushed`: at least half of a rater's items took less than `rushed_seconds` (default 3 s);
- `straight-lining`: the spread (standard deviation) of their answers is under a quarter of the team's, or one answer
  runs over `max_run` items in a row (default: 10, and at least half their items);
- `low competence`: the aggregator flags them (competence below half the median rater's, `aggregation.Result.flagged`),
  estimated without the raters already flagged as rushed or straight-lining: a rater model takes a block of identical
  answers for consistency (MACE gave straight-liners a competence of 1.0 and careful raters 0.0 when they were 30% of
  the pool), so `assess` removes them first;
- `failing checks`: under half right on at least three gold checks or practice items;
- `drifting`: their mean distance from the consensus in the later half of their ratings exceeds the earlier half's by
  more than `drift` (default 0.75 on the 1-5 scale) over at least ten items each.

`bench/aggregation.py --raters` measures how well these find rushed raters and straight-liners among careful ones.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence

import numpy as np
from scipy import stats

from ..errors import ConfigError

FLAGS = ("rushed", "straight-lining", "low competence", "failing checks", "drifting")


@dataclass(frozen=True)
class QualityRules:
    rushed_seconds: float = 3.0
    max_run: int = 10
    drift: float = 0.75

    def __post_init__(self) -> None:
        if not (isinstance(self.rushed_seconds, (int, float)) and 0 < self.rushed_seconds <= 600):
            raise ConfigError(f"the rushed threshold is 0 to 600 seconds, got {self.rushed_seconds!r}")
        if not (isinstance(self.max_run, int) and not isinstance(self.max_run, bool) and 3 <= self.max_run <= 1000):
            raise ConfigError(f"the longest run before straight-lining is flagged is 3 to 1000 items, got {self.max_run!r}")
        if not (isinstance(self.drift, (int, float)) and 0 < self.drift <= 4):
            raise ConfigError(f"the drift threshold is above 0 and at most 4 scale points, got {self.drift!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def longest_run(values: Sequence[Any]) -> int:
    best = run = 0
    prev = object()
    for v in values:
        run = run + 1 if v == prev else 1
        prev = v
        best = max(best, run)
    return best


def bias(values: Sequence[float], reference: Sequence[float]) -> dict[str, Any]:
    """Mean difference from a reference with a 95% t interval."""
    d = np.asarray(values, float) - np.asarray(reference, float)
    d = d[~np.isnan(d)]
    if len(d) < 2:
        return {"mean": float(d.mean()) if len(d) else None, "ci95": [None, None], "n": int(len(d))}
    lo, hi = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d)) if d.std() > 0 else (d.mean(), d.mean())
    return {"mean": float(d.mean()), "ci95": [float(lo), float(hi)], "n": int(len(d))}


def rater_report(
    rows: Sequence[Mapping[str, Any]],
    scale: str,
    consensus: Mapping[str, float],
    team_sd: float,
    competence: float | None,
    low_competence: bool,
    checks: Sequence[bool],
    rules: QualityRules,
) -> dict[str, Any]:
    """One rater's quality from their ratings (dicts with `item_id`, `scale`, `seconds`, oldest first)."""
    values = [r[scale] for r in rows if r.get(scale) is not None]
    seconds = [r["seconds"] for r in rows if r.get("seconds") is not None]
    ref = [consensus.get(r["item_id"], np.nan) for r in rows if r.get(scale) is not None]
    run = longest_run(values)
    sd = float(np.std(values)) if values else 0.0
    rushed = float(np.mean([s < rules.rushed_seconds for s in seconds])) if seconds else 0.0
    accuracy = float(np.mean(checks)) if checks else None
    flags = []
    if seconds and rushed >= 0.5:
        flags.append(f"rushed: {rushed:.0%} of items under {rules.rushed_seconds:g} s")
    if len(values) >= 5 and (sd < 0.25 * team_sd or run >= max(rules.max_run, len(values) // 2 + 1)):
        flags.append(f"straight-lining: longest run {run}, spread {sd:.2f} against the team's {team_sd:.2f}")
    if low_competence:
        flags.append(f"low competence: {competence:.2f} from the aggregator" if competence is not None else "low competence")
    if len(checks) >= 3 and accuracy is not None and accuracy < 0.5:
        flags.append(f"failing checks: {sum(checks)} of {len(checks)} right")
    dist = np.abs(np.asarray(values, float) - np.asarray(ref, float))
    half = len(dist) // 2
    early, late = dist[:half], dist[half:]
    early, late = early[~np.isnan(early)], late[~np.isnan(late)]
    if len(early) >= 10 and len(late) >= 10 and late.mean() - early.mean() > rules.drift:
        flags.append(f"drifting: {early.mean():.2f} from the consensus early, {late.mean():.2f} late")
    counts = {str(v): values.count(v) for v in sorted(set(values))}
    return {
        "items": len(values),
        "median_seconds": float(np.median(seconds)) if seconds else None,
        "rushed_share": rushed,
        "longest_run": run,
        "spread": sd,
        "team_spread": team_sd,
        "checks_right": accuracy,
        "checks": len(checks),
        "competence": competence,
        "bias": bias(values, ref),
        "distribution": counts,
        "flags": flags,
    }


def assess(
    ratings: Sequence[Mapping[str, Any]],
    scale: str,
    ordinal: bool,
    rules: QualityRules,
    checks: Mapping[str, Sequence[bool]] | None = None,
    method: str | None = None,
) -> list[dict[str, Any]]:
    """Every rater's report, oldest rating first within each: behaviour first (rushed, straight-lining), then competence and
    the consensus from the aggregator over the raters that behaviour did not flag."""
    from .aggregation import DEFAULT_METHOD, aggregate

    checks = checks or {}
    by_rater: dict[str, list[Mapping[str, Any]]] = {}
    for r in ratings:
        by_rater.setdefault(r["annotator"], []).append(r)
    team_sd = float(np.std([r[scale] for r in ratings if r.get(scale) is not None])) if ratings else 0.0
    first = {name: rater_report(rows, scale, {}, team_sd, None, False, checks.get(name, []), rules) for name, rows in by_rater.items()}
    behaved = {name for name, rep in first.items() if not flag_kinds(rep) & {"rushed", "straight-lining"}}
    kept = [(r["annotator"], r["item_id"], r[scale]) for r in ratings if r["annotator"] in behaved and r.get(scale) is not None]
    result = aggregate(kept, method or DEFAULT_METHOD, ordinal=ordinal) if kept else None
    consensus = (
        {k: float(v) for k, v in result.values.items() if v is not None}
        if result is not None and ordinal
        else ({k: v for k, v in result.values.items()} if result is not None else {})
    )
    flagged = set(result.flagged()) if result is not None else set()
    reports = []
    for name, rows in sorted(by_rater.items()):
        competence = result.competence.get(name) if result is not None else None
        numeric = {k: v for k, v in consensus.items() if isinstance(v, (int, float))}
        reports.append(
            {"annotator": name, **rater_report(rows, scale, numeric, team_sd, competence, name in flagged, checks.get(name, []), rules)}
        )
    return reports


def flag_kinds(report: Mapping[str, Any]) -> set[str]:
    """Which of `FLAGS` a report raised."""
    return {f.split(":")[0] for f in report["flags"]} & set(FLAGS)
