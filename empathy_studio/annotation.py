"""Annotation use cases: sign-in and roles, the rating queue, agreement, import and export.

Roles are checked here and in the store (`store.require`), at the API level, so
a call that bypasses the page (gradio_client, the CLI) meets the same rules:
admins start training, export and manage annotators; annotators rate and see
only their own ratings. The queue order is the admin's choice: random, model
uncertainty (entropy of the emotion probabilities, or intensity spread across
emotions), or disagreement between annotators; this is the studio's active learning.
"""

from __future__ import annotations

import csv
import json
import math
import random
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .agreement import _nan, agreement_report, empathy_agreement_report
from .data import parse_json
from .errors import DataError, NotFound
from .labels import EPITOME_MECHANISMS
from .metrics import entropy
from .registry import Registry
from .settings import Settings
from .store import DEFAULT_CAMPAIGN, Annotator, PermissionDenied, Store, StoreError, account_name, name_key, require
from .throttle import SignInThrottle

QUEUE_ORDERS = ("random", "uncertainty", "spread", "disagreement")
EXPORT_FIELDS = ("annotator", "item_id", "initial", "final", "emotion", "confidence", "note", "turn_intensities", "campaign", "assisted",
                 "seconds_on_item", "created", "updated")
EMPATHY_EXPORT_FIELDS = ("annotator", "item_id", *EPITOME_MECHANISMS, "note", "campaign", "assisted", "seconds_on_item", "created", "updated")


# ---------------------------------------------------------------------------
# the service


