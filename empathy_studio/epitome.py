"""EPITOME: its records (the three Reddit CSVs merged), and the empathy rater's pairs, their targets and their split.

Each pair carries the three mechanism levels of EPITOME (emotional reactions,
interpretations, explorations; 0 none, 1 weak, 2 strong). From them, as in the
empathy-rater report: the 4-level scale (their sum, values above 3 folded into
3) and a 0-1 score (sum / 6) for regression. The split is stratified on the
4-level scale, 80/10/10 with seed 42, by two `train_test_split` calls as for
ESConv: 3,023 pairs give 2,418 / 302 / 303.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from sklearn.model_selection import train_test_split

from .data import SPLITS, Example, read_csv
from .errors import DataError
from .labels import EMPATHY_SCALE, EPITOME_MECHANISMS
from .rationales import Span, locate

LEVEL4 = EMPATHY_SCALE
MAX_SUM = 2 * len(EPITOME_MECHANISMS)


# Sharma et al. (EMNLP 2020), the published anchor: a RoBERTa bi-encoder with attention, multi-task with rationale
# extraction, on their 75:5:20 split, which was never released. Accuracy and macro-F1 (%) per mechanism.
SHARMA_2020 = {"emotional_reactions": (79.43, 74.46), "interpretations": (84.04, 62.60), "explorations": (92.61, 72.58)}
# Our split as EPITOME's ids (sp_id, rp_id, split), written by bench/epitome_split.py: derived, no text of the data.
SPLIT_IDS_PATH = Path(__file__).resolve().parent.parent / "assets" / "epitome-split.csv"
SHARMA_2020_NOTE = "Sharma et al. 2020 (their 75:5:20 split, never released: not the same test items)"


@dataclass(frozen=True)
class EpitomeRecord:
    sp_id: str
    rp_id: str
    seeker_post: str
    response_post: str
    levels: dict[str, int] = field(default_factory=dict)  # mechanism -> 0/1/2
    rationales: dict[str, list[Span]] = field(default_factory=dict)  # mechanism -> character spans of the response


def load_epitome(folder: Path | str) -> list[EpitomeRecord]:
    """The three EPITOME Reddit CSVs merged into one record per (seeker post, response) pair."""
    folder = Path(folder)
    merged: dict[tuple[str, str], EpitomeRecord] = {}
    for mechanism in EPITOME_MECHANISMS:
        path = folder / f"{mechanism.replace('_', '-')}-reddit.csv"
        rows = read_csv(path, required=("sp_id", "rp_id", "seeker_post", "response_post", "level"))
        for i, row in enumerate(rows):
            try:
                level = int(row["level"])
            except ValueError:
                raise DataError(path, f"level {row['level']!r} is not 0, 1 or 2", i, "level") from None
            if level not in (0, 1, 2):
                raise DataError(path, f"level {level} is not 0, 1 or 2", i, "level")
            key = (row["sp_id"], row["rp_id"])
            rec = merged.setdefault(key, EpitomeRecord(key[0], key[1], row["seeker_post"], row["response_post"], {}))
            if mechanism not in rec.levels:  # the CSVs repeat some pairs; the first row wins
                rec.levels[mechanism] = level
                rec.rationales[mechanism] = locate(row["response_post"], row.get("rationales") or "")
    return list(merged.values())


def epitome_examples(records: Sequence[EpitomeRecord], mechanism: str = "emotional_reactions") -> list[Example]:
    """EPITOME as a 3-level classification of one mechanism; the input pairs the post and the response."""
    return [
        Example(f"epitome-{r.sp_id}-{r.rp_id}", f"{r.seeker_post} [SEP] {r.response_post}", r.levels[mechanism])
        for r in records
        if mechanism in r.levels
    ]


@dataclass(frozen=True)
class Pair:
    """One (post, response) pair with its three mechanism levels (0-2), in `EPITOME_MECHANISMS` order, and where known
    (EPITOME's pairs, not the studio's rated ones) each mechanism's rationale: character spans of the response."""

    pair_id: str
    post: str
    response: str
    levels: tuple[int, ...]
    rationales: tuple[tuple[Span, ...], ...] | None = None

    @property
    def level4(self) -> int:
        return min(sum(self.levels), 3)

    @property
    def score(self) -> float:
        return sum(self.levels) / MAX_SUM


