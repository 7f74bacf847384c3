"""Property-based tests: whatever a file, a payload or a name holds, the studio succeeds or raises one `UserError` line.

Nothing else may escape (no KeyError, TypeError, RecursionError, OverflowError...), and a refused
input writes nothing. Seeded and bounded, so `make test` runs the same examples every time.
"""

from __future__ import annotations

import csv
import io
import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from empathy_studio.annotation import import_ratings
from empathy_studio.data import load_esconv, read_texts
from empathy_studio.errors import UserError
from empathy_studio.names import check_name, inside
from empathy_studio.store import Store

SETTINGS = dict(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["<script>alert(1)</script>", "4", "5.0", "nan", "inf", "-1", "", "\u202e", "\x00"]),
)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=25
)
turn = st.fixed_dictionaries(
    {
        "speaker": st.sampled_from(["seeker", "supporter", "speaker", "listener", "usr", "bot", 3, None]),
        "content": st.one_of(st.text(max_size=60), scalars),
    }
)
dialogue = st.fixed_dictionaries(
    {
        "emotion_type": st.one_of(st.sampled_from(["anxiety", "anger", "nervousness", " Sadness "]), scalars),
        "dialog": st.one_of(st.lists(turn, max_size=4), scalars),
        "survey_score": st.one_of(
            st.fixed_dictionaries(
                {"seeker": st.fixed_dictionaries({"initial_emotion_intensity": scalars, "final_emotion_intensity": scalars})}
            ),
            scalars,
        ),
    },
    optional={"situation": scalars, "problem_type": scalars, "dialogue_id": scalars},
)


def one_line(exc: BaseException) -> None:
    assert isinstance(exc, UserError), f"{type(exc).__name__}: {exc}"
    assert str(exc) and "\n" not in str(exc), repr(str(exc))


@settings(**SETTINGS)
@given(doc=st.one_of(json_values, st.lists(dialogue, max_size=4), st.lists(json_values, max_size=3)))
def test_any_json_document_loads_or_says_why(tmp_path_factory, doc):
    path = tmp_path_factory.mktemp("doc") / "file.json"
    path.write_text(json.dumps(doc, allow_nan=True))
    try:
        dialogues = load_esconv(path)
    except Exception as exc:  # noqa: BLE001 - the property is about what escapes
        one_line(exc)
        return
    assert dialogues and all(d.seeker_text.strip() for d in dialogues)
    assert all(math.isnan(d.initial) or d.initial in (1, 2, 3, 4, 5) for d in dialogues)


@settings(**SETTINGS)
@given(
    raw=st.one_of(st.binary(max_size=200), st.sampled_from([b"[" * 200_000, b'{"a":' * 100_000, b"\xff\xfe", b"[]", b"{}\n{}"])),
    suffix=st.sampled_from([".json", ".jsonl", ".txt"]),
)
def test_any_bytes_read_as_texts_or_say_why(tmp_path_factory, raw, suffix):
    path = tmp_path_factory.mktemp("raw") / f"file{suffix}"
    path.write_bytes(raw)
    try:
        texts = read_texts(path)
    except Exception as exc:  # noqa: BLE001
        one_line(exc)
        return
    assert texts and all(isinstance(t, str) and t.strip() for t in texts)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = Store(tmp_path_factory.mktemp("props") / "studio.sqlite")
    s.upsert_items({"id": f"item-{i}", "source": "test", "text": f"text {i}", "split": "train"} for i in range(5))
    s.add_annotator("ana", "annotator", "pw")
    try:
        yield s
    finally:
        s.close()


def _counts(store: Store) -> tuple[int, int, int]:
    return (store.count_ratings(), store.db.execute("SELECT count(*) FROM rating_history").fetchone()[0], len(store.annotators()))


payload_values = st.one_of(scalars, st.lists(scalars, max_size=3), st.integers(1, 5))


