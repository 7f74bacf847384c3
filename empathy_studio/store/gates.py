"""Gates on raters, in SQL: a campaign's qualification and attention settings, practice ratings (kept apart from the
study's), each annotator's standing (paused or not), and exclusions from releases (`Gates` mixin).

`entry_refused` is what a claim asks before it serves an item: an annotator who has not passed a campaign's
qualification, or whom its attention gate paused, is refused with the reason, whoever calls."""

from __future__ import annotations

import json
from typing import Any, Mapping

from ..errors import PermissionDenied, StoreError
from ..study.qualification import Qualification, standing
from .migrations import now
from .review import log


class Gates:
    # -- settings -------------------------------------------------------------------------

    def set_gates(
        self, campaign_id: int, qualification: Mapping[str, Any] | None, attention: Mapping[str, Any] | None, by: str | None
    ) -> None:
        with self.write() as db:
            db.execute(
                "UPDATE campaigns SET qualification = ?, attention = ? WHERE id = ?",
                [json.dumps(qualification) if qualification else None, json.dumps(attention) if attention else None, campaign_id],
            )
            log(db, by, "rater gates set", campaign_id, detail={"qualification": qualification, "attention": attention})
        self.campaigns_changed()

    def gates(self, campaign_id: int) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        camp = self.campaign(campaign_id)
        return (
            json.loads(camp["qualification"]) if camp.get("qualification") else None,
            json.loads(camp["attention"]) if camp.get("attention") else None,
        )

    # -- practice ---------------------------------------------------------------------------

    def practice_rows(self, campaign_id: int, annotator_id: int) -> list[dict[str, Any]]:
        rows = self.db.query(
            "SELECT item_id, attempt, vals, reference, agrees, created FROM practice_ratings WHERE campaign_id = ? "
            "AND annotator_id = ? ORDER BY id",
            [campaign_id, annotator_id],
        )
        return [{**r, "vals": json.loads(r["vals"]), "reference": json.loads(r["reference"]), "agrees": bool(r["agrees"])} for r in rows]

    def add_practice(
        self,
        campaign_id: int,
        annotator_id: int,
        item_id: str,
        attempt: int,
        values: Mapping[str, Any],
        reference: Mapping[str, Any],
        agrees: bool,
    ) -> None:
        with self.write() as db:
            if db.execute(
                "SELECT 1 FROM practice_ratings WHERE campaign_id = ? AND annotator_id = ? AND item_id = ? AND attempt = ?",
                [campaign_id, annotator_id, item_id, attempt],
            ).fetchone():
                raise StoreError(f"practice item {item_id!r} is answered already in this attempt")
            db["practice_ratings"].insert(
                {
                    "campaign_id": campaign_id,
                    "annotator_id": annotator_id,
                    "item_id": item_id,
                    "attempt": attempt,
                    "vals": json.dumps(dict(values)),
                    "reference": json.dumps(dict(reference)),
                    "agrees": int(bool(agrees)),
                    "created": now(),
                }
            )

    # -- standing -----------------------------------------------------------------------------

    def standing(self, campaign_id: int, annotator_id: int) -> dict[str, Any]:
        row = self.db.execute(
            "SELECT paused, warned, misses_forgiven FROM rater_standing WHERE campaign_id = ? AND annotator_id = ?",
            [campaign_id, annotator_id],
        ).fetchone()
        return (
            {"paused": bool(row[0]), "warned": int(row[1]), "forgiven": int(row[2])}
            if row
            else {"paused": False, "warned": 0, "forgiven": 0}
        )

    def set_standing(
        self, campaign_id: int, annotator_id: int, by: str | None, action: str, detail: Mapping[str, Any], **values: Any
    ) -> None:
        """Update an annotator's standing and log why, in one transaction (`action`: annotator warned, paused, reinstated)."""
        cur = self.standing(campaign_id, annotator_id)
        new = {
            "paused": int(values.get("paused", cur["paused"])),
            "warned": values.get("warned", cur["warned"]),
            "misses_forgiven": values.get("forgiven", cur["forgiven"]),
        }
        with self.write() as db:
            db["rater_standing"].upsert(
                {"campaign_id": campaign_id, "annotator_id": annotator_id, **new, "updated": now()}, pk=("campaign_id", "annotator_id")
            )
            name = db.execute("SELECT name FROM annotators WHERE id = ?", [annotator_id]).fetchone()
            log(db, by, action, campaign_id, detail={"annotator": name[0] if name else annotator_id, **detail})

    def paused(self, campaign_id: int) -> list[str]:
        return [
            r[0]
            for r in self.db.execute(
                "SELECT a.name FROM rater_standing s JOIN annotators a ON a.id = s.annotator_id "
                "WHERE s.campaign_id = ? AND s.paused = 1 ORDER BY a.name",
                [campaign_id],
            ).fetchall()
        ]

    def entry_refused(self, campaign_id: int, annotator_id: int) -> str | None:
        """Why an annotator may not claim an item of a campaign now, or None."""
        qualification, _ = self.gates(campaign_id)
        if qualification:
            state = standing(Qualification.from_dict(qualification), self.practice_rows(campaign_id, annotator_id))
            if not state["passed"]:
                return (
                    state["blocked"]
                    or "the qualification of this campaign comes first: answer its practice items (in Annotate, above the form)"
                )
        if self.standing(campaign_id, annotator_id)["paused"]:
            return "paused after missed attention checks; an admin can look at your ratings and reinstate you"
        return None

    def check_entry(self, campaign_id: int, annotator_id: int) -> None:
        reason = self.entry_refused(campaign_id, annotator_id)
        if reason:
            raise PermissionDenied(reason)

    # -- gold checks and exclusions -------------------------------------------------------------

    def gold_checks(self, campaign_id: int, annotator_id: int) -> list[dict[str, Any]]:
        """The annotator's ratings of the campaign's hidden gold checks, oldest first, with each item's gold."""
        table = self._table(campaign_id)
        cols = "r.initial, r.final" if table == "ratings" else "r.emotional_reactions, r.interpretations, r.explorations"
        return list(
            self.db.query(
                f"SELECT r.item_id, {cols}, i.gold_initial, i.gold_final, i.gold_levels FROM {table} r JOIN campaign_items ci "
                "ON ci.campaign_id = r.campaign_id AND ci.item_id = r.item_id AND ci.kind = 'gold' JOIN items i ON i.id = r.item_id "
                "WHERE r.campaign_id = ? AND r.annotator_id = ? AND r.removed = 0 ORDER BY r.created",
                [campaign_id, annotator_id],
            )
        )

    def exclude_rater(self, campaign_id: int, annotator_id: int, reason: str, by: str | None) -> None:
        if not (reason or "").strip():
            raise StoreError("say why the rater's ratings are left out")
        with self.write() as db:
            db["rater_exclusions"].insert(
                {"campaign_id": campaign_id, "annotator_id": annotator_id, "by": by, "reason": reason.strip(), "created": now()}
            )
            name = db.execute("SELECT name FROM annotators WHERE id = ?", [annotator_id]).fetchone()
            log(db, by, "rater excluded", campaign_id, detail={"annotator": name[0] if name else annotator_id, "reason": reason.strip()})

    def excluded(self, campaign_id: int) -> list[str]:
        return [
            r[0]
            for r in self.db.execute(
                "SELECT DISTINCT a.name FROM rater_exclusions x JOIN annotators a ON a.id = x.annotator_id "
                "WHERE x.campaign_id = ? ORDER BY a.name",
                [campaign_id],
            ).fetchall()
        ]
