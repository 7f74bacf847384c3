"""The empathy rater's training set: EPITOME's gold levels, the studio's response-empathy ratings, or both.

The labels follow the request's policy, as for intensity: EPITOME's gold levels
(`gold`), the response-empathy ratings of the studio's campaigns (`ratings`: each
pair's median level per mechanism over its annotators, or a release's settled
levels), or both (`gold+ratings`: a rated EPITOME training pair takes its raters'
levels). Validation and test stay EPITOME's; a rated pair that is one of them (by
id or by its text) never trains. Without EPITOME, a ratings-only rater splits the
rated pairs 80/10/10 the same way.
"""

from __future__ import annotations

from typing import Any

from ..epitome import Pair, epitome_pairs, split_pairs
from ..errors import DataError
from ..models.rater_predictor import pair_hash
from ..store import Store
from ..study.agreement import aggregate_empathy
from ..study.releases import training_labels

SPLIT_NOTE = "80/10/10 stratified on the 4-level scale (seed 42)"


def rater_splits(sources: Any) -> dict[str, list[Pair]]:
    """EPITOME's pairs in the documented split."""
    if sources.epitome is None:
        raise DataError("epitome", "EPITOME is not configured (space_config.yaml: epitome)")
    return split_pairs(epitome_pairs(sources.epitome), source=str(sources.epitome))


def _key(p: Pair) -> str:
    return pair_hash(p.post.strip(), p.response.strip())


def rated_pairs(store: Store, req: Any) -> list[Pair]:
    """The studio's rated (post, response) pairs with their raters' levels (`aggregate_empathy`), or a release's, as training pairs."""
    if req.release:  # a release's settled levels
        labels = training_labels(store.release_items(req.release))
        items = {i: store.item(i) for i in labels}
    else:
        other = Store(req.with_ratings) if req.with_ratings else None
        source = other or store
        try:
            table = source.empathy_rating_table()
            items = {i: source.item(i) for i in {r[1] for r in table}}
        finally:
            if other is not None:
                other.close()
        labels = aggregate_empathy(table, req.min_annotators)
    return [
        Pair(item_id.removeprefix("epitome:"), items[item_id]["post"], items[item_id]["text"], tuple(v["levels"]))
        for item_id, v in labels.items()
        if items.get(item_id)
    ]


def rater_training_set(sources: Any, store: Store, req: Any) -> tuple[dict[str, list[Pair]], int]:
    """(train / val / test pairs for the request's policy, how many rated pairs were held out because they are val or test)."""
    if req.policy == "gold":
        return rater_splits(sources), 0
    rated = rated_pairs(store, req)
    if sources.epitome is None:
        if req.policy != "ratings":
            raise DataError("epitome", "EPITOME is not configured (space_config.yaml: epitome): train on --policy ratings alone")
        return split_pairs(rated, source="response-empathy ratings"), 0
    splits = rater_splits(sources)
    held = {p.pair_id for s in ("val", "test") for p in splits[s]} | {_key(p) for s in ("val", "test") for p in splits[s]}
    usable = [p for p in rated if p.pair_id not in held and _key(p) not in held]
    dropped = len(rated) - len(usable)
    if req.policy == "ratings":
        train = usable
    else:  # gold+ratings: a rated gold pair takes its raters' levels
        by_id = {p.pair_id: p for p in usable}
        train = [by_id.pop(p.pair_id, p) for p in splits["train"]] + list(by_id.values())
    leaked = [p.pair_id for p in train if p.pair_id in held or _key(p) in held]
    if leaked:  # a guard, not a filter: a leak is a bug upstream
        raise RuntimeError(f"{len(leaked)} evaluation pairs reached the training set, e.g. {leaked[0]}")
    if not train:
        raise DataError("ratings", "no rated (post, response) pair to train on yet (rate some in a response-empathy campaign)")
    return {**splits, "train": train}, dropped
