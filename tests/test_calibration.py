"""Calibrated uncertainty: conformal intervals, temperature scaling, the least text, stored with the model and applied by the Predictor."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from empathy_studio.data import Example
from empathy_studio.errors import ModelUnavailable
from empathy_studio.models.calibration import (
    CALIBRATION_FILE,
    Calibration,
    conformal_quantile,
    fit_temperature,
    reliability,
    softmax,
    uncertainty_metrics,
)
from empathy_studio.training.request import TrainRequest

from .conftest import save_tiny_model


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-4, 4, allow_nan=False), min_size=9, max_size=300), st.sampled_from([0.8, 0.9]))
def test_the_conformal_quantile_covers_at_least_the_level_of_its_own_residuals(residuals, level):
    q = conformal_quantile(residuals, level)
    covered = np.mean(np.abs(residuals) <= q)
    assert covered >= level or math.isinf(q)
    # (n + 1) * level above n: no finite quantile can promise the level
    assert math.isinf(conformal_quantile(residuals[:3], 0.9))


def test_conformal_intervals_reach_their_level_on_fresh_draws():
    rng = np.random.default_rng(0)
    cal = Calibration(quantiles={"initial": {str(lv): conformal_quantile(rng.normal(0, 0.7, 400), lv) for lv in (0.8, 0.9)}})
    fresh = rng.normal(0, 0.7, 20_000)
    for level in (0.8, 0.9):
        q = cal.quantiles["initial"][str(level)]
        assert abs(np.mean(np.abs(fresh) <= q) - level) < 0.03
    lo, hi = cal.interval("initial", 4.8, 0.8)
    assert hi == 5 and lo == pytest.approx(4.8 - cal.quantiles["initial"]["0.8"])  # cut to the scale
    assert cal.interval("final", 2.0, 0.8) is None  # no quantile, no interval


def test_temperature_scaling_repairs_an_overconfident_classifier():
    rng = np.random.default_rng(1)
    true_logits = rng.normal(0, 1.5, (3000, 4))
    labels = [rng.choice(4, p=softmax(row)) for row in true_logits]
    overconfident = np.log(softmax(true_logits * 3))
    t = fit_temperature(overconfident, labels)
    assert 2.4 < t < 3.6
    before, rows = reliability(np.exp(overconfident), labels)
    after, _ = reliability(softmax(overconfident, t), labels)
    assert after < before / 2 and sum(r["n"] for r in rows) == 3000


def test_a_calibration_file_round_trips_and_a_broken_one_is_one_clear_error(tmp_path):
    cal = Calibration(temperature=1.3, quantiles={"initial": {"0.8": 0.9, "0.9": math.inf}}, min_words=16)
    cal.save(tmp_path)
    again = Calibration.load(tmp_path)
    assert again.temperature == 1.3 and again.min_words == 16 and again.interval("initial", 3.0, 0.9) is None
    assert again.too_little("three short words") and not again.too_little(" ".join(["word"] * 16))
    (tmp_path / CALIBRATION_FILE).write_text(json.dumps({"temperature": -1}))
    with pytest.raises(ModelUnavailable, match="not a calibration file"):
        Calibration.load(tmp_path)
    (tmp_path / CALIBRATION_FILE).write_text(json.dumps({"no_such_field": 1}))
    with pytest.raises(ModelUnavailable, match="not a calibration file"):
        Calibration.load(tmp_path)


def test_a_trained_model_carries_its_calibration_and_the_predictor_applies_it(tiny_studio, tiny_encoder):
    heads = {"pooling": "mean", "intensity_head": "linear", "intensity_layer": 1}
    save_tiny_model(tiny_encoder, tiny_studio.settings.models_dir / "tiny-linear", heads)
    manifest = tiny_studio.train_and_register(TrainRequest(model="tiny-linear", max_steps=2, name="calibrated", max_length=32))
    folder = tiny_studio.registry.get("calibrated").path
    cal = Calibration.load(folder)
    assert cal is not None and cal.temperature > 0 and manifest["metrics"]["uncertainty"]["temperature"] == cal.temperature
    pred = tiny_studio.predict_texts("calibrated", ["i am so sad and tired and lonely today"])[0]
    assert math.isclose(sum(pred.probs.values()), 1, abs_tol=1e-5)
    for t, levels in pred.intervals.items():  # the demo's val split is small: only finite quantiles give intervals
        assert levels["0.8"][0] <= pred.intensity[t] <= levels["0.8"][1]
    # the temperature is applied: the stored probabilities are the raw ones scaled by 1/T
    raw = tiny_studio.predictor("calibrated")
    raw_pred = type(raw)(raw.model, raw.tokenizer, cache_size=0).predict(["i am so sad and tired and lonely today"])[0]
    logp = np.log([raw_pred.probs[lab] for lab in raw.labels])
    np.testing.assert_allclose([pred.probs[lab] for lab in raw.labels], softmax(logp, cal.temperature), atol=1e-5)


def test_uncertainty_metrics_count_coverage_on_held_out_examples():
    from empathy_studio.models.seeker_predictor import Prediction

    cal = Calibration(temperature=2.0, quantiles={"initial": {"0.8": 0.5, "0.9": 1.0}})
    examples = [Example(str(i), "t", 0, initial=v) for i, v in enumerate([3.0, 3.4, 4.0, float("nan")])]
    preds = [Prediction("a", {"a": 0.6, "b": 0.4}, intensity={"initial": 3.0}, intervals=cal.intervals({"initial": 3.0})) for _ in examples]
    out = uncertainty_metrics(preds, examples, ["a", "b"], cal)
    assert out["coverage_initial_80"] == pytest.approx(2 / 3) and out["coverage_initial_90"] == 1.0
    # the exact binomial interval of 2 in 3 and of 3 in 3 (Clopper-Pearson, from the beta quantiles)
    from scipy.stats import beta

    assert out["coverage_initial_80_ci95"] == pytest.approx([beta.ppf(0.025, 2, 2), beta.ppf(0.975, 3, 1)])
    assert out["coverage_initial_90_ci95"] == pytest.approx([beta.ppf(0.025, 3, 1), 1.0])
    assert out["ece_before"] != out["ece_after"]
