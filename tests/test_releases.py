"""From ratings to a release: the reviewer role, the adjudication queue, consensus with provenance, immutable releases with
their dataset card, lineage into training, guideline versions and the append-only audit log (through `Studio`)."""

from __future__ import annotations

import json
import sqlite3

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from empathy_studio.errors import ConfigError, InputError, NotFound, PermissionDenied, StoreError
from empathy_studio.services import AdjudicationRequest, CampaignRequest, ReleaseRequest
from empathy_studio.study.adjudication import DEFAULT_THRESHOLDS, disagreement, thresholds


@pytest.fixture
def study(tiny_studio):
    """A k = 2 intensity campaign over three training dialogues of the demo set, rated by two annotators who disagree on one."""
    s = tiny_studio
    root = s.annotation.login("root", "pw")
    s.store.add_annotator("ben", "annotator", "pw")
    s.store.add_annotator("rev", "reviewer", "pw")
    s.store.add_annotator("rev2", "reviewer", "pw")
    train = [d.dialogue_id for d in s.esconv.splits["train"]][:3]
    s.create_campaign(
        root, CampaignRequest(name="pilot", k=2, source="ids", ids=" ".join(train), blind=True, scales=["initial", "final", "emotion"])
    )
    ana, ben = s.annotation.login("ana", "pw"), s.annotation.login("ben", "pw")
    values = {
        train[0]: ((5, 1, "anxiety"), (2, 1, "anxiety")),
        train[1]: ((3, 3, "sadness"), (3, 4, "sadness")),
        train[2]: ((2, 2, "anger"), (2, 2, "fear")),
    }
    for item, (a, b) in values.items():
        s.annotation.rate(ana, item, a[0], a[1], campaign="pilot", emotion=a[2])
        s.annotation.rate(ben, item, b[0], b[1], campaign="pilot", emotion=b[2])
    return s, root, train


def login(s, name):
    return s.annotation.login(name, "pw")


def test_the_queue_holds_what_disagrees_past_the_thresholds_most_apart_first(study):
    s, root, train = study
    queue = s.review_queue(login(s, "rev"), "pilot")
    assert [q["item_id"] for q in queue] == [train[0], train[2]]  # a range of 3 on initial, then no emotion majority; 3 vs 4 agrees enough
    assert queue[0]["scales"] == "initial" and queue[1]["scales"] == "emotion"
    view = s.review_item(login(s, "rev"), "pilot", train[0])
    assert [r["rater"] for r in view["ratings"]] == ["Rater A", "Rater B"] and view["gold"] is None  # names hidden, gold hidden (blind)
    s.set_review_options(root, "pilot", {"intensity_range": 1, "emotion_majority": False}, 1, True)
    queue = s.review_queue(login(s, "rev"), "pilot")
    assert [q["item_id"] for q in queue] == [train[0], train[1]]
    assert s.review_item(login(s, "rev"), "pilot", train[0])["ratings"][0]["rater"] == "Rater A (ana)"


def test_roles_hold_below_the_page(study):
    s, root, train = study
    with pytest.raises(PermissionDenied):
        s.review_queue(login(s, "ana"), "pilot")
    with pytest.raises(PermissionDenied):
        s.adjudicate(login(s, "ana"), AdjudicationRequest("pilot", train[0], {"initial": 4}, "rater error"))
    with pytest.raises(PermissionDenied):
        s.create_release(login(s, "rev"), ReleaseRequest("r1", ["pilot"]))
    with pytest.raises(PermissionDenied):
        s.set_review_options(login(s, "rev"), "pilot", {}, 1, False)
    with pytest.raises(PermissionDenied):
        s.audit_log(login(s, "rev"))
    with pytest.raises(PermissionDenied):
        s.annotation.add_annotator(login(s, "rev"), "eve", "admin", "pw")


def test_bad_adjudications_are_refused_and_write_nothing(study):
    s, root, train = study
    rev = login(s, "rev")
    before = len(s.store.audit_log())
    cases = [
        (AdjudicationRequest("pilot", train[1], {"initial": 3}, "rater error"), "not in the review queue"),
        (AdjudicationRequest("pilot", train[0], {"confidence": 3, "initial": 4}, "rater error"), "does not ask"),
        (AdjudicationRequest("pilot", train[0], {"initial": 6}, "rater error"), "must be one of 1, 2, 3, 4, 5"),
        (AdjudicationRequest("pilot", train[0], {"initial": 2.5}, "rater error"), "must be one of"),
        (AdjudicationRequest("pilot", train[0], {"final": 1}, "rater error"), "set a final value for initial"),
        (AdjudicationRequest("pilot", train[0], {"initial": 4}, "other"), "say why"),
    ]
    for req, message in cases:
        with pytest.raises((InputError, StoreError), match=message):
            s.adjudicate(rev, req)
    with pytest.raises(InputError, match="reason"):
        AdjudicationRequest("pilot", train[0], {"initial": 4}, "because")
    assert s.store.adjudications(s.store.campaign("pilot")["id"]) == [] and len(s.store.audit_log()) == before


