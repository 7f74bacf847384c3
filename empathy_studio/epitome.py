"""The empathy rater's data: EPITOME (seeker post, supporter response) pairs, their targets and their split.

Each pair carries the three mechanism levels of EPITOME (emotional reactions,
interpretations, explorations; 0 none, 1 weak, 2 strong). From them, as in the
empathy-rater report: the 4-level scale (their sum, values above 3 folded into
3) and a 0-1 score (sum / 6) for regression. The split is stratified on the
4-level scale, 80/10/10 with seed 42, by two `train_test_split` calls as for
ESConv: 3,023 pairs give 2,418 / 302 / 303.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from sklearn.model_selection import train_test_split

from .data import SPLITS, load_epitome
from .errors import DataError
from .labels import EMPATHY_SCALE, EPITOME_MECHANISMS

LEVEL4 = EMPATHY_SCALE
MAX_SUM = 2 * len(EPITOME_MECHANISMS)


@dataclass(frozen=True)
class Pair:
    """One (post, response) pair with its three mechanism levels (0-2), in `EPITOME_MECHANISMS` order."""

    pair_id: str
    post: str
    response: str
    levels: tuple[int, ...]

    @property
    def level4(self) -> int:
        return min(sum(self.levels), 3)

    @property
    def score(self) -> float:
        return sum(self.levels) / MAX_SUM


def epitome_pairs(folder: Path | str) -> list[Pair]:
    """The pairs of the three EPITOME CSVs that carry all three levels (the first row of a repeated pair wins)."""
    return [Pair(f"{r.sp_id}/{r.rp_id}", r.seeker_post, r.response_post, tuple(r.levels[m] for m in EPITOME_MECHANISMS))
            for r in load_epitome(folder) if all(m in r.levels for m in EPITOME_MECHANISMS)]


def split_pairs(pairs: Sequence[Pair], seed: int = 42, source: str = "epitome") -> dict[str, list[Pair]]:
    """80% train, then the rest halved into val and test, each stratified on the 4-level scale."""
    if len(pairs) < 20:
        raise DataError(source, f"{len(pairs)} pairs; the 80/10/10 split needs at least 20")
    idx = list(range(len(pairs)))
    strata = [p.level4 for p in pairs]
    try:
        train, rest = train_test_split(idx, test_size=0.2, stratify=strata, random_state=seed)
        val, test = train_test_split(rest, test_size=0.5, stratify=[strata[i] for i in rest], random_state=seed)
    except ValueError:  # a level too rare to stratify (small uploads): a plain seeded split
        train, rest = train_test_split(idx, test_size=0.2, random_state=seed)
        val, test = train_test_split(rest, test_size=0.5, random_state=seed)
    return {name: [pairs[i] for i in part] for name, part in zip(SPLITS, (train, val, test))}
