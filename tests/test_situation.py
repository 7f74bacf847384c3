"""The seeker's pre-chat situation as an input (`train --situation`, on in the default preset; the paper read the words alone)."""

from __future__ import annotations

import pytest

from empathy_studio.data import DEMO_PATH, load_esconv, situated
from empathy_studio.errors import ConfigError
from empathy_studio.services import TrainRequest
from empathy_studio.settings import Settings
from empathy_studio.training.request import training_config

DEMO = load_esconv(DEMO_PATH)


def test_the_situation_is_read_before_the_seekers_words_and_an_empty_one_adds_nothing():
    assert situated("  Exams next week.  ", "i cannot sleep") == "Exams next week. i cannot sleep"
    assert situated("", "i cannot sleep") == situated("   ", "i cannot sleep") == "i cannot sleep"


def test_the_default_preset_reads_it_the_papers_presets_do_not_and_data_without_one_never_does():
    settings = Settings()
    assert training_config(TrainRequest(model="minilm"), settings, "").situation
    assert not training_config(TrainRequest(model="minilm", preset="paper"), settings, "").situation
    assert not training_config(TrainRequest(model="minilm", preset="quick"), settings, "").situation
    assert not training_config(TrainRequest(model="minilm", task="stressor"), settings, "").situation  # SAD has no situation
    with pytest.raises(ConfigError, match="--situation reads the seeker's pre-chat situation"):
        TrainRequest(model="minilm", task="stressor", situation=True)


def test_a_model_trained_with_the_situation_reads_it_wherever_it_predicts_a_dialogue(tiny_studio, tiny_encoder):
    from .conftest import save_tiny_model

    heads = {"pooling": "mean", "intensity_head": "linear", "intensity_layer": 1}
    save_tiny_model(tiny_encoder, tiny_studio.settings.models_dir / "tiny-linear", heads)
    req = TrainRequest(model="tiny-linear", max_steps=2, max_length=64, name="sit", situation=True)
    tset = tiny_studio.finetune.training_set(req)
    by_id = {d.dialogue_id: d for d in DEMO}
    for ex in tset.splits["train"] + tset.splits["test"]:  # train and evaluation read the same way
        assert ex.text == situated(by_id[ex.item_id].situation, by_id[ex.item_id].seeker_text)
    manifest = tiny_studio.train_and_register(req)
    assert manifest["heads"]["situation"] is True and manifest["hyperparameters"]["situation"] is True
    card = (tiny_studio.settings.models_dir / "sit" / "README.md").read_text()  # the model card says so, and that the paper did not
    assert "reads the seeker's pre-chat situation" in card and "Wang & Roman (CCN 2025) read the seeker's words alone" in card
    plain = tiny_studio.train_and_register(TrainRequest(model="tiny-linear", max_steps=2, max_length=64, name="plain", situation=False))
    assert plain["heads"]["situation"] is False
    assert "situation" not in (tiny_studio.settings.models_dir / "plain" / "README.md").read_text()

    d = tiny_studio.dialogue(tset.splits["test"][0].item_id)
    assert tiny_studio.dialogue_texts("sit", [d]) == [situated(d.situation, d.seeker_text)]
    assert tiny_studio.dialogue_texts("plain", [d]) == [d.seeker_text]
    got = tiny_studio.predict_dialogues("sit", [d])[0]
    want = tiny_studio.predict_texts("sit", [situated(d.situation, d.seeker_text)])[0]
    assert got.probs == want.probs and got.intensity == want.intensity
    # the trajectory reads each prefix of the seeker's words after the situation
    points = tiny_studio.trajectory("sit", d.dialogue_id)
    first = tiny_studio.predict_texts("sit", [situated(d.situation, d.seeker_turns[0])])[0]
    assert points[0]["pred_initial"] == first.intensity["initial"]
    # evaluation reads the test split as training did: the same F1 as the manifest's
    assert tiny_studio.evaluate("sit", "esconv", "test")["f1_weighted"] == pytest.approx(manifest["metrics"]["f1_weighted"])
