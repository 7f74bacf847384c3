"""Loading ESConv, FailedESConv, SAD, EPITOME and the demo set into typed records.

Also the paper's split (two stratified `train_test_split` calls, seed 42) and
its `--balanced` augmentation. Every problem with an input file becomes one
`DataError` that names the file, the record index and the field, so callers
can show a single line instead of a traceback.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import random
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable, Sequence

from sklearn.model_selection import train_test_split

from .errors import DataError, NotFound
from .labels import EPITOME_LEVELS, ESCONV_EMOTIONS, EPITOME_MECHANISMS, SAD_LABELS

__all__ = ["DataError", "DataSources", "Dialogue", "EsconvSource", "Example"]

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


@dataclass(frozen=True)
class EpitomeRecord:
    sp_id: str
    rp_id: str
    seeker_post: str
    response_post: str
    levels: dict[str, int] = field(default_factory=dict)  # mechanism -> 0/1/2


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
        feedback = _intensity(annotation.get("feedback"), path, index, f"dialog[{j}].annotation.feedback") if isinstance(annotation, dict) else math.nan
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


def to_examples(dialogues: Iterable[Dialogue], text_fn=None) -> list[Example]:
    text_fn = text_fn or (lambda d: d.seeker_text)
    return [
        Example(d.dialogue_id, text_fn(d), ESCONV_EMOTIONS.index(d.emotion), d.initial, d.final, d.change)
        for d in dialogues
    ]


# ---------------------------------------------------------------------------
# SAD and EPITOME


def load_sad(path: Path | str) -> list[Example]:
    path = Path(path)
    rows = _read_csv(path, required=("sID", "sentence", "original_label"))
    out = []
    for i, row in enumerate(rows):
        label = row["original_label"].strip()
        if label not in SAD_LABELS:
            raise DataError(path, f"unknown label {label!r}", i, "original_label")
        out.append(Example(f"sad-{row['sID']}", row["sentence"], SAD_LABELS.index(label)))
    return out


def load_epitome(folder: Path | str) -> list[EpitomeRecord]:
    """The three EPITOME Reddit CSVs merged into one record per (seeker post, response) pair."""
    folder = Path(folder)
    merged: dict[tuple[str, str], EpitomeRecord] = {}
    for mechanism in EPITOME_MECHANISMS:
        path = folder / f"{mechanism.replace('_', '-')}-reddit.csv"
        rows = _read_csv(path, required=("sp_id", "rp_id", "seeker_post", "response_post", "level"))
        for i, row in enumerate(rows):
            try:
                level = int(row["level"])
            except ValueError:
                raise DataError(path, f"level {row['level']!r} is not 0, 1 or 2", i, "level") from None
            if level not in (0, 1, 2):
                raise DataError(path, f"level {level} is not 0, 1 or 2", i, "level")
            key = (row["sp_id"], row["rp_id"])
            rec = merged.setdefault(key, EpitomeRecord(key[0], key[1], row["seeker_post"], row["response_post"], {}))
            rec.levels.setdefault(mechanism, level)  # the CSVs repeat some pairs; the first row wins
    return list(merged.values())


def _read_csv(path: Path, required: Sequence[str]) -> list[dict[str, str]]:
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
        raise DataError(source, f"{len(items)} labelled records; the paper's split (70% train, 10% val, 20% test) needs at least {MIN_FOR_SPLIT}")
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


def _balance(items: Sequence[Any], key, keep, augment, target: int, seed: int) -> list[Example]:
    """Down-sample classes above `target`, fill classes below it with `augment(rng, pool, k)` copies."""
    rng = random.Random(seed)
    by_class: dict[Any, list[Any]] = {}
    for item in items:
        by_class.setdefault(key(item), []).append(item)
    out: list[Example] = []
    for label in sorted(by_class):
        pool = by_class[label]
        chosen = rng.sample(pool, target) if len(pool) > target else list(pool)
        out.extend(keep(chosen))
        out.extend(augment(rng, pool, k) for k in range(target - len(chosen)))
    rng.shuffle(out)
    return out


def balance_dialogues(train: Sequence[Dialogue], target: int = 1500, seed: int = 42) -> list[Example]:
    """The paper's `--balanced`: up-sample each class to `target` with shortened copies, down-sample above it.

    A synthetic copy keeps the first and last seeker utterances plus a random
    subset of the middle ones, and the source dialogue's intensity labels.
    """

    def shortened(rng: random.Random, pool: list[Dialogue], k: int) -> Example:
        d = rng.choice(pool)
        turns = d.seeker_turns
        middle = [t for t in turns[1:-1] if rng.random() < 0.5]
        text = " ".join(turns[:1] + middle + turns[-1:] if len(turns) > 1 else turns)
        return Example(f"{d.dialogue_id}#aug{k}", text, ESCONV_EMOTIONS.index(d.emotion), d.initial, d.final, d.change)

    return _balance(train, lambda d: d.emotion, to_examples, shortened, target, seed)


def balance_sentences(train: Sequence[Example], target: int = 1500, seed: int = 42) -> list[Example]:
    """SAD flavour of `--balanced`: trim up to 30% of the words from each end."""

    def trimmed(rng: random.Random, pool: list[Example], k: int) -> Example:
        ex = rng.choice(pool)
        words = ex.text.split()
        cut = int(len(words) * 0.3)
        start, end = rng.randint(0, cut), len(words) - rng.randint(0, cut)
        return Example(f"{ex.item_id}#aug{k}", " ".join(words[start:max(end, start + 1)]), ex.label)

    return _balance(train, lambda ex: ex.label, list, trimmed, target, seed)


def text_hash(text: str) -> str:
    """The cache key of a text (predictions are cached per model and text hash)."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def examples_hash(examples: Iterable[Example]) -> str:
    """A stable hash of a training set, recorded in each model's manifest."""
    h = hashlib.sha256()
    for ex in examples:
        h.update(json.dumps([ex.item_id, ex.text, ex.label, ex.initial, ex.final, ex.change]).encode())
    return h.hexdigest()[:16]


