"""What a clinic and a lab meet in their first study, through gradio_client: short texts that say so and draw nothing,
explanations that start from a baseline, the default model as it is now, exports and downloads a researcher can use."""

from __future__ import annotations

import json

import pytest
from gradio_client import Client


def _plot(value) -> dict | None:
    if isinstance(value, dict) and value.get("__type__") == "update":
        if value.get("visible") is False:
            return None
        value = value.get("value")
    if value is None:
        return None
    return json.loads(value["plot"]) if isinstance(value, dict) else json.loads(value)


def test_too_little_text_is_said_once_and_nothing_is_drawn_for_it(live_app):
    url, studio = live_app
    import dataclasses

    predictor = studio.predictor("minilm-quick")
    kept = predictor.calibration
    predictor.calibration = dataclasses.replace(kept, min_words=16)  # the starter model's figure on ESConv (the demo set's may be none)
    try:
        c = Client(url, verbose=False)
        html, probs, _, _ = c.predict("minilm-quick", "hi", api_name="/predict_text")
        assert "Too little text to read: 1 word," in html and _plot(probs) is None
        hidden = studio.hidden_from(None)  # other tests' blind campaigns: their dialogues are not for anonymous callers
        d = next(
            d
            for d in studio.esconv.dialogues
            if d.dialogue_id not in hidden and len(d.seeker_turns[0].split()) < 16 and len(d.seeker_text.split()) >= 16
        )
        html, probs, traj, _ = c.predict("minilm-quick", d.dialogue_id, api_name="/explore_dialogue")
        fig = _plot(traj)
        first = [t["y"][0] for t in fig["data"] if t.get("name", "").startswith("predicted")]
        assert first == [None, None] and "too little text to read, not drawn" in fig["layout"]["title"]["text"]
        assert _plot(probs) is not None
    finally:
        predictor.calibration = kept


def test_a_word_explanation_starts_from_the_average_seeker_and_adds_up(live_app):
    import re

    url, studio = live_app
    html = Client(url, verbose=False).predict("minilm-quick", "I failed my exam and I feel worthless and alone", api_name="/predict_text")[
        0
    ]
    base = studio.intensity_baseline("minilm-quick")
    assert set(base) == {"initial", "final", "change"} and "average seeker" in html and "= −0.89 other words" not in html
    pred = studio.predict_texts("minilm-quick", ["I failed my exam and I feel worthless and alone"])[0].to_dict()
    row = re.search(r"<tr><td>initial</td><td>([\d.]+)</td><td><b>([+-][\d.]+)</b>.*?<td>([+-][\d.]+)</td><td><b>([\d.]+)</b>", html)
    start, words, rest, shown = (float(g) for g in row.groups())
    assert start == pytest.approx(base["initial"][0], abs=0.005) and shown == pytest.approx(pred["pred_initial"], abs=0.005)
    assert start + words + rest == pytest.approx(shown, abs=0.02)  # the parts add up to the prediction


def test_an_export_carries_item_kinds_gold_text_the_suggestion_shown_history_and_fixed_types(live_app, tmp_path):
    import csv

    from datasets import concatenate_datasets, load_from_disk

    from empathy_studio.rating_io import export_ratings
    from empathy_studio.services import CampaignRequest

    url, studio = live_app
    admin = studio.annotation.login("admin", "adminpw")
    studio.create_campaign(
        admin, CampaignRequest(name="export-full", k=1, source="ids", ids="demo-13 demo-14 demo-15", calibration=1, blind=False)
    )
    c = Client(url, verbose=False)
    sess = c.predict("ana", "anapw", {}, api_name="/sign_in")[2]
    view = c.predict("export-full", sess, api_name="/switch_campaign")
    first = c.predict("export-full", "4", "2", "", "", None, "", view[-2], api_name="/submit_rating")
    c.predict("export-full", "3", "3", "", "", None, "", first[-1], api_name="/submit_rating")
    studio.annotation.rate(studio.annotation.login("ana", "anapw"), "demo-13", 5, 2, campaign="export-full")  # an edit: history
    rows = list(csv.DictReader(open(studio.campaign_export(admin, "export-full", "csv", with_text=True), encoding="utf-8")))
    assert {r["item_kind"] for r in rows} == {"calibration", "item"} and all(r["gold_initial"] and r["text"] for r in rows)
    assert all(json.loads(r["suggestion"])["model"] == "minilm-quick" and "pred_initial" in json.loads(r["suggestion"]) for r in rows)
    edited = next(r for r in rows if r["item_id"] == "demo-13")
    assert [h["new"]["initial"] for h in json.loads(edited["history"])] == [4, 5]
    plain = tmp_path / "plain.jsonl"
    export_ratings(studio.store, plain, "jsonl", campaign="export-full")
    assert "text" not in json.loads(plain.read_text().splitlines()[0])  # the text only when asked for
    a, b = tmp_path / "a", tmp_path / "b"
    export_ratings(studio.store, a, "hf", campaign="export-full")
    studio.create_campaign(admin, CampaignRequest(name="export-empty", k=1, source="ids", ids="demo-16", blind=False))
    export_ratings(studio.store, b, "hf", campaign="export-empty")  # no ratings at all: every column still typed
    da, db = load_from_disk(str(a)), load_from_disk(str(b))
    assert da.features == db.features and str(db.features["note"].dtype) == "string" and str(db.features["initial"].dtype) == "int64"
    assert len(concatenate_datasets([da, db])) == len(da)


