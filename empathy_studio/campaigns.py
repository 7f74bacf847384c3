"""Rating campaigns as a use case: which items a campaign holds, and creating one from what an admin asks.

An admin names the items by a split of ESConv (optionally one emotion), by a
list of ids, or by an uploaded ESConv-format file (its dialogues become items
of their own, prefixed with the campaign's name, and keep their turns so they
can be shown). Optionally the first few become calibration items that everyone
rates first, and hidden gold-check items are drawn from the same source's
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
from .errors import ConfigError
from .labels import ESCONV_EMOTIONS
from .names import check_name
from .store import SCALES, Annotator, Store, require

SOURCES = ("split", "ids", "file")
SPLIT_CHOICES = ("train", "val", "test", "all")
MAX_ITEMS = 5000


@dataclass
class CampaignRequest:
    """What an admin asks for; checked in full before anything is written."""

    name: str
    k: int = 2
    source: str = "split"  # split, ids or file
    split: str = "test"
    emotion: str | None = None  # with a split: only this gold emotion
    ids: str = ""  # with ids: item ids separated by commas, spaces or new lines
    file: str | None = None  # with file: an ESConv-format JSON file
    limit: int | None = None  # at most this many items, drawn with seed 42
    scales: list[str] = field(default_factory=lambda: ["initial", "final"])
    blind: bool = True
    guidelines: str = ""
    calibration: int = 0  # how many of the items everyone rates first
    gold_rate: float = 0.0  # hidden gold checks per regular item (0 to 0.5)

    def __post_init__(self) -> None:
        check_name(self.name, "campaign name")
        if self.source not in SOURCES:
            raise ConfigError(f"source must be one of {', '.join(SOURCES)}, got {self.source!r}")
        if self.source == "split" and self.split not in SPLIT_CHOICES:
            raise ConfigError(f"split must be one of {', '.join(SPLIT_CHOICES)}, got {self.split!r}")
        if self.emotion not in (None, "", *ESCONV_EMOTIONS):
            raise ConfigError(f"unknown emotion {self.emotion!r}")
        for key, lo, hi in (("k", 1, 100), ("calibration", 0, 1000), ("limit", 1, MAX_ITEMS)):
            value = getattr(self, key)
            if value is None and key == "limit":
                continue
            if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
                raise ConfigError(f"{key} must be an integer from {lo} to {hi}, got {value!r}")
        if not isinstance(self.gold_rate, (int, float)) or not 0 <= self.gold_rate <= 0.5:
            raise ConfigError(f"gold-check rate must be from 0 to 0.5, got {self.gold_rate!r}")
        bad = [s for s in self.scales if s not in SCALES]
        if bad or not {"initial", "final"} <= set(self.scales):
            raise ConfigError(f"scales must include initial and final and may add emotion and turns, got {list(self.scales)}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _pool(req: CampaignRequest, sources: D.DataSources, store: Store) -> tuple[list[str], list[str]]:
    """(the requested item ids, the other labelled ids of the same source, for gold checks)."""
    if req.source == "split":
        splits = sources.esconv.splits
        chosen = [d for name in (D.SPLITS if req.split == "all" else (req.split,)) for d in splits[name]]
        keep = [d.dialogue_id for d in chosen if not req.emotion or d.emotion == req.emotion]
        rest = [d.dialogue_id for name in D.SPLITS for d in splits[name] if d.dialogue_id not in set(keep)]
        return keep, rest
    if req.source == "ids":
        ids = [i for i in re.split(r"[\s,;]+", req.ids or "") if i]
        if not ids:
            raise ConfigError("list at least one item id")
        return list(dict.fromkeys(ids)), []
    if not req.file:
        raise ConfigError("upload an ESConv-format file for this campaign")
    dialogues = D.labelled(D.load_esconv(req.file))
    if not dialogues:
        raise D.DataError(Path(req.file).name, "no dialogue with one of the seven emotions of the taxonomy")
    raw = D.parse_json(Path(req.file).read_text(encoding="utf-8"), Path(req.file).name)
    records = raw if isinstance(raw, list) else []
    by_id = {str(r.get("dialogue_id", r.get("id", f"esconv-{i}"))): r for i, r in enumerate(records) if isinstance(r, dict)}
    items = [{"id": f"{req.name}:{d.dialogue_id}", "source": f"upload:{Path(req.file).name}", "dialogue_id": d.dialogue_id,
              "text": d.seeker_text, "split": None, "gold_emotion": d.emotion, "gold_initial": d.initial, "gold_final": d.final,
              "gold_change": d.change, "record": json.dumps(by_id.get(d.dialogue_id, {}))} for d in dialogues]
    store.upsert_items(items)
    return [it["id"] for it in items], []


def campaign_items(req: CampaignRequest, sources: D.DataSources, store: Store) -> list[tuple[str, str]]:
    """(item id, kind) for a request: calibration items first, then the items to rate, then hidden gold checks."""
    keep, rest = _pool(req, sources, store)
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
    return ([(i, "calibration") for i in keep[: req.calibration]] + [(i, "item") for i in keep[req.calibration:]]
            + [(i, "gold") for i in gold])


def create_campaign(actor: Annotator | None, req: CampaignRequest, sources: D.DataSources, store: Store) -> int:
    who = require(actor, "admin")
    items = campaign_items(req, sources, store)
    return store.create_campaign(req.name, items, k=req.k, scales=req.scales, blind=req.blind, guidelines=req.guidelines,
                                 gold_rate=req.gold_rate, created_by=who.name)


def dialogue_of_item(item: dict[str, Any]) -> D.Dialogue | None:
    """The dialogue an uploaded campaign item was made from, rebuilt from the record kept with it."""
    if not item or not item.get("record"):
        return None
    return D.parse_esconv_record(json.loads(item["record"]), 0, item.get("source") or "upload", source="upload")
