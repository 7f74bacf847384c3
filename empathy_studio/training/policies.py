"""The training-set policies of the seeker model: gold labels, the annotators' ratings, or both; and the paper's `--balanced`.

Only items of the train split are ever trained on, whoever rated them.
"""

from __future__ import annotations

import random
from typing import Any, Sequence

from ..data import Dialogue, Example, to_examples
from ..labels import ESCONV_EMOTIONS

POLICIES = ("gold", "gold+ratings", "ratings")
TRAINABLE_SPLIT = "train"


def training_examples(
    splits: dict[str, list[Dialogue]], policy: str = "gold", ratings: dict[str, dict[str, Any]] | None = None
) -> list[Example]:
    """The training set for a data policy. Only items of the train split are ever used, whoever rated them.

    `ratings` maps item id to an aggregate {"initial", "final", "emotion"?}; a
    rating replaces the gold intensities of its item (change = final - initial).
    """
    if policy not in POLICIES:
        raise ValueError(f"unknown data policy {policy!r}; choose from {', '.join(POLICIES)}")
    ratings = ratings or {}
    train = splits[TRAINABLE_SPLIT]
    gold = to_examples(train)
    if policy == "gold":
        return gold
    out = []
    for ex in gold:
        agg = ratings.get(ex.item_id)
        if agg is None:
            if policy == "gold+ratings":
                out.append(ex)
            continue
        emotion = agg.get("emotion")
        label = ESCONV_EMOTIONS.index(emotion) if emotion in ESCONV_EMOTIONS else ex.label
        initial, final = float(agg["initial"]), float(agg["final"])
        out.append(Example(ex.item_id, ex.text, label, initial, final, final - initial))
    return out


def _balance(items: Sequence[Any], key, keep, augment, target: int, seed: int) -> list[Example]:
    """Down-sample classes above `target`, fill classes below it with `augment(rng, pool, k)` copies."""
    rng = random.Random(seed)
    by_class: dict[Any, list[Any]] = {}
    for item in items:
        by_class.setdefault(key(item), []).append(item)
    out: list[Example] = []
    for label in sorted(by_class):
        pool = by_class[label]
        chosen = rng.sample(pool, target) if len(pool) > target else list(pool)
        out.extend(keep(chosen))
        out.extend(augment(rng, pool, k) for k in range(target - len(chosen)))
    rng.shuffle(out)
    return out


def balance_dialogues(train: Sequence[Dialogue], target: int = 1500, seed: int = 42) -> list[Example]:
    """The paper's `--balanced`: up-sample each class to `target` with shortened copies, down-sample above it.

    A synthetic copy keeps the first and last seeker utterances plus a random
    subset of the middle ones, and the source dialogue's intensity labels.
    """

    def shortened(rng: random.Random, pool: list[Dialogue], k: int) -> Example:
        d = rng.choice(pool)
        turns = d.seeker_turns
        middle = [t for t in turns[1:-1] if rng.random() < 0.5]
        text = " ".join(turns[:1] + middle + turns[-1:] if len(turns) > 1 else turns)
        return Example(f"{d.dialogue_id}#aug{k}", text, ESCONV_EMOTIONS.index(d.emotion), d.initial, d.final, d.change)

    return _balance(train, lambda d: d.emotion, to_examples, shortened, target, seed)


def balance_sentences(train: Sequence[Example], target: int = 1500, seed: int = 42) -> list[Example]:
    """SAD flavour of `--balanced`: trim up to 30% of the words from each end."""

    def trimmed(rng: random.Random, pool: list[Example], k: int) -> Example:
        ex = rng.choice(pool)
        words = ex.text.split()
        cut = int(len(words) * 0.3)
        start, end = rng.randint(0, cut), len(words) - rng.randint(0, cut)
        return Example(f"{ex.item_id}#aug{k}", " ".join(words[start : max(end, start + 1)]), ex.label)

    return _balance(train, lambda ex: ex.label, list, trimmed, target, seed)
