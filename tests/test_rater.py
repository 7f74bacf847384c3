"""The empathy rater: EPITOME pairs and their split, both architectures, every loss, save and load, metrics, bad input."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from empathy_studio.epitome import LEVEL4, SPLIT_IDS_PATH, Pair, epitome_pairs, split_pairs
from empathy_studio.errors import ConfigError, InputError, ModelUnavailable
from empathy_studio.models.rater import RaterConfig, load_rater, save_rater, soft_labels
from empathy_studio.models.rater_predictor import RaterPredictor
from empathy_studio.training.config import TrainConfig
from empathy_studio.training.families import FAMILIES
from empathy_studio.training.rater import rater_metrics
from empathy_studio.training.trainer import TrainData, train

from .conftest import EPITOME

POSTS = ["i am so sad and lonely", "my job is making me anxious", "i cannot sleep since my mother is sick", "i feel lost and tired"]
REPLIES = ["i am sorry you feel that way", "that sounds hard. what happened at work?", "ok", "you are not alone, i feel that too"]


def _pairs(n: int = 24) -> list[Pair]:
    rng = np.random.default_rng(0)
    return [Pair(f"p{i}", POSTS[i % 4], REPLIES[(i // 4) % 4], tuple(int(v) for v in rng.integers(0, 3, 3))) for i in range(n)]


def test_targets_follow_the_report_4_levels_capped_and_a_0_1_score():
    p = Pair("x", "post", "reply", (2, 2, 1))
    assert p.level4 == 3 and p.score == pytest.approx(5 / 6) and LEVEL4[p.level4] == "strong"
    assert Pair("y", "a", "b", (0, 1, 0)).level4 == 1


@pytest.mark.skipif(not EPITOME.exists(), reason="EPITOME is not beside the project (../shared/data)")
def test_epitome_gives_3023_pairs_and_the_documented_split():
    pairs = epitome_pairs(EPITOME)
    split = split_pairs(pairs)
    assert len(pairs) == 3023 and {k: len(v) for k, v in split.items()} == {"train": 2418, "val": 302, "test": 303}
    assert not {p.pair_id for p in split["train"]} & {p.pair_id for p in split["test"]}
    # the split's ids in the repository (assets/epitome-split.csv, written by bench/epitome_split.py) are this split
    with SPLIT_IDS_PATH.open() as f:
        committed = {(r["sp_id"], r["rp_id"]): r["split"] for r in csv.DictReader(f)}
    assert committed == {tuple(p.pair_id.split("/")): name for name, ps in split.items() for p in ps}


def test_soft_labels_move_mass_to_ordinal_neighbours_only():
    t = soft_labels(torch.tensor([0, 1, 3]), 4, 0.2)
    torch.testing.assert_close(t.sum(1), torch.ones(3))
    assert t[0].tolist() == pytest.approx([0.8, 0.2, 0, 0]) and t[1].tolist() == pytest.approx([0.1, 0.8, 0.1, 0])
    assert t[2].tolist() == pytest.approx([0, 0, 0.2, 0.8])  # the top level has one neighbour, not the bottom


@pytest.mark.parametrize(
    "arch,loss,score_loss,attention",
    [("cross", "ce", "mse", False), ("cross", "kl", "mae", False), ("bi", "focal", "mse", False), ("bi", "ce", "mse", True)],
)
def test_each_architecture_and_loss_trains_predicts_and_survives_save_load(tiny_encoder, tmp_path, arch, loss, score_loss, attention):
    pairs = _pairs()
    cfg = TrainConfig(
        encoder=str(tiny_encoder), epochs=1, batch_size=8, max_length=32, output_dir=str(tmp_path / "t"), select_metric="accuracy"
    )
    heads = RaterConfig(arch=arch, loss=loss, score_loss=score_loss, hidden=16, attention=attention)
    res = train(cfg, FAMILIES["rater"], TrainData(pairs[:16], pairs[16:], heads=heads))
    assert res.history and "eval_accuracy" in res.history[0]
    predictor = RaterPredictor(res.model, res.tokenizer, max_length=32)
    texts = [(p.post, p.response) for p in pairs]
    ratings = predictor.predict(texts)
    assert all(set(r.levels) == {"emotional_reactions", "interpretations", "explorations"} and 0 <= r.score <= 1 for r in ratings)
    assert all(abs(sum(r.probs["explorations"].values()) - 1) < 1e-5 for r in ratings)
    m = rater_metrics(ratings, pairs)
    assert 0 <= m["level4_f1_weighted"] <= 1 and m["n"] == 24 and "interpretations_f1_macro" in m
    folder = save_rater(res.model, res.tokenizer, tmp_path / "m")
    again = RaterPredictor(*load_rater(folder), max_length=32).predict(texts)
    assert all(a.levels == b.levels and a.level4 == b.level4 and abs(a.score - b.score) < 1e-5 for a, b in zip(again, ratings))
    # order does not matter: batches are sorted by length and put back
    assert [r.levels for r in predictor.predict(texts[::-1])] == [r.levels for r in ratings][::-1]


def test_with_attention_the_bi_encoders_response_tokens_read_the_post(tiny_encoder):
    from empathy_studio.models.predictor import pad
    from empathy_studio.models.rater import build_rater, encode_pairs

    with pytest.raises(ConfigError, match="attention from the response to the post is for --arch bi"):
        RaterConfig(arch="cross", attention=True)
    for attention in (False, True):
        torch.manual_seed(0)
        model, tok = build_rater(tiny_encoder, RaterConfig(arch="bi", attention=attention, rationale_weight=1.0))
        model.eval()
        rows = encode_pairs([(POSTS[0], REPLIES[0]), (POSTS[1], REPLIES[0])], tok, "bi", 32)
        with torch.no_grad():
            tagged = [model(**pad(tok, [r]))["rationale_logits"][0] for r in rows]  # the same response after two posts
        assert torch.allclose(tagged[0], tagged[1]) is not attention


def test_bad_input_is_one_clear_error(tiny_encoder, tmp_path):
    with pytest.raises(ConfigError, match="arch"):
        RaterConfig(arch="triple")
    with pytest.raises(ConfigError, match="loss"):
        RaterConfig(loss="hinge")
    from empathy_studio.models.rater import EmpathyRater, build_rater

    model, tok = build_rater(tiny_encoder, RaterConfig(hidden=8))
    assert isinstance(model, EmpathyRater)
    p = RaterPredictor(model, tok)
    for pair, what in ((("", "reply"), "post is empty"), (("post", "   "), "response is empty"), (("post", "x" * 20_001), "limit")):
        with pytest.raises(InputError, match=what):
            p.predict([pair])
    with pytest.raises(ModelUnavailable, match="not an empathy rater"):
        load_rater(tmp_path)


def test_train_evaluate_and_predict_empathy_through_the_cli(tmp_path, tiny_encoder, monkeypatch):
    """The rater's use case end to end on the tiny encoder, registered as a base row, through the command line."""
    import json
    import os
    import subprocess
    import sys

    from empathy_studio.data import DEMO_PATH

    if not EPITOME.exists():
        pytest.skip("EPITOME is not beside the project (../shared/data)")
    env = {
        **os.environ,
        "EMPATHY_STUDIO_MODELS_DIR": str(tmp_path / "models"),
        "EMPATHY_STUDIO_DB_PATH": str(tmp_path / "db.sqlite"),
        "EMPATHY_STUDIO_EPITOME": str(EPITOME),
        "HF_HUB_OFFLINE": "1",
        "EMPATHY_STUDIO_TINY_ENCODER": str(tiny_encoder),
    }

    def cli(*args):
        code = (
            "import os, sys; from empathy_studio import registry as r; "
            "r.BASE_MODELS['tiny-bert'] = r.ModelSpec('tiny-bert', 'encoder', os.environ['EMPATHY_STUDIO_TINY_ENCODER']); "
            "from empathy_studio.cli import main; sys.exit(main(sys.argv[1:]))"
        )
        return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=300)

    out = cli(
        "train",
        "--task",
        "empathy",
        "--model",
        "tiny-bert",
        "--arch",
        "bi",
        "--loss",
        "kl",
        "--score-loss",
        "mae",
        "--max-steps",
        "3",
        "--max-length",
        "32",
        "--batch-size",
        "8",
        "--name",
        "rater-t",
        "--json",
    )
    assert out.returncode == 0, out.stderr[-2000:]
    manifest = json.loads((tmp_path / "models" / "rater-t" / "manifest.json").read_text())
    assert manifest["task"] == "empathy" and manifest["rater"]["arch"] == "bi" and manifest["n_test"] == 303
    ev = cli("evaluate", "--task", "empathy", "--model", "rater-t", "--json")
    assert ev.returncode == 0, ev.stderr[-2000:]
    assert json.loads(ev.stdout)["n"] == 303
    one = json.loads(
        cli(
            "predict",
            "--task",
            "empathy",
            "--model",
            "rater-t",
            "--post",
            "i feel so alone",
            "--response",
            "i am sorry, that sounds hard. what happened?",
            "--json",
        ).stdout
    )
    assert set(one["pred_levels"]) == {"emotional_reactions", "interpretations", "explorations"} and 0 <= one["pred_score"] <= 1
    turns = json.loads(cli("predict", "--task", "empathy", "--model", "rater-t", "--file", str(DEMO_PATH), "--json").stdout)
    assert turns and all(r["post"] and r["response"] for r in turns)
    plain = cli("predict", "--task", "empathy", "--model", "rater-t", "--post", "i feel so alone", "--response", "i am sorry").stdout
    assert "ER " in plain and "IP " in plain and "EX " in plain and "EMO" not in plain  # the page's names for the mechanisms
    bad = cli("predict", "--task", "empathy", "--model", "rater-t", "--post", "", "--response", "x")
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "post is empty" in bad.stderr
    wrong = cli("train", "--task", "emotion", "--model", "tiny-bert", "--arch", "bi")
    assert wrong.returncode == 2 and "--arch is an option of --task empathy" in wrong.stderr
    other = cli("train", "--task", "empathy", "--model", "tiny-bert", "--no-end-view")  # a seeker option, on or off
    assert other.returncode == 2 and "--end-view is an option of --task emotion" in other.stderr and "not of --task empathy" in other.stderr


