"""Assignments: the `Assignments` mixin of `Store`. An annotator's next item, its claim, and progress.

An annotator's next item is claimed in one `BEGIN IMMEDIATE` transaction, least
rated items first, so two annotators asking at once never push an item past k; a
claim expires (default 15 minutes), so an abandoned item returns to the pool.
Calibration items go to everyone first; gold-check items (items whose gold labels
are known) are slipped in at the campaign's rate. Progress reads the counts kept
with each item, never a count per item.
"""

from __future__ import annotations

import json
import time
from typing import Any, Sequence

from ..errors import NotFound, StoreError
from .campaigns import CLAIM_TTL_S, LIVE, MAX_CLAIM_TRIES
from .ratings import KINDS


class Assignments:
    def claim(
        self, campaign_id: int, annotator_id: int, skip: Sequence[str] = (), ttl_s: float = CLAIM_TTL_S, clock: float | None = None
    ) -> str | None:
        """The annotator's next item: a claim of theirs still open, else calibration, a gold check when due, else an item below k
        in the order of the campaign's overlap policy (`OVERLAPS`).

        With spread and subset, the choice is read without the write lock (WAL readers never wait) and the claim is one
        IMMEDIATE transaction that checks the chosen item again and records it; an item taken meanwhile means choosing
        again. With fill, annotators asking at once would choose the same few items in progress, so the choice and the
        claim share one transaction and they queue for the lock instead.
        """
        t = time.time() if clock is None else clock
        skip = list(dict.fromkeys(skip))
        camp = self.db.execute(
            "SELECT k, all_items, gold_rate, active, kind, overlap FROM campaigns WHERE id = ?", [campaign_id]
        ).fetchone()
        if camp is None:
            raise NotFound(f"unknown campaign {campaign_id!r}")
        k, all_items, gold_rate, active, kind, overlap = camp
        self.check_entry(campaign_id, annotator_id)  # qualified, and not paused by the attention gate
        table = KINDS[kind].table
        if all_items:
            raise StoreError("the default campaign has no assignments; its queue is the free one")
        if not active:
            raise StoreError("this campaign is closed")
        if overlap == "fill":
            # fill sends annotators who ask at once to the same few items in progress: chosen and claimed in one
            # transaction, they queue for the write lock (about a millisecond each) instead of colliding and retrying
            with self.write():
                pick = self._choose(campaign_id, annotator_id, k, gold_rate, skip, t, table, overlap)
                if pick is None or pick[2] or self._take(campaign_id, annotator_id, pick[0], k, t, ttl_s, table):
                    return pick[0] if pick else None
            # the choice saw, under the same lock, the state the claim checks: a refusal here is a bug, said as one
            raise StoreError(f"could not claim {pick[0]!r} that was just chosen; ask for the next item again")
        passed: list[str] = []  # chosen, but full with other annotators' open claims: choose again without them
        for _ in range(MAX_CLAIM_TRIES):
            pick = self._choose(campaign_id, annotator_id, k, gold_rate, skip + passed, t, table, overlap)
            if pick is None:
                return None
            item, kind, mine = pick
            if mine:
                return item
            with self.write():
                if self._take(campaign_id, annotator_id, item, k, t, ttl_s, table):
                    return item
            passed.append(item)
        raise StoreError("the queue is very busy; ask for the next item again")

    def _take(self, campaign_id: int, annotator_id: int, item: str, k: int, t: float, ttl_s: float, table: str) -> bool:
        """Inside a write transaction: claim the item if the annotator has not rated it and it still has a place (k binds regular
        items; calibration, gold checks and an overlap subset are everyone's)."""
        db = self.db
        rated = db.execute(
            f"SELECT 1 FROM {table} WHERE annotator_id = ? AND item_id = ? AND campaign_id = ? AND removed = 0",
            [annotator_id, item, campaign_id],
        ).fetchone()
        taken = db.execute(
            f"SELECT count(*) FROM assignments a JOIN campaign_items ci ON ci.campaign_id = a.campaign_id AND "
            f"ci.item_id = a.item_id WHERE a.campaign_id = ? AND a.item_id = ? AND a.annotator_id != ? AND ci.kind = 'item' "
            f"AND ci.everyone = 0 AND {LIVE}",
            [campaign_id, item, annotator_id, t],
        ).fetchone()[0]
        if rated or taken >= k:
            return False
        db.execute(
            "INSERT OR REPLACE INTO assignments (campaign_id, item_id, annotator_id, claimed, expires, done) VALUES (?, ?, ?, ?, ?, 0)",
            [campaign_id, item, annotator_id, t, t + ttl_s],
        )
        return True

    def _choose(
        self, campaign_id: int, annotator_id: int, k: int, gold_rate: float, skip: list[str], t: float, table: str, overlap: str = "spread"
    ) -> tuple[str, str, bool] | None:
        """(item, kind, already mine) to claim next, read without the write lock (with it, for the fill policy).

        A claim of one's own still open comes first, then calibration items, then a gold check when one is due,
        then an item of the campaign's overlap policy (`OVERLAPS`). Every look-up is an index walk that stops at
        the first fit; the claim transaction checks the chosen item again."""
        db = self.db
        not_skipped = f"AND ci.item_id NOT IN ({','.join('?' * len(skip))})" if skip else ""
        # NOT EXISTS reads the ratings' (annotator, item, campaign) index: one probe per candidate
        mine_open = (
            f"NOT EXISTS (SELECT 1 FROM {table} r WHERE r.annotator_id = ? AND r.item_id = ci.item_id AND r.campaign_id = ci.campaign_id "
            "AND r.removed = 0)"
        )
        row = db.execute(
            f"SELECT ci.item_id, ci.kind FROM assignments a JOIN campaign_items ci ON ci.campaign_id = a.campaign_id "
            f"AND ci.item_id = a.item_id WHERE a.campaign_id = ? AND a.annotator_id = ? AND a.done = 0 AND a.expires > ? {not_skipped} "
            f"ORDER BY a.claimed LIMIT 1",
            [campaign_id, annotator_id, t, *skip],
        ).fetchone()
        if row:
            return row[0], row[1], True
        for kind in ("calibration", "gold"):
            if kind == "gold":
                if not gold_rate:
                    continue
                done = dict(
                    db.execute(
                        "SELECT ci.kind, count(*) FROM assignments a JOIN campaign_items ci ON ci.campaign_id = a.campaign_id "
                        "AND ci.item_id = a.item_id WHERE a.campaign_id = ? AND a.annotator_id = ? AND a.done = 1 "
                        "GROUP BY ci.kind",
                        [campaign_id, annotator_id],
                    ).fetchall()
                )
                if done.get("item", 0) * gold_rate < done.get("gold", 0) + 1:
                    continue
            r = db.execute(
                f"SELECT ci.item_id FROM campaign_items ci WHERE ci.campaign_id = ? AND ci.kind = ? AND {mine_open} {not_skipped} "
                f"ORDER BY ci.position LIMIT 1",
                [campaign_id, kind, annotator_id, *skip],
            ).fetchone()
            if r:
                return r[0], kind, False
        mine = [annotator_id, *skip]
        if overlap == "subset":  # the subset everyone rates, in order, before the rest
            r = db.execute(
                f"SELECT ci.item_id FROM campaign_items ci WHERE ci.campaign_id = ? AND ci.kind = 'item' AND ci.everyone = 1 "
                f"AND {mine_open} {not_skipped} ORDER BY ci.position LIMIT 1",
                [campaign_id, *mine],
            ).fetchone()
            if r:
                return r[0], "item", False
        # Within a level each annotator starts at a place of their own and walks on in item order, wrapping around:
        # annotators asking at once choose different items instead of racing for one, no order effect is shared by
        # everyone, and each look-up is an index walk that stops at the first fit. (A pilot's one half-rated item is
        # still found by everyone: it is the only fit.)
        n = db.execute("SELECT max(position) + 1 FROM campaign_items WHERE campaign_id = ?", [campaign_id]).fetchone()[0] or 1
        start = (annotator_id * 2654435761) % n

        # an item whose places are all held (its ratings and others' open claims) is not chosen: one primary-key probe
        room = (
            "ci.rated + (SELECT count(*) FROM assignments a WHERE a.campaign_id = ci.campaign_id AND a.item_id = ci.item_id "
            "AND a.done = 0 AND a.expires > ? AND a.annotator_id != ?) < ?"
        )

        def walk(sql: str, params: list[Any]) -> str | None:
            for span in ("ci.position >= ?", "ci.position < ?"):
                r = db.execute(
                    f"{sql} AND {span} AND {room} AND {mine_open} {not_skipped} ORDER BY ci.position LIMIT 1",
                    [*params, start, t, annotator_id, k, *mine],
                ).fetchone()
                if r:
                    return r[0]
            return None

        regular = (
            "SELECT ci.item_id FROM campaign_items ci WHERE ci.campaign_id = ? AND ci.kind = 'item' AND ci.everyone = 0 AND ci.rated = ?"
        )
        if overlap == "fill":
            # items already rated but below k, the most rated first; then items others are rating now; then new ones
            for level in range(k - 1, 0, -1):
                if (item := walk(regular, [campaign_id, level])) is not None:
                    return item, "item", False
            if k > 1:
                # the same walk's first fit, read from the open claims (a few per active annotator) rather than by probing
                # every unrated item for one: the items at or after the start first, then the rest, each in item order
                r = db.execute(
                    "SELECT ci.item_id FROM assignments c JOIN campaign_items ci ON ci.campaign_id = c.campaign_id "
                    "AND ci.item_id = c.item_id WHERE c.campaign_id = ? AND c.done = 0 AND c.expires > ? AND c.annotator_id != ? "
                    f"AND ci.kind = 'item' AND ci.everyone = 0 AND ci.rated = 0 AND {room} AND {mine_open} {not_skipped} "
                    "ORDER BY ci.position < ?, ci.position LIMIT 1",
                    [campaign_id, t, annotator_id, t, annotator_id, k, *mine, start],
                ).fetchone()
                if r:
                    return r[0], "item", False
        # the least-rated items first (the count kept with each item; open claims are checked when claiming)
        for level in range(k):
            if (item := walk(regular, [campaign_id, level])) is not None:
                return item, "item", False
        return None

    def release(self, campaign_id: int, annotator_id: int, item_id: str) -> None:
        """Give a claimed item back to the pool (a skip)."""
        with self.write() as db:
            db.execute(
                "DELETE FROM assignments WHERE campaign_id = ? AND item_id = ? AND annotator_id = ? AND done = 0",
                [campaign_id, item_id, annotator_id],
            )

    def _complete_assignment(self, db, campaign_id: int, item_id: str, annotator_id: int) -> None:
        """Inside a rating's transaction: mark the assignment done, or refuse a rating that would push the item past k.

        Every first rating (and every rating made again after an undo) counts the item's other live
        raters, whatever the annotator's own assignment row says: a live claim, an expired one, one
        reset by an undo, or none. A live claim of one's own kept the others below k when it was made,
        so it passes; an expired or undone one may have let someone else in, and then the save is refused.
        """
        camp = db.execute("SELECT k, all_items, name FROM campaigns WHERE id = ?", [campaign_id]).fetchone()
        if camp is None:
            raise NotFound(f"unknown campaign {campaign_id!r}")
        k, all_items, name = camp
        if not all_items:
            row = db.execute(
                "SELECT kind, everyone FROM campaign_items WHERE campaign_id = ? AND item_id = ?", [campaign_id, item_id]
            ).fetchone()
            if row is None:
                raise StoreError(f"item {item_id!r} is not in campaign {name!r}")
            if row[0] == "item" and not row[1]:
                others = db.execute(
                    f"SELECT count(*) FROM assignments a WHERE a.campaign_id = ? AND a.item_id = ? AND a.annotator_id != ? AND {LIVE}",
                    [campaign_id, item_id, annotator_id, time.time()],
                ).fetchone()[0]
                if others >= k:
                    raise StoreError(f"item {item_id!r} already has its {k} raters in campaign {name!r}; ask for the next item")
        was = db.execute(
            "SELECT done FROM assignments WHERE campaign_id = ? AND item_id = ? AND annotator_id = ?", [campaign_id, item_id, annotator_id]
        ).fetchone()
        db.execute(
            "INSERT INTO assignments (campaign_id, item_id, annotator_id, claimed, expires, done) VALUES (?, ?, ?, ?, 0, 1) "
            "ON CONFLICT (campaign_id, item_id, annotator_id) DO UPDATE SET done = 1",
            [campaign_id, item_id, annotator_id, time.time()],
        )
        if not (was and was[0]):
            db.execute("UPDATE campaign_items SET rated = rated + 1 WHERE campaign_id = ? AND item_id = ?", [campaign_id, item_id])

    def claimed_at(self, campaign_id: int, annotator_id: int, item_id: str) -> float | None:
        """When the item was last put on the annotator's screen (`mark_shown`), else when it was claimed."""
        row = self.db.execute(
            "SELECT coalesce(shown, claimed) FROM assignments WHERE campaign_id = ? AND item_id = ? AND annotator_id = ?",
            [campaign_id, item_id, annotator_id],
        ).fetchone()
        return row[0] if row else None

    def mark_shown(
        self, campaign_id: int, annotator_id: int, item_id: str, suggestion: dict[str, Any] | None = None, clock: float | None = None
    ) -> None:
        """The item is on the annotator's screen now, with the model's suggestion if one is shown (its open claim only; a rated
        item keeps its seconds and what it was rated with)."""
        with self.write() as db:
            db.execute(
                "UPDATE assignments SET shown = ?, suggestion = ? WHERE campaign_id = ? AND item_id = ? AND annotator_id = ? AND done = 0",
                [
                    time.time() if clock is None else clock,
                    json.dumps(suggestion) if suggestion else None,
                    campaign_id,
                    item_id,
                    annotator_id,
                ],
            )

    # -- progress ----------------------------------------------------------------

    def campaign_progress(self, campaign_id: int, per_annotator: bool = True) -> dict[str, Any]:
        """Items with their k ratings, of all items; ratings in all, and (`per_annotator`) per annotator.

        A campaign with k reads the count kept with each item (`rated`), so the cost does not grow as the
        campaign fills; the breakdown per annotator is a count over the ratings, for the admins' overview.
        """
        camp = self.campaign(campaign_id)
        table = self._table(campaign_id)
        per = (
            dict(
                self.db.execute(
                    f"SELECT an.name, count(*) FROM {table} r JOIN annotators an ON an.id = r.annotator_id "
                    "WHERE r.campaign_id = ? AND r.removed = 0 GROUP BY an.name ORDER BY an.name",
                    [campaign_id],
                ).fetchall()
            )
            if per_annotator or camp["all_items"]
            else {}
        )
        if camp["all_items"]:
            n = self.count_items()
            complete = self.db.execute(
                f"SELECT count(DISTINCT item_id) FROM {table} WHERE campaign_id = ? AND removed = 0", [campaign_id]
            ).fetchone()[0]
            ratings = sum(per.values())
        else:
            n, complete, ratings = self.db.execute(
                "SELECT sum(kind = 'item'), sum(kind = 'item' AND rated >= ?), sum(rated) FROM campaign_items WHERE campaign_id = ?",
                [camp["k"], campaign_id],
            ).fetchone()
        return {"campaign": camp["name"], "items": n or 0, "complete": complete or 0, "ratings": ratings or 0, "per_annotator": per}

    def annotator_progress(self, campaign_id: int, annotator_id: int, clock: float | None = None) -> dict[str, int]:
        """(done, done + what the annotator can still be given) in a campaign.

        What is left: the items below k that are not the annotator's, less those that other annotators'
        open claims fill, plus the calibration and gold items not yet rated. Each part is an index range
        over the kept counts, the annotator's own ratings or the open claims, never a count per item.
        """
        t = time.time() if clock is None else clock
        camp = self.campaign(campaign_id)
        table = self._table(campaign_id)
        done = self.db.execute(
            f"SELECT count(*) FROM {table} WHERE campaign_id = ? AND annotator_id = ? AND removed = 0", [campaign_id, annotator_id]
        ).fetchone()[0]
        if camp["all_items"]:
            return {"done": done, "assigned": self.count_items()}
        mine = (
            f"EXISTS (SELECT 1 FROM {table} r WHERE r.annotator_id = :a AND r.item_id = ci.item_id AND r.campaign_id = :c "
            "AND r.removed = 0)"
        )
        left = self.db.execute(
            "SELECT (SELECT count(*) FROM campaign_items WHERE campaign_id = :c AND kind = 'item' AND (rated < :k OR everyone = 1))"
            f" - (SELECT count(*) FROM {table} r JOIN campaign_items ci ON ci.campaign_id = r.campaign_id AND ci.item_id = r.item_id "
            "     WHERE r.campaign_id = :c AND r.annotator_id = :a AND r.removed = 0 AND ci.kind = 'item' AND (ci.rated < :k OR "
            "ci.everyone = 1))"
            " - (SELECT count(*) FROM (SELECT item_id, count(*) AS n FROM assignments WHERE campaign_id = :c AND done = 0 AND expires > :t "
            "     AND annotator_id != :a GROUP BY item_id) o JOIN campaign_items ci ON ci.campaign_id = :c AND ci.item_id = o.item_id "
            f"    WHERE ci.kind = 'item' AND ci.everyone = 0 AND ci.rated < :k AND ci.rated + o.n >= :k AND NOT {mine})"
            f" + (SELECT count(*) FROM campaign_items ci WHERE ci.campaign_id = :c AND ci.kind != 'item' AND NOT {mine})",
            {"c": campaign_id, "a": annotator_id, "k": camp["k"], "t": t},
        ).fetchone()[0]
        return {"done": done, "assigned": done + left}
