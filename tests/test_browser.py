"""The studio in Debian's Chromium, driven by Playwright: what a person sees and does. Screenshots go to test-artifacts/."""

from __future__ import annotations

import json

import pytest

from .conftest import read_guidelines

pytestmark = pytest.mark.browser

XSS = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


@pytest.fixture
def page(browser, live_app):
    ctx = browser.new_context(viewport={"width": 1280, "height": 1000})
    pg = ctx.new_page()
    pg.goto(live_app[0])
    pg.wait_for_selector("#explore-run", timeout=20_000)
    yield pg
    ctx.close()


def _tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def test_load_a_dialogue_and_see_its_prediction(page, artifacts):
    page.click("#explore-run")
    page.wait_for_selector("#explore-probs .js-plotly-plot", timeout=60_000)
    page.wait_for_selector("#explore-trajectory .js-plotly-plot", timeout=10_000)
    pred = page.inner_text("#explore-prediction")
    assert "emotion" in pred and "initial intensity" in pred and "gold" in pred
    assert "average seeker" in pred and page.locator("#explore-prediction .es-word").count() >= 3
    assert page.locator("#explore-chat .es-seeker").count() >= 1
    page.screenshot(path=str(artifacts / "explore.png"), full_page=True)


def test_analyze_draws_violins_for_every_gold_level_and_the_fit(page, live_app, artifacts):
    _, studio = live_app
    _tab(page, "Analyze")
    page.locator("#analyze-run").click()
    page.wait_for_selector("#analyze-violin-initial .js-plotly-plot", timeout=60_000)
    page.wait_for_function("document.querySelector('#analyze-violin-initial .js-plotly-plot').data !== undefined", timeout=10_000)
    traces = page.evaluate("document.querySelector('#analyze-violin-initial .js-plotly-plot').data.map(t => [t.type, t.name])")
    gold_levels = {int(d.initial) for d in studio.esconv.splits["test"]}
    violins = {name for kind, name in traces if kind == "violin"}
    assert violins == {f"gold {lv}" for lv in gold_levels}
    assert ["scatter", "OLS fit"] in traces
    page.wait_for_function(
        "document.querySelector('#analyze-confusion .js-plotly-plot') && "
        "document.querySelector('#analyze-confusion .js-plotly-plot').data !== undefined",
        timeout=10_000,
    )
    page.screenshot(path=str(artifacts / "analyze.png"), full_page=True)


def test_annotator_rates_three_items_with_the_keyboard_only(page, live_app, artifacts):
    _, studio = live_app
    before = len(studio.store.ratings(annotator="ana"))
    page.fill("#signin-name input", "ana")
    page.fill("#signin-password input", "anapw")
    page.keyboard.press("Enter")
    _tab(page, "Annotate")
    page.wait_for_selector("#annotate-chat .es-dialogue", timeout=20_000)
    page.locator("#annotate-chat").click()  # focus leaves the text fields; from here on only keys
    read_guidelines(page)
    seen = []
    for initial, final in (("4", "2"), ("5", "3"), ("3", "1")):
        seen.append(page.inner_text("#annotate-chat .es-meta"))
        page.keyboard.press(initial)
        page.keyboard.press(final)
        page.keyboard.press("Enter")
        page.wait_for_function(
            f"!document.querySelector('#annotate-chat .es-meta') || "
            f"document.querySelector('#annotate-chat .es-meta').innerText !== {json.dumps(seen[-1])}",
            timeout=20_000,
        )
    rows = studio.store.ratings(annotator="ana")[before:]
    assert [(r["initial"], r["final"]) for r in rows] == [(4, 2), (5, 3), (3, 1)]
    assert len({r["item_id"] for r in rows}) == 3
    page.screenshot(path=str(artifacts / "annotate.png"), full_page=True)


def test_a_bad_upload_shows_an_error_toast(page, tmp_path, artifacts):
    bad = tmp_path / "broken.json"
    bad.write_text('[{"emotion_type": "anger", "dialog": [{"speaker": "robot", "content": "x"}]}]')
    page.get_by_text("…or upload an ESConv-format file").click()
    page.set_input_files("#explore-upload input[type=file]", str(bad))
    toast = page.locator(".toast-body").filter(has_text="unknown role 'robot'")
    toast.first.wait_for(timeout=20_000)
    page.screenshot(path=str(artifacts / "bad-upload.png"))


def test_injected_script_does_not_run(page, tmp_path):
    page.get_by_text("…or type text").click()
    page.fill("#explore-text textarea", XSS)
    page.click("#explore-predict-text")
    page.wait_for_selector("#explore-chat .es-turn", timeout=30_000)
    assert XSS in page.inner_text("#explore-chat")
    hostile = tmp_path / "hostile.json"
    hostile.write_text(
        json.dumps(
            [
                {
                    "emotion_type": "anger",
                    "situation": XSS,
                    "survey_score": {"seeker": {"initial_emotion_intensity": "4"}},
                    "dialog": [{"speaker": "seeker", "content": XSS}, {"speaker": "supporter", "content": XSS}],
                }
            ]
        )
    )
    page.get_by_text("…or upload an ESConv-format file").click()
    page.set_input_files("#explore-upload input[type=file]", str(hostile))
    page.get_by_text("1 dialogues predicted").first.wait_for(timeout=30_000)
    # the hostile row is on the page (rendered, so any script in it would have run) before the check
    page.wait_for_function(
        "document.querySelector('#explore-upload-table') && document.querySelector('#explore-upload-table').innerText.includes('pwned')",
        timeout=10_000,
    )
    assert page.evaluate("window.__pwned") is None


def test_picking_a_dialogue_shows_its_prediction_at_once(page):
    page.locator("#explore-dialogue input").click()
    option = page.get_by_role("option").nth(3)
    picked = option.inner_text().split(" · ")[0]
    option.click()
    page.wait_for_function(
        f"(() => {{ const e = document.querySelector('#explore-chat .es-dialogue'); "
        f"return e && e.getAttribute('data-item') === {json.dumps(picked)}; }})()",
        timeout=60_000,
    )
    assert "emotion" in page.inner_text("#explore-prediction")  # no "Predict dialogue" press needed
