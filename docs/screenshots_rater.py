"""Screenshots of the empathy rater: badges on supporter turns in Explore (demo dialogues, written for the studio),
the rater's part of Analyze on ESConv (aggregates only), and Annotate rating response empathy in an assisted
campaign (pairs written for the studio, mid-rating: ER and IP set by keyboard), at 1400 and 800 px.

    python docs/screenshots_rater.py --rater DIR/minilm-rater --seeker DIR/minilm-quick [--only explore analyze annotate mechanisms]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT = ROOT / "docs" / "screenshots"
PAIRS = """id,post,response
move,"I moved to a new city for work three months ago and I still don't know anyone. Weekends are the worst, I just sit in my flat.",\
"That sounds really lonely, especially when the weekends stretch out with nobody around. What did your weekends look like before the move?"
exam,"I failed my driving test for the second time and I feel like an idiot.",Everyone fails sometimes. Just book it again.
"""


def clip_between(page, first: str, last: str, path: Path, width: int, above: int = 0, below: int = 16) -> None:
    """A full-page screenshot from the top of `first` to the bottom of `last`."""
    top, end = page.locator(first).bounding_box(), page.locator(last).bounding_box()
    sy = page.evaluate("window.scrollY")
    page.screenshot(
        path=str(path),
        full_page=True,
        clip={"x": 0, "y": top["y"] + sy - above, "width": width, "height": end["y"] + end["height"] - top["y"] + above + below},
    )


def shoot_annotate(page, rater: str, path: Path, width: int) -> None:
    from screenshots import pick, read_guidelines, shows

    page.fill("#signin-name input", "admin")
    page.fill("#signin-password input", "screenshots")
    page.keyboard.press("Enter")
    shows(page, "#whoami", "Signed in as admin")
    page.get_by_role("tab", name="Annotate").click()
    pick(page, "annotate-campaign", "responses-pilot")
    page.wait_for_selector("#annotate-chat .es-dialogue[data-item^='responses-pilot:'] .es-badge", timeout=60_000)
    read_guidelines(page)
    if page.locator("#annotate-chat mark.es-why").count() == 0:  # a rater with a rationale head: the item whose words it marks
        shown = page.locator("#annotate-chat .es-dialogue").get_attribute("data-item")
        page.locator("#skip-item").click()
        page.wait_for_function(
            f"(() => {{ const d = document.querySelector('#annotate-chat .es-dialogue'); return d && d.dataset.item !== '{shown}'; }})()",
            timeout=60_000,
        )
        page.wait_for_selector("#annotate-chat .es-badge", timeout=60_000)
    # mid-rating: ER and IP set (tests/test_browser_empathy.py sets them by keyboard)
    page.locator("#rate-er label").nth(2).click()
    page.locator("#rate-ip label").nth(1).click()
    page.wait_for_function(
        "document.querySelector('#rate-er input[value=\"2\"]').checked && document.querySelector('#rate-ip input[value=\"1\"]').checked",
        timeout=20_000,
    )
    page.mouse.move(0, 0)
    page.wait_for_timeout(1500)  # the radios' colour transition, slow in a headless browser on a busy machine
    clip_between(page, "#annotate-panel", "#annotate-keys", path, width)


def shoot_explore(page, rater: str, path: Path, width: int) -> None:
    from screenshots import pick

    pick(page, "explore-rater", rater)
    page.locator("#explore-run").click()
    page.wait_for_selector("#explore-chat .es-badge", timeout=120_000)
    page.locator("#explore-chat").screenshot(path=str(path))


def analyze_rater(page, rater: str) -> None:
    """Analyze's rater section: open it, pick the rater, run it."""
    from screenshots import pick

    page.get_by_role("tab", name="Analyze").click()
    page.get_by_text("Empathy rater: EPITOME test split").click()
    pick(page, "analyze-rater", rater)
    page.locator("#analyze-rater-run").click()