class Annotation:
    def __init__(self, store: Store, settings: Settings, registry: Registry, throttle: SignInThrottle | None = None):
        self.store, self.settings, self.registry = store, settings, registry
        self.throttle = throttle or SignInThrottle()

    # -- identity ---------------------------------------------------------------

    @staticmethod
    def require(actor: Annotator | None, role: str = "annotator") -> Annotator:
        return require(actor, role)

    def bootstrap_accounts(self) -> None:
        self.store.add_annotators([(acc.name, acc.role, acc.password) for acc in self.settings.auth])

    def login(self, name: str, password: str, client: str | None = None) -> Annotator:
        """Sign in by name and password; `client` is the caller's address, throttled like the account."""
        try:
            account = ("account", name_key(name))
        except StoreError:
            account = ("account", str(name)[:64])
        keys = [account] + ([("client", client)] if client else [])
        self.throttle.admit(keys)  # counted as a failure from here on, unless the password is right
        who = self.store.authenticate(name, password)
        if who is None:
            raise PermissionDenied("unknown name or wrong password")
        self.throttle.succeeded(keys)
        return who

    def oauth_login(self, username: str) -> Annotator:
        """A Hugging Face OAuth profile becomes an annotator account on first sign-in."""
        return self.store.annotator(username) or self.store.add_annotator(username, "annotator")

    def add_annotator(self, actor: Annotator | None, name: str, role: str, password: str | None) -> Annotator:
        require(actor, "admin")
        return self.store.add_annotator(name, role, password)

    # -- queue ------------------------------------------------------------------

    def queue_order(self) -> str:
        return self.store.get_setting("queue_order", "random")

    def set_queue_order(self, actor: Annotator | None, order: str, model: str | None = None) -> None:
        require(actor, "admin")
        if order not in QUEUE_ORDERS:
            raise StoreError(f"queue order must be one of {', '.join(QUEUE_ORDERS)}")
        self.store.set_setting("queue_order", order)
        if model:
            self.registry.get(model)
            self.store.set_setting("queue_model", model)

    def queue_model(self) -> str:
        return self.store.get_setting("queue_model", self.settings.default_model)

    def assisted(self) -> bool:
        return bool(self.store.get_setting("assisted", False))

    def set_assisted(self, actor: Annotator | None, on: bool) -> None:
        require(actor, "admin")
        self.store.set_setting("assisted", bool(on))

    def queue(self, actor: Annotator | None) -> list[str]:
        """Item ids this annotator has not rated yet, in the admin's chosen order."""
        who = require(actor)
        done = self.store.rated_item_ids(who.name, self.store.default_campaign_id())
        todo = [i for i in self.store.item_ids() if i not in done]
        order = self.queue_order()
        if order == "random":
            random.Random(f"{who.name}").shuffle(todo)  # stable per annotator, different between them
            return todo
        if order == "disagreement":
            spread = self._rating_spread()
            return sorted(todo, key=lambda i: (-spread.get(i, -1.0), i))
        model = self.queue_model()
        cache = self.store.cached_predictions(model)
        if order == "uncertainty":
            score = {i: entropy(r["probs"]) for i, (_, r) in cache.items()}
        else:  # spread: how much the per-emotion intensity outputs disagree
            score = {i: r.get("pred_spread") or 0.0 for i, (_, r) in cache.items()}
        return sorted(todo, key=lambda i: (-score.get(i, -1.0), i))

    def _rating_spread(self) -> dict[str, float]:
        vals: dict[str, list[int]] = defaultdict(list)
        for _, item, initial, final, _ in self.store.rating_table():
            vals[item].append(initial)
        return {i: float(np.std(v)) for i, v in vals.items() if len(v) >= 2}

    def next_item(self, actor: Annotator | None) -> dict[str, Any] | None:
        """The default campaign's next item for this annotator (the free queue)."""
        q = self.queue(actor)
        return self.store.item(q[0]) if q else None

    # -- campaigns ------------------------------------------------------------------

    def campaign(self, name: str | None) -> dict[str, Any]:
        return self.store.campaign(name or DEFAULT_CAMPAIGN)

    def campaigns(self, actor: Annotator | None, active_only: bool = True) -> list[dict[str, Any]]:
        require(actor)
        return self.store.campaigns(active_only=active_only)

    def next_in(self, actor: Annotator | None, campaign: str | None = None, skip: Sequence[str] = ()) -> str | None:
        """The annotator's next item of a campaign: a claim for a campaign with k, the free queue for the default one."""
        who = require(actor)
        camp = self.campaign(campaign)
        if camp["all_items"]:
            return next((i for i in self.queue(who) if i not in set(skip)), None)
        return self.store.claim(camp["id"], who.id, skip)

    def skip(self, actor: Annotator | None, campaign: str | None, item_id: str) -> None:
        """Pass an item: its claim returns to the pool for someone else."""
        who = require(actor)
        camp = self.campaign(campaign)
        if not camp["all_items"] and item_id:
            self.store.release(camp["id"], who.id, item_id)

    def is_assisted(self, campaign: str | None) -> bool:
        camp = self.campaign(campaign)
        return self.assisted() if camp["all_items"] else not camp["blind"]

    def progress(self, actor: Annotator | None, campaign: str | None = None) -> dict[str, int]:
        """For the annotator: done of assigned in the campaign; for the team: items complete, of all."""
        who = require(actor)
        camp = self.campaign(campaign)
        mine = self.store.annotator_progress(camp["id"], who.id)
        team = self.store.campaign_progress(camp["id"], per_annotator=False)
        return {"done": mine["done"], "assigned": mine["assigned"], "complete": team["complete"], "items": team["items"],
                "team_ratings": team["ratings"], "k": camp["k"]}

    # -- ratings ----------------------------------------------------------------

    def rate(self, actor: Annotator | None, item_id: str, initial: Any, final: Any, campaign: str | None = None, **extra: Any) -> dict[str, Any]:
        """Save a rating in a campaign, with whether the model's suggestion was shown and how long the item was open."""
        who = require(actor)
        camp = self.campaign(campaign)
        if not camp["active"]:
            raise PermissionDenied(f"campaign {camp['name']} is closed; its ratings can no longer change")
        claimed = self.store.claimed_at(camp["id"], who.id, item_id)
        given = extra.pop("seconds_on_item", None)  # the claim's own time wins over what a caller says
        seconds = round(time.time() - claimed, 1) if claimed and not camp["all_items"] else given
        return self.store.rate(who.name, item_id, initial, final, campaign_id=camp["id"], assisted=self.is_assisted(campaign),
                               seconds_on_item=seconds, **extra)

    def rate_empathy(self, actor: Annotator | None, item_id: str, levels: dict[str, Any], campaign: str, note: str | None = None,
                     seconds_on_item: float | None = None) -> dict[str, Any]:
        """Save a response-empathy rating (ER, IP, EX at 0-2) in an empathy campaign."""
        who = require(actor)
        camp = self.campaign(campaign)
        if not camp["active"]:
            raise PermissionDenied(f"campaign {camp['name']} is closed; its ratings can no longer change")
        claimed = self.store.claimed_at(camp["id"], who.id, item_id)
        seconds = round(time.time() - claimed, 1) if claimed else seconds_on_item
        return self.store.rate_empathy(who.name, item_id, levels, camp["id"], note=note, assisted=self.is_assisted(campaign),
                                       seconds_on_item=seconds)

    def undo(self, actor: Annotator | None, campaign: str | None = None) -> dict[str, Any] | None:
        """Take back the annotator's last save of the campaign's kind of rating (intensity or response empathy)."""
        return self.store.undo_last(require(actor).name, self.campaign(campaign)["kind"])

    def my_ratings(self, actor: Annotator | None, kind: str = "intensity") -> list[dict[str, Any]]:
        who = require(actor)
        return self.store.empathy_ratings(annotator=who.name) if kind == "empathy" else self.store.ratings(annotator=who.name)

    def all_ratings(self, actor: Annotator | None) -> list[dict[str, Any]]:
        require(actor, "admin")
        return self.store.ratings()

    # -- agreement --------------------------------------------------------------

    def agreement(self, model: str | None = None, n_boot: int = 200, campaign: str | None = None) -> dict[str, Any]:
        """Agreement over all ratings, or over one campaign's (per mechanism, for a response-empathy campaign)."""
        camp = self.store.campaign(campaign) if campaign else None
        camp_id = camp["id"] if camp else None
        if camp and camp["kind"] == "empathy":
            gold = {it["id"]: json.loads(it["gold_levels"]) for it in self.store.items() if it.get("gold_levels")}
            preds = {i: r for i, (_, r) in self.store.cached_predictions(model).items()} if model else None
            return {"campaign": campaign, "kind": "empathy",
                    **empathy_agreement_report(self.store.empathy_rating_table(camp_id), gold, preds, n_boot=n_boot)}
        gold = {it["id"]: {"emotion": it["gold_emotion"], "initial": _nan(it["gold_initial"]), "final": _nan(it["gold_final"])} for it in self.store.items()}
        preds = {i: r for i, (_, r) in self.store.cached_predictions(model).items()} if model else None
        report = agreement_report(self.store.rating_table(camp_id), gold, preds, n_boot=n_boot)
        return {"campaign": campaign, "kind": "intensity", **report}

    # -- import and export --------------------------------------------------------

    def export(self, actor: Annotator | None, path: Path | str, fmt: str = "csv", hub_repo: str | None = None, token: str | None = None,
               campaign: str | None = None) -> int:
        require(actor, "admin")
        return export_ratings(self.store, path, fmt, hub_repo, token, campaign)

    def import_(self, actor: Annotator | None, path: Path | str, dry_run: bool = False, create_annotators: bool = False) -> dict[str, Any]:
        require(actor, "admin")
        return import_ratings(self.store, path, dry_run, create_annotators)


