"""Models, predictions, evaluation and the researcher's analyses: the `ModelServices` part of `Studio`."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from .. import analysis
from .. import data as D
from ..errors import ConfigError, DataError, ModelUnavailable, NotFound
from ..jobs import exit_with_parent
from ..labels import ESCONV_EMOTIONS, INTENSITY_TARGETS
from ..metrics import confusion_counts, evaluate_predictions, per_class_report
from ..models.baselines import ZeroR
from ..models.calibration import Calibration
from ..progress import ProgressEvent, ProgressFn
from ..registry import HEADS_FILE, QUICK_MODEL, QUICK_RATER, ModelSpec
from ..sources import FAILED, DataSources
from ..store import Annotator, require
from ..study.agreement import aggregate_ratings
from ..tasks import get_task
from ..training.request import TrainRequest
from .base import SPLITS, download_folder

if TYPE_CHECKING:  # torch and transformers load on first use of a model, not at start-up
    from ..models.predictor import BatchPredictor
    from ..models.seeker_predictor import Prediction, Predictor


DEFAULT_MODEL_KEY = "default_model"  # app setting: the default an admin chose, over space_config.yaml's


def _starter_seeker(sources: DataSources) -> TrainRequest:
    """Frozen MiniLM plus heads trained on the gold labels at hand. FailedESConv joins ESConv where it is configured:
    ESConv alone teaches that intensity always falls."""
    both = f"esconv+{FAILED}"
    return TrainRequest(model="minilm", preset="quick", name=QUICK_MODEL, dataset=both if both in sources.esconv_datasets() else None)


def _starter_rater(sources: DataSources) -> TrainRequest:
    """MiniLM trained one epoch on EPITOME (preset rater-quick)."""
    if sources.epitome is None:
        raise ModelUnavailable(f"{QUICK_RATER} is built from EPITOME, which is not configured (space_config.yaml: epitome)")
    return TrainRequest(model="minilm", task="empathy", preset="rater-quick", name=QUICK_RATER)


STARTERS = {QUICK_MODEL: _starter_seeker, QUICK_RATER: _starter_rater}  # the models built on first use, and how
WRONG_FAMILY = {  # a model asked for as the other family's
    "seeker": "{name} is an empathy rater, not a model of the seeker; models: {listing}",
    "rater": "{name} is not an empathy rater; raters: {listing} (empathy-studio train --task empathy --model minilm)",
}
EXPLAIN_THRESHOLD = 0.05  # on the 1-5 scale: a term that moves a prediction less than this is noise to a reader


class ModelServices:
    def model_rows(self) -> list[dict[str, Any]]:
        return self.registry.rows()

    def model_choices(self) -> list[str]:
        """Models of the seeker that predict: fine-tuned ones and the first-run model (empathy raters are `rater_choices`)."""
        return [s.name for s in self.registry.of_family("seeker")]

    def trainable_models(self) -> list[str]:
        """Base encoders and the seeker models a fine-tune may continue from."""
        return [
            s.name
            for s in self.registry.all()
            if s.kind == "encoder" or (s.kind == "finetuned" and s.family == "seeker" and not s.manifest.get("ensemble"))
        ]

    def ensemble_candidates(self) -> list[str]:
        """The trained seeker models an ensemble may average (an ensemble is not one of them)."""
        return [s.name for s in self.registry.finetuned() if s.family == "seeker" and not s.manifest.get("ensemble")]

    def default_model(self, choices: Sequence[str] | None = None) -> str | None:
        """The model lists open on: the one an admin set, else space_config.yaml's, else the first that predicts."""
        choices = self.model_choices() if choices is None else choices
        for name in (self.store.get_setting(DEFAULT_MODEL_KEY), self.settings.default_model):
            if name in choices:
                return name
        return choices[0] if choices else None

    # -- managing models (admins) -------------------------------------------------------

    def set_default_model(self, actor: Annotator | None, name: str) -> str:
        require(actor, "admin")
        if name not in self.model_choices():
            raise ModelUnavailable(f"{name!r} is not a model that predicts; choose from {', '.join(self.model_choices())}")
        self.store.set_setting(DEFAULT_MODEL_KEY, name)
        return name

    def rename_model(self, actor: Annotator | None, old: str, new: str) -> str:
        require(actor, "admin")
        new = (new or "").strip()
        with self._lock:
            self.registry.rename(old, new)
            self._forget(old)
            self.store.move_cached_predictions(old, new)
            self.store.rename_job_model(old, new)  # the job that made it names it as it is now
            if self.store.get_setting(DEFAULT_MODEL_KEY) == old:
                self.store.set_setting(DEFAULT_MODEL_KEY, new)
        return new

    def delete_model(self, actor: Annotator | None, name: str) -> str | None:
        """Delete a trained model; when it was the default, the model the lists fall back to (said to the admin), else None."""
        require(actor, "admin")
        with self._lock:
            self.registry.delete(name)
            self._forget(name)
            self.store.move_cached_predictions(name, None)
            if self.store.get_setting(DEFAULT_MODEL_KEY) == name or self.settings.default_model == name:
                self.store.set_setting(DEFAULT_MODEL_KEY, None)
                return self.default_model() or "none"
        return None

    def _forget(self, name: str) -> None:
        """Whatever is held in memory under a model's name: its predictor, of whichever family."""
        self._predictors.pop(name, None)

    def predictor(self, name: str, progress: ProgressFn | None = None) -> Predictor:
        """A seeker model's predictor, loaded once (a starter model is built first)."""
        return self.loaded(name, "seeker", progress)

    def loaded(self, name: str, family: str, progress: ProgressFn | None = None) -> BatchPredictor:
        """The predictor of a model of `family`, loaded once and kept; a starter model is built on first use, outside the
        studio's lock, so other models keep predicting meanwhile."""
        with self._lock:
            held = self._predictors.get(name)
            if held is not None and held.family == family:
                return held
            spec = self.registry.get(name)
        if spec.family != family:
            listing = self.model_choices() if family == "seeker" else self.rater_choices()
            raise ModelUnavailable(WRONG_FAMILY[family].format(name=name, listing=", ".join(listing) or "none yet"))
        if spec.kind == "quick":
            self.check_may_build(name)
            spec = self.ensure_starter(name, progress)
        with self._lock:
            if name not in self._predictors:
                if spec.kind != "finetuned" or spec.path is None:
                    raise ModelUnavailable(
                        f"{name} is a base encoder with untrained heads: fine-tune it first "
                        f"(empathy-studio train --model {name}) or pick {QUICK_MODEL}"
                    )
                from ..training.families import family as family_named

                max_length = int(spec.manifest.get("hyperparameters", {}).get("max_length", 256))
                self._predictors[name] = family_named(family).load_predictor(spec.path, name, max_length)
            return self._predictors[name]

    def ensure_starter(self, name: str, progress: ProgressFn | None = None) -> ModelSpec:
        """A model built on first use (`STARTERS`), built once; its progress says what happens and that it happens once."""
        from ..training.families import family_of

        with self._starter_lock:
            spec = self.registry.get(name)
            if spec.kind == "finetuned":
                return spec
            req = STARTERS[name](self.sources)
            note = family_of(req.task_spec).starter_note

            def starter(event: ProgressEvent) -> None:  # "building the starter model", not "embedding 17.8%"
                if progress:
                    progress(dataclasses.replace(event, phase=note, detail=event.label))

            self.train_and_register(req, progress=starter, description=self.registry.base[name].description)
            return self.registry.get(name)

    def ensure_quick_model(self, progress: ProgressFn | None = None) -> ModelSpec:
        return self.ensure_starter(QUICK_MODEL, progress)

    def labels_of(self, name: str) -> list[str]:
        """A model's label order, read from its heads.json: Analyze on cached predictions never loads the weights."""
        spec = self.registry.get(name)
        if spec.path is not None and (spec.path / HEADS_FILE).exists():
            try:
                return list(json.loads((spec.path / HEADS_FILE).read_text())["labels"])
            except (ValueError, KeyError, TypeError):
                pass  # the predictor says what is wrong with the folder
        return list(self.predictor(name).labels)

    # -- predictions ------------------------------------------------------------------

    def predict_texts(self, name: str, texts: Sequence[str], progress: ProgressFn | None = None) -> list[Prediction]:
        return self.predictor(name, progress).predict(list(texts), progress)

    def predict_dialogues(self, name: str, dialogues: Sequence[D.Dialogue], progress: ProgressFn | None = None) -> list[Prediction]:
        """Predictions of what a seeker model reads of each dialogue (`dialogue_texts`)."""
        return self.predict_texts(name, self.dialogue_texts(name, dialogues, progress), progress)

    def dialogue_texts(self, name: str, dialogues: Sequence[D.Dialogue], progress: ProgressFn | None = None) -> list[str]:
        """What a seeker model reads of each dialogue: the seeker's words, after their situation for a model that reads it."""
        predictor = self.predictor(name, progress)
        return [predictor.dialogue_text(d) for d in dialogues]

    def explain_intensity(self, name: str, text: str) -> dict[str, tuple[float, list[tuple[str, float]], float]]:
        """Per target: all words' share of the prediction, the terms that move it at least EXPLAIN_THRESHOLD (stop words dropped),
        the rest."""
        return self.predictor(name).explain_intensity(text, k=8, threshold=EXPLAIN_THRESHOLD, drop_stop_words=True)

    def intensity_baseline(self, name: str) -> dict[str, tuple[float, float]]:
        """Per intensity target: (the average training seeker's value, what the average training text's words add), where a
        word explanation starts; empty for a model trained before these were recorded."""
        ridge = self.registry.get(name).manifest.get("ridge") or {}
        return {
            t: (r["train_mean"], r.get("words_mean") or 0.0)
            for t, r in ridge.items()
            if isinstance(r, dict) and r.get("train_mean") is not None
        }

    def trajectory(self, name: str, dialogue_id: str) -> list[dict[str, Any]]:
        """Predicted intensity after each seeker turn, from the dialogue prefix up to that turn."""
        d = self.dialogue(dialogue_id)
        predictor = self.predictor(name)
        preds = self.predict_texts(name, [predictor.dialogue_text(d, text) for text in analysis.trajectory_prefixes(d)])
        return [{"turn": i + 1, "text": text, **p.to_dict()} for i, (text, p) in enumerate(zip(d.seeker_turns, preds))]

    def split_predictions(
        self, name: str, split: str = "test", progress: ProgressFn | None = None, dataset: str = "esconv"
    ) -> list[dict[str, Any]]:
        """Gold and predicted labels for every dialogue of a split of an ESConv-format dataset; predictions are cached in the store."""
        if split not in SPLITS:
            raise ConfigError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        source = self.sources.esconv_like(dataset)
        dialogues = source.splits[split] if split != "all" else D.labelled(source.dialogues)
        cache = self.store.cached_predictions(name)
        hashes = source.text_hashes
        missing = [d for d in dialogues if cache.get(d.dialogue_id, ("",))[0] != hashes[d.dialogue_id]]
        if missing:
            preds = self.predict_dialogues(name, missing, progress)
            self.store.cache_predictions(name, [(d.dialogue_id, hashes[d.dialogue_id], p.to_dict()) for d, p in zip(missing, preds)])
            cache = self.store.cached_predictions(name)
        return [
            {
                "item_id": d.dialogue_id,
                "gold_emotion": d.emotion,
                **{f"gold_{t}": d.gold(t) for t in INTENSITY_TARGETS},
                **cache[d.dialogue_id][1],
            }
            for d in dialogues
        ]

    def warm_pending(self) -> list[tuple[str, Path]]:
        """Built models that predict ESConv's labels and lack a cached prediction for some labelled dialogue, and built raters
        that have not scored every ESConv supporter turn whose seeker rated the supporter's empathy."""
        wanted = self.esconv.text_hashes  # polled every few seconds by the warmer: hashed once per source
        out = []
        for spec in self.registry.finetuned():
            try:
                esconv_task = get_task(spec.manifest.get("task") or "emotion-intensity").labels == ESCONV_EMOTIONS
            except ConfigError:
                esconv_task = False
            if esconv_task and spec.path is not None:
                cached = self.store.cached_hashes(spec.name)
                if any(cached.get(i) != h for i, h in wanted.items()):
                    out.append((spec.name, spec.path))
            elif spec.family == "rater" and spec.path is not None and self.rater_turns_missing(spec.name, "esconv")[0]:
                out.append((spec.name, spec.path))  # a rater: its scores of ESConv's supporter turns, for Analyze's external check
        return out

    def warm(self, name: str, progress: ProgressFn | None = None) -> int:
        """Predict and cache every labelled ESConv dialogue for a model (what the background warmer runs); how many there are.

        Run by the warmer (in a server's child), it leaves as soon as the server is gone, and never creates a database."""
        if self.settings.server_pid:
            exit_with_parent(self.settings.server_pid)
        return WARMS[self.registry.get(name).family](self, name, progress)

    # -- evaluation and analysis --------------------------------------------------------

    def evaluate(self, name: str, dataset: str = "esconv", split: str = "test", progress: ProgressFn | None = None) -> dict[str, Any]:
        """A model (or `zeror`) on a split of a dataset, with ZeroR fitted on the model's own training data beside it.

        `baseline.fitted_on` says where ZeroR's constants come from: the train split of the model's training
        dataset when it is available here, else the evaluated dataset's (and it says so). `dropped` counts the
        records the loader left out, by reason.
        """
        splits, labels = self.sources.examples(dataset)
        if split not in SPLITS:
            raise ConfigError(f"split must be train, val, test or all, got {split!r}")
        rows = [ex for s in D.SPLITS for ex in splits[s]] if split == "all" else splits[split]
        if not rows:
            raise DataError(dataset, f"the {split} split is empty")
        gold_int = {t: [getattr(ex, t) for ex in rows] for t in INTENSITY_TARGETS}
        has_intensity = any(not math.isnan(v) for v in gold_int["initial"])
        gold_labels = [labels[ex.label] for ex in rows]
        trained_on = dataset if name == "zeror" else self.registry.get(name).manifest.get("dataset") or "esconv"
        zeror, fitted_on = self._zeror_for(trained_on, dataset, splits)

        def zeror_metrics() -> dict[str, Any]:
            return evaluate_predictions(
                gold_labels,
                [labels[i] for i in zeror.predict_labels(len(rows))],
                gold_int,
                zeror.predict_intensity(len(rows)) if has_intensity else None,
            )

        if name == "zeror":
            metrics = zeror_metrics()
            pred_labels = [labels[zeror.label]] * len(rows)
        else:
            predictor = self.predictor(name, progress)
            if list(predictor.labels) != list(labels):
                raise ModelUnavailable(f"{name} predicts {', '.join(predictor.labels)}, not the labels of {dataset}")
            read = D.with_situations(rows, self.sources.situations(dataset)) if predictor.reads_situation else rows
            preds = predictor.predict([ex.text for ex in read], progress)
            pred_labels = [p.emotion for p in preds]
            pred_int = {t: [p.intensity.get(t, math.nan) for p in preds] for t in INTENSITY_TARGETS} if preds[0].intensity else None
            metrics = evaluate_predictions(gold_labels, pred_labels, gold_int, pred_int)
        source = self.sources.esconv_like(dataset) if dataset not in ("sad", "epitome") else None
        return {
            "model": name,
            "dataset": dataset,
            "split": split,
            "n": len(rows),
            **metrics,
            "baseline": {"name": "ZeroR", "fitted_on": fitted_on, **({} if name == "zeror" else zeror_metrics())},
            "dropped": source.dropped if source else {},
            "dropped_note": source.dropped_note() if source else "",
            "per_class": per_class_report(gold_labels, pred_labels, labels),
            "confusion": confusion_counts(gold_labels, pred_labels, labels),
        }

    def _zeror_for(self, trained_on: str, evaluated: str, splits: dict[str, list[D.Example]]) -> tuple[ZeroR, str]:
        """ZeroR from the train split of the data a model learned from; the evaluated data's only when that is not here."""
        if trained_on == evaluated:
            return ZeroR.fit(splits["train"]), f"train split of {trained_on}"
        try:
            own, _ = self.sources.examples(trained_on)
            return ZeroR.fit(own["train"]), f"train split of {trained_on} (the model's training data)"
        except (DataError, OSError):
            return ZeroR.fit(
                splits["train"]
            ), f"train split of {evaluated} (the model's training data, {trained_on}, is not available here)"

    def analyze(
        self, name: str, split: str = "test", progress: ProgressFn | None = None, actor: Annotator | None = None, dataset: str = "esconv"
    ) -> dict[str, Any]:
        """A model against gold on a split of an ESConv-format dataset: rows, metrics, per-class table, calibration, label order.

        Items of an active blind campaign are left out for everyone but admins (`hidden` says how many);
        `dropped_note` says which records the loader left out, and why.
        """
        rows = self.split_predictions(name, split, progress, dataset)
        hidden = self.hidden_from(actor)
        shown = [r for r in rows if r["item_id"] not in hidden]
        labels = self.labels_of(name)
        spec = self.registry.get(name)
        cal = Calibration.load(spec.path) if spec.path is not None else None
        calibrated = analysis.calibration_of(shown, cal.temperature) if cal is not None and shown and shown[0].get("probs") else None
        return {
            "model": name,
            "split": split,
            "dataset": dataset,
            "rows": shown,
            "metrics": analysis.metrics_of(shown),
            "labels": labels,
            "per_class": analysis.per_class(shown, labels),
            "hidden": len(rows) - len(shown),
            "calibration": calibrated,
            "dropped_note": self.sources.esconv_like(dataset).dropped_note(),
        }

    @staticmethod
    def metrics_table(metrics: dict[str, dict[str, Any]], compared: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        return analysis.metrics_table(metrics, compared)

    @staticmethod
    def compare(a: dict[str, Any], b: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """B − A on the items both were scored on, with paired bootstrap CIs (results of `analyze`)."""
        return analysis.paired_bootstrap(a["rows"], b["rows"])

    def analysis_downloads(
        self, names: Sequence[str], split: str = "test", actor: Annotator | None = None, dataset: str = "esconv", full_scale: bool = False
    ) -> list[Path]:
        """Figures (the on-screen ones), metrics, per-class table and predictions of each model, in one folder."""
        folder = download_folder()
        out: list[Path] = []
        where = f"{dataset}-{split}" if dataset != "esconv" else split
        results = {}
        for name in dict.fromkeys(names):
            result = results[name] = self.analyze(name, split, actor=actor, dataset=dataset)
            out += analysis.write_downloads(
                result["rows"],
                result["labels"],
                name,
                where,
                folder,
                full_scale,
                result["calibration"],
                self._zeror_rows(name, dataset, result["rows"]),
            )
        if len(results) == 2:  # the B − A table with its paired bootstrap CIs, as on screen
            (a, ra), (b, rb) = results.items()
            out.append(analysis.write_comparison(a, b, {a: ra["metrics"], b: rb["metrics"]}, self.compare(ra, rb), where, folder))
        return out

    def _zeror_rows(self, name: str, dataset: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        """ZeroR on the same items, fitted on the train split of the data the model learned from (as `evaluate` does)."""
        try:
            splits, labels = self.sources.examples(dataset)
        except (DataError, OSError):
            return None
        zr, _ = self._zeror_for(self.registry.get(name).manifest.get("dataset") or "esconv", dataset, splits)
        return analysis.zeror_rows(rows, labels[zr.label], zr.means) if rows else None

    def analysis_datasets(self) -> list[str]:
        return self.sources.esconv_datasets()

    def ratings_comparison(self, actor: Annotator | None, model: str, release: str | None = None) -> dict[str, Any]:
        """Admins: human ratings against gold, and the model against them. The reference is every rating in the database
        (the mean per item), or a release's consensus labels; the model's predictions come from the cache, and the few a
        release's items lack are made here."""
        require(actor, "admin")
        agg = self.release_labels(release) if release else aggregate_ratings(self.store.rating_table())
        if not agg:
            raise NotFound("no settled intensity labels in that release" if release else "no ratings yet")
        items = {it["id"]: it for it in self.store.items()}
        preds = {i: r for i, (_, r) in self.store.cached_predictions(model).items()}
        if release:
            missing = [i for i in agg if i in items and i not in preds and "initial" in agg[i]]
            if missing:
                found = self.predict_dialogues(model, [self.dialogue(i) for i in missing])
                preds.update({i: p.to_dict() for i, p in zip(missing, found)})
        return {**analysis.ratings_against(items, agg, preds), "reference": release or "all ratings"}


# What the background warmer caches for a built model of each family: a seeker model's predictions of every labelled
# ESConv dialogue; a rater's scores of ESConv's supporter turns, which Analyze's external check reads.
WARMS = {
    "seeker": lambda studio, name, progress: len(studio.split_predictions(name, "all", progress)),
    "rater": lambda studio, name, progress: studio.empathy_check(name, "esconv", progress)["turns"],
}
