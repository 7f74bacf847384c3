"""Campaigns in the store: k raters per item under concurrency, calibration and gold checks, expiry, progress, undo, sessions."""

from __future__ import annotations

import multiprocessing as mp
import threading
from collections import Counter

import pytest

from empathy_studio.errors import StoreError
from empathy_studio.store import Store

N_ITEMS = 200


@pytest.fixture
def store(fresh_db):
    fresh_db.upsert_items(
        {"id": f"item-{i}", "source": "test", "text": f"text {i}", "split": "train", "gold_initial": 3, "gold_final": 2}
        for i in range(N_ITEMS)
    )
    return fresh_db


def _rate_until_empty(path: str, name: str, campaign: int, errors) -> None:
    s = Store(path)
    try:
        who = s.annotator(name)
        while (item := s.claim(campaign, who.id)) is not None:
            s.rate(name, item, 3, 2, campaign_id=campaign)
    except Exception as exc:  # noqa: BLE001 - reported to the test
        errors.append(f"{name}: {exc!r}")
    finally:
        s.close()


def _process(path: str, name: str, campaign: int, queue) -> None:
    errors: list[str] = []
    _rate_until_empty(path, name, campaign, errors)
    queue.put(errors)


def test_32_annotators_in_threads_and_processes_give_every_item_exactly_k_ratings(store):
    names = [f"t{i}" for i in range(16)] + [f"p{i}" for i in range(16)]
    store.add_annotators([(n, "annotator", None) for n in names])
    cid = store.create_campaign("load", [(f"item-{i}", "item") for i in range(N_ITEMS)], k=3)
    errors: list[str] = []
    threads = [threading.Thread(target=_rate_until_empty, args=(str(store.path), n, cid, errors)) for n in names[:16]]
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_process, args=(str(store.path), n, cid, queue)) for n in names[16:]]
    for w in [*threads, *procs]:
        w.start()
    errors += [e for _ in procs for e in queue.get(timeout=600)]
    for w in [*threads, *procs]:
        w.join()
    assert errors == []
    rows = store.ratings(campaign_id=cid)
    per_item = Counter(r["item_id"] for r in rows)
    assert len(per_item) == N_ITEMS and set(per_item.values()) == {3}
    assert all(len({r["annotator"] for r in rows if r["item_id"] == item}) == 3 for item in per_item)
    assert store.campaign_progress(cid)["complete"] == N_ITEMS


def test_spread_serves_least_rated_first_calibration_first_and_gold_at_its_rate(store):
    store.add_annotators([("ana", "annotator", None), ("ben", "annotator", None)])
    items = [("item-0", "calibration"), *((f"item-{i}", "item") for i in range(1, 9)), ("item-9", "gold"), ("item-10", "gold")]
    cid = store.create_campaign("mixed", items, k=2, gold_rate=0.5, overlap="spread")
    ana, ben = store.annotator("ana"), store.annotator("ben")
    served = []
    for _ in range(5):
        item = store.claim(cid, ana.id)
        served.append(item)
        store.rate("ana", item, 3, 2, campaign_id=cid)
    kinds = dict(items)
    assert [kinds[i] for i in served] == [
        "calibration",
        "item",
        "item",
        "gold",
        "item",
    ]  # calibration first; a gold check after 2 items at 0.5
    assert store.claim(cid, ben.id) == "item-0" and store.claim(cid, ben.id) == "item-0"  # an open claim comes back, not a new one
    store.rate("ben", "item-0", 3, 2, campaign_id=cid)
    fresh = 0
    while fresh < 5:  # least rated first: the 5 items nobody has rated yet, before any of ana's (with ben's own gold checks between)
        item = store.claim(cid, ben.id)
        if kinds[item] == "item":
            assert item not in served
            fresh += 1
        store.rate("ben", item, 3, 2, campaign_id=cid)
    nxt = store.claim(cid, ben.id)
    assert nxt in served or kinds[nxt] == "gold"  # then the ones rated once


def test_an_abandoned_claim_expires_and_no_item_goes_past_k(store):
    store.add_annotators([(n, "annotator", None) for n in ("ana", "ben", "cy")])
    cid = store.create_campaign("tiny", [("item-0", "item")], k=1)
    ana, ben = store.annotator("ana"), store.annotator("ben")
    assert store.claim(cid, ana.id, ttl_s=60, clock=1000.0) == "item-0"
    assert store.claim(cid, ben.id, clock=1010.0) is None  # taken while the claim lives
    assert store.claim(cid, ben.id, clock=1061.0) == "item-0"  # expired: back in the pool
    store.rate("ben", "item-0", 4, 2, campaign_id=cid)
    with pytest.raises(StoreError, match="already has its 1 raters"):
        store.rate("cy", "item-0", 4, 2, campaign_id=cid)  # no claim, and the item is full
    assert store.annotator_progress(cid, ana.id) == {"done": 0, "assigned": 0}
    assert store.campaign_progress(cid)["complete"] == 1


def test_campaign_input_is_checked_whole(store):
    with pytest.raises(StoreError, match="k \\(annotators per item\\) must be"):
        store.create_campaign("c", [("item-1", "item")], k=0)
    with pytest.raises(StoreError, match="unknown item 'nope'"):
        store.create_campaign("c", [("item-1", "item"), ("nope", "item")])
    with pytest.raises(Exception, match="campaign name '../x' is not allowed"):
        store.create_campaign("../x", [("item-1", "item")])
    with pytest.raises(StoreError, match="scales must include initial and final"):
        store.create_campaign("c", [("item-1", "item")], scales=["emotion"])
    assert [c["name"] for c in store.campaigns()] == ["default"]