# ---------------------------------------------------------------------------
# where ESConv comes from


@dataclass(frozen=True)
class EsconvSource:
    dialogues: tuple[Dialogue, ...]
    origin: str  # a path, a hub id, "demo", or the "+"-joined origins of its parts
    is_demo: bool = False
    parts: tuple["EsconvSource", ...] = ()  # a union of sources (ESConv + FailedESConv): each part is split on its own
    note: str = ""  # why this source and not the one asked for (the Hub could not be reached)

    @classmethod
    def union(cls, parts: Sequence["EsconvSource"]) -> "EsconvSource":
        """Several ESConv-format sources as one: each split by the same seeded rule, the splits joined, ids kept distinct."""
        seen: dict[str, str] = {}
        for part in parts:
            for d in part.dialogues:
                if seen.setdefault(d.dialogue_id, part.origin) != part.origin:
                    raise DataError(part.origin, f"dialogue id {d.dialogue_id!r} is also in {Path(seen[d.dialogue_id]).name}; ids must be distinct")
        return cls(tuple(d for p in parts for d in p.dialogues), "+".join(p.origin for p in parts), parts=tuple(parts))

    @cached_property
    def splits(self) -> dict[str, list[Dialogue]]:
        """The paper's split, computed once per source (a frozen dataclass keeps the cache in its __dict__)."""
        if self.parts:
            return {s: [d for p in self.parts for d in p.splits[s]] for s in SPLITS}
        return split_dialogues(self.dialogues, source=self.origin)

    @cached_property
    def dropped(self) -> dict[str, int]:
        """Records the loader keeps but the splits leave out, counted by reason."""
        out: dict[str, int] = {}
        for d in self.dialogues:
            if d.emotion not in ESCONV_EMOTIONS:
                reason = f"emotion {d.emotion!r} is not one of the 7 of the taxonomy"
                out[reason] = out.get(reason, 0) + 1
        return out

    def dropped_note(self) -> str:
        """One line for a banner or stderr; empty when nothing was left out."""
        if not self.dropped:
            return ""
        total = sum(self.dropped.values())
        return f"{total} dialogue{'s' * (total != 1)} of {self.name} left out: " + "; ".join(f"{n} × {why}" for why, n in self.dropped.items())

    @property
    def name(self) -> str:
        return "+".join(Path(p).name for p in self.origin.split("+"))

    @cached_property
    def text_hashes(self) -> dict[str, str]:
        """Dialogue id -> hash of its seeker text, for every labelled dialogue: the prediction cache's key, computed once per source."""
        return {d.dialogue_id: text_hash(d.seeker_text) for d in labelled(self.dialogues)}

    @cached_property
    def split_of(self) -> dict[str, str]:
        return {d.dialogue_id: name for name, ds in self.splits.items() for d in ds}

    @cached_property
    def by_id(self) -> dict[str, Dialogue]:
        return {d.dialogue_id: d for d in labelled(self.dialogues)}

    def dialogue(self, dialogue_id: str) -> Dialogue:
        if dialogue_id not in self.by_id:
            raise NotFound(f"unknown dialogue {dialogue_id!r}")
        return self.by_id[dialogue_id]

    def describe(self) -> str:
        kept = labelled(self.dialogues)
        if self.is_demo:
            return (f"demo set ({len(kept)} short dialogues written for Empathy Studio); "
                    + (self.note if self.note else "configure ESConv for real data"))
        return f"ESConv from {Path(self.origin).name} ({len(kept)} labelled dialogues)"


