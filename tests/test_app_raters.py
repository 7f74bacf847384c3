"""The rater gates' endpoints through gradio_client: an annotator calling for items while unqualified or paused is refused
with the reason; practice answers; admins' gates, quality, exclusion and reinstatement, refused to everyone else."""

from __future__ import annotations

import pytest

from .test_app import signed_in


@pytest.fixture(scope="module")
def gated(live_app):
    url, studio = live_app
    admin = studio.annotation.login("admin", "adminpw")
    train = [d.dialogue_id for d in studio.esconv.splits["train"]]
    test = [d.dialogue_id for d in studio.esconv.splits["test"]]
    studio.store.create_campaign(
        "api-gated", [(i, "item") for i in train[:4]] + [(i, "gold") for i in train[4:6]], k=3, gold_rate=0.5, blind=False
    )
    studio.store.add_annotator("gil", "annotator", "gilpw")
    yield url, studio, admin, train, test
    studio.set_campaign_active(admin, "api-gated", False)  # closed: later tests' annotators are not sent to it


def _text(out) -> str:
    return " ".join(str(v) for v in out)


def test_gates_through_the_api_by_role_and_a_refused_claim(gated):
    url, studio, admin_account, train, test = gated
    gil, admin = signed_in(gated[:2], "gil", "gilpw"), signed_in(gated[:2], "admin", "adminpw")
    gates = [" ".join(test[:1]), "within-one", 1.0, 1, "retry", "", 1, 2, 3]
    with pytest.raises(Exception, match="not an admin"):
        gil.predict("api-gated", *gates, api_name="/set_rater_gates")
    with pytest.raises(Exception, match="pause comes after the warning"):
        admin.predict("api-gated", *gates[:6], 3, 2, 3, api_name="/set_rater_gates")
    with pytest.raises(Exception, match="must be JSON"):
        admin.predict("api-gated", *gates[:5], "{not json", 1, 2, 3, api_name="/set_rater_gates")
    assert studio.store.gates(studio.store.campaign("api-gated")["id"]) == (None, None)
    assert "qualification: 1 practice items" in admin.predict("api-gated", *gates, api_name="/set_rater_gates")
    # the claim, called directly: refused with the reason, no item handed out
    out = gil.predict("api-gated", {}, api_name="/switch_campaign")
    assert "qualification of this campaign comes first" in _text(out) and "data-item" not in out[0]  # no dialogue handed out
    view = gil.predict("api-gated", api_name="/practice_view")
    assert "practice item 1 of 1" in _text(view)
    gold = studio.store.item(test[0])
    out = gil.predict(
        "api-gated",
        test[0],
        str(round(gold["gold_initial"])),
        str(round(gold["gold_final"])),
        None,
        None,
        None,
        api_name="/practice_answer",
    )
    assert "You passed the qualification" in _text(out)
    with pytest.raises(Exception, match="passed this campaign's qualification already"):
        gil.predict("api-gated", test[0], "3", "3", None, None, None, api_name="/practice_answer")
    assert studio.store.ratings(annotator="gil") == []
    # quality, exclusion, reinstatement: admins only, and bad names refused
    with pytest.raises(Exception, match="not an admin"):
        gil.predict("api-gated", 20, api_name="/rater_quality")
    with pytest.raises(Exception, match="not an admin"):
        gil.predict("api-gated", "gil", api_name="/reinstate_rater")
    with pytest.raises(Exception, match="is not paused"):
        admin.predict("api-gated", "gil", api_name="/reinstate_rater")
    with pytest.raises(Exception, match="has no ratings"):
        admin.predict("api-gated", "nobody", "careless", api_name="/exclude_rater")


def test_a_paused_annotator_is_refused_items_until_reinstated_through_the_api(gated):
    url, studio, admin_account, train, test = gated
    studio.set_rater_gates(admin_account, "api-gated", None, {"warn_after": 1, "pause_after": 1})
    studio.store.add_annotator("hal", "annotator", "halpw")
    hal_account = studio.annotation.login("hal", "halpw")
    for item in train[4:6]:  # both gold checks, far from the seeker's own answer
        g = studio.store.item(item)
        far = 1 if g["gold_initial"] >= 3 else 5
        res = studio.annotation.rate(hal_account, item, far, far, campaign="api-gated")
        if res["attention"] and res["attention"].startswith("Paused"):
            break
    hal, admin = signed_in(gated[:2], "hal", "halpw"), signed_in(gated[:2], "admin", "adminpw")
    out = hal.predict("api-gated", {}, api_name="/switch_campaign")
    assert "paused after missed attention checks" in _text(out) and "data-item" not in out[0]  # no dialogue handed out
    table, *_ = admin.predict("api-gated", 20, api_name="/rater_quality")
    assert "hal" in [row[0] for row in table["data"]]
    admin.predict("api-gated", "hal", api_name="/reinstate_rater")
    assert "paused" not in _text(hal.predict("api-gated", {}, api_name="/switch_campaign"))
    admin.predict("api-gated", "hal", "missed every check", api_name="/exclude_rater")
    assert "hal" in studio.store.excluded(studio.store.campaign("api-gated")["id"])
    studio.set_rater_gates(admin_account, "api-gated", None, None)
