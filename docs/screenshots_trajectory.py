"""Screenshot of Explore's intensity trajectory for a model with the end view, at 1400 and 800 px.

Runs the studio on the configured ESConv with the given model, predicts a long dialogue of the test split (the
first with more than 450 words, so that it outgrows the first 256 tokens) and shoots the trajectory plot alone:
numbers, no corpus text.

    empathy-studio train --model minilm --preset quick --end-view --dataset esconv+failed --name minilm-quick-end --models-dir DIR
    python docs/screenshots_trajectory.py --model DIR/minilm-quick-end
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
MIN_WORDS = 450


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="a seeker model folder trained with --end-view")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright
    from screenshots import ARGS, pick, serve  # docs/ is on the path of a script run from it

    from empathy_studio.settings import Account, apply_privacy_env, load_settings

    apply_privacy_env()
    tmp = Path(tempfile.mkdtemp(prefix="es-shots-trajectory-"))
    name = Path(args.model).name
    shutil.copytree(args.model, tmp / "models" / name)
    settings = load_settings(
        db_path=tmp / "studio.sqlite",
        models_dir=tmp / "models",
        default_model=name,
        warm_predictions=False,
        build_starter=False,
        auth=(Account("admin", "screenshots", "admin"),),
    )
    studio, app, url = serve(settings, 7879)
    try:
        label, _ = next(
            (label, did)
            for label, did in studio.dialogue_choices(split="test")[:50]
            if len(studio.dialogue(did).seeker_text.split()) > MIN_WORDS
        )
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS, headless=True)
            for width in (1400, 800):
                page = browser.new_page(viewport={"width": width, "height": 1000})
                page.goto(url)
                page.wait_for_selector("#explore-run", timeout=60_000)
                pick(page, "explore-split", "test")
                pick(page, "explore-dialogue", label)
                page.locator("#explore-run").click()
                page.wait_for_selector("#explore-trajectory .js-plotly-plot", timeout=300_000)
                page.wait_for_function(
                    "document.querySelector('#explore-trajectory').innerText.includes('final reads the last turns')", timeout=60_000
                )
                page.mouse.move(0, 0)
                page.locator("#explore-trajectory").scroll_into_view_if_needed()
                page.wait_for_timeout(1000)  # the plot's layout settles after it is drawn
                page.locator("#explore-trajectory").screenshot(path=str(OUT / f"explore-trajectory-{width}.png"))
                page.close()
            browser.close()
    finally:
        app.close()
        studio.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print("\n".join(str(p) for p in sorted(OUT.glob("explore-trajectory-*.png"))))


if __name__ == "__main__":
    main()