def export_ratings(store: Store, path: Path | str, fmt: str = "csv", hub_repo: str | None = None, token: str | None = None,
                   campaign: str | None = None) -> int:
    """Ratings (of one campaign, or all) as CSV, JSONL or a `datasets` folder."""
    camp = store.campaign(campaign) if campaign else None
    camp_id = camp["id"] if camp else None
    fields = EMPATHY_EXPORT_FIELDS if camp and camp["kind"] == "empathy" else EXPORT_FIELDS
    if fields is EMPATHY_EXPORT_FIELDS:
        rows = [{k: r[k] for k in fields} for r in store.empathy_ratings(campaign_id=camp_id)]
    else:
        rows = [{k: (json.dumps(r[k]) if k == "turn_intensities" and r[k] is not None else r[k]) for k in fields}
                for r in store.ratings(campaign_id=camp_id)]
    if fmt not in ("csv", "jsonl", "hf"):
        raise StoreError(f"format must be csv, jsonl or hf, got {fmt!r}")
    path = Path(path)
    if fmt != "hf" and path.is_dir():
        raise StoreError(f"{path}: is a folder; name a file to write the {fmt.upper()} to")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "hf":
            from datasets import Dataset

            ds = Dataset.from_list(rows) if rows else Dataset.from_dict({k: [] for k in fields})
            ds.save_to_disk(str(path))
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
            args = dict(annotator=name, item_id=str(row.get("item_id") or ""), initial=_number(row.get("initial")),
                        final=_number(row.get("final")), emotion=row.get("emotion") or None, confidence=_number(row.get("confidence")),
                        note=note if note is None or isinstance(note, str) else str(note), turn_intensities=turns or None)
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
    args = dict(annotator=name, item_id=str(row.get("item_id") or ""), levels={m: _number(row.get(m)) for m in EPITOME_MECHANISMS},
                note=note if note is None or isinstance(note, str) else str(note))
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

