"""Ratings in and out of the studio: exports (CSV, JSONL, a `datasets` folder) a researcher can use as they are, and imports
checked row by row with the store's own rules (good rows go in, bad ones are reported by number).

An export row carries what the rating is about: the item's kind in its campaign (item, calibration, gold check), its gold
labels, optionally its text, the suggestion an assisted campaign actually showed, and the rating's history. Columns and
their types are fixed (`COLUMN_TYPES`), so an empty column is still typed and exports concatenate.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .data import parse_json
from .errors import DataError, NotFound
from .labels import EPITOME_MECHANISMS
from .store import Store, StoreError, account_name

# Every column with its type, so an export's empty column keeps its real type and exports of several campaigns concatenate.
COLUMN_TYPES = {
    "annotator": "string",
    "item_id": "string",
    "item_kind": "string",
    "campaign": "string",
    "gold_emotion": "string",
    "gold_initial": "float64",
    "gold_final": "float64",
    "gold_emotional_reactions": "int64",
    "gold_interpretations": "int64",
    "gold_explorations": "int64",
    "text": "string",
    "post": "string",
    "response": "string",
    "initial": "int64",
    "final": "int64",
    "emotion": "string",
    "confidence": "int64",
    "note": "string",
    "turn_intensities": "string",
    "emotional_reactions": "int64",
    "interpretations": "int64",
    "explorations": "int64",
    "assisted": "bool",
    "suggestion": "string",
    "seconds_on_item": "float64",
    "created": "string",
    "updated": "string",
    "history": "string",
}
EXPORT_FIELDS = (
    "annotator",
    "item_id",
    "item_kind",
    "campaign",
    "gold_emotion",
    "gold_initial",
    "gold_final",
    "initial",
    "final",
    "emotion",
    "confidence",
    "note",
    "turn_intensities",
    "assisted",
    "suggestion",
    "seconds_on_item",
    "created",
    "updated",
    "history",
)
EMPATHY_EXPORT_FIELDS = (
    "annotator",
    "item_id",
    "item_kind",
    "campaign",
    *(f"gold_{m}" for m in EPITOME_MECHANISMS),
    *EPITOME_MECHANISMS,
    "note",
    "assisted",
    "suggestion",
    "seconds_on_item",
    "created",
    "updated",
    "history",
)
TEXT_FIELDS = {"intensity": ("text",), "empathy": ("post", "response")}  # with_text: the item as it was rated, after item_id


def export_fields(kind: str, with_text: bool = False) -> tuple[str, ...]:
    fields = EMPATHY_EXPORT_FIELDS if kind == "empathy" else EXPORT_FIELDS
    return (*fields[:2], *TEXT_FIELDS[kind], *fields[2:]) if with_text else fields


def export_rows(store: Store, campaign: str | None = None, with_text: bool = False) -> tuple[tuple[str, ...], list[dict[str, Any]]]:
    """(columns, rows) of the ratings of a campaign (or every intensity rating): each with its item's kind (item,
    calibration, gold) and gold labels, optionally the item's text, the suggestion an assisted campaign showed, and the
    rating's history (every edit and undo, as JSON)."""
    camp = store.campaign(campaign) if campaign else None
    kind = camp["kind"] if camp else "intensity"
    fields = export_fields(kind, with_text)
    rows = []
    for r in store.rating_export(kind, camp["id"] if camp else None):
        row = {k: r.get(k) for k in fields}
        row["item_kind"] = r.get("item_kind") or "item"
        if kind == "empathy":
            gold = json.loads(r["gold_levels"]) if r.get("gold_levels") else [None] * len(EPITOME_MECHANISMS)
            row.update({f"gold_{m}": g for m, g in zip(EPITOME_MECHANISMS, gold)})
        row["assisted"] = None if r.get("assisted") is None else bool(r["assisted"])
        row["history"] = json.dumps(r["history"], ensure_ascii=False)
        rows.append(row)
    return fields, rows


def export_ratings(
    store: Store,
    path: Path | str,
    fmt: str = "csv",
    hub_repo: str | None = None,
    token: str | None = None,
    campaign: str | None = None,
    with_text: bool = False,
) -> int:
    """Ratings (of one campaign, or all) as CSV, JSONL or a `datasets` folder with the same columns and types every time."""
    fields, rows = export_rows(store, campaign, with_text)
    if fmt not in ("csv", "jsonl", "hf"):
        raise StoreError(f"format must be csv, jsonl or hf, got {fmt!r}")
    path = Path(path)
    if fmt != "hf" and path.is_dir():
        raise StoreError(f"{path}: is a folder; name a file to write the {fmt.upper()} to")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "hf":
            from datasets import Dataset, Features, Value

            features = Features({k: Value(COLUMN_TYPES[k]) for k in fields})
            ds = Dataset.from_list(rows, features=features) if rows else Dataset.from_dict({k: [] for k in fields}, features=features)
            ds.save_to_disk(str(path), num_shards=1)  # one shard even when empty: an export with no ratings still loads
            if hub_repo and token:  # needs network; not exercised offline
                ds.push_to_hub(hub_repo, token=token, private=True)
            return len(rows)
        tmp = path.with_name(f".{path.name}.part")  # written whole, then renamed: never half a file
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            if fmt == "csv":
                w = csv.DictWriter(fh, fieldnames=fields)
                w.writeheader()
                w.writerows(rows)
            else:
                fh.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        tmp.replace(path)
    except OSError as exc:
        raise StoreError(f"{path}: cannot write the export ({exc.strerror or exc})") from None
    return len(rows)


