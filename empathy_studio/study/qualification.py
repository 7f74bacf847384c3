"""Qualification and attention gates: what a campaign asks of a rater before and while they rate (no database here).

A campaign's qualification is a set of practice items with a reference answer (the seeker's self-report for
intensity, EPITOME's gold for empathy, or a value the admin sets), a pass rule and a number of attempts:

- `within-one`: the share of practice answers within one point of the reference (every intensity scale asked; for
  empathy levels, exact) must reach `threshold`;
- `exact`: the share of exactly right answers must reach `threshold`;
- `qwk`: quadratic-weighted kappa between the answers and the references must reach `threshold`.

After a failed attempt the rater tries again (`on_fail: retry`) until `attempts` are used, or stops (`exit`).
Attention gates act on the campaign's hidden gold checks: a warning after `warn_after` misses, a pause after
`pause_after` (an admin reinstates). A gold check is missed when an answer is more than one point from the gold
intensity, or any empathy level differs from the gold level.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Sequence

from ..errors import ConfigError
from ..labels import EPITOME_MECHANISMS

RULES = ("within-one", "exact", "qwk")
ON_FAIL = ("retry", "exit")


@dataclass(frozen=True)
class Qualification:
    items: tuple[str, ...]
    rule: str = "within-one"
    threshold: float = 0.8
    attempts: int = 2
    on_fail: str = "retry"
    references: Mapping[str, Any] = field(default_factory=dict)  # item -> the admin's own reference, over the gold

    def __post_init__(self) -> None:
        if not self.items:
            raise ConfigError("a pass rule needs practice items: name at least one")
        if len(set(self.items)) != len(self.items):
            raise ConfigError("a practice item is named twice")
        if self.rule not in RULES:
            raise ConfigError(f"the pass rule must be one of {', '.join(RULES)}, got {self.rule!r}")
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, (int, float)) or not 0 < self.threshold <= 1:
            raise ConfigError(f"the pass threshold is above 0 and at most 1, got {self.threshold!r}")
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int) or not 1 <= self.attempts <= 10:
            raise ConfigError(f"attempts are a whole number from 1 to 10, got {self.attempts!r}")
        if self.on_fail not in ON_FAIL:
            raise ConfigError(f"on a failed attempt: retry or exit, got {self.on_fail!r}")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "items": list(self.items), "references": dict(self.references)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Qualification":
        return cls(**{**d, "items": tuple(d["items"]), "references": dict(d.get("references") or {})})


@dataclass(frozen=True)
class Attention:
    warn_after: int = 1
    pause_after: int = 3

    def __post_init__(self) -> None:
        for name in ("warn_after", "pause_after"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 100:
                raise ConfigError(f"{name} is a whole number of missed gold checks from 1 to 100, got {v!r}")
        if self.pause_after < self.warn_after:
            raise ConfigError(
                f"the pause comes after the warning: pause_after ({self.pause_after}) must be at least warn_after ({self.warn_after})"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def reference_of(item: Mapping[str, Any], kind: str, own: Any = None) -> dict[str, Any] | None:
    """An item's reference answer: the admin's own, else the gold (self-report; EPITOME levels); None when it has none."""
    if own is not None:
        return dict(own)
    if kind == "empathy":
        import json

        levels = item.get("gold_levels")
        levels = json.loads(levels) if isinstance(levels, str) else levels
        return dict(zip(EPITOME_MECHANISMS, levels)) if levels else None
    if item.get("gold_initial") is None or item.get("gold_final") is None:
        return None
    return {"initial": int(round(item["gold_initial"])), "final": int(round(item["gold_final"]))}


def agrees(values: Mapping[str, Any], reference: Mapping[str, Any], exact: bool = False) -> bool:
    """Intensities within one point (exactly, with `exact`); empathy levels exactly."""
    out = True
    for k, ref in reference.items():
        tolerance = 0 if exact or k in EPITOME_MECHANISMS else 1
        out &= values.get(k) is not None and abs(int(values[k]) - int(ref)) <= tolerance
    return bool(out)


def feedback(values: Mapping[str, Any], reference: Mapping[str, Any], kind: str) -> str:
    said = ", ".join(f"{k} {values.get(k)}" for k in reference)
    ref = ", ".join(f"{k} {v}" for k, v in reference.items())
    who = "EPITOME's gold" if kind == "empathy" else "the reference"
    rule = "Levels count when they are exact." if kind == "empathy" else "Within one point counts as agreeing."
    verdict = "That agrees." if agrees(values, reference) else "That does not agree."
    return f"You said {said}; {who} is {ref}. {rule} {verdict}"


def attempt_result(q: Qualification, rows: Sequence[Mapping[str, Any]]) -> float:
    """The pass score of one complete attempt's rows (`vals`, `reference`)."""
    if q.rule == "qwk":
        from sklearn.metrics import cohen_kappa_score

        a = [int(r["vals"][k]) for r in rows for k in r["reference"]]
        b = [int(r["reference"][k]) for r in rows for k in r["reference"]]
        if len(set(a) | set(b)) < 2:
            return 1.0 if a == b else 0.0
        return float(cohen_kappa_score(a, b, weights="quadratic"))
    return sum(agrees(r["vals"], r["reference"], exact=q.rule == "exact") for r in rows) / len(rows)


