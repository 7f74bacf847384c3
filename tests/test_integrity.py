"""Integrity of a campaign's data: k holds on every path, progress stays right and cheap, creation overwrites nothing,
and only the server creates the database (a child that outlived it neither creates one nor fools the restore)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from empathy_studio.errors import StoreError
from empathy_studio.store import CLAIM_TTL_S, Store, is_empty_database

ROOT = Path(__file__).resolve().parent.parent
N_ITEMS = 3
ANNOTATORS = ("a0", "a1", "a2")


def _store(path: Path) -> Store:
    s = Store(path)
    s.upsert_items({"id": f"item-{i}", "source": "test", "text": f"text {i}", "split": "train"} for i in range(N_ITEMS))
    s.add_annotators([(n, "annotator", None) for n in ANNOTATORS])
    return s


def _per_item(store: Store, cid: int) -> Counter:
    return Counter(r["item_id"] for r in store.ratings(campaign_id=cid))


# -- k on every path ----------------------------------------------------------------------


def test_a_save_after_an_undo_cannot_take_a_place_someone_else_took(fresh_db):
    s = _store(fresh_db.path)
    cid = s.create_campaign("k1", [("item-0", "item")], k=1)
    a, b = s.annotator("a0"), s.annotator("a1")
    assert s.claim(cid, a.id) == "item-0"
    s.rate("a0", "item-0", 3, 3, campaign_id=cid)
    s.undo_last("a0")  # the first rating is withdrawn: the place is free again
    assert s.claim(cid, b.id) == "item-0"
    s.rate("a1", "item-0", 4, 4, campaign_id=cid)
    with pytest.raises(StoreError, match="already has its 1 raters"):  # a0 saves again from the form that still shows the item
        s.rate("a0", "item-0", 5, 5, campaign_id=cid)
    assert _per_item(s, cid) == {"item-0": 1}


def test_a_save_after_the_claim_expired_cannot_push_past_k(fresh_db):
    s = _store(fresh_db.path)
    cid = s.create_campaign("k1", [("item-0", "item")], k=1)
    a, b = s.annotator("a0"), s.annotator("a1")
    assert s.claim(cid, a.id, clock=time.time() - 2 * CLAIM_TTL_S) == "item-0"  # a claim that has since expired
    assert s.claim(cid, b.id) == "item-0"
    s.rate("a1", "item-0", 4, 4, campaign_id=cid)
    with pytest.raises(StoreError, match="already has its 1 raters"):
        s.rate("a0", "item-0", 2, 2, campaign_id=cid)
    assert _per_item(s, cid) == {"item-0": 1}
    s.rate("a1", "item-0", 5, 5, campaign_id=cid)  # the rater who holds the place still edits
    assert [r["initial"] for r in s.ratings(campaign_id=cid)] == [5]


OPS = st.lists(
    st.tuples(
        st.sampled_from(["claim", "claim-expired", "save", "save-again", "undo", "back", "skip", "reload"]),
        st.integers(0, len(ANNOTATORS) - 1),
        st.integers(1, 5),
    ),
    min_size=1,
    max_size=40,
)

_LEFT_ORACLE = (  # what each annotator can still be given, counted item by item (the query progress used before)
    "SELECT count(*) FROM campaign_items ci WHERE ci.campaign_id = ? AND ci.item_id NOT IN (SELECT item_id FROM ratings WHERE "
    "annotator_id = ? "
    "AND campaign_id = ci.campaign_id AND removed = 0) AND (ci.kind != 'item' OR (SELECT count(*) FROM assignments a WHERE a.campaign_id = "
    "ci.campaign_id AND a.item_id = ci.item_id AND a.annotator_id != ? AND (a.done = 1 OR a.expires > ?)) < ?)"
)


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS, k=st.integers(1, 2), overlap=st.sampled_from(["fill", "spread"]))
def test_no_sequence_of_save_edit_undo_back_expiry_and_reload_passes_k(tmp_path_factory, ops, k, overlap):
    s = _store(tmp_path_factory.mktemp("k") / "k.sqlite")
    try:
        cid = s.create_campaign("prop", [(f"item-{i}", "item") for i in range(N_ITEMS)], k=k, overlap=overlap)
        ids = {n: s.annotator(n).id for n in ANNOTATORS}
        shown: dict[str, str | None] = dict.fromkeys(ANNOTATORS)  # the item each annotator's form shows
        history: dict[str, list[str]] = {n: [] for n in ANNOTATORS}
        for op, who, value in ops:
            name = ANNOTATORS[who]
            if op in ("claim", "claim-expired"):
                clock = time.time() - 2 * CLAIM_TTL_S if op == "claim-expired" else None
                shown[name] = s.claim(cid, ids[name], clock=clock) or shown[name]
            elif op in ("save", "save-again") and shown[name]:
                try:
                    s.rate(name, shown[name], value, 6 - value, campaign_id=cid)
                    history[name].append(shown[name])
                except StoreError as exc:
                    assert "raters" in str(exc)
            elif op == "undo":
                s.undo_last(name)  # the form keeps showing what it showed
            elif op == "back" and history[name]:
                shown[name] = history[name][-1]
            elif op == "skip" and shown[name]:
                s.release(cid, ids[name], shown[name])
                shown[name] = None
            # "reload": the form comes back with the same item, which is the state already held
            assert max(_per_item(s, cid).values(), default=0) <= k
            now = time.time()
            for n in ANNOTATORS:
                left = s.db.execute(_LEFT_ORACLE, [cid, ids[n], ids[n], now, k]).fetchone()[0]
                mine = s.annotator_progress(cid, ids[n], clock=now)
                assert mine["assigned"] - mine["done"] == left, (n, mine, left)
            team = s.campaign_progress(cid, per_annotator=False)
            assert team["complete"] == sum(1 for v in _per_item(s, cid).values() if v >= k)
            assert team["ratings"] == sum(_per_item(s, cid).values())
    finally:
        s.close()


# -- overlap between annotators -----------------------------------------------------------------


@pytest.mark.parametrize("interleaved", [True, False])
def test_a_k2_pilot_that_fills_gets_ten_doubly_rated_items_from_ten_ratings_each(tmp_path, interleaved):
    s = Store(tmp_path / "pilot.sqlite")
    s.upsert_items({"id": f"d{i}", "source": "t", "text": "t"} for i in range(100))
    ana, ben = s.add_annotator("ana"), s.add_annotator("ben")
    cid = s.create_campaign("pilot", [(f"d{i}", "item") for i in range(100)], k=2)  # new campaigns fill by default
    order = [ana, ben] * 10 if interleaved else [ana] * 10 + [ben] * 10
    for who in order:
        s.rate(who.name, s.claim(cid, who.id), 3, 2, campaign_id=cid)
    assert sum(1 for v in _per_item(s, cid).values() if v == 2) == 10
    spread = s.create_campaign("spread", [(f"d{i}", "item") for i in range(100)], k=2, overlap="spread")
    for who in order:
        s.rate(who.name, s.claim(spread, who.id), 3, 2, campaign_id=spread)
    assert sum(1 for v in _per_item(s, spread).values() if v == 2) < 10  # what pilots got before
    s.close()


def test_fill_sends_annotators_to_an_item_others_are_rating_until_its_k_places_are_held(tmp_path):
    """With nothing rated yet, fill's next place is an item someone else holds (read from the open claims), until k hold it."""
    s = Store(tmp_path / "fill.sqlite")
    s.upsert_items({"id": f"d{i}", "source": "t", "text": "t"} for i in range(50))
    people = [s.add_annotator(n) for n in ("ana", "ben", "cy", "dee")]
    cid = s.create_campaign("fill", [(f"d{i}", "item") for i in range(50)], k=3)
    first = s.claim(cid, people[0].id)
    assert [s.claim(cid, p.id) for p in people[1:3]] == [first, first]  # the 2nd and 3rd places of the item in progress
    fourth = s.claim(cid, people[3].id)
    assert fourth != first  # its 3 places are held: a new item
    s.rate("ana", first, 3, 2, campaign_id=cid)
    assert s.claim(cid, people[0].id) == fourth  # ana, done with hers, joins the one dee holds
    s.close()


