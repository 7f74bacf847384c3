"""The model family contract: both families train, estimate and publish through one path, and give the numbers they gave.

`tests/data/rater-tiny/` is a tiny empathy rater (a 6-layer BERT of hidden size 32) made by the
code before the families shared one trainer and one predictor base (commit 3875ba1);
`rater-tiny-expected.json` holds what that code predicted with it. `retrain-expected.json`
(written by `data/make_retrain_expected.py`) holds what the code gives after training a tiny seeker
model (the default and quick presets, on the demo set) and a tiny rater (the rater preset) with seed
42: the one trainer must keep giving those numbers. It was first made by the code before the
refactor; it was made again when the tiny encoder's tokenizer was mended (it had read no vocabulary,
so every word was [UNK]), when the bi-encoder's batches became grouped by length, and when the rater
and the default seeker preset took class weights (the quick preset's numbers did not move).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from empathy_studio import registry as R
from empathy_studio.data import DEMO_PATH
from empathy_studio.epitome import Pair
from empathy_studio.models.rater_predictor import RaterPredictor
from empathy_studio.services import Studio, TrainRequest
from empathy_studio.training.config import preset
from empathy_studio.training.families import FAMILIES
from empathy_studio.training.family import TrainData
from empathy_studio.training.trainer import train

from .conftest import ROOT

DATA = Path(__file__).resolve().parent / "data"
RATER_EXPECTED = json.loads((DATA / "rater-tiny-expected.json").read_text())
RETRAIN = json.loads((DATA / "retrain-expected.json").read_text())
TEXTS = [
    "i am so sad and angry about my job",
    "i cannot sleep i am worried about the exam",
    "hello",
    "my mother is not well and i feel lost and very tired",
    "thanks, i feel better today",
]
POSTS = ["i am so sad and lonely", "my job is making me anxious", "i cannot sleep since my mother is sick", "i feel lost and tired"]
REPLIES = ["i am sorry you feel that way", "that sounds hard. what happened at work?", "ok", "you are not alone, i feel that too"]
TOL = 1e-5


def _synthetic_pairs() -> list[Pair]:
    rng = np.random.default_rng(0)
    return [Pair(f"p{i}", POSTS[i % 4], REPLIES[(i // 4) % 4], tuple(int(v) for v in rng.integers(0, 3, 3))) for i in range(24)]


def _same_empathy(got: dict, want: dict, tol: float = TOL) -> None:
    assert got["pred_levels"] == want["levels"] and got["pred_level4"] == want["level4"]
    assert got["pred_score"] == pytest.approx(want["score"], abs=tol)
    for m, probs in want["probs"].items():
        assert got["probs"][m] == pytest.approx(probs, abs=tol)


def _same_seeker(got: dict, want: dict, tol: float = TOL) -> None:
    assert got["pred_emotion"] == want["pred_emotion"]
    assert got["probs"] == pytest.approx(want["probs"], abs=tol)
    for key in ("pred_initial", "pred_final", "pred_change", "pred_initial_raw", "pred_final_raw", "pred_change_raw", "pred_spread"):
        assert got[key] == pytest.approx(want[key], abs=tol), key


def test_a_rater_folder_made_before_the_refactor_predicts_the_same_numbers():
    predictor = RaterPredictor.from_folder(DATA / "rater-tiny", max_length=32, cache_size=0)
    preds = predictor.predict([(r["post"], r["response"]) for r in RATER_EXPECTED])
    for pred, want in zip(preds, RATER_EXPECTED):
        _same_empathy(pred.to_dict(), want)


def test_a_rater_folder_made_before_the_refactor_serves_the_same_numbers_through_the_studio(settings):
    shutil.copytree(DATA / "rater-tiny", settings.models_dir / "rater-tiny")
    studio = Studio(settings)
    assert "rater-tiny" in studio.rater_choices() and "rater-tiny" not in studio.model_choices()
    preds = studio.predict_empathy("rater-tiny", [(r["post"], r["response"]) for r in RATER_EXPECTED])
    for pred, want in zip(preds, RATER_EXPECTED):
        _same_empathy(pred.to_dict(), want)


@pytest.fixture
def tiny6_studio(settings, tiny_encoder6, monkeypatch):
    monkeypatch.setitem(R.BASE_MODELS, "tiny6", R.ModelSpec("tiny6", "encoder", str(tiny_encoder6)))
    return Studio(settings.replace(root=ROOT, esconv_file=DEMO_PATH, failed_esconv=()))


@pytest.mark.parametrize("name", ["default", "quick"])
def test_retraining_a_seeker_model_with_the_same_seed_gives_the_numbers_it_gave(tiny6_studio, name):
    ref = RETRAIN[f"seeker-{name}"]
    manifest = tiny6_studio.train_and_register(TrainRequest(model="tiny6", name=f"again-{name}", **ref["request"]))
    assert {k: manifest["metrics"][k] for k in ref["metrics"]} == pytest.approx(ref["metrics"], abs=1e-4, nan_ok=True)
    preds = tiny6_studio.predict_texts(f"again-{name}", TEXTS)
    for pred, want in zip(preds, ref["predictions"]):
        _same_seeker(pred.to_dict(), want, tol=1e-4)


def test_retraining_a_rater_with_the_same_seed_gives_the_numbers_it_gave(tiny_encoder6, tmp_path):
    ref, pairs, rater = RETRAIN["rater"], _synthetic_pairs(), FAMILIES["rater"]
    options = {k: v for k, v in ref["config"].items() if k != "preset"}
    config = preset(ref["config"]["preset"], str(tiny_encoder6), objective="rater", output_dir=str(tmp_path / "t"), **options)
    result = train(config, rater, TrainData(pairs[:16], pairs[16:], (), rater.head_options(TrainRequest(model="m", task="empathy"))))
    preds = RaterPredictor(result.model, result.tokenizer, max_length=32, cache_size=0).predict([(p.post, p.response) for p in pairs])
    for pred, want in zip(preds, ref["predictions"]):
        _same_empathy(pred.to_dict(), want, tol=1e-4)


def test_the_bi_encoders_training_batches_are_grouped_by_length_and_pad_less_than_random_ones(tiny_encoder6, tmp_path):
    """A bi-encoder row has two sequences; the family's `length` lets the Trainer group them, as it does the seeker's texts."""
    from transformers import TrainingArguments

    from empathy_studio.training.trainer import FamilyTrainer, Rows

    rater = FAMILIES["rater"]
    rng = np.random.default_rng(1)
    words = "so sad and tired of it all today".split()
    pairs = [
        Pair(
            f"p{i}", " ".join(rng.choice(words, int(rng.integers(1, 40)))), " ".join(rng.choice(words, int(rng.integers(1, 40)))), (0, 1, 2)
        )
        for i in range(96)
    ]
    config = preset("rater", str(tiny_encoder6), objective="rater", max_length=48)
    model, tokenizer = rater.build(config, TrainData(pairs, [], (), rater.head_options(TrainRequest(model="m", task="empathy"))))
    rows = rater.rows(pairs, model, tokenizer, config)

    def padded_tokens(strategy: str) -> int:
        args = TrainingArguments(
            output_dir=str(tmp_path / strategy),
            per_device_train_batch_size=8,
            train_sampling_strategy=strategy,
            report_to="none",
            remove_unused_columns=False,
            seed=0,
            dataloader_pin_memory=False,
        )
        trainer = FamilyTrainer(
            model=model, args=args, train_dataset=Rows(rows), data_collator=lambda b: rater.collate(b, tokenizer), family=rater
        )
        batches = list(trainer.get_train_dataloader())
        assert sum(len(b["levels"]) for b in batches) == len(rows)  # every pair once
        return sum(b["post_input_ids"].numel() + b["response_input_ids"].numel() for b in batches)

    assert padded_tokens("group_by_length") < 0.92 * padded_tokens("random")  # 0.89 here; 0.79 on EPITOME at 64 tokens


@pytest.mark.skipif(not (ROOT.parent / "shared" / "data" / "epitome").exists(), reason="EPITOME is not beside the project")
def test_evaluating_a_rater_on_the_command_line_gives_each_mechanisms_bootstrap_ci(tmp_path, capsys):
    from empathy_studio.cli import main

    shutil.copytree(DATA / "rater-tiny", tmp_path / "models" / "rater-tiny")
    common = [
        "evaluate",
        "--task",
        "empathy",
        "--model",
        "rater-tiny",
        "--models-dir",
        str(tmp_path / "models"),
        "--db",
        str(tmp_path / "s.db"),
    ]
    assert main([*common, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    lo, hi = result["interpretations_f1_macro_ci95"]
    assert lo <= result["interpretations_f1_macro"] <= hi and "interpretations_rationale_token_f1" not in result  # no rationale head
    assert main(common) == 0
    lines = capsys.readouterr().out.splitlines()
    assert ["interpretations_f1_macro_ci95", f"{lo:.4f}", "to", f"{hi:.4f}"] in [line.split() for line in lines]
    assert not any(line.startswith(("mechanisms", "level4_gold")) for line in lines)  # the per-pair lists are for --json
