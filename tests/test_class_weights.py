"""Class weights (`--class-weight`): the emotions of the seeker model and each mechanism's levels of the empathy rater."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.utils.class_weight import compute_class_weight

from empathy_studio.epitome import Pair
from empathy_studio.errors import ConfigError
from empathy_studio.models.encoder import balanced_weights, focal_cross_entropy
from empathy_studio.models.heads import RaterConfig
from empathy_studio.models.rater import save_rater
from empathy_studio.models.seeker import save
from empathy_studio.services import TrainRequest
from empathy_studio.training.config import preset
from empathy_studio.training.families import FAMILIES
from empathy_studio.training.family import TrainData
from empathy_studio.training.trainer import train

LABELS = ["anger", "anxiety", "depression", "disgust", "fear", "sadness", "shame"]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=1, max_size=30), st.integers(0, 2**31 - 1))
def test_the_weighted_loss_is_torchs_weighted_cross_entropy(labels, seed):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(len(labels), 4, generator=g)
    y = torch.tensor(labels)
    weight = torch.rand(4, generator=g) + 0.1
    assert focal_cross_entropy(logits, y, 0.0, weight).item() == pytest.approx(
        torch.nn.functional.cross_entropy(logits, y, weight=weight).item(), rel=1e-5
    )
    assert focal_cross_entropy(logits, y, 0.0).item() == pytest.approx(torch.nn.functional.cross_entropy(logits, y).item(), rel=1e-5)


def test_balanced_weights_are_scikit_learns_raised_to_a_power_and_1_for_an_absent_class():
    y = [0, 0, 0, 0, 1, 1, 2]
    sk = compute_class_weight("balanced", classes=np.array([0, 1, 2]), y=np.array(y))
    assert balanced_weights(y, 3, 1.0) == pytest.approx(list(sk))
    assert balanced_weights(y, 3, 0.5) == pytest.approx(list(np.sqrt(sk)))
    assert balanced_weights(y, 3, 0.0) == pytest.approx([1.0, 1.0, 1.0])
    assert balanced_weights([0, 0, 2], 4, 1.0)[1] == 1.0 and balanced_weights([0, 0, 2], 4, 1.0)[3] == 1.0
    with pytest.raises(ConfigError, match="kl loss"):
        RaterConfig(loss="kl", class_weights=[[1.0, 1.0, 1.0]] * 3)
    with pytest.raises(ConfigError, match="class_weight"):
        TrainRequest(model="minilm", class_weight=3.0)
    with pytest.raises(ConfigError, match="--loss kl has soft targets"):  # refused with the request, before any job starts
        TrainRequest(model="minilm", task="empathy", loss="kl", class_weight=0.5)


def test_a_seeker_model_trains_with_the_emotions_weights_and_keeps_them(tiny_encoder, tiny_examples, tmp_path):
    cfg = preset("paper-heads", str(tiny_encoder), epochs=1, batch_size=4, max_length=32, class_weight=1.0, output_dir=str(tmp_path / "t"))
    res = train(cfg, FAMILIES["seeker"], TrainData(tiny_examples, tiny_examples[:4], LABELS))
    want = balanced_weights([e.label for e in tiny_examples], len(LABELS), 1.0)
    assert res.model.heads_config.class_weights == pytest.approx(want)
    # the loss weighs each row by its class
    logits = torch.randn(len(tiny_examples), len(LABELS), generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([e.label for e in tiny_examples])
    weighted = res.model.loss({"logits": logits}, labels, None).item()
    assert weighted == pytest.approx(torch.nn.functional.cross_entropy(logits, labels, weight=torch.tensor(want)).item(), rel=1e-5)
    assert weighted != pytest.approx(torch.nn.functional.cross_entropy(logits, labels).item(), rel=1e-3)
    folder = save(res.model, res.tokenizer, tmp_path / "m")
    assert json.loads((folder / "heads.json").read_text())["class_weights"] == pytest.approx(want)


def test_a_rater_weighs_each_mechanisms_levels_by_their_training_counts(tiny_encoder6, tmp_path):
    rng = np.random.default_rng(0)
    pairs = [
        Pair(
            f"p{i}",
            "i am so sad and lonely",
            "i am sorry you feel that way",
            (int(rng.integers(0, 3)), 0 if i % 6 else 1, 2 if i % 3 else 0),
        )
        for i in range(24)
    ]
    cfg = preset("rater-quick", str(tiny_encoder6), max_steps=2, class_weight=0.5, output_dir=str(tmp_path / "t"))
    res = train(cfg, FAMILIES["rater"], TrainData(pairs, pairs[:6], ["none", "weak", "strong"], RaterConfig(rationale_weight=0.0)))
    got = res.model.config.class_weights
    for k in range(3):
        assert got[k] == pytest.approx(balanced_weights([p.levels[k] for p in pairs], 3, 0.5))
    assert got[1][1] > got[1][0] and got[1][2] == 1.0  # IP: weak is rare, strong absent
    folder = save_rater(res.model, res.tokenizer, tmp_path / "r")
    np.testing.assert_allclose(json.loads((folder / "rater.json").read_text())["class_weights"], got)
    unweighted = train(
        preset("rater-quick", str(tiny_encoder6), max_steps=2, output_dir=str(tmp_path / "u")),
        FAMILIES["rater"],
        TrainData(pairs, pairs[:6], ["none", "weak", "strong"], RaterConfig(rationale_weight=0.0)),
    )
    assert unweighted.model.config.class_weights is None


def test_the_default_rater_weighs_the_levels_and_a_soft_target_loss_takes_no_weights():
    from empathy_studio.settings import load_settings
    from empathy_studio.training.request import training_config

    settings = load_settings()
    assert training_config(TrainRequest(model="minilm", task="empathy"), settings, "enc").class_weight == 0.5
    assert training_config(TrainRequest(model="minilm", task="empathy", loss="kl"), settings, "enc").class_weight == 0.0
    assert training_config(TrainRequest(model="minilm", task="empathy", class_weight=1.0), settings, "enc").class_weight == 1.0
    assert training_config(TrainRequest(model="minilm"), settings, "enc").class_weight == 0.5  # the seeker's default preset too
    assert training_config(TrainRequest(model="minilm", preset="quick"), settings, "enc").class_weight == 0.0  # not the starter's
