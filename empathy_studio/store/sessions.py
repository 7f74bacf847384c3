"""Sign-in sessions that survive a page reload: the `Sessions` mixin.

The browser keeps a random 256-bit token (never a password or a bare name);
the database keeps only its SHA-256, the account, and an expiry. Signing out
revokes it.
"""

from __future__ import annotations

import hashlib
import secrets
import time

from .accounts import Annotator
from .migrations import now

SESSION_TTL_S = 14 * 24 * 3600


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Sessions:
    def create_session(self, annotator: Annotator, ttl_s: float = SESSION_TTL_S) -> str:
        token = secrets.token_urlsafe(32)
        with self.write() as db:
            db["sessions"].insert(
                {"token_hash": _digest(token), "annotator_id": annotator.id, "created": now(), "expires": time.time() + ttl_s, "revoked": 0}
            )
        return token

    def session_annotator(self, token: str | None) -> Annotator | None:
        if not isinstance(token, str) or not token:
            return None
        row = self.db.execute(
            "SELECT a.id, a.name, a.role FROM sessions s JOIN annotators a ON a.id = s.annotator_id "
            "WHERE s.token_hash = ? AND s.revoked = 0 AND s.expires > ?",
            [_digest(token), time.time()],
        ).fetchone()
        return Annotator(*row) if row else None

    def revoke_session(self, token: str | None) -> None:
        if isinstance(token, str) and token:
            with self.write() as db:
                db.execute("UPDATE sessions SET revoked = 1 WHERE token_hash = ?", [_digest(token)])