def standing(q: Qualification, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Where a rater stands: {"passed", "attempt" (the one under way or last), "answered", "scores", "blocked" (why no
    more attempts), "next_item"}. `rows` are their practice ratings (`item_id`, `attempt`, `vals`, `reference`)."""
    by_attempt: dict[int, list[Mapping[str, Any]]] = {}
    for r in rows:
        by_attempt.setdefault(int(r["attempt"]), []).append(r)
    scores = []
    for n in sorted(by_attempt):
        done = {r["item_id"] for r in by_attempt[n]}
        if set(q.items) <= done:
            score = attempt_result(q, by_attempt[n])
            scores.append(score)
            if score >= q.threshold:
                return {"passed": True, "attempt": n, "answered": len(done), "scores": scores, "blocked": None, "next_item": None}
    finished = len(scores)
    current = max(by_attempt, default=1) if by_attempt and finished < len(by_attempt) else finished + 1
    blocked = None
    if finished and (q.on_fail == "exit" or finished >= q.attempts):
        blocked = (
            f"qualification not passed ({finished} attempt{'s' if finished != 1 else ''}, best score "
            f"{max(scores):.2f}, {q.threshold:.2f} needed); no attempts left: ask an admin"
        )
    answered = {r["item_id"] for r in by_attempt.get(current, [])}
    nxt = next((i for i in q.items if i not in answered), None) if blocked is None else None
    return {"passed": False, "attempt": current, "answered": len(answered), "scores": scores, "blocked": blocked, "next_item": nxt}


def gold_missed(check: Mapping[str, Any]) -> bool:
    """A rating of a hidden gold check (`store.gold_checks` row) is a miss: an intensity more than one point from the
    seeker's own, or an empathy level that differs from EPITOME's."""
    if check.get("gold_levels"):
        import json

        gold = json.loads(check["gold_levels"]) if isinstance(check["gold_levels"], str) else check["gold_levels"]
        return any(int(check[m]) != int(g) for m, g in zip(EPITOME_MECHANISMS, gold))
    return any(check.get(f"gold_{t}") is not None and abs(int(check[t]) - float(check[f"gold_{t}"])) > 1 for t in ("initial", "final"))


def gold_expected(check: Mapping[str, Any]) -> str:
    if check.get("gold_levels"):
        import json

        gold = json.loads(check["gold_levels"]) if isinstance(check["gold_levels"], str) else check["gold_levels"]
        return ", ".join(f"{m.replace('_', ' ')} {g}" for m, g in zip(EPITOME_MECHANISMS, gold))
    return f"initial {check['gold_initial']:g}, final {check['gold_final']:g} (within one point)"
