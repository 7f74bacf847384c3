"""In Chromium, a study's end: two annotators disagree on an item, a reviewer settles it by keyboard, an admin freezes a release,
a job trains on it, the new model names the release, and Analyze draws the model against the release's consensus labels."""

from __future__ import annotations

import pytest

from empathy_studio.services import CampaignRequest

from .conftest import read_guidelines, save_tiny_model
from .test_browser_campaigns import annotating, open_page, pick, rate_by_keyboard, shows, sign_in, tab

pytestmark = pytest.mark.browser


def _rate_in(browser, url, name, password, campaign, keys):
    ctx, page = annotating(browser, url, name, password)
    if campaign not in page.locator("#annotate-progress").inner_text():
        pick(page, "annotate-campaign", campaign)
        shows(page, "#annotate-progress", campaign)
        page.locator("#annotate-chat").click()
        read_guidelines(page)
    page.wait_for_selector("#annotate-chat .es-dialogue", timeout=20_000)
    item = rate_by_keyboard(page, *keys)
    ctx.close()
    return item


def test_disagreement_adjudicated_by_keyboard_released_trained_on_and_drawn_against_consensus(browser, live_app, tiny_encoder, artifacts):
    url, studio = live_app
    admin_account = studio.annotation.login("admin", "adminpw")
    item = [d.dialogue_id for d in studio.esconv.splits["train"]][-1]
    studio.store.add_annotator("rhea", "reviewer", "rheapw")
    studio.create_campaign(admin_account, CampaignRequest(name="to-release", k=2, source="ids", ids=item, blind=False))
    assert _rate_in(browser, url, "ana", "anapw", "to-release", ("5", "1")) == item
    assert _rate_in(browser, url, "ben", "benpw", "to-release", ("2", "1")) == item

    # the reviewer: the item is in the queue; digits set the scales, e says "rater error", Enter saves
    for width in (800, 1400):
        ctx, page = open_page(browser, url, width=width, height=1000)
        sign_in(page, "rhea", "rheapw")
        tab(page, "Review")
        pick(page, "review-campaign", "to-release")
        shows(page, "#review-item", item)
        shows(page, "#review-item", "Rater B")
        assert "ana" not in page.locator("#review-item").inner_text()  # names hidden
        page.locator("#review-item").click()
        page.keyboard.press("4")
        page.keyboard.press("1")
        page.keyboard.press("e")
        page.wait_for_selector('#review-initial input[value="4"]:checked', timeout=10_000)
        page.wait_for_selector('#review-final input[value="1"]:checked', timeout=10_000)
        page.wait_for_selector('#review-reason input[value="rater error"]:checked', timeout=10_000)
        page.screenshot(path=str(artifacts / f"review-{width}.png"), full_page=True)
        if width == 1400:
            page.keyboard.press("Enter")
            shows(page, "#review-item", "The queue is empty")
        ctx.close()
    [adj] = studio.store.adjudications(studio.store.campaign("to-release")["id"])
    assert adj["reviewer"] == "rhea" and adj["vals"] == {"initial": 4, "final": 1} and adj["reason"] == "rater error"

    # the admin freezes a release, trains on it, and sees its lineage and its consensus in Analyze
    save_tiny_model(tiny_encoder, studio.settings.models_dir / "tiny-lineage", task="emotion-intensity")
    ctx, page = open_page(browser, url, width=1400, height=1000)
    try:
        sign_in(page, "admin", "adminpw")
        tab(page, "Review")
        page.get_by_text("Releases: freeze consensus labels").click()
        pick(page, "release-campaigns", "to-release")
        page.fill("#release-name input", "to-release-v1")
        page.locator("#release-create").click()
        shows(page, "#release-card", "Provenance", timeout=30_000)
        rid = next(r["id"] for r in studio.store.releases() if r["name"] == "to-release-v1")
        shows(page, "#release-card", rid)
        page.locator("#releases-section").screenshot(path=str(artifacts / "release-1400.png"))
        page.set_viewport_size({"width": 800, "height": 1000})
        page.locator("#releases-section").screenshot(path=str(artifacts / "release-800.png"))
        page.set_viewport_size({"width": 1400, "height": 1000})

        tab(page, "Train")
        pick(page, "train-base", "tiny-lineage")
        page.locator('#train-policy input[value="gold+ratings"]').check()
        pick(page, "train-release", rid)
        for elem, value in (("train-epochs", "1"), ("train-max-len", "32"), ("train-batch", "8")):
            page.fill(f"#{elem} input", value)
        page.fill("#train-name textarea", "from-release")
        page.locator("#train-start").click()
        shows(page, "#train-detail", "succeeded", timeout=240_000)
        shows(page, "#train-detail", f"Trained on release {rid}")

        tab(page, "Models")
        page.locator("#models-refresh").click()
        shows(page, "#models-table", rid)

        tab(page, "Analyze")
        page.get_by_text("Human ratings against gold and against the model").click()
        pick(page, "analyze-model", "from-release")
        pick(page, "analyze-reference", rid)
        page.locator("#analyze-ratings").click()
        page.get_by_text(f"from-release vs consensus of {rid}").first.wait_for(timeout=60_000)
        page.locator("#analyze-ratings-section").screenshot(path=str(artifacts / "analyze-consensus-1400.png"))
    finally:
        ctx.close()
        studio.set_campaign_active(admin_account, "to-release", False)  # closed: later tests' annotators are not sent to it
