"""In Chromium, raters you can trust: an annotator fails a campaign's qualification and is refused items, passes on a
second attempt, rates, misses hidden gold checks until paused, and is reinstated by an admin; the quality view flags a
scripted straight-liner."""

from __future__ import annotations

import pytest

from empathy_studio.services import PermissionDenied

from .conftest import read_guidelines
from .test_browser_campaigns import current_item, open_page, pick, rate_by_keyboard, shows, sign_in, tab

pytestmark = pytest.mark.browser


def _far(gold: float) -> str:
    return "1" if gold >= 3 else "5"


def test_qualification_attention_pause_reinstatement_and_a_flagged_straight_liner(browser, live_app, artifacts):
    url, studio = live_app
    admin_account = studio.annotation.login("admin", "adminpw")
    train = [d.dialogue_id for d in studio.esconv.splits["train"]]
    test = [d.dialogue_id for d in studio.esconv.splits["test"]]
    items, golds, practice = train[:8], train[8:11], test[:2]
    studio.store.create_campaign("trusted", [(i, "item") for i in items] + [(i, "gold") for i in golds], k=3, gold_rate=0.5, blind=False)
    studio.set_rater_gates(
        admin_account,
        "trusted",
        {"items": practice, "rule": "within-one", "threshold": 1.0, "attempts": 2},
        {"warn_after": 1, "pause_after": 2},
    )
    studio.store.add_annotator("cara", "annotator", "carapw")
    reference = {i: studio.store.item(i) for i in [*items, *golds, *practice]}

    def answer(page, right: bool):
        item = practice[int(page.locator("#practice-head").inner_text().split("practice item ")[1].split(" ")[0]) - 1]
        g = reference[item]
        for scale, gold in (("initial", g["gold_initial"]), ("final", g["gold_final"])):
            value = str(round(gold)) if right else _far(gold)
            page.locator(f'#practice-{scale} input[value="{value}"]').check()
        page.locator("#practice-submit").click()
        return item

    ctx, page = open_page(browser, url, width=1400, height=1000)
    try:
        sign_in(page, "cara", "carapw")
        tab(page, "Annotate")
        page.locator("#annotate-chat").click()
        read_guidelines(page)
        pick(page, "annotate-campaign", "trusted")
        read_guidelines(page)
        shows(page, "#annotate-chat", "the qualification of this campaign comes first")  # refused items, with the reason
        page.wait_for_selector("#practice-panel", state="visible", timeout=20_000)
        shows(page, "#practice-head", "practice item 1 of 2, attempt 1 of 2")
        answer(page, right=False)
        shows(page, "#practice-feedback", "That does not agree")
        page.screenshot(path=str(artifacts / "qualification-feedback-1400.png"), full_page=True)
        page.set_viewport_size({"width": 800, "height": 1000})
        page.screenshot(path=str(artifacts / "qualification-feedback-800.png"), full_page=True)
        page.set_viewport_size({"width": 1400, "height": 1000})
        shows(page, "#practice-head", "practice item 2 of 2")
        answer(page, right=True)
        shows(page, "#practice-feedback", "Attempt 2 of 2 starts now")
        with pytest.raises(PermissionDenied, match="qualification"):  # still refused between attempts
            studio.annotation.next_in(studio.annotation.login("cara", "carapw"), "trusted")
        answer(page, right=True)
        shows(page, "#practice-head", "practice item 2 of 2, attempt 2")
        answer(page, right=True)
        shows(page, "#practice-feedback", "You passed the qualification")
        page.wait_for_selector("#annotate-chat .es-dialogue", timeout=20_000)
        page.wait_for_selector("#practice-panel", state="hidden", timeout=10_000)

        # rates far from every gold answer: warned at the first missed check, paused at the second
        page.locator("#annotate-chat").click()
        for _ in range(12):
            item = current_item(page)
            if item is None:
                break
            g = reference[item]
            rate_by_keyboard(page, _far(g["gold_initial"]), _far(g["gold_final"]))
        shows(page, "#annotate-chat", "paused after missed attention checks")
        page.screenshot(path=str(artifacts / "paused-1400.png"), full_page=False)
        page.set_viewport_size({"width": 800, "height": 1000})
        page.screenshot(path=str(artifacts / "paused-800.png"), full_page=False)
    finally:
        ctx.close()
    cara = studio.store.annotator("cara")
    assert studio.store.standing(studio.store.campaign("trusted")["id"], cara.id)["paused"]

    # a scripted straight-liner and a careful rater, through the studio
    for name, straight in (("sam", True), ("tess", False)):
        studio.store.add_annotator(name, "annotator", "pw")
        who = studio.annotation.login(name, "pw")
        for item in practice:
            g = reference[item]
            studio.practice_answer(who, "trusted", item, {"initial": round(g["gold_initial"]), "final": round(g["gold_final"])})
        while (nxt := studio.annotation.next_in(who, "trusted")) is not None:
            g = reference[nxt]
            v = 3 if straight else int(round(g["gold_initial"]))
            studio.annotation.rate(who, nxt, v, 3 if straight else int(round(g["gold_final"])), campaign="trusted")

    ctx, page = open_page(browser, url, width=1400, height=1000)
    try:
        sign_in(page, "admin", "adminpw")
        tab(page, "Campaigns")
        pick(page, "agreement-campaign", "trusted")
        page.get_by_text("Raters: qualification, attention checks, quality and drift").click()
        page.fill("#quality-rater textarea, #quality-rater input", "cara")
        page.locator("#quality-reinstate").click()
        shows(page, "#quality-table", "cara")
        page.locator("#quality-show").click()
        shows(page, "#quality-table", "straight-lining", timeout=30_000)
        text = page.locator("#quality-table").inner_text()  # one cell a line, rows in name order: cara, sam, tess
        sam, tess = text.split("\nsam\n")[1].split("\ntess\n")
        assert "straight-lining: longest run" in sam and "straight-lining" not in tess, text
        for plot in ("#quality-distribution", "#quality-drift"):
            page.wait_for_selector(f"{plot} .js-plotly-plot", timeout=30_000)
        page.locator("#quality-table").get_by_text("sam", exact=True).first.click()  # their ratings
        shows(page, "#quality-ratings", "guideline_version")
        page.wait_for_function("!document.querySelector('#raters-section .progress-text, #raters-section .eta-bar')", timeout=30_000)
        page.locator("#raters-section").screenshot(path=str(artifacts / "quality-1400.png"))
        page.set_viewport_size({"width": 800, "height": 1000})
        page.locator("#raters-section").screenshot(path=str(artifacts / "quality-800.png"))
    finally:
        ctx.close()
    studio.set_campaign_active(admin_account, "trusted", False)  # closed: later tests' annotators are not sent to it
    assert not studio.store.standing(studio.store.campaign("trusted")["id"], cara.id)["paused"]
    studio.store.check_entry(studio.store.campaign("trusted")["id"], cara.id)  # reinstated: a claim is no longer refused
