"""Every event of the studio driven through gradio_client, roles included."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from gradio_client import Client

NO_MODEL = "(no model)"
NO_RATER = "(no empathy rater)"
ALL_RATINGS = "every rating (mean per item)"
LATEST_RELEASE = "latest release"


@pytest.fixture
def client(live_app):
    url, _ = live_app
    return Client(url, verbose=False)


def signed_in(live_app, name: str, password: str) -> Client:
    c = Client(live_app[0], verbose=False)
    c.predict(name, password, {}, api_name="/sign_in")
    return c


def _plot(value) -> dict:
    if isinstance(value, dict) and value.get("__type__") == "update":  # a plot sent with its visibility
        value = value["value"]
    return json.loads(value["plot"]) if isinstance(value, dict) else json.loads(value)


def test_every_event_has_an_api_name(live_app):
    info = Client(live_app[0], verbose=False).view_api(print_info=False, return_format="dict")
    names = set(info["named_endpoints"])
    expected = {
        "/filter_dialogues",
        "/explore_dialogue",
        "/predict_text",
        "/analyze",
        "/analyze_downloads",
        "/analyze_ratings",
        "/sign_in",
        "/next_item",
        "/submit_rating",
        "/skip_item",
        "/previous_item",
        "/open_rating",
        "/undo_rating",
        "/my_ratings",
        "/set_queue",
        "/switch_campaign",
        "/sign_out",
        "/create_campaign",
        "/campaigns",
        "/toggle_campaign",
        "/campaign_agreement",
        "/bland_altman",
        "/campaign_export",
        "/estimate_training",
        "/start_training",
        "/jobs",
        "/poll_jobs",
        "/cancel_job",
        "/models",
        "/set_default_model",
        "/rename_model",
        "/delete_model",
        "/publish_ensemble",
        "/model_lists",
        "/predict_empathy",
        "/analyze_rater",
        "/review_lists",
        "/review_queue",
        "/adjudicate",
        "/create_release",
        "/show_release",
        "/export_release",
        "/review_options",
        "/edit_guidelines",
        "/audit_log",
        "/audit_export",
        "/set_account",
        "/set_rater_gates",
        "/rater_quality",
        "/exclude_rater",
        "/reinstate_rater",
        "/practice_view",
        "/practice_answer",
    }
    assert expected <= names, expected - names


def test_explore_dialogue_and_text(client):
    update = client.predict("", "any", "any", "test", "any", api_name="/filter_dialogues")
    chosen = update["value"]
    assert chosen.startswith("demo-") and all(label.split(" · ")[1] == "test" for label, _ in update["choices"])
    html, probs, traj, chat = client.predict("minilm-quick", chosen, api_name="/explore_dialogue")
    assert "predicted" in html and "gold" in html and "SEEKER" in chat.upper()
    assert "average seeker" in html and "other words" in html and "The parts add up to the prediction" in html
    bars = _plot(probs)["data"][0]
    assert len(bars["y"]) == 7 and abs(sum(bars["x"]) - 1) < 1e-4
    assert {t["name"] for t in _plot(traj)["data"]} >= {"predicted initial", "predicted final"}
    html, probs, traj, chat = client.predict("minilm-quick", "I failed my exam and I feel worthless", api_name="/predict_text")
    assert "initial intensity" in html and "I failed my exam" in chat and "For one typed text" in html
    assert traj["visible"] is False  # no empty trajectory for a single text


def test_bad_input_gives_an_error_not_a_crash(client):
    with pytest.raises(Exception, match="type some text"):
        client.predict("minilm-quick", "   ", api_name="/predict_text")
    with pytest.raises(Exception, match="limit"):
        client.predict("minilm-quick", "x" * 100_001, api_name="/predict_text")
    with pytest.raises(Exception, match="not in the list of choices|unknown dialogue"):
        client.predict("minilm-quick", "no-such-dialogue", api_name="/explore_dialogue")
    assert client.predict("", "any", "any", "any", "any", api_name="/filter_dialogues")  # the server is still up


def test_analyze_and_downloads(client):
    out = client.predict("minilm-quick", "minilm-quick", "esconv", "all", False, api_name="/analyze")
    metrics = out[1]
    rows = {r[0]: r[1:] for r in metrics["data"]}
    assert 0 <= rows["F1 (weighted)"][0] <= 1 and rows["items"][0] == 30
    assert metrics["headers"][-2:] == ["B − A", "B − A, 95% CI (paired bootstrap)"]
    assert rows["MSE, initial"][2] == 0 and rows["F1 (weighted)"][3] == "+0.0000 to +0.0000"  # a model against itself
    p = rows["Pearson p, initial"][0]
    assert p is None or "e" in p or float(p) >= 1e-3  # a p-value is never shown as "0"
    violin = _plot(out[2])
    assert any(t["type"] == "violin" for t in violin["data"]) and any(t.get("name") == "OLS fit" for t in violin["data"])
    layout = violin["layout"]
    assert (
        layout["xaxis"]["title"]["text"] == "self-reported initial intensity"
        and layout["yaxis"]["title"]["text"] == "predicted initial intensity"
    )
    assert [t.split("<br>")[0] for t in layout["xaxis"]["ticktext"]] == ["1", "2", "3", "4", "5"]  # every level, empty ones with n = 0
    assert all("n = " in t for t in layout["xaxis"]["ticktext"])
    fitted = layout["yaxis"]["range"]
    full = _plot(client.predict("minilm-quick", "(none)", "esconv", "all", True, api_name="/analyze")[2])["layout"]["yaxis"]["range"]
    assert full == [0.5, 5.5] and fitted[1] - fitted[0] < 5  # fitted to the data unless the full scale is asked for
    assert out[7] is not None and out[13] is not None  # side-by-side model B: violins and its per-class table
    assert rows["expected calibration error"][0] is not None
    files = client.predict("minilm-quick", "minilm-quick", "esconv", "test", False, api_name="/analyze_downloads")
    suffixes = {Path(f).suffix for f in files}
    assert {".png", ".svg", ".csv"} <= suffixes and any(Path(f).name.endswith("per-class.csv") for f in files)


def test_roles_hold_without_credentials(client):
    for args, api in [
        (("minilm-quick",), "/analyze_ratings"),
        (("default", "3", "2", "", "", None, "", {}), "/submit_rating"),
        (("default", {}), "/skip_item"),
        (("default", {}), "/previous_item"),
        (("default", {}), "/undo_rating"),
        (("default", {}), "/switch_campaign"),
        (("random", "minilm-quick", False), "/set_queue"),
        (("c1", 2, "split", "test", "", None, "", None, ["initial", "final"], True, 0, 0.0, ""), "/create_campaign"),
        (("default", NO_MODEL), "/campaign_agreement"),
        (("default", "csv"), "/campaign_export"),
        (("minilm", "gold", "emotion-intensity", 1, 5e-5, 64, 8, 1, ""), "/start_training"),
        (("minilm", "gold", "emotion-intensity", 1, 5e-5, 64, 8, 1, ""), "/estimate_training"),
        ((1,), "/cancel_job"),
    ]:
        with pytest.raises(Exception, match="sign in first|not an admin"):
            client.predict(*args, api_name=api)


def test_wrong_password(client):
    with pytest.raises(Exception, match="wrong password"):
        client.predict("ana", "nope", {}, api_name="/sign_in")


def test_annotator_rates_skips_goes_back_undoes_and_edits(live_app):
    _, studio = live_app
    c = signed_in(live_app, "ben", "benpw")
    view = c.predict({}, api_name="/next_item")
    assert view[0]["value"] == "default" and "es-dialogue" in view[1] and "gold emotion" not in view[1]  # gold is never shown
    out = c.predict("default", "4", "2", "fear", "", "4", "<b>first</b>", {}, api_name="/submit_rating")
    assert "Saved demo-" in out[-2]
    sess = out[-1]
    sess = c.predict("default", sess, api_name="/skip_item")[-1]
    out = c.predict("default", "3", "1", "", "", None, "", sess, api_name="/submit_rating")
    rated = studio.store.ratings(annotator="ben")
    assert [(r["initial"], r["note"], r["confidence"], r["campaign"]) for r in rated] == [
        (4, "<b>first</b>", 4, "default"),
        (3, None, None, "default"),
    ]
    back = c.predict("default", out[-1], api_name="/previous_item")
    assert back[2] in ("3", 3) and back[6] is None  # the last rated item with its rating; confidence stays unset
    undone = c.predict("default", back[-1], api_name="/undo_rating")
    assert "withdrew it" in undone[-2] and [r["item_id"] for r in studio.store.ratings(annotator="ben")] == [rated[0]["item_id"]]
    mine = c.predict(api_name="/my_ratings")
    assert mine["data"][0][mine["headers"].index("note")] == "<b>first</b>"  # shown as typed: not escaped twice, not stripped
    with pytest.raises(Exception, match="both the initial"):
        c.predict("default", None, "2", "", "", None, "", {}, api_name="/submit_rating")
    with pytest.raises(Exception, match="not in the list of choices"):
        c.predict("default", "3", "2", "", "", "2.5", "", {}, api_name="/submit_rating")  # confidence is a whole number or nothing
    with pytest.raises(Exception, match="not an admin"):
        c.predict("random", "minilm-quick", False, api_name="/set_queue")


def test_admin_queue_ratings_view_and_training_controls(live_app):
    _, studio = live_app
    admin = signed_in(live_app, "admin", "adminpw")
    assert admin.predict("disagreement", "minilm-quick", False, api_name="/set_queue") == "disagreement"
    admin.predict("random", "minilm-quick", False, api_name="/set_queue")
    admin.predict({}, api_name="/next_item")
    admin.predict("default", "3", "2", "", "", None, "", {}, api_name="/submit_rating")
    plots = admin.predict("minilm-quick", api_name="/analyze_ratings")
    assert plots[0] is not None
    jobs_df, detail, *_ = admin.predict(None, api_name="/jobs")
    assert "job" in detail.lower()
    models = admin.predict(api_name="/models")
    assert "minilm-quick" in [r[0].removesuffix(" (default)") for r in models["data"]]  # the default is marked in its row
    with pytest.raises(Exception, match="not in the list of choices|unknown model"):
        admin.predict("nope", "gold", "emotion-intensity", 1, 5e-5, 64, 8, 1, "", api_name="/start_training")
    with pytest.raises(Exception, match="enter a job id"):
        admin.predict(None, api_name="/cancel_job")
    est = admin.predict("minilm", "gold", "emotion", 1, 5e-5, 32, 4, 1, "", api_name="/estimate_training")
    assert "s/step" in est
    out = admin.predict("minilm", "gold", "emotion", 1, 5e-5, 32, 4, 1, "app-test-model", api_name="/start_training")
    job_id = int(out[1])
    assert admin.predict(job_id, api_name="/cancel_job")[0]["data"][0][1] in ("cancelled", "running", "queued")
    assert studio.jobs.wait(job_id, timeout=60)["state"] == "cancelled"
    assert admin.predict(job_id, api_name="/poll_jobs")[0]["data"]


def test_hostile_model_names_are_refused_through_the_api(live_app):
    admin = signed_in(live_app, "admin", "adminpw")
    for name in ("../escape", "/tmp/abs", "a/b", ".hidden"):
        with pytest.raises(Exception, match="is not allowed"):
            admin.predict("minilm", "gold", "emotion", 1, 5e-5, 32, 4, 1, name, api_name="/start_training")
    with pytest.raises(Exception, match="batch_size must be an integer from 1 to 4096, got 0"):
        admin.predict("minilm", "gold", "emotion", 1, 5e-5, 32, 0, 1, "", api_name="/estimate_training")
    assert not any(j["params"].get("name") in ("../escape", "/tmp/abs", "a/b", ".hidden") for j in live_app[1].store.jobs())


def test_the_jobs_table_names_people_to_admins_only(live_app):
    _, studio = live_app
    studio.store.create_job({"model": "minilm", "policy": "gold"}, "admin")  # a queued row is enough to be listed
    anonymous = Client(live_app[0], verbose=False).predict(None, api_name="/jobs")[0]
    by = anonymous["headers"].index("by")
    assert anonymous["data"] and all(row[by] in (None, "") for row in anonymous["data"])
    admin = signed_in(live_app, "admin", "adminpw").predict(None, api_name="/jobs")[0]
    assert "admin" in [row[by] for row in admin["data"]]
    for job in studio.store.jobs(states=["queued"]):
        studio.store.update_job(job["id"], state="cancelled")


def test_sign_in_attempts_back_off_through_the_api(live_app):
    from .conftest import wait_for

    c = Client(live_app[0], verbose=False)
    c.predict("ben", "benpw", {}, api_name="/sign_in")  # earlier tests' failures from this address start from zero
    for _ in range(5):
        with pytest.raises(Exception, match="wrong password"):
            c.predict("mallory", "guess", {}, api_name="/sign_in")
    with pytest.raises(Exception, match="too many failed sign-ins"):
        c.predict("mallory", "guess", {}, api_name="/sign_in")

    def ben_gets_in() -> bool:  # the address waits a second, then a good sign-in clears it for the other tests
        try:
            c.predict("ben", "benpw", {}, api_name="/sign_in")
            return True
        except Exception:  # noqa: BLE001
            return False

    assert wait_for(ben_gets_in, timeout=10, every=0.5)


def test_campaign_agreement_in_the_page_equals_the_cli(live_app, tmp_path):
    import subprocess
    import sys

    from empathy_studio.services import CampaignRequest

    from .conftest import ROOT

    _, studio = live_app
    admin_account = studio.annotation.login("admin", "adminpw")
    studio.create_campaign(admin_account, CampaignRequest(name="same-numbers", k=2, source="split", split="train", limit=8))
    cid = studio.store.campaign("same-numbers")["id"]
    for who, shift in (("ana", 0), ("ben", 1)):
        account = studio.store.annotator(who)
        while (item := studio.store.claim(cid, account.id)) is not None:
            d = studio.dialogue(item)
            studio.store.rate(
                who,
                item,
                int(min(5, d.initial + shift)),
                int(max(1, min(5, (d.final if d.final == d.final else 2) - shift))),
                campaign_id=cid,
            )
    admin = signed_in(live_app, "admin", "adminpw")
    stats = admin.predict("same-numbers", NO_MODEL, api_name="/campaign_agreement")[0]
    shown = {row[0]: row[1:] for row in stats["data"]}
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "empathy_studio.cli",
            "ratings",
            "agreement",
            "--json",
            "--campaign",
            "same-numbers",
            "--db",
            str(studio.settings.effective_db_path),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    cli = json.loads(res.stdout)
    assert cli["n_ratings"] == 16
    for key, label in (
        ("alpha_interval", "Krippendorff's alpha (interval)"),
        ("alpha_ordinal", "Krippendorff's alpha (ordinal)"),
        ("icc2_1", "ICC(2,1)"),
        ("icc2_k", "ICC(2,k)"),
    ):
        for col, target in enumerate(("initial", "final")):
            want = cli[target][key]
            assert (shown[label][col] is None and want is None) or shown[label][col] == pytest.approx(round(want, 3), abs=1e-9), (
                key,
                target,
            )
    lo, hi = cli["initial"]["alpha_interval_ci95"]
    assert shown["alpha 95% CI (bootstrap over items)"][0] == f"{lo:.2f} to {hi:.2f}"
    csv_path = admin.predict("same-numbers", "csv", api_name="/campaign_export")
    assert Path(csv_path).read_text().count("\n") == 17  # a header and 16 ratings
    studio.set_campaign_active(admin_account, "same-numbers", False)


def test_a_campaign_from_an_uploaded_file_shows_its_own_dialogues_and_text_as_typed(live_app, tmp_path):
    from empathy_studio.data import DEMO_PATH
    from empathy_studio.services import CampaignRequest

    _, studio = live_app
    records = json.loads(DEMO_PATH.read_text())[:4]
    for i, rec in enumerate(records):
        rec["dialogue_id"] = f"<i>up{i}</i>"
    upload = tmp_path / "mine.json"
    upload.write_text(json.dumps(records))
    studio.create_campaign(
        studio.annotation.login("admin", "adminpw"), CampaignRequest(name="uploaded", k=1, source="file", file=str(upload))
    )
    ana = signed_in(live_app, "ana", "anapw")
    view = ana.predict("uploaded", {}, api_name="/switch_campaign")
    assert "&lt;i&gt;up" in view[0] and "<i>up" not in view[0]  # the uploaded dialogue is shown, its id as typed (escaped once)
    out = ana.predict("uploaded", "3", "2", "", "", None, "", view[-2], api_name="/submit_rating")
    assert "Saved uploaded:&lt;i&gt;up" in out[-2]
    saved = [r for r in studio.store.ratings(annotator="ana") if r["campaign"] == "uploaded"]
    assert len(saved) == 1 and saved[0]["item_id"].startswith("uploaded:<i>up")
    with pytest.raises(Exception, match="unknown campaign 'nope'"):
        ana.predict("nope", {}, api_name="/switch_campaign")
    studio.set_campaign_active(studio.annotation.login("admin", "adminpw"), "uploaded", False)
    with pytest.raises(Exception, match="campaign uploaded is closed"):
        ana.predict("uploaded", "3", "2", "", "", None, "", {}, api_name="/submit_rating")


def test_a_model_published_while_the_server_runs_appears_in_every_model_list(live_app):
    import shutil

    url, studio = live_app
    shutil.copytree(Path(__file__).parent / "data" / "legacy-tiny", studio.settings.models_dir / "live-tiny")
    c = Client(url, verbose=False)
    values = [
        "minilm-quick",
        NO_RATER,
        "minilm-quick",
        "(none)",
        None,
        ALL_RATINGS,
        "minilm-quick",
        NO_MODEL,
        "minilm",
        LATEST_RELEASE,
        None,
        ["minilm-quick", "gone"],  # the models an ensemble averages: a multiselect keeps what is still there
    ]
    lists = c.predict(*values, api_name="/model_lists")
    assert lists[-1]["value"] == ["minilm-quick"] and "live-tiny" in [ch[0] for ch in lists[-1]["choices"]]
    values[-1] = ["live-tiny"]
    lists = c.predict(*values, api_name="/model_lists")
    not_models = (1, 4, 5, 9)  # raters, the Analyze reference, the Train release
    assert all("live-tiny" in [ch[0] for ch in d["choices"]] for i, d in enumerate(lists) if i not in not_models)  # no restart, no reload
    assert "live-tiny" not in [ch[0] for ch in lists[1]["choices"]] + [ch[0] for ch in lists[4]["choices"]]  # not an empathy rater
    assert [d["value"] for d in lists] == values  # choices kept
    html, *_ = c.predict("live-tiny", "i am so sad and tired", api_name="/predict_text")
    assert "live-tiny" in html
    shutil.rmtree(studio.settings.models_dir / "live-tiny")
    lists = c.predict(
        "live-tiny",
        NO_RATER,
        "minilm-quick",
        "(none)",
        None,
        ALL_RATINGS,
        "minilm-quick",
        NO_MODEL,
        "minilm",
        LATEST_RELEASE,
        None,
        ["live-tiny"],
        api_name="/model_lists",
    )
    assert lists[0]["value"] == "minilm-quick" and "live-tiny" not in [ch[0] for ch in lists[0]["choices"]]  # a model gone falls back
    assert lists[-1]["value"] == []


def test_seed_models_are_published_as_one_model_by_admins_only_through_the_api(live_app, tiny_encoder):
    from .conftest import save_tiny_model

    url, studio = live_app
    for name in ("seed-a", "seed-b"):  # two seeker models of one training set, as two seeds give
        save_tiny_model(tiny_encoder, studio.settings.models_dir / name, task="emotion-intensity", data_hash="same", policy="gold")
    with pytest.raises(Exception, match="admin"):
        signed_in(live_app, "ben", "benpw").predict(["seed-a", "seed-b"], "seeds", api_name="/publish_ensemble")
    admin = signed_in(live_app, "admin", "adminpw")
    with pytest.raises(Exception, match="at least 2 models"):
        admin.predict(["seed-a"], "seeds", api_name="/publish_ensemble")
    with pytest.raises(Exception, match="is not allowed"):
        admin.predict(["seed-a", "seed-b"], "../seeds", api_name="/publish_ensemble")
    # the models' manifests name a training set this server cannot rebuild: refused, and nothing is published
    with pytest.raises(Exception, match="training set"):
        admin.predict(["seed-a", "seed-b"], "seeds", api_name="/publish_ensemble")
    assert not (studio.settings.models_dir / "seeds").exists()
    for name in ("seed-a", "seed-b"):
        shutil.rmtree(studio.settings.models_dir / name)


def test_an_empathy_rater_puts_badges_on_supporter_turns_and_rates_a_typed_pair(live_app, tiny_encoder):
    from empathy_studio.models.rater import RaterConfig, build_rater, save_rater

    url, studio = live_app
    model, tok = build_rater(tiny_encoder, RaterConfig(hidden=8))
    save_rater(model, tok, studio.settings.models_dir / "tiny-rater", {"name": "tiny-rater", "task": "empathy", "objective": "rater"})
    c = Client(url, verbose=False)
    assert "tiny-rater" not in studio.model_choices() and studio.rater_choices() == ["tiny-rater"]
    chosen = c.predict("", "any", "any", "test", "any", api_name="/filter_dialogues")["value"]
    *_, chat = c.predict("minilm-quick", chosen, "tiny-rater", api_name="/explore_dialogue")
    assert "es-badge" in chat and "ER " in chat and "IP " in chat and "EX " in chat
    *_, plain = c.predict("minilm-quick", chosen, NO_RATER, api_name="/explore_dialogue")
    assert "es-badge" not in plain
    html = c.predict(
        "tiny-rater",
        "I feel so alone since the move",
        "That sounds really hard. What has been the hardest part?",
        api_name="/predict_empathy",
    )
    assert "emotional reactions" in html and "4-level" in html
    with pytest.raises(Exception, match="post is empty"):
        c.predict("tiny-rater", "  ", "a reply", api_name="/predict_empathy")
    with pytest.raises(Exception, match="pick an empathy rater"):
        c.predict(NO_RATER, "post", "reply", api_name="/predict_empathy")
    with pytest.raises(Exception, match="not an empathy rater"):
        c.predict("minilm-quick", "post", "reply", api_name="/predict_empathy")
    with pytest.raises(Exception, match="EPITOME is not configured"):  # this server runs on the demo set alone
        c.predict("tiny-rater", "esconv", api_name="/analyze_rater")


def test_a_rater_with_a_rationale_head_marks_the_words_behind_each_mechanism_and_shows_markup_as_typed(live_app, tiny_encoder):
    import torch

    from empathy_studio.models.rater import RaterConfig, build_rater, save_rater

    url, studio = live_app
    model, tok = build_rater(tiny_encoder, RaterConfig(hidden=8, rationale_weight=1.0))
    with torch.no_grad():  # a rater that reads every mechanism as strong and marks every word of the response
        for head in model.mechanisms.values():
            head[3].bias.copy_(torch.tensor([-9.0, -9.0, 9.0]))
        model.rationale[1].bias.fill_(9.0)
    save_rater(model, tok, studio.settings.models_dir / "why-rater", {"name": "why-rater", "task": "empathy", "objective": "rater"})
    c = Client(url, verbose=False)
    response = 'That sounds <b>really</b> hard & "<script>alert(1)</script>". What happened?'
    html = c.predict("why-rater", "I feel so alone", response, api_name="/predict_empathy")
    assert '<mark class="es-why es-why-er es-why-ip es-why-ex"' in html and "the words behind ER, IP, EX" in html
    assert "&lt;b&gt;really&lt;/b&gt;" in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>" not in html and "<b>really" not in html
    chosen = c.predict("", "any", "any", "test", "any", api_name="/filter_dialogues")["value"]
    *_, chat = c.predict("minilm-quick", chosen, "why-rater", api_name="/explore_dialogue")
    assert "es-why-er" in chat and "Marked words" in chat


def test_a_response_empathy_campaign_is_rated_through_the_api_with_the_raters_suggestion(live_app, tiny_encoder, tmp_path):
    """Campaign of (post, response) pairs: create, rate ER/IP/EX, refuse bad levels, undo, agreement per mechanism, export."""
    from gradio_client import handle_file

    from empathy_studio.models.rater import RaterConfig, build_rater, save_rater

    url, studio = live_app
    if "tiny-rater" not in studio.rater_choices():
        model, tok = build_rater(tiny_encoder, RaterConfig(hidden=8))
        save_rater(model, tok, studio.settings.models_dir / "tiny-rater", {"name": "tiny-rater", "task": "empathy", "objective": "rater"})
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(
        "id,post,response\n" + "".join(f"r{i},i feel so alone <b>{i}</b>,that sounds hard. what happened?\n" for i in range(4))
    )
    admin = signed_in(live_app, "admin", "adminpw")
    admin.predict(
        "resp-1",
        2,
        "file",
        "test",
        "",
        None,
        "",
        handle_file(str(pairs)),
        ["initial", "final"],
        False,
        0,
        0.0,
        "be kind",
        "empathy",
        api_name="/create_campaign",
    )
    assert studio.store.campaign("resp-1")["kind"] == "empathy"
    ana = signed_in(live_app, "ana", "anapw")
    view = ana.predict("resp-1", {}, api_name="/switch_campaign")
    chat, helper = view[0], view[1]
    assert "i feel so alone &lt;b&gt;" in chat and "that sounds hard" in chat  # the pair, as typed
    assert "tiny-rater" in helper and "es-badge" in chat  # not blind: the rater's levels under the response
    session = next(v for v in view if isinstance(v, dict) and v.get("campaign") == "resp-1")
    with pytest.raises(Exception, match="set Explorations \\(EX\\) \\(keys 0-2\\)"):
        ana.predict("resp-1", "2", "1", None, "", session, api_name="/submit_empathy_rating")
    with pytest.raises(Exception, match="'7'.* is not in the list of choices"):
        ana.predict("resp-1", "7", "1", "0", "", session, api_name="/submit_empathy_rating")
    with pytest.raises(Exception, match="is a supporter's response, not a dialogue: rate its empathy instead"):
        ana.predict("resp-1", "3", "2", "", "", None, "", session, api_name="/submit_rating")
    assert studio.store.empathy_ratings(annotator="ana") == []
    out = ana.predict("resp-1", "2", "1", "0", "warm", session, api_name="/submit_empathy_rating")
    assert "Saved resp-1:r" in out[-2]
    saved = studio.store.empathy_ratings(annotator="ana")
    assert [(r["emotional_reactions"], r["interpretations"], r["explorations"], r["note"]) for r in saved] == [(2, 1, 0, "warm")]
    assert saved[0]["assisted"] is True
    undone = ana.predict("resp-1", {}, api_name="/undo_rating")
    assert "withdrew it" in undone[-2] and studio.store.empathy_ratings(annotator="ana") == []
    ben = signed_in(live_app, "ben", "benpw")
    for who in (ana, ben):
        sess = next(
            x for x in who.predict("resp-1", {}, api_name="/switch_campaign") if isinstance(x, dict) and x.get("campaign") == "resp-1"
        )
        while sess.get("item"):
            out = who.predict("resp-1", "1", "1", "1", "", sess, api_name="/submit_empathy_rating")
            sess = next(x for x in out if isinstance(x, dict) and x.get("campaign") == "resp-1")
    assert studio.store.campaign_progress(studio.store.campaign("resp-1")["id"])["complete"] == 4
    stats, heat_er, _, _, each, per_emotion, a_name, b_name, scale = admin.predict("resp-1", "tiny-rater", api_name="/campaign_agreement")
    assert stats["headers"] == ["statistic", "ER", "IP", "EX"]
    # every view says what the campaign rates: mechanisms at 0-2, not intensity
    assert heat_er["label"] == "Pairwise QWK, ER (emotional reactions)" and "gold" in each["label"] and per_emotion["visible"] is False
    assert [c[0] for c in scale["choices"]] == ["emotional_reactions", "interpretations", "explorations"]
    ba = json.loads(admin.predict("resp-1", a_name["value"], b_name["value"], "emotional_reactions", api_name="/bland_altman")["plot"])
    assert "emotional reactions (ER) (0-2)" in ba["layout"]["title"]["text"] and ba["layout"]["xaxis"]["range"] == [-0.5, 2.5]
    with pytest.raises(Exception, match="not an empathy rater"):
        admin.predict("resp-1", "minilm-quick", api_name="/campaign_agreement")
    csv_path = admin.predict("resp-1", "csv", api_name="/campaign_export")
    lines = Path(csv_path).read_text().splitlines()
    assert (
        lines[0].startswith(
            "annotator,item_id,item_kind,campaign,gold_emotional_reactions,gold_interpretations,gold_explorations,"
            "emotional_reactions,interpretations,explorations"
        )
        and len(lines) == 9
    )
    with pytest.raises(Exception, match="not an admin"):
        ana.predict("resp-1", NO_MODEL, api_name="/campaign_agreement")
    studio.set_campaign_active(studio.annotation.login("admin", "adminpw"), "resp-1", False)


def test_the_train_forms_request_carries_the_options_the_form_offers_for_each_family():
    """The form offers the rater's arch, loss and score loss; the head options it does not offer keep their preset's value."""
    from empathy_studio.ui.train import TrainEvents

    rater = TrainEvents.request("minilm", "gold", "empathy", 1, 5e-5, 64, 16, 1, "", "cross", "focal", "mae", "f1_weighted")
    assert (rater.arch, rater.loss, rater.score_loss, rater.select_metric) == ("cross", "focal", "mae", "f1_weighted")
    assert rater.rationale_weight is None
    seeker = TrainEvents.request("minilm", "gold", "emotion-intensity", 1, 5e-5, 64, 16, 1, "", "cross", "focal", "mae", "f1_weighted")
    assert (seeker.arch, seeker.select_metric, seeker.end_view) == (None, None, None)
