"""Items, ratings with their history, the predictions cache and the app's own settings: the `Ratings` mixin."""

from __future__ import annotations

import json
import math
from typing import Any, Iterable

from ..errors import StoreError
from ..labels import ESCONV_EMOTIONS, is_valid_intensity
from .accounts import Annotator
from .migrations import now

MAX_NOTE = 5000
UNDONE = '{"undone": true}'  # the history's record of an undo
RATING_FIELDS = ("initial", "final", "emotion", "confidence", "note", "turn_intensities")


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

    def count_items(self) -> int:
        return self.db.execute("SELECT count(*) FROM items").fetchone()[0]

    def item_ids(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT id FROM items ORDER BY rowid").fetchall()]

    # -- ratings --------------------------------------------------------------

    def validate_rating(self, annotator: str, item_id: str, initial: Any, final: Any, emotion: str | None = None,
                        confidence: Any = None, note: str | None = None, turn_intensities: list[Any] | None = None,
                        annotator_must_exist: bool = True) -> tuple[Annotator | None, dict[str, Any]]:
        if not (annotator or "").strip():
            raise StoreError("annotator name is empty")
        who = self.annotator(annotator)
        if who is None and annotator_must_exist:
            raise StoreError(f"unknown annotator {annotator!r}")
        if self.item(item_id) is None:
            raise StoreError(f"unknown item {item_id!r}")
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
        values = {"initial": initial, "final": final, "emotion": emotion or None, "confidence": confidence, "note": note or None,
                  "turn_intensities": json.dumps(turn_intensities) if turn_intensities else None}
        return who, values

    def rate(self, annotator: str, item_id: str, initial: Any, final: Any, emotion: str | None = None, confidence: Any = None,
             note: str | None = None, turn_intensities: list[Any] | None = None, changed_by: str | None = None,
             campaign_id: int | None = None, assisted: bool | None = None, seconds_on_item: float | None = None) -> dict[str, Any]:
        """Save a rating; the same values twice store it once, an edit updates it and appends history.

        In a campaign, the rating completes the annotator's assignment of the item in the same
        transaction; without one (an expired claim, a typed id) it is accepted only while the item
        has fewer than the campaign's k raters, so no item ever gets more.
        """
        who, values = self.validate_rating(annotator, item_id, initial, final, emotion, confidence, note, turn_intensities)
        editor = self.annotator(changed_by) if changed_by else who
        if editor is None:
            raise StoreError(f"unknown annotator {changed_by!r}")
        if seconds_on_item is not None and not (isinstance(seconds_on_item, (int, float)) and 0 <= seconds_on_item < 1e9):
            raise StoreError(f"seconds on item must be a non-negative number, got {seconds_on_item!r}")
        stamp = now()
        campaign_id = self.default_campaign_id() if campaign_id is None else campaign_id
        meta = {"campaign_id": campaign_id, "assisted": None if assisted is None else int(bool(assisted)), "seconds_on_item": seconds_on_item}
        with self.write() as db:
            cur = db.execute(f"SELECT id, removed, {', '.join(RATING_FIELDS)} FROM ratings WHERE annotator_id = ? AND item_id = ? "
                             "AND campaign_id = ?", [who.id, item_id, campaign_id]).fetchone()
            if cur is None or cur[1]:
                self._complete_assignment(db, campaign_id, item_id, who.id)
            if cur is None:
                rid = db["ratings"].insert({"annotator_id": who.id, "item_id": item_id, **values, **meta, "created": stamp, "updated": stamp}).last_pk
                db["rating_history"].insert({"rating_id": rid, "changed_by": editor.id, "changed_at": stamp, "old": None, "new": json.dumps(values)})
                status = "created"
            else:
                rid, removed = cur[0], cur[1]
                old = None if removed else dict(zip(RATING_FIELDS, cur[2:]))
                if old == values:
                    status = "unchanged"
                else:
                    # an edit keeps where and how the rating was first made; a rating made again after an undo is new
                    fresh = {**values, "updated": stamp, "removed": 0, **(meta if removed else {})}
                    db["ratings"].update(rid, fresh)
                    db["rating_history"].insert({"rating_id": rid, "changed_by": editor.id, "changed_at": stamp,
                                                 "old": json.dumps(old) if old else None, "new": json.dumps(values)})
                    status = "created" if removed else "updated"
        return {"rating_id": int(rid), "status": status, "annotator": who.name, "item_id": item_id, **values}

    def undo_last(self, annotator: str) -> dict[str, Any] | None:
        """Take back the annotator's last change: an edit gets its previous values back, a first rating is withdrawn.

        The undo is itself a line of the rating's history; a withdrawn rating's item returns to the
        annotator's queue. Returns {"item_id", "restored": values or None}, or None when there is nothing to undo.
        """
        who = self.annotator(annotator)
        if who is None:
            raise StoreError(f"unknown annotator {annotator!r}")
        stamp = now()
        with self.write() as db:
            last = db.execute("SELECT h.rating_id, h.old, h.new, r.item_id, r.campaign_id FROM rating_history h JOIN ratings r ON r.id = h.rating_id "
                              "WHERE h.changed_by = ? AND r.annotator_id = ? ORDER BY h.id DESC LIMIT 1", [who.id, who.id]).fetchone()
            if last is None or last[2] == UNDONE:
                return None
            rid, old, new, item_id, campaign_id = last
            if old is None:
                db.execute("UPDATE ratings SET removed = 1, updated = ? WHERE id = ?", [stamp, rid])
                if campaign_id is not None:
                    done = db.execute("UPDATE assignments SET done = 0, expires = 0 WHERE campaign_id = ? AND item_id = ? AND annotator_id = ? "
                                      "AND done = 1", [campaign_id, item_id, who.id]).rowcount
                    if done:
                        db.execute("UPDATE campaign_items SET rated = rated - 1 WHERE campaign_id = ? AND item_id = ?", [campaign_id, item_id])
            else:
                db["ratings"].update(rid, {**json.loads(old), "updated": stamp})
            db["rating_history"].insert({"rating_id": rid, "changed_by": who.id, "changed_at": stamp, "old": new, "new": UNDONE})
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
            "c.name AS campaign, r.assisted, r.seconds_on_item, r.created, r.updated "
            "FROM ratings r JOIN annotators a ON a.id = r.annotator_id LEFT JOIN campaigns c ON c.id = r.campaign_id"
            " WHERE " + " AND ".join(where) + " ORDER BY r.id"
        )
        rows = list(self.db.query(sql, params))
        for r in rows:
            r["turn_intensities"] = json.loads(r["turn_intensities"]) if r["turn_intensities"] else None
            r["assisted"] = None if r["assisted"] is None else bool(r["assisted"])
        return rows

    def rating_history(self, rating_id: int) -> list[dict[str, Any]]:
        sql = ("SELECT h.id, a.name AS changed_by, h.changed_at, h.old, h.new FROM rating_history h "
               "JOIN annotators a ON a.id = h.changed_by WHERE h.rating_id = ? ORDER BY h.id")
        return [{**r, "old": json.loads(r["old"]) if r["old"] else None, "new": json.loads(r["new"])} for r in self.db.query(sql, [rating_id])]

    def count_ratings(self, annotator: str | None = None) -> int:
        if annotator is None:
            return self.db.execute("SELECT count(*) FROM ratings WHERE removed = 0").fetchone()[0]
        return self.db.execute("SELECT count(*) FROM ratings r JOIN annotators a ON a.id = r.annotator_id WHERE a.name = ? AND r.removed = 0",
                               [annotator]).fetchone()[0]

    def rated_item_ids(self, annotator: str, campaign_id: int | None = None) -> set[str]:
        sql = ("SELECT r.item_id FROM ratings r JOIN annotators a ON a.id = r.annotator_id WHERE a.name = ? AND r.removed = 0"
               + (" AND r.campaign_id = ?" if campaign_id is not None else ""))
        return {r[0] for r in self.db.execute(sql, [annotator, *([campaign_id] if campaign_id is not None else [])]).fetchall()}

    def count_rated_items(self) -> int:
        return self.db.execute("SELECT count(DISTINCT item_id) FROM ratings WHERE removed = 0").fetchone()[0]

    def rating_table(self, campaign_id: int | None = None) -> list[tuple[str, str, int, int, str | None]]:
        """(annotator, item, initial, final, emotion) for every rating (of a campaign): the input of the agreement statistics."""
        sql = ("SELECT a.name, r.item_id, r.initial, r.final, r.emotion FROM ratings r JOIN annotators a ON a.id = r.annotator_id "
               "WHERE r.removed = 0" + (" AND r.campaign_id = ?" if campaign_id is not None else ""))
        return self.db.execute(sql, [campaign_id] if campaign_id is not None else []).fetchall()

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