def test_an_adjudication_settles_the_item_and_keeps_what_it_replaced(study):
    s, root, train = study
    res = s.adjudicate(login(s, "rev"), AdjudicationRequest("pilot", train[0], {"initial": 4}, "rater error"))
    assert res["status"] == "adjudicated"
    assert [q["item_id"] for q in s.review_queue(login(s, "rev"), "pilot")] == [train[2]]
    [adj] = s.store.adjudications(s.store.campaign("pilot")["id"], train[0])
    assert adj["reviewer"] == "rev" and adj["vals"] == {"initial": 4} and adj["created"]
    assert {r["annotator"]: r["initial"] for r in adj["replaced"]} == {"ana": 5, "ben": 2}


def test_two_reviewers_must_agree_when_the_campaign_asks_for_it(study):
    s, root, train = study
    s.set_review_options(root, "pilot", None, 2, False)
    first = s.adjudicate(login(s, "rev"), AdjudicationRequest("pilot", train[0], {"initial": 4}, "rater error"))
    assert first["status"] == "awaiting a second reviewer"
    with pytest.raises(InputError, match="second reviewer"):
        s.adjudicate(login(s, "rev"), AdjudicationRequest("pilot", train[0], {"initial": 4}, "rater error"))
    assert (
        s.adjudicate(login(s, "rev2"), AdjudicationRequest("pilot", train[0], {"initial": 3}, "ambiguous text"))["status"] != "adjudicated"
    )
    assert (
        s.adjudicate(login(s, "rev"), AdjudicationRequest("pilot", train[0], {"initial": 3}, "ambiguous text"))["status"] == "adjudicated"
    )


def test_a_release_has_provenance_a_card_a_hash_and_never_changes(study, tmp_path):
    s, root, train = study
    s.adjudicate(login(s, "rev"), AdjudicationRequest("pilot", train[0], {"initial": 4}, "rater error"))
    rel = s.create_release(root, ReleaseRequest("pilot-v1", ["pilot"], "median"))
    assert rel["id"].startswith("pilot-v1-") and len(rel["content_hash"]) == 64 and rel["n_items"] == 3
    labels = {it["item_id"]: it["labels"] for it in s.store.release_items(rel["id"])}
    assert labels[train[0]]["initial"] == {"value": 4, "source": "adjudicated", "n": 2, "spread": 3}
    assert labels[train[0]]["final"]["source"] == "unanimous"
    assert labels[train[1]]["final"]["source"] == "aggregated" and labels[train[1]]["final"]["value"] == 3.5  # 3 and 4, the median
    assert labels[train[2]]["emotion"]["source"] == "unresolved"  # anger vs fear, not settled
    shown = s.release(login(s, "rev"), rel["id"])
    for part in (
        "Content hash",
        rel["content_hash"],
        "## Provenance",
        "## Agreement",
        "95% CI",
        "non-commercial",
        "| initial | 2 | 0 | 1 | 0 | 0 |",
    ):
        assert part in shown["card"], part
    folder = s.release_folder(rel["id"])
    from datasets import load_from_disk

    rows = load_from_disk(str(folder / "dataset"))
    assert len(rows) == 3 and "consensus_initial" in rows.column_names and "source_emotion" in rows.column_names
    assert len((folder / "labels.jsonl").read_text().splitlines()) == 3 and (folder / "labels.csv").read_text().startswith(
        "campaign,item_id"
    )
    # training leaves the unresolved emotion out, keeps the item's settled intensities
    assert s.release_labels(rel["id"])[train[2]]["emotion"] is None
    # the same labels under the same name are the same release: refused, never rewritten
    with pytest.raises(StoreError, match="never changed"):
        s.create_release(root, ReleaseRequest("pilot-v1", ["pilot"], "median"))
    # a new one (after another adjudication) supersedes it
    s.adjudicate(login(s, "rev"), AdjudicationRequest("pilot", train[2], {"emotion": "fear"}, "guideline gap"))
    newer = s.create_release(root, ReleaseRequest("pilot-v2", ["pilot"], "median"))
    assert newer["supersedes"] == rel["id"] and s.store.release_row(rel["id"])["content_hash"] == rel["content_hash"]
    # nothing can edit or delete a release, an adjudication or the audit log, even with SQL
    con = sqlite3.connect(s.settings.db_path)
    for sql in (
        "UPDATE releases SET n_items = 0",
        "DELETE FROM releases",
        "UPDATE release_items SET labels = '{}'",
        "DELETE FROM adjudications",
        "UPDATE audit_log SET actor = 'x'",
        "DELETE FROM audit_log",
    ):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            con.execute(sql)
    con.close()
    # exported to a folder target (as the Hub push is, online), never over an existing copy
    where = s.export_release(root, rel["id"], f"file://{tmp_path / 'hub'}")
    assert (tmp_path / "hub" / rel["id"] / "README.md").read_text() == (folder / "README.md").read_text() and where.endswith(rel["id"])
    with pytest.raises(ConfigError, match="never overwritten"):
        s.export_release(root, rel["id"], f"file://{tmp_path / 'hub'}")


