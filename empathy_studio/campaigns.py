"""Rating campaigns as a use case: which items a campaign holds, and creating one from what an admin asks.

A campaign rates either the intensity of seekers' dialogues or the empathy of
supporters' responses (`kind`). For intensity, an admin names the items by a
split of ESConv (optionally one emotion), by a list of ids, or by an uploaded
ESConv-format file (its dialogues become items of their own, prefixed with the
campaign's name, and keep their turns so they can be shown). For response
empathy: a split of EPITOME, a list of ids, or an uploaded pairs file (CSV or
JSONL with `post` and `response`, optionally gold levels; `epitome.read_pairs`). Optionally the first few become
calibration items that everyone rates first, and hidden gold-check items are drawn from the same source's
other labelled dialogues. The store does the assignment (`store.campaigns`).
"""

from __future__ import annotations

import json
import math
import random
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import data as D
from .epitome import epitome_pairs, read_pairs, split_pairs
from .errors import ConfigError
from .labels import EPITOME_MECHANISMS, ESCONV_EMOTIONS
from .names import check_name
from .sources import DataSources
from .store import CAMPAIGN_KINDS, DEFAULT_OVERLAP, OVERLAPS, SCALES, Annotator, Store, require

SOURCES = ("split", "ids", "file")
SPLIT_CHOICES = ("train", "val", "test", "all")
MAX_ITEMS = 5000


