"""What a clinician sees in a first study, in Chromium: guidelines read before the first key, a reload that comes back to
the same tab, today's default model on a fresh page, and warnings that leave the form in view at 800 px."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from .conftest import read_guidelines
from .test_browser_campaigns import annotating, current_item, open_page, pick, shows, sign_in, tab, warned

pytestmark = pytest.mark.browser


def _boxes_overlap(a: dict, b: dict) -> bool:
    return a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"] and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]


def test_guidelines_open_at_the_top_and_no_key_rates_before_they_are_read(browser, live_app):
    from empathy_studio.services import CampaignRequest

    url, studio = live_app
    studio.create_campaign(
        studio.annotation.login("admin", "adminpw"),
        CampaignRequest(
            name="guided-pilot",
            k=1,
            source="ids",
            ids="demo-17 demo-18",
            blind=False,
            guidelines="Rate **the seeker's own** words, not the supporter's.",
        ),
    )
    ctx, page = open_page(browser, url, width=1400, height=900)
    sign_in(page, "ben", "benpw")
    tab(page, "Annotate")
    page.wait_for_selector("#annotate-chat .es-dialogue", timeout=20_000)
    if "guided-pilot" not in page.locator("#annotate-progress").inner_text():  # Annotate opens on the first campaign with work
        page.locator("#annotate-chat").click()
        read_guidelines(page)
        pick(page, "annotate-campaign", "guided-pilot")
        shows(page, "#annotate-progress", "guided-pilot")
    page.wait_for_selector("#annotate-guidelines", state="visible", timeout=10_000)
    shows(page, "#annotate-guidelines", "Guidelines of guided-pilot")
    box = page.locator("#annotate-guidelines").bounding_box()
    assert box["y"] < 900  # read where it opens, above the fold: not at the bottom of the page
    assert "<strong>the seeker's own</strong>" in page.locator("#annotate-guidelines").inner_html()
    page.locator("#annotate-chat").click()
    page.keyboard.press("3")  # not read yet: no key rates
    assert page.locator("#rate-initial input[type=radio]:checked").count() == 0
    page.keyboard.press("Enter")  # "I have read them"
    page.wait_for_selector("#annotate-guidelines", state="hidden", timeout=10_000)
    page.keyboard.press("3")
    page.wait_for_selector('#rate-initial input[value="3"]:checked', timeout=10_000)
    page.click("#show-guidelines")  # on demand, again
    page.wait_for_selector("#annotate-guidelines", state="visible", timeout=10_000)
    ctx.close()


def test_a_reload_comes_back_to_the_tab_the_user_was_on(browser, live_app):
    url, _ = live_app
    ctx, page = open_page(browser, url)
    sign_in(page, "ana", "anapw")
    kept = "localStorage.getItem('empathy-studio-session')"
    before = page.evaluate(kept)
    tab(page, "Analyze")
    page.wait_for_function("document.querySelector('[role=tab][aria-selected=true]').innerText.includes('Analyze')", timeout=10_000)
    page.wait_for_function(f"{kept} !== {json.dumps(before)}", timeout=10_000)  # the browser kept the tab (a reload before that forgets it)
    page.reload()
    shows(page, "#whoami", "Signed in as ana", timeout=30_000)
    page.wait_for_function("document.querySelector('[role=tab][aria-selected=true]').innerText.includes('Analyze')", timeout=20_000)
    tab(page, "Annotate")  # and the active scale is marked as soon as an item is on screen
    page.wait_for_selector("#annotate-chat .es-dialogue", timeout=20_000)
    page.wait_for_selector(".es-scale.es-active", timeout=10_000)
    assert current_item(page)
    ctx.close()


def test_a_fresh_page_opens_on_the_default_an_admin_set_after_the_app_was_built(browser, live_app):
    url, studio = live_app
    target = studio.settings.models_dir / "fresh-default"
    if not target.exists():
        shutil.copytree(Path(__file__).parent / "data" / "legacy-tiny", target)
    admin = studio.annotation.login("admin", "adminpw")
    studio.set_default_model(admin, "fresh-default")
    try:
        ctx, page = open_page(browser, url)
        page.wait_for_function("document.querySelector('#explore-model input').value === 'fresh-default'", timeout=20_000)
        ctx.close()
    finally:
        assert studio.delete_model(admin, "fresh-default") == "minilm-quick"  # the admin is told where the default falls back
    ctx, page = open_page(browser, url)
    page.wait_for_function("document.querySelector('#explore-model input').value === 'minilm-quick'", timeout=20_000)
    ctx.close()


def test_at_800_px_a_warning_leaves_the_scales_in_view(browser, live_app, artifacts):
    url, _ = live_app
    ctx, page = annotating(browser, url, "ben", "benpw", width=800, height=900)
    page.locator("#rate-note").scroll_into_view_if_needed()
    page.keyboard.press("3")
    page.keyboard.press("Enter")  # final is missing: refused with a warning
    warned(page, "set both the initial and the final intensity")
    toast = page.locator(".toast-body").first.bounding_box()
    for scale in ("#rate-initial", "#rate-final", "#rate-confidence", "#rate-note"):
        box = page.locator(scale).bounding_box()
        assert box is None or not _boxes_overlap(toast, box), scale
    page.screenshot(path=str(artifacts / "annotate-warning-800.png"))
    ctx.close()


def test_too_little_text_is_said_and_no_emotion_bars_are_drawn(browser, live_app):
    import dataclasses

    url, studio = live_app
    predictor = studio.predictor("minilm-quick")
    kept = predictor.calibration
    predictor.calibration = dataclasses.replace(kept, min_words=16)  # the starter model's figure on ESConv
    try:
        ctx, page = open_page(browser, url)
        page.get_by_text("…or type text").click()
        page.fill("#explore-text textarea", "hi")
        page.click("#explore-predict-text")
        shows(page, "#explore-prediction", "Too little text to read: 1 word,")
        page.wait_for_selector("#explore-probs", state="hidden", timeout=10_000)
        ctx.close()
    finally:
        predictor.calibration = kept
