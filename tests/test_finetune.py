"""The fine-tune use case: one mapping from request to config, the request's own checks, its CLI options, the task table, tracking."""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import subprocess
import sys

import pytest

from empathy_studio.cli import build_parser, request_from_args
from empathy_studio.errors import ConfigError, UserError
from empathy_studio.tasks import TASKS, get_task
from empathy_studio.training.config import PRESETS, RATER_PRESETS, SETTABLE, TrainConfig, check_overrides
from empathy_studio.training.request import TrainRequest, training_config

from .conftest import ROOT, save_tiny_model

FAMILY_PHASES = {
    "seeker": {"loading", "training", "embedding", "evaluating", "fitting intensity heads", "calibrating", "testing"},
    "rater": {"loading", "training", "evaluating", "testing"},
}


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_estimate_and_training_run_the_same_batches_for_every_preset_of_both_families(tiny_studio, tiny_encoder, monkeypatch, name):
    from empathy_studio import registry

    from .conftest import EPITOME

    rater = name in RATER_PRESETS
    if rater and not EPITOME.exists():
        pytest.skip("EPITOME is not beside the project (../shared/data)")
    monkeypatch.setitem(tiny_studio.registry.base, "tiny-bert", registry.ModelSpec("tiny-bert", "encoder", str(tiny_encoder)))
    req = TrainRequest(
        model="tiny-bert" if rater else "tiny",
        task="empathy" if rater else "emotion-intensity",
        preset=name,
        max_steps=2,
        max_length=32 if rater else None,
        name=f"p-{name}",
    )
    estimate = tiny_studio.finetune.estimate(req)
    manifest = tiny_studio.train_and_register(req)
    trained = manifest["hyperparameters"]
    assert (estimate["batch_size"], estimate["max_length"], estimate["epochs"]) == (
        trained["batch_size"],
        trained["max_length"],
        trained["epochs"],
    )
    assert estimate["estimated_seconds"] >= 0 and estimate["steps"] >= 1 and manifest["family"] == ("rater" if rater else "seeker")
    assert trained["freeze_encoder"] == PRESETS[name].get("freeze_encoder", False)
    if not trained["freeze_encoder"]:  # the steps the estimate counts are the optimiser steps the Trainer ran
        assert estimate["steps"] == max(h["step"] for h in manifest["history"]) == 2
    assert set(estimate["phases"]) == FAMILY_PHASES[manifest["family"]]
    # the probe is timed once per shape of training on this machine, then read back
    assert tiny_studio.finetune.estimate(req)["probe_cached"] is True


