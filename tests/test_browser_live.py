"""In Chromium: an admin trains a tiny model from the Train tab, then, without a restart or a reload, uses it in Explore and Analyze."""

from __future__ import annotations

import pytest

from .conftest import save_tiny_model
from .test_browser_campaigns import open_page, pick, shows, sign_in, tab

pytestmark = pytest.mark.browser


def test_a_model_trained_in_the_browser_is_usable_at_once(browser, live_app, tiny_encoder, artifacts):
    url, studio = live_app
    save_tiny_model(tiny_encoder, studio.settings.models_dir / "tiny-parent", task="emotion-intensity")
    ctx, page = open_page(browser, url, width=1400)
    try:
        sign_in(page, "admin", "adminpw")
        tab(page, "Train")
        pick(page, "train-base", "tiny-parent")  # published after the page loaded: the tab's list is live
        for elem, value in (("train-epochs", "1"), ("train-max-len", "32"), ("train-batch", "8")):
            page.fill(f"#{elem} input", value)
        page.fill("#train-name textarea", "browser-tiny")
        page.locator("#train-start").click()
        shows(page, "#train-detail", "succeeded", timeout=240_000)
        shows(page, "#train-compare", "browser-tiny")  # the new model's column next to the parent it is compared with
        page.screenshot(path=str(artifacts / "train-done.png"), full_page=True)

        tab(page, "Explore")
        pick(page, "explore-model", "browser-tiny")
        page.locator("#explore-run").click()
        shows(page, "#explore-prediction", "browser-tiny")

        tab(page, "Analyze")
        pick(page, "analyze-model", "browser-tiny")
        page.locator("#analyze-run").click()
        shows(page, "#analyze-metrics", "A: browser-tiny", timeout=60_000)
    finally:
        ctx.close()