def epitome_pairs(folder: Path | str) -> list[Pair]:
    """The pairs of the three EPITOME CSVs that carry all three levels (the first row of a repeated pair wins)."""
    return [
        Pair(
            f"{r.sp_id}/{r.rp_id}",
            r.seeker_post,
            r.response_post,
            tuple(r.levels[m] for m in EPITOME_MECHANISMS),
            tuple(tuple(r.rationales.get(m, ())) for m in EPITOME_MECHANISMS),
        )
        for r in load_epitome(folder)
        if all(m in r.levels for m in EPITOME_MECHANISMS)
    ]


def split_pairs(pairs: Sequence[Pair], seed: int = 42, source: str = "epitome") -> dict[str, list[Pair]]:
    """80% train, then the rest halved into val and test, each stratified on the 4-level scale."""
    if len(pairs) < 20:
        raise DataError(source, f"{len(pairs)} pairs; the 80/10/10 split needs at least 20")
    idx = list(range(len(pairs)))
    strata = [p.level4 for p in pairs]
    try:
        train, rest = train_test_split(idx, test_size=0.2, stratify=strata, random_state=seed)
        val, test = train_test_split(rest, test_size=0.5, stratify=[strata[i] for i in rest], random_state=seed)
    except ValueError:  # a level too rare to stratify (small uploads): a plain seeded split
        train, rest = train_test_split(idx, test_size=0.2, random_state=seed)
        val, test = train_test_split(rest, test_size=0.5, random_state=seed)
    return {name: [pairs[i] for i in part] for name, part in zip(SPLITS, (train, val, test))}


PAIR_COLUMNS = ("post", "response")
MAX_PAIRS_FILE_BYTES = 64 * 2**20


def read_pairs(path: Path | str) -> list[dict]:
    """(post, response) pairs from a CSV, JSONL or JSON-list file: `post` and `response` columns, an optional `id`,
    and optionally all three mechanism levels (0-2) as gold. Anything else is one `DataError` naming the row."""
    import csv
    import json

    path = Path(path)
    name = path.name
    if not path.is_file():
        raise DataError(name, "file not found")
    if path.stat().st_size > MAX_PAIRS_FILE_BYTES:
        raise DataError(name, f"the file is over {MAX_PAIRS_FILE_BYTES // 2**20} MB")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DataError(name, "not UTF-8 text") from None
    try:
        if path.suffix.lower() == ".csv":
            rows = list(csv.DictReader(text.splitlines()))
            columns = set(csv.DictReader(text.splitlines()).fieldnames or [])
        else:
            rows = json.loads(text) if path.suffix.lower() == ".json" else [json.loads(line) for line in text.splitlines() if line.strip()]
            if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                raise DataError(name, "expected one JSON object per pair")
            columns = set().union(*rows) if rows else set()
    except (csv.Error, json.JSONDecodeError, RecursionError) as exc:
        raise DataError(name, f"not a readable {path.suffix.lstrip('.').upper() or 'pairs'} file ({str(exc)[:120]})") from None
    missing = [c for c in PAIR_COLUMNS if c not in columns]
    if missing:
        raise DataError(
            name,
            f"missing column {', '.join(missing)}: a pairs file needs 'post' and 'response' "
            f"(and optionally 'id', {', '.join(EPITOME_MECHANISMS)}); it has {', '.join(sorted(map(str, columns))) or 'none'}",
        )
    gold = [m for m in EPITOME_MECHANISMS if m in columns]
    if gold and len(gold) < len(EPITOME_MECHANISMS):
        raise DataError(
            name, f"gold levels need all three mechanisms; {', '.join(m for m in EPITOME_MECHANISMS if m not in gold)} is missing"
        )
    out, seen = [], set()
    for n, row in enumerate(rows, 1):
        post, response = (str(row.get(c) or "").strip() for c in PAIR_COLUMNS)
        if not post or not response:
            raise DataError(name, f"row {n}: the {'post' if not post else 'response'} is empty")
        given = row.get("id")
        pid = str(n if given is None or str(given).strip() == "" else given).strip()
        if pid in seen:
            raise DataError(name, f"row {n}: id {pid!r} appears twice")
        seen.add(pid)
        levels = None
        if gold:
            levels = []
            for m in EPITOME_MECHANISMS:
                v = row.get(m)
                v = str(int(v) if isinstance(v, float) and v.is_integer() else v).strip()  # JSON 2.0 is level 2
                if v not in ("0", "1", "2"):
                    raise DataError(name, f"row {n}: {m.replace('_', ' ')} must be 0, 1 or 2, got {row.get(m)!r}")
                levels.append(int(v))
        out.append({"id": pid, "post": post, "response": response, "levels": levels})
    if not out:
        raise DataError(name, "no pairs")
    return out