def resolve_esconv(candidates: Sequence[Path], explicit: Path | str | None = None, hub: bool = False,
                   hub_id: str = "thu-coai/esconv") -> EsconvSource:
    """An explicit file (`--esconv`, EMPATHY_STUDIO_ESCONV), then space_config.yaml's candidates, then the Hub if enabled, then the demo."""
    if explicit:
        return EsconvSource(tuple(load_esconv(explicit)), str(explicit))
    for path in candidates:
        if Path(path).exists():
            return EsconvSource(tuple(load_esconv(path)), str(path))
    note = ""
    if hub:
        try:
            return EsconvSource(tuple(load_esconv_hf(hub_id)), hub_id)
        except Exception as exc:  # noqa: BLE001 - offline, or the Hub refused: the studio still serves, and says why
            note = f"ESConv could not be loaded from the Hub ({hub_id}: {exc.__class__.__name__}), so the demo set is shown"
    return EsconvSource(tuple(load_esconv(DEMO_PATH, source="demo")), "demo", is_demo=True, note=note)


# ---------------------------------------------------------------------------
# training data policies: gold, gold plus ratings, ratings only

POLICIES = ("gold", "gold+ratings", "ratings")
FAILED = "failed"  # the dataset name of the configured FailedESConv file
TRAINABLE_SPLIT = "train"


def training_examples(splits: dict[str, list[Dialogue]], policy: str = "gold", ratings: dict[str, dict[str, Any]] | None = None) -> list[Example]:
    """The training set for a data policy. Only items of the train split are ever used, whoever rated them.

    `ratings` maps item id to an aggregate {"initial", "final", "emotion"?}; a
    rating replaces the gold intensities of its item (change = final - initial).
    """
    if policy not in POLICIES:
        raise ValueError(f"unknown data policy {policy!r}; choose from {', '.join(POLICIES)}")
    ratings = ratings or {}
    train = splits[TRAINABLE_SPLIT]
    gold = to_examples(train)
    if policy == "gold":
        return gold
    out = []
    for ex in gold:
        agg = ratings.get(ex.item_id)
        if agg is None:
            if policy == "gold+ratings":
                out.append(ex)
            continue
        emotion = agg.get("emotion")
        label = ESCONV_EMOTIONS.index(emotion) if emotion in ESCONV_EMOTIONS else ex.label
        initial, final = float(agg["initial"]), float(agg["final"])
        out.append(Example(ex.item_id, ex.text, label, initial, final, final - initial))
    return out


