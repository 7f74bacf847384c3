"""Loading ESConv in both role namings, the malformed-file matrix, the paper's split, balancing, SAD and EPITOME."""

from __future__ import annotations

import json
import math

import pytest

from empathy_studio import data as D
from empathy_studio.epitome import load_epitome
from empathy_studio.labels import ESCONV_EMOTIONS
from empathy_studio.settings import load_settings
from empathy_studio.sources import DataSources, resolve_esconv
from empathy_studio.training.policies import balance_dialogues, training_examples

from .conftest import EPITOME, ESCONV, SAD, needs_esconv


def _dialogue(**over):
    rec = {
        "emotion_type": "anxiety",
        "problem_type": "job crisis",
        "situation": "s",
        "survey_score": {"seeker": {"initial_emotion_intensity": "4", "final_emotion_intensity": "2"}},
        "dialog": [
            {"speaker": "seeker", "annotation": {}, "content": "  I am worried  "},
            {"speaker": "supporter", "annotation": {"strategy": "Question"}, "content": "Why?"},
            {"speaker": "seeker", "annotation": {}, "content": "My job."},
        ],
    }
    rec.update(over)
    return rec


def _write(tmp_path, records, name="ESConv.json"):
    path = tmp_path / name
    path.write_text(json.dumps(records) if not isinstance(records, str) else records)
    return path


def test_seeker_text_is_stripped_and_joined(tmp_path):
    d = D.load_esconv(_write(tmp_path, [_dialogue()]))[0]
    assert d.seeker_text == "I am worried My job."
    assert (d.initial, d.final, d.change) == (4.0, 2.0, -2.0)
    assert d.turns[1].strategy == "Question"


def test_failed_esconv_role_naming(tmp_path):
    rec = _dialogue(
        dialog=[
            {"speaker": "speaker", "annotation": {"feedback": "3"}, "content": "help"},
            {"speaker": "listener", "annotation": {"strategy": "Others"}, "content": "sure"},
        ]
    )
    d = D.load_esconv(_write(tmp_path, [rec], "FailedESConv.json"))[0]
    assert [t.role for t in d.turns] == ["seeker", "supporter"]
    assert d.source == "failed-esconv"


def test_numbers_missing_final_and_extra_keys(tmp_path):
    rec = _dialogue(survey_score={"seeker": {"initial_emotion_intensity": 5}}, extra_key=[1, 2])
    d = D.load_esconv(_write(tmp_path, [rec]))[0]
    assert d.initial == 5.0 and math.isnan(d.final) and math.isnan(d.change)


@pytest.mark.parametrize(
    "records, expect",
    [
        ("{not json", "not valid JSON"),
        ({"a": 1}, "expected a JSON list"),
        ([], "no dialogues"),
        ([_dialogue(dialog=[])], "record 0, field 'dialog': empty dialogue"),
        ([_dialogue(), _dialogue(dialog=[{"speaker": "bot", "content": "x"}])], "record 1, field 'dialog[0].speaker': unknown role 'bot'"),
        (
            [_dialogue(survey_score={"seeker": {"initial_emotion_intensity": "7"}})],
            "field 'survey_score.seeker.initial_emotion_intensity': intensity '7' is outside",
        ),
        ([_dialogue(survey_score={"seeker": {"initial_emotion_intensity": "high"}})], "is not a number"),
        ([_dialogue(emotion_type=None)], "field 'emotion_type': missing emotion"),
        (["just a string"], "record 0: expected an object"),
        ([_dialogue(dialog=[{"speaker": "seeker", "content": 3}])], "field 'dialog[0].content'"),
    ],
)
def test_malformed_files_name_file_record_and_field(tmp_path, records, expect):
    path = _write(tmp_path, records)
    with pytest.raises(D.DataError) as err:
        D.load_esconv(path)
    msg = str(err.value)
    assert str(path) in msg and expect in msg and "\n" not in msg


def test_missing_file(tmp_path):
    with pytest.raises(D.DataError, match="file not found"):
        D.load_esconv(tmp_path / "nope.json")