def test_an_overlap_subset_is_rated_by_everyone_and_the_rest_by_k(tmp_path):
    s = Store(tmp_path / "subset.sqlite")
    s.upsert_items({"id": f"d{i}", "source": "t", "text": "t"} for i in range(12))
    people = [s.add_annotator(n) for n in ("a", "b", "c", "d")]
    with pytest.raises(StoreError, match="overlap subset"):
        s.create_campaign("bad", [(f"d{i}", "item") for i in range(12)], k=1, overlap="subset", subset=0)
    cid = s.create_campaign("sub", [(f"d{i}", "item") for i in range(12)], k=1, overlap="subset", subset=3)
    for who in people:
        while (item := s.claim(cid, who.id)) is not None:
            s.rate(who.name, item, 3, 2, campaign_id=cid)
    per = _per_item(s, cid)
    assert [per[f"d{i}"] for i in range(3)] == [4, 4, 4] and all(per[f"d{i}"] == 1 for i in range(3, 12))


def test_seconds_on_an_item_count_from_when_it_was_on_screen_not_from_the_claim(tiny_studio):
    from empathy_studio.services import CampaignRequest

    root, ana = tiny_studio.annotation.login("root", "pw"), tiny_studio.annotation.login("ana", "pw")
    tiny_studio.create_campaign(root, CampaignRequest(name="timed", k=1, source="ids", ids="demo-1 demo-2"))
    cid = tiny_studio.store.campaign("timed")["id"]
    item = tiny_studio.store.claim(cid, ana.id, clock=time.time() - 100)  # claimed at sign-in, 100 s before the item was on screen
    tiny_studio.rating_view(ana, item, "timed")
    saved = tiny_studio.annotation.rate(ana, item, 3, 2, campaign="timed")
    rating = tiny_studio.store.ratings(annotator="ana", item_id=item, campaign_id=cid)[0]
    assert saved["status"] == "created" and 0 <= rating["seconds_on_item"] < 30