def test_undo_restores_an_edit_and_withdraws_a_first_rating(store):
    store.add_annotator("ana", "annotator", "pw")
    cid = store.create_campaign("u", [("item-1", "item")], k=1)
    ana = store.annotator("ana")
    assert store.claim(cid, ana.id) == "item-1"
    store.rate("ana", "item-1", 4, 2, campaign_id=cid, seconds_on_item=12.5, assisted=False)
    store.rate("ana", "item-1", 5, 1, campaign_id=cid)  # an edit of that rating
    assert store.undo_last("ana") == {
        "item_id": "item-1",
        "restored": {"initial": 4, "final": 2, "emotion": None, "confidence": None, "note": None, "turn_intensities": None},
    }
    rating = store.ratings(annotator="ana")[0]
    assert (rating["initial"], rating["final"], rating["seconds_on_item"], rating["assisted"], rating["campaign"]) == (
        4,
        2,
        12.5,
        False,
        "u",
    )
    assert store.undo_last("ana") is None  # one step: the undo itself is not undone
    store.rate("ana", "item-1", 4, 3, campaign_id=cid)  # a later edit can be undone in turn
    store.undo_last("ana")
    assert store.ratings(annotator="ana")[0]["final"] == 2
    store2 = store.create_campaign("w", [("item-5", "item")], k=1)
    assert store.claim(store2, ana.id) == "item-5"
    store.rate("ana", "item-5", 2, 2, campaign_id=store2)
    assert store.undo_last("ana")["restored"] is None  # a first rating is withdrawn...
    assert [r["item_id"] for r in store.ratings(annotator="ana")] == ["item-1"]
    assert store.claim(store2, ana.id) == "item-5"  # ...and its item comes back to the annotator
    history = store.rating_history(store.db.execute("SELECT id FROM ratings WHERE item_id = 'item-5'").fetchone()[0])
    assert [h["new"] for h in history][-1] == {"undone": True}


def test_sessions_map_a_token_to_its_account_until_revoked_or_expired(store):
    ana = store.add_annotator("ana", "annotator", "pw")
    token = store.create_session(ana)
    assert len(token) >= 40 and store.session_annotator(token) == ana
    assert "ana" not in token and store.db.execute("SELECT count(*) FROM sessions WHERE token_hash = ?", [token]).fetchone()[0] == 0
    store.revoke_session(token)
    assert store.session_annotator(token) is None
    assert store.session_annotator(store.create_session(ana, ttl_s=-1)) is None
    assert store.session_annotator("forged") is None and store.session_annotator(None) is None


def test_an_item_rated_before_can_be_rated_again_in_a_new_campaign(store):
    store.add_annotator("ana", "annotator", "pw")
    store.rate("ana", "item-1", 4, 2)  # the default campaign
    cid = store.create_campaign("again", [("item-1", "item")], k=1)
    assert store.claim(cid, store.annotator("ana").id) == "item-1"
    store.rate("ana", "item-1", 2, 1, campaign_id=cid)
    assert sorted((r["campaign"], r["initial"]) for r in store.ratings(annotator="ana")) == [("again", 2), ("default", 4)]


def test_the_campaign_migration_keeps_old_ratings_and_their_history(tmp_path):
    import sqlite_utils

    from empathy_studio.store import MIGRATIONS

    path = tmp_path / "old.sqlite"
    db = sqlite_utils.Database(path)
    db.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    db.execute("PRAGMA foreign_keys = ON")
    for name, fn in MIGRATIONS[:5]:  # the schema as it was before campaigns
        fn(db)
        db["migrations"].insert({"name": name, "applied_at": "2026-01-01"})
    db.execute("INSERT INTO annotators (name, name_key, role, created) VALUES ('ana', 'ana', 'annotator', 'x')")
    db.execute("INSERT INTO items (id, source, text) VALUES ('i1', 's', 't')")
    db.execute("INSERT INTO ratings (annotator_id, item_id, initial, final, created, updated) VALUES (1, 'i1', 4, 2, 'x', 'x')")
    db.execute("INSERT INTO rating_history (rating_id, changed_by, changed_at, new) VALUES (1, 1, 'x', '{}')")
    db.conn.commit()
    db.conn.close()
    s = Store(path)
    assert [(r["initial"], r["campaign"]) for r in s.ratings()] == [(4, "default")]
    assert len(s.rating_history(s.ratings()[0]["id"])) == 1 and s.integrity_check() == "ok"
    assert s.db.execute("PRAGMA foreign_key_check").fetchall() == []
    s.close()


def test_one_request_reads_its_campaigns_row_once_and_a_change_is_seen_at_once(tiny_studio):
    import re

    from empathy_studio.services import CampaignRequest

    s = tiny_studio
    root, ana = s.annotation.login("root", "pw"), s.annotation.login("ana", "pw")
    s.create_campaign(root, CampaignRequest(name="once", kind="intensity", source="split", split="all", k=2, limit=10))
    first = s.next_in(ana, "once")
    reads: list[str] = []
    s.store.db.conn.set_trace_callback(lambda q: reads.append(q) if re.search(r"SELECT \* FROM campaigns", q) else None)
    try:
        with s.acting(ana):  # what one event of the app does on save: rate, then the next item and its view
            s.rate(ana, first, 3, 2, campaign="once")
            s.rating_view(ana, s.next_in(ana, "once"), "once")
    finally:
        s.store.db.conn.set_trace_callback(None)
    assert len(reads) == 1, reads
    with s.acting(root):
        assert s.campaign("once")["active"]
        s.set_campaign_active(root, "once", False)
        assert not s.campaign("once")["active"]  # the request's own change is read again, not served from its rows