def test_demo_set_is_valid_and_covers_every_emotion():
    src = resolve_esconv([], None, None)
    assert src.is_demo and "demo" in src.describe()
    kept = D.labelled(src.dialogues)
    assert len(kept) >= 25 and {d.emotion for d in kept} == set(ESCONV_EMOTIONS)
    assert sum(len(v) for v in src.splits.values()) == len(kept)


def test_resolution_order(tmp_path):
    explicit = _write(tmp_path, [_dialogue()], "a.json")
    configured = _write(tmp_path, [_dialogue(), _dialogue()], "b.json")
    assert len(resolve_esconv([configured], explicit).dialogues) == 1
    # EMPATHY_STUDIO_ESCONV names the file explicitly, through Settings
    settings = load_settings(
        env={"EMPATHY_STUDIO_ESCONV": str(explicit), "EMPATHY_STUDIO_CONFIG": str(tmp_path / "none.yaml")}, esconv=(configured,)
    )
    assert len(DataSources.from_settings(settings).esconv.dialogues) == 1
    assert len(resolve_esconv([tmp_path / "missing.json", configured]).dialogues) == 2


@needs_esconv
def test_paper_split_sizes_and_classes():
    dialogues = D.load_esconv(ESCONV)
    assert len(dialogues) == 1300 and len(D.labelled(dialogues)) == 1284
    splits = D.split_dialogues(dialogues)
    assert [len(splits[s]) for s in D.SPLITS] == [898, 128, 258]
    ids = [{d.dialogue_id for d in splits[s]} for s in D.SPLITS]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])


@needs_esconv
def test_hub_format_files_load_through_datasets():
    dialogues = D.load_esconv_hf(str(ESCONV.parent / "hf_splits"))
    assert len(dialogues) == 1300
    assert {t.role for t in dialogues[0].turns} == {"seeker", "supporter"}


@pytest.mark.skipif(not SAD.exists(), reason="SAD is not beside the project")
def test_sad_split_sizes():
    rows = D.load_sad(SAD)
    splits = D.paper_split(rows, [r.label for r in rows])
    assert [len(splits[s]) for s in D.SPLITS] == [4795, 684, 1371]


@pytest.mark.skipif(not EPITOME.exists(), reason="EPITOME is not beside the project")
def test_epitome_merges_three_mechanisms():
    recs = load_epitome(EPITOME)
    assert len(recs) == 3023
    assert all(set(r.levels) == {"emotional_reactions", "interpretations", "explorations"} for r in recs)


def test_balanced_augmentation_is_seeded_and_training_only():
    src = resolve_esconv([], None, None)
    train = src.splits["train"]
    a = balance_dialogues(train, target=10, seed=1)
    b = balance_dialogues(train, target=10, seed=1)
    assert [e.text for e in a] == [e.text for e in b]
    counts = {lab: sum(e.label == lab for e in a) for lab in {e.label for e in a}}
    assert set(counts.values()) == {10}
    by_id = {d.dialogue_id: d for d in train}
    for ex in a:
        src_d = by_id[ex.item_id.split("#")[0]]
        assert ex.initial == src_d.initial
        turns = src_d.seeker_turns
        assert ex.text.startswith(turns[0]) and ex.text.endswith(turns[-1])


def test_ratings_policies_never_use_evaluation_items():
    src = resolve_esconv([], None, None)
    splits = src.splits
    test_id = splits["test"][0].dialogue_id
    train_id = splits["train"][0].dialogue_id
    ratings = {test_id: {"initial": 1, "final": 1}, train_id: {"initial": 2, "final": 1, "emotion": "shame"}}
    only = training_examples(splits, "ratings", ratings)
    assert [e.item_id for e in only] == [train_id]
    assert only[0].initial == 2 and only[0].change == -1 and only[0].label == ESCONV_EMOTIONS.index("shame")
    mixed = training_examples(splits, "gold+ratings", ratings)
    assert len(mixed) == len(splits["train"]) and test_id not in {e.item_id for e in mixed}
    with pytest.raises(ValueError, match="unknown data policy"):
        training_examples(splits, "everything", ratings)