# ---------------------------------------------------------------------------
# every dataset as Example splits


def epitome_examples(records: Sequence[EpitomeRecord], mechanism: str = "emotional_reactions") -> list[Example]:
    """EPITOME as a 3-level classification of one mechanism; the input pairs the post and the response."""
    return [Example(f"epitome-{r.sp_id}-{r.rp_id}", f"{r.seeker_post} [SEP] {r.response_post}", r.levels[mechanism])
            for r in records if mechanism in r.levels]


class DataSources:
    """Where each dataset comes from, resolved on first use and kept: ESConv, ESConv-format files, SAD, EPITOME."""

    def __init__(self, esconv: Sequence[Path] = (), esconv_file: Path | str | None = None, hub_esconv: bool = False,
                 sad: Path | None = None, epitome: Path | None = None, failed: Path | None = None):
        self._candidates, self._explicit, self._hub = tuple(esconv), esconv_file, hub_esconv
        self.sad, self.epitome, self.failed = sad, epitome, failed
        self._files: dict[str, EsconvSource] = {}

    @classmethod
    def from_settings(cls, settings) -> "DataSources":
        return cls(settings.esconv, settings.esconv_file, settings.hub_esconv, settings.first_existing("sad"), settings.first_existing("epitome"),
                   settings.first_existing("failed_esconv"))

    @cached_property
    def esconv(self) -> EsconvSource:
        return resolve_esconv(self._candidates, self._explicit, hub=self._hub)

    def esconv_datasets(self) -> list[str]:
        """The named ESConv-format datasets available here: esconv, and with FailedESConv configured, failed and esconv+failed."""
        return ["esconv", FAILED, f"esconv+{FAILED}"] if self.failed is not None and not self.esconv.is_demo else ["esconv"]

    def esconv_like(self, dataset: str) -> EsconvSource:
        """`esconv` (the configured source), `failed` (FailedESConv), an ESConv-format file, or several joined by "+"; each loaded once."""
        if dataset == "esconv":
            return self.esconv
        if dataset not in self._files:
            if "+" in dataset:
                self._files[dataset] = EsconvSource.union([self.esconv_like(part) for part in dataset.split("+")])
            elif dataset == FAILED:
                if self.failed is None:
                    raise DataError(FAILED, "FailedESConv is not configured (space_config.yaml: failed_esconv)")
                self._files[dataset] = EsconvSource(tuple(load_esconv(self.failed, source="failed-esconv")), str(self.failed))
            else:
                self._files[dataset] = EsconvSource(tuple(load_esconv(dataset)), dataset)
        return self._files[dataset]

    def examples(self, dataset: str) -> tuple[dict[str, list[Example]], tuple[str, ...]]:
        """(split name -> examples, label names) for `esconv`, `sad`, `epitome`, or an ESConv-format file."""
        if dataset == "sad":
            if self.sad is None:
                raise DataError("sad", "SAD is not configured (space_config.yaml: sad)")
            rows = load_sad(self.sad)
            return paper_split(rows, [r.label for r in rows], source=str(self.sad)), SAD_LABELS
        if dataset == "epitome":
            if self.epitome is None:
                raise DataError("epitome", "EPITOME is not configured (space_config.yaml: epitome)")
            rows = epitome_examples(load_epitome(self.epitome))
            return paper_split(rows, [r.label for r in rows], source=str(self.epitome)), EPITOME_LEVELS
        return {k: to_examples(v) for k, v in self.esconv_like(dataset).splits.items()}, ESCONV_EMOTIONS
