"""A seed ensemble of seeker models published as one model (`empathy-studio ensemble`, `Studio.publish_ensemble`)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from empathy_studio.cli import main
from empathy_studio.errors import ConfigError
from empathy_studio.labels import ESCONV_EMOTIONS
from empathy_studio.models.calibration import Calibration
from empathy_studio.models.ensemble import SeekerEnsemble, load_ensemble, merge_lexical, save_ensemble
from empathy_studio.models.heads import HeadConfig
from empathy_studio.models.lexical import LexicalIntensity
from empathy_studio.models.seeker import build_model
from empathy_studio.models.seeker_predictor import Predictor
from empathy_studio.services import COMMAND_LINE as ROOT
from empathy_studio.services import EnsembleRequest, PermissionDenied, TrainRequest

from .conftest import save_tiny_model

TEXTS = ["i am so angry about my job", "i feel anxious and worried about the exam and i cannot sleep", "hello"]


def tiny_member(tiny_encoder, seed: int, **heads):
    torch.manual_seed(seed)
    model, tok = build_model(tiny_encoder, HeadConfig(labels=list(ESCONV_EMOTIONS), intensity_init=[4.0, 2.0, -2.0], **heads))
    for p in model.parameters():  # the members differ in every weight, the encoder's too, as seeds make them
        p.data.add_(0.05 * torch.randn_like(p))
    return model.eval(), tok


def test_the_ensemble_answers_with_its_members_average_probabilities_and_intensities(tiny_encoder, tmp_path):
    members, tok = zip(*(tiny_member(tiny_encoder, s) for s in (1, 2, 3)))
    singles = [Predictor(m, tok[0], f"m{i}", max_length=32).predict(TEXTS) for i, m in enumerate(members)]
    ens = Predictor(SeekerEnsemble(members), tok[0], "ens", max_length=32)
    for row, pred in enumerate(ens.predict(TEXTS)):
        for lab in ESCONV_EMOTIONS:
            assert pred.probs[lab] == pytest.approx(np.mean([s[row].probs[lab] for s in singles]), abs=1e-5)
        assert pred.emotion == max(pred.probs, key=pred.probs.get)
    # intensities: the average of the members' per-emotion outputs, read at the ensemble's emotion
    batch = {k: v for k, v in next(ens.batches(TEXTS[:1]))[1].items()}
    with torch.inference_mode():
        want = torch.stack([m(**batch)["intensity"] for m in members]).mean(0)
        got = SeekerEnsemble(members)(**batch)["intensity"]
    assert torch.allclose(got, want, atol=1e-6)

    folder = save_ensemble(SeekerEnsemble(members), tok[0], tmp_path / "ens", ["a", "b", "c"], {"name": "ens"})
    assert json.loads((folder / "ensemble.json").read_text()) == {"members": ["a", "b", "c"]}
    loaded, tok2 = load_ensemble(folder)
    again = Predictor(loaded, tok2, "ens", max_length=32).predict(TEXTS)
    for a, b in zip(again, ens.predict(TEXTS)):
        assert a.emotion == b.emotion and a.intensity == pytest.approx(b.intensity, abs=1e-5)


def test_each_member_is_read_at_its_own_calibrated_temperature(tiny_encoder, tmp_path):
    members, tok = zip(*(tiny_member(tiny_encoder, s) for s in (1, 2)))
    batch = next(Predictor(members[0], tok[0], "m", max_length=32).batches(TEXTS))[1]
    ens = SeekerEnsemble(members, temperatures=[2.0, 0.5])
    with torch.inference_mode():
        want = (torch.softmax(members[0](**batch)["logits"] / 2.0, -1) + torch.softmax(members[1](**batch)["logits"] / 0.5, -1)) / 2
        assert torch.allclose(torch.softmax(ens(**batch)["logits"], -1), want, atol=1e-6)
        loaded, _ = load_ensemble(save_ensemble(ens, tok[0], tmp_path / "e", ["a", "b"], {"name": "e"}))
        assert loaded.temperatures.tolist() == [2.0, 0.5]  # saved with the weights
    with pytest.raises(ConfigError, match="one positive temperature per model"):
        SeekerEnsemble(members, temperatures=[1.0])


def test_members_that_cannot_be_averaged_are_refused_with_the_reason(tiny_encoder):
    a, _ = tiny_member(tiny_encoder, 1)
    b, _ = tiny_member(tiny_encoder, 2, pooling="mean")
    with pytest.raises(ConfigError, match="differ in their heads \\(pooling\\)"):
        SeekerEnsemble([a, b])
    with pytest.raises(ConfigError, match="at least 2"):
        SeekerEnsemble([a])
    vocab = {"sad": 0, "angry": 1}
    one = LexicalIntensity(vocab, np.ones(2), np.ones((3, 2)))
    two = LexicalIntensity(vocab, np.ones(2), np.zeros((3, 2)))
    assert merge_lexical([one, two]).weights == pytest.approx(np.full((3, 2), 0.5))
    with pytest.raises(ConfigError, match="different texts"):
        merge_lexical([one, LexicalIntensity({"sad": 0, "tired": 1}, np.ones(2), np.ones((3, 2)))])


def test_seed_models_are_published_as_one_model_that_the_studio_predicts_with(tiny_studio, tiny_encoder):
    heads = {"pooling": "mean", "intensity_head": "linear", "intensity_layer": 1}
    save_tiny_model(tiny_encoder, tiny_studio.settings.models_dir / "tiny-linear", heads)
    for seed in (1, 2):
        tiny_studio.train_and_register(TrainRequest(model="tiny-linear", max_steps=2, max_length=32, seed=seed, name=f"s{seed}"))
    events = []
    req = EnsembleRequest(members=("s1", "s2"), name="both")
    with pytest.raises(PermissionDenied):  # admins only, at the API
        tiny_studio.publish_ensemble(tiny_studio.annotation.login("ana", "pw"), req)
    assert tiny_studio.ensemble_candidates() == ["s1", "s2", "tiny", "tiny-linear"]
    manifest = tiny_studio.publish_ensemble(ROOT, req, progress=events.append)
    assert manifest["ensemble"] == ["s1", "s2"] and manifest["hyperparameters"]["seed"] == [1, 2]
    assert set(manifest["members_metrics"]) == {"s1", "s2"} and "f1_weighted" in manifest["members_mean"]
    assert len(manifest["members_temperatures"]) == 2 and min(manifest["members_temperatures"]) > 0
    assert "uncertainty" in manifest["metrics"]  # calibrated on val: its own temperature, intervals and least text
    assert Calibration.load(tiny_studio.settings.models_dir / "both") is not None
    assert {e.phase for e in events} >= {"loading", "calibrating", "testing", "publishing"}
    card = (tiny_studio.settings.models_dir / "both" / "README.md").read_text()
    assert "A seed ensemble published as one model: `s1`, `s2` (seeds 1, 2)" in card
    assert f"| F1 (weighted) | {manifest['metrics']['f1_weighted']:.4f} |" in card  # the manifest's own figures
    spec = tiny_studio.registry.get("both")
    assert spec.kind == "finetuned" and spec.family == "seeker"
    pred = tiny_studio.predict_texts("both", TEXTS)[0]
    members = [tiny_studio.predict_texts(n, TEXTS)[0] for n in ("s1", "s2")]
    for t in ("initial", "final", "change"):  # the heads' and the TF-IDF terms' outputs, averaged
        assert pred.intensity_raw[t] == pytest.approx(np.mean([m.intensity_raw[t] for m in members]), abs=1e-4)
    assert "both" not in tiny_studio.trainable_models() and "both" not in tiny_studio.ensemble_candidates()
    assert tiny_studio.explain_intensity("both", TEXTS[0])  # the merged TF-IDF terms explain it as a member's explain it

    with pytest.raises(ConfigError, match="already exists"):
        tiny_studio.publish_ensemble(ROOT, EnsembleRequest(members=("s1", "s2"), name="both"))
    with pytest.raises(ConfigError, match="an ensemble already"):
        tiny_studio.publish_ensemble(ROOT, EnsembleRequest(members=("s1", "both"), name="nested"))
    with pytest.raises(ConfigError, match="is an ensemble, which is not trained further"):
        tiny_studio.train_and_register(TrainRequest(model="both", max_steps=1, name="child"))
    other = tiny_studio.settings.models_dir / "other"  # a model trained on another training set (its manifest says which)
    shutil.copytree(tiny_studio.settings.models_dir / "s2", other)
    manifest_file = other / "manifest.json"
    manifest_file.write_text(json.dumps({**json.loads(manifest_file.read_text()), "data_hash": "0123456789abcdef"}))
    with pytest.raises(ConfigError, match="different training sets"):
        tiny_studio.publish_ensemble(ROOT, EnsembleRequest(members=("s1", "other"), name="mixed"))
    with pytest.raises(ConfigError, match="names each model once"):
        EnsembleRequest(members=("s1", "s1"), name="twice")
    assert not (tiny_studio.settings.models_dir / "mixed").exists()


def test_the_cli_publishes_an_ensemble_and_refuses_a_bad_one_in_one_line(tiny_studio, tiny_encoder, capsys):
    base = ["--models-dir", str(tiny_studio.settings.models_dir), "--db", str(tiny_studio.settings.db_path)]
    base += ["--esconv", str(tiny_studio.settings.esconv_file)]
    assert main(["ensemble", "tiny", "nope", "--name", "x", *base]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope" in err[0] and "Traceback" not in err[0]


def test_intervals_every_model_shares_exactly_are_kept_and_the_rest_come_from_val():
    from empathy_studio.training.ensemble import shared_intervals

    same, other = {"0.8": 1.0, "0.9": 1.2}, {"0.8": 0.7, "0.9": 0.9}
    own = [
        Calibration(quantiles={"initial": same, "final": same}, n_residuals={"initial": 900, "final": 800}),
        Calibration(quantiles={"initial": same, "final": other}, n_residuals={"initial": 900, "final": 800}),
    ]
    cal = Calibration(quantiles={"initial": {"0.8": 2.0, "0.9": 3.0}, "final": {"0.8": 2.0, "0.9": 3.0}}, n_residuals={"initial": 128})
    shared_intervals(cal, own)
    assert cal.quantiles == {"initial": same, "final": {"0.8": 2.0, "0.9": 3.0}} and cal.n_residuals["initial"] == 900
    before = dict(cal.quantiles)
    shared_intervals(cal, [own[0], None])  # a model without a calibration: nothing is shared
    assert cal.quantiles == before
