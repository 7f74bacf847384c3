"""The fine-tune use case, in one place: request, training set, config, train, test, publish.

`TrainRequest` is what a user asks for; its fields carry their own help, choices
and ranges, so the CLI's `train` options, the Train tab and the API all refuse
the same values with the same message. `training_config` is the one mapping
from a request (plus settings and preset) to a `TrainConfig`; the estimate and
the training both call it, so they time and run the same batches. `Finetuner`
builds the training set (data policies, rating aggregation, the leakage
guard), trains through `training.train`, scores the test split, writes the
manifest and publishes the model folder atomically. Its dependencies (settings,
registry, data sources, store) are handed to it; it never reaches for services.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import os
import secrets
import shutil
import typing
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from . import calibration
from . import data as D
from .agreement import aggregate_ratings
from .releases import latest as latest_release
from .releases import training_labels
from .errors import ConfigError, DataError, ModelUnavailable, UserError
from .labels import INTENSITY_TARGETS
from .metrics import evaluate_predictions, regression_metrics
from .names import check_name, inside
from .progress import CALIBRATING, PUBLISHING, TESTING, ProgressEvent, ProgressFn, fan_out
from .registry import ModelSpec, Registry
from .settings import Settings
from .store import Store
from .tasks import ALIASES, DEFAULT_TASK, TASKS, Task, dataset_for, get_task
from .rater_config import ARCHS, LOSSES, SCORE_LOSSES
from .train_config import INTENSITY_HEADS, POOLINGS, PRESETS, RANGES, RATER_PRESETS, REPORT_TO, SELECT_METRICS, TrainConfig, check_choice, preset

PROBE_VERSION = 3  # a probe measures more than it used to: older cached probes are not read
PROBE_CACHE = ".probe-cache.json"  # timed probes of this machine, per shape of training (a dotfile: the registry skips it)
CALIBRATION_PREFIX_COST = 0.5  # the six short prefixes of each val text cost about half a full pass together

# Packages that each experiment tracker needs, for one clear message instead of transformers' RuntimeError.
TRACKER_PACKAGES = {"trackio": ("trackio",), "tensorboard": ("tensorboard", "tensorboardX"), "wandb": ("wandb",)}


def option(help: str, choices: Sequence[str] | None = None, flag: bool = True) -> dict[str, Any]:
    """Metadata of a request field: its help text and choices (ranges come from `train_config.RANGES`)."""
    return {"help": help, "choices": tuple(choices) if choices else None, "flag": flag}


@dataclass
class TrainRequest:
    """What a user asks for. Every field is a `train` option of the CLI; None means "the preset decides"."""

    model: str = field(metadata=option("registry name of the base or parent model"))
    task: str = field(default=DEFAULT_TASK, metadata=option("what the model learns", [*TASKS, *ALIASES]))
    dataset: str | None = field(default=None, metadata=option("the task's dataset (default: its own), or an ESConv-format JSON file"))
    preset: str = field(default="default", metadata=option(
        "default (ours), paper (the paper's optimiser and heads), paper-heads (the paper's heads, our optimiser), quick (frozen encoder); "
        "rater and rater-quick for --task empathy (default: rater)", list(PRESETS)))
    epochs: float | None = field(default=None, metadata=option("training epochs"))
    max_length: int | None = field(default=None, metadata=option("tokens per text"))
    batch_size: int | None = field(default=None, metadata=option("examples per step"))
    learning_rate: float | None = field(default=None, metadata=option("encoder learning rate"))
    head_learning_rate: float | None = field(default=None, metadata=option("learning rate of the heads"))
    seed: int | None = field(default=None, metadata=option("random seed (default 42)"))
    patience: int | None = field(default=None, metadata=option("evaluations without improvement before training stops (0 turns early stopping off)"))
    balanced: bool = field(default=False, metadata=option("the paper's class balancing (training set only)"))
    policy: str = field(default="gold", metadata=option("which labels to train on", D.POLICIES))
    with_ratings: str | None = field(default=None, metadata=option("database whose ratings to use (implies --policy gold+ratings)"))
    aggregate: str = field(default="mean", metadata=option("how ratings of one item combine", ("mean", "median")))
    release: str | None = field(default=None, metadata=option(
        "release whose consensus labels to train on, with --policy ratings or gold+ratings (default: the latest release of the "
        "task's kind when there is one, else every rating in the database)"))
    min_annotators: int = field(default=1, metadata=option("ratings needed before an item counts"))
    name: str | None = field(default=None, metadata=option("name of the new model (default: derived)"))
    max_steps: int = field(default=-1, metadata=option("stop after this many steps (smoke tests)"))
    freeze_encoder: bool = field(default=False, metadata=option("train the heads only, on cached embeddings"))
    pooling: str | None = field(default=None, metadata=option("how the encoder output is pooled", POOLINGS))
    intensity_head: str | None = field(default=None, metadata=option("intensity head design", INTENSITY_HEADS))
    focal_gamma: float | None = field(default=None, metadata=option("focal loss gamma (0 = cross-entropy)"))
    arch: str | None = field(default=None, metadata=option("empathy rater: cross (post [SEP] response) or bi (the two embedded apart); default bi", ARCHS))
    loss: str | None = field(default=None, metadata=option("empathy rater: classification loss, ce, focal or kl (to soft labels); default ce", LOSSES))
    score_loss: str | None = field(default=None, metadata=option("empathy rater: loss of the 0-1 score, mse or mae; default mse", SCORE_LOSSES))
    select_metric: str | None = field(default=None, metadata=option(
        "what picks the best epoch on val: accuracy, f1_weighted (the rater's 4-level scale) or loss; default: the preset's", list(SELECT_METRICS)))
    compare_with: str | None = field(default=None, metadata=option(
        "model whose test metrics the new one is compared with (default: the parent when it has them, else the default model)"))
    report_to: str = field(default="none", metadata=option("experiment tracker for the run (trackio needs empathy-studio[tracking])", REPORT_TO))

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model.strip():
            raise ConfigError("model is empty: name a registry model (empathy-studio models)")
        hints = typing.get_type_hints(TrainRequest)
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if hints[f.name] in (float, float | None) and isinstance(value, int) and not isinstance(value, bool):
                setattr(self, f.name, value := float(value))
            if f.name in RANGES:
                RANGES[f.name].check(f.name, value)
            if f.metadata.get("choices"):
                check_choice(f.name, value, f.metadata["choices"])
        if self.name is not None:
            check_name(self.name, "model name")
        if self.with_ratings and self.policy == "gold":
            self.policy = "gold+ratings"
        if self.release is not None:
            check_name(self.release, "release id")
            if self.policy == "gold":
                raise ConfigError("--release trains on a release's consensus labels: use it with --policy ratings or gold+ratings")
            if self.with_ratings:
                raise ConfigError("--release and --with-ratings name two sources of ratings: choose one")
        rater_options = [f for f in ("arch", "loss", "score_loss") if getattr(self, f) is not None]
        if rater_options and self.task_spec.objective != "rater":
            raise ConfigError(f"--{rater_options[0].replace('_', '-')} is an option of --task empathy, not of --task {self.task}")
        if (self.preset in RATER_PRESETS) != (self.task_spec.objective == "rater") and self.preset != "default":
            raise ConfigError(f"preset {self.preset} is for {'--task empathy' if self.preset in RATER_PRESETS else 'the seeker model'}, "
                              f"not for --task {self.task}")

    @classmethod
    def option_help(cls, name: str) -> str:
        """A field's help text with its accepted range, as the CLI and the Train tab show it."""
        f = next(f for f in dataclasses.fields(cls) if f.name == name)
        return f.metadata["help"] + (f"; {RANGES[name].describe()}" if name in RANGES else "")

    @property
    def task_spec(self) -> Task:
        return get_task(self.task)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainRequest":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown training options {unknown}")
        return cls(**values)


