"""Response empathy in Chromium: an annotator rates a (post, response) pair by keyboard alone (0-2 per mechanism, Enter),
a refused save leaves the form as it was, and the rater's badges show on supporter turns in Explore."""

from __future__ import annotations

import pytest

from .conftest import read_guidelines
from .test_browser_campaigns import current_item, open_page, pick, shows, sign_in, tab, warned

pytestmark = pytest.mark.browser


def test_rate_a_response_by_keyboard_then_see_the_raters_badges_in_explore(browser, live_app, tiny_encoder, tmp_path, artifacts):
    from empathy_studio.models.rater import RaterConfig, build_rater, save_rater
    from empathy_studio.services import CampaignRequest

    url, studio = live_app
    if "tiny-rater" not in studio.rater_choices():
        model, tok = build_rater(tiny_encoder, RaterConfig(hidden=8))
        save_rater(model, tok, studio.settings.models_dir / "tiny-rater", {"name": "tiny-rater", "task": "empathy", "objective": "rater"})
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(
        "id,post,response\nb1,I feel so alone since the move,That sounds really hard. What has been the hardest part?\n"
        "b2,My exam went badly,ok\n"
    )
    admin = studio.annotation.login("admin", "adminpw")
    studio.create_campaign(admin, CampaignRequest(name="browser-empathy", kind="empathy", source="file", file=str(pairs), k=1))

    ctx, page = open_page(browser, url)
    sign_in(page, "ana", "anapw")
    tab(page, "Annotate")
    pick(page, "annotate-campaign", "browser-empathy")
    page.wait_for_selector("#annotate-chat .es-dialogue[data-item^='browser-empathy:']", timeout=20_000)
    assert page.locator("#rate-er").is_visible() and not page.locator("#rate-initial").is_visible()
    shows(page, "#annotate-keys", "0-2 rate (ER, then IP, then EX)")
    page.locator("#annotate-panel").focus()
    read_guidelines(page)
    first = current_item(page)
    page.keyboard.press("2")
    page.keyboard.press("1")
    page.keyboard.press("Enter")  # EX not set yet: refused, and what was set stays
    warned(page, "set Explorations (EX) (keys 0-2)")
    assert current_item(page) == first
    assert page.locator("#rate-er input[value='2']").is_checked() and page.locator("#rate-ip input[value='1']").is_checked()
    page.keyboard.press("0")  # the active mechanism is still EX after the refusal
    page.keyboard.press("Enter")
    page.wait_for_function(
        f"(() => {{ const d = document.querySelector('#annotate-chat .es-dialogue'); "
        f"return !d || d.getAttribute('data-item') !== '{first}'; }})()",
        timeout=20_000,
    )
    # the next pair opens with an empty form
    page.wait_for_function(
        "Array.from(document.querySelectorAll('#empathy-form input[type=radio]')).every(i => !i.checked)", timeout=20_000
    )
    saved = studio.store.empathy_ratings(annotator="ana", campaign_id=studio.store.campaign("browser-empathy")["id"])
    assert [(r["item_id"], r["emotional_reactions"], r["interpretations"], r["explorations"]) for r in saved] == [(first, 2, 1, 0)]
    page.screenshot(path=str(artifacts / "annotate-empathy.png"), full_page=True)

    tab(page, "Explore")
    pick(page, "explore-rater", "tiny-rater")
    page.locator("#explore-run").click()
    page.wait_for_selector("#explore-chat .es-supporter .es-badge", timeout=60_000)
    assert page.locator("#explore-chat .es-supporter .es-badge").count() >= 4
    studio.set_campaign_active(admin, "browser-empathy", False)
    ctx.close()