def test_bad_releases_are_refused_with_one_message(study):
    s, root, train = study
    s.create_campaign(root, CampaignRequest(name="empty", k=2, source="ids", ids=train[0], blind=False))
    for req, error, message in (
        (lambda: ReleaseRequest("r", ["empty"]), InputError, "has no ratings"),
        (lambda: ReleaseRequest("../etc", ["pilot"]), ConfigError, "not allowed"),
        (lambda: ReleaseRequest("r", []), InputError, "at least one campaign"),
        (lambda: ReleaseRequest("r", ["pilot"], "average"), ConfigError, "aggregation must be one of"),
    ):
        with pytest.raises(error, match=message):
            s.create_release(root, req())
    with pytest.raises(NotFound, match="unknown release"):
        s.release(root, "nope-123")
    assert s.store.releases() == []


def test_thresholds_out_of_range_are_refused_and_write_nothing(study):
    s, root, _ = study
    for bad in (
        {"intensity_range": 0},
        {"intensity_range": 5},
        {"level_range": 3},
        {"intensity_range": 1.5},
        {"emotion_majority": "yes"},
        {"speed": 1},
    ):
        with pytest.raises(ConfigError):
            s.set_review_options(root, "pilot", bad, 1, False)
    with pytest.raises(StoreError):
        s.set_review_options(root, "pilot", None, 3, False)
    assert s.store.campaign("pilot")["thresholds"] is None


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.integers(1, 5), min_size=2, max_size=6), limit=st.integers(1, 4))
def test_an_intensity_scale_is_in_dispute_exactly_when_its_range_reaches_the_threshold(values, limit):
    ratings = [{"initial": v} for v in values]
    assert ("initial" in disagreement(ratings, ["initial"], thresholds({"intensity_range": limit}))) == (max(values) - min(values) >= limit)


def test_guideline_versions_are_recorded_on_ratings_and_shown_as_a_change(study):
    s, root, train = study
    camp = s.store.campaign("pilot")
    assert {r["guideline_version"] for r in s.store.ratings(campaign_id=camp["id"])} == {1}
    assert s.edit_guidelines(root, "pilot", "Rate **the seeker's** words.\nIgnore typos.") == 2
    assert s.edit_guidelines(root, "pilot", "Rate **the seeker's** words.\nIgnore typos.") == 2  # no change, no version
    change = s.guideline_change(login(s, "ana"), "pilot", 1)
    assert change["from"] == 1 and change["to"] == 2 and "+Ignore typos." in change["diff"]
    assert s.guideline_change(login(s, "ana"), "pilot", 2) is None
    s.annotation.rate(login(s, "ana"), train[1], 4, 4, campaign="pilot", emotion="sadness")  # an edit, under version 2
    versions = {r["item_id"]: r["guideline_version"] for r in s.store.ratings(annotator="ana", campaign_id=camp["id"])}
    assert versions[train[1]] == 2 and versions[train[0]] == 1
    with pytest.raises(PermissionDenied):
        s.edit_guidelines(login(s, "rev"), "pilot", "x")
    assert s.campaign_agreement(root, "pilot", n_boot=0, guideline_version=1)["n_ratings"] == 5  # one rating moved to version 2
    assert s.campaign_agreement(root, "pilot", n_boot=0, guideline_version=2)["n_ratings"] == 1
    assert [q["item_id"] for q in s.review_queue(login(s, "rev"), "pilot", 1)] == [train[0], train[2]]
    assert s.review_queue(login(s, "rev"), "pilot", 2) == []  # one rating under version 2: nothing to compare
    only_v2 = s.create_release(root, ReleaseRequest("v2-only", ["pilot"], "median", guideline_version=2))
    assert only_v2["n_items"] == 1 and only_v2["campaigns"] == [{"name": "pilot", "guideline_version": 2}]


