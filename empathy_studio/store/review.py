"""The end of a study, in SQL: guideline versions, adjudications, releases and the append-only audit log (`Review` mixin).

Adjudications, releases and the audit log are append-only in the database itself (triggers refuse UPDATE and
DELETE, see migration m012): nothing above the store can edit or remove a row of them. Every change to a rating is
logged by a trigger on its history, so no path that saves, edits or undoes a rating can skip the log.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping

from ..errors import NotFound, StoreError
from .migrations import ADJUDICATION_REASONS, now

MAX_GUIDELINES = 20_000


def log(
    db, actor: str | None, action: str, campaign_id: int | None = None, item_id: str | None = None, detail: Mapping[str, Any] | None = None
) -> None:
    """One line of the audit log, written inside the caller's own transaction (so it lands with what it records)."""
    db.execute(
        "INSERT INTO audit_log (at, actor, action, campaign_id, item_id, detail) VALUES (?, ?, ?, ?, ?, ?)",
        [now(), actor, action, campaign_id, item_id, json.dumps(detail or {}, ensure_ascii=False)],
    )


class Review:
    # -- guideline versions ---------------------------------------------------------

    def set_guidelines(self, campaign_id: int, text: str, by: str | None) -> int:
        """A new version of a campaign's guidelines (the version number), unless the text is the current one."""
        if not isinstance(text, str) or len(text) > MAX_GUIDELINES:
            raise StoreError(f"guidelines are text of at most {MAX_GUIDELINES:,} characters")
        with self.write() as db:
            row = db.execute("SELECT guidelines, guideline_version FROM campaigns WHERE id = ?", [campaign_id]).fetchone()
            if row is None:
                raise NotFound(f"unknown campaign {campaign_id!r}")
            if row[0] == text:
                return int(row[1])
            version = int(row[1]) + 1
            db.execute(
                "INSERT INTO guideline_versions (campaign_id, version, text, created, created_by) VALUES (?, ?, ?, ?, ?)",
                [campaign_id, version, text, now(), by],
            )
            db.execute("UPDATE campaigns SET guidelines = ?, guideline_version = ? WHERE id = ?", [text, version, campaign_id])
            log(db, by, "guidelines edited", campaign_id, detail={"version": version, "previous": row[1]})
        self.campaigns_changed()
        return version

    def guideline_versions(self, campaign_id: int) -> list[dict[str, Any]]:
        return list(
            self.db.query(
                "SELECT version, text, created, created_by FROM guideline_versions WHERE campaign_id = ? ORDER BY version", [campaign_id]
            )
        )

    # -- review settings of a campaign -----------------------------------------------

    def set_review_options(
        self, campaign_id: int, thresholds: Mapping[str, Any] | None, reviewers: int, show_rater_names: bool, by: str | None
    ) -> None:
        if reviewers not in (1, 2):
            raise StoreError(f"reviewers per adjudicated item must be 1 or 2, got {reviewers!r}")
        with self.write() as db:
            if (
                db.execute(
                    "UPDATE campaigns SET thresholds = ?, reviewers = ?, show_rater_names = ? WHERE id = ?",
                    [json.dumps(dict(thresholds)) if thresholds else None, reviewers, int(bool(show_rater_names)), campaign_id],
                ).rowcount
                == 0
            ):
                raise NotFound(f"unknown campaign {campaign_id!r}")
            log(
                db,
                by,
                "review options set",
                campaign_id,
                detail={"thresholds": dict(thresholds or {}), "reviewers": reviewers, "show_rater_names": bool(show_rater_names)},
            )
        self.campaigns_changed()

    # -- adjudications ----------------------------------------------------------------

    def adjudicate(
        self,
        campaign_id: int,
        item_id: str,
        reviewer_id: int,
        values: Mapping[str, Any],
        reason: str,
        note: str | None,
        replaced: list[dict[str, Any]],
        by: str,
    ) -> int:
        if reason not in ADJUDICATION_REASONS:
            raise StoreError(f"reason must be one of {', '.join(ADJUDICATION_REASONS)}, got {reason!r}")
        if reason == "other" and not (note or "").strip():
            raise StoreError("say why in the note when the reason is 'other'")
        if note is not None and len(note) > 5000:
            raise StoreError("the note is longer than 5,000 characters")
        with self.write() as db:
            version = db.execute("SELECT guideline_version FROM campaigns WHERE id = ?", [campaign_id]).fetchone()
            aid = (
                db["adjudications"]
                .insert(
                    {
                        "campaign_id": campaign_id,
                        "item_id": item_id,
                        "reviewer_id": reviewer_id,
                        "vals": json.dumps(dict(values)),
                        "reason": reason,
                        "note": note or None,
                        "replaced": json.dumps(replaced),
                        "guideline_version": version[0] if version else None,
                        "created": now(),
                    }
                )
                .last_pk
            )
            log(db, by, "item adjudicated", campaign_id, item_id, {"values": dict(values), "reason": reason, "replaced": replaced})
        return int(aid)

    def adjudications(self, campaign_id: int, item_id: str | None = None) -> list[dict[str, Any]]:
        sql = (
            "SELECT j.id, j.item_id, a.name AS reviewer, j.reviewer_id, j.vals, j.reason, j.note, j.replaced, j.guideline_version, "
            "j.created "
            "FROM adjudications j JOIN annotators a ON a.id = j.reviewer_id WHERE j.campaign_id = ?"
            + (" AND j.item_id = ?" if item_id is not None else "")
            + " ORDER BY j.id"
        )
        rows = self.db.query(sql, [campaign_id, *([item_id] if item_id is not None else [])])
        return [{**r, "vals": json.loads(r["vals"]), "replaced": json.loads(r["replaced"])} for r in rows]

    # -- releases ----------------------------------------------------------------------

    def create_release(self, release: Mapping[str, Any], items: Iterable[Mapping[str, Any]], by: str | None) -> str:
        """Write a release and its items in one transaction; an existing id is refused (a release never changes)."""
        with self.write() as db:
            if db.execute("SELECT 1 FROM releases WHERE id = ?", [release["id"]]).fetchone():
                raise StoreError(f"a release {release['id']!r} exists already; a release is never changed: make a new one")
            db["releases"].insert(
                {
                    **release,
                    "campaigns": json.dumps(release["campaigns"]),
                    "guideline_versions": json.dumps(release["guideline_versions"]),
                    "summary": json.dumps(release["summary"]),
                    "created_by": by,
                }
            )
            db["release_items"].insert_all(
                {
                    "release_id": release["id"],
                    "campaign_id": it["campaign_id"],
                    "item_id": it["item_id"],
                    "labels": json.dumps(it["labels"], sort_keys=True),
                }
                for it in items
            )
            log(
                db,
                by,
                "release created",
                detail={
                    "release": release["id"],
                    "hash": release["content_hash"],
                    "campaigns": release["campaigns"],
                    "method": release["method"],
                },
            )
        return release["id"]

    def releases(self) -> list[dict[str, Any]]:
        return [_release(r) for r in self.db.query("SELECT * FROM releases ORDER BY created, id")]

    def release_row(self, release_id: str) -> dict[str, Any]:
        rows = list(self.db.query("SELECT * FROM releases WHERE id = ?", [release_id]))
        if not rows:
            raise NotFound(f"unknown release {release_id!r}; see `empathy-studio releases list`")
        return _release(rows[0])

    def release_items(self, release_id: str) -> list[dict[str, Any]]:
        return [
            {"campaign_id": r["campaign_id"], "item_id": r["item_id"], "labels": json.loads(r["labels"])}
            for r in self.db.query("SELECT * FROM release_items WHERE release_id = ? ORDER BY campaign_id, item_id", [release_id])
        ]

    # -- the audit log -----------------------------------------------------------------

    def log(
        self,
        actor: str | None,
        action: str,
        campaign_id: int | None = None,
        item_id: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        with self.write() as db:
            log(db, actor, action, campaign_id, item_id, detail)

    def audit_log(self, limit: int | None = None, action: str | None = None) -> list[dict[str, Any]]:
        sql = (
            "SELECT l.id, l.at, l.actor, l.action, c.name AS campaign, l.item_id, l.detail FROM audit_log l "
            "LEFT JOIN campaigns c ON c.id = l.campaign_id"
            + (" WHERE l.action = ?" if action else "")
            + " ORDER BY l.id DESC"
            + (" LIMIT ?" if limit else "")
        )
        params = [*([action] if action else []), *([limit] if limit else [])]
        return list(self.db.query(sql, params))


def _release(row: dict[str, Any]) -> dict[str, Any]:
    return {
        **row,
        "campaigns": json.loads(row["campaigns"]),
        "guideline_versions": json.loads(row["guideline_versions"]),
        "summary": json.loads(row["summary"]),
    }
