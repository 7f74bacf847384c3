"""Items, ratings with their history, the predictions cache and the app's own settings: the `Ratings` mixin.

Two kinds of rating share one way of being saved, edited and undone (`KINDS`): intensity
ratings of a seeker's dialogue (`ratings`), and response-empathy ratings of a (post,
response) pair, EPITOME's three mechanisms at 0-2 each (`empathy_ratings`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from ..errors import StoreError
from ..labels import EPITOME_LEVELS, EPITOME_MECHANISMS, ESCONV_EMOTIONS, is_valid_intensity
from .accounts import Annotator
from .migrations import now

MAX_NOTE = 5000
MAX_TURNS = (
    200  # per-turn intensities of one dialogue at most (ESConv's longest has 67 seeker turns); the page checks the dialogue's own count
)
UNDONE = '{"undone": true}'  # the history's record of an undo
RATING_FIELDS = ("initial", "final", "emotion", "confidence", "note", "turn_intensities")
EMPATHY_FIELDS = (*EPITOME_MECHANISMS, "note")


@dataclass(frozen=True)
class RatingKind:
    """Where one kind of rating lives: its table, its history table and the fields an edit compares."""

    name: str
    table: str
    history: str
    fields: tuple[str, ...]


_OF_KIND = {"intensity": "post IS NULL", "empathy": "post IS NOT NULL"}  # a response item carries its post
KINDS = {
    k.name: k
    for k in (
        RatingKind("intensity", "ratings", "rating_history", RATING_FIELDS),
        RatingKind("empathy", "empathy_ratings", "empathy_rating_history", EMPATHY_FIELDS),
    )
}


def is_level(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 2


class Ratings:
    # -- items ----------------------------------------------------------------

    def upsert_items(self, items: Iterable[dict[str, Any]]) -> int:
        """Items by id; an item's `record` (the uploaded dialogue) is kept as JSON."""
        rows = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in it.items()} for it in items]
        with self.write() as db:
            db["items"].upsert_all(rows, pk="id")
        return len(rows)

    def item(self, item_id: str) -> dict[str, Any] | None:
        rows = list(self.db.query("SELECT * FROM items WHERE id = ?", [item_id]))
        return rows[0] if rows else None

    def items(self, split: str | None = None) -> list[dict[str, Any]]:
        if split:
            return list(self.db.query("SELECT * FROM items WHERE split = ? ORDER BY rowid", [split]))
        return list(self.db.query("SELECT * FROM items ORDER BY rowid"))

    def count_items(self, kind: str = "intensity") -> int:
        return self.db.execute(f"SELECT count(*) FROM items WHERE {_OF_KIND[kind]}").fetchone()[0]

    def item_ids(self, kind: str | None = "intensity") -> list[str]:
        """Ids of the dialogues (intensity), of the (post, response) pairs (empathy), or of every item (None)."""
        where = f"WHERE {_OF_KIND[kind]} " if kind else ""
        return [r[0] for r in self.db.execute(f"SELECT id FROM items {where}ORDER BY rowid").fetchall()]

    # -- ratings --------------------------------------------------------------

    def _rater_of(self, annotator: str, must_exist: bool) -> Annotator | None:
        if not (annotator or "").strip():
            raise StoreError("annotator name is empty")
        who = self.annotator(annotator)
        if who is None and must_exist:
            raise StoreError(f"unknown annotator {annotator!r}")
        return who

    def validate_rating(
        self,
        annotator: str,
        item_id: str,
        initial: Any,
        final: Any,
        emotion: str | None = None,
        confidence: Any = None,
        note: str | None = None,
        turn_intensities: list[Any] | None = None,
        annotator_must_exist: bool = True,
    ) -> tuple[Annotator | None, dict[str, Any]]:
        who = self._rater_of(annotator, annotator_must_exist)
        item = self.item(item_id)
        if item is None:
            raise StoreError(f"unknown item {item_id!r}")
        if item.get("post"):
            raise StoreError(f"{item_id!r} is a supporter's response, not a dialogue: rate its empathy instead")
        for name, value in (("initial", initial), ("final", final)):
            if not is_valid_intensity(value):
                raise StoreError(f"{name} intensity must be an integer from 1 to 5, got {value!r}")
        if emotion not in (None, "") and emotion not in ESCONV_EMOTIONS:
            raise StoreError(f"unknown emotion {emotion!r}; choose from {', '.join(ESCONV_EMOTIONS)}")
        if confidence is not None and not is_valid_intensity(confidence):
            raise StoreError(f"confidence must be an integer from 1 to 5, got {confidence!r}")
        if note is not None and len(note) > MAX_NOTE:
            raise StoreError(f"note is {len(note):,} characters; the limit is {MAX_NOTE:,}")
        if turn_intensities is not None:
            if not isinstance(turn_intensities, list) or any(v is not None and not is_valid_intensity(v) for v in turn_intensities):
                raise StoreError("turn intensities must be a list of integers from 1 to 5 (or empty)")
            if len(turn_intensities) > MAX_TURNS:
                raise StoreError(f"{len(turn_intensities):,} per-turn intensities; a dialogue has at most {MAX_TURNS} seeker turns here")
        values = {
            "initial": initial,
            "final": final,
            "emotion": emotion or None,
            "confidence": confidence,
            "note": note or None,
            "turn_intensities": json.dumps(turn_intensities) if turn_intensities else None,
        }
        return who, values

    def rate(
        self,
        annotator: str,
        item_id: str,
        initial: Any,
        final: Any,
        emotion: str | None = None,
        confidence: Any = None,
        note: str | None = None,
        turn_intensities: list[Any] | None = None,
        changed_by: str | None = None,
        campaign_id: int | None = None,
        assisted: bool | None = None,
        seconds_on_item: float | None = None,
    ) -> dict[str, Any]:
        """Save a rating; the same values twice store it once, an edit updates it and appends history.

        In a campaign, the rating completes the annotator's assignment of the item in the same
        transaction; without one (an expired claim, a typed id) it is accepted only while the item
        has fewer than the campaign's k raters, so no item ever gets more.
        """
        who, values = self.validate_rating(annotator, item_id, initial, final, emotion, confidence, note, turn_intensities)
        campaign_id = self.default_campaign_id() if campaign_id is None else campaign_id
        return self._save(KINDS["intensity"], who, item_id, values, changed_by, campaign_id, assisted, seconds_on_item)

    def validate_empathy_rating(
        self, annotator: str, item_id: str, levels: Mapping[str, Any], note: str | None = None, annotator_must_exist: bool = True
    ) -> tuple[Annotator | None, dict[str, Any]]:
        """Check a response-empathy rating: a known response item, each mechanism 0, 1 or 2 (or none/weak/strong)."""
        who = self._rater_of(annotator, annotator_must_exist)
        item = self.item(item_id)
        if item is None:
            raise StoreError(f"unknown response {item_id!r}")
        if not item.get("post"):
            raise StoreError(f"{item_id!r} is a dialogue, not a (post, response) pair: rate its intensity instead")
        if not isinstance(levels, Mapping):
            raise StoreError("levels must name each mechanism: emotional_reactions, interpretations, explorations")
        values: dict[str, Any] = {}
        for m in EPITOME_MECHANISMS:
            v = levels.get(m)
            v = EPITOME_LEVELS.index(v) if v in EPITOME_LEVELS else v
            if not is_level(v):
                raise StoreError(f"{m.replace('_', ' ')} must be 0, 1 or 2, got {levels.get(m)!r}")
            values[m] = v
        extra = sorted(set(levels) - set(EPITOME_MECHANISMS))
        if extra:
            raise StoreError(f"unknown mechanism {extra[0]!r}; the mechanisms are {', '.join(EPITOME_MECHANISMS)}")
        if note is not None and len(note) > MAX_NOTE:
            raise StoreError(f"note is {len(note):,} characters; the limit is {MAX_NOTE:,}")
        return who, {**values, "note": note or None}

    def rate_empathy(
        self,
        annotator: str,
        item_id: str,
        levels: Mapping[str, Any],
        campaign_id: int,
        note: str | None = None,
        changed_by: str | None = None,
        assisted: bool | None = None,
        seconds_on_item: float | None = None,
    ) -> dict[str, Any]:
        """Save a response-empathy rating in an empathy campaign, with the same edit, history and k rules as `rate`."""
        who, values = self.validate_empathy_rating(annotator, item_id, levels, note)
        return self._save(KINDS["empathy"], who, item_id, values, changed_by, campaign_id, assisted, seconds_on_item)

    def _save(
        self,
        kind: RatingKind,
        who: Annotator,
        item_id: str,
        values: dict[str, Any],
        changed_by: str | None,
        campaign_id: int,
        assisted: bool | None,
        seconds_on_item: float | None,
    ) -> dict[str, Any]:
        editor = self.annotator(changed_by) if changed_by else who
        if editor is None:
            raise StoreError(f"unknown annotator {changed_by!r}")
        if seconds_on_item is not None and not (isinstance(seconds_on_item, (int, float)) and 0 <= seconds_on_item < 1e9):
            raise StoreError(f"seconds on item must be a non-negative number, got {seconds_on_item!r}")
        own = self.campaign_kind(campaign_id)
        if own != kind.name:
            raise StoreError(f"this campaign collects {own} ratings, not {kind.name} ratings")
        stamp = now()
        meta = {
            "campaign_id": campaign_id,
            "assisted": None if assisted is None else int(bool(assisted)),
            "seconds_on_item": seconds_on_item,
        }
        with self.write() as db:
            # the guidelines a rating is made under, read in its own transaction (an edit of them is a new version)
            meta["guideline_version"] = db.execute("SELECT guideline_version FROM campaigns WHERE id = ?", [campaign_id]).fetchone()[0]
            cur = db.execute(
                f"SELECT id, removed, {', '.join(kind.fields)} FROM {kind.table} WHERE annotator_id = ? AND item_id = ? "
                "AND campaign_id = ?",
                [who.id, item_id, campaign_id],
            ).fetchone()
            if cur is None or cur[1]:
                if assisted:  # the suggestion the annotator saw, as the view that showed it recorded it
                    shown = db.execute(
                        "SELECT suggestion FROM assignments WHERE campaign_id = ? AND item_id = ? AND annotator_id = ?",
                        [campaign_id, item_id, who.id],
                    ).fetchone()
                    meta["suggestion"] = shown[0] if shown else None
                self._complete_assignment(db, campaign_id, item_id, who.id)
            if cur is None:
                rid = (
                    db[kind.table]
                    .insert({"annotator_id": who.id, "item_id": item_id, **values, **meta, "created": stamp, "updated": stamp})
                    .last_pk
                )
                db[kind.history].insert(
                    {"rating_id": rid, "changed_by": editor.id, "changed_at": stamp, "old": None, "new": json.dumps(values)}
                )
                status = "created"
            else:
                rid, removed = cur[0], cur[1]
                old = None if removed else dict(zip(kind.fields, cur[2:]))
                if old == values:
                    status = "unchanged"
                else:
                    # an edit keeps where and how the rating was first made; a rating made again after an undo is new
                    fresh = {
                        **values,
                        "updated": stamp,
                        "removed": 0,
                        "guideline_version": meta["guideline_version"],
                        **(meta if removed else {}),
                    }
                    db[kind.table].update(rid, fresh)
                    db[kind.history].insert(
                        {
                            "rating_id": rid,
                            "changed_by": editor.id,
                            "changed_at": stamp,
                            "old": json.dumps(old) if old else None,
                            "new": json.dumps(values),
                        }
                    )
                    status = "created" if removed else "updated"
        return {"rating_id": int(rid), "status": status, "annotator": who.name, "item_id": item_id, **values}

    def undo_last(self, annotator: str, kind: str = "intensity") -> dict[str, Any] | None:
        """Take back the annotator's last change: an edit gets its previous values back, a first rating is withdrawn.

        The undo is itself a line of the rating's history; a withdrawn rating's item returns to the
        annotator's queue. Returns {"item_id", "restored": values or None}, or None when there is nothing to undo.
        """
        who = self.annotator(annotator)
        if who is None:
            raise StoreError(f"unknown annotator {annotator!r}")
        k = KINDS[kind]
        stamp = now()
        with self.write() as db:
            last = db.execute(
                f"SELECT h.rating_id, h.old, h.new, r.item_id, r.campaign_id FROM {k.history} h JOIN {k.table} r ON r.id = h.rating_id "
                "WHERE h.changed_by = ? AND r.annotator_id = ? ORDER BY h.id DESC LIMIT 1",
                [who.id, who.id],
            ).fetchone()
            if last is None or last[2] == UNDONE:
                return None
            rid, old, new, item_id, campaign_id = last
            if old is None:
                db.execute(f"UPDATE {k.table} SET removed = 1, updated = ? WHERE id = ?", [stamp, rid])
                if campaign_id is not None:
                    done = db.execute(
                        "UPDATE assignments SET done = 0, expires = 0 WHERE campaign_id = ? AND item_id = ? AND annotator_id = ? "
                        "AND done = 1",
                        [campaign_id, item_id, who.id],
                    ).rowcount
                    if done:
                        db.execute(
                            "UPDATE campaign_items SET rated = rated - 1 WHERE campaign_id = ? AND item_id = ?", [campaign_id, item_id]
                        )
            else:
                db[k.table].update(rid, {**json.loads(old), "updated": stamp})
            db[k.history].insert({"rating_id": rid, "changed_by": who.id, "changed_at": stamp, "old": new, "new": UNDONE})
        return {"item_id": item_id, "restored": json.loads(old) if old else None}

    def ratings(self, annotator: str | None = None, item_id: str | None = None, campaign_id: int | None = None) -> list[dict[str, Any]]:
        where, params = ["r.removed = 0"], []
        if annotator is not None:
            where.append("a.name = ?")
            params.append(annotator)
        if item_id is not None:
            where.append("r.item_id = ?")
            params.append(item_id)
        if campaign_id is not None:
            where.append("r.campaign_id = ?")
            params.append(campaign_id)
        sql = (
            "SELECT r.id, a.name AS annotator, r.item_id, r.initial, r.final, r.emotion, r.confidence, r.note, r.turn_intensities, "
            "c.name AS campaign, r.assisted, r.suggestion, r.guideline_version, r.seconds_on_item, r.created, r.updated "
            "FROM ratings r JOIN annotators a ON a.id = r.annotator_id LEFT JOIN campaigns c ON c.id = r.campaign_id"
            " WHERE " + " AND ".join(where) + " ORDER BY r.id"
        )
        rows = list(self.db.query(sql, params))
        for r in rows:
            r["turn_intensities"] = json.loads(r["turn_intensities"]) if r["turn_intensities"] else None
            r["assisted"] = None if r["assisted"] is None else bool(r["assisted"])
        return rows

    def empathy_ratings(
        self, annotator: str | None = None, item_id: str | None = None, campaign_id: int | None = None
    ) -> list[dict[str, Any]]:
        """Response-empathy ratings, with each response's post, as plain rows."""
        where, params = ["r.removed = 0"], []
        for col, value in (("a.name", annotator), ("r.item_id", item_id), ("r.campaign_id", campaign_id)):
            if value is not None:
                where.append(f"{col} = ?")
                params.append(value)
        sql = (
            f"SELECT r.id, a.name AS annotator, r.item_id, {', '.join('r.' + m for m in EPITOME_MECHANISMS)}, r.note, c.name AS campaign, "
            "r.assisted, r.suggestion, r.guideline_version, r.seconds_on_item, r.created, r.updated FROM empathy_ratings r JOIN "
            "annotators a ON a.id = r.annotator_id "
            "JOIN campaigns c ON c.id = r.campaign_id WHERE " + " AND ".join(where) + " ORDER BY r.id"
        )
        rows = list(self.db.query(sql, params))
        for r in rows:
            r["assisted"] = None if r["assisted"] is None else bool(r["assisted"])
        return rows

    def empathy_rating_table(
        self, campaign_id: int | None = None, guideline_version: int | None = None
    ) -> list[tuple[str, str, int, int, int]]:
        """(annotator, item, ER, IP, EX) for every response-empathy rating (of a campaign, made under a guideline version):
        agreement's and training's input."""
        sql = (
            f"SELECT a.name, r.item_id, {', '.join('r.' + m for m in EPITOME_MECHANISMS)} FROM empathy_ratings r "
            "JOIN annotators a ON a.id = r.annotator_id WHERE r.removed = 0"
            + (" AND r.campaign_id = ?" if campaign_id is not None else "")
            + (" AND r.guideline_version = ?" if guideline_version is not None else "")
        )
        return self.db.execute(sql, [v for v in (campaign_id, guideline_version) if v is not None]).fetchall()

    def rating_export(self, kind: str = "intensity", campaign_id: int | None = None) -> list[dict[str, Any]]:
        """Every rating of a kind (of a campaign) with what an export needs beside it: its item's kind in the campaign, gold
        labels and text, the suggestion shown, and its history (every change and undo, oldest first), in two queries."""
        k = KINDS[kind]
        values = (
            "r.initial, r.final, r.emotion, r.confidence, r.note, r.turn_intensities, i.gold_emotion, i.gold_initial, i.gold_final, i.text"
            if kind == "intensity"
            else f"{', '.join('r.' + m for m in EPITOME_MECHANISMS)}, r.note, i.gold_levels, i.post, i.text AS response"
        )
        where = "r.removed = 0" + (" AND r.campaign_id = ?" if campaign_id is not None else "")
        params = [campaign_id] if campaign_id is not None else []
        rows = list(
            self.db.query(
                f"SELECT r.id, a.name AS annotator, r.item_id, ci.kind AS item_kind, c.name AS campaign, {values}, r.assisted, "
                "r.suggestion, "
                f"r.seconds_on_item, r.created, r.updated FROM {k.table} r JOIN annotators a ON a.id = r.annotator_id "
                f"JOIN campaigns c ON c.id = r.campaign_id JOIN items i ON i.id = r.item_id "
                f"LEFT JOIN campaign_items ci ON ci.campaign_id = r.campaign_id AND ci.item_id = r.item_id WHERE {where} ORDER BY r.id",
                params,
            )
        )
        history: dict[int, list[dict[str, Any]]] = {r["id"]: [] for r in rows}
        for h in self.db.query(
            f"SELECT h.rating_id, an.name AS changed_by, h.changed_at, h.old, h.new FROM {k.history} h "
            f"JOIN annotators an ON an.id = h.changed_by JOIN {k.table} r ON r.id = h.rating_id WHERE {where} ORDER BY h.id",
            params,
        ):
            if h["rating_id"] in history:
                history[h["rating_id"]].append(
                    {
                        "by": h["changed_by"],
                        "at": h["changed_at"],
                        "old": json.loads(h["old"]) if h["old"] else None,
                        "new": json.loads(h["new"]),
                    }
                )
        return [{**r, "history": history[r["id"]]} for r in rows]

    def rating_history(self, rating_id: int, kind: str = "intensity") -> list[dict[str, Any]]:
        sql = (
            f"SELECT h.id, a.name AS changed_by, h.changed_at, h.old, h.new FROM {KINDS[kind].history} h "
            "JOIN annotators a ON a.id = h.changed_by WHERE h.rating_id = ? ORDER BY h.id"
        )
        return [
            {**r, "old": json.loads(r["old"]) if r["old"] else None, "new": json.loads(r["new"])} for r in self.db.query(sql, [rating_id])
        ]

    def count_ratings(self, annotator: str | None = None) -> int:
        if annotator is None:
            return self.db.execute("SELECT count(*) FROM ratings WHERE removed = 0").fetchone()[0]
        return self.db.execute(
            "SELECT count(*) FROM ratings r JOIN annotators a ON a.id = r.annotator_id WHERE a.name = ? AND r.removed = 0", [annotator]
        ).fetchone()[0]

    def rated_item_ids(self, annotator: str, campaign_id: int | None = None) -> set[str]:
        sql = "SELECT r.item_id FROM ratings r JOIN annotators a ON a.id = r.annotator_id WHERE a.name = ? AND r.removed = 0" + (
            " AND r.campaign_id = ?" if campaign_id is not None else ""
        )
        return {r[0] for r in self.db.execute(sql, [annotator, *([campaign_id] if campaign_id is not None else [])]).fetchall()}

    def count_rated_items(self) -> int:
        return self.db.execute("SELECT count(DISTINCT item_id) FROM ratings WHERE removed = 0").fetchone()[0]

    def rating_table(
        self, campaign_id: int | None = None, guideline_version: int | None = None
    ) -> list[tuple[str, str, int, int, str | None]]:
        """(annotator, item, initial, final, emotion) for every rating (of a campaign, made under a guideline version): the
        input of the agreement statistics."""
        sql = (
            "SELECT a.name, r.item_id, r.initial, r.final, r.emotion FROM ratings r JOIN annotators a ON a.id = r.annotator_id "
            "WHERE r.removed = 0"
            + (" AND r.campaign_id = ?" if campaign_id is not None else "")
            + (" AND r.guideline_version = ?" if guideline_version is not None else "")
        )
        return self.db.execute(sql, [v for v in (campaign_id, guideline_version) if v is not None]).fetchall()

    # -- predictions cache ----------------------------------------------------

    def cache_predictions(self, model: str, rows: Iterable[tuple[str, str, dict[str, Any]]]) -> None:
        stamp = now()
        data = [{"model": model, "item_id": i, "text_hash": h, "result": json.dumps(r), "created": stamp} for i, h, r in rows]
        with self.write() as db:
            db["predictions"].upsert_all(data, pk=("model", "item_id"))

    def cached_predictions(self, model: str) -> dict[str, tuple[str, dict[str, Any]]]:
        rows = self.db.execute("SELECT item_id, text_hash, result FROM predictions WHERE model = ?", [model]).fetchall()
        return {i: (h, json.loads(r)) for i, h, r in rows}

    def cached_hashes(self, model: str) -> dict[str, str]:
        """Item id -> text hash of a model's cached predictions (the cheap check of what is missing)."""
        return dict(self.db.execute("SELECT item_id, text_hash FROM predictions WHERE model = ?", [model]).fetchall())

    def move_cached_predictions(self, model: str, to: str | None) -> None:
        """A renamed model keeps its cached predictions (`to`); a deleted one (`to` None) loses them."""
        with self.write() as db:
            if to is None:
                db.execute("DELETE FROM predictions WHERE model = ?", [model])
            else:
                db.execute("DELETE FROM predictions WHERE model = ?", [to])
                db.execute("UPDATE predictions SET model = ? WHERE model = ?", [to, model])

    # -- app settings ---------------------------------------------------------

    def get_setting(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM app_settings WHERE key = ?", [key]).fetchone()
        return json.loads(row[0]) if row else default

    def set_setting(self, key: str, value: Any) -> None:
        with self.write() as db:
            db["app_settings"].upsert({"key": key, "value": json.dumps(value)}, pk="key")
