"""Screenshots of Analyze (violins with n per level, compare mode with B − A) and Explore (intervals, word explanations),
at 1400 and 800 px.

Runs the studio on the configured ESConv with a models folder holding two first-run models: A trained on
ESConv alone, B on ESConv + FailedESConv (as `python bench/uncertainty.py --models-dir DIR` leaves them).
Analyze shows aggregates only; Explore predicts a text typed here, so no corpus text is in the images.

    python docs/screenshots_models.py --a DIR/ESConv/minilm-quick --b DIR/ESConv-FailedESConv/minilm-quick
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
TEXT = (
    "I lost my job three weeks ago and since then I can't sleep. I keep thinking I will never find anything again, "
    "my family depends on me and I feel like a failure every time I look at them."
)
A, B = "quick-esconv", "quick-esconv-failed"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--a", required=True, help="model folder A (trained on ESConv)")
    ap.add_argument("--b", required=True, help="model folder B (trained on ESConv + FailedESConv)")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright
    from screenshots import ARGS, pick, serve, shows  # docs/ is on the path of a script run from it

    from empathy_studio.settings import Account, apply_privacy_env, load_settings

    apply_privacy_env()
    tmp = Path(tempfile.mkdtemp(prefix="es-shots-models-"))
    shutil.copytree(args.a, tmp / "models" / A)
    shutil.copytree(args.b, tmp / "models" / B)
    settings = load_settings(
        db_path=tmp / "studio.sqlite",
        models_dir=tmp / "models",
        default_model=B,
        warm_predictions=False,
        build_starter=False,
        auth=(Account("admin", "screenshots", "admin"),),
    )  # an admin exists: no first-admin hint in the images
    studio, app, url = serve(settings, 7878)

    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS, headless=True)
            for width in (1400, 800):
                page = browser.new_page(viewport={"width": width, "height": 1000})
                page.goto(url)
                page.wait_for_selector("#explore-run", timeout=60_000)
                page.get_by_text("…or type text").click()
                page.fill("#explore-text textarea", TEXT)
                page.locator("#explore-predict-text").click()
                shows(page, "#explore-prediction", "80%:")
                page.wait_for_selector("#explore-probs .js-plotly-plot", timeout=60_000)
                # the prediction, its plot and the typed text; the dialogue list (corpus text) stays out of the image
                shown = ("explore-prediction", "explore-probs") + (
                    ("explore-chat",) if width >= 1200 else ()
                )  # narrow: the chat sits under the list
                boxes = [page.locator(f"#{e}").bounding_box() for e in shown]
                sx, sy = page.evaluate("[window.scrollX, window.scrollY]")  # boxes are in the viewport, the clip in the page
                x0, y0 = min(b["x"] for b in boxes) - 8 + sx, min(b["y"] for b in boxes) - 8 + sy
                x1, y1 = max(b["x"] + b["width"] for b in boxes) + 8 + sx, max(b["y"] + b["height"] for b in boxes) + 8 + sy
                page.screenshot(
                    path=str(OUT / f"explore-{width}.png"), full_page=True, clip={"x": x0, "y": y0, "width": x1 - x0, "height": y1 - y0}
                )

                page.evaluate("window.scrollTo(0, 0)")
                page.get_by_role("tab", name="Analyze").click()
                pick(page, "analyze-model", A)
                pick(page, "analyze-other", B)
                page.locator("#analyze-run").click()
                shows(page, "#analyze-metrics", "B − A")
                page.wait_for_function("document.querySelector('#analyze-reliability .js-plotly-plot') !== null", timeout=60_000)
                page.screenshot(path=str(OUT / f"analyze-{width}.png"), full_page=True)
                page.close()
            browser.close()
    finally:
        app.close()
        studio.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print("\n".join(str(p) for p in sorted(OUT.glob("*.png"))))


if __name__ == "__main__":
    main()
