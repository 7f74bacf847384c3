"""Screenshots of the empathy rater: badges on supporter turns in Explore (demo dialogues, written for the studio),
and the rater's part of Analyze on ESConv (aggregates only), at 1400 and 800 px.

    python docs/screenshots_rater.py --rater DIR/minilm-rater --seeker DIR/minilm-quick
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rater", required=True, help="an empathy rater's folder")
    ap.add_argument("--seeker", required=True, help="a seeker model's folder (Explore predicts the dialogue too)")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    from empathy_studio.data import DEMO_PATH
    from empathy_studio.settings import Account, apply_privacy_env, load_settings
    from screenshots import ARGS, pick, serve, shows  # docs/ is on the path of a script run from it

    apply_privacy_env()
    tmp = Path(tempfile.mkdtemp(prefix="es-shots-rater-"))
    shutil.copytree(args.rater, tmp / "models" / "minilm-rater")
    shutil.copytree(args.seeker, tmp / "models" / "minilm-quick")
    admin = (Account("admin", "screenshots", "admin"),)
    servers = [serve(load_settings(db_path=tmp / f"{name}.sqlite", models_dir=tmp / "models", warm_predictions=False, auth=admin, **extra), port)
               for name, extra, port in (("demo", {"esconv_file": DEMO_PATH}, 7879), ("esconv", {}, 7880))]
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS, headless=True)
            for width in (1400, 800):
                page = browser.new_page(viewport={"width": width, "height": 1000})
                page.goto(servers[0][2])
                page.wait_for_selector("#explore-run", timeout=60_000)
                pick(page, "explore-rater", "minilm-rater")
                page.locator("#explore-run").click()
                page.wait_for_selector("#explore-chat .es-badge", timeout=120_000)
                page.locator("#explore-chat").screenshot(path=str(OUT / f"explore-rater-{width}.png"))
                page.close()
                page = browser.new_page(viewport={"width": width, "height": 1000})
                page.goto(servers[1][2])
                page.wait_for_selector("#explore-run", timeout=60_000)
                page.get_by_role("tab", name="Analyze").click()
                page.get_by_text("Empathy rater: EPITOME test split").click()
                pick(page, "analyze-rater", "minilm-rater")
                page.locator("#analyze-rater-run").click()
                shows(page, "#analyze-rater-metrics", "4-level", timeout=900_000)
                page.wait_for_function("document.querySelector('#analyze-rater-check .js-plotly-plot') !== null", timeout=900_000)
                page.locator("#analyze-rater-check").evaluate("e => e.closest('.block, .form, div').scrollIntoView()")
                box = page.locator("#analyze-rater-metrics").bounding_box()
                end = page.locator("#analyze-rater-check").bounding_box()
                sx, sy = page.evaluate("[window.scrollX, window.scrollY]")
                page.screenshot(path=str(OUT / f"analyze-rater-{width}.png"), full_page=True,
                                clip={"x": 0, "y": box["y"] + sy - 60, "width": width, "height": end["y"] + end["height"] - box["y"] + 80})
                page.close()
            browser.close()
    finally:
        for studio, app, _ in servers:
            app.close()
            studio.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
