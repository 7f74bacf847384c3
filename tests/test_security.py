"""Sessions checked on every call, roles as they are now, blinding with no back door, limits for anonymous callers,
sign-in guesses counted in one step, and guidelines that cannot make a browser call out: through gradio_client."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from gradio_client import Client

from empathy_studio.data import DEMO_PATH
from empathy_studio.errors import ModelUnavailable, PermissionDenied


def _sign_in(url: str, name: str, password: str) -> tuple[Client, dict]:
    c = Client(url, verbose=False)
    out = c.predict(name, password, {}, api_name="/sign_in")
    return c, out[2]  # the browser's session state: {"token": ..., "user": ...}


def _admin(studio):
    return studio.annotation.login("admin", "adminpw")


def test_a_session_signed_out_in_another_tab_acts_no_more(live_app):
    url, studio = live_app
    c, sess = _sign_in(url, "ana", "anapw")
    c.predict(sess, api_name="/next_item")
    before = len(studio.store.ratings(annotator="ana"))
    studio.sign_out(sess["token"])  # what Sign out does in another tab of the same browser (they share the token)
    with pytest.raises(Exception, match="sign in first"):
        c.predict("default", "3", "2", "", "", None, "", sess, api_name="/submit_rating")
    with pytest.raises(Exception, match="sign in first"):
        c.predict("default", sess, api_name="/undo_rating")
    assert len(studio.store.ratings(annotator="ana")) == before


def test_a_demoted_admin_loses_admin_rights_on_the_next_call(live_app):
    url, studio = live_app
    studio.store.add_annotator("boss", "admin", "bosspw")
    c, _ = _sign_in(url, "boss", "bosspw")
    from empathy_studio.services import CampaignRequest

    studio.create_campaign(_admin(studio), CampaignRequest(name="demotion", k=1, source="ids", ids="demo-3", blind=False))
    assert any(row[0] == "demotion" for row in c.predict(api_name="/campaigns")[0]["data"])
    studio.store.add_annotators([("boss", "annotator", None)])  # demoted while the page is open
    with pytest.raises(Exception, match="not an admin"):
        c.predict("demotion", api_name="/toggle_campaign")
    assert studio.store.campaign("demotion")["active"]


def test_a_blind_campaigns_item_never_shows_through_another_campaign(live_app):
    url, studio = live_app
    from empathy_studio.services import CampaignRequest

    admin = _admin(studio)
    studio.create_campaign(admin, CampaignRequest(name="blind-x", k=1, source="ids", ids="demo-20", blind=True))
    studio.create_campaign(admin, CampaignRequest(name="assisted-y", k=1, source="ids", ids="demo-21", blind=False))
    c, sess = _sign_in(url, "ben", "benpw")
    view = c.predict("assisted-y", sess, api_name="/switch_campaign")
    assert "demo-21" in view[0] and "suggestion" in view[1]
    sess = view[-2]
    with pytest.raises(Exception, match="not in campaign assisted-y"):  # history names the blind item
        c.predict("assisted-y", {**sess, "history": ["demo-20"]}, api_name="/previous_item")
    out = c.predict({**sess, "campaign": "assisted-y", "item": "demo-20"}, api_name="/next_item")  # a reload naming it
    assert "demo-20" not in out[1] and "demo-20" not in out[2]
    studio.annotation.set_assisted(admin, True)  # an assisted default campaign: every dialogue, but no suggestion for blind ones
    try:
        ben = studio.store.annotator("ben")
        assert studio.rating_view(ben, "demo-20", "default")["suggestion"] is None
        assert studio.rating_view(ben, "demo-22", "default")["suggestion"] is not None
    finally:
        studio.annotation.set_assisted(admin, False)


def test_uploads_are_limited_and_the_queue_is_bounded(live_app):
    url, studio = live_app
    from empathy_studio.services import MAX_UPLOAD_BYTES
    from empathy_studio.ui import QUEUE_SIZE, build_app

    r = httpx.post(f"{url}gradio_api/upload", files={"files": ("big.json", b"x" * (MAX_UPLOAD_BYTES + 1))}, timeout=60)
    assert r.status_code == 413
    assert httpx.post(f"{url}gradio_api/upload", files={"files": ("small.json", b"[]")}, timeout=60).status_code == 200
    assert build_app(studio)._queue.max_size == QUEUE_SIZE


def test_no_anonymous_caller_starts_a_model_build(live_app, settings):
    url, _ = live_app
    with pytest.raises(Exception, match="not built yet: an admin builds it"):
        Client(url, verbose=False).predict("minilm-rater-quick", "I lost my job", "I'm sorry", api_name="/predict_empathy")
    from empathy_studio.services import Studio

    studio = Studio(settings.replace(esconv_file=DEMO_PATH, epitome=()))
    ana, root = studio.add_annotator("ana", "annotator"), studio.add_annotator("root", "admin")
    for who in (None, ana):
        with studio.acting(who), pytest.raises(ModelUnavailable, match="not built yet"):
            studio.predict_texts("minilm-quick", ["I feel low"])
        with studio.acting(who), pytest.raises(ModelUnavailable, match="not built yet"):
            studio.rater("minilm-rater-quick")
    with studio.acting(root), pytest.raises(ModelUnavailable, match="EPITOME, which is not configured"):
        studio.rater("minilm-rater-quick")  # an admin passes the gate (here the data to build it is missing)
    assert studio.registry.get("minilm-quick").kind == "quick"  # nothing was built
    studio.store.close()


def test_simultaneous_wrong_guesses_are_checked_at_most_five_times(fresh_db):
    from empathy_studio.annotation import Annotation
    from empathy_studio.registry import Registry
    from empathy_studio.settings import Settings

    fresh_db.add_annotator("victim", "annotator", "right")
    ann = Annotation(fresh_db, Settings(), Registry(fresh_db.path.parent / "models"))
    checked, real = [], fresh_db.authenticate

    def slow_check(name, password):
        checked.append(password)
        time.sleep(0.2)  # the scrypt check's window, widened so that every guess arrives inside it
        return real(name, password)

    fresh_db.authenticate = slow_check
    barrier, refused = threading.Barrier(16), []

    def guess(i: int) -> None:
        barrier.wait()
        try:
            ann.login("victim", f"guess-{i}", client=f"10.0.0.{i}")
        except PermissionDenied as exc:
            refused.append(str(exc))

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(checked) <= 5 and len(refused) == 16
    assert sum("too many failed sign-ins" in r for r in refused) == 16 - len(checked)


def test_guidelines_are_markdown_without_raw_html_or_remote_images(live_app):
    url, studio = live_app
    from empathy_studio.services import CampaignRequest
    from empathy_studio.ui.html import markdown_html

    text = "**Read** <b>this</b> <script>alert(1)</script>\n\n![pixel](https://tracker.example/p.png) [help](https://example.org)"
    html = markdown_html(text)
    assert "<strong>Read</strong>" in html and "&lt;b&gt;this&lt;/b&gt;" in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img" not in html and "<script" not in html and "https://tracker.example/p.png" in html and "not shown" in html
    assert '<a href="https://example.org">help</a>' in html
    assert "<a" not in markdown_html("[x](javascript:alert(1))")
    studio.create_campaign(_admin(studio), CampaignRequest(name="guided", k=1, source="ids", ids="demo-5", guidelines=text, blind=False))
    c, sess = _sign_in(url, "ana", "anapw")
    shown = c.predict("guided", sess, api_name="/switch_campaign")[-1]
    assert "<img" not in shown and "&lt;script&gt;" in shown and "tracker.example" in shown


def test_small_inputs_each_get_one_message_and_write_nothing(live_app):
    url, studio = live_app
    admin, _ = _sign_in(url, "admin", "adminpw")
    campaigns = len(studio.store.campaigns())
    form = ["initial", "final"], True, 0, 0.0, ""
    with pytest.raises(Exception, match="limit must be an integer from 1"):
        admin.predict("limit-zero", 2, "split", "test", "", 0, "", None, *form, api_name="/create_campaign")
    with pytest.raises(Exception, match="k must be an integer from 1 to 100, got 2.5"):
        admin.predict("k-half", 2.5, "split", "test", "", None, "", None, *form, api_name="/create_campaign")
    assert len(studio.store.campaigns()) == campaigns
    with pytest.raises(Exception, match="batch_size must be an integer from 1 to 4096, got 2.5"):
        admin.predict("minilm", "gold", "emotion-intensity", 1, 5e-5, 64, 2.5, 1, "", api_name="/estimate_training")
    with pytest.raises(Exception, match="no job 100000000000000000000"):
        admin.predict(10**20, api_name="/cancel_job")
    ana, sess = _sign_in(url, "ana", "anapw")
    view = ana.predict(sess, api_name="/next_item")
    before = len(studio.store.ratings(annotator="ana"))
    with pytest.raises(Exception, match="per-turn intensities for"):
        ana.predict(view[0]["value"], "3", "2", "", ",".join(["3"] * 100_000), None, "", view[-3], api_name="/submit_rating")
    assert len(studio.store.ratings(annotator="ana")) == before


def test_the_server_builds_the_starter_in_a_child_and_ends_it_at_shutdown(settings):
    from empathy_studio.services import Studio

    studio = Studio(settings.replace(esconv_file=DEMO_PATH, build_starter=True))
    studio.start()
    try:
        assert studio.starter_building()
        with studio.acting(None), pytest.raises(ModelUnavailable, match="being built by the server"):
            studio.predict_texts("minilm-quick", ["I feel low"])
    finally:
        studio.close()
    assert not studio.starter_building()
