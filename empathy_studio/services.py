"""Use cases shared by the CLI and the UI: data, models, prediction, evaluation, training.

`Studio` is built once from `Settings` and owns the lazily loaded pieces: the
ESConv source, the store, and the predictors (loaded on first use, so the page
answers before any model is in memory). Annotation and job use cases live in
`annotation.py` and `jobs.py`, on top of the same object.
"""

from __future__ import annotations

import math
import os
import secrets
import shutil
import threading
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from . import data as D
from .baselines import ZeroR
from .labels import INTENSITY_TARGETS
from .metrics import confusion_counts, evaluate_predictions, per_class_report, regression_metrics
from .registry import QUICK_MODEL, ModelSpec, ModelUnavailable, Registry
from .settings import Settings
from .store import Store

if TYPE_CHECKING:  # torch and transformers load on first use of a model, not at start-up
    from .inference import Prediction, Predictor

Progress = Callable[[int, int, str], None]  # (done, total, what)


@dataclass
class TrainRequest:
    """What a user asks for; `empathy-studio train` flags map one to one."""

    model: str
    dataset: str = "esconv"
    task: str = "multitask"
    preset: str = "default"
    epochs: float | None = None
    max_length: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    balanced: bool = False
    seed: int | None = None
    policy: str = "gold"  # gold, gold+ratings, ratings
    with_ratings: str | None = None  # a database path; defaults to the studio's own
    aggregate: str = "mean"
    min_annotators: int = 1
    name: str | None = None
    max_steps: int = -1
    freeze_encoder: bool = False
    pooling: str | None = None
    intensity_head: str | None = None
    focal_gamma: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def portable(hyperparameters: dict[str, Any], spec: ModelSpec) -> dict[str, Any]:
    """Hyperparameters as they go into a manifest: the encoder by registry name, no local paths."""
    out = {k: v for k, v in hyperparameters.items() if k not in ("output_dir", "local_files_only")}
    out["encoder"] = spec.name
    return out


