"""Annotation use cases: roles at the API level, the queue orders, agreement from the store, import and export."""

from __future__ import annotations

import json

import pytest

from empathy_studio.data import DEMO_PATH
from empathy_studio.services import Studio
from empathy_studio.store import PermissionDenied, StoreError


@pytest.fixture
def studio(settings):
    s = Studio(settings.replace(esconv_file=DEMO_PATH))
    s.sync_items()
    s.store.add_annotator("ana", "annotator", "pw")
    s.store.add_annotator("ben", "annotator", "pw")
    s.store.add_annotator("root", "admin", "pw")
    yield s
    s.store.close()


def test_login_and_roles(studio, tmp_path):
    ann = studio.annotation
    ana, root = ann.login("ana", "pw"), ann.login("root", "pw")
    with pytest.raises(PermissionDenied):
        ann.login("ana", "wrong")
    with pytest.raises(PermissionDenied, match="sign in"):
        ann.rate(None, "demo-0", 3, 2)
    for call in (
        lambda who: ann.export(who, tmp_path / "x.csv"),
        lambda who: ann.set_queue_order(who, "random"),
        lambda who: ann.add_annotator(who, "eve", "annotator", "pw"),
        lambda who: ann.all_ratings(who),
        lambda who: studio.jobs.submit(who, {"model": "minilm"}),
    ):
        with pytest.raises(PermissionDenied):
            call(ana)
        with pytest.raises(PermissionDenied):
            call(None)
    ann.set_queue_order(root, "disagreement")
    assert ann.queue_order() == "disagreement"


def test_annotators_see_only_their_own_ratings(studio):
    ann = studio.annotation
    ana, ben = ann.login("ana", "pw"), ann.login("ben", "pw")
    ann.rate(ana, "demo-0", 4, 2)
    ann.rate(ben, "demo-1", 3, 3)
    assert [r["item_id"] for r in ann.my_ratings(ana)] == ["demo-0"]
    assert ann.progress(ana)["done"] == 1 and ann.progress(ana)["complete"] == 2
    ann.rate(ana, "demo-1", 2, 2)  # a second rating of an item counts once among the team's items
    total = len(studio.store.item_ids())
    assert ann.progress(ana) == {"done": 2, "assigned": total, "complete": 2, "items": total, "team_ratings": 3, "k": None}


def test_queue_skips_rated_items_and_orders_by_disagreement(studio):
    ann = studio.annotation
    ana, ben, root = ann.login("ana", "pw"), ann.login("ben", "pw"), ann.login("root", "pw")
    first = ann.next_item(ana)["id"]
    ann.rate(ana, first, 3, 2)
    assert first not in ann.queue(ana)
    ann.rate(ana, "demo-5", 1, 1)
    ann.rate(ben, "demo-5", 5, 1)
    ann.rate(ben, "demo-6", 3, 1)
    ann.rate(root, "demo-6", 3, 1)
    ann.set_queue_order(root, "disagreement")
    assert ann.queue(root)[0] == "demo-5"


def test_uncertainty_queue_reads_cached_predictions(studio):
    ann = studio.annotation
    root = ann.login("root", "pw")
    flat = {e: 1 / 7 for e in ("anger", "anxiety", "depression", "disgust", "fear", "sadness", "shame")}
    sure = {**{e: 0.0 for e in flat}, "anger": 1.0}
    studio.store.cache_predictions("m", [("demo-3", "h", {"probs": sure}), ("demo-9", "h", {"probs": flat})])
    ann.set_queue_order(root, "uncertainty")
    studio.store.set_setting("queue_model", "m")
    q = ann.queue(root)
    assert q[0] == "demo-9" and q.index("demo-3") == 1


def test_agreement_report_from_the_store(studio):
    ann = studio.annotation
    ana, ben = ann.login("ana", "pw"), ann.login("ben", "pw")
    for i in range(12):
        ann.rate(ana, f"demo-{i}", 1 + i % 5, 1 + i % 3)
        ann.rate(ben, f"demo-{i}", 1 + i % 5, 1 + (i + 1) % 3)
    rep = ann.agreement(n_boot=20)
    assert rep["initial"]["alpha_interval"] == pytest.approx(1.0) and rep["final"]["alpha_interval"] < 0.5
    assert rep["initial"]["icc2_1"] == pytest.approx(1.0)
    assert rep["initial"]["pairwise_qwk"][0]["qwk"] == pytest.approx(1.0)
    assert rep["initial"]["annotators"]["ana"]["vs_gold"]["n"] == 12
    assert set(rep["per_emotion"]) <= {"anger", "anxiety", "depression", "disgust", "fear", "sadness", "shame"}


