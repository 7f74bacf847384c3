"""The bundled MiniLM fine-tuned for a few steps on 16 real ESConv dialogues, then saved and loaded."""

from __future__ import annotations

import numpy as np
import pytest

from empathy_studio import data as D
from empathy_studio.labels import ESCONV_EMOTIONS
from empathy_studio.models.seeker import save
from empathy_studio.models.seeker_predictor import Predictor
from empathy_studio.registry import Registry, bundled_minilm_path
from empathy_studio.training.config import TrainConfig
from empathy_studio.training.families import FAMILIES
from empathy_studio.training.trainer import TrainData, train

from .conftest import ESCONV, needs_esconv

pytestmark = [pytest.mark.integration, needs_esconv]


def test_minilm_fine_tune_loss_falls_and_round_trips_exactly(tmp_path):
    splits = D.split_dialogues(D.load_esconv(ESCONV))
    train_ex = D.to_examples(splits["train"][:16])
    losses = []

    def record(event):
        if event.phase == "training" and event.loss is not None:
            losses.append(event.loss)

    cfg = TrainConfig(
        encoder=str(bundled_minilm_path()),
        epochs=6,
        batch_size=8,
        max_length=128,
        learning_rate=1e-4,
        head_learning_rate=3e-3,
        warmup=0,
        patience=0,
        output_dir=str(tmp_path / "trainer"),
    )
    res = train(cfg, FAMILIES["seeker"], TrainData(train_ex, train_ex[:8], ESCONV_EMOTIONS), [record])
    evals = [h["eval_loss"] for h in res.history]
    assert evals[-1] < evals[0], evals
    assert losses[-1] < losses[0], losses

    texts = [d.seeker_text for d in splits["test"][:6]]
    before = Predictor(res.model, res.tokenizer, max_length=128, cache_size=0).predict(texts)
    folder = save(res.model, res.tokenizer, tmp_path / "minilm-16", {"name": "minilm-16", "parent": "minilm"})
    after = Predictor.from_folder(folder, max_length=128, cache_size=0).predict(texts)
    for a, b in zip(before, after):
        assert a.probs == b.probs and a.intensity_raw == b.intensity_raw and np.array_equal(a.embedding, b.embedding)
    spec = Registry(tmp_path).get("minilm-16")
    assert spec.kind == "finetuned" and spec.parent == "minilm"