def test_the_train_tab_offers_presets_and_datasets_and_a_jobs_table_with_task_duration_and_end(live_app):
    url, studio = live_app
    c = Client(url, verbose=False)
    c.predict("admin", "adminpw", {}, api_name="/sign_in")
    args = ("minilm", "gold", "emotion-intensity", 1, 5e-5, 64, 8, 1, "", "bi", "ce", "mse", "f1_weighted")
    with pytest.raises(Exception, match="rater is not in the list of choices"):  # the seeker's presets only
        c.predict(*args, "rater", "esconv", api_name="/estimate_training")
    with pytest.raises(Exception, match="not in the list of choices"):
        c.predict(*args, "quick", "no-such-data", api_name="/estimate_training")
    assert studio.dataset_choices()[0] == "esconv"
    jobs = c.predict(None, api_name="/jobs")[0]
    assert {"task", "duration", "ended"} <= set(jobs["headers"])


def test_analyze_downloads_hold_reliability_the_b_minus_a_table_probabilities_intervals_and_zeror(live_app):
    import csv
    import shutil
    from pathlib import Path

    url, studio = live_app
    target = studio.settings.models_dir / "dl-tiny"
    if not target.exists():
        shutil.copytree(Path(__file__).parent / "data" / "legacy-tiny", target)
    files = Client(url, verbose=False).predict("minilm-quick", "dl-tiny", "esconv", "test", False, api_name="/analyze_downloads")
    names = {Path(f).name: f for f in files}
    assert {"minilm-quick-test-reliability.png", "minilm-quick-test-reliability.svg", "minilm-quick-vs-dl-tiny-test-comparison.csv"} <= set(
        names
    )
    preds = list(csv.DictReader(open(names["minilm-quick-test-predictions.csv"], encoding="utf-8")))
    head = set(preds[0])
    assert {"split", "prob_anger", "prob_sadness", "pred_initial_lo80", "pred_initial_hi80", "pred_final_hi90"} <= head
    assert "pred_spread" not in head and {r["split"] for r in preds} == {"test"}
    assert abs(sum(float(preds[0][f"prob_{lab}"]) for lab in studio.labels_of("minilm-quick")) - 1) < 1e-3
    metrics = list(csv.DictReader(open(names["minilm-quick-test-metrics.csv"], encoding="utf-8")))
    assert "ZeroR (majority class, training means)" in metrics[0]
    comparison = list(csv.DictReader(open(names["minilm-quick-vs-dl-tiny-test-comparison.csv"], encoding="utf-8")))
    assert "B − A" in comparison[0]


def test_smaller_things_rename_my_ratings_order_legends_and_the_first_admin_command(live_app, tiny_encoder):
    import shutil
    from pathlib import Path

    from empathy_studio.models.rater import RaterConfig, build_rater, save_rater
    from empathy_studio.ui.html import dialogue_html, pair_html

    url, studio = live_app
    admin = studio.annotation.login("admin", "adminpw")
    model, tok = build_rater(tiny_encoder, RaterConfig(hidden=8))
    save_rater(model, tok, studio.settings.models_dir / "old-rater", {"name": "old-rater", "task": "empathy", "objective": "rater"})
    job = studio.store.create_job({"model": "minilm", "task": "empathy"}, "admin")
    studio.store.update_job(job, state="succeeded", model_name="old-rater")
    studio.rater("old-rater")  # held in memory under its name
    studio.cached_empathy_predictions("old-rater", [("k1", "I feel alone", "That sounds hard")])
    studio.rename_model(admin, "old-rater", "new-rater")
    assert studio.store.job(job)["model_name"] == "new-rater" and set(studio.store.cached_hashes("new-rater")) == {"k1"}
    assert "old-rater" not in studio._predictors and studio.rater("new-rater") is not None
    studio.delete_model(admin, "new-rater")
    ben = studio.annotation.login("ben", "benpw")
    studio.annotation.rate(ben, "demo-2", 3, 2)
    studio.annotation.rate(ben, "demo-3", 4, 2)
    mine = studio.annotation.my_ratings(ben)
    assert len(mine) >= 2 and mine[0]["item_id"] == "demo-3"
    assert [r["updated"] for r in mine] == sorted((r["updated"] for r in mine), reverse=True)  # newest first
    c = Client(url, verbose=False)
    c.predict("ben", "benpw", {}, api_name="/sign_in")
    table = c.predict("default", "Europe/Paris", api_name="/my_ratings")
    stamp = table["data"][0][table["headers"].index("updated")]
    assert len(stamp) == 16 and "T" not in stamp  # "2026-12-02 09:41", the browser's own time
    d = studio.dialogue("demo-0")
    assert "the number is the empathy score" in dialogue_html(
        d, ratings={1: {"pred_levels": {"emotional_reactions": "weak"}, "pred_score": 0.27}}
    )
    assert "the number is the empathy score" in pair_html(
        "p:1", "post", "reply", {"pred_levels": {"interpretations": "strong"}, "pred_score": 0.5}, "r"
    )
    models = c.predict(api_name="/models")
    assert {"test metric", "measured on"} <= set(models["headers"]) and "default" not in models["headers"]
    quick = next(r for r in models["data"] if r[0].startswith("minilm-quick"))
    assert quick[models["headers"].index("measured on")].startswith("esconv test, n = ")
    command = studio.first_admin_command()
    assert "annotators add --name admin" in command and (
        command.startswith("empathy-studio") or shutil.which(command.split()[0]) or Path(command.split()[0]).exists()
    )
