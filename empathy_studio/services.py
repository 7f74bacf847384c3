"""The services the UI and the CLI call, and nothing else: `Studio`, built once from `Settings`.

`Studio` wires the core together and owns the lazily loaded pieces (the data
sources, the store, the predictors: a model loads on first use, so the page
answers before any weights are in memory). Its use cases live beside it:
fine-tuning in `finetune`, annotation in `annotation`, jobs in `jobs`, the
researcher's tables and downloads in `analysis`; `Studio` gives each its
dependencies and offers the UI and CLI one method per thing they do. The names
the UI needs as vocabulary (`TrainRequest`, `UserError`, the choices) are
re-exported here, so `ui/` imports services and nothing below it.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from . import analysis
from . import data as D
from .agreement import aggregate_ratings
from .annotation import QUEUE_ORDERS, Annotation, export_ratings, import_ratings
from .campaigns import SOURCES as CAMPAIGN_SOURCES
from .campaigns import CampaignRequest, create_campaign, dialogue_of_item
from .baselines import ZeroR
from .errors import ConfigError, DataError, InputError, ModelUnavailable, NotFound, PermissionDenied, UserError
from .finetune import Finetuner, TrainRequest
from .jobs import JobCancelled, JobReporter, JobRunner, exit_with_parent, zero_gpu
from .labels import INTENSITY_TARGETS
from .metrics import confusion_counts, evaluate_predictions, per_class_report
from .progress import ProgressEvent, ProgressFn, fan_out
from .registry import QUICK_MODEL, ModelSpec, Registry
from .settings import Settings
from .store import DEFAULT_CAMPAIGN, SCALES, Annotator, Store, require
from .train_config import PRESETS, preset
from .tasks import TASKS

if TYPE_CHECKING:  # torch and transformers load on first use of a model, not at start-up
    from .inference import Prediction, Predictor

__all__ = ["Studio", "TrainRequest", "CampaignRequest", "CAMPAIGN_SOURCES", "DEFAULT_CAMPAIGN", "SCALES", "UserError", "Annotator",
           "ProgressEvent", "JobCancelled", "QUEUE_ORDERS", "POLICIES", "PRESETS", "TASKS",
           "ConfigError", "DataError", "InputError", "ModelUnavailable", "NotFound", "PermissionDenied"]

POLICIES = D.POLICIES
SPLITS = (*D.SPLITS, "all")
MAX_UPLOAD_BYTES = 20 * 2**20


DOWNLOADS_KEPT_S = 3600


def download_folder(root: Path | None = None, kept_s: float = DOWNLOADS_KEPT_S) -> Path:
    """A new folder for files a user downloads; folders older than `kept_s` are removed on the way."""
    root = root or Path(tempfile.gettempdir()) / "empathy-studio-downloads"
    root.mkdir(parents=True, exist_ok=True)
    cutoff = time.time() - kept_s
    for old in root.iterdir():
        try:
            if old.stat().st_mtime < cutoff:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass
    return Path(tempfile.mkdtemp(dir=root))


class Studio:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.registry = Registry(settings.models_dir, settings.allow_hub_downloads)
        self.sources = D.DataSources.from_settings(settings)
        self._lock = threading.RLock()
        self._predictors: dict[str, Predictor] = {}
        self._store: Store | None = None
        self._annotation: Annotation | None = None
        self._jobs: JobRunner | None = None
        self._finetune: Finetuner | None = None
        self.snapshots = None

    # -- the pieces, built on first use -------------------------------------------

    @property
    def esconv(self) -> D.EsconvSource:
        return self.sources.esconv

    @property
    def store(self) -> Store:
        with self._lock:
            if self._store is None:
                self._store = Store(self.settings.effective_db_path)
            return self._store

    @property
    def annotation(self) -> Annotation:
        with self._lock:
            if self._annotation is None:
                self._annotation = Annotation(self.store, self.settings, self.registry)
            return self._annotation

    @property
    def finetune(self) -> Finetuner:
        with self._lock:
            if self._finetune is None:
                self._finetune = Finetuner(self.settings, self.registry, self.sources, self.store)
            return self._finetune

    @property
    def jobs(self) -> JobRunner:
        def here(params: dict[str, Any], reporter: ProgressFn) -> dict[str, Any]:
            return self.train_and_register(TrainRequest.from_dict(params), progress=reporter)

        with self._lock:
            if self._jobs is None:
                self._jobs = JobRunner(self.store, self.settings, in_process=here if zero_gpu(self.settings) else None)
            return self._jobs

    def start_snapshots(self):
        """Without a persistent volume, restore the last snapshot (if the disk came up empty) and keep taking them."""
        from .persistence import Snapshotter, restore_if_missing, target_for

        s = self.settings
        if s.effective_db_path != s.db_path or not s.snapshot_repo:
            return None
        target = target_for(s.snapshot_repo, s.hf_token)
        with self._lock:
            if self._store is None:
                restore_if_missing(s.db_path, target)
        snap = Snapshotter(self.store, target, s.snapshot_every_minutes, s.snapshot_debounce_seconds)
        snap.start()
        return snap

    def start(self) -> None:
        """What a server does once at start: restore a snapshot, items in the store, accounts, jobs left by a dead process."""
        self.snapshots = self.start_snapshots()
        self.sync_items()
        self.annotation.bootstrap_accounts()
        self.jobs.recover()

    def close(self) -> None:
        """At shutdown: a last snapshot of anything not yet snapshotted, then the database closes."""
        if self.snapshots is not None:
            self.snapshots.stop(final=True)
            self.snapshots = None
        if self._store is not None:
            self._store.close()

    def sync_items(self) -> int:
        """Put every labelled dialogue of the ESConv source into the store's items table."""
        rows = [{"id": d.dialogue_id, "source": d.source, "dialogue_id": d.dialogue_id, "text": d.seeker_text, "split": split,
                 "gold_emotion": d.emotion, "gold_initial": d.initial, "gold_final": d.final, "gold_change": d.change}
                for split, dialogues in self.esconv.splits.items() for d in dialogues]
        return self.store.upsert_items(rows)

    # -- data -----------------------------------------------------------------------

    def dialogue(self, dialogue_id: str) -> D.Dialogue:
        """A dialogue of the ESConv source, or of a campaign's uploaded file (kept with its item)."""
        if dialogue_id in self.esconv.by_id:
            return self.esconv.by_id[dialogue_id]
        uploaded = dialogue_of_item(self.store.item(dialogue_id)) if isinstance(dialogue_id, str) else None
        if uploaded is None:
            return self.esconv.dialogue(dialogue_id)  # raises NotFound
        return uploaded

    def hidden_from(self, actor: Annotator | None) -> set[str]:
        """Items whose gold and predictions this user may not see: those of active blind campaigns, for everyone but admins."""
        return set() if actor is not None and actor.is_admin else self.store.blinded_item_ids()

    def check_visible(self, actor: Annotator | None, item_id: str) -> None:
        if item_id in self.hidden_from(actor):
            raise PermissionDenied("this dialogue is in a blind rating campaign: its labels and predictions are hidden until the campaign closes")

    def dialogue_choices(self, query: str = "", emotion: str = analysis.ANY, problem: str = analysis.ANY, split: str = analysis.ANY,
                         initial: str = analysis.ANY, actor: Annotator | None = None) -> list[tuple[str, str]]:
        hidden = self.hidden_from(actor)
        return [c for c in analysis.dialogue_choices(self.esconv, query, emotion, problem, split, initial) if c[1] not in hidden]

    def problems(self) -> list[str]:
        return analysis.problems(self.esconv)

    def texts_from_file(self, path: str | Path) -> list[str]:
        """The seeker texts of an ESConv-format JSON file, or the lines of a text file."""
        return D.read_texts(path)

    def load_upload(self, path: str | Path) -> list[D.Dialogue]:
        """An ESConv-format file a user uploaded, checked for size first."""
        path = Path(path)
        if path.stat().st_size > MAX_UPLOAD_BYTES:
            raise InputError(f"the file is over {MAX_UPLOAD_BYTES // 2**20} MB; use the CLI (empathy-studio predict --file) for large files")
        try:
            return D.load_esconv(path)
        except DataError as exc:  # name the file as the user knows it, never the server's upload folder
            raise DataError(path.name, str(exc).removeprefix(f"{path}: ")) from None

    # -- models ---------------------------------------------------------------------

    def model_rows(self) -> list[dict[str, Any]]:
        return self.registry.rows()

    def model_choices(self) -> list[str]:
        """Models that predict: fine-tuned ones and the first-run model."""
        return [s.name for s in self.registry.all() if s.kind != "encoder"]

    def trainable_models(self) -> list[str]:
        return [s.name for s in self.registry.all() if s.kind != "quick"]

    def default_model(self, choices: Sequence[str]) -> str | None:
        return self.settings.default_model if self.settings.default_model in choices else (choices[0] if choices else None)

    def predictor(self, name: str, progress: ProgressFn | None = None) -> Predictor:
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

    def ensure_quick_model(self, progress: ProgressFn | None = None) -> ModelSpec:
        """The first-run model: frozen MiniLM plus heads trained on the gold labels at hand, built once."""
        with self._lock:
            spec = self.registry.get(QUICK_MODEL)
            if spec.kind == "finetuned":
                return spec
            req = TrainRequest(model="minilm", preset="quick", name=QUICK_MODEL)
            self.train_and_register(req, progress=progress, description=self.registry.base[QUICK_MODEL].description)
            return self.registry.get(QUICK_MODEL)

    def labels_of(self, name: str) -> list[str]:
        return list(self.predictor(name).labels)

    # -- predictions ------------------------------------------------------------------

    def predict_texts(self, name: str, texts: Sequence[str], progress: ProgressFn | None = None) -> list[Prediction]:
        return self.predictor(name, progress).predict(list(texts), progress)

    def explain_intensity(self, name: str, text: str) -> dict[str, tuple[float, list[tuple[str, float]]]]:
        return self.predictor(name).explain_intensity(text)

    def trajectory(self, name: str, dialogue_id: str) -> list[dict[str, Any]]:
        """Predicted intensity after each seeker turn, from the dialogue prefix up to that turn."""
        d = self.dialogue(dialogue_id)
        preds = self.predict_texts(name, analysis.trajectory_prefixes(d))
        return [{"turn": i + 1, "text": text, **p.to_dict()} for i, (text, p) in enumerate(zip(d.seeker_turns, preds))]

    def split_predictions(self, name: str, split: str = "test", progress: ProgressFn | None = None) -> list[dict[str, Any]]:
        """Gold and predicted labels for every dialogue of a split; predictions are cached in the store."""
        if split not in SPLITS:
            raise ConfigError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        dialogues = self.esconv.splits[split] if split != "all" else D.labelled(self.esconv.dialogues)
        cache = self.store.cached_predictions(name)
        missing = [d for d in dialogues if cache.get(d.dialogue_id, ("",))[0] != D.text_hash(d.seeker_text)]
        if missing:
            preds = self.predict_texts(name, [d.seeker_text for d in missing], progress)
            self.store.cache_predictions(name, [(d.dialogue_id, D.text_hash(d.seeker_text), p.to_dict()) for d, p in zip(missing, preds)])
            cache = self.store.cached_predictions(name)
        return [{"item_id": d.dialogue_id, "gold_emotion": d.emotion, **{f"gold_{t}": d.gold(t) for t in INTENSITY_TARGETS},
                 **{k: v for k, v in cache[d.dialogue_id][1].items() if k != "probs"}} for d in dialogues]

    # -- evaluation and analysis --------------------------------------------------------

    def evaluate(self, name: str, dataset: str = "esconv", split: str = "test", progress: ProgressFn | None = None) -> dict[str, Any]:
        splits, labels = self.sources.examples(dataset)
        if split not in SPLITS:
            raise ConfigError(f"split must be train, val, test or all, got {split!r}")
        rows = [ex for s in D.SPLITS for ex in splits[s]] if split == "all" else splits[split]
        if not rows:
            raise DataError(dataset, f"the {split} split is empty")
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
            preds = predictor.predict([ex.text for ex in rows], progress)
            pred_labels = [p.emotion for p in preds]
            pred_int = {t: [p.intensity.get(t, math.nan) for p in preds] for t in INTENSITY_TARGETS} if preds[0].intensity else None
        gold_labels = [labels[ex.label] for ex in rows]
        metrics = evaluate_predictions(gold_labels, pred_labels, gold_int, pred_int)
        return {"model": name, "dataset": dataset, "split": split, "n": len(rows), **metrics,
                "per_class": per_class_report(gold_labels, pred_labels, labels),
                "confusion": confusion_counts(gold_labels, pred_labels, labels)}

    def analyze(self, name: str, split: str = "test", progress: ProgressFn | None = None, actor: Annotator | None = None) -> dict[str, Any]:
        """A model against gold on a split of ESConv: its rows, metrics, per-class table and label order.

        Items of an active blind campaign are left out for everyone but admins (`hidden` says how many).
        """
        rows = self.split_predictions(name, split, progress)
        hidden = self.hidden_from(actor)
        shown = [r for r in rows if r["item_id"] not in hidden]
        labels = self.labels_of(name)
        return {"model": name, "split": split, "rows": shown, "metrics": analysis.metrics_of(shown), "labels": labels,
                "per_class": analysis.per_class(shown, labels), "hidden": len(rows) - len(shown)}

    @staticmethod
    def metrics_table(metrics: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        return analysis.metrics_table(metrics)

    def analysis_downloads(self, name: str, split: str = "test", actor: Annotator | None = None) -> list[Path]:
        result = self.analyze(name, split, actor=actor)
        return analysis.write_downloads(result["rows"], result["labels"], name, split, download_folder())

    def ratings_comparison(self, actor: Annotator | None, model: str) -> dict[str, Any]:
        """Admins: mean human ratings against gold, and the model's cached predictions against the ratings."""
        require(actor, "admin")
        agg = aggregate_ratings(self.store.rating_table())
        if not agg:
            raise NotFound("no ratings yet")
        items = {it["id"]: it for it in self.store.items()}
        preds = {i: r for i, (_, r) in self.store.cached_predictions(model).items()}
        return analysis.ratings_against(items, agg, preds)

    # -- annotation -----------------------------------------------------------------

    def rating_view(self, actor: Annotator | None, item_id: str, campaign: str | None = None) -> dict[str, Any]:
        """What the Annotate tab shows for an item: the dialogue (never its gold), the annotator's own rating,
        and, in an assisted campaign, the model's suggestion."""
        who = require(actor)
        d = self.dialogue(item_id)
        camp = self.annotation.campaign(campaign)
        mine = self.store.ratings(annotator=who.name, item_id=item_id, campaign_id=camp["id"])
        assisted = self.annotation.is_assisted(campaign)
        suggestion = self.predict_texts(self.annotation.queue_model(), [d.seeker_text])[0].to_dict() if assisted else None
        return {"dialogue": d, "rating": mine[0] if mine else None, "assisted": assisted, "suggestion": suggestion,
                "progress": self.annotation.progress(who, campaign), "campaign": camp}

    def check_item(self, item_id: str) -> str:
        item_id = (item_id or "").strip()
        if self.store.item(item_id) is None:
            raise NotFound(f"unknown item {item_id!r}")
        return item_id

    def set_queue(self, actor: Annotator | None, order: str, model: str, assisted: bool) -> None:
        self.annotation.set_queue_order(actor, order, model)
        self.annotation.set_assisted(actor, assisted)
        if order in ("uncertainty", "spread") and not self.store.cached_predictions(model):
            self.split_predictions(model, "all")  # the queue reads cached predictions

    def export_ratings(self, path: Path | str, fmt: str = "csv", hub_repo: str | None = None, campaign: str | None = None) -> int:
        return export_ratings(self.store, path, fmt, hub_repo, self.settings.hf_token, campaign)

    def import_ratings(self, path: Path | str, dry_run: bool = False, create_annotators: bool = False) -> dict[str, Any]:
        if not self.store.item_ids():
            self.sync_items()
        return import_ratings(self.store, path, dry_run=dry_run, create_annotators=create_annotators)

    # -- campaigns ---------------------------------------------------------------

    def create_campaign(self, actor: Annotator | None, req: CampaignRequest) -> int:
        return create_campaign(actor, req, self.sources, self.store)

    def campaign_names(self, actor: Annotator | None) -> list[str]:
        """Campaigns a signed-in user can rate in (active ones), the default last."""
        names = [c["name"] for c in self.annotation.campaigns(actor)]
        return [n for n in names if n != DEFAULT_CAMPAIGN] + [n for n in names if n == DEFAULT_CAMPAIGN]

    def first_campaign_with_work(self, actor: Annotator | None, names: Sequence[str]) -> str:
        """Of the given campaigns, the first in which this annotator still has something to rate (else the first)."""
        for name in names:
            p = self.annotation.progress(actor, name)
            if p["done"] < p["assigned"]:
                return name
        return names[0]

    def campaign_overview(self, actor: Annotator | None) -> list[dict[str, Any]]:
        """Admins: every campaign with its settings and progress."""
        require(actor, "admin")
        out = []
        for c in self.store.campaigns():
            p = self.store.campaign_progress(c["id"])
            out.append({"name": c["name"], "k": c["k"], "items": p["items"], "complete": p["complete"], "ratings": p["ratings"],
                        "blind": c["blind"], "active": c["active"], "scales": ", ".join(c["scales"]),
                        "per annotator": ", ".join(f"{n} {v}" for n, v in p["per_annotator"].items())})
        return out

    def set_campaign_active(self, actor: Annotator | None, campaign: str, active: bool) -> None:
        require(actor, "admin")
        self.store.set_campaign_active(self.store.campaign(campaign)["id"], active)

    def campaign_agreement(self, actor: Annotator | None, campaign: str, model: str | None = None, n_boot: int = 200) -> dict[str, Any]:
        require(actor, "admin")
        return self.annotation.agreement(model=model, n_boot=n_boot, campaign=campaign)

    def campaign_ratings(self, actor: Annotator | None, campaign: str) -> list[dict[str, Any]]:
        require(actor, "admin")
        return self.store.ratings(campaign_id=self.store.campaign(campaign)["id"])

    def campaign_export(self, actor: Annotator | None, campaign: str, fmt: str = "csv") -> Path:
        """Admins: a campaign's ratings as a file to download (a `datasets` folder comes zipped)."""
        require(actor, "admin")
        folder = download_folder()
        if fmt == "hf":
            export_ratings(self.store, folder / campaign, "hf", campaign=campaign)
            return Path(shutil.make_archive(str(folder / f"{campaign}-ratings-dataset"), "zip", folder, campaign))
        path = folder / f"{campaign}-ratings.{'jsonl' if fmt == 'jsonl' else 'csv'}"
        export_ratings(self.store, path, fmt, campaign=campaign)
        return path

    # -- sessions ------------------------------------------------------------------

    def sign_in(self, name: str, password: str, client: str | None = None) -> tuple[Annotator, str]:
        """An account and a session token for the browser to keep (never the password)."""
        who = self.annotation.login(name, password, client)
        return who, self.store.create_session(who)

    def resume(self, token: str | None) -> Annotator | None:
        return self.store.session_annotator(token)

    def sign_out(self, token: str | None) -> None:
        self.store.revoke_session(token)

    def needs_first_admin(self) -> bool:
        return not any(a.is_admin for a in self.store.annotators())

    def add_annotator(self, name: str, role: str = "annotator", password: str | None = None) -> Annotator:
        """Local administration (the CLI, run by whoever holds the database); the app goes through `annotation.add_annotator`."""
        return self.store.add_annotator(name, role, password)

    # -- training --------------------------------------------------------------------

    def training_defaults(self) -> dict[str, Any]:
        """The values the default preset trains with here (TrainConfig defaults, then space_config.yaml, then the preset)."""
        return preset("default", "", defaults=self.settings.training).to_dict()

    def train_and_register(self, req: TrainRequest, progress: ProgressFn | None = None, description: str = "") -> dict[str, Any]:
        manifest = self.finetune.train_and_register(req, progress, description)
        with self._lock:
            self._predictors.pop(manifest["name"], None)
        return manifest

    def estimate_training(self, actor: Annotator | None, req: TrainRequest) -> dict[str, Any]:
        require(actor, "admin")
        return self.finetune.estimate(req)

    def submit_training(self, actor: Annotator | None, req: TrainRequest) -> int:
        require(actor, "admin")
        self.registry.get(req.model)
        return self.jobs.submit(actor, req.to_dict())

    @staticmethod
    def _job_as_seen_by(actor: Annotator | None, job: dict[str, Any] | None) -> dict[str, Any] | None:
        """Everyone sees a job's state and progress; who started it, its log and its error are for admins."""
        if job is None or (actor is not None and actor.is_admin):
            return job
        return {**job, "created_by": None, "log_tail": "", "error": "failed (details for admins)" if job.get("error") else None}

    def job_list(self, actor: Annotator | None = None, limit: int = 30) -> list[dict[str, Any]]:
        return [self._job_as_seen_by(actor, j) for j in self.store.jobs()[:limit]]

    def job(self, actor: Annotator | None, job_id: int | None) -> dict[str, Any] | None:
        """A job by id, or the newest one when no id is given."""
        if job_id:
            return self._job_as_seen_by(actor, self.store.job(int(job_id)))
        jobs = self.store.jobs()
        return self._job_as_seen_by(actor, jobs[0] if jobs else None)

    def jobs_active(self) -> bool:
        return any(j["state"] in ("queued", "running") for j in self.store.jobs())

    def cancel_job(self, actor: Annotator | None, job_id: int) -> str:
        return self.jobs.cancel(actor, int(job_id))

    def run_job(self, job_id: int, progress: ProgressFn | None = None) -> dict[str, Any]:
        """In a job's child process: train the request stored in the job's row, reporting progress back to it."""
        job = self.store.job(job_id)
        if job is None:
            raise NotFound(f"no job {job_id}")
        exit_with_parent()
        reporter = JobReporter(self.store, job_id)
        manifest = self.train_and_register(TrainRequest.from_dict(job["params"]), progress=fan_out([progress, reporter]))
        reporter.finished(manifest)
        return manifest
