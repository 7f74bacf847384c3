"""Screenshots of the Models tab publishing three seed models as one (a seed ensemble), at 1400 and 800 px.

Runs the studio on the configured ESConv with a models folder holding the three seeds' models, as
`python bench/situation.py --arms on --models-dir DIR` leaves them. At 1400 px an admin picks the three
and publishes them as one model (calibrated on val, tested beside each, about a minute on 2 cores); at
800 px the same form, filled, before publishing. The images show the models table and the form, no corpus text.

    python docs/screenshots_ensemble.py DIR/minilm-situation-on-s42 DIR/minilm-situation-on-s43 DIR/minilm-situation-on-s44
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
NAME = "minilm-3-seeds"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("members", nargs="+", type=Path, help="model folders trained with different seeds")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright
    from screenshots import ARGS, serve, shows  # docs/ is on the path of a script run from it

    from empathy_studio.settings import Account, apply_privacy_env, load_settings

    apply_privacy_env()
    tmp = Path(tempfile.mkdtemp(prefix="es-shots-ensemble-"))
    for folder in args.members:
        shutil.copytree(folder, tmp / "models" / folder.name)
    settings = load_settings(
        db_path=tmp / "studio.sqlite",
        models_dir=tmp / "models",
        warm_predictions=False,
        build_starter=False,
        auth=(Account("admin", "screenshots", "admin"),),
    )
    studio, app, url = serve(settings, 7879)
    names = [f.name for f in args.members]

    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS, headless=True)
            for width in (1400, 800):
                page = browser.new_page(viewport={"width": width, "height": 1000})
                page.goto(url)
                page.wait_for_selector("#explore-run", timeout=60_000)
                page.fill("#signin-name input", "admin")
                page.fill("#signin-password input", "screenshots")
                page.keyboard.press("Enter")
                shows(page, "#whoami", "Signed in as admin")
                page.get_by_role("tab", name="Models").click()
                page.get_by_text("Manage trained models (admins)").click()
                page.wait_for_selector("#models-members", timeout=30_000)
                for name in names:
                    page.click("#models-members input")
                    page.locator("#models-members [role=option]").filter(has_text=name).first.click()
                page.keyboard.press("Escape")
                page.fill("#models-ensemble-name input", NAME if width == 1400 else f"{NAME}-again")
                if width == 1400:
                    page.locator("#models-ensemble").click()
                    shows(page, "body", f"published {NAME}", timeout=600_000)  # the toast, once tested and published
                page.screenshot(path=str(OUT / f"models-ensemble-{width}.png"), full_page=True)
                page.close()
            browser.close()
    finally:
        app.close()
        studio.close()
    print(f"wrote {OUT}/models-ensemble-{{1400,800}}.png")


if __name__ == "__main__":
    main()
