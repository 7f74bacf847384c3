"""Where each dataset comes from: the configured ESConv (or the demo set, or the Hub), ESConv-format files, SAD, EPITOME.

`EsconvSource` is one loaded ESConv-format source with its paper split, kept for
the life of the process; `DataSources` resolves each dataset on first use.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Sequence

from .data import (
    DEMO_PATH,
    SPLITS,
    Dialogue,
    Example,
    labelled,
    load_esconv,
    load_esconv_hf,
    load_sad,
    paper_split,
    split_dialogues,
    text_hash,
    to_examples,
)
from .epitome import epitome_examples, load_epitome
from .errors import DataError, NotFound
from .labels import EPITOME_LEVELS, ESCONV_EMOTIONS, SAD_LABELS

FAILED = "failed"  # the dataset name of the configured FailedESConv file


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
                    raise DataError(
                        part.origin, f"dialogue id {d.dialogue_id!r} is also in {Path(seen[d.dialogue_id]).name}; ids must be distinct"
                    )
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
        return f"{total} dialogue{'s' * (total != 1)} of {self.name} left out: " + "; ".join(
            f"{n} × {why}" for why, n in self.dropped.items()
        )

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
            return f"demo set ({len(kept)} short dialogues written for Empathy Studio); " + (
                self.note if self.note else "configure ESConv for real data"
            )
        return f"ESConv from {Path(self.origin).name} ({len(kept)} labelled dialogues)"


def resolve_esconv(
    candidates: Sequence[Path], explicit: Path | str | None = None, hub: bool = False, hub_id: str = "thu-coai/esconv"
) -> EsconvSource:
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


class DataSources:
    """Where each dataset comes from, resolved on first use and kept: ESConv, ESConv-format files, SAD, EPITOME."""

    def __init__(
        self,
        esconv: Sequence[Path] = (),
        esconv_file: Path | str | None = None,
        hub_esconv: bool = False,
        sad: Path | None = None,
        epitome: Path | None = None,
        failed: Path | None = None,
    ):
        self._candidates, self._explicit, self._hub = tuple(esconv), esconv_file, hub_esconv
        self.sad, self.epitome, self.failed = sad, epitome, failed
        self._files: dict[str, EsconvSource] = {}

    @classmethod
    def from_settings(cls, settings) -> "DataSources":
        return cls(
            settings.esconv,
            settings.esconv_file,
            settings.hub_esconv,
            settings.first_existing("sad"),
            settings.first_existing("epitome"),
            settings.first_existing("failed_esconv"),
        )

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

    def situations(self, dataset: str) -> dict[str, str]:
        """Dialogue id -> the seeker's pre-chat situation, for an ESConv-format dataset (SAD and EPITOME have none)."""
        if dataset in ("sad", "epitome"):
            return {}
        return {d.dialogue_id: d.situation for d in self.esconv_like(dataset).dialogues}

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
