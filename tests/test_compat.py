"""A model published before the fine-tuning refactor still loads and predicts the same numbers.

`tests/data/legacy-tiny/` is a tiny studio model (BERT, hidden 32, 2 layers, with ridge
and TF-IDF intensity heads) trained on the demo set by the code as it was before
`finetune.py` existed; `legacy-tiny-expected.json` holds what that code predicted.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from empathy_studio.models.seeker_predictor import Predictor

DATA = Path(__file__).resolve().parent / "data"
EXPECTED = json.loads((DATA / "legacy-tiny-expected.json").read_text())


def _same(pred: dict, want: dict) -> None:
    assert pred["pred_emotion"] == want["pred_emotion"]
    assert pred["probs"] == pytest.approx(want["probs"], abs=1e-5)
    for t in ("initial", "final", "change"):
        assert pred[f"pred_{t}"] == pytest.approx(want[f"pred_{t}"], abs=1e-5)
        assert pred[f"pred_{t}_raw"] == pytest.approx(want[f"pred_{t}_raw"], abs=1e-5)


def test_legacy_folder_predicts_what_it_predicted_before():
    predictor = Predictor.from_folder(DATA / "legacy-tiny", max_length=64, cache_size=0)
    preds = predictor.predict([row["text"] for row in EXPECTED])
    for pred, want in zip(preds, EXPECTED):
        _same(pred.to_dict(), want)


def test_legacy_model_in_a_models_folder_serves_the_same_numbers_through_the_studio(settings):
    from empathy_studio.services import Studio

    shutil.copytree(DATA / "legacy-tiny", settings.models_dir / "legacy-tiny")
    studio = Studio(settings)
    assert "legacy-tiny" in studio.model_choices()
    row = next(r for r in studio.model_rows() if r["name"] == "legacy-tiny")
    assert row["kind"] == "finetuned" and row["parent"] == "tiny-base" and row["task"] == "multitask"
    preds = studio.predict_texts("legacy-tiny", [r["text"] for r in EXPECTED])
    for pred, want in zip(preds, EXPECTED):
        _same(pred.to_dict(), want)
