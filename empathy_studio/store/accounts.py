"""Accounts: names (one per name however it is cased or composed), scrypt passwords, roles, and the `Accounts` mixin."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Sequence

from ..errors import PermissionDenied, StoreError
from .migrations import now
from .review import log

ROLES = ("annotator", "reviewer", "admin")  # each may do what the ones before it may
MAX_NAME = 64


# ---------------------------------------------------------------------------
# account names

# Unicode categories that never belong in a name: controls, format characters (zero-width, bidi
# overrides), line and paragraph separators, surrogates, private use and unassigned code points.
_FORBIDDEN = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def account_name(name: Any) -> str:
    """A name as stored: NFKC-normalised and trimmed, refused when empty, long or holding invisible characters."""
    if not isinstance(name, str):
        raise StoreError("annotator name must be text")
    clean = unicodedata.normalize("NFKC", name).strip()
    if not clean:
        raise StoreError("annotator name is empty")
    if len(clean) > MAX_NAME:
        raise StoreError(f"annotator name is {len(clean):,} characters; the limit is {MAX_NAME}")
    bad = next((c for c in clean if unicodedata.category(c) in _FORBIDDEN or (c.isspace() and c != " ")), None)
    if bad is not None:
        raise StoreError(f"annotator name contains an invisible or control character (U+{ord(bad):04X})")
    return clean


def name_key(name: Any) -> str:
    """What two names must share to be the same account: the stored form, case-folded."""
    return account_name(name).casefold()


def _key_or_none(name: Any) -> str | None:
    try:
        return name_key(name)
    except StoreError:
        return None


# ---------------------------------------------------------------------------
# passwords (stdlib scrypt)


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt$16384$8$1${salt.hex()}${digest.hex()}"


@functools.cache
def _dummy_hash() -> str:
    """A hash to check unknown names against, so that they cost what a known name costs (no enumeration by timing)."""
    return hash_password(secrets.token_hex(16))


def verify_password(password: str, stored: str | None) -> bool:
    if not stored:
        return False
    try:
        _, n, r, p, salt, digest = stored.split("$")
        check = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(check.hex(), digest)


# ---------------------------------------------------------------------------
# roles and the mixin


@dataclass(frozen=True)
class Annotator:
    id: int
    name: str
    role: str
    # the sign-in session this account acts under in the app (checked again on every call; never stored in the clear)
    token: str | None = field(default=None, compare=False, repr=False)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_reviewer(self) -> bool:
        """A reviewer or an admin: may adjudicate."""
        return self.role in ("reviewer", "admin")


def require(actor: Annotator | None, role: str = "annotator") -> Annotator:
    """The caller, if signed in with at least `role`; roles are checked here, below the page, so every path meets them."""
    if actor is None:
        raise PermissionDenied("sign in first")
    if ROLES.index(actor.role) < ROLES.index(role):
        raise PermissionDenied(f"{actor.name} is not {'an' if role[0] in 'aeiou' else 'a'} {role}")
    return actor


class Accounts:
    # -- annotators -----------------------------------------------------------

    def add_annotator(self, name: str, role: str = "annotator", password: str | None = None, by: str | None = None) -> Annotator:
        return self.add_annotators([(name, role, password)], by=by)[0]

    def add_annotators(self, accounts: Sequence[tuple[str, str, str | None]], by: str | None = None) -> list[Annotator]:
        """Create or update (name, role, password) accounts in one transaction; a None password keeps the old one."""
        if not accounts:
            return []
        accounts = [(account_name(name), role, pw) for name, role, pw in accounts]
        for name, role, _ in accounts:
            if role not in ROLES:
                raise StoreError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
        # scrypt releases the GIL: a server's configured accounts hash side by side at start
        hash_one = lambda pw: hash_password(pw) if pw else None  # noqa: E731
        if len(accounts) == 1:
            hashes = [hash_one(accounts[0][2])]
        else:
            with ThreadPoolExecutor(max_workers=min(4, len(accounts))) as pool:
                hashes = list(pool.map(hash_one, [pw for _, _, pw in accounts]))
        out = []
        with self.write() as db:
            for (name, role, _), pw in zip(accounts, hashes):
                row = db.execute("SELECT id, name, role FROM annotators WHERE name_key = ?", [name.casefold()]).fetchone()
                if row:
                    db.execute(
                        "UPDATE annotators SET role = ?, password_hash = COALESCE(?, password_hash) WHERE id = ?", [role, pw, row[0]]
                    )
                    ident, name, old = row
                    if old != role:
                        log(db, by, "role changed", detail={"account": name, "old": old, "new": role})
                else:
                    ident = (
                        db["annotators"]
                        .insert({"name": name, "name_key": name.casefold(), "role": role, "password_hash": pw, "created": now()})
                        .last_pk
                    )
                    log(db, by, "account created", detail={"account": name, "role": role})
                out.append(Annotator(int(ident), name, role))
        return out

    def annotator(self, name: str) -> Annotator | None:
        key = _key_or_none(name)
        row = self.db.execute("SELECT id, name, role FROM annotators WHERE name_key = ?", [key]).fetchone() if key else None
        return Annotator(*row) if row else None

    def annotator_by_id(self, ident: int) -> Annotator | None:
        row = self.db.execute("SELECT id, name, role FROM annotators WHERE id = ?", [ident]).fetchone()
        return Annotator(*row) if row else None

    def authenticate(self, name: str, password: str) -> Annotator | None:
        """The account, if the password is right. Every failure costs one scrypt, known name or not."""
        key = _key_or_none(name)
        row = self.db.execute("SELECT id, name, role, password_hash FROM annotators WHERE name_key = ?", [key]).fetchone() if key else None
        ok = verify_password(password if isinstance(password, str) else "", row[3] if row and row[3] else _dummy_hash())
        return Annotator(row[0], row[1], row[2]) if row and row[3] and ok else None

    def annotators(self) -> list[Annotator]:
        return [Annotator(r["id"], r["name"], r["role"]) for r in self.db.query("SELECT id, name, role FROM annotators ORDER BY name")]