@pytest.mark.skipif(not EPITOME.exists(), reason="EPITOME and FailedESConv are not beside the project (../shared/data)")
def test_the_external_check_reads_the_seekers_own_empathy_ratings_and_caches_turn_scores(tiny_studio, tiny_encoder):
    from empathy_studio.models.rater import build_rater, save_rater

    from .conftest import FAILED

    model, tok = build_rater(tiny_encoder, RaterConfig(hidden=8))
    save_rater(model, tok, tiny_studio.settings.models_dir / "r0", {"name": "r0", "task": "empathy", "objective": "rater"})
    check = tiny_studio.empathy_check("r0", str(FAILED))
    assert check["dialogues"] == 71 and check["turns"] > 500 and len(check["predicted"]) == 71
    assert set(check["self_rated"]) <= {1.0, 2.0, 3.0, 4.0, 5.0} and check["ols_n"] == 71
    assert len(tiny_studio.store.cached_hashes("r0")) == check["turns"]  # every turn's score is cached
    fb = check["feedback"]  # FailedESConv keeps the seekers' per-turn feedback: each against the supporter turn before it
    assert fb["ols_n"] == len(fb["seeker_feedback"]) > 300 and set(fb["seeker_feedback"]) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    again = tiny_studio.empathy_check("r0", str(FAILED))
    assert again["predicted"] == pytest.approx(check["predicted"])
    ev = tiny_studio.evaluate_rater("r0", "test")
    assert ev["n"] == 303 and len(ev["level4_pred"]) == 303
    er = ev["mechanisms"]["emotional_reactions"]  # the per-mechanism confusions of Analyze
    assert len(er["gold"]) == len(er["pred"]) == 303 and set(er["gold"]) <= {"none", "weak", "strong"}
    assert sum(g == p for g, p in zip(er["gold"], er["pred"])) / 303 == pytest.approx(ev["emotional_reactions_accuracy"])
    for m in ev["mechanisms"]:  # each mechanism's accuracy and macro-F1 inside its bootstrap 95% CI
        for stat in ("accuracy", "f1_macro"):
            lo, hi = ev[f"{m}_{stat}_ci95"]
            assert lo <= ev[f"{m}_{stat}"] <= hi and 0 < hi - lo < 0.25


