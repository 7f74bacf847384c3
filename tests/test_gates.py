"""Raters you can trust, through `Studio`: qualification with feedback and a pass rule, enforced where items are claimed;
attention gates that warn, pause and are reinstated; each rater's quality with flags; drift; exclusions from releases."""

from __future__ import annotations

import pytest

from empathy_studio.errors import ConfigError, InputError, NotFound, PermissionDenied
from empathy_studio.services import CampaignRequest, ReleaseRequest


def _ids(s, split):
    return [d.dialogue_id for d in s.esconv.splits[split]]


@pytest.fixture
def gated(tiny_studio):
    s = tiny_studio
    root = s.annotation.login("root", "pw")
    train, test = _ids(s, "train"), _ids(s, "test")
    s.create_campaign(root, CampaignRequest(name="gated", k=2, source="ids", ids=" ".join(train[:6]), blind=True))
    return s, root, train, test


def _answer_right(s, who, camp, item_id):
    item = s.store.item(item_id)
    return s.practice_answer(who, camp, item_id, {"initial": round(item["gold_initial"]), "final": round(item["gold_final"])})


def _answer_wrong(s, who, camp, item_id):
    item = s.store.item(item_id)
    far = lambda g: 1 if g >= 3 else 5  # noqa: E731
    return s.practice_answer(who, camp, item_id, {"initial": far(item["gold_initial"]), "final": far(item["gold_final"])})


def test_qualification_gates_claims_gives_feedback_and_lets_a_second_attempt_pass(gated):
    s, root, train, test = gated
    practice = test[:2]
    s.set_rater_gates(root, "gated", {"items": practice, "rule": "within-one", "threshold": 1.0, "attempts": 2, "on_fail": "retry"})
    ana = s.annotation.login("ana", "pw")
    with pytest.raises(PermissionDenied, match="qualification of this campaign comes first"):
        s.annotation.next_in(ana, "gated")
    view = s.practice_view(ana, "gated")
    assert view["required"] and view["item"]["item_id"] == practice[0] and "gold" not in str(view["item"])
    res = _answer_wrong(s, ana, "gated", practice[0])
    assert "does not agree" in res["feedback"] and "Within one point counts as agreeing" in res["feedback"]
    res = _answer_right(s, ana, "gated", practice[1])
    assert "Attempt 2 of 2 starts now" in res["note"]
    with pytest.raises(PermissionDenied):
        s.annotation.next_in(ana, "gated")
    with pytest.raises(InputError, match="practice item now is"):
        _answer_right(s, ana, "gated", practice[1])
    _answer_right(s, ana, "gated", practice[0])
    assert "passed" in _answer_right(s, ana, "gated", practice[1])["note"]
    assert s.annotation.next_in(ana, "gated") in train[:6]
    assert s.store.ratings(annotator="ana") == []  # practice ratings are kept apart from the study's


def test_exit_on_failure_blocks_with_the_reason(gated):
    s, root, train, test = gated
    s.set_rater_gates(root, "gated", {"items": test[:1], "rule": "exact", "threshold": 1.0, "attempts": 3, "on_fail": "exit"})
    ana = s.annotation.login("ana", "pw")
    _answer_wrong(s, ana, "gated", test[0])
    with pytest.raises(PermissionDenied, match="no attempts left"):
        s.annotation.next_in(ana, "gated")
    with pytest.raises(InputError, match="no attempts left"):
        _answer_right(s, ana, "gated", test[0])


def test_bad_gates_are_refused_and_write_nothing(gated):
    s, root, train, test = gated
    before = len(s.store.audit_log())
    for q, a, message in (
        ({"items": [], "rule": "exact"}, None, "needs practice items"),
        ({"items": test[:1], "threshold": 1.5}, None, "threshold"),
        ({"items": test[:1], "attempts": 0}, None, "attempts"),
        ({"items": [train[0]]}, None, "an item of the campaign itself"),
        ({"items": ["nope"]}, None, "not a dialogue"),
        (None, {"warn_after": 3, "pause_after": 2}, "pause comes after the warning"),
        (None, {"warn_after": 0, "pause_after": 2}, "warn_after"),
    ):
        with pytest.raises((ConfigError, InputError, NotFound), match=message):
            s.set_rater_gates(root, "gated", q, a)
    with pytest.raises(ConfigError, match="rushed threshold"):
        s.set_rater_gates(root, "gated", None, None, {"rushed_seconds": -1})
    with pytest.raises(PermissionDenied):
        s.set_rater_gates(s.annotation.login("ana", "pw"), "gated", None, {"warn_after": 1, "pause_after": 2})
    with pytest.raises(InputError, match="is not paused"):
        s.reinstate(root, "gated", "ana")
    with pytest.raises(NotFound, match="has no ratings"):
        s.exclude_rater(root, "gated", "ghost", "never rated")
    assert s.store.gates(s.store.campaign("gated")["id"]) == (None, None) and len(s.store.audit_log()) == before