def test_the_audit_log_records_every_kind_of_change(study):
    s, root, train = study
    ana = login(s, "ana")
    s.annotation.rate(ana, train[1], 4, 3, campaign="pilot", emotion="sadness")
    s.store.undo_last("ana")
    s.adjudicate(login(s, "rev"), AdjudicationRequest("pilot", train[0], {"initial": 4}, "rater error"))
    s.create_release(root, ReleaseRequest("audited", ["pilot"], "median"))
    s.edit_guidelines(root, "pilot", "new words")
    s.set_campaign_active(root, "pilot", False)
    s.annotation.add_annotator(root, "ben", "reviewer", None)
    actions = [r["action"] for r in s.audit_log(root, None)]
    for action in (
        "rating created",
        "rating changed",
        "rating undone",
        "item adjudicated",
        "release created",
        "guidelines edited",
        "campaign created",
        "campaign closed",
        "role changed",
        "account created",
    ):
        assert action in actions, action
    change = next(r for r in s.audit_log(root, None) if r["action"] == "role changed")
    assert change["actor"] == "root" and json.loads(change["detail"]) == {"account": "ben", "old": "annotator", "new": "reviewer"}
    path = s.audit_export(root)
    assert path.read_text().splitlines()[0] == "id,at,actor,action,campaign,item_id,detail"


def test_training_on_a_release_records_it_and_a_rebuild_reads_the_same_rows(study):
    from empathy_studio.data import examples_hash
    from empathy_studio.training.request import TrainRequest

    s, root, train = study
    s.adjudicate(login(s, "rev"), AdjudicationRequest("pilot", train[0], {"initial": 4}, "rater error"))
    rel = s.create_release(root, ReleaseRequest("lineage", ["pilot"], "median"))
    with pytest.raises(ConfigError, match="--policy ratings or gold\\+ratings"):
        TrainRequest(model="tiny", release=rel["id"])
    manifest = s.train_and_register(
        TrainRequest(model="tiny", policy="gold+ratings", max_steps=2, max_length=32, batch_size=8, name="from-release")
    )
    assert manifest["release"]["id"] == rel["id"] and manifest["release"]["content_hash"] == rel["content_hash"]  # the latest, by default
    assert manifest["request"]["release"] == rel["id"]
    assert next(r for r in s.model_rows() if r["name"] == "from-release")["release"] == rel["id"]
    splits = s.finetune.training_set(TrainRequest.from_dict({**manifest["request"], "name": None})).splits
    assert examples_hash(splits["train"]) == manifest["data_hash"]  # the same training set from the manifest
    trained = {ex.item_id: ex for ex in splits["train"]}
    assert trained[train[0]].initial == 4.0  # the adjudicated value, not the raters' 5 and 2
    with pytest.raises(NotFound):
        s.finetune.training_set(TrainRequest(model="tiny", policy="ratings", release="gone-000000000000"))
    assert DEFAULT_THRESHOLDS["intensity_range"] == 2


def test_the_review_migration_carries_an_old_database_forward_with_its_history(tmp_path):
    import sqlite_utils

    from empathy_studio.store import MIGRATIONS, Store

    path = tmp_path / "old.sqlite"
    db = sqlite_utils.Database(path)
    db.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    db.execute("PRAGMA foreign_keys = ON")
    before = [m for m in MIGRATIONS if m[0] < "m012"]  # the schema as it was before reviewers and releases
    for name, fn in before:
        fn(db)
        db["migrations"].insert({"name": name, "applied_at": "2026-01-01"})
    db.execute(
        "INSERT INTO annotators (name, name_key, role, created) VALUES ('ana', 'ana', 'annotator', 'x'), ('root', 'root', 'admin', 'x')"
    )
    db.execute("INSERT INTO items (id, source, text) VALUES ('i1', 's', 't')")
    db.execute(
        "INSERT INTO ratings (annotator_id, item_id, initial, final, created, updated, campaign_id) VALUES (1, 'i1', 4, 2, 'x', 'x', 1)"
    )
    db.execute(
        "INSERT INTO rating_history (rating_id, changed_by, changed_at, old, new) VALUES (1, 1, 'x', NULL, '{\"initial\": 3}'), "
        "(1, 1, 'y', '{\"initial\": 3}', '{\"initial\": 4}')"
    )
    db.conn.commit()
    db.conn.close()
    s = Store(path)
    try:
        assert [(r["initial"], r["guideline_version"]) for r in s.ratings()] == [(4, 1)]
        assert len(s.rating_history(1)) == 2 and s.integrity_check() == "ok" and s.db.execute("PRAGMA foreign_key_check").fetchall() == []
        assert [(r["actor"], r["action"]) for r in reversed(s.audit_log())] == [("ana", "rating created"), ("ana", "rating changed")]
        assert [a.role for a in (s.annotator("ana"), s.annotator("root"))] == ["annotator", "admin"]
        s.add_annotator("rev", "reviewer", "pw")  # the new role fits the rebuilt table
        assert s.annotator("rev").is_reviewer and s.guideline_versions(1)[0]["version"] == 1
    finally:
        s.close()
