"""Loading ESConv, FailedESConv, SAD and the demo set into typed records, and the paper's split.

The split is two stratified `train_test_split` calls, seed 42. EPITOME's records
live in `epitome.py`, where each dataset comes from in `sources.py`, and the
training-set policies and the paper's `--balanced` in `training/policies.py`.
Every problem with an input file becomes one
`DataError` that names the file, the record index and the field, so callers
can show a single line instead of a traceback.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from sklearn.model_selection import train_test_split

from .errors import DataError
from .labels import ESCONV_EMOTIONS, SAD_LABELS

__all__ = ["DataError", "Dialogue", "Example"]

DEMO_PATH = Path(__file__).resolve().parent.parent / "assets" / "demo_esconv.json"
SPLITS = ("train", "val", "test")

# The three role namings seen in the wild: ESConv.json, FailedESConv.json, and
# the Hub conversion (thu-coai/esconv).
SEEKER_ROLES = {"seeker", "speaker", "usr"}
SUPPORTER_ROLES = {"supporter", "listener", "sys"}


# ---------------------------------------------------------------------------
# records


@dataclass(frozen=True)
class Turn:
    role: str  # "seeker" or "supporter"
    text: str
    strategy: str | None = None
    feedback: float = math.nan  # a seeker turn's own 1-5 rating of how the chat is going (FailedESConv keeps them)


@dataclass(frozen=True)
class Dialogue:
    dialogue_id: str
    turns: tuple[Turn, ...]
    emotion: str
    problem: str = ""
    situation: str = ""
    initial: float = math.nan
    final: float = math.nan
    source: str = "esconv"
    empathy: float = math.nan  # the seeker's own rating of the supporter's empathy after the chat, 1-5 (survey_score.seeker.empathy)

    @property
    def change(self) -> float:
        return self.final - self.initial  # NaN propagates when either is missing

    @property
    def seeker_turns(self) -> list[str]:
        return [t.text.strip() for t in self.turns if t.role == "seeker"]

    @property
    def seeker_text(self) -> str:
        return " ".join(self.seeker_turns)

    def gold(self, target: str) -> float:
        return getattr(self, target)


@dataclass(frozen=True)
class Example:
    """One training/evaluation row: text plus labels (NaN where unknown)."""

    item_id: str
    text: str
    label: int
    initial: float = math.nan
    final: float = math.nan
    change: float = math.nan


# ---------------------------------------------------------------------------
# ESConv and FailedESConv


def _intensity(raw: Any, path: Path, index: int, name: str) -> float:
    if raw is None or raw == "":
        return math.nan
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise DataError(path, f"intensity {raw!r} is not a number", index, name) from None
    if math.isnan(value):
        return value
    if not (1 <= value <= 5) or value != int(value):
        raise DataError(path, f"intensity {raw!r} is outside the 1-5 scale", index, name)
    return value


def _role(raw: Any, path: Path, index: int, name: str) -> str:
    role = str(raw).strip().lower()
    if role in SEEKER_ROLES:
        return "seeker"
    if role in SUPPORTER_ROLES:
        return "supporter"
    raise DataError(path, f"unknown role {raw!r} (expected seeker/supporter or speaker/listener)", index, name)


def parse_esconv_record(rec: Any, index: int, path: Path, source: str = "esconv") -> Dialogue:
    if not isinstance(rec, dict):
        raise DataError(path, f"expected an object, got {type(rec).__name__}", index)
    turns_raw = rec.get("dialog")
    if not isinstance(turns_raw, list):
        raise DataError(path, "missing or not a list", index, "dialog")
    if not turns_raw:
        raise DataError(path, "empty dialogue", index, "dialog")
    turns = []
    for j, turn in enumerate(turns_raw):
        if not isinstance(turn, dict):
            raise DataError(path, "turn is not an object", index, f"dialog[{j}]")
        role = _role(turn.get("speaker"), path, index, f"dialog[{j}].speaker")
        text = turn.get("content", turn.get("text"))
        if not isinstance(text, str):
            raise DataError(path, "missing or not a string", index, f"dialog[{j}].content")
        annotation = turn.get("annotation") or {}
        strategy = turn.get("strategy") or (annotation.get("strategy") if isinstance(annotation, dict) else None)
        feedback = (
            _intensity(annotation.get("feedback"), path, index, f"dialog[{j}].annotation.feedback")
            if isinstance(annotation, dict)
            else math.nan
        )
        turns.append(Turn(role, text, strategy, feedback))
    if not any(t.role == "seeker" and t.text.strip() for t in turns):
        raise DataError(path, "no seeker turn with text", index, "dialog")
    emotion = rec.get("emotion_type")
    if not isinstance(emotion, str) or not emotion.strip():
        raise DataError(path, "missing emotion", index, "emotion_type")
    seeker = ((rec.get("survey_score") or {}).get("seeker")) or {}
    if not isinstance(seeker, dict):
        raise DataError(path, "not an object", index, "survey_score.seeker")
    return Dialogue(
        dialogue_id=str(rec.get("dialogue_id", rec.get("id", f"{source}-{index}"))),
        turns=tuple(turns),
        emotion=emotion.strip().lower(),
        problem=str(rec.get("problem_type") or ""),
        situation=str(rec.get("situation") or ""),
        initial=_intensity(seeker.get("initial_emotion_intensity"), path, index, "survey_score.seeker.initial_emotion_intensity"),
        final=_intensity(seeker.get("final_emotion_intensity"), path, index, "survey_score.seeker.final_emotion_intensity"),
        source=source,
        empathy=_intensity(seeker.get("empathy"), path, index, "survey_score.seeker.empathy"),
    )


def load_esconv(path: Path | str, source: str | None = None) -> list[Dialogue]:
    """Every dialogue of an ESConv-format JSON list (ESConv.json, FailedESConv.json, JSON Lines too)."""
    path = Path(path)
    name = path.name.lower()
    source = source or ("failed-esconv" if "failed" in name else "demo" if name.startswith("demo") else "esconv")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(path, f"cannot read file ({exc.__class__.__name__})") from None
    try:
        records = json.loads(text)
    except json.JSONDecodeError as exc:
        records = _json_lines(text, path, exc)
    except RecursionError:
        raise DataError(path, "nested too deeply to be a dialogue file") from None
    if not isinstance(records, list):
        raise DataError(path, f"expected a JSON list of dialogues, got {type(records).__name__}")
    if not records:
        raise DataError(path, "no dialogues in file")
    return [parse_esconv_record(rec, i, path, source) for i, rec in enumerate(records)]


def read_texts(path: Path | str) -> list[str]:
    """The seeker texts of an ESConv-format JSON file, or one text per non-empty line of any other text file."""
    path = Path(path)
    if path.suffix.lower() in (".json", ".jsonl"):
        texts = [d.seeker_text for d in load_esconv(path)]
    else:
        try:
            texts = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
        except FileNotFoundError:
            raise DataError(path, "file not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(path, f"cannot read file ({exc.__class__.__name__})") from None
    if not texts:
        raise DataError(path, "no text in file")
    return texts


def _json_lines(text: str, path: Path, first_error: json.JSONDecodeError) -> list[Any]:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if len(lines) < 2:
        raise DataError(path, f"not valid JSON (line {first_error.lineno}: {first_error.msg})")
    out = []
    for i, line in enumerate(lines):
        out.append(parse_json(line, path, f"line {i + 1}"))
    return out


def parse_json(text: str, path: Path | str, where: str = "") -> Any:
    """JSON from a user's file, or one DataError: invalid, or nested deeper than Python's parser goes."""
    prefix = f"{where}: " if where else ""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(path, f"{prefix}not valid JSON ({exc.msg})") from None
    except RecursionError:
        raise DataError(path, f"{prefix}nested too deeply") from None


def load_esconv_hf(source: str = "thu-coai/esconv") -> list[Dialogue]:
    """ESConv through `datasets`: a Hub id (needs network) or a local folder of the Hub's split files."""
    from datasets import load_dataset

    local = Path(source)
    if local.is_dir():
        files = {s: str(local / f"{s}.txt") for s in ("train", "valid", "test") if (local / f"{s}.txt").exists()}
        dsd = load_dataset("json", data_files=files)
    else:
        dsd = load_dataset(source)
    dialogues: list[Dialogue] = []
    for split in dsd:
        for row in dsd[split]:
            rec = json.loads(row["text"]) if isinstance(row.get("text"), str) and "dialog" not in row else row
            dialogues.append(parse_esconv_record(rec, len(dialogues), Path(source), "esconv-hub"))
    return dialogues


