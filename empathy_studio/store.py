"""The SQLite store, on sqlite-utils: every SQL statement of the project lives here.

Ratings are the most valuable data in the studio, so the store is built not to
lose them:

- one connection per thread, WAL, `busy_timeout`, foreign keys on;
- every write is one `BEGIN IMMEDIATE` transaction: it takes the write lock up
  front, so concurrent writers queue on the busy timeout instead of failing
  with "database is locked" when a read transaction tries to upgrade;
- everything is validated before the transaction starts, and CHECK
  constraints back the validation up, so no half-written record exists;
- one rating per (annotator, item); an edit updates it and appends the old
  and new values to `rating_history`.

Migrations are named functions applied in order, each in its own transaction,
and recorded in `migrations`, so applying them again does nothing.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import math
import os
import secrets
import sqlite3
import threading
import time
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import sqlite_utils

from .errors import PermissionDenied, StoreError
from .labels import ESCONV_EMOTIONS, is_valid_intensity

__all__ = ["Annotator", "PermissionDenied", "Store", "StoreError", "require"]

ROLES = ("annotator", "admin")
MAX_NAME = 64
SQLITE_HEADER = b"SQLite format 3\x00"
JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")
MAX_NOTE = 5000
BUSY_TIMEOUT_MS = 60_000


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


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
# migrations

MIGRATIONS: list[tuple[str, Callable[[sqlite_utils.Database], None]]] = []


def migration(fn: Callable[[sqlite_utils.Database], None]) -> Callable[[sqlite_utils.Database], None]:
    MIGRATIONS.append((fn.__name__, fn))
    return fn


@migration
def m001_initial(db: sqlite_utils.Database) -> None:
    db.execute(
        """CREATE TABLE annotators (
            id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE CHECK (length(trim(name)) > 0),
            role TEXT NOT NULL CHECK (role IN ('annotator', 'admin')), password_hash TEXT, created TEXT NOT NULL)"""
    )
    db.execute(
        """CREATE TABLE items (
            id TEXT PRIMARY KEY, source TEXT NOT NULL, dialogue_id TEXT, text TEXT NOT NULL, split TEXT,
            gold_emotion TEXT, gold_initial REAL, gold_final REAL, gold_change REAL)"""
    )
    db.execute(
        """CREATE TABLE ratings (
            id INTEGER PRIMARY KEY,
            annotator_id INTEGER NOT NULL REFERENCES annotators(id),
            item_id TEXT NOT NULL REFERENCES items(id),
            initial INTEGER NOT NULL CHECK (initial BETWEEN 1 AND 5),
            final INTEGER NOT NULL CHECK (final BETWEEN 1 AND 5),
            emotion TEXT, confidence INTEGER CHECK (confidence IS NULL OR confidence BETWEEN 1 AND 5),
            note TEXT CHECK (note IS NULL OR length(note) <= 5000),
            created TEXT NOT NULL, updated TEXT NOT NULL, UNIQUE (annotator_id, item_id))"""
    )
    db.execute(
        """CREATE TABLE rating_history (
            id INTEGER PRIMARY KEY, rating_id INTEGER NOT NULL REFERENCES ratings(id),
            changed_by INTEGER NOT NULL REFERENCES annotators(id), changed_at TEXT NOT NULL,
            old TEXT, new TEXT NOT NULL)"""
    )
    db.execute(
        """CREATE TABLE jobs (
            id INTEGER PRIMARY KEY, state TEXT NOT NULL CHECK (state IN ('queued','running','succeeded','failed','cancelled')),
            params TEXT NOT NULL, created_by TEXT, pid INTEGER, progress REAL DEFAULT 0, epoch REAL, step INTEGER,
            eta_s REAL, metrics TEXT, log_tail TEXT DEFAULT '', error TEXT, model_name TEXT,
            created TEXT NOT NULL, started TEXT, ended TEXT)"""
    )
    db.execute(
        """CREATE TABLE predictions (
            model TEXT NOT NULL, item_id TEXT NOT NULL, text_hash TEXT NOT NULL, result TEXT NOT NULL,
            created TEXT NOT NULL, PRIMARY KEY (model, item_id))"""
    )
    db.execute("CREATE INDEX ratings_item ON ratings(item_id)")


@migration
def m002_turn_intensities(db: sqlite_utils.Database) -> None:
    # one optional 1-5 value per seeker turn, stored as a JSON list
    db.execute("ALTER TABLE ratings ADD COLUMN turn_intensities TEXT")
    db.execute("CREATE INDEX rating_history_rating ON rating_history(rating_id)")


@migration
def m003_app_settings(db: sqlite_utils.Database) -> None:
    # settings an admin changes in the running app (queue order, assisted mode)
    db.execute("CREATE TABLE app_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)")


@migration
def m004_job_phase(db: sqlite_utils.Database) -> None:
    # the phase a running job is in, by name ("training (epoch 2 of 6)", "fitting intensity heads")
    db.execute("ALTER TABLE jobs ADD COLUMN phase TEXT")


@migration
def m005_annotator_name_key(db: sqlite_utils.Database) -> None:
    # one account per name however it is cased or composed ("Ana", "ana", "ａｎａ")
    db.execute("ALTER TABLE annotators ADD COLUMN name_key TEXT")
    taken: set[str] = set()
    for ident, name in db.execute("SELECT id, name FROM annotators ORDER BY id").fetchall():
        key = unicodedata.normalize("NFKC", name).strip().casefold()
        if key in taken:  # an older look-alike keeps its ratings but can no longer sign in under the shared name
            key = f"{key}#{ident}"
        taken.add(key)
        db.execute("UPDATE annotators SET name_key = ? WHERE id = ?", [key, ident])
    db.execute("CREATE UNIQUE INDEX annotators_name_key ON annotators(name_key)")


# ---------------------------------------------------------------------------
# the store


@dataclass(frozen=True)
class Annotator:
    id: int
    name: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def require(actor: Annotator | None, role: str = "annotator") -> Annotator:
    """The caller, if signed in with at least `role`; roles are checked here, below the page, so every path meets them."""
    if actor is None:
        raise PermissionDenied("sign in first")
    if role == "admin" and not actor.is_admin:
        raise PermissionDenied(f"{actor.name} is not an admin")
    return actor


def _check_database_file(path: Path) -> None:
    """One clear line, before SQLite's own errors, when the database cannot be what the studio needs."""
    if path.is_dir():
        raise StoreError(f"{path}: is a folder, not a database file")
    if path.exists():
        try:
            with path.open("rb") as fh:
                head = fh.read(len(SQLITE_HEADER))
        except OSError as exc:
            raise StoreError(f"{path}: cannot read the database ({exc.strerror})") from None
        if head and head != SQLITE_HEADER:
            raise StoreError(f"{path}: not an SQLite database")
        if not os.access(path, os.W_OK):
            raise StoreError(f"{path}: the database is read-only; the studio needs to write to it")
    else:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{path.parent}: cannot create the database folder ({exc.strerror})") from None
    if not os.access(path.parent, os.W_OK):  # SQLite's write-ahead log lives beside the database
        raise StoreError(f"{path.parent}: the folder is read-only; the studio needs to write its database there")


