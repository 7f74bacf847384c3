"""The store: validation before any write, one rating per (annotator, item), history, migrations, concurrency, crashes."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
import sqlite_utils

from empathy_studio.store import MIGRATIONS, Store, StoreError, verify_password

N_ITEMS = 200


@pytest.fixture
def store(fresh_db):
    fresh_db.upsert_items({"id": f"item-{i}", "source": "test", "text": f"text {i}", "split": "train"} for i in range(N_ITEMS))
    fresh_db.add_annotator("ana", "annotator", "pw")
    fresh_db.add_annotator("root", "admin", "secret")
    return fresh_db


def test_password_is_hashed(store):
    row = store.db.execute("SELECT password_hash FROM annotators WHERE name = 'ana'").fetchone()[0]
    assert "pw" not in row and row.startswith("scrypt$") and verify_password("pw", row)
    assert store.authenticate("ana", "pw").role == "annotator" and store.authenticate("ana", "nope") is None


def test_same_rating_twice_is_stored_once_and_edits_keep_history(store):
    assert store.rate("ana", "item-1", 4, 2)["status"] == "created"
    assert store.rate("ana", "item-1", 4, 2)["status"] == "unchanged"
    res = store.rate("ana", "item-1", 5, 2, emotion="fear", note="edited")
    assert res["status"] == "updated" and store.count_ratings() == 1
    hist = store.rating_history(res["rating_id"])
    assert [h["old"] for h in hist][0] is None and hist[1]["old"]["initial"] == 4 and hist[1]["new"]["initial"] == 5
    assert hist[1]["changed_by"] == "ana"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(initial=6, final=2), "initial intensity must be an integer from 1 to 5"),
        (dict(initial=0, final=2), "initial intensity"),
        (dict(initial=3.5, final=2), "initial intensity"),
        (dict(initial="3", final=2), "initial intensity"),
        (dict(initial=True, final=2), "initial intensity"),
        (dict(initial=3, final=None), "final intensity"),
        (dict(initial=3, final=2, emotion="joy"), "unknown emotion 'joy'"),
        (dict(initial=3, final=2, item_id="item-x"), "unknown item 'item-x'"),
        (dict(initial=3, final=2, annotator="ghost"), "unknown annotator 'ghost'"),
        (dict(initial=3, final=2, annotator="   "), "annotator name is empty"),
        (dict(initial=3, final=2, note="x" * 5001), "note is 5,001 characters"),
        (dict(initial=3, final=2, confidence=9), "confidence"),
        (dict(initial=3, final=2, turn_intensities=[1, 7]), "turn intensities"),
    ],
)
def test_bad_input_raises_one_clear_error_and_writes_nothing(store, kwargs, message):
    args = {"annotator": "ana", "item_id": "item-1", **kwargs}
    with pytest.raises(StoreError, match=message):
        store.rate(**args)
    assert store.count_ratings() == 0
    assert store.db.execute("SELECT count(*) FROM rating_history").fetchone()[0] == 0


def test_check_constraints_back_up_validation(store):
    with pytest.raises(sqlite3.IntegrityError):
        with store.write() as db:
            db.execute("INSERT INTO ratings (annotator_id, item_id, initial, final, created, updated) VALUES (1, 'item-1', 9, 1, 'x', 'x')")
    assert store.count_ratings() == 0


def test_empty_annotator_name(store):
    with pytest.raises(StoreError, match="empty"):
        store.add_annotator("  ")


def test_accounts_in_one_batch_all_or_nothing(store):
    made = store.add_annotators([(f"u{i}", "annotator", f"pw{i}") for i in range(6)] + [("boss", "admin", "x")])
    assert [a.name for a in made] == [*(f"u{i}" for i in range(6)), "boss"]
    assert all(store.authenticate(f"u{i}", f"pw{i}") for i in range(6)) and store.authenticate("boss", "x").role == "admin"
    with pytest.raises(StoreError, match="role"):
        store.add_annotators([("new", "annotator", "pw"), ("odd", "owner", "pw")])
    assert store.annotator("new") is None  # validated before anything is written
    store.add_annotators([("u0", "admin", None)])  # a role change keeps the password
    assert store.authenticate("u0", "pw0").role == "admin"


def test_migrations_twice_are_harmless(db_path):
    Store(db_path).close()
    again = Store(db_path)
    assert again.migrate() == [] and again.applied_migrations() == sorted(n for n, _ in MIGRATIONS)
    again.close()


def test_old_schema_upgrades_without_losing_rows(tmp_path):
    path = tmp_path / "old.sqlite"
    db = sqlite_utils.Database(path)
    db.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    MIGRATIONS[0][1](db)  # only the first version of the schema
    db["migrations"].insert({"name": MIGRATIONS[0][0], "applied_at": "2026-01-01"})
    db["annotators"].insert({"name": "ana", "role": "annotator", "created": "x"})
    db["items"].insert({"id": "i1", "source": "s", "text": "t"})
    db["ratings"].insert({"annotator_id": 1, "item_id": "i1", "initial": 4, "final": 2, "created": "x", "updated": "x"})
    db.conn.commit()
    db.conn.close()
    store = Store(path)
    assert len(store.applied_migrations()) == len(MIGRATIONS)
    rows = store.ratings()
    assert len(rows) == 1 and rows[0]["initial"] == 4 and rows[0]["turn_intensities"] is None
    store.rate("ana", "i1", 4, 2, turn_intensities=[5, 4, None])
    assert store.ratings()[0]["turn_intensities"] == [5, 4, None]
    store.close()


def _writer(path: str, who: str, errors: list) -> None:
    s = Store(path)
    try:
        for i in range(N_ITEMS):
            s.rate(who, f"item-{i}", 1 + i % 5, 1 + (i * 3) % 5)
    except Exception as exc:  # noqa: BLE001 - the test reports whatever reached the caller
        errors.append(repr(exc))
    finally:
        s.close()


def test_32_thread_writers_lose_nothing(store):
    names = [f"t{i}" for i in range(32)]
    for n in names:
        store.add_annotator(n)
    errors: list[str] = []
    threads = [threading.Thread(target=_writer, args=(str(store.path), n, errors)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.db.execute("SELECT count(*) FROM ratings WHERE annotator_id > 2").fetchone()[0] == 32 * N_ITEMS


def _process_writer(path: str, who: str, queue) -> None:
    errors: list[str] = []
    _writer(path, who, errors)
    queue.put(errors)


def test_32_process_writers_lose_nothing(store):
    names = [f"p{i}" for i in range(32)]
    for n in names:
        store.add_annotator(n)
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_process_writer, args=(str(store.path), n, queue)) for n in names]
    for p in procs:
        p.start()
    errors = [e for _ in procs for e in queue.get(timeout=300)]
    for p in procs:
        p.join()
    assert errors == [] and all(p.exitcode == 0 for p in procs)
    assert store.db.execute("SELECT count(*) FROM ratings WHERE annotator_id > 2").fetchone()[0] == 32 * N_ITEMS


CHILD = """
import sys
from empathy_studio.store import Store
s = Store(sys.argv[1])
i = 0
while True:
    s.rate("ana", f"item-{i % 200}", 1 + i % 5, 1 + (i // 200) % 5)
    print(f"ack {i}", flush=True)
    i += 1
"""


def _written(i: int) -> tuple[str, tuple[int, int]]:
    """The item and the values the child's i-th write sets (the same rule as CHILD)."""
    return f"item-{i % 200}", (1 + i % 5, 1 + (i // 200) % 5)


def test_sigkill_mid_stream_keeps_every_acknowledged_rating(store):
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(store.path)], stdout=subprocess.PIPE, text=True)
    acked: list[int] = []
    deadline = time.monotonic() + 60
    while len(acked) < 350 and time.monotonic() < deadline:  # past 200, so items are overwritten with new values too
        acked.append(int(proc.stdout.readline().split()[1]))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    acked += [int(line.split()[1]) for line in proc.stdout if line.strip()]  # acknowledged before the kill count too
    after = Store(store.path)
    assert after.integrity_check() == "ok"
    saved = {r["item_id"]: (r["initial"], r["final"]) for r in after.ratings(annotator="ana")}
    last = dict(_written(i) for i in acked)  # each item's last acknowledged values
    in_flight_item, in_flight_values = _written(acked[-1] + 1)  # committed, perhaps, but killed before its acknowledgement
    for item, values in last.items():
        if item == in_flight_item and saved[item] == in_flight_values:
            continue
        assert saved[item] == values, item
    assert len(last) == 200
    after.close()


def test_backup_is_a_consistent_copy(store, tmp_path):
    store.rate("ana", "item-3", 3, 3)
    copy = store.backup(tmp_path / "snap" / "copy.sqlite")
    restored = Store(copy)
    assert restored.integrity_check() == "ok" and restored.count_ratings() == 1
    restored.close()


def test_jobs_claim_is_exclusive(store):
    a = store.create_job({"model": "m"}, "root")
    b = store.create_job({"model": "m"}, "root")
    assert store.claim_next_job()["id"] == a
    assert store.claim_next_job() is None
    assert store.job(b)["state"] == "queued"
