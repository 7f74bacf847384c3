"""Screenshots of the campaign views for the README, at 1400 and 800 px, from a real session on the demo set.

Starts the studio on the bundled demo dialogues in a temporary folder, creates a pilot campaign
(k = 2 over 20 items; new campaigns fill each item to k first) as an admin in the browser, lets two
annotators rate 10 items each by keyboard (ana reloads the page in the middle of an item), checks
that the pilot has 10 doubly rated items and that the reloaded item was saved as keyed, computes
agreement, and saves PNGs to docs/screenshots/. Needs Debian's Chromium.

    python docs/screenshots.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT = ROOT / "docs" / "screenshots"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# how far each scripted annotator's rating sits from the seeker's own, item by item (ben is noisier)
OFFSETS = {"ana": [0, 0, 1, 0, -1, 0, 0, 1, 0, 0], "ben": [1, -1, 0, 1, 0, -1, 0, 1, -1, 0]}
RELOAD_AT = 4  # ana's fifth item: the first key, then a reload, then the second key


def serve(settings, port: int):
    """The studio on `settings`, launched in this process on a loopback port: (studio, app, url)."""
    from empathy_studio.services import Studio
    from empathy_studio.ui import build_app, launch_options

    studio = Studio(settings)
    studio.start()
    app = build_app(studio)
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch_options())
    return studio, app, f"http://127.0.0.1:{port}/"


def shows(page, selector: str, text: str, timeout: int = 120_000) -> None:
    page.wait_for_function(
        f"(() => {{ const e = document.querySelector({json.dumps(selector)}); return e && e.innerText.includes({json.dumps(text)}); }})()",
        timeout=timeout,
    )


def pick(page, elem_id: str, option: str) -> None:
    page.click(f"#{elem_id} input")
    page.locator(f"#{elem_id} [role=option]").filter(has_text=option).and_(page.locator(f'[aria-label="{option}"]')).click()
    page.keyboard.press("Escape")  # a list that accepts typed values stays open after a pick


def read_guidelines(page) -> None:
    """A campaign's guidelines open at the top of the form on first entry; Enter says they were read."""
    if page.locator("#annotate-guidelines").is_visible():
        page.keyboard.press("Enter")
        page.wait_for_selector("#annotate-guidelines", state="hidden", timeout=10_000)


