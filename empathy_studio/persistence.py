"""Keeping the database across Space restarts: snapshots to a dataset repo, restored on start.

A Space's disk is wiped on every restart. With a persistent volume mounted,
`Settings.effective_db_path` already puts the database there and nothing
here is needed. Without one, a `Snapshotter` takes a consistent copy with
SQLite's online backup API (never a copy of the live file) on a schedule and
pushes it to a target; on start-up, a missing database is restored from the
latest snapshot. Targets: a Hub dataset repo (`owner/name`, through
huggingface_hub), or a local folder (`file://PATH`), which the tests use as
the stand-in for the remote.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Protocol

from .store import Store, is_empty_database

SNAPSHOT_NAME = "studio.sqlite"


class SnapshotTarget(Protocol):
    def upload(self, local: Path) -> None: ...

    def download(self, dest: Path) -> bool: ...


class FolderTarget:
    def __init__(self, folder: Path | str):
        self.folder = Path(folder)

    def upload(self, local: Path) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / (SNAPSHOT_NAME + ".part")
        shutil.copyfile(local, tmp)
        tmp.replace(self.folder / SNAPSHOT_NAME)  # readers never see half a snapshot

    def download(self, dest: Path) -> bool:
        src = self.folder / SNAPSHOT_NAME
        if not src.exists():
            return False
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        return True


class HubDatasetTarget:
    """A private dataset repo on the Hub. Needs network and a token; not exercised offline."""

    def __init__(self, repo_id: str, token: str | None = None):
        self.repo_id, self.token = repo_id, token

    def upload(self, local: Path) -> None:
        from huggingface_hub import HfApi

        api = HfApi(token=self.token)
        api.create_repo(self.repo_id, repo_type="dataset", private=True, exist_ok=True)
        api.upload_file(
            path_or_fileobj=str(local),
            path_in_repo=SNAPSHOT_NAME,
            repo_id=self.repo_id,
            repo_type="dataset",
            commit_message="Empathy Studio database snapshot",
        )

    def download(self, dest: Path) -> bool:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError

        try:
            path = hf_hub_download(self.repo_id, SNAPSHOT_NAME, repo_type="dataset", token=self.token)
        except (EntryNotFoundError, RepositoryNotFoundError):
            return False
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
        return True


def target_for(spec: str, token: str | None = None) -> SnapshotTarget | None:
    if not spec:
        return None
    if spec.startswith("file://"):
        return FolderTarget(spec[len("file://") :])
    return HubDatasetTarget(spec, token)


def restore_if_missing(db_path: Path, target: SnapshotTarget) -> bool:
    """Before the store opens: bring back the latest snapshot when the disk came up empty.

    An empty database file (nothing migrated, or no row anyone made, as a process that died young
    may leave) counts as missing: it is moved aside, never deleted, and the snapshot comes back.
    """
    if not is_empty_database(db_path):
        return False
    tmp = db_path.with_name(db_path.name + ".restore")
    if not target.download(tmp):
        return False
    if db_path.exists():
        aside = db_path.with_name(f"{db_path.name}.empty-{int(time.time())}")
        for suffix in ("", "-wal", "-shm"):
            extra = Path(str(db_path) + suffix)
            if extra.exists():
                extra.replace(Path(str(aside) + suffix))
    tmp.replace(db_path)
    return True


class Snapshotter:
    """Snapshots on a schedule, shortly after writes (debounced), and at shutdown."""

    def __init__(self, store: Store, target: SnapshotTarget, every_minutes: float = 10, debounce_s: float = 30.0):
        self.store, self.target, self.every, self.debounce = store, target, every_minutes * 60, debounce_s
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._dirty_since: float | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def snapshot_now(self) -> Path:
        with self._lock:
            self._dirty_since = None
            with tempfile.TemporaryDirectory() as tmp:
                copy = self.store.backup(Path(tmp) / SNAPSHOT_NAME)
                self.target.upload(copy)
        return copy

    def notify(self) -> None:
        """Something was written: snapshot within `debounce_s`."""
        if self._dirty_since is None:
            self._dirty_since = time.monotonic()
            self._wake.set()

    def start(self) -> None:
        if self._thread is None:
            self.store.add_write_listener(self.notify)
            self._thread = threading.Thread(target=self._loop, name="db-snapshots", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        last = time.monotonic()
        while not self._stop.is_set():
            due = last + self.every
            if self._dirty_since is not None:
                due = min(due, self._dirty_since + self.debounce)
            self._wake.wait(max(0.0, due - time.monotonic()))
            self._wake.clear()
            if self._stop.is_set():
                break
            now = time.monotonic()
            if now >= last + self.every or (self._dirty_since is not None and now >= self._dirty_since + self.debounce):
                try:
                    self.snapshot_now()
                except Exception:  # noqa: BLE001 - a failed upload must not stop the next one
                    logging.getLogger(__name__).exception("database snapshot failed")
                last = time.monotonic()

    def stop(self, final: bool = False) -> None:
        """Stop the schedule; with `final`, take a last snapshot of anything written since the previous one."""
        self._stop.set()
        self._wake.set()
        if final and self._dirty_since is not None:
            self.snapshot_now()