RATING_FIELDS = ("initial", "final", "emotion", "confidence", "note", "turn_intensities")


class Store:
    def __init__(self, path: Path | str):
        self.path = Path(path)
        if str(path) != ":memory:":
            _check_database_file(self.path)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        # Writers of this process queue here, in order, instead of in SQLite's sleep-and-retry
        # busy handler, which is what makes tail latency under 32 threads; other processes
        # still meet busy_timeout.
        self._write_lock = threading.Lock()
        try:
            self.migrate()
        except sqlite3.DatabaseError as exc:  # e.g. a file that starts like SQLite but is damaged, or a locked volume
            self.close()
            raise StoreError(f"{self.path}: cannot open the database ({exc})") from None

    # -- connections ----------------------------------------------------------

    @property
    def db(self) -> sqlite_utils.Database:
        db = getattr(self._local, "db", None)
        if db is None:
            conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")  # durable across process crashes in WAL mode
            conn.execute("PRAGMA foreign_keys = ON")
            db = self._local.db = sqlite_utils.Database(conn)
            with self._lock:
                self._all.append(conn)
        return db

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._all.clear()
        self._local = threading.local()

    @contextmanager
    def write(self) -> Iterator[sqlite_utils.Database]:
        """One IMMEDIATE transaction, taken in this process's write queue; BEGIN is retried if the busy wait ever runs out."""
        db = self.db
        with self._write_lock:
            yield from self._transaction(db)

    def _transaction(self, db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
        for attempt in range(5):
            try:
                db.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                time.sleep(0.05 * (attempt + 1))
        else:
            db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def migrate(self) -> list[str]:
        applied = []
        with self.write() as db:
            db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
        for name, fn in MIGRATIONS:
            with self.write() as db:
                if db.execute("SELECT 1 FROM migrations WHERE name = ?", [name]).fetchone():
                    continue
                fn(db)
                db["migrations"].insert({"name": name, "applied_at": now()})
                applied.append(name)
        return applied

    def applied_migrations(self) -> list[str]:
        return [r["name"] for r in self.db.query("SELECT name FROM migrations ORDER BY name")]

    def integrity_check(self) -> str:
        return self.db.execute("PRAGMA integrity_check").fetchone()[0]

    def backup(self, dest: Path | str) -> Path:
        """A consistent copy through SQLite's online backup API (never a copy of the live file)."""
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_suffix(dest.suffix + ".tmp")
        target = sqlite3.connect(str(tmp))
        try:
            self.db.conn.backup(target)
        finally:
            target.close()
        os.replace(tmp, dest)
        return dest

    # -- annotators -----------------------------------------------------------

    def add_annotator(self, name: str, role: str = "annotator", password: str | None = None) -> Annotator:
        return self.add_annotators([(name, role, password)])[0]

    def add_annotators(self, accounts: Sequence[tuple[str, str, str | None]]) -> list[Annotator]:
        """Create or update (name, role, password) accounts in one transaction; a None password keeps the old one."""
        if not accounts:
            return []
        accounts = [(account_name(name), role, pw) for name, role, pw in accounts]
        for name, role, _ in accounts:
            if role not in ROLES:
                raise StoreError(f"role must be annotator or admin, got {role!r}")
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
                row = db.execute("SELECT id, name FROM annotators WHERE name_key = ?", [name.casefold()]).fetchone()
                if row:
                    db.execute("UPDATE annotators SET role = ?, password_hash = COALESCE(?, password_hash) WHERE id = ?", [role, pw, row[0]])
                    ident, name = row
                else:
                    ident = db["annotators"].insert({"name": name, "name_key": name.casefold(), "role": role, "password_hash": pw,
                                                     "created": now()}).last_pk
                out.append(Annotator(int(ident), name, role))
        return out

    def annotator(self, name: str) -> Annotator | None:
        key = _key_or_none(name)
        row = self.db.execute("SELECT id, name, role FROM annotators WHERE name_key = ?", [key]).fetchone() if key else None
        return Annotator(*row) if row else None

    def authenticate(self, name: str, password: str) -> Annotator | None:
        """The account, if the password is right. Every failure costs one scrypt, known name or not."""
        key = _key_or_none(name)
        row = self.db.execute("SELECT id, name, role, password_hash FROM annotators WHERE name_key = ?", [key]).fetchone() if key else None
        ok = verify_password(password if isinstance(password, str) else "", row[3] if row and row[3] else _dummy_hash())
        return Annotator(row[0], row[1], row[2]) if row and row[3] and ok else None

    def annotators(self) -> list[Annotator]:
        return [Annotator(r["id"], r["name"], r["role"]) for r in self.db.query("SELECT id, name, role FROM annotators ORDER BY name")]

    # -- items ----------------------------------------------------------------

    def upsert_items(self, items: Iterable[dict[str, Any]]) -> int:
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
             note: str | None = None, turn_intensities: list[Any] | None = None, changed_by: str | None = None) -> dict[str, Any]:
        """Save a rating; the same values twice store it once, an edit updates it and appends history."""
        who, values = self.validate_rating(annotator, item_id, initial, final, emotion, confidence, note, turn_intensities)
        editor = self.annotator(changed_by) if changed_by else who
        if editor is None:
            raise StoreError(f"unknown annotator {changed_by!r}")
        stamp = now()
        with self.write() as db:
            cur = db.execute(f"SELECT id, {', '.join(RATING_FIELDS)} FROM ratings WHERE annotator_id = ? AND item_id = ?", [who.id, item_id]).fetchone()
            if cur is None:
                rid = db["ratings"].insert({"annotator_id": who.id, "item_id": item_id, **values, "created": stamp, "updated": stamp}).last_pk
                db["rating_history"].insert({"rating_id": rid, "changed_by": editor.id, "changed_at": stamp, "old": None, "new": json.dumps(values)})
                status = "created"
            else:
                old = dict(zip(RATING_FIELDS, cur[1:]))
                rid = cur[0]
                if old == values:
                    status = "unchanged"
                else:
                    db["ratings"].update(rid, {**values, "updated": stamp})
                    db["rating_history"].insert({"rating_id": rid, "changed_by": editor.id, "changed_at": stamp, "old": json.dumps(old), "new": json.dumps(values)})
                    status = "updated"
        return {"rating_id": int(rid), "status": status, "annotator": who.name, "item_id": item_id, **values}

    def ratings(self, annotator: str | None = None, item_id: str | None = None) -> list[dict[str, Any]]:
        where, params = [], []
        if annotator is not None:
            where.append("a.name = ?")
            params.append(annotator)
        if item_id is not None:
            where.append("r.item_id = ?")
            params.append(item_id)
        sql = (
            "SELECT r.id, a.name AS annotator, r.item_id, r.initial, r.final, r.emotion, r.confidence, r.note, "
            "r.turn_intensities, r.created, r.updated FROM ratings r JOIN annotators a ON a.id = r.annotator_id"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY r.id"
        )
        rows = list(self.db.query(sql, params))
        for r in rows:
            r["turn_intensities"] = json.loads(r["turn_intensities"]) if r["turn_intensities"] else None
        return rows

    def rating_history(self, rating_id: int) -> list[dict[str, Any]]:
        sql = ("SELECT h.id, a.name AS changed_by, h.changed_at, h.old, h.new FROM rating_history h "
               "JOIN annotators a ON a.id = h.changed_by WHERE h.rating_id = ? ORDER BY h.id")
        return [{**r, "old": json.loads(r["old"]) if r["old"] else None, "new": json.loads(r["new"])} for r in self.db.query(sql, [rating_id])]

    def count_ratings(self, annotator: str | None = None) -> int:
        if annotator is None:
            return self.db.execute("SELECT count(*) FROM ratings").fetchone()[0]
        return self.db.execute("SELECT count(*) FROM ratings r JOIN annotators a ON a.id = r.annotator_id WHERE a.name = ?", [annotator]).fetchone()[0]

    def rated_item_ids(self, annotator: str) -> set[str]:
        sql = "SELECT r.item_id FROM ratings r JOIN annotators a ON a.id = r.annotator_id WHERE a.name = ?"
        return {r[0] for r in self.db.execute(sql, [annotator]).fetchall()}

    def count_rated_items(self) -> int:
        return self.db.execute("SELECT count(DISTINCT item_id) FROM ratings").fetchone()[0]

    def rating_table(self) -> list[tuple[str, str, int, int, str | None]]:
        """(annotator, item, initial, final, emotion) for every rating: the input of the agreement statistics."""
        sql = "SELECT a.name, r.item_id, r.initial, r.final, r.emotion FROM ratings r JOIN annotators a ON a.id = r.annotator_id"
        return self.db.execute(sql).fetchall()

    # -- predictions cache ----------------------------------------------------

    def cache_predictions(self, model: str, rows: Iterable[tuple[str, str, dict[str, Any]]]) -> None:
        stamp = now()
        data = [{"model": model, "item_id": i, "text_hash": h, "result": json.dumps(r), "created": stamp} for i, h, r in rows]
        with self.write() as db:
            db["predictions"].upsert_all(data, pk=("model", "item_id"))

    def cached_predictions(self, model: str) -> dict[str, tuple[str, dict[str, Any]]]:
        rows = self.db.execute("SELECT item_id, text_hash, result FROM predictions WHERE model = ?", [model]).fetchall()
        return {i: (h, json.loads(r)) for i, h, r in rows}

    # -- app settings ---------------------------------------------------------

    def get_setting(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM app_settings WHERE key = ?", [key]).fetchone()
        return json.loads(row[0]) if row else default

    def set_setting(self, key: str, value: Any) -> None:
        with self.write() as db:
            db["app_settings"].upsert({"key": key, "value": json.dumps(value)}, pk="key")

    # -- jobs -----------------------------------------------------------------

    def create_job(self, params: dict[str, Any], created_by: str | None) -> int:
        with self.write() as db:
            return int(db["jobs"].insert({"state": "queued", "params": json.dumps(params), "created_by": created_by, "created": now()}).last_pk)

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

    def job(self, job_id: int) -> dict[str, Any] | None:
        rows = list(self.db.query("SELECT * FROM jobs WHERE id = ?", [job_id]))
        if not rows:
            return None
        row = rows[0]
        row["params"] = json.loads(row["params"])
        row["metrics"] = json.loads(row["metrics"]) if row["metrics"] else None
        return row

    def jobs(self, states: Iterable[str] | None = None) -> list[dict[str, Any]]:
        ids = [r[0] for r in self.db.execute("SELECT id, state FROM jobs ORDER BY id DESC").fetchall() if states is None or r[1] in set(states)]
        return [self.job(i) for i in ids]  # type: ignore[misc]