@pytest.mark.parametrize("fmt, suffix", [("csv", ".csv"), ("jsonl", ".jsonl")])
def test_export_import_round_trip_into_a_fresh_database(studio, settings, tmp_path, fmt, suffix):
    ann = studio.annotation
    root, ana = ann.login("root", "pw"), ann.login("ana", "pw")
    ann.rate(ana, "demo-0", 4, 2, emotion="anxiety", confidence=4, note='quote " and, comma\nnewline', turn_intensities=[5, 4])
    ann.rate(root, "demo-1", 2, 1)
    path = tmp_path / f"ratings{suffix}"
    assert ann.export(root, path, fmt) == 2
    fresh = Studio(settings.replace(db_path=tmp_path / "fresh.sqlite", esconv_file=DEMO_PATH))
    fresh.sync_items()
    fresh.store.add_annotator("admin2", "admin", "pw")
    report = fresh.annotation.import_(fresh.annotation.login("admin2", "pw"), path, create_annotators=True)
    assert report["written"] == 2 and report["rejected"] == []
    keys = ("annotator", "item_id", "initial", "final", "emotion", "confidence", "note", "turn_intensities")
    assert [{k: r[k] for k in keys} for r in fresh.store.ratings()] == [{k: r[k] for k in keys} for r in studio.store.ratings()]
    fresh.store.close()


def test_hf_export_saves_a_dataset(studio, tmp_path):
    from datasets import load_from_disk

    root = studio.annotation.login("root", "pw")
    studio.annotation.rate(root, "demo-2", 3, 2)
    studio.annotation.export(root, tmp_path / "hf", "hf")
    ds = load_from_disk(str(tmp_path / "hf"))
    assert ds.num_rows == 1 and ds[0]["item_id"] == "demo-2"


def test_import_dry_run_reports_and_writes_nothing(studio, tmp_path):
    path = tmp_path / "in.jsonl"
    rows = [
        {"annotator": "ana", "item_id": "demo-0", "initial": 3, "final": 2},
        {"annotator": "ana", "item_id": "demo-1", "initial": 9, "final": 2},
        {"annotator": "ana", "item_id": "nope", "initial": 3, "final": 2},
        {"annotator": "ghost", "item_id": "demo-1", "initial": 3, "final": 2},
        {"annotator": "ana", "item_id": "demo-2", "initial": 3, "final": 2, "emotion": "joy"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    root = studio.annotation.login("root", "pw")
    report = studio.annotation.import_(root, path, dry_run=True)
    assert report["ok"] == 1 and report["written"] == 0 and studio.store.count_ratings() == 0
    reasons = [r["reason"] for r in report["rejected"]]
    assert "initial intensity" in reasons[0] and "unknown item" in reasons[1] and "unknown annotator" in reasons[2] and "joy" in reasons[3]
    assert studio.annotation.import_(root, path)["written"] == 1


def test_import_of_a_broken_file_rejects_the_bad_lines_and_keeps_the_good(studio, tmp_path):
    bad = tmp_path / "bad.jsonl"
    deep = "[" * 200_000 + "]" * 200_000
    bad.write_text(json.dumps({"annotator": "ana", "item_id": "demo-0", "initial": 3, "final": 2}) + "\n{oops\n" + deep + "\n")
    report = studio.annotation.import_(studio.annotation.login("root", "pw"), bad)
    assert [(r["row"], r["reason"]) for r in report["rejected"]] == [
        (2, "line 2: not valid JSON (Expecting property name enclosed in double quotes)"),
        (3, "line 3: nested too deeply"),
    ]
    assert report["written"] == 1 and studio.store.count_ratings() == 1
    with pytest.raises(StoreError, match="file not found"):
        studio.annotation.import_(studio.annotation.login("root", "pw"), tmp_path / "missing.csv")


def test_oauth_profile_becomes_an_annotator_once(studio):
    first = studio.annotation.oauth_login("hf-user")
    again = studio.annotation.oauth_login("hf-user")
    assert first == again and first.role == "annotator"
    studio.annotation.rate(again, "demo-0", 2, 1)
    assert studio.annotation.my_ratings(first)[0]["item_id"] == "demo-0"


def test_dry_run_with_new_annotators_still_checks_every_other_field(studio, tmp_path):
    path = tmp_path / "new.jsonl"
    path.write_text(
        json.dumps({"annotator": "newbie", "item_id": "demo-0", "initial": 7, "final": 2})
        + "\n"
        + json.dumps({"annotator": "newbie", "item_id": "demo-1", "initial": 3, "final": 2})
    )
    report = studio.annotation.import_(studio.annotation.login("root", "pw"), path, dry_run=True, create_annotators=True)
    assert report["ok"] == 1 and "initial intensity" in report["rejected"][0]["reason"]
    assert studio.store.annotator("newbie") is None  # a dry run creates nobody