MAX_IMPORT_BYTES = 64 * 2**20


def _read_rows(path: Path) -> list[Any]:
    """The rows of a CSV or JSONL file; a JSONL line that does not parse is kept as its error, to be rejected with its number."""
    if not path.is_file():
        raise StoreError(f"{path}: file not found")
    if path.stat().st_size > MAX_IMPORT_BYTES:
        raise StoreError(f"{path}: the file is over {MAX_IMPORT_BYTES // 2**20} MB; split it into smaller files")
    try:
        if path.suffix.lower() == ".csv":
            limit = csv.field_size_limit()
            csv.field_size_limit(MAX_IMPORT_BYTES)  # an oversized cell is read, then refused with its row number
            try:
                with path.open(newline="", encoding="utf-8") as fh:
                    return list(csv.DictReader(fh))
            except csv.Error as exc:
                raise StoreError(f"{path}: not a readable CSV ({exc})") from None
            finally:
                csv.field_size_limit(limit)
        rows: list[Any] = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    rows.append(parse_json(line, path, f"line {n}"))
                except DataError as exc:
                    rows.append(_Unreadable(str(exc).split(": ", 1)[-1]))
        return rows
    except UnicodeDecodeError:
        raise StoreError(f"{path}: not UTF-8 text") from None


@dataclass(frozen=True)
class _Unreadable:
    reason: str


def _number(v: Any) -> Any:
    """A CSV or JSON cell as the number it spells, when it is a finite one; anything else as given, for validation to refuse."""
    if v in (None, ""):
        return None
    if isinstance(v, str):
        try:
            f = float(v)
        except ValueError:
            return v
    elif isinstance(v, float):
        f = v
    else:
        return v
    if not math.isfinite(f):
        return v
    return int(f) if f == int(f) else f


def import_ratings(store: Store, path: Path | str, dry_run: bool = False, create_annotators: bool = False) -> dict[str, Any]:
    """Validate every row with the store's own rules; write the valid ones unless dry_run."""
    path = Path(path)
    rows = _read_rows(path)
    ok, rejected = [], []
    for n, row in enumerate(rows, 1):
        if isinstance(row, _Unreadable):
            rejected.append({"row": n, "reason": row.reason})
            continue
        if not isinstance(row, dict):
            rejected.append({"row": n, "reason": "not an object"})
            continue
        raw_name = row.get("annotator")
        name = raw_name if isinstance(raw_name, str) else ("" if raw_name is None else str(raw_name))
        if any(m in row for m in EPITOME_MECHANISMS):
            try:
                ok.append(("empathy", _empathy_row(store, row, name, create_annotators, dry_run)))
            except (StoreError, DataError, NotFound) as exc:
                rejected.append({"row": n, "reason": str(exc)})
            continue
        try:
            turns = row.get("turn_intensities")
            if isinstance(turns, str) and turns:
                turns = parse_json(turns, path, "turn_intensities")
            if isinstance(turns, list):
                turns = [_number(v) for v in turns]
            note = row.get("note") or None
            args = dict(
                annotator=name,
                item_id=str(row.get("item_id") or ""),
                initial=_number(row.get("initial")),
                final=_number(row.get("final")),
                emotion=row.get("emotion") or None,
                confidence=_number(row.get("confidence")),
                note=note if note is None or isinstance(note, str) else str(note),
                turn_intensities=turns or None,
            )
            _validated(store, name, create_annotators, dry_run, store.validate_rating, args)
            ok.append(("intensity", args))
        except (StoreError, DataError) as exc:
            rejected.append({"row": n, "reason": str(exc)})
    written = 0
    if not dry_run:
        for kind, args in ok:
            (store.rate_empathy if kind == "empathy" else store.rate)(**args)
            written += 1
    return {"rows": len(rows), "ok": len(ok), "rejected": rejected, "written": written, "dry_run": dry_run}


def _empathy_row(store: Store, row: dict[str, Any], name: str, create_annotators: bool, dry_run: bool) -> dict[str, Any]:
    """A response-empathy rating row of an import (annotator, item_id, the three mechanisms, campaign), checked like a live one."""
    campaign = str(row.get("campaign") or "").strip()
    if not campaign:
        raise StoreError("a response-empathy rating needs the campaign it belongs to (column campaign)")
    camp = store.campaign(campaign)
    if camp["kind"] != "empathy":
        raise StoreError(f"campaign {campaign!r} collects intensity ratings, not response empathy")
    note = row.get("note") or None
    args = dict(
        annotator=name,
        item_id=str(row.get("item_id") or ""),
        levels={m: _number(row.get(m)) for m in EPITOME_MECHANISMS},
        note=note if note is None or isinstance(note, str) else str(note),
    )
    _validated(store, name, create_annotators, dry_run, store.validate_empathy_rating, args)
    return {**args, "campaign_id": camp["id"]}


def _validated(store: Store, name: str, create_annotators: bool, dry_run: bool, validate: Any, args: dict[str, Any]) -> None:
    """Check an import row with the store's own rule; an annotator the import creates must have a name that can be an
    account, and is created only for a valid row (and not in a dry run)."""
    create = create_annotators and store.annotator(name) is None
    if create:
        account_name(name)
    validate(**args, annotator_must_exist=not create)
    if create and not dry_run:
        store.add_annotator(name, "annotator")