@dataclass
class CampaignRequest:
    """What an admin asks for; checked in full before anything is written."""

    name: str
    k: int = 2
    kind: str = "intensity"  # intensity (dialogues) or empathy ((post, response) pairs)
    source: str = "split"  # split, ids or file
    split: str = "test"
    emotion: str | None = None  # with a split: only this gold emotion
    ids: str = ""  # with ids: item ids separated by commas, spaces or new lines
    file: str | None = None  # with file: an ESConv-format JSON file (intensity) or a pairs CSV/JSONL (empathy)
    limit: int | None = None  # at most this many items, drawn with seed 42
    scales: list[str] = field(default_factory=lambda: ["initial", "final"])
    blind: bool = True
    guidelines: str = ""
    calibration: int = 0  # how many of the items everyone rates first
    gold_rate: float = 0.0  # hidden gold checks per regular item (0 to 0.5)
    overlap: str = DEFAULT_OVERLAP  # fill each item to k first, spread (least-rated first), or a subset everyone rates
    subset: int = 0  # with overlap "subset": how many of the items everyone rates (the first ones)

    def __post_init__(self) -> None:
        check_name(self.name, "campaign name")
        if self.kind not in CAMPAIGN_KINDS:
            raise ConfigError(f"campaign kind must be one of {', '.join(CAMPAIGN_KINDS)}, got {self.kind!r}")
        if self.source not in SOURCES:
            raise ConfigError(f"source must be one of {', '.join(SOURCES)}, got {self.source!r}")
        if self.source == "split" and self.split not in SPLIT_CHOICES:
            raise ConfigError(f"split must be one of {', '.join(SPLIT_CHOICES)}, got {self.split!r}")
        if self.emotion not in (None, "", *ESCONV_EMOTIONS):
            raise ConfigError(f"unknown emotion {self.emotion!r}")
        if self.kind == "empathy" and self.emotion:
            raise ConfigError("response-empathy items have no emotion to choose by")
        for key, lo, hi in (("k", 1, 100), ("calibration", 0, 1000), ("limit", 1, MAX_ITEMS)):
            value = getattr(self, key)
            if value is None and key == "limit":
                continue
            if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
                raise ConfigError(f"{key} must be an integer from {lo} to {hi}, got {value!r}")
        if not isinstance(self.gold_rate, (int, float)) or not 0 <= self.gold_rate <= 0.5:
            raise ConfigError(f"gold-check rate must be from 0 to 0.5, got {self.gold_rate!r}")
        if self.overlap not in OVERLAPS:
            raise ConfigError(f"overlap must be one of {', '.join(OVERLAPS)}, got {self.overlap!r}")
        if not isinstance(self.subset, int) or isinstance(self.subset, bool) or not 0 <= self.subset <= MAX_ITEMS:
            raise ConfigError(f"the overlap subset must be an integer from 0 to {MAX_ITEMS}, got {self.subset!r}")
        if (self.overlap == "subset") != (self.subset > 0):
            raise ConfigError("overlap subset needs the number of items everyone rates (subset 1 or more); other policies take none")
        if self.kind == "empathy":
            self.scales = list(EPITOME_MECHANISMS)  # always the three mechanisms
            return
        bad = [s for s in self.scales if s not in SCALES]
        if bad or not {"initial", "final"} <= set(self.scales):
            raise ConfigError(f"scales must include initial and final and may add emotion and turns, got {list(self.scales)}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def pair_item(item_id: str, source: str, post: str, response: str, levels: Any, split: str | None = None) -> dict[str, Any]:
    """A (post, response) pair as a store item: the response is its text, the post and any gold levels columns of their own."""
    return {
        "id": item_id,
        "source": source,
        "dialogue_id": None,
        "text": response,
        "post": post,
        "split": split,
        "gold_levels": json.dumps(list(levels)) if levels is not None else None,
    }


Pool = tuple[list[str], list[str], list[dict[str, Any]]]  # (item ids, other labelled ids for gold checks, item rows to write)


def _pair_pool(req: CampaignRequest, sources: DataSources) -> Pool:
    """The empathy campaign's items, the other gold-labelled pairs for gold checks, and the pairs as store items."""
    if req.source == "ids":
        ids = [i for i in re.split(r"[\s,;]+", req.ids or "") if i]
        if not ids:
            raise ConfigError("list at least one item id")
        return list(dict.fromkeys(ids)), [], []
    if req.source == "split":
        if sources.epitome is None:
            raise ConfigError("EPITOME is not configured (space_config.yaml: epitome): upload a pairs file instead")
        splits = split_pairs(epitome_pairs(sources.epitome))
        items = [
            pair_item(f"epitome:{p.pair_id}", "epitome", p.post, p.response, p.levels, name) for name, part in splits.items() for p in part
        ]
        chosen = set(D.SPLITS if req.split == "all" else (req.split,))
        keep = [it["id"] for it in items if it["split"] in chosen]
        rest = [it["id"] for it in items if it["split"] not in chosen]
    else:
        if not req.file:
            raise ConfigError("upload a pairs file (CSV or JSONL with post and response) for this campaign")
        rows = read_pairs(req.file)
        items = [pair_item(f"{req.name}:{r['id']}", f"upload:{Path(req.file).name}", r["post"], r["response"], r["levels"]) for r in rows]
        keep, rest = [it["id"] for it in items], []
    return keep, rest, items


def _pool(req: CampaignRequest, sources: DataSources) -> Pool:
    """(the requested item ids, the other labelled ids of the same source for gold checks, the new items to write)."""
    if req.kind == "empathy":
        return _pair_pool(req, sources)
    if req.source == "split":
        splits = sources.esconv.splits
        chosen = [d for name in (D.SPLITS if req.split == "all" else (req.split,)) for d in splits[name]]
        keep = [d.dialogue_id for d in chosen if not req.emotion or d.emotion == req.emotion]
        rest = [d.dialogue_id for name in D.SPLITS for d in splits[name] if d.dialogue_id not in set(keep)]
        return keep, rest, []
    if req.source == "ids":
        ids = [i for i in re.split(r"[\s,;]+", req.ids or "") if i]
        if not ids:
            raise ConfigError("list at least one item id")
        return list(dict.fromkeys(ids)), [], []
    if not req.file:
        raise ConfigError("upload an ESConv-format file for this campaign")
    dialogues = D.labelled(D.load_esconv(req.file))
    if not dialogues:
        raise D.DataError(Path(req.file).name, "no dialogue with one of the seven emotions of the taxonomy")
    raw = D.parse_json(Path(req.file).read_text(encoding="utf-8"), Path(req.file).name)
    records = raw if isinstance(raw, list) else []
    by_id = {str(r.get("dialogue_id", r.get("id", f"esconv-{i}"))): r for i, r in enumerate(records) if isinstance(r, dict)}
    items = [
        {
            "id": f"{req.name}:{d.dialogue_id}",
            "source": f"upload:{Path(req.file).name}",
            "dialogue_id": d.dialogue_id,
            "text": d.seeker_text,
            "split": None,
            "gold_emotion": d.emotion,
            "gold_initial": d.initial,
            "gold_final": d.final,
            "gold_change": d.change,
            "record": json.dumps(by_id.get(d.dialogue_id, {})),
        }
        for d in dialogues
    ]
    return [it["id"] for it in items], [], items


def campaign_items(req: CampaignRequest, sources: DataSources) -> tuple[list[tuple[str, str]], list[dict[str, Any]]]:
    """(item id, kind) for a request, calibration items first, then the items to rate, then hidden gold checks; and the
    items the campaign brings (an upload's dialogues or pairs, EPITOME's pairs), for the store to write with the campaign."""
    keep, rest, new_items = _pool(req, sources)
    if not keep:
        raise ConfigError("no item matches this choice (split and emotion)")
    rng = random.Random(42)
    if req.limit is not None and req.limit < len(keep):
        keep = rng.sample(keep, req.limit)
    if req.calibration >= len(keep):
        raise ConfigError(f"{req.calibration} calibration items would leave none of the {len(keep)} items to rate")
    n_gold = math.ceil(req.gold_rate * (len(keep) - req.calibration))
    if n_gold and len(rest) < n_gold:
        raise ConfigError(f"{n_gold} gold-check items are needed and only {len(rest)} other labelled items are left; lower the rate")
    gold = rng.sample(rest, n_gold) if n_gold else []
    return (
        [(i, "calibration") for i in keep[: req.calibration]] + [(i, "item") for i in keep[req.calibration :]] + [(i, "gold") for i in gold]
    ), new_items


def create_campaign(actor: Annotator | None, req: CampaignRequest, sources: DataSources, store: Store) -> int:
    """A new campaign. An existing name is refused before anything is read or written; the store writes the campaign
    and the items it brings in one transaction, and never changes an item another campaign holds."""
    who = require(actor, "admin")
    store.check_campaign_name_free(req.name)
    items, new_items = campaign_items(req, sources)
    return store.create_campaign(
        req.name,
        items,
        k=req.k,
        scales=req.scales,
        blind=req.blind,
        guidelines=req.guidelines,
        gold_rate=req.gold_rate,
        created_by=who.name,
        kind=req.kind,
        new_items=new_items,
        overlap=req.overlap,
        subset=req.subset,
    )


def dialogue_of_item(item: dict[str, Any]) -> D.Dialogue | None:
    """The dialogue an uploaded campaign item was made from, rebuilt from the record kept with it."""
    if not item or not item.get("record"):
        return None
    return D.parse_esconv_record(json.loads(item["record"]), 0, item.get("source") or "upload", source="upload")
