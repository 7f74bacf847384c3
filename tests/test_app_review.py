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
    yield url, studio
    studio.set_campaign_active(admin, "api-review", False)  # closed: later tests' annotators are not sent to it


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
        rita.predict(
            "api-review", "demo-27", 3, 2, "", 2, None, None, "rater error", "", api_name="/adjudicate"
        )  # a level in an intensity campaign
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


MODEL_WORK = {
    "/start_training",
    "/estimate_training",
    "/analyze",
    "/analyze_downloads",
    "/analyze_rater",
    "/predict_empathy",
    "/predict_text",
    "/explore_dialogue",
    "/upload_predictions",
}  # endpoints that run models: they write nothing to the audit log


@pytest.fixture
def own_app(tmp_path):
    """A server of its own (the sweep below changes settings that the shared one must keep): (url, studio)."""
    from .conftest import serving

    with serving(tmp_path, starter=False) as served:
        yield served


def test_no_endpoint_edits_or_deletes_a_line_of_the_audit_log(own_app):
    """Every named endpoint, called by an admin with Gradio's own example inputs (a file input left empty): the audit log only grows."""
    url, studio = own_app
    admin_account = studio.annotation.login("admin", "adminpw")
    studio.create_campaign(admin_account, CampaignRequest(name="swept", k=2, source="ids", ids="demo-27 demo-28", blind=False))
    for name, pw, value in (("ana", "anapw", 5), ("ben", "benpw", 1)):
        studio.annotation.rate(studio.annotation.login(name, pw), "demo-27", value, 2, campaign="swept")
    studio.create_release(admin_account, ReleaseRequest("swept-v1", ["swept"], "median"))
    admin = signed_in(own_app, "admin", "adminpw")
    before = studio.store.audit_log()
    info = admin.view_api(print_info=False, return_format="dict")
    called = 0
    for name, endpoint in info["named_endpoints"].items():
        if name in MODEL_WORK or name in ("/sign_out", "/sign_in"):
            continue
        args = [None if isinstance(p.get("example_input"), dict) else p.get("example_input") for p in endpoint["parameters"]]
        try:
            admin.predict(*args, api_name=name)
        except Exception:  # noqa: BLE001 - junk input is refused; what matters is what stays in the log
            pass
        called += 1
    after = studio.store.audit_log()
    assert called > 30 and len(before) > 5 and len(after) >= len(before)
    assert after[len(after) - len(before) :] == before  # the log is newest first: the old lines are all there, unchanged


def test_an_annotator_is_shown_what_changed_in_the_guidelines_once(disputed):
    url, studio = disputed
    admin = studio.annotation.login("admin", "adminpw")
    version = studio.edit_guidelines(admin, "api-review", "Rate the seeker only.\nA typo is not a feeling.")
    ben = signed_in(disputed, "ben", "benpw")
    view = ben.predict("api-review", {"seen": [f"api-review@{version - 1}"]}, api_name="/switch_campaign")
    shown = next(v for v in view if isinstance(v, str) and "Guidelines of api-review" in v)
    assert f"changed (version {version - 1} → {version})" in shown and "+A typo is not a feeling." in shown
    sess = next(v for v in view if isinstance(v, dict) and "seen" in v)
    again = ben.predict("api-review", sess, api_name="/switch_campaign")
    assert not any(isinstance(v, str) and "changed (version" in v for v in again)