def shoot_analyze(page, rater: str, path: Path, width: int) -> None:
    from screenshots import shows

    analyze_rater(page, rater)
    shows(page, "#analyze-rater-metrics", "4-level", timeout=900_000)
    page.wait_for_function("document.querySelector('#analyze-rater-check .js-plotly-plot') !== null", timeout=900_000)
    page.locator("#analyze-rater-check").evaluate("e => e.closest('.block, .form, div').scrollIntoView()")
    clip_between(page, "#analyze-rater-metrics", "#analyze-rater-check", path, width, above=60, below=20)


def shoot_mechanisms(page, rater: str, path: Path, width: int) -> None:
    """Analyze's EPITOME tables alone (the metrics, the 4-level confusion, per mechanism with CIs and Sharma et al.)."""
    from screenshots import shows

    analyze_rater(page, rater)
    shows(page, "#analyze-rater-mechanisms", "interpretations", timeout=300_000)
    page.wait_for_function("document.querySelectorAll('#analyze-rater-confusion .js-plotly-plot').length >= 1", timeout=120_000)
    page.wait_for_timeout(2000)  # the plots' layout settles after they are drawn
    clip_between(page, "#analyze-rater-metrics", "#analyze-rater-mechanisms", path, width, above=10, below=10)


SHOOT = {"annotate": shoot_annotate, "explore": shoot_explore, "analyze": shoot_analyze, "mechanisms": shoot_mechanisms}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rater", required=True, help="an empathy rater's folder")
    ap.add_argument("--seeker", help="a seeker model's folder (Explore predicts the dialogue too; needed for explore)")
    ap.add_argument("--only", nargs="+", default=["explore", "analyze", "annotate"], choices=list(SHOOT))
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright
    from screenshots import ARGS, serve  # docs/ is on the path of a script run from it

    from empathy_studio.data import DEMO_PATH
    from empathy_studio.services import CampaignRequest
    from empathy_studio.settings import Account, apply_privacy_env, load_settings

    apply_privacy_env()
    tmp = Path(tempfile.mkdtemp(prefix="es-shots-rater-"))
    rater = Path(args.rater).name  # shown under its own name
    shutil.copytree(args.rater, tmp / "models" / rater)
    if args.seeker:
        shutil.copytree(args.seeker, tmp / "models" / "minilm-quick")
    elif "explore" in args.only:
        ap.error("--seeker is needed for the Explore screenshots")
    admin = (Account("admin", "screenshots", "admin"),)
    servers = [
        serve(
            load_settings(
                db_path=tmp / f"{name}.sqlite", models_dir=tmp / "models", warm_predictions=False, build_starter=False, auth=admin, **extra
            ),
            port,
        )
        for name, extra, port in (("demo", {"esconv_file": DEMO_PATH}, 7879), ("esconv", {}, 7880))
    ]
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS, headless=True)
            studio = servers[0][0]
            (tmp / "pairs.csv").write_text(PAIRS)
            studio.create_campaign(
                studio.annotation.login("admin", "screenshots"),
                CampaignRequest(
                    name="responses-pilot",
                    kind="empathy",
                    source="file",
                    file=str(tmp / "pairs.csv"),
                    k=2,
                    blind=False,
                    guidelines="Rate the response as the seeker would receive it.",
                ),
            )
            for width in (1400, 800):
                for part in SHOOT:
                    if part in args.only:
                        page = browser.new_page(viewport={"width": width, "height": 1000})
                        page.goto(servers[1 if part in ("analyze", "mechanisms") else 0][2])
                        page.wait_for_selector("#explore-run", timeout=60_000)
                        name = {"annotate": "annotate-empathy", "mechanisms": "analyze-rater-mechanisms"}.get(part, f"{part}-rater")
                        SHOOT[part](page, rater, OUT / f"{name}-{width}.png", width)
                        page.close()
            browser.close()
    finally:
        for studio, app, _ in servers:
            app.close()
            studio.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