def labelled(dialogues: Iterable[Dialogue]) -> list[Dialogue]:
    """The paper's filter: keep the 7 emotions of the taxonomy, in file order."""
    return [d for d in dialogues if d.emotion in ESCONV_EMOTIONS]


def situated(situation: str, text: str) -> str:
    """The seeker's words after their own pre-chat situation: what a model that reads the situation is given.

    Wang & Roman (CCN 2025) read the seeker's words alone; the situation is an option of ours (`train --situation`)."""
    return f"{situation.strip()} {text}" if situation.strip() else text


def with_situations(examples: Iterable[Example], situations: dict[str, str]) -> list[Example]:
    """The examples with each one's dialogue situation before its text (`situations`: dialogue id -> situation; an
    augmented copy, `id#augK`, reads its source dialogue's)."""
    return [dataclasses.replace(ex, text=situated(situations.get(ex.item_id.split("#")[0], ""), ex.text)) for ex in examples]


def to_examples(dialogues: Iterable[Dialogue], text_fn=None) -> list[Example]:
    text_fn = text_fn or (lambda d: d.seeker_text)
    return [Example(d.dialogue_id, text_fn(d), ESCONV_EMOTIONS.index(d.emotion), d.initial, d.final, d.change) for d in dialogues]


# ---------------------------------------------------------------------------
# SAD and EPITOME


