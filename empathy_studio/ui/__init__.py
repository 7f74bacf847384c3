"""The Gradio Blocks app: a header with sign-in, then one tab module each, composed by `build_app`.

`ui` is layout and wiring only: every action is one call on `Studio`
(services), and nothing here imports the core below it (a test checks this).
Models load on first use, so the page answers before any weights are in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from ..services import MAX_UPLOAD_BYTES, Studio
from . import analyze, annotate, campaigns, explore, models, review, train
from .common import actors_from, from_api, on
from .html import banner_html, esc
from .style import CSS, KEYBOARD_JS

SIGNED_OUT = "Not signed in: Explore and Analyze are open; Annotate, Campaigns and Train need an account."
LOOPBACK = ("127.0.0.1", "::1", "localhost")
TAB_IDS = ("explore", "analyze", "annotate", "review", "campaigns", "train", "models")
QUEUE_SIZE = 512  # waiting calls at most (several hundred raters' saves fit; a flood of anonymous calls does not)


def launch_options() -> dict[str, Any]:
    """What `launch()` needs besides host and port (Gradio 6 takes theme, CSS and head there)."""
    return {
        "theme": gr.themes.Soft(primary_hue="blue", neutral_hue="slate"),
        "css": CSS,
        "head": KEYBOARD_JS + review.REVIEW_JS,
        "footer_links": ["api"],
        "show_error": False,
        "max_file_size": MAX_UPLOAD_BYTES,
    }


@dataclass
class Page:
    """The page's shared parts: who is signed in, the browser's session, the tabs, and every model dropdown with what it offers."""

    user: Any
    session: Any
    who: Any = None
    setup: Any = None
    tabs: Any = None
    tab: dict[str, Any] = field(default_factory=dict)  # id -> the tab
    lists: list[tuple[Any, str]] = field(default_factory=list)
    admin_only: list[Any] = field(default_factory=list)  # sections an annotator cannot use: shown to admins only
    review: tuple[Any, Any] = (None, None)  # the Review tab's refresh: (handler, outputs)
    models_table: Any = None


def _header(studio: Studio, page: Page) -> dict[str, Any]:
    """The title, who is signed in (and the first-admin hint), and the sign-in form."""
    with gr.Row(equal_height=True):
        with gr.Column(scale=2, min_width=280):
            gr.HTML(
                "<div style='font-size:22px;font-weight:600'>Empathy Studio</div>"
                "<div class='es-meta'>Emotion category and intensity (1-5) of help-seekers, for clinicians and researchers</div>"
            )
        with gr.Column(scale=2, min_width=280):
            page.who = gr.HTML(banner_html(SIGNED_OUT), elem_id="whoami")
            page.setup = gr.HTML(elem_id="first-admin")
        with gr.Column(scale=3, min_width=340):
            with gr.Row():
                name = gr.Textbox(label="Name", max_lines=1, elem_id="signin-name", scale=1, min_width=100)
                password = gr.Textbox(label="Password", type="password", max_lines=1, elem_id="signin-password", scale=1, min_width=100)
                with gr.Column(scale=0, min_width=90):
                    signin = gr.Button("Sign in", elem_id="signin-button", size="sm")
                    signout = gr.Button("Sign out", elem_id="signout-button", size="sm")
            if studio.oauth_enabled():
                gr.LoginButton()
    return {"name": name, "password": password, "signin": signin, "signout": signout}


def _tabs(studio: Studio, page: Page, choices: list[str]) -> None:
    """One tab module each; the reviewers' and admins' tabs are offered to them only (the studio refuses everyone else's calls)."""
    with gr.Tabs(elem_id="tabs") as page.tabs:
        with gr.Tab("Explore", id="explore") as page.tab["explore"]:
            page.lists += explore.render(studio, choices, page.user)
        with gr.Tab("Analyze", id="analyze") as page.tab["analyze"]:
            page.lists += analyze.render(studio, choices, page.user)
        with gr.Tab("Annotate", id="annotate") as page.tab["annotate"]:
            page.lists += annotate.render(studio, page.user, page.session, choices, page.admin_only)
        with gr.Tab("Review", id="review", visible=False) as page.tab["review"]:
            page.review = review.render(studio, page.user, page.admin_only)
        with gr.Tab("Campaigns", id="campaigns", visible=False) as page.tab["campaigns"]:
            page.lists += campaigns.render(studio, page.user, choices)
        with gr.Tab("Train", id="train", visible=False) as page.tab["train"]:
            page.lists += train.render(studio, page.user)
        with gr.Tab("Models", id="models") as page.tab["models"]:
            page.models_table, managed = models.render(studio, page.user, page.admin_only)
            page.lists += managed


def build_app(studio: Studio) -> gr.Blocks:
    """The page over a studio; no side effects: the server's own work starts in `Studio.start`, called by `serve` and app.py."""
    # files served for download leave Gradio's cache after an hour
    with gr.Blocks(title="Empathy Studio", delete_cache=(3600, 3600)) as app, actors_from(studio.current_actor, studio.acting):
        # where a signed-in user is, kept encrypted in the browser: a session token (never a password), campaign, item, draft
        page = Page(user=gr.State(None), session=gr.BrowserState({}, storage_key="empathy-studio-session"))
        form = _header(studio, page)
        _tabs(studio, page, studio.model_choices())
        # False until this page's load answered: Gradio selects the first tab as the page opens, at the same time as the
        # load, so a tab's handlers must not act on what the page was built with (a stale default, an empty session)
        loaded = gr.State(False)
        model_lists = _wire_tabs(studio, page, loaded)
        _wire_session(studio, app, page, form, loaded, model_lists)
    # Light events (sign-in, rating, queue) run side by side; model work sets its own lower limits per event.
    # The queue holds at most QUEUE_SIZE waiting calls; past that a caller is told the server is busy.
    app.queue(default_concurrency_limit=16, max_size=QUEUE_SIZE)
    _calm_queue(app)
    return app


def _wire_tabs(studio: Studio, page: Page, loaded: gr.State) -> Any:
    """Each tab's select refreshes the model lists and is remembered in the session; reviewers' and admins' tabs follow the role."""
    lists, dropdowns = page.lists, [d for d, _ in page.lists]

    def model_lists(request: gr.Request, ready: bool, *current: str):
        """Every model dropdown with the models on disk now: a model published by a job or the CLI appears without a restart.

        Before the page's load answered, the seeker-model lists open on today's default (set by an admin after the app
        was built), exactly as the load itself does, whichever of the two answers last. An API caller has no page load:
        the values it passes are kept."""
        ready = ready or from_api(request)
        predicting, trainable = studio.model_choices(), studio.trainable_models()
        offered = {
            "predict": predicting,
            "predict-or-none": [analyze.NONE, *predicting],
            "predict-or-rater-or-no-model": [campaigns.NO_MODEL, *predicting, *studio.rater_choices()],
            "train": trainable,
            "trained": [r["name"] for r in studio.model_rows() if r["kind"] == "finetuned"],
            "ensemble": studio.ensemble_candidates(),
            "rater-or-none": [explore.NO_RATER, *studio.rater_choices()],
            "rater": studio.rater_choices(),
            "release": [train.LATEST_RELEASE, *studio.release_choices()],
            "reference": [analyze.ALL_RATINGS, *studio.release_choices()],
        }
        out = []
        for (_, kind), value in zip(lists, current):
            opts = offered[kind]
            if isinstance(value, list):  # a multiselect keeps what it chose that is still there
                out.append(gr.Dropdown(choices=opts, value=[v for v in value if v in opts]))
                continue
            if not ready and kind in ("predict", "train"):
                value = None
            fallback = studio.default_model(opts) if kind in ("predict", "train") else (opts[0] if opts and kind != "trained" else None)
            out.append(gr.Dropdown(choices=opts, value=value if value in opts else fallback))
        return out

    for i, tab_id in enumerate(TAB_IDS):
        tab = page.tab[tab_id]
        on(tab.select, model_lists, [loaded, *dropdowns], dropdowns, api_name="model_lists" if i == 0 else False, show_progress="hidden")

        # the tab a user is on, kept with the browser's session: a reload comes back to it (not the select of page opening)
        def remember(ready: bool, sess: dict | None, _tab: str = tab_id):
            return {**(sess if isinstance(sess, dict) else {}), "tab": _tab} if ready else gr.skip()

        on(tab.select, remember, [loaded, page.session], page.session, api_name=False, queue=False, show_progress="hidden")
    on(page.tab["models"].select, lambda: models.models_frame(studio), None, page.models_table, api_name=False, show_progress="hidden")
    sections = [page.tab["campaigns"], page.tab["train"], *page.admin_only]

    def admin_sections(account):
        """What the page offers follows the role: reviewers' and admins' tabs and sections appear for them, and go at sign-out."""
        shown = account is not None and account.is_admin
        return [
            gr.Tab(visible=account is not None and account.is_reviewer),
            *(gr.Tab(visible=shown) if isinstance(c, gr.Tab) else gr.update(visible=shown) for c in sections),
        ]

    on(page.user.change, admin_sections, page.user, [page.tab["review"], *sections], api_name=False, show_progress="hidden")
    review_lists, review_outputs = page.review
    on(page.tab["review"].select, review_lists, page.user, review_outputs, api_name="review_lists", show_progress="hidden")
    return model_lists


def _wire_session(studio: Studio, app: gr.Blocks, page: Page, form: dict[str, Any], loaded: gr.State, model_lists: Any) -> None:
    """Sign-in, sign-out, OAuth, and the page (re)load that resumes the browser's session."""
    user, session, dropdowns = page.user, page.session, [d for d, _ in page.lists]

    def sign_in(n: str, pw: str, sess: dict | None, request: gr.Request):
        account, token = studio.sign_in(n, pw, client=request.client.host if request and request.client else None)
        sess = sess if isinstance(sess, dict) else {}
        fresh = {"token": token} if sess.get("user") != account.name else {**sess, "token": token}
        return account, banner_html(f"Signed in as {account.name} ({account.role})"), "", {**fresh, "user": account.name}, ""

    def sign_out(account, sess: dict | None):
        """Ends the session the page acts under (every tab that shares it is signed out from its next call on)."""
        studio.sign_out(sess.get("token") if isinstance(sess, dict) else None)
        if account is not None:
            studio.sign_out(account.token)
        return None, banner_html(SIGNED_OUT), {}

    def resume(request: gr.Request, sess: dict | None, *current: str):
        """A page (re)load: the session the browser kept, the first-admin hint for whoever sits at this machine, and the
        model lists as they are now; one answer, so nothing the page opens with can race it."""
        account = studio.resume(sess.get("token") if isinstance(sess, dict) else None)
        host = request.client.host if request and request.client else ""
        hint = ""
        if studio.needs_first_admin() and host in LOOPBACK:
            hint = banner_html(f"No admin account yet. In a terminal on this machine: {studio.first_admin_command()}", "warn")
        tab = sess.get("tab") if isinstance(sess, dict) and sess.get("tab") in TAB_IDS else None
        back = gr.Tabs(selected=tab) if tab else gr.skip()
        banner = banner_html(SIGNED_OUT) if account is None else banner_html(f"Signed in as {account.name} ({account.role})")
        return account, banner, hint, back, True, *model_lists(None, False, *current)

    def sign_in_oauth(profile: gr.OAuthProfile | None):
        if profile is None:  # not signed in on the Hub yet: stay anonymous, no toast on every page load
            return None, banner_html("Not signed in: use the Hugging Face button to annotate.")
        account = studio.sign_in_oauth(profile.username)
        return account, banner_html(f"Signed in as {account.name} ({account.role})")

    signed_in = [user, page.who, form["password"], session, page.setup]
    on(form["signin"].click, sign_in, [form["name"], form["password"], session], signed_in, api_name="sign_in")
    on(form["password"].submit, sign_in, [form["name"], form["password"], session], signed_in, api_name=False)
    on(form["signout"].click, sign_out, [user, session], [user, page.who, session], api_name="sign_out")
    on(
        app.load,
        resume,
        [session, *dropdowns],
        [user, page.who, page.setup, page.tabs, loaded, *dropdowns],
        api_name=False,
        show_progress="hidden",
    )
    if studio.oauth_enabled():
        on(app.load, sign_in_oauth, None, [user, page.who], api_name="sign_in_oauth")


def _calm_queue(app: gr.Blocks) -> None:
    """Make Gradio's event queue cheaper when idle and per event.

    - It polls every 20 ms instead of every 1 ms (10 ms for progress) when empty: its idle
      polling kept an idle server at about 7% of one core on 2 cores; at 20 ms, about 1.4%.
    - After every event it rebuilds a pandas summary of up to 10,000 recorded events for its
      /monitoring page, which the studio does not serve; that cost grows with the server's
      age. The summary is refreshed every 1,000 events instead.
    """
    queue = getattr(app, "_queue", None)
    if queue is not None and hasattr(queue, "sleep_when_free"):
        queue.sleep_when_free = 0.02
        queue.progress_update_sleep_when_free = 0.02
    if queue is not None and hasattr(queue, "ANAYLTICS_CACHE_FREQUENCY"):  # sic: Gradio's spelling
        queue.ANAYLTICS_CACHE_FREQUENCY = 1000


__all__ = ["build_app", "launch_options", "esc"]
