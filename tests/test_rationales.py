"""Rationales: EPITOME's spans located in the response, scored on words, learnt by the rater's head, shown as typed."""

from __future__ import annotations

import html
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from empathy_studio import rationales as R
from empathy_studio.epitome import Pair
from empathy_studio.models.heads import RaterConfig
from empathy_studio.models.rater import IGNORE, build_rater, rationale_labels
from empathy_studio.models.rater_predictor import RaterPredictor
from empathy_studio.services import TrainRequest
from empathy_studio.training.config import preset
from empathy_studio.training.families import FAMILIES
from empathy_studio.training.family import TrainData
from empathy_studio.training.trainer import train
from empathy_studio.ui.html import pair_html, rationale_html


def test_epitomes_cell_is_located_in_the_response_and_a_missing_span_is_dropped():
    response = "I'm sorry. Have you talked to anyone? I'm sorry."
    assert R.locate(response, "I'm sorry|Have you talked to anyone?|") == [(0, 9), (11, 37)]
    assert R.locate(response, "not in it|I'm sorry.|I'm sorry.") == [(0, 10), (38, 48)]  # a repeated span is found again after
    assert R.locate(response, "") == []


def test_token_f1_and_iou_f1_on_words_as_worked_by_hand():
    text = "so sorry that happened . what did they say ?"
    gold = [(0, 22), (25, 44)]  # "so sorry that happened" and "what did they say ?"
    pred = [(3, 8), (25, 44)]  # "sorry", and the question whole
    got = R.score([text], [gold], [pred])
    # words marked: gold 9 of 10 ("." is not), pred 6 ("sorry" and the 5 of the question), both 6 -> 2*6 / (9 + 6)
    assert got["token_f1"] == pytest.approx(12 / 15)
    # spans: gold {0..3}, {5..9}; pred {1}, {5..9}; IOU {1} vs {0..3} = 1/4 (no match), question = 1 -> P 1/2, R 1/2
    assert got["iou_f1"] == pytest.approx(0.5) and got["n"] == 1
    assert R.score([text], [[]], [pred])["n"] == 0  # a pair without a gold rationale is not scored


def test_the_lexicon_floor_marks_the_words_marked_in_half_their_training_occurrences():
    texts = ["i am so sorry", "so sorry for you", "sorry, that is sad", "that is so sad"]
    gold = [[(5, 13)], [(0, 8)], [(0, 6)], [(0, 4)]]  # "so sorry", "so sorry", "sorry,", "that"
    lex = R.RationaleLexicon(min_count=2).fit(texts, gold)
    assert lex.marked == {"sorry", "so", "that"}  # "sorry" 3 of 3, "so" 2 of 3, "that" 1 of 2 (half is enough); "sad" 0 of 2
    assert lex.predict("oh so sorry!") == [(3, 12)]


@given(
    st.text(alphabet=st.sampled_from("ab <>&\"'\n"), max_size=40), st.lists(st.tuples(st.integers(0, 45), st.integers(0, 45)), max_size=4)
)
def test_marked_spans_cover_whole_words_and_the_text_is_shown_as_typed(text, raw):
    spans = [(min(a, b), max(a, b)) for a, b in raw]
    joined = R.spans_of(text, R.word_mask(text, spans))
    for s, e in joined:  # whole words: no marked span starts or ends inside a word
        assert (s == 0 or text[s - 1].isspace()) and (e == len(text) or text[e].isspace())
    shown = rationale_html(text, {"emotional_reactions": [list(x) for x in joined]}, {"emotional_reactions": "weak"})
    assert html.unescape(re.sub(r"</?mark[^>]*>", "", shown)) == text  # every character, in order, nothing added or lost
    assert "<" not in re.sub(r"</?mark[^>]*>", "", shown)  # markup in the text is escaped, never parsed


def test_rationale_words_with_markup_are_shown_as_typed_in_an_assisted_item():
    response = 'I hear you <b>really</b> & "<script>alert(1)</script>"'
    start = response.index("<b>")
    suggestion = {
        "pred_levels": {"emotional_reactions": "strong", "interpretations": "none", "explorations": "none"},
        "pred_score": 0.4,
        "pred_rationales": {"emotional_reactions": [[start, len(response)]], "interpretations": [[0, 6]], "explorations": []},
    }
    out = pair_html("epitome:1", "post", response, suggestion, "rater")
    assert "<script>" not in out and "<b>really" not in out
    assert '<mark class="es-why es-why-er"' in out and "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert "es-why-ip" not in out  # a mechanism predicted at none marks no words