def training_config(req: TrainRequest, settings: Settings, encoder: str, local: bool = True, **extra: Any) -> TrainConfig:
    """The one mapping of a request to a TrainConfig: defaults, then space_config.yaml, then the preset, then the request."""
    asked = {"epochs": req.epochs, "max_length": req.max_length, "batch_size": req.batch_size, "learning_rate": req.learning_rate,
             "head_learning_rate": req.head_learning_rate, "seed": req.seed, "patience": req.patience, "pooling": req.pooling,
             "intensity_head": req.intensity_head, "focal_gamma": req.focal_gamma, "freeze_encoder": req.freeze_encoder or None,
             "select_metric": req.select_metric}
    overrides = {k: v for k, v in asked.items() if v is not None}
    name = "rater" if req.task_spec.objective == "rater" and req.preset == "default" else req.preset
    return preset(name, encoder, defaults=settings.training, objective=req.task_spec.objective, local_files_only=local,
                  max_steps=req.max_steps, report_to=req.report_to, **overrides, **extra)


def _utc() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _portable(source: str) -> str:
    """A data source as the manifest keeps it: a file's name, never this machine's path (a hub id or "demo" as is)."""
    return Path(source).name if Path(source).exists() else source


def portable(hyperparameters: dict[str, Any], spec: ModelSpec) -> dict[str, Any]:
    """Hyperparameters as they go into a manifest: the encoder by registry name, no local paths."""
    out = {k: v for k, v in hyperparameters.items() if k not in ("output_dir", "local_files_only")}
    out["encoder"] = spec.name
    return out