@settings(**SETTINGS)
@given(
    initial=payload_values,
    final=payload_values,
    emotion=st.one_of(st.sampled_from(["fear", "joy", ""]), scalars),
    confidence=payload_values,
    note=st.one_of(st.none(), st.text(max_size=30), st.just("x" * 5001), scalars),
    turns=st.one_of(st.none(), st.lists(payload_values, max_size=3), scalars),
    annotator=st.one_of(st.just("ana"), st.text(max_size=10)),
    item=st.one_of(st.sampled_from(["item-1", "item-9"]), st.text(max_size=8)),
)
def test_any_rating_payload_is_stored_whole_or_not_at_all(store, initial, final, emotion, confidence, note, turns, annotator, item):
    before = _counts(store)
    try:
        res = store.rate(annotator, item, initial, final, emotion=emotion, confidence=confidence, note=note, turn_intensities=turns)
    except Exception as exc:  # noqa: BLE001
        one_line(exc)
        assert _counts(store) == before
        return
    stored = store.ratings(annotator="ana", item_id=item)[0]
    assert (stored["initial"], stored["final"]) == (initial, final) and res["status"] in ("created", "updated", "unchanged")


COLUMNS = ["annotator", "item_id", "initial", "final", "emotion", "confidence", "note", "turn_intensities"]
cell = st.one_of(
    st.sampled_from(["ana", "item-2", "3", "4", "nan", "inf", "-inf", "1e400", "2.5", "<b>x</b>", "[1, 2]", "[[[", "", "fear"]),
    st.text(max_size=12),
)


@settings(**SETTINGS)
@given(rows=st.lists(st.lists(cell, min_size=len(COLUMNS), max_size=len(COLUMNS)), max_size=5), as_csv=st.booleans(), create=st.booleans())
def test_any_import_file_reports_per_row_and_a_dry_run_writes_nothing(store, tmp_path_factory, rows, as_csv, create):
    folder = tmp_path_factory.mktemp("imp")
    if as_csv:
        path = folder / "in.csv"
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(COLUMNS)
        w.writerows(rows)
        path.write_text(buf.getvalue())
    else:
        path = folder / "in.jsonl"
        path.write_text("".join((json.dumps(dict(zip(COLUMNS, r))) if i % 2 == 0 else ",".join(r)) + "\n" for i, r in enumerate(rows)))
    before = _counts(store)
    try:
        dry = import_ratings(store, path, dry_run=True, create_annotators=create)
    except Exception as exc:  # noqa: BLE001
        one_line(exc)
        return
    assert _counts(store) == before and dry["written"] == 0
    real = import_ratings(store, path, create_annotators=create)
    assert real["rejected"] == dry["rejected"] and real["written"] == real["ok"] == dry["ok"]
    assert all(isinstance(r["row"], int) and "\n" not in r["reason"] for r in real["rejected"])


@settings(**SETTINGS)
@given(
    name=st.one_of(
        st.text(max_size=80), st.sampled_from(["..", "../x", "/abs", "a/b", ".hidden", "ok-name_1.2", "x" * 64, "x" * 65, "a\\b"])
    )
)
def test_any_name_is_a_safe_folder_name_or_refused(tmp_path_factory, name):
    folder = tmp_path_factory.mktemp("names")
    try:
        path = inside(folder, name)
    except Exception as exc:  # noqa: BLE001
        one_line(exc)
        return
    assert check_name(name) == name and path.parent == folder.resolve() and not name.startswith(".")


@settings(**SETTINGS)
@given(name=st.text(max_size=80))
def test_any_account_name_is_one_account_or_refused(store, name):
    before = len(store.annotators())
    try:
        made = store.add_annotator(name, "annotator", "pw-1")
    except Exception as exc:  # noqa: BLE001
        one_line(exc)
        assert len(store.annotators()) == before
        return
    assert store.authenticate(name, "pw-1") == made and store.annotator(made.name) == made
