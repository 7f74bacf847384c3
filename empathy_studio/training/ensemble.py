"""The ensemble use case: seeker models trained with different seeds, published as one model.

`EnsembleRequest` names the members (registry names) and the new model's name.
The members must be a seed ensemble: seeker models of one task, trained on the
same training set (the same `data_hash` in their manifests, checked again on the
rebuilt set, so no member saw the val or test items) at the same length.
The ensemble is calibrated on val like any trained model (its own temperature,
intervals from its val residuals, the least text), tested on the members' test
split beside each member, and published in one atomic rename.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..models.calibration import Calibration
from ..models.ensemble import SeekerEnsemble, is_ensemble, save_ensemble
from ..models.seeker import load
from ..progress import LOADING, PhaseClock, ProgressEvent, ProgressFn, fan_out
from .families import family
from .request import EnsembleRequest, TrainRequest, utc_now

MEMBER_METRICS = ("f1_weighted", "f1_macro", "accuracy", "mse_initial", "mse_final", "mse_change")


def shared_intervals(cal: Calibration, own: list[Calibration | None]) -> None:
    """A target whose intervals every model shares exactly (the same half-widths from the same held-out residuals: heads
    fitted in closed form on features the seeds did not train, so the models predict the same intensities) keeps them:
    they come from the ridge's out-of-fold residuals over the whole training set, not from val's few."""
    if any(c is None for c in own):
        return
    for target in list(cal.quantiles):
        theirs = [c.quantiles.get(target) for c in own]
        if theirs[0] and all(q == theirs[0] for q in theirs):
            cal.quantiles[target] = dict(theirs[0])
            cal.n_residuals[target] = own[0].n_residuals.get(target, 0)


def publish_ensemble(finetuner: Any, req: EnsembleRequest, progress: ProgressFn | None = None) -> dict[str, Any]:
    """Check, build, calibrate, test and publish the ensemble. Returns its manifest."""
    clock = PhaseClock()
    emit = fan_out([progress, clock])
    target = finetuner.free_folder(req.name)
    specs = [finetuner.registry.get(m) for m in req.members]
    for spec in specs:
        if spec.kind != "finetuned" or spec.family != "seeker" or spec.path is None:
            raise ConfigError(f"{spec.name} is not a fine-tuned seeker model: an ensemble averages seeker models trained here")
        if is_ensemble(spec.path):
            raise ConfigError(f"{spec.name} is an ensemble already: name its members instead")
    manifests = [s.manifest for s in specs]
    for key, what in (("task", "tasks"), ("data_hash", "training sets"), ("policy", "labels")):
        seen = {str(m.get(key)) for m in manifests}
        if len(seen) > 1:
            raise ConfigError(f"the models were trained on different {what} ({', '.join(sorted(seen))}): a seed ensemble shares them")
    lengths = {int(m.get("hyperparameters", {}).get("max_length", 256)) for m in manifests}
    if len(lengths) > 1:
        raise ConfigError(f"the models read different lengths ({', '.join(map(str, sorted(lengths)))} tokens)")
    max_length = lengths.pop()

    fam, first = family("seeker"), manifests[0]
    request = dict(first.get("request") or {})
    # the members' training set as they read it (a model from before an option existed was trained without it)
    situation = bool(first.get("hyperparameters", {}).get("situation", False))
    request.update(model=specs[0].name, dataset=req.dataset or request.get("dataset"), release=request.get("release"), situation=situation)
    train_req = TrainRequest.from_dict(request)
    tset = fam.training_set(finetuner, train_req)
    if tset.notes["data_hash"] != manifests[0]["data_hash"]:
        raise ConfigError(
            "the members' training set is not the one rebuilt here (its hash differs): name the file they were trained on with --dataset"
        )

    emit(ProgressEvent(LOADING, 0, len(specs), "the members"))
    members, tokenizer = [], None
    for i, spec in enumerate(specs):
        model, tokenizer = load(spec.path)
        members.append(model)
        emit(ProgressEvent(LOADING, i + 1, len(specs), spec.name))
    own = [Calibration.load(spec.path) for spec in specs]
    temperatures = [cal.temperature if cal else 1.0 for cal in own]
    ensemble = SeekerEnsemble(members, temperatures)
    predictor = fam.predictor(ensemble, tokenizer, req.name, max_length)
    fam.finish(predictor, {}, tset, emit)  # temperature, the least text, and intervals from the ensemble's own val residuals
    shared_intervals(predictor.calibration, own)
    metrics = fam.test_metrics(finetuner, predictor, tset, train_req, emit)
    member_metrics = {}
    for spec, model in zip(specs, members):  # each member on the same test items (F1 and MSE need no calibration)
        one = fam.test_metrics(finetuner, fam.predictor(model, tokenizer, spec.name, max_length), tset, train_req, emit)
        member_metrics[spec.name] = {k: one[k] for k in MEMBER_METRICS if isinstance(one.get(k), float)}
    scored = list(member_metrics.values())
    means = {k: float(np.mean([m[k] for m in scored])) for k in MEMBER_METRICS if all(k in m for m in scored)}
    manifest = {
        "name": req.name,
        "description": req.description,
        "ensemble": list(req.members),
        "parent": first.get("parent"),
        "parent_source": first.get("parent_source"),
        "task": first.get("task"),
        "objective": first.get("objective"),
        "family": fam.name,
        "policy": first.get("policy"),
        **{k: first[k] for k in ("n_train", "n_val", "n_test") if k in first},
        "hyperparameters": {**first.get("hyperparameters", {}), "seed": [m.get("hyperparameters", {}).get("seed") for m in manifests]},
        "members_temperatures": temperatures,
        **tset.notes,
        "heads": ensemble.heads_config.to_dict(),
        "request": request,
        "release": first.get("release"),
        "metrics": metrics,
        "members_metrics": member_metrics,
        "members_mean": means,
        "delta": {k: metrics[k] - v for k, v in means.items() if isinstance(metrics.get(k), float)},
        "compared_with": None,
        "compared_on": {"dataset": tset.notes["dataset"], "split": "test", "n": len(tset.splits["test"])},
        "phases_s": clock.seconds(),
        "device": str(predictor.device),
        "created_at": utc_now(),
    }

    def write(folder: Path) -> None:
        save_ensemble(ensemble, tokenizer, folder, req.members, manifest)
        predictor.calibration.save(folder)

    finetuner.publish(target, manifest, write, emit)
    return manifest
