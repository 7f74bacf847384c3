"""The multi-task model on a tiny BERT: heads, the masked loss, save/load, training and the Predictor."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge

from empathy_studio.errors import ConfigError, ModelUnavailable
from empathy_studio.models.seeker import HeadConfig, build_model, load, save, select_emotion
from empathy_studio.models.seeker_predictor import Predictor
from empathy_studio.training.config import LEXICAL_SCALES, RIDGE_ALPHAS, TrainConfig, preset
from empathy_studio.training.families import FAMILIES
from empathy_studio.training.trainer import TrainData, train

LABELS = ["anger", "anxiety", "depression", "disgust", "fear", "sadness", "shame"]


def _model(tiny_encoder, **heads):
    torch.manual_seed(0)
    model, tok = build_model(tiny_encoder, HeadConfig(labels=LABELS, **heads))
    return model.eval(), tok


def _batch(tok, texts):
    enc = tok(texts, padding=True, return_tensors="pt")
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}


def test_paper_heads_shapes(tiny_encoder):
    model, tok = _model(tiny_encoder)
    out = model(**_batch(tok, ["i am sad", "i am angry about my job"]))
    assert out["logits"].shape == (2, 7) and out["intensity"].shape == (2, 3, 7) and out["pooled"].shape == (2, 32)
    assert model.emotion_head.net[0].out_features == 256 and model.intensity_heads["initial"].net[0].out_features == 128


def test_classify_only_has_no_intensity(tiny_encoder):
    model, tok = _model(tiny_encoder, task="classify")
    out = model(**_batch(tok, ["i am sad"]), labels=torch.tensor([5]))
    assert "intensity" not in out and out["loss"] > 0


def test_loss_uses_gold_emotion_column_and_masks_nan(tiny_encoder):
    model, tok = _model(tiny_encoder, intensity_init=[3.0, 2.0, -1.0])
    batch = _batch(tok, ["i am sad", "i am angry"])
    labels = torch.tensor([5, 0])
    gold = torch.tensor([[4.0, float("nan"), float("nan")], [2.0, 1.0, -1.0]])
    out = model(**batch, labels=labels, intensity=gold)
    assert torch.isfinite(out["loss"])
    pred = select_emotion(out["intensity"], labels)
    ce = torch.nn.functional.cross_entropy(out["logits"], labels)
    mse = ((pred[:, 0] - gold[:, 0]) ** 2).mean() + (pred[1, 1] - 1.0) ** 2 + (pred[1, 2] + 1.0) ** 2
    assert torch.allclose(out["loss"], 0.5 * ce + (0.5 / 3) * mse, atol=1e-6)


def test_intensity_heads_start_at_the_training_mean(tiny_encoder):
    model, tok = _model(tiny_encoder, intensity_init=[3.9, 1.9, -2.0])
    with torch.no_grad():
        for t, mean in (("initial", 3.9), ("final", 1.9)):
            assert torch.allclose(model.intensity_heads[t].net[-1].bias, torch.full((7,), mean))


def test_focal_loss_downweights_easy_examples(tiny_encoder):
    from empathy_studio.models.encoder import focal_cross_entropy

    logits = torch.tensor([[4.0, 0.0], [0.0, 0.1]])
    labels = torch.tensor([0, 0])
    assert focal_cross_entropy(logits, labels, 2.0) < focal_cross_entropy(logits, labels, 0.0)
    assert torch.allclose(focal_cross_entropy(logits, labels, 0.0), torch.nn.functional.cross_entropy(logits, labels))


@pytest.mark.parametrize("heads", [{}, {"pooling": "mean", "intensity_head": "shared"}, {"task": "classify"}])
def test_save_load_round_trip_is_bit_exact(tiny_encoder, tmp_path, heads):
    model, tok = _model(tiny_encoder, **heads)
    texts = ["i am so sad", "hello i feel worried about my exam today", "angry"]
    before = Predictor(model, tok, cache_size=0).predict(texts)
    save(model, tok, tmp_path / "m", {"name": "m"})
    after = Predictor.from_folder(tmp_path / "m", cache_size=0).predict(texts)
    for a, b in zip(before, after):
        assert a.probs == b.probs and a.intensity_raw == b.intensity_raw
        assert np.array_equal(a.embedding, b.embedding)


def test_load_rejects_a_folder_that_is_not_a_model(tmp_path):
    with pytest.raises(ModelUnavailable, match="not an Empathy Studio model folder"):
        load(tmp_path)


def test_predictor_buckets_do_not_change_results(tiny_encoder):
    model, tok = _model(tiny_encoder)
    texts = ["i am sad", "i am so very sad and tired and lonely today", "hello", "my job my exam my friend my mother"]
    batched = Predictor(model, tok, batch_size=3, cache_size=0).predict(texts)
    single = [Predictor(model, tok, batch_size=1, cache_size=0).predict([t])[0] for t in texts]
    for a, b in zip(batched, single):
        assert a.emotion == b.emotion
        np.testing.assert_allclose(list(a.probs.values()), list(b.probs.values()), atol=1e-5)
        np.testing.assert_allclose(list(a.intensity_raw.values()), list(b.intensity_raw.values()), atol=1e-5)


def test_predictor_clips_caches_and_refuses_empty(tiny_encoder):
    model, tok = _model(tiny_encoder, intensity_init=[9.0, -3.0, 7.0])
    p = Predictor(model, tok)
    first = p.predict_one("i am sad")
    assert first.intensity["initial"] == 5.0 and first.intensity["final"] == 1.0 and first.intensity["change"] == 4.0
    assert first.intensity_raw["initial"] > 5
    assert p.predict_one("i am sad") is first  # served from the cache
    with pytest.raises(ValueError, match="empty"):
        p.predict(["   "])
    with pytest.raises(ValueError, match="limit"):
        p.predict(["a" * 100_001])


def test_head_config_validates():
    with pytest.raises(ValueError, match="pooling"):
        HeadConfig(pooling="max")
    with pytest.raises(ConfigError, match="epochs must be a number above 0"):
        TrainConfig(encoder="x", epochs=0)
    with pytest.raises(ConfigError, match="batch_size must be an integer from 1 to 4096, got 2.5"):
        TrainConfig(encoder="x", batch_size=2.5)
    with pytest.raises(ValueError, match="select_metric"):
        TrainConfig(encoder="x", select_metric="vibes")


def test_train_reduces_loss_and_reports_progress(tiny_encoder, tiny_examples, tmp_path):
    events = []
    cfg = TrainConfig(
        encoder=str(tiny_encoder),
        epochs=15,
        batch_size=4,
        max_length=32,
        learning_rate=1e-3,
        head_learning_rate=5e-3,
        warmup=0,
        patience=0,
        output_dir=str(tmp_path / "trainer"),
    )
    res = train(cfg, FAMILIES["seeker"], TrainData(tiny_examples, tiny_examples[:4], LABELS), [events.append])
    losses = [h["eval_loss"] for h in res.history]
    assert losses[-1] < losses[0]
    steps = [e for e in events if e.phase == "training"]
    assert steps and steps[-1].done == steps[-1].total and steps[-1].fraction == 1.0
    assert steps[0].detail == "epoch 1 of 15" and steps[-1].detail == "epoch 15 of 15" and steps[-1].eta_s == 0
    assert [e.phase for e in events][:2] == ["loading", "tokenising"] and "evaluating" in {e.phase for e in events}
    assert res.device == "cpu" and res.precision == "fp32"


def test_frozen_encoder_trains_only_heads(tiny_encoder, tiny_examples, tmp_path):
    cfg = preset("quick", str(tiny_encoder), epochs=5, batch_size=4, intensity_layer=1, output_dir=str(tmp_path / "trainer"))
    torch.manual_seed(0)
    before, _ = build_model(tiny_encoder, HeadConfig(labels=LABELS))
    res = train(cfg, FAMILIES["seeker"], TrainData(tiny_examples, tiny_examples[:4], LABELS))
    enc_before = dict(before.encoder.named_parameters())
    for name, p in res.model.encoder.named_parameters():
        assert torch.equal(p, enc_before[name]), name
    assert res.model.heads_config.pooling == "mean" and set(res.extras["ridge"]) == {"initial", "final", "change"}


def test_early_stopping_keeps_the_best_weights(tiny_encoder, tiny_examples, tmp_path):
    cfg = TrainConfig(
        encoder=str(tiny_encoder),
        epochs=30,
        batch_size=4,
        max_length=32,
        learning_rate=5e-3,
        head_learning_rate=5e-2,
        warmup=0,
        patience=2,
        output_dir=str(tmp_path / "trainer"),
    )
    res = train(cfg, FAMILIES["seeker"], TrainData(tiny_examples, tiny_examples[4:], LABELS))
    best = min(h["eval_loss"] for h in res.history)
    assert res.best["eval_loss"] == best
    assert len(res.history) < 30 or math.isclose(res.history[-1]["eval_loss"], best)


def test_ridge_heads_read_the_chosen_layer_and_fit_in_closed_form(tiny_encoder, tiny_examples, tmp_path):
    cfg = preset(
        "default",
        str(tiny_encoder),
        epochs=2,
        batch_size=4,
        max_length=32,
        freeze_layers=1,
        intensity_layer=1,
        lexical_intensity=False,
        output_dir=str(tmp_path / "trainer"),
    )
    res = train(cfg, FAMILIES["seeker"], TrainData(tiny_examples, tiny_examples[:4], LABELS))
    bottom = res.model.encoder.encoder.layer[0]
    assert not any(p.requires_grad for p in bottom.parameters()) and all(
        p.requires_grad for p in res.model.encoder.encoder.layer[1].parameters()
    )
    assert {r["alpha"] for r in res.extras["ridge"].values()} <= set(RIDGE_ALPHAS) and res.model.lexical is None
    p = Predictor(res.model, res.tokenizer, cache_size=0)
    texts = [e.text for e in tiny_examples]
    feats = p.embed(texts)[1].numpy().astype(np.float64)
    # the folded head equals sklearn's ridge on the standardised features, with the chosen penalty
    y = np.array([e.initial for e in tiny_examples])
    z = (feats - feats.mean(0)) / (feats.std(0) + 1e-6)
    expected = Ridge(alpha=res.extras["ridge"]["initial"]["alpha"]).fit(z, y).predict(z)
    got = [x.intensity_raw["initial"] for x in p.predict(texts)]
    np.testing.assert_allclose(got, expected, atol=1e-4)
    with pytest.raises(ConfigError, match="outside"):
        build_model(tiny_encoder, HeadConfig(labels=LABELS, intensity_layer=9))


def test_lexical_terms_join_the_ridge_heads_and_survive_save_load(tiny_encoder, tiny_examples, tmp_path):
    cfg = preset(
        "default",
        str(tiny_encoder),
        epochs=1,
        batch_size=4,
        max_length=32,
        freeze_layers=1,
        intensity_layer=1,
        output_dir=str(tmp_path / "trainer"),
    )
    res = train(cfg, FAMILIES["seeker"], TrainData(tiny_examples, tiny_examples[:4], LABELS))
    lexical = res.model.lexical
    assert lexical is not None and {r["lexical_scale"] for r in res.extras["ridge"].values()} <= set(LEXICAL_SCALES)
    texts = [e.text for e in tiny_examples]
    p = Predictor(res.model, res.tokenizer, cache_size=0)
    feats = p.embed(texts)[1]
    head = res.model.intensity_heads["final"].last
    encoder_part = (feats @ head.weight[0] + head.bias[0]).detach().numpy()
    words = lexical.predict(texts)[:, 1]
    assert np.abs(words).max() > 0  # the words move the prediction
    got = np.array([x.intensity_raw["final"] for x in p.predict(texts)])
    np.testing.assert_allclose(got, encoder_part + words, atol=1e-5)
    # the explanation's terms come from the text, and all of them together are the lexical part
    total, every, rest = p.explain_intensity(texts[1], k=10_000)["final"]
    assert rest == pytest.approx(0, abs=1e-5)
    assert every and all(all(w in texts[1] for w in term.split()) for term, _ in every)
    assert sum(v for _, v in every) == pytest.approx(float(words[1]), abs=1e-5) == pytest.approx(total, abs=1e-5)
    total_top, top, other = p.explain_intensity(texts[1], k=2)["final"]
    assert total_top == total and other == pytest.approx(total - top[0][1] - top[1][1], abs=1e-6)
    # a threshold keeps only terms that move the prediction at least that much, and stop words go
    cut = sorted(abs(v) for _, v in every)[-2]
    _, kept, _ = p.explain_intensity(texts[1], k=10_000, threshold=cut, drop_stop_words=True)["final"]
    assert all(abs(v) >= cut for _, v in kept) and not any(t in ("i", "am", "i am", "and", "the") for t, _ in kept)
    assert len(top) == 2 and abs(top[0][1]) >= abs(top[1][1]) >= max(abs(v) for _, v in every[2:]) - 1e-9

    folder = save(res.model, res.tokenizer, tmp_path / "m")
    assert (folder / "lexical.json").exists()
    again = Predictor(*load(folder), cache_size=0).predict(texts)
    assert [x.intensity_raw for x in again] == [x.intensity_raw for x in p.predict(texts)]

    off = preset(
        "default",
        str(tiny_encoder),
        epochs=1,
        batch_size=4,
        max_length=32,
        freeze_layers=1,
        intensity_layer=1,
        lexical_intensity=False,
        output_dir=str(tmp_path / "trainer2"),
    )
    plain = train(off, FAMILIES["seeker"], TrainData(tiny_examples, tiny_examples[:4], LABELS))
    assert not (save(plain.model, plain.tokenizer, tmp_path / "plain") / "lexical.json").exists()
    with pytest.raises(ConfigError, match="needs ridge_intensity"):
        TrainConfig(encoder=str(tiny_encoder), lexical_intensity=True)


def test_lexical_file_that_does_not_fit_is_refused(tmp_path):
    from empathy_studio.models.lexical import LexicalIntensity

    bad = tmp_path / "lexical.json"
    bad.write_text('{"terms": ["a"], "idf": [1.0]}')
    with pytest.raises(ModelUnavailable, match="not a lexical intensity file"):
        LexicalIntensity.load(bad)
    with pytest.raises(ValueError, match="do not match"):
        LexicalIntensity({"sad": 0, "tired": 1}, np.ones(2), np.ones((3, 5)))


def test_the_closed_form_ridge_chooses_and_predicts_as_sklearns_grid_within_1e_6(tiny_encoder):
    """One eigendecomposition per scale gives the penalty, scale, map and out-of-fold residuals of one sklearn Ridge per cell."""
    import numpy as np

    from empathy_studio.data import DEMO_PATH, load_esconv, to_examples
    from empathy_studio.models.heads import HeadConfig as Heads
    from empathy_studio.models.lexical import fit_vectorizer
    from empathy_studio.models.seeker import build_model as build
    from empathy_studio.models.seeker_predictor import Predictor as P
    from empathy_studio.training.config import LEXICAL_SCALES as SCALES
    from empathy_studio.training.ridge import select_ridges, sklearn_grid

    examples = to_examples(load_esconv(DEMO_PATH)) * 3  # 90 rows: enough for a val part and 5 folds
    model, tok = build(tiny_encoder, Heads(pooling="mean"))
    feats = P(model, tok, max_length=64, cache_size=0).embed([e.text for e in examples])[1].numpy().astype(np.float64)
    z = (feats - feats.mean(0)) / (feats.std(0) + 1e-6)
    rng = np.random.default_rng(0)
    train, val = np.arange(70), np.arange(70, 90)
    vec = fit_vectorizer([examples[i].text for i in train])
    w = vec.transform([e.text for e in examples]).astype(np.float64).tocsr()
    ys = {}
    for t in ("initial", "final"):
        y = np.array([getattr(e, t) for e in examples], dtype=float) + rng.normal(0, 0.3, len(examples))
        y[rng.random(len(y)) < 0.1] = np.nan  # unlabelled rows differ between targets
        ys[t] = (y[train], y[val])
    ours = select_ridges(z[train], z[val], ys, w[train], w[val], SCALES)
    ref = sklearn_grid(z[train], z[val], ys, w[train].toarray(), w[val].toarray(), SCALES)
    for t in ys:
        a, b = ours[t], ref[t]
        assert (a.alpha, a.scale) == (b.alpha, b.scale) and a.val_mse == pytest.approx(b.val_mse, abs=1e-6)
        pa, pb = (z @ f.coef_z + w @ f.coef_w + f.intercept for f in (a, b))
        assert np.abs(pa - pb).max() < 1e-6 and np.abs(np.array(a.residuals) - np.array(b.residuals)).max() < 1e-6