def test_missed_gold_checks_warn_then_pause_and_an_admin_reinstates(tiny_studio):
    s = tiny_studio
    root, ana = s.annotation.login("root", "pw"), s.annotation.login("ana", "pw")
    train = _ids(s, "train")
    cid = s.store.create_campaign("attentive", [(i, "gold") for i in train[:4]] + [(i, "item") for i in train[4:8]], k=1, blind=True)
    s.set_rater_gates(root, "attentive", None, {"warn_after": 1, "pause_after": 2})
    golds = [s.store.item(i) for i in train[:4]]
    far = lambda g: 1 if g >= 3 else 5  # noqa: E731
    assert (
        s.annotation.rate(ana, golds[0]["id"], round(golds[0]["gold_initial"]), round(golds[0]["gold_final"]), campaign="attentive")[
            "attention"
        ]
        is None
    )
    warned = s.annotation.rate(ana, golds[1]["id"], far(golds[1]["gold_initial"]), 3, campaign="attentive")["attention"]
    assert "Attention check missed" in warned and "expected answer was initial" in warned
    paused = s.annotation.rate(ana, golds[2]["id"], far(golds[2]["gold_initial"]), 3, campaign="attentive")["attention"]
    assert paused.startswith("Paused")
    with pytest.raises(PermissionDenied, match="paused after missed attention checks"):
        s.annotation.next_in(ana, "attentive")
    s.reinstate(root, "attentive", "ana")
    assert s.annotation.next_in(ana, "attentive") is not None
    actions = [r["action"] for r in s.audit_log(root, None)]
    assert {"annotator warned", "annotator paused", "annotator reinstated", "rater gates set"} <= set(actions)
    assert s.store.standing(cid, ana.id)["paused"] is False


def test_the_quality_view_flags_a_straight_liner_and_an_exclusion_leaves_a_release(tiny_studio):
    s = tiny_studio
    root = s.annotation.login("root", "pw")
    for name in ("ben", "cleo", "dan"):
        s.store.add_annotator(name, "annotator", "pw")
    items = _ids(s, "train")[:14]
    s.create_campaign(root, CampaignRequest(name="quality", k=4, source="ids", ids=" ".join(items), blind=False))
    for name in ("ana", "ben", "cleo", "dan"):
        who = s.annotation.login(name, "pw")
        for i, item_id in enumerate(items):
            gold = s.store.item(item_id)
            if name == "dan":
                v = 3  # a straight-liner
            else:
                v = int(min(5, max(1, round(gold["gold_initial"]) + (i + len(name)) % 3 - 1)))
            s.annotation.rate(who, item_id, v, v, campaign="quality")
    report = {r["annotator"]: r for r in s.rater_quality(root, "quality")["raters"]}
    assert any(f.startswith("straight-lining") for f in report["dan"]["flags"])
    assert report["dan"]["longest_run"] == 14 and report["dan"]["distribution"] == {"3": 14}
    assert not any(f.startswith("straight-lining") for n in ("ana", "ben", "cleo") for f in report[n]["flags"])
    assert report["ana"]["bias"]["n"] == 14 and report["ana"]["items"] == 14
    drift = s.drift(root, "quality", batch=7)
    assert [b["items"] for b in drift["batches"]] == [7, 7] and len(drift["raters"]["dan"]) == 2
    with pytest.raises(PermissionDenied):
        s.rater_quality(s.annotation.login("ana", "pw"), "quality")
    s.exclude_rater(root, "quality", "dan", "straight-lining")
    rel = s.create_release(root, ReleaseRequest("without-dan", ["quality"], "median"))
    assert rel["summary"]["excluded_raters"] == {"quality": ["dan"]} and rel["summary"]["n_raters"] == 3
    assert all(label["initial"]["n"] == 3 for label in (it["labels"] for it in s.store.release_items(rel["id"])))
    assert len(s.rater_ratings(root, "quality", "dan")) == 14  # excluded, never deleted


def test_empathy_practice_compares_levels_exactly_and_a_qwk_rule_scores_an_attempt():
    from empathy_studio.study.qualification import Qualification, agrees, feedback, reference_of, standing

    pair = {"id": "p1", "post": "I lost my job", "text": "That sounds hard. What happened?", "gold_levels": "[1, 0, 2]"}
    ref = reference_of(pair, "empathy")
    assert ref == {"emotional_reactions": 1, "interpretations": 0, "explorations": 2}
    assert agrees(ref, ref) and not agrees({**ref, "explorations": 1}, ref)  # levels are exact, not within one
    assert "EPITOME's gold" in feedback({**ref, "explorations": 1}, ref, "empathy") and "does not agree" in feedback(
        {**ref, "explorations": 1}, ref, "empathy"
    )
    assert reference_of({"gold_initial": None, "gold_final": 2.0}, "intensity") is None
    assert reference_of({"gold_initial": 4.0, "gold_final": 2.0}, "intensity", {"initial": 5, "final": 1}) == {"initial": 5, "final": 1}
    q = Qualification(("a", "b", "c"), rule="qwk", threshold=0.5, attempts=1, on_fail="exit")
    rows = [
        {"item_id": i, "attempt": 1, "vals": {"initial": v, "final": v}, "reference": {"initial": r, "final": r}}
        for i, v, r in (("a", 1, 1), ("b", 3, 3), ("c", 5, 4))
    ]
    assert standing(q, rows)["passed"]
    rows[2]["vals"] = {"initial": 1, "final": 1}
    state = standing(q, rows)
    assert not state["passed"] and "no attempts left" in state["blocked"]
