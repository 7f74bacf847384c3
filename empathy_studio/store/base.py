"""The store's connection handling: one connection per thread, WAL, write transactions, migrations, backup."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import sqlite_utils

from ..errors import StoreError
from .migrations import MIGRATIONS, now

SQLITE_HEADER = b"SQLite format 3\x00"
CLOSE_WAIT_S = 10  # how long closing waits for another thread's write to finish
BUSY_TIMEOUT_MS = 60_000


def _check_database_file(path: Path, create: bool = True) -> None:
    """One clear line, before SQLite's own errors, when the database cannot be what the studio needs."""
    if path.is_dir():
        raise StoreError(f"{path}: is a folder, not a database file")
    if not create and not (path.exists() and path.stat().st_size):
        raise StoreError(f"{path}: no database here, and only the server creates it")
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


_KEPT = ("annotators", "ratings", "empathy_ratings", "jobs", "sessions")  # what a database holds that a restore must not lose


def is_empty_database(path: Path | str) -> bool:
    """No database worth keeping at `path`: no file, an empty file, no migrations applied, or no row of anything a user made.

    A server that comes up on such a file restores its snapshot instead of serving it (read-only look; nothing is created).
    """
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return True
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return False
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "migrations" not in tables or not conn.execute("SELECT 1 FROM migrations LIMIT 1").fetchone():
            return True
        if "campaigns" in tables and conn.execute("SELECT 1 FROM campaigns WHERE all_items = 0 LIMIT 1").fetchone():
            return False
        return not any(conn.execute(f"SELECT 1 FROM {t} LIMIT 1").fetchone() for t in _KEPT if t in tables)
    except sqlite3.DatabaseError:
        return False  # not ours to judge: the store's own checks will say what is wrong with it
    finally:
        conn.close()


class Connection:
    def __init__(self, path: Path | str, create: bool = True):
        """`create=False` (a server's child processes): open the database only if it is there; never make a new one."""
        self.path = Path(path)
        if str(path) != ":memory:":
            _check_database_file(self.path, create)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        # Writers of this process queue here, in order, instead of in SQLite's sleep-and-retry
        # busy handler, which is what makes tail latency under 32 threads; other processes
        # still meet busy_timeout.
        self._write_lock = threading.Lock()
        self._listeners: list = []  # called after each committed write (snapshots use it)
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
        """Close every thread's connection. A write another thread has in flight (a job runner's, a warmer's) finishes
        first: closing a connection under a running statement crashes SQLite. A later call reopens one."""
        waited = self._write_lock.acquire(timeout=CLOSE_WAIT_S)
        try:
            with self._lock:
                for conn in self._all:
                    try:
                        conn.close()
                    except sqlite3.Error:
                        pass
                self._all.clear()
            self._local = threading.local()
        finally:
            if waited:
                self._write_lock.release()

    @contextmanager
    def write(self) -> Iterator[sqlite_utils.Database]:
        """One IMMEDIATE transaction, taken in this process's write queue; BEGIN is retried if the busy wait ever runs out."""
        db = self.db
        with self._write_lock:
            yield from self._transaction(db)
        for listener in list(self._listeners):
            listener()

    def add_write_listener(self, fn) -> None:
        self._listeners.append(fn)

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
            rebuild = getattr(fn, "rebuilds_tables", False)
            if rebuild and not self.db.execute("SELECT 1 FROM migrations WHERE name = ?", [name]).fetchone():
                # SQLite's way to rebuild a table that others reference: foreign keys off outside the
                # transaction, every reference checked before it commits
                self.db.execute("PRAGMA foreign_keys = OFF")
            try:
                with self.write() as db:
                    if db.execute("SELECT 1 FROM migrations WHERE name = ?", [name]).fetchone():
                        continue
                    fn(db)
                    if rebuild:
                        broken = db.execute("PRAGMA foreign_key_check").fetchall()
                        if broken:
                            raise StoreError(f"{self.path}: migration {name} would break {len(broken)} references; nothing was changed")
                    db["migrations"].insert({"name": name, "applied_at": now()})
                    applied.append(name)
            finally:
                if rebuild:
                    self.db.execute("PRAGMA foreign_keys = ON")
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
