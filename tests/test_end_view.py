"""The end view: the seeker model's linear intensity heads read a long text's last tokens beside its first."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from empathy_studio.data import Example
from empathy_studio.errors import ConfigError
from empathy_studio.models.seeker import HeadConfig, build_model, load, save
from empathy_studio.models.seeker_predictor import Predictor
from empathy_studio.training.config import END_SCALES, END_TARGETS, LEXICAL_SCALES, TrainConfig, preset
from empathy_studio.training.families import FAMILIES
from empathy_studio.training.trainer import TrainData, train

LABELS = ["anger", "anxiety", "depression", "disgust", "fear", "sadness", "shame"]
WORDS = "i am so sad and angry about my job work exam friend mother father sleep tired lonely happy better worse".split()


def _long(seed: int, n: int = 40) -> str:
    rng = np.random.default_rng(seed)
    return " ".join(rng.choice(WORDS, n))  # one token a word in the tiny vocabulary


def _linear(model, target: str, first: torch.Tensor | None, end: torch.Tensor | None) -> None:
    h = model.encoder.config.hidden_size
    head = model.intensity_heads[target].last
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
        if first is not None:
            head.weight[:, :h] = first
        if end is not None:
            head.weight[:, h:] = end


def test_the_end_view_reads_the_last_tokens_of_a_text_longer_than_the_first_view(tiny_encoder):
    torch.manual_seed(0)
    both, tok = build_model(
        tiny_encoder, HeadConfig(labels=LABELS, pooling="mean", intensity_head="linear", intensity_layer=1, end_view=True)
    )
    plain, _ = build_model(tiny_encoder, HeadConfig(labels=LABELS, pooling="mean", intensity_head="linear", intensity_layer=1))
    plain.encoder = both.encoder
    v = torch.randn(both.encoder.config.hidden_size)
    _linear(both, "initial", v, None)  # initial reads the opening, final the end
    _linear(both, "final", None, v)
    _linear(both, "change", v, v)
    with torch.no_grad():
        plain.intensity_heads["initial"].last.weight[:] = v
        plain.intensity_heads["initial"].last.bias.zero_()
    long_texts, short = [_long(s) for s in range(3)], "i am so sad about my job"
    keep = 16 - 2  # max_length 16, less [CLS] and [SEP]
    p, ref = Predictor(both.eval(), tok, max_length=16, cache_size=0), Predictor(plain.eval(), tok, max_length=16, cache_size=0)
    got = p.predict(long_texts + [short])  # one batch: long and short texts together
    opening = ref.predict([" ".join(t.split()[:keep]) for t in long_texts] + [short])
    ending = ref.predict([" ".join(t.split()[-keep:]) for t in long_texts] + [short])
    for g, o, e in zip(got, opening, ending):
        assert g.intensity_raw["initial"] == pytest.approx(o.intensity_raw["initial"], abs=1e-5)
        assert g.intensity_raw["final"] == pytest.approx(e.intensity_raw["initial"], abs=1e-5)
        assert g.intensity_raw["change"] == pytest.approx(o.intensity_raw["initial"] + e.intensity_raw["initial"], abs=1e-5)
    assert [g.reads_end for g in got] == [("final", "change")] * 3 + [()] and got[0].to_dict()["reads_end"] == ["final", "change"]
    # a text that fits has one view for both: final equals initial, as the weights are the same
    assert got[-1].intensity_raw["final"] == pytest.approx(got[-1].intensity_raw["initial"], abs=1e-5)
    # one at a time, the same
    alone = [p.predict([t])[0] for t in long_texts]
    for a, g in zip(alone, got):
        assert a.intensity_raw == pytest.approx(g.intensity_raw, abs=1e-5)


def test_the_end_view_needs_the_linear_ridge_heads(tiny_encoder):
    with pytest.raises(ConfigError, match="end_view needs intensity_head='linear'"):
        HeadConfig(labels=LABELS, end_view=True)
    with pytest.raises(ConfigError, match="end_view needs ridge_intensity"):
        TrainConfig(encoder=str(tiny_encoder), intensity_head="linear", end_view=True)


def test_the_closed_form_with_the_end_view_is_sklearns_choice_and_initial_never_reads_it():
    from empathy_studio.training.ridge import select_ridges, sklearn_grid

    rng = np.random.default_rng(0)
    n = 90
    z, e = rng.standard_normal((n, 6)), rng.standard_normal((n, 6))
    w = np.abs(rng.standard_normal((n, 10))) * (rng.random((n, 10)) < 0.3)
    ys = {
        "initial": z[:, 0] + rng.normal(0, 0.3, n),
        "final": e[:, 1] - e[:, 2] + rng.normal(0, 0.3, n),  # only the end view knows this one
    }
    train, val = np.arange(70), np.arange(70, 90)
    ys = {t: (y[train], y[val]) for t, y in ys.items()}
    ends = {t: END_SCALES for t in END_TARGETS}
    import scipy.sparse as sp

    ws = sp.csr_matrix(w)
    ours = select_ridges(z[train], z[val], ys, ws[train], ws[val], LEXICAL_SCALES[:2], e=e[train], ev=e[val], ends=ends)
    ref = sklearn_grid(z[train], z[val], ys, w[train], w[val], LEXICAL_SCALES[:2], e=e[train], ev=e[val], ends=ends)
    for t in ys:
        a, b = ours[t], ref[t]
        assert (a.alpha, a.scale, a.end) == (b.alpha, b.scale, b.end) and a.val_mse == pytest.approx(b.val_mse, abs=1e-6)
        assert np.abs(a.predict(z, ws, e) - b.predict(z, w, e)).max() < 1e-6
        assert np.abs(np.array(a.residuals) - np.array(b.residuals)).max() < 1e-6
    assert ours["initial"].end == 0 and ours["initial"].coef_e is None
    assert ours["final"].end > 0 and ours["final"].val_mse < 0.5 * np.var(ys["final"][1])


def _examples(n: int) -> list[Example]:
    """Long texts whose final intensity is written in their last words, past the first view."""
    rng = np.random.default_rng(1)
    out = []
    for i in range(n):
        final = float(rng.integers(1, 6))
        ending = "happy better" if final <= 2 else "sad worse" if final >= 4 else "okay"
        out.append(Example(f"d{i}", f"{_long(i, 30)} {ending} {ending}", i % len(LABELS), float(rng.integers(3, 6)), final, float("nan")))
    return out


def test_a_model_trained_with_the_end_view_reads_how_the_text_ended_and_keeps_it_through_save_and_load(tiny_encoder6, tmp_path):
    data = _examples(60)
    runs = {}
    for end_view in (False, True):
        cfg = preset(
            "quick", str(tiny_encoder6), max_length=16, epochs=2, lexical_intensity=False, end_view=end_view,
            output_dir=str(tmp_path / f"trainer-{end_view}"),
        )  # fmt: skip
        runs[end_view] = train(cfg, FAMILIES["seeker"], TrainData(data[:45], data[45:], LABELS))
    ridge = runs[True].extras["ridge"]
    assert ridge["initial"]["end_scale"] is None and ridge["final"]["end_scale"] in END_SCALES[1:]
    assert ridge["final"]["val_mse"] < runs[False].extras["ridge"]["final"]["val_mse"]  # the ending is past the first 14 tokens

    res = runs[True]
    folder = save(res.model, res.tokenizer, tmp_path / "m")
    assert json.loads((folder / "heads.json").read_text())["end_view"] is True
    texts = [e.text for e in data]
    before = Predictor(res.model, res.tokenizer, max_length=16, cache_size=0).predict(texts)
    after = Predictor(*load(folder), max_length=16, cache_size=0).predict(texts)
    for a, b in zip(after, before):
        assert a.intensity_raw == pytest.approx(b.intensity_raw, abs=1e-5)
    assert all(a.reads_end == after[0].reads_end and "final" in a.reads_end and "initial" not in a.reads_end for a in after)


def test_explore_marks_the_turn_from_which_final_reads_the_end_and_says_which_heads_read_it():
    from empathy_studio.plots import trajectory
    from empathy_studio.ui.html import end_view_note

    def points(reads):
        return [{"turn": i + 1, "text": "t", "pred_initial": 4.0, "pred_final": 3.0, "reads_end": r} for i, r in enumerate(reads)]

    marked = trajectory(points([[], [], ["final", "change"], ["final", "change"]]))
    assert [s.x0 for s in marked.layout.shapes] == [2.5]
    assert any("final reads the last turns" in a.text for a in marked.layout.annotations)
    for reads in ([[], []], [[], ["change"]]):  # nothing outgrew the first view, or final keeps the opening
        fig = trajectory(points(reads))
        assert not fig.layout.shapes and not any("last turns" in a.text for a in fig.layout.annotations)
    assert end_view_note(["change"]).startswith("The text is longer") and "change reads its last turns" in end_view_note(["change"])
    assert "final and change read its last turns" in end_view_note(["final", "change"])