def test_a_built_rater_is_warmed_in_the_background_and_its_analysis_downloads(settings, tiny_encoder):
    """The warmer scores a rater's supporter turns of the studio's ESConv source (one `warm`, as its child runs it); Analyze then
    only reads them. FailedESConv stands in for ESConv here: its seekers rated their supporters, and it is small."""
    from empathy_studio.models.rater import build_rater, save_rater
    from empathy_studio.services import Studio

    from .conftest import FAILED

    if not FAILED.exists():
        pytest.skip("FailedESConv is not beside the project (../shared/data)")
    tiny_studio = Studio(settings.replace(esconv_file=FAILED))
    model, tok = build_rater(tiny_encoder, RaterConfig(hidden=8))
    save_rater(model, tok, tiny_studio.settings.models_dir / "r1", {"name": "r1", "task": "empathy", "objective": "rater"})
    missing, total = tiny_studio.rater_turns_missing("r1", "esconv")
    assert missing == total > 0 and "r1" in [name for name, _ in tiny_studio.warm_pending()]
    assert tiny_studio.warm("r1") == total
    assert tiny_studio.rater_turns_missing("r1", "esconv") == (0, total) and "r1" not in [n for n, _ in tiny_studio.warm_pending()]
    ev, check = tiny_studio.evaluate_rater("r1", "test"), tiny_studio.empathy_check("r1", "esconv")
    files = tiny_studio.rater_downloads("r1", [{"metric": "x", "value": 1.0}], [{"mechanism": "er"}], ev, check)
    names = {f.name for f in files}
    assert {
        "r1-confusion-4-level.png",
        "r1-confusion-explorations.svg",
        "r1-external-check-esconv.png",
        "r1-external-check-esconv.csv",
        "r1-epitome-test-mechanisms.csv",
    } <= names