# -- creation never overwrites ----------------------------------------------------------


def _dialogues(text: str, n: int = 3) -> list[dict]:
    return [
        {
            "emotion_type": "sadness",
            "problem_type": "p",
            "situation": "s",
            "dialogue_id": f"d{i}",
            "survey_score": {"seeker": {"initial_emotion_intensity": "4", "final_emotion_intensity": "2"}},
            "dialog": [{"speaker": "seeker", "content": f"{text} {i}"}, {"speaker": "supporter", "content": "I hear you."}],
        }
        for i in range(n)
    ]


def test_creating_a_campaign_under_an_existing_name_changes_none_of_its_items(tiny_studio, tmp_path):
    from empathy_studio.services import CampaignRequest

    root = tiny_studio.annotation.login("root", "pw")
    first, other = tmp_path / "first.json", tmp_path / "other.json"
    first.write_text(json.dumps(_dialogues("the first file")))
    other.write_text(json.dumps(_dialogues("a different file")))
    tiny_studio.create_campaign(root, CampaignRequest(name="pilot", source="file", file=str(first)))
    before = [tiny_studio.store.item(f"pilot:d{i}") for i in range(3)]
    with pytest.raises(StoreError, match="exists already"):
        tiny_studio.create_campaign(root, CampaignRequest(name="pilot", source="file", file=str(other)))
    assert [tiny_studio.store.item(f"pilot:d{i}") for i in range(3)] == before
    assert before[0]["text"].startswith("the first file")


def test_a_campaign_on_a_database_no_server_opened_syncs_its_dialogues(settings):
    from empathy_studio.data import DEMO_PATH
    from empathy_studio.services import CampaignRequest, Studio

    studio = Studio(settings.replace(esconv_file=DEMO_PATH))  # never started: the items table is empty
    root = studio.add_annotator("root", "admin", "pw")
    studio.create_campaign(root, CampaignRequest(name="fresh", source="ids", ids="demo-0 demo-1", k=1))
    assert studio.store.campaign_item_ids(studio.store.campaign("fresh")["id"]) == ["demo-0", "demo-1"]
    studio.store.close()


# -- only the server creates the database ---------------------------------------------------


