"""The fine-tune use case, once for every model family: training set, config, train, test, compare, publish.

`Finetuner` asks the request's family (`families.py`) for its training set and
hooks, trains through the one `trainer.train`, tests the model (calibrated where
the family is), compares it on the same test items with the model it names,
writes the manifest and publishes the folder in one atomic rename. `estimate`
times a short probe of the same batches (cached per shape on this machine) and
adds every phase after the steps. Its dependencies (settings, registry, data
sources, store) are handed to it; it never reaches for services.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import os
import secrets
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import torch

from ..errors import ConfigError, DataError, ModelUnavailable, UserError
from ..model_card import CARD_FILE, model_card
from ..names import check_name, inside
from ..progress import EMBEDDING, LOADING, PUBLISHING, TESTING, TRAINING, PhaseClock, ProgressEvent, ProgressFn, fan_out
from ..registry import ModelSpec, Registry
from ..settings import Settings
from ..sources import DataSources
from ..store import Store
from ..study.agreement import aggregate_ratings
from ..study.releases import latest as latest_release
from ..study.releases import training_labels
from ..tasks import dataset_for
from .config import TrainConfig
from .families import family_of
from .family import Family, TrainData, TrainingSet
from .request import TRACKER_PACKAGES, TrainRequest, portable, portable_source, training_config, utc_now
from .trainer import measure, train

PROBE_VERSION = 5  # a probe measures what it used to differently (the closed-form ridge): older cached probes are not read
PROBE_CACHE = ".probe-cache.json"  # timed probes of this machine, per shape of training (a dotfile: the registry skips it)
RELEASE_KIND = {"seeker": "intensity", "rater": "empathy"}  # the kind of release each family trains on


def _device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


class Finetuner:
    """Fine-tuning over the dependencies it is given."""

    def __init__(self, settings: Settings, registry: Registry, sources: DataSources, store: Store):
        self.settings, self.registry, self.sources, self.store = settings, registry, sources, store

    # -- the labels a request trains on ---------------------------------------------------

    def release_for(self, req: TrainRequest) -> str | None:
        """The release a request trains on: the one it names (which must exist), else the latest of its task's kind, else
        None (every rating in the database, aggregated, as before releases existed)."""
        if req.policy == "gold" or req.with_ratings:
            return None
        if req.release:
            return self.store.release_row(req.release)["id"]
        return latest_release(self.store.releases(), RELEASE_KIND[req.task_spec.family])

    def lineage(self, req: TrainRequest) -> dict[str, Any] | None:
        """What a manifest records of the release a model was trained on: its id and content hash."""
        if not req.release:
            return None
        row = self.store.release_row(req.release)
        return {"id": row["id"], "content_hash": row["content_hash"], "campaigns": row["campaigns"], "method": row["method"]}

    def ratings(self, req: TrainRequest) -> dict[str, dict[str, Any]]:
        """The annotators' intensity labels per item: a release's, another database's, or this one's, aggregated."""
        if req.release:
            self.store.release_row(req.release)  # an unknown id is said, not trained on as "no labels"
            return training_labels(self.store.release_items(req.release))
        if not req.with_ratings:
            return aggregate_ratings(self.store.rating_table(), req.aggregate, req.min_annotators)
        if not Path(req.with_ratings).is_file():
            raise DataError(req.with_ratings, "database not found")
        other = Store(req.with_ratings)
        try:
            return aggregate_ratings(other.rating_table(), req.aggregate, req.min_annotators)
        finally:
            other.close()

    def training_set(self, req: TrainRequest) -> TrainingSet:
        return family_of(req.task_spec).training_set(self, req)

    # -- model and config -----------------------------------------------------------------

    def parent(self, req: TrainRequest) -> tuple[ModelSpec, str, bool]:
        """(registry row, encoder folder or hub id, local only) of the model a request starts from."""
        spec = self.registry.get(req.model)
        if spec.kind == "finetuned":
            return spec, str(spec.path), True
        if spec.kind == "quick":
            raise ModelUnavailable(f"{spec.name} is built by the studio itself; fine-tune minilm or a fine-tuned model")
        encoder, local = self.registry.encoder_source(spec)
        return spec, encoder, local

    def _check_tracker(self, req: TrainRequest) -> None:
        needs = TRACKER_PACKAGES.get(req.report_to, ())
        if needs and not any(importlib.util.find_spec(p) for p in needs):
            extra = " (pip install 'empathy-studio[tracking]')" if req.report_to == "trackio" else ""
            raise ConfigError(f"--report-to {req.report_to} needs the {needs[0]} package{extra}")

    # -- the estimate ---------------------------------------------------------------------

    def estimate(self, req: TrainRequest, cached_only: bool = False) -> dict[str, Any] | None:
        """Estimated duration, from a probe timed on this machine (cached per shape), of every phase the training runs.

        Training steps, then the passes after them (the family's: evaluation after each epoch, and for the seeker the
        heads' embedding of train and val, calibration on val and its short prefixes, then the test split), plus the
        CPU work no forward pass shows. With `cached_only` (a running job planning its ETA) nothing is timed: None
        unless a probe is kept.
        """
        fam = family_of(req.task_spec)
        spec, encoder, local = self.parent(req)
        fam.check_parent(spec)
        tset = fam.training_set(self, req)
        config = training_config(req, self.settings, encoder, local)
        data = TrainData(tset.splits["train"], tset.splits["val"], tset.labels, fam.head_options(req))
        probe = self._probe(config, fam, data, cached_only)
        if probe is None:
            return None
        n_train, n_val, n_test = (len(tset.splits[s]) for s in ("train", "val", "test"))
        if config.freeze_encoder:  # the embedding pass over train and val is the cost; the head steps are negligible
            steps = math.ceil((n_train + n_val) / probe["batch"])
        else:
            steps = math.ceil(n_train / config.batch_size) * config.epochs
            steps = min(steps, config.max_steps) if config.max_steps > 0 else steps
        evaluations = math.ceil(config.epochs) if config.max_steps <= 0 else 1
        # the phases as `PhaseClock` names them in the manifest and the job's row, so the two compare phase by phase
        # with a frozen encoder the timed steps are the one embedding pass, before the heads' (negligible) epochs
        phases = {LOADING: probe["load_s"], TRAINING: 0.0 if config.freeze_encoder else probe["step_s"] * steps}
        for phase, passes in fam.passes_after_training(config, n_train, n_val, n_test, evaluations).items():
            phases[phase] = probe["forward_s"] * passes + probe.get(f"{phase}_s", 0.0)
        if config.freeze_encoder:
            phases[EMBEDDING] = phases.get(EMBEDDING, 0.0) + probe["step_s"] * steps
        before = (LOADING, TRAINING, EMBEDDING) if config.freeze_encoder else (LOADING, TRAINING)
        after = sum(v for k, v in phases.items() if k not in before)  # the work a job's ETA adds to the steps
        return {
            "n_train": n_train,
            "steps": int(math.ceil(steps)),
            "seconds_per_step": round(probe["step_s"], 3),
            "after_training_s": round(after, 1),
            "estimated_seconds": round(sum(phases.values())),
            "phases": {k: round(v, 1) for k, v in phases.items()},
            "batch_size": config.batch_size,
            "max_length": config.max_length,
            "epochs": config.epochs,
            "device": _device(),
            "probe_cached": probe.get("cached", False),
        }

    def _probe(self, config: TrainConfig, fam: Family, data: TrainData, cached_only: bool = False) -> dict[str, Any] | None:
        """The timed probe for this shape of training on this machine, measured once and kept in the models folder."""
        heads = dataclasses.asdict(data.heads) if dataclasses.is_dataclass(data.heads) else None
        key = json.dumps(
            [
                PROBE_VERSION,
                fam.name,
                heads,
                Path(config.encoder).name,
                config.max_length,
                config.batch_size,
                config.freeze_encoder,
                config.freeze_layers,
                config.ridge_intensity,
                config.lexical_intensity,
                config.end_view,
                config.situation,
                len(data.train),
                _device(),
                torch.get_num_threads(),
                os.cpu_count(),
            ]
        )
        path = self.settings.models_dir / PROBE_CACHE
        try:
            cache = json.loads(path.read_text()) if path.exists() else {}
        except (OSError, ValueError):
            cache = {}
        if key in cache:
            return {**cache[key], "cached": True}
        if cached_only:
            return None
        probe = measure(config, fam, data)
        cache[key] = probe
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache))
        os.replace(tmp, path)
        return probe

    # -- train, test, publish -------------------------------------------------------------

    def new_name(self, req: TrainRequest, spec: ModelSpec) -> str:
        if req.name:
            return req.name
        dataset = Path(dataset_for(req.task_spec, req.dataset)).stem
        safe = "".join(c if c.isalnum() or c in "._-" else "-" for c in dataset)[:20]
        return check_name(f"{spec.name}-{safe}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"[:64], "model name")

    def train_and_register(self, req: TrainRequest, progress: ProgressFn | None = None, description: str = "") -> dict[str, Any]:
        """Train, test against the compared model on the same items, and publish the model folder atomically. Returns the manifest."""
        clock = PhaseClock()  # every phase's seconds, for the manifest and the job's row
        emit = fan_out([progress, clock])
        req = dataclasses.replace(req, release=self.release_for(req))  # named in the manifest's request: a rebuild reads the same
        fam, task = family_of(req.task_spec), req.task_spec
        spec, encoder, local = self.parent(req)
        fam.check_parent(spec)
        name = self.new_name(req, spec)
        target = self.free_folder(name)
        self._check_tracker(req)
        tset = fam.training_set(self, req)
        workdir = self.settings.models_dir / f".trainer-{os.getpid()}-{secrets.token_hex(4)}"
        config = training_config(req, self.settings, encoder, local, output_dir=str(workdir), run_name=name)
        try:
            result = train(config, fam, TrainData(tset.splits["train"], tset.splits["val"], tset.labels, fam.head_options(req)), emit)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        predictor = fam.predictor(result.model, result.tokenizer, name, config.max_length)
        fam.finish(predictor, result.extras, tset, emit)
        metrics = fam.test_metrics(self, predictor, tset, req, emit)
        compared = self.registry.get(req.compare_with) if req.compare_with else (spec if spec.kind == "finetuned" else None)
        parent_metrics = self.compared_on_same_items(compared, fam, tset, req, emit)
        delta = {
            k: metrics[k] - parent_metrics[k]
            for k in metrics
            if isinstance(metrics.get(k), float) and isinstance(parent_metrics.get(k), float)
        }
        dataset = dataset_for(task, req.dataset)
        manifest = {
            "name": name,
            "description": description,
            "parent": spec.name,
            "parent_source": spec.source if spec.kind != "finetuned" else spec.name,
            "task": task.name,
            "objective": task.objective,
            "family": fam.name,
            "policy": req.policy,
            "n_train": len(tset.splits["train"]),
            "n_val": len(tset.splits["val"]),
            "n_test": len(tset.splits["test"]),
            "hyperparameters": portable(config.to_dict(), spec),
            **fam.manifest(result.model, tset, req, self),
            "request": {
                **req.to_dict(),
                "with_ratings": Path(req.with_ratings).name if req.with_ratings else None,
                "dataset": portable_source(dataset),
            },
            "release": self.lineage(req),
            "metrics": metrics,
            "compared_with": compared.name if compared is not None and parent_metrics else None,
            "compared_on": {"dataset": portable_source(dataset), "split": "test", "n": len(tset.splits["test"])},
            "parent_metrics": parent_metrics,
            "delta": delta,
            "history": result.history,
            **result.extras,
            "train_seconds": round(result.seconds, 1),
            "phases_s": clock.seconds(),  # loading to testing; publishing follows the manifest
            "train_samples_per_second": result.train_samples_per_second,
            "device": result.device,
            "precision": result.precision,
            "created_at": utc_now(),
        }
        self.publish(target, manifest, lambda tmp: fam.save(result.model, result.tokenizer, predictor, tmp, manifest), emit)
        return manifest

    def free_folder(self, name: str) -> Path:
        """The folder a new model of this name will have: inside the models folder, and not taken."""
        target = inside(self.settings.models_dir, name, "model name")
        if target.exists():
            raise ConfigError(f"a model named {name!r} already exists in {self.settings.models_dir.name}/")
        return target

    def publish(self, target: Path, manifest: dict[str, Any], write: Callable[[Path], None], emit: ProgressFn) -> None:
        """`write` fills a hidden folder, the model card joins it, and one atomic rename publishes it: a failed or killed
        run never leaves a half-written model."""
        emit(ProgressEvent(PUBLISHING, 0, 1, target.name))
        tmp = self.settings.models_dir / f".tmp-{os.getpid()}-{secrets.token_hex(4)}-{target.name}"
        write(tmp)
        (tmp / CARD_FILE).write_text(model_card(manifest))
        os.replace(tmp, target)
        emit(ProgressEvent(PUBLISHING, 1, 1, target.name))

    def compared_on_same_items(
        self, compared: ModelSpec | None, fam: Family, tset: TrainingSet, req: TrainRequest, emit: ProgressFn
    ) -> dict[str, Any]:
        """The compared model's metrics on the new model's own test items, never the numbers of its manifest (which may
        come from another test set): a model of another family, one that predicts other labels, or one with no weights
        here, is not compared."""
        if compared is None or compared.kind != "finetuned" or compared.path is None or compared.family != fam.name:
            return {}
        emit(ProgressEvent(TESTING, 0, len(tset.splits["test"]), f"{compared.name} on the same test items"))
        try:
            other = fam.load_predictor(
                compared.path, compared.name, int(compared.manifest.get("hyperparameters", {}).get("max_length", 256))
            )
        except (UserError, OSError, ValueError):
            return {}
        if not fam.same_labels(other, tset):
            return {}
        return fam.test_metrics(self, other, tset, req, emit)