class Finetuner:
    """Fine-tuning over the dependencies it is given."""

    def __init__(self, settings: Settings, registry: Registry, sources: D.DataSources, store: Store):
        self.settings, self.registry, self.sources, self.store = settings, registry, sources, store

    # -- the training set ---------------------------------------------------------

    def release_for(self, req: TrainRequest) -> str | None:
        """The release a request trains on: the one it names (which must exist), else the latest of its task's kind, else
        None (every rating in the database, aggregated, as before releases existed)."""
        if req.policy == "gold" or req.with_ratings:
            return None
        if req.release:
            return self.store.release_row(req.release)["id"]
        return latest_release(self.store.releases(), "empathy" if req.task_spec.objective == "rater" else "intensity")

    def lineage(self, req: TrainRequest) -> dict[str, Any] | None:
        """What a manifest records of the release a model was trained on: its id and content hash."""
        if not req.release:
            return None
        row = self.store.release_row(req.release)
        return {"id": row["id"], "content_hash": row["content_hash"], "campaigns": row["campaigns"], "method": row["method"]}

    def _ratings(self, req: TrainRequest) -> dict[str, dict[str, Any]]:
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

    def training_set(self, req: TrainRequest) -> tuple[dict[str, list[D.Example]], tuple[str, ...]]:
        """The splits a request trains and evaluates on; evaluation items never enter training."""
        task = req.task_spec
        dataset = dataset_for(task, req.dataset)
        splits, labels = self.sources.examples(dataset)
        if req.policy != "gold":
            if not task.ratings:
                raise ConfigError(f"ratings are collected on ESConv items; task {task.name} trains on gold labels only")
            source = self.sources.esconv_like(dataset)
            splits = {**splits, "train": D.training_examples(source.splits, req.policy, self._ratings(req))}
        if task.objective == "multitask" and all(math.isnan(ex.initial) for ex in splits["train"]):
            raise ConfigError(f"task {task.name} needs intensity labels, and {dataset} has none: use --task emotion")
        if req.balanced:
            seed = req.seed if req.seed is not None else 42
            if task.files or dataset == "esconv":
                ids = {ex.item_id for ex in splits["train"]}
                train_d = [d for d in self.sources.esconv_like(dataset).splits["train"] if d.dialogue_id in ids]
                splits["train"] = D.balance_dialogues(train_d, seed=seed)
            else:
                splits["train"] = D.balance_sentences(splits["train"], seed=seed)
        held_out = {ex.item_id for s in ("val", "test") for ex in splits[s]}
        leaked = [ex.item_id for ex in splits["train"] if ex.item_id.split("#")[0] in held_out]
        if leaked:  # a guard, not a filter: a leak is a bug upstream
            raise RuntimeError(f"{len(leaked)} evaluation items reached the training set, e.g. {leaked[0]}")
        if not splits["train"]:
            raise DataError(dataset, "the training set is empty for this data policy (no rated training items yet?)")
        return splits, labels

    # -- model and config -----------------------------------------------------------

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

    def estimate(self, req: TrainRequest, cached_only: bool = False) -> dict[str, Any] | None:
        """Estimated duration, from a probe timed on this machine (cached per shape), of every phase the training runs.

        Training steps, then the passes after them: evaluation after each epoch, the intensity heads'
        embedding of train and val, calibration (val, and val cut to short prefixes) and the test split.
        With `cached_only` (a running job planning its ETA) nothing is timed: None unless a probe is kept.
        """
        from .training import TrainData

        _, encoder, local = self.parent(req)
        if req.task_spec.objective == "rater" and cached_only:
            return None  # the rater's probe is not kept between runs
        if req.task_spec.objective == "rater":
            from .rater_finetune import estimate_rater

            return {**estimate_rater(self, req, training_config(req, self.settings, encoder, local)), "device": _device()}
        splits, labels = self.training_set(req)
        config = training_config(req, self.settings, encoder, local)
        probe = self._probe(config, TrainData(splits["train"], splits["val"], labels), cached_only)
        if probe is None:
            return None
        n_train, n_val, n_test = len(splits["train"]), len(splits["val"]), len(splits["test"])
        if config.freeze_encoder:  # the embedding pass over train and val is the cost; the head steps are negligible
            steps = math.ceil((n_train + n_val) / probe["batch"])
            passes = 0
        else:
            steps = math.ceil(n_train / config.batch_size) * config.epochs
            steps = min(steps, config.max_steps) if config.max_steps > 0 else steps
            evaluations = math.ceil(config.epochs) if config.max_steps <= 0 else 1
            passes = evaluations * n_val + ((n_train + n_val) if config.ridge_intensity else 0)
        passes += n_val + CALIBRATION_PREFIX_COST * n_val + n_test
        phases = {"loading": probe["load_s"], "training": probe["step_s"] * steps,
                  "evaluating, heads, calibrating, testing": probe["forward_s"] * passes + probe.get("ridge_fit_s", 0) * probe.get("ridge_fits", 0)}
        return {"n_train": n_train, "steps": int(math.ceil(steps)), "seconds_per_step": round(probe["step_s"], 3),
                "estimated_seconds": round(sum(phases.values())), "phases": {k: round(v, 1) for k, v in phases.items()},
                "batch_size": config.batch_size, "max_length": config.max_length, "epochs": config.epochs, "device": _device(),
                "probe_cached": probe.get("cached", False)}

    def _probe(self, config: TrainConfig, data: Any, cached_only: bool = False) -> dict[str, Any] | None:
        """The timed probe for this shape of training on this machine, measured once and kept in the models folder."""
        import torch

        from .training import measure_step_seconds

        key = json.dumps([PROBE_VERSION, Path(config.encoder).name, config.max_length, config.batch_size, config.freeze_encoder,
                          config.freeze_layers, config.ridge_intensity, config.lexical_intensity, len(data.train), _device(),
                          torch.get_num_threads(), os.cpu_count()])
        path = self.settings.models_dir / PROBE_CACHE
        try:
            cache = json.loads(path.read_text()) if path.exists() else {}
        except (OSError, ValueError):
            cache = {}
        if key in cache:
            return {**cache[key], "cached": True}
        if cached_only:
            return None
        probe = measure_step_seconds(config, data)
        cache[key] = probe
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache))
        os.replace(tmp, path)
        return probe

    # -- train, test, publish ---------------------------------------------------------

    def new_name(self, req: TrainRequest, spec: ModelSpec) -> str:
        if req.name:
            return req.name
        dataset = Path(dataset_for(req.task_spec, req.dataset)).stem
        safe = "".join(c if c.isalnum() or c in "._-" else "-" for c in dataset)[:20]
        return check_name(f"{spec.name}-{safe}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"[:64], "model name")

    def train_and_register(self, req: TrainRequest, progress: ProgressFn | None = None, description: str = "") -> dict[str, Any]:
        """Train, test against the parent, and publish the model folder atomically. Returns the manifest."""
        from .inference import Predictor
        from .modeling import save
        from .training import TrainData, train

        emit = fan_out([progress])
        req = dataclasses.replace(req, release=self.release_for(req))  # named in the manifest's request: a rebuild reads the same
        spec, encoder, local = self.parent(req)
        if req.task_spec.objective == "rater":
            from .rater_finetune import train_and_register_rater

            name = self.new_name(req, spec)
            workdir = self.settings.models_dir / f".trainer-{os.getpid()}-{secrets.token_hex(4)}"
            config = training_config(req, self.settings, encoder, local, output_dir=str(workdir), run_name=name)
            return train_and_register_rater(self, req, spec, name, config, emit,
                                            {"description": description, "hyperparameters": portable(config.to_dict(), spec), "created_at": _utc()})
        name = self.new_name(req, spec)
        target = inside(self.settings.models_dir, name, "model name")
        if target.exists():
            raise ConfigError(f"a model named {name!r} already exists in {self.settings.models_dir.name}/")
        self._check_tracker(req)
        splits, labels = self.training_set(req)
        workdir = self.settings.models_dir / f".trainer-{os.getpid()}-{secrets.token_hex(4)}"
        config = training_config(req, self.settings, encoder, local, output_dir=str(workdir), run_name=name)
        try:
            result = train(config, TrainData(splits["train"], splits["val"], labels), emit)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

        emit(ProgressEvent(CALIBRATING, 0, 1, "temperature, intervals and the least text, on the validation split"))
        predictor = Predictor(result.model, result.tokenizer, name=name, max_length=config.max_length, cache_size=0)
        residuals = {t: r.pop("residuals") for t, r in result.ridge.items() if r.get("residuals")}
        cal = calibration.fit(predictor, splits["val"], splits["train"], residuals)
        predictor.calibration = cal
        emit(ProgressEvent(CALIBRATING, 1, 1))
        emit(ProgressEvent(TESTING, 0, len(splits["test"]), "test split"))
        metrics = self.test_metrics(predictor, splits["test"], labels, req)
        compared = self.registry.get(req.compare_with) if req.compare_with else (spec if spec.kind == "finetuned" else None)
        task = req.task_spec
        dataset = dataset_for(task, req.dataset)
        parent_metrics = self.compared_on_same_items(compared, splits["test"], labels, req, emit)
        delta = {k: metrics[k] - parent_metrics[k] for k in metrics if isinstance(metrics.get(k), float) and isinstance(parent_metrics.get(k), float)}
        compared_on = {"dataset": _portable(dataset), "split": "test", "n": len(splits["test"])}
        manifest = {
            "name": name, "description": description, "parent": spec.name, "parent_source": spec.source if spec.kind != "finetuned" else spec.name,
            "task": task.name, "objective": task.objective, "dataset": _portable(dataset), "policy": req.policy, "split": "paper (seed 42)",
            "n_train": len(splits["train"]), "n_val": len(splits["val"]), "n_test": len(splits["test"]),
            "data_hash": D.examples_hash(splits["train"]), "hyperparameters": portable(config.to_dict(), spec),
            "heads": result.model.heads_config.to_dict(),
            "request": {**req.to_dict(), "with_ratings": Path(req.with_ratings).name if req.with_ratings else None,
                        "dataset": _portable(dataset)},
            "release": self.lineage(req),
            "metrics": metrics, "compared_with": compared.name if compared is not None and parent_metrics else None,
            "compared_on": compared_on, "parent_metrics": parent_metrics, "delta": delta, "history": result.history,
            "ridge": result.ridge, "train_seconds": round(result.seconds, 1), "train_samples_per_second": result.train_samples_per_second,
            "device": result.device, "precision": result.precision, "created_at": _utc(),
            "data_source": _portable(self.sources.esconv_like(dataset).origin if task.files else dataset),
        }
        emit(ProgressEvent(PUBLISHING, 0, 1, name))
        tmp = self.settings.models_dir / f".tmp-{os.getpid()}-{secrets.token_hex(4)}-{name}"
        save(result.model, result.tokenizer, tmp, manifest)
        cal.save(tmp)
        os.replace(tmp, target)  # atomic publish: a failed or killed run never leaves a half-written model
        emit(ProgressEvent(PUBLISHING, 1, 1, name))
        return manifest

    def compared_on_same_items(self, compared: ModelSpec | None, test: Sequence[D.Example], labels: Sequence[str], req: TrainRequest,
                               emit: ProgressFn) -> dict[str, Any]:
        """The compared model's metrics on the new model's own test items, never the numbers of its manifest (which
        may come from another test set): a model that predicts other labels, or has no weights here, is not compared."""
        from .inference import Predictor

        if compared is None or compared.kind != "finetuned" or compared.path is None or compared.is_rater:
            return {}
        emit(ProgressEvent(TESTING, 0, len(test), f"{compared.name} on the same test items"))
        try:
            other = Predictor.from_folder(compared.path, name=compared.name,
                                          max_length=int(compared.manifest.get("hyperparameters", {}).get("max_length", 256)))
        except (UserError, OSError, ValueError):
            return {}
        if list(other.labels) != list(labels):
            return {}
        return self.test_metrics(other, test, labels, req)

    def test_metrics(self, predictor, test: Sequence[D.Example], labels: Sequence[str], req: TrainRequest) -> dict[str, Any]:
        """Test-split metrics; with a calibrated predictor also ECE before/after and interval coverage (`uncertainty`)."""
        preds = predictor.predict([ex.text for ex in test])
        gold_int = {t: [getattr(ex, t) for ex in test] for t in INTENSITY_TARGETS}
        pred_int = {t: [p.intensity.get(t, math.nan) for p in preds] for t in INTENSITY_TARGETS} if preds and preds[0].intensity else None
        metrics = evaluate_predictions([labels[ex.label] for ex in test], [p.emotion for p in preds], gold_int, pred_int)
        if req.policy != "gold" and pred_int:
            # the rated items of the test split, scored against the human ratings
            agg = self._ratings(req)
            held = [(i, agg[ex.item_id]) for i, ex in enumerate(test) if ex.item_id in agg]
            for t in ("initial", "final"):
                r = regression_metrics([a[t] for _, a in held], [pred_int[t][i] for i, _ in held])
                metrics[f"rated_mse_{t}"], metrics[f"rated_n_{t}"] = r["mse"], r["n"]
        if predictor.calibration is not None and preds:
            metrics["uncertainty"] = {**calibration.uncertainty_metrics(preds, test, labels, predictor.calibration),
                                      "min_words": predictor.calibration.min_words}
        return metrics


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