def test_a_child_never_creates_the_database(tmp_path):
    path = tmp_path / "db" / "studio.sqlite"
    with pytest.raises(StoreError, match="only the server creates it"):
        Store(path, create=False)
    assert not path.exists()
    env = {
        **os.environ,
        "EMPATHY_STUDIO_DB_PATH": str(path),
        "EMPATHY_STUDIO_MODELS_DIR": str(tmp_path / "models"),
        "EMPATHY_STUDIO_SERVER_PID": str(os.getpid()),
    }
    out = subprocess.run(
        [sys.executable, "-m", "empathy_studio.cli", "warm", "--model", "minilm-quick"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert out.returncode == 2 and "only the server creates it" in out.stderr
    assert not path.exists()


def test_a_warm_child_whose_server_died_while_it_started_leaves_at_once(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid that is no longer our parent: the server died before the child looked
    script = (
        "import threading; from empathy_studio.jobs import exit_with_parent; "
        f"exit_with_parent({dead.pid}, every=0.1); threading.Event().wait(60)"
    )  # idle until the watch ends it
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60, cwd=ROOT)
    assert out.returncode == 143 and time.monotonic() - t0 < 30


def test_an_empty_database_does_not_stop_the_snapshot_restore(tmp_path):
    from empathy_studio.persistence import FolderTarget, restore_if_missing

    live = tmp_path / "live.sqlite"
    s = Store(live)
    s.add_annotator("ana", "annotator", "pw")
    s.upsert_items([{"id": "x", "source": "t", "text": "t"}])
    s.rate("ana", "x", 4, 2)
    remote = FolderTarget(tmp_path / "remote")
    remote.upload(s.backup(tmp_path / "copy.sqlite"))
    s.close()

    path = tmp_path / "db" / "studio.sqlite"
    Store(path).close()  # what an orphaned child used to leave: migrated, and nothing anyone made
    assert is_empty_database(path) and is_empty_database(tmp_path / "none.sqlite")
    assert restore_if_missing(path, remote)
    restored = Store(path)
    assert [(r["annotator"], r["initial"]) for r in restored.ratings()] == [("ana", 4)]
    restored.close()
    assert not is_empty_database(path) and not restore_if_missing(path, remote)  # a database with ratings is never replaced
    assert list(path.parent.glob("studio.sqlite.empty-*"))  # the empty file was moved aside, not deleted


# -- the CLI: one line and exit 2, nothing written ----------------------------------------------


def _cli(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    from empathy_studio.data import DEMO_PATH

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "EMPATHY_STUDIO_ESCONV": str(DEMO_PATH)}
    return subprocess.run(
        [sys.executable, "-m", "empathy_studio.cli", *args, "--db", str(tmp_path / "cli.sqlite"), "--models-dir", str(tmp_path / "models")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )


def test_cli_small_inputs_are_one_line_and_exit_2(tmp_path):
    empty = tmp_path / "pairs.jsonl"
    empty.write_text("")
    res = _cli(
        "score",
        "--task",
        "empathy",
        "--model",
        "minilm-rater-quick",
        "--input",
        str(empty),
        "--output",
        str(tmp_path / "o.parquet"),
        tmp_path=tmp_path,
    )
    assert res.returncode == 2 and "the file is empty" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o.parquet").exists() and not (tmp_path / "models").exists()  # refused before any model was built
    for out, message in ((tmp_path, "is a folder"), (empty / "x.csv", "cannot write the export")):
        res = _cli("ratings", "export", "--format", "csv", "--out", str(out), tmp_path=tmp_path)
        assert res.returncode == 2 and message in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    res = _cli("campaigns", "create", "--name", "zero", "--limit", "0", tmp_path=tmp_path)
    assert res.returncode == 2 and "limit must be an integer from 1" in res.stderr


def test_cli_creates_a_campaign_on_a_database_no_server_opened(tmp_path):
    res = _cli(
        "campaigns", "create", "--name", "fresh", "--source", "ids", "--ids", "demo-0,demo-1", "--k", "1", "--json", tmp_path=tmp_path
    )
    assert res.returncode == 0, res.stderr
    assert [r["items"] for r in json.loads(res.stdout) if r["name"] == "fresh"] == [2]