def load_sad(path: Path | str) -> list[Example]:
    path = Path(path)
    rows = read_csv(path, required=("sID", "sentence", "original_label"))
    out = []
    for i, row in enumerate(rows):
        label = row["original_label"].strip()
        if label not in SAD_LABELS:
            raise DataError(path, f"unknown label {label!r}", i, "original_label")
        out.append(Example(f"sad-{row['sID']}", row["sentence"], SAD_LABELS.index(label)))
    return out


def read_csv(path: Path, required: Sequence[str]) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise DataError(path, f"missing columns {missing}")
            return list(reader)
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(path, f"not a readable CSV ({exc.__class__.__name__})") from None


# ---------------------------------------------------------------------------
# the paper's split and balancing


MIN_FOR_SPLIT = 10


def paper_split(items: Sequence[Any], labels: Sequence[int], seed: int = 42, source: str = "dataset") -> dict[str, list[Any]]:
    """70% train, then the rest split 1/3 val and 2/3 test, stratified, in file order.

    ESConv gives 898/128/258 and SAD 4,795/684/1,371. Tiny sets (the demo)
    cannot be stratified, so they fall back to a plain seeded split; fewer than
    MIN_FOR_SPLIT records cannot be split at all, and say so.
    """
    if len(items) < MIN_FOR_SPLIT:
        raise DataError(
            source, f"{len(items)} labelled records; the paper's split (70% train, 10% val, 20% test) needs at least {MIN_FOR_SPLIT}"
        )
    idx = list(range(len(items)))
    try:
        train, rest = train_test_split(idx, test_size=0.3, stratify=labels, random_state=seed)
        val, test = train_test_split(rest, test_size=0.6667, stratify=[labels[i] for i in rest], random_state=seed)
    except ValueError:
        train, rest = train_test_split(idx, test_size=0.3, random_state=seed)
        val, test = train_test_split(rest, test_size=0.6667, random_state=seed)
    return {name: [items[i] for i in part] for name, part in (("train", train), ("val", val), ("test", test))}


def split_dialogues(dialogues: Sequence[Dialogue], seed: int = 42, source: str = "dataset") -> dict[str, list[Dialogue]]:
    kept = labelled(dialogues)
    return paper_split(kept, [ESCONV_EMOTIONS.index(d.emotion) for d in kept], seed, source)


def text_hash(text: str) -> str:
    """The cache key of a text (predictions are cached per model and text hash)."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def examples_hash(examples: Iterable[Example]) -> str:
    """A stable hash of a training set, recorded in each model's manifest."""
    h = hashlib.sha256()
    for ex in examples:
        h.update(json.dumps([ex.item_id, ex.text, ex.label, ex.initial, ex.final, ex.change]).encode())
    return h.hexdigest()[:16]