def _utc() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Studio:
    def __init__(self, settings: Settings, esconv_path: str | None = None):
        self.settings = settings
        self.registry = Registry(settings.models_dir, settings.allow_hub_downloads)
        self._esconv_path = esconv_path
        self._lock = threading.RLock()
        self._predictors: dict[str, Predictor] = {}
        self._esconv: D.EsconvSource | None = None
        self._store: Store | None = None
        self._by_id: dict[str, D.Dialogue] = {}
        self._annotation = None
        self._jobs = None
        self.snapshots = None

    # -- data -------------------------------------------------------------------

    @property
    def esconv(self) -> D.EsconvSource:
        with self._lock:
            if self._esconv is None:
                self._esconv = D.resolve_esconv(self.settings.esconv, self._esconv_path, os.environ.get("EMPATHY_STUDIO_ESCONV"),
                                                self.settings.hub_esconv)
                self._by_id = {d.dialogue_id: d for d in D.labelled(self._esconv.dialogues)}
            return self._esconv

    def dialogue(self, dialogue_id: str) -> D.Dialogue:
        self.esconv
        if dialogue_id not in self._by_id:
            raise KeyError(f"unknown dialogue {dialogue_id!r}")
        return self._by_id[dialogue_id]

    def split_of(self) -> dict[str, str]:
        return {d.dialogue_id: name for name, ds in self.esconv.splits.items() for d in ds}

    @property
    def store(self) -> Store:
        with self._lock:
            if self._store is None:
                self._store = Store(self.settings.effective_db_path)
            return self._store

    def start_snapshots(self):
        """Without a persistent volume, restore the last snapshot (if the disk came up empty) and keep taking them."""
        from .persistence import Snapshotter, restore_if_missing, target_for

        s = self.settings
        if s.effective_db_path != s.db_path or not s.snapshot_repo:
            return None
        target = target_for(s.snapshot_repo, os.environ.get("HF_TOKEN"))
        with self._lock:
            if self._store is None:
                restore_if_missing(s.db_path, target)
        snap = Snapshotter(self.store, target, s.snapshot_every_minutes)
        snap.start()
        return snap

    @property
    def annotation(self):
        from .annotation import Annotation

        with self._lock:
            if self._annotation is None:
                self._annotation = Annotation(self)
            return self._annotation

    @property
    def jobs(self):
        from .jobs import JobRunner, zero_gpu

        def here(params: dict[str, Any], reporter: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
            return self.train_and_register(TrainRequest(**params), on_event=reporter)

        with self._lock:
            if self._jobs is None:
                self._jobs = JobRunner(self.store, self.settings.effective_db_path, self.settings.models_dir, self._esconv_path,
                                       in_process=here if zero_gpu() else None)
            return self._jobs

    def start(self) -> None:
        """What a server does once at start: restore a snapshot, items in the store, accounts, jobs left by a dead process."""
        self.snapshots = self.start_snapshots()
        self.sync_items()
        self.annotation.bootstrap_accounts()
        self.jobs.recover()

    def sync_items(self) -> int:
        """Put every labelled dialogue of the ESConv source into the store's items table."""
        rows = []
        for split, dialogues in self.esconv.splits.items():
            for d in dialogues:
                rows.append({"id": d.dialogue_id, "source": d.source, "dialogue_id": d.dialogue_id, "text": d.seeker_text, "split": split,
                             "gold_emotion": d.emotion, "gold_initial": d.initial, "gold_final": d.final, "gold_change": d.change})
        return self.store.upsert_items(rows)

    def example_splits(self, dataset: str) -> tuple[dict[str, list[D.Example]], tuple[str, ...]]:
        s = self.settings
        return D.example_splits(dataset, self.esconv if dataset == "esconv" else None, s.first_existing("sad"), s.first_existing("epitome"))

    # -- models -----------------------------------------------------------------

    def predictor(self, name: str, progress: Progress | None = None) -> Predictor:
        with self._lock:
            if name in self._predictors:
                return self._predictors[name]
            spec = self.registry.get(name)
            if spec.kind == "quick":
                spec = self.ensure_quick_model(progress)
            if spec.kind != "finetuned" or spec.path is None:
                raise ModelUnavailable(f"{name} is a base encoder with untrained heads: fine-tune it first "
                                       f"(empathy-studio train --model {name}) or pick {QUICK_MODEL}")
            max_length = int(spec.manifest.get("hyperparameters", {}).get("max_length", 256))
            from .inference import Predictor

            pred = Predictor.from_folder(spec.path, name=name, max_length=max_length)
            self._predictors[name] = pred
            return pred

    def ensure_quick_model(self, progress: Progress | None = None) -> ModelSpec:
        """The first-run model: frozen MiniLM plus heads trained on the gold labels at hand, built once."""
        with self._lock:
            spec = self.registry.get(QUICK_MODEL)
            if spec.kind == "finetuned":
                return spec
            req = TrainRequest(model="minilm", preset="quick", name=QUICK_MODEL)
            self.train_and_register(req, progress=progress, description=self.registry.base[QUICK_MODEL].description)
            return self.registry.get(QUICK_MODEL)

    def predict_texts(self, name: str, texts: Sequence[str], progress: Progress | None = None) -> list[Prediction]:
        pred = self.predictor(name, progress)
        return pred.predict(list(texts), (lambda d, t: progress(d, t, "predict")) if progress else None)

    def explain_intensity(self, name: str, text: str) -> dict[str, tuple[float, list[tuple[str, float]]]]:
        return self.predictor(name).explain_intensity(text)

    def trajectory(self, name: str, dialogue_id: str) -> list[dict[str, Any]]:
        """Predicted intensity after each seeker turn, from the dialogue prefix up to that turn."""
        turns = self.dialogue(dialogue_id).seeker_turns
        prefixes = [" ".join(turns[: i + 1]) for i in range(len(turns))]
        preds = self.predict_texts(name, prefixes)
        return [{"turn": i + 1, "text": turns[i], **p.to_dict()} for i, p in enumerate(preds)]

    def split_predictions(self, name: str, split: str = "test", progress: Progress | None = None) -> list[dict[str, Any]]:
        """Gold and predicted labels for every dialogue of a split; predictions are cached in the store."""
        dialogues = self.esconv.splits[split] if split != "all" else D.labelled(self.esconv.dialogues)
        cache = self.store.cached_predictions(name)
        missing = [d for d in dialogues if cache.get(d.dialogue_id, ("",))[0] != D.text_hash(d.seeker_text)]
        if missing:
            preds = self.predict_texts(name, [d.seeker_text for d in missing], progress)
            self.store.cache_predictions(name, [(d.dialogue_id, D.text_hash(d.seeker_text), p.to_dict()) for d, p in zip(missing, preds)])
            cache = self.store.cached_predictions(name)
        rows = []
        for d in dialogues:
            res = cache[d.dialogue_id][1]
            rows.append({"item_id": d.dialogue_id, "gold_emotion": d.emotion, **{f"gold_{t}": d.gold(t) for t in INTENSITY_TARGETS},
                         **{k: v for k, v in res.items() if k != "probs"}})
        return rows

    # -- evaluation -------------------------------------------------------------

    def evaluate(self, name: str, dataset: str = "esconv", split: str = "test", progress: Progress | None = None) -> dict[str, Any]:
        splits, labels = self.example_splits(dataset)
        if split not in (*D.SPLITS, "all"):
            raise ValueError(f"split must be train, val, test or all, got {split!r}")
        rows = [ex for s in D.SPLITS for ex in splits[s]] if split == "all" else splits[split]
        if not rows:
            raise ValueError(f"the {split} split of {dataset} is empty")
        gold_int = {t: [getattr(ex, t) for ex in rows] for t in INTENSITY_TARGETS}
        has_intensity = any(not math.isnan(v) for v in gold_int["initial"])
        if name == "zeror":
            z = ZeroR.fit(splits["train"])
            pred_labels = [labels[i] for i in z.predict_labels(len(rows))]
            pred_int = z.predict_intensity(len(rows)) if has_intensity else None
        else:
            predictor = self.predictor(name, progress)
            if list(predictor.labels) != list(labels):
                raise ModelUnavailable(f"{name} predicts {', '.join(predictor.labels)}, not the labels of {dataset}")
            preds = predictor.predict([ex.text for ex in rows], (lambda d, t: progress(d, t, "predict")) if progress else None)
            pred_labels = [p.emotion for p in preds]
            pred_int = {t: [p.intensity.get(t, math.nan) for p in preds] for t in INTENSITY_TARGETS} if preds[0].intensity else None
        metrics = evaluate_predictions([labels[ex.label] for ex in rows], pred_labels, gold_int, pred_int)
        gold_labels = [labels[ex.label] for ex in rows]
        return {"model": name, "dataset": dataset, "split": split, "n": len(rows), **metrics,
                "per_class": per_class_report(gold_labels, pred_labels, labels),
                "confusion": confusion_counts(gold_labels, pred_labels, labels)}

    # -- training ---------------------------------------------------------------

    def _aggregated_ratings(self, req: TrainRequest) -> dict[str, dict[str, Any]]:
        from .annotation import aggregate_ratings

        if not req.with_ratings:
            return aggregate_ratings(self.store.rating_table(), req.aggregate, req.min_annotators)
        other = Store(req.with_ratings)
        try:
            return aggregate_ratings(other.rating_table(), req.aggregate, req.min_annotators)
        finally:
            other.close()

    def training_set(self, req: TrainRequest) -> tuple[dict[str, list[D.Example]], tuple[str, ...]]:
        """The splits a request trains and evaluates on; evaluation items never enter training."""
        splits, labels = self.example_splits(req.dataset)
        if req.dataset == "esconv":
            ratings = self._aggregated_ratings(req) if req.policy != "gold" else {}
            splits = {**splits, "train": D.training_examples(self.esconv.splits, req.policy, ratings)}
        elif req.policy != "gold":
            raise ValueError("ratings are collected on ESConv items; use --dataset esconv with a ratings policy")
        if req.task == "multitask" and all(math.isnan(ex.initial) for ex in splits["train"]):
            raise ValueError(f"the multi-task model needs intensity labels, and {req.dataset} has none: use --task classify")
        if req.balanced:
            if req.dataset == "esconv":
                ids = {ex.item_id for ex in splits["train"]}
                train_d = [d for d in self.esconv.splits["train"] if d.dialogue_id in ids]
                splits["train"] = D.balance_dialogues(train_d, seed=req.seed or 42)
            else:
                splits["train"] = D.balance_sentences(splits["train"], seed=req.seed or 42)
        held_out = {ex.item_id for s in ("val", "test") for ex in splits[s]}
        leaked = [ex.item_id for ex in splits["train"] if ex.item_id.split("#")[0] in held_out]
        if leaked:  # a guard, not a filter: a leak is a bug upstream
            raise RuntimeError(f"{len(leaked)} evaluation items reached the training set, e.g. {leaked[0]}")
        if not splits["train"]:
            raise ValueError("the training set is empty for this data policy (no rated training items yet?)")
        return splits, labels

    def train_and_register(self, req: TrainRequest, progress: Progress | None = None, on_event: Callable[[dict[str, Any]], None] | None = None,
                           description: str = "") -> dict[str, Any]:
        """Train, evaluate against the parent, and publish the model folder atomically. Returns the manifest."""
        from .inference import Predictor
        from .modeling import save
        from .training import TrainData, train
        from .training import preset as make_config

        spec = self.registry.get(req.model)
        if spec.kind == "finetuned":
            encoder, local, parent_metrics = str(spec.path), True, spec.metrics
        elif spec.kind == "quick":
            raise ModelUnavailable(f"{spec.name} is built by the studio itself; fine-tune minilm or a fine-tuned model")
        else:
            (encoder, local), parent_metrics = self.registry.encoder_source(spec), {}
        name = req.name or f"{spec.name}-{req.dataset}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
        target = self.settings.models_dir / name
        if target.exists():
            raise ValueError(f"a model named {name!r} already exists in {self.settings.models_dir}")
        splits, labels = self.training_set(req)

        t = self.settings.training
        ours = req.preset in ("default", "paper-heads")  # presets that take the optimiser defaults of space_config.yaml
        overrides = {k: v for k, v in dict(
            task=req.task, epochs=req.epochs if req.epochs is not None else (t.epochs if ours else None),
            max_length=req.max_length or (t.max_length if ours else None),
            batch_size=req.batch_size or (t.batch_size if ours else None),
            learning_rate=req.learning_rate or (t.learning_rate if ours else None),
            head_learning_rate=t.head_learning_rate if ours else None,
            warmup=t.warmup_ratio if ours else None,
            patience=t.patience if ours else None,
            seed=req.seed if req.seed is not None else t.seed, local_files_only=local, max_steps=req.max_steps,
            freeze_encoder=req.freeze_encoder or None, pooling=req.pooling, intensity_head=req.intensity_head,
            focal_gamma=req.focal_gamma, output_dir=str(self.settings.models_dir / f".trainer-{secrets.token_hex(4)}"),
        ).items() if v is not None}
        config = make_config(req.preset, encoder, **overrides)

        def relay(event: dict[str, Any]) -> None:
            if on_event:
                on_event(event)
            if progress and event["event"] == "step":
                progress(event["step"], event["max_steps"], "train")
            elif progress and event["event"] == "embed":
                progress(event["done"], event["total"], f"embed {event['what']}")

        result = train(config, TrainData(splits["train"], splits["val"], labels), [relay])
        shutil.rmtree(config.output_dir, ignore_errors=True)

        predictor = Predictor(result.model, result.tokenizer, name=name, max_length=config.max_length)
        metrics = self._test_metrics(predictor, splits["test"], labels, req)
        delta = {k: metrics[k] - parent_metrics[k] for k in metrics if isinstance(metrics.get(k), float) and isinstance(parent_metrics.get(k), float)}
        manifest = {
            "name": name, "description": description, "parent": spec.name, "parent_source": spec.source if spec.kind != "finetuned" else spec.name,
            "task": req.task, "dataset": req.dataset, "policy": req.policy, "split": "paper (seed 42)",
            "n_train": len(splits["train"]), "n_val": len(splits["val"]), "n_test": len(splits["test"]),
            "data_hash": D.examples_hash(splits["train"]), "hyperparameters": portable(config.to_dict(), spec),
            "request": {**req.to_dict(), "with_ratings": Path(req.with_ratings).name if req.with_ratings else None},
            "metrics": metrics, "parent_metrics": parent_metrics, "delta": delta, "history": result.history,
            "ridge": result.ridge, "train_seconds": round(result.seconds, 1), "train_samples_per_second": result.train_samples_per_second,
            "device": result.device, "precision": result.precision, "created_at": _utc(), "data_source": _portable(self.esconv.origin if req.dataset == "esconv" else req.dataset),
        }
        tmp = self.settings.models_dir / f".tmp-{name}-{secrets.token_hex(4)}"
        save(result.model, result.tokenizer, tmp, manifest)
        os.replace(tmp, target)  # atomic publish: a failed or killed run never leaves a half-written model
        with self._lock:
            self._predictors.pop(name, None)
        return manifest

    def _test_metrics(self, predictor: Predictor, test: Sequence[D.Example], labels: Sequence[str], req: TrainRequest) -> dict[str, Any]:
        preds = predictor.predict([ex.text for ex in test])
        gold_int = {t: [getattr(ex, t) for ex in test] for t in INTENSITY_TARGETS}
        pred_int = {t: [p.intensity.get(t, math.nan) for p in preds] for t in INTENSITY_TARGETS} if preds and preds[0].intensity else None
        metrics = evaluate_predictions([labels[ex.label] for ex in test], [p.emotion for p in preds], gold_int, pred_int)
        if req.dataset == "esconv" and req.policy != "gold" and pred_int:
            # the rated items of the test split, scored against the human ratings
            agg = self._aggregated_ratings(req)
            held = [(i, agg[ex.item_id]) for i, ex in enumerate(test) if ex.item_id in agg]
            for t in ("initial", "final"):
                r = regression_metrics([a[t] for _, a in held], [pred_int[t][i] for i, _ in held])
                metrics[f"rated_mse_{t}"], metrics[f"rated_n_{t}"] = r["mse"], r["n"]
        return metrics

    def estimate_training(self, req: TrainRequest) -> dict[str, Any]:
        """Estimated duration from steps per second measured on this machine, before a job starts."""
        from .training import TrainData, measure_step_seconds, preset

        spec = self.registry.get(req.model)
        encoder = str(spec.path) if spec.kind == "finetuned" else self.registry.encoder_source(spec)[0]
        splits, labels = self.training_set(req)
        t = self.settings.training
        config = preset(req.preset, encoder, task=req.task, max_length=req.max_length or t.max_length, batch_size=req.batch_size or t.batch_size)
        sec = measure_step_seconds(config, TrainData(splits["train"], splits["val"], labels))
        epochs = req.epochs or (t.epochs if req.preset == "default" else config.epochs)
        steps = math.ceil(len(splits["train"]) / config.batch_size) * epochs
        return {"n_train": len(splits["train"]), "steps": int(steps), "seconds_per_step": round(sec, 3),
                "estimated_seconds": round(sec * steps), "device": "cuda" if _cuda() else "cpu"}


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _portable(source: str) -> str:
    """A data source as the manifest keeps it: a file's name, never this machine's path (a hub id or "demo" as is)."""
    return Path(source).name if Path(source).exists() else source