def main() -> None:
    from playwright.sync_api import sync_playwright

    from empathy_studio.data import DEMO_PATH
    from empathy_studio.settings import Account, apply_privacy_env, load_settings

    apply_privacy_env()
    tmp = Path(tempfile.mkdtemp(prefix="es-shots-"))
    settings = load_settings(
        db_path=tmp / "studio.sqlite",
        models_dir=ROOT / "models",
        esconv_file=DEMO_PATH,
        build_starter=False,
        auth=(Account("admin", "adminpw", "admin"), Account("ana", "anapw"), Account("ben", "benpw")),
    )
    studio, app, url = serve(settings, 7877)

    def open_as(browser, name, password, width):
        page = browser.new_page(viewport={"width": width, "height": 1000})
        page.goto(url)
        page.wait_for_selector("#explore-run", timeout=60_000)
        page.fill("#signin-name input", name)
        page.fill("#signin-password input", password)
        page.keyboard.press("Enter")
        shows(page, "#whoami", f"Signed in as {name}")
        return page

    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS, headless=True)
            admin = open_as(browser, "admin", "adminpw", 1400)
            admin.get_by_role("tab", name="Campaigns").click()
            admin.fill("#campaign-name input", "pilot")
            admin.fill("#campaign-k input", "2")
            pick(admin, "campaign-split", "all")
            admin.fill("#campaign-limit input", "20")
            admin.click("#campaign-create")
            shows(admin, "#campaign-table", "pilot")
            for name, pw in (("ana", "anapw"), ("ben", "benpw")):
                page = open_as(browser, name, pw, 1400 if name == "ana" else 800)
                page.get_by_role("tab", name="Annotate").click()
                pick(page, "annotate-campaign", "pilot")
                shows(page, "#annotate-progress", "pilot")
                page.locator("#annotate-chat").click()
                read_guidelines(page)
                for k, offset in enumerate(OFFSETS[name]):
                    if k == 2:
                        page.wait_for_function("document.querySelectorAll('.pending').length === 0", timeout=30_000)
                        page.screenshot(path=str(OUT / f"annotate-campaign-{1400 if name == 'ana' else 800}.png"), full_page=False)
                    before = page.evaluate("document.querySelector('#annotate-chat .es-dialogue').getAttribute('data-item')")
                    d = studio.dialogue(before)
                    initial, final = (str(min(5, max(1, int(v if v == v else 3) + offset))) for v in (d.initial, d.final))
                    kept = page.evaluate("localStorage.getItem('empathy-studio-session')")
                    page.keyboard.press(initial)
                    if name == "ana" and k == RELOAD_AT:  # mid-item: the draft comes back and the next key goes to final
                        page.wait_for_selector("#rate-final.es-active", timeout=10_000)
                        page.wait_for_function(f"localStorage.getItem('empathy-studio-session') !== {json.dumps(kept)}", timeout=10_000)
                        page.reload()
                        shows(page, "#whoami", "Signed in as ana")
                        page.get_by_role("tab", name="Annotate").click()
                        page.wait_for_selector(f'#rate-initial input[value="{initial}"]:checked', timeout=30_000)
                        page.wait_for_selector("#rate-final.es-active", timeout=10_000)
                        page.locator("#annotate-chat").click()
                        reloaded = (before, int(initial), int(final))
                    page.keyboard.press(final)
                    page.keyboard.press("Enter")
                    page.wait_for_function(
                        f"(() => {{ const d = document.querySelector('#annotate-chat .es-dialogue'); "
                        f"return !d || d.getAttribute('data-item') !== {json.dumps(before)}; }})()",
                        timeout=30_000,
                    )
            cid = studio.store.campaign("pilot")["id"]
            rows = studio.store.ratings(campaign_id=cid)
            per_item = {i: sum(r["item_id"] == i for r in rows) for i in {r["item_id"] for r in rows}}
            doubly = sum(v == 2 for v in per_item.values())
            saved = next(r for r in rows if r["annotator"] == "ana" and r["item_id"] == reloaded[0])
            print(
                f"pilot: {len(rows)} ratings, {doubly} items rated by both annotators; the item ana reloaded mid-way was saved "
                f"{saved['initial']}/{saved['final']} (keyed {reloaded[1]}/{reloaded[2]})"
            )
            assert doubly == 10 and (saved["initial"], saved["final"]) == reloaded[1:]
            admin.get_by_role("button", name="Refresh").click()
            pick(admin, "agreement-campaign", "pilot")
            admin.click("#agreement-run")
            shows(admin, "#agreement-stats", "alpha 95% CI")
            admin.wait_for_selector("#agreement-qwk .js-plotly-plot", timeout=30_000)
            admin.get_by_role("button", name="Bland-Altman").click()
            admin.wait_for_selector("#campaign-table + * .js-plotly-plot, .js-plotly-plot >> nth=2", timeout=30_000)
            admin.screenshot(path=str(OUT / "campaigns-1400.png"), full_page=True)
            narrow = open_as(browser, "admin", "adminpw", 800)
            narrow.get_by_role("tab", name="Campaigns").click()
            narrow.get_by_role("button", name="Refresh").click()
            pick(narrow, "agreement-campaign", "pilot")
            narrow.click("#agreement-run")
            shows(narrow, "#agreement-stats", "alpha 95% CI")
            narrow.wait_for_selector("#agreement-qwk .js-plotly-plot", timeout=30_000)
            narrow.screenshot(path=str(OUT / "campaigns-800.png"), full_page=True)
            browser.close()
    finally:
        app.close()
        studio.close()
    print("\n".join(str(p) for p in sorted(OUT.glob("*campaign*.png"))))


if __name__ == "__main__":
    main()
