"""The `jobs` table: a training job's request, state, progress and result: the `Jobs` mixin."""

from __future__ import annotations

import json
from typing import Any, Iterable

from ..errors import StoreError
from .migrations import now

JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")


class Jobs:
    # -- jobs -----------------------------------------------------------------

    def create_job(self, params: dict[str, Any], created_by: str | None) -> int:
        with self.write() as db:
            return int(
                db["jobs"].insert({"state": "queued", "params": json.dumps(params), "created_by": created_by, "created": now()}).last_pk
            )

    def update_job(self, job_id: int, **fields: Any) -> None:
        if "state" in fields and fields["state"] not in JOB_STATES:
            raise StoreError(f"unknown job state {fields['state']!r}")
        if "metrics" in fields and not isinstance(fields["metrics"], (str, type(None))):
            fields["metrics"] = json.dumps(fields["metrics"])
        with self.write() as db:
            db["jobs"].update(job_id, fields)

    def claim_next_job(self) -> dict[str, Any] | None:
        """The oldest queued job, marked running, or None when one already runs or none waits."""
        with self.write() as db:
            if db.execute("SELECT 1 FROM jobs WHERE state = 'running'").fetchone():
                return None
            row = db.execute("SELECT id FROM jobs WHERE state = 'queued' ORDER BY id LIMIT 1").fetchone()
            if row is None:
                return None
            db.execute("UPDATE jobs SET state = 'running', started = ? WHERE id = ?", [now(), row[0]])
        return self.job(row[0])

    def rename_job_model(self, old: str, new: str) -> None:
        with self.write() as db:
            db.execute("UPDATE jobs SET model_name = ? WHERE model_name = ?", [new, old])

    def job(self, job_id: int) -> dict[str, Any] | None:
        if isinstance(job_id, bool) or not isinstance(job_id, int) or not 0 < job_id < 2**63:  # SQLite's integers end there
            return None
        rows = list(self.db.query("SELECT * FROM jobs WHERE id = ?", [job_id]))
        if not rows:
            return None
        row = rows[0]
        row["params"] = json.loads(row["params"])
        row["metrics"] = json.loads(row["metrics"]) if row["metrics"] else None
        return row

    def jobs(self, states: Iterable[str] | None = None) -> list[dict[str, Any]]:
        ids = [
            r[0] for r in self.db.execute("SELECT id, state FROM jobs ORDER BY id DESC").fetchall() if states is None or r[1] in set(states)
        ]
        return [self.job(i) for i in ids]  # type: ignore[misc]
