"""The Review tab's endpoints through gradio_client: every one used, each role's refusals, bad input refused with nothing written."""

from __future__ import annotations

import json

import pytest
from gradio_client import Client

from empathy_studio.services import CampaignRequest, ReleaseRequest

from .test_app import signed_in


@pytest.fixture(scope="module")
def disputed(live_app):
    """A campaign where ana and ben rate demo-27 five points apart, and a reviewer account."""
    url, studio = live_app
    admin = studio.annotation.login("admin", "adminpw")
    studio.store.add_annotator("rita", "reviewer", "ritapw")
    studio.create_campaign(admin, CampaignRequest(name="api-review", k=2, source="ids", ids="demo-27 demo-28", blind=False))
    for name, pw, (a, b) in (("ana", "anapw", (5, 1)), ("ben", "benpw", (1, 1))):
        who = studio.annotation.login(name, pw)
        studio.annotation.rate(who, "demo-27", a, 2, campaign="api-review")
        studio.annotation.rate(who, "demo-28", b, 2, campaign="api-review")
    return url, studio


def _queue_ids(out) -> list[str]:
    return [row[0] for row in out[0]["data"]]


def test_a_reviewer_adjudicates_through_the_api_and_an_annotator_cannot(disputed):
    url, studio = disputed
    ana = signed_in(disputed, "ana", "anapw")
    assert ana.predict(api_name="/review_lists")[0]["choices"] == []  # nothing offered to an annotator
    with pytest.raises(Exception, match="not a reviewer"):
        ana.predict("api-review", api_name="/review_queue")
    with pytest.raises(Exception, match="not a reviewer"):
        ana.predict("api-review", "demo-27", 3, 2, "", None, None, None, "rater error", "", api_name="/adjudicate")
    with pytest.raises(Exception, match="sign in first"):
        Client(url, verbose=False).predict("api-review", "demo-27", 3, 2, "", None, None, None, "rater error", "", api_name="/adjudicate")
    rita = signed_in(disputed, "rita", "ritapw")
    camps = rita.predict(api_name="/review_lists")
    assert "api-review" in [c[0] for c in camps[0]["choices"]]
    out = rita.predict("api-review", api_name="/review_queue")
    assert _queue_ids(out) == ["demo-27"] and "Rater A" in out[1] and "gold (this campaign is not blind)" in out[1]
    with pytest.raises(Exception, match="does not ask for 'emotional_reactions'"):
        rita.predict("api-review", "demo-27", 3, 2, "", 2, None, None, "rater error", "", api_name="/adjudicate")  # a level in an intensity campaign
    with pytest.raises(Exception, match="not in the list of choices|must be one of"):
        rita.predict("api-review", "demo-27", 6, 2, "", None, None, None, "rater error", "", api_name="/adjudicate")
    with pytest.raises(Exception, match="not in the review queue"):
        rita.predict("api-review", "demo-28", 3, 2, "", None, None, None, "rater error", "", api_name="/adjudicate")
    with pytest.raises(Exception, match="say why"):
        rita.predict("api-review", "demo-27", 3, 2, "", None, None, None, "other", "", api_name="/adjudicate")
    assert studio.store.adjudications(studio.store.campaign("api-review")["id"]) == []
    out = rita.predict("api-review", "demo-27", 3, 2, "", None, None, None, "rater error", "", api_name="/adjudicate")
    assert _queue_ids(out) == [] and "The queue is empty" in out[1]
    [adj] = studio.store.adjudications(studio.store.campaign("api-review")["id"])
    assert adj["reviewer"] == "rita" and adj["vals"] == {"initial": 3, "final": 2}


def test_releases_settings_guidelines_and_audit_through_the_api_by_role(disputed, tmp_path):
    url, studio = disputed
    rita, admin = signed_in(disputed, "rita", "ritapw"), signed_in(disputed, "admin", "adminpw")
    rita.predict(api_name="/review_lists")
    admin.predict(api_name="/review_lists")
    with pytest.raises(Exception, match="not an admin"):
        rita.predict(["api-review"], "median", "by-reviewer", api_name="/create_release")
    with pytest.raises(Exception, match="not an admin"):
        rita.predict("api-review", 1, 2, True, True, 2, False, api_name="/review_options")
    with pytest.raises(Exception, match="not an admin"):
        rita.predict("api-review", "new words", api_name="/edit_guidelines")
    with pytest.raises(Exception, match="not an admin"):
        rita.predict(api_name="/audit_log")
    for bad, message in (((9, 2), "intensity_range must be a whole number from 1 to 4"), ((2, 0), "level_range must be a whole number")):
        with pytest.raises(Exception, match=message):
            admin.predict("api-review", bad[0], bad[1], True, True, 1, False, api_name="/review_options")
    assert studio.store.campaign("api-review")["thresholds"] is None
    with pytest.raises(Exception, match="not allowed"):
        admin.predict(["api-review"], "median", "../../escape", api_name="/create_release")
    out = admin.predict(["api-review"], "median", "api-v1", api_name="/create_release")
    rid = next(r for r in studio.store.releases() if r["name"] == "api-v1")["id"]
    assert rid in [row[0] for row in out[0]["data"]] and "Provenance" in out[2]
    card, files = rita.predict(rid, api_name="/show_release")  # a reviewer may read it
    assert "Content hash" in card and {f.rsplit("/", 1)[-1] for f in files} >= {"README.md", "labels.csv"}
    with pytest.raises(Exception, match="unknown release"):
        admin.predict("api-v1-000000000000", api_name="/show_release")
    with pytest.raises(Exception, match="not an admin"):
        rita.predict(rid, f"file://{tmp_path}", api_name="/export_release")
    assert rid in admin.predict(rid, f"file://{tmp_path}", api_name="/export_release") and (tmp_path / rid / "release.json").exists()
    admin.predict("api-review", "Rate the seeker, **not** the supporter.", api_name="/edit_guidelines")
    assert studio.store.campaign("api-review")["guideline_version"] == 2
    audit = admin.predict(api_name="/audit_log")
    actions = [row[3] for row in audit["data"]]
    assert {"release created", "guidelines edited", "item adjudicated"} <= set(actions)
    path = admin.predict(api_name="/audit_export")
    assert open(path).readline().startswith("id,at,actor,action")
    with pytest.raises(Exception, match="not an admin"):
        rita.predict("eve", "admin", "pw", api_name="/set_account")
    admin.predict("ana", "reviewer", "", api_name="/set_account")
    assert studio.store.annotator("ana").role == "reviewer"
    change = next(r for r in studio.store.audit_log() if r["action"] == "role changed")
    assert json.loads(change["detail"])["new"] == "reviewer" and change["actor"] == "admin"
    admin.predict("ana", "annotator", "", api_name="/set_account")


def test_analyze_draws_a_model_against_a_releases_consensus(disputed):
    url, studio = disputed
    admin = signed_in(disputed, "admin", "adminpw")
    rid = studio.create_release(studio.annotation.login("admin", "adminpw"), ReleaseRequest("api-analyze", ["api-review"], "median"))["id"]
    out = admin.predict("minilm-quick", rid, api_name="/analyze_ratings")
    fig = json.loads(out[2]["plot"]) if isinstance(out[2], dict) else json.loads(out[2])
    assert f"consensus of {rid}" in json.dumps(fig)
    with pytest.raises(Exception, match="unknown release"):
        admin.predict("minilm-quick", "nope-000000000000", api_name="/analyze_ratings")