def test_rationale_labels_mark_the_tokens_of_each_mechanisms_spans_where_the_pair_shows_it(tiny_encoder):
    model, tok = build_rater(tiny_encoder, RaterConfig(arch="bi", rationale_weight=1.0))
    response = "so sad . can you help me"
    pair = Pair("p", "i lost my job", response, (2, 0, 1), (((0, 6),), ((0, 2),), ((9, 24),)))
    rows = [{}]
    rationale_labels([pair], rows, tok, "bi", 32)
    enc = tok(response, return_offsets_mapping=True)
    labels = rows[0]["rationale"]
    assert len(labels) == len(enc["input_ids"]) and labels[0] == [IGNORE] * 3 and labels[-1] == [IGNORE] * 3  # [CLS], [SEP]
    words = [response[a:b] for a, b in enc["offset_mapping"][1:-1]]
    assert [w for w, lab in zip(words, labels[1:-1]) if lab[0] == 1] == ["so", "sad"]
    assert [w for w, lab in zip(words, labels[1:-1]) if lab[2] == 1] == ["can", "you", "help", "me"]
    assert all(lab[1] == IGNORE for lab in labels)  # IP is at none for this pair: its words say nothing
    unknown = [{}]
    rationale_labels([Pair("q", "a", response, (1, 1, 1))], unknown, tok, "bi", 32)  # a rated pair: no rationales known
    assert all(lab == [IGNORE] * 3 for lab in unknown[0]["rationale"])


@pytest.mark.parametrize("arch", ["bi", "cross"])
def test_a_rater_with_a_rationale_head_learns_words_and_predicts_them_as_spans(tiny_encoder, tmp_path, arch):
    """Tiny data where the rationale is always the word "help": after training, the head marks it and little else."""
    rng = np.random.default_rng(0)
    fillers = "i am so and my job work exam friend today very really the a to of it is was in".split()
    pairs = []
    for i in range(64):
        words = list(rng.choice(fillers, 5))
        words.insert(int(rng.integers(0, 5)), "help")
        response = " ".join(words)
        start = response.index("help")
        pairs.append(Pair(f"p{i}", "i feel sad", response, (1, 1, 1), (((start, start + 4),),) * 3))
    rater = FAMILIES["rater"]
    heads = rater.head_options(TrainRequest(model="m", task="empathy", arch=arch, rationale_weight=5.0))
    config = preset("rater", str(tiny_encoder), objective="rater", output_dir=str(tmp_path / "t"), epochs=40, max_length=32, seed=0)
    config.head_learning_rate, config.select_metric = 1e-2, "loss"  # the levels are constant here: keep the last epoch
    result = train(config, rater, TrainData(pairs[:48], pairs[48:], (), heads))
    assert result.model.config.rationale_weight == 5.0
    test = pairs[48:]
    preds = RaterPredictor(result.model, result.tokenizer, max_length=32, cache_size=0).predict([(p.post, p.response) for p in test])
    got = R.score([p.response for p in test], [p.rationales[0] for p in test], [r.rationales["emotional_reactions"] for r in preds])
    every_word = R.score([p.response for p in test], [p.rationales[0] for p in test], [[(0, len(p.response))] for p in test])
    assert got["token_f1"] > 0.8 and got["token_f1"] > every_word["token_f1"] + 0.3, (got, every_word)
    assert "pred_rationales" in preds[0].to_dict()


def test_a_rater_trained_on_rated_pairs_alone_has_no_rationale_head(tiny_encoder):
    rater = FAMILIES["rater"]
    heads = rater.head_options(TrainRequest(model="m", task="empathy"))
    assert heads.rationale_weight == 1.0  # the default
    config = preset("rater", str(tiny_encoder), objective="rater")
    model, _ = rater.build(config, TrainData([Pair("p", "a", "b", (1, 0, 0))], [], (), heads))
    assert model.config.rationale_weight == 0.0 and not hasattr(model, "rationale")


def test_the_command_line_says_the_words_behind_each_mechanism_it_predicts(tiny_encoder, tmp_path, capsys):
    import torch

    from empathy_studio.cli import main
    from empathy_studio.models.rater import save_rater

    model, tok = build_rater(tiny_encoder, RaterConfig(hidden=8, rationale_weight=1.0))
    with torch.no_grad():  # IP strong, the rest none; every word marked
        for m, head in model.mechanisms.items():
            head[3].bias.copy_(torch.tensor([-9.0, -9.0, 9.0] if m == "interpretations" else [9.0, -9.0, -9.0]))
        model.rationale[1].bias.fill_(9.0)
    save_rater(model, tok, tmp_path / "models" / "why", {"name": "why", "task": "empathy", "objective": "rater"})
    args = ["predict", "--task", "empathy", "--model", "why", "--post", "i am sad", "--response", "so <b>sad</b> , you are not alone"]
    assert main([*args, "--models-dir", str(tmp_path / "models"), "--db", str(tmp_path / "s.db")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("ER none  IP strong  EX none") and lines[1:] == ["  IP words: so <b>sad</b> , you are not alone"]