def test_defaults_then_settings_then_preset_then_request(settings):
    mine = settings.replace(training={"epochs": 9.0, "batch_size": 4})
    base = training_config(TrainRequest(model="m"), settings, "enc")
    assert (base.epochs, base.batch_size) == (TrainConfig.epochs, TrainConfig.batch_size)  # nothing set: the dataclass defaults
    cfg = training_config(TrainRequest(model="m"), mine, "enc")
    assert (cfg.epochs, cfg.batch_size, cfg.ridge_intensity) == (9.0, 4, True)  # space_config.yaml over the defaults
    paper = training_config(TrainRequest(model="m", preset="paper"), mine, "enc")
    assert (paper.epochs, paper.batch_size, paper.max_length) == (1000, 6, 512)  # the preset over space_config.yaml
    asked = training_config(TrainRequest(model="m", preset="paper", epochs=2, batch_size=3), mine, "enc")
    assert (asked.epochs, asked.batch_size) == (2.0, 3)  # the request over the preset
    assert training_config(TrainRequest(model="m", task="emotion"), settings, "enc").objective == "classify"


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("batch_size", 0, "batch_size must be an integer from 1 to 4096, got 0"),
        ("batch_size", 2.5, "batch_size must be an integer from 1 to 4096, got 2.5"),
        ("epochs", 0, "epochs must be a number above 0, at most 10000, got 0"),
        ("epochs", float("nan"), "epochs must be a number above 0"),
        ("learning_rate", -1e-5, "learning_rate must be a number above 0, at most 1"),
        ("max_length", 100_000, "max_length must be an integer from 8 to 8192"),
        ("seed", -1, "seed must be an integer from 0"),
        ("min_annotators", 0, "min_annotators must be an integer from 1"),
        ("task", "poetry", "task must be one of emotion-intensity"),
        ("policy", "everything", "policy must be one of gold"),
        ("report_to", "mlflow", "report_to must be one of none, trackio"),
        ("name", "../../x", "model name '../../x' is not allowed"),
        ("name", ".hidden", "is not allowed"),
        ("name", "a/b", "is not allowed"),
    ],
)
def test_the_request_refuses_what_no_path_may_accept(field, value, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")) as err:
        TrainRequest(model="minilm", **{field: value})
    assert isinstance(err.value, UserError) and "\n" not in str(err.value)


def test_the_cli_refuses_the_same_values_with_the_same_message(tmp_path):
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "empathy_studio.cli",
            "train",
            "--model",
            "minilm",
            "--batch-size",
            "0",
            "--models-dir",
            str(tmp_path / "m"),
            "--db",
            str(tmp_path / "db.sqlite"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert res.returncode == 2 and res.stderr.strip() == "empathy-studio: error: batch_size must be an integer from 1 to 4096, got 0"
    assert not (tmp_path / "m").exists()  # refused before any work


def test_every_request_field_is_a_train_option_and_parses_back():
    train = next(a for a in build_parser()._actions if a.dest == "command").choices["train"]
    dests = {a.dest for a in train._actions}
    assert {f.name for f in dataclasses.fields(TrainRequest)} <= dests
    args = build_parser().parse_args(
        [
            "train",
            "--model",
            "minilm",
            "--epochs",
            "3",
            "--balanced",
            "--report-to",
            "trackio",
            "--task",
            "emotion",
            "--min-annotators",
            "2",
        ]
    )
    assert request_from_args(args) == TrainRequest(
        model="minilm", epochs=3.0, balanced=True, report_to="trackio", task="emotion", min_annotators=2
    )
    bare = request_from_args(build_parser().parse_args(["train", "--model", "minilm"]))
    assert bare == TrainRequest(model="minilm")  # options not given keep the dataclass defaults, defined once


def test_a_request_survives_the_trip_through_a_job_row():
    req = TrainRequest(model="minilm", task="emotion", epochs=2, with_ratings="other.sqlite", name="x-1")
    assert req.policy == "gold+ratings"  # a ratings database implies ratings in the data
    assert TrainRequest.from_dict(json.loads(json.dumps(req.to_dict()))) == req
    with pytest.raises(ConfigError, match="unknown training options"):
        TrainRequest.from_dict({**req.to_dict(), "warmup_ratio": 0.1})


def test_space_config_training_block_is_checked():
    assert check_overrides({"epochs": 3, "warmup": 0.2}, "cfg") == {"epochs": 3.0, "warmup": 0.2}
    with pytest.raises(ConfigError, match="unknown training keys \\['warmup_ratio'\\]"):
        check_overrides({"warmup_ratio": 0.1}, "cfg")
    with pytest.raises(ConfigError, match="training.batch_size must be an integer"):
        check_overrides({"batch_size": 0}, "cfg")
    assert set(SETTABLE) <= {f.name for f in dataclasses.fields(TrainConfig)}


def test_the_task_table_decides_data_labels_and_heads(tiny_studio):
    assert get_task("multitask") is TASKS["emotion-intensity"] and get_task("classify") is TASKS["emotion"]
    with pytest.raises(ConfigError, match="sad is for --task stressor"):
        tiny_studio.finetune.training_set(TrainRequest(model="tiny", task="emotion", dataset="sad"))
    with pytest.raises(ConfigError, match="trains on gold labels only"):
        tiny_studio.finetune.training_set(TrainRequest(model="tiny", task="stressor", policy="ratings"))
    tset = tiny_studio.finetune.training_set(TrainRequest(model="tiny", task="emotion"))
    splits, labels = tset.splits, tset.labels
    assert labels == TASKS["emotion"].labels and splits["train"]
    manifest = tiny_studio.train_and_register(TrainRequest(model="tiny", task="emotion", preset="paper-heads", max_steps=1, name="emo"))
    assert manifest["task"] == "emotion" and manifest["objective"] == "classify" and manifest["metrics"]["mse_initial"] is None


def test_training_reports_named_phases_in_order(tiny_studio, tiny_encoder):
    heads = {"pooling": "mean", "intensity_head": "linear", "intensity_layer": 1}
    save_tiny_model(tiny_encoder, tiny_studio.settings.models_dir / "tiny-linear", heads)
    events = []
    tiny_studio.train_and_register(TrainRequest(model="tiny-linear", max_steps=2, name="phases", max_length=32), progress=events.append)
    phases = list(dict.fromkeys(e.phase for e in events))
    assert phases == [
        "loading",
        "tokenising",
        "training",
        "evaluating",
        "embedding",
        "fitting intensity heads",
        "calibrating",
        "testing",
        "publishing",
    ]


def test_report_to_trackio_logs_offline_to_a_local_folder(tmp_path, tiny_encoder):
    pytest.importorskip("trackio", reason="trackio is the optional [tracking] extra")
    save_tiny_model(tiny_encoder, tmp_path / "models" / "tiny")
    env = {**os.environ, "TRACKIO_DIR": str(tmp_path / "trackio"), "HF_HUB_OFFLINE": "1"}
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "empathy_studio.cli",
            "train",
            "--model",
            "tiny",
            "--name",
            "tracked",
            "--max-steps",
            "3",
            "--max-length",
            "32",
            "--batch-size",
            "4",
            "--report-to",
            "trackio",
            "--esconv",
            str(ROOT / "assets" / "demo_esconv.json"),
            "--models-dir",
            str(tmp_path / "models"),
            "--db",
            str(tmp_path / "db.sqlite"),
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    dbs = list((tmp_path / "trackio").glob("*.db"))
    assert [p.stem for p in dbs] == ["empathy-studio"]
    with sqlite3.connect(dbs[0]) as con:
        runs = {r[0] for r in con.execute("SELECT DISTINCT run_name FROM metrics")}
        logged = " ".join(bytes(r[0]).decode() if not isinstance(r[0], str) else r[0] for r in con.execute("SELECT metrics FROM metrics"))
    assert runs == {"tracked"} and "eval/loss" in logged and "train/global_step" in logged


def test_report_to_a_missing_tracker_says_what_to_install(tiny_studio, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    with pytest.raises(ConfigError, match="--report-to wandb needs the wandb package"):
        tiny_studio.train_and_register(TrainRequest(model="tiny", report_to="wandb", max_steps=1, name="nope"))
    assert not (tiny_studio.settings.models_dir / "nope").exists()


def test_every_phase_of_a_fine_tune_is_timed_in_its_manifest_and_job_row_as_the_estimate_names_them(tiny_studio, tiny_encoder):
    from empathy_studio.progress import EMBEDDING, EVALUATING, FITTING_HEADS, PhaseClock, ProgressEvent

    ticks = iter([0.0, 2.0, 3.0, 7.0, 7.5, 9.0, 12.0])  # a fake clock: start, then one reading per event, then the close
    clock = PhaseClock(clock=lambda: next(ticks))
    for event in (
        ProgressEvent(EMBEDDING, 0, 10),
        ProgressEvent(EMBEDDING, 10, 10),
        ProgressEvent("training", 5, 10),
        ProgressEvent(EVALUATING, 5, 10),
        ProgressEvent(FITTING_HEADS, 0, 1),
    ):
        clock(event)
    assert clock.seconds() == {"loading": 2.0, "embedding": 1.0, "training": 4.0, "evaluating": 2.0, "fitting intensity heads": 3.0}
    save_tiny_model(tiny_encoder, tiny_studio.settings.models_dir / "tiny-ridge", {"intensity_head": "linear", "pooling": "mean"})
    req = TrainRequest(model="tiny-ridge", max_steps=2, name="timed", max_length=32)
    estimate = tiny_studio.finetune.estimate(req)
    manifest = tiny_studio.train_and_register(req)
    assert {k for k, v in estimate["phases"].items() if v > 0} <= set(manifest["phases_s"])  # every phase estimated is timed
    assert {"embedding", "fitting intensity heads", "calibrating", "testing"} <= set(manifest["phases_s"])
    assert estimate["after_training_s"] == pytest.approx(
        sum(v for k, v in estimate["phases"].items() if k not in ("loading", "training")), abs=0.5
    )
