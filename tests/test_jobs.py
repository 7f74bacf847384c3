"""Training jobs with a tiny model: completion and registration, cancel, SIGKILL, restart recovery, queueing, roles, leakage."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest

from empathy_studio.data import DEMO_PATH
from empathy_studio.services import Studio, TrainRequest
from empathy_studio.store import PermissionDenied

from .conftest import wait_for

TINY = dict(dataset="esconv", max_length=32, batch_size=8)


@pytest.fixture
def studio(tiny_studio):
    return tiny_studio


def _wait_for(pred, timeout=120):
    return wait_for(pred, timeout)


def test_job_completes_and_registers_a_model_with_lineage(studio):
    root = studio.annotation.login("root", "pw")
    request = TrainRequest(model="tiny", epochs=2, name="tiny-child", **TINY)
    job_id = studio.jobs.submit(root, request.to_dict())
    job = studio.jobs.wait(job_id, timeout=240)
    assert job["state"] == "succeeded", job["log_tail"]
    # the child read the request from the job's row: every field arrived as it was asked, and the
    # comparison was filled in with the parent, which has test metrics
    assert studio.registry.get("tiny-child").manifest["request"] == {**request.to_dict(), "compare_with": "tiny"}
    # the parent is measured again on the new model's own test items, not read from its manifest (another test set, maybe)
    on = job["metrics"]["compared_on"]
    assert job["metrics"]["compared_with"] == "tiny" and job["metrics"]["parent"]["f1_weighted"] != 0.1
    assert (on["dataset"], on["split"]) == ("esconv", "test") and on["n"] >= job["metrics"]["test"]["n_initial"] > 0
    assert job["metrics"]["parent"]["n_initial"] == job["metrics"]["test"]["n_initial"]
    assert job["model_name"] == "tiny-child" and job["progress"] == 100.0
    spec = studio.registry.get("tiny-child")
    assert spec.parent == "tiny" and spec.manifest["data_hash"] and spec.manifest["metrics"]["f1_weighted"] >= 0
    assert "f1_weighted" in spec.manifest["delta"] and job["metrics"]["test"]["n_initial"] > 0
    # the manifest travels with the model: no path of this machine in it
    assert str(Path(studio.settings.root).parent) not in (spec.path / "manifest.json").read_text()


def test_cancel_mid_run_leaves_cancelled_and_no_model(studio):
    root = studio.annotation.login("root", "pw")
    job_id = studio.jobs.submit(root, TrainRequest(model="tiny", epochs=2000, preset="paper", patience=0, name="never", **TINY).to_dict())
    assert _wait_for(lambda: (studio.store.job(job_id)["progress"] or 0) > 0)
    job = studio.store.job(job_id)
    # the child is started with its job id alone; its request comes from the row, its settings from the environment
    args = [a.decode() for a in Path(f"/proc/{job['pid']}/cmdline").read_bytes().split(b"\0") if a]
    assert args[args.index("empathy_studio.cli") :] == ["empathy_studio.cli", "train", "--job-id", str(job_id)]
    assert job["phase"].startswith(("training (epoch ", "evaluating (after epoch "))  # the training loop, named
    assert studio.jobs.cancel(root, job_id, grace=2) == "cancelled"
    job = studio.jobs.wait(job_id, timeout=30)
    assert job["state"] == "cancelled"
    assert "never" not in [s.name for s in studio.registry.all()] and not (studio.settings.models_dir / "never").exists()
    assert not list(studio.settings.models_dir.glob(".trainer-*"))  # the child cleaned up on its way out


def test_sigkill_marks_failed_and_leaves_the_registry_alone(studio):
    root = studio.annotation.login("root", "pw")
    before = sorted(s.name for s in studio.registry.all())
    job_id = studio.jobs.submit(root, TrainRequest(model="tiny", epochs=2000, preset="paper", patience=0, name="killed", **TINY).to_dict())
    assert _wait_for(lambda: (studio.store.job(job_id)["progress"] or 0) > 0)
    os.kill(studio.store.job(job_id)["pid"], signal.SIGKILL)
    job = studio.jobs.wait(job_id, timeout=30)
    assert job["state"] == "failed" and "-9" in job["error"]
    assert sorted(s.name for s in studio.registry.all()) == before


def test_restart_marks_orphaned_running_jobs_failed(studio):
    job_id = studio.store.create_job({"model": "tiny"}, "root")
    studio.store.claim_next_job()
    studio.store.update_job(job_id, pid=999_999_999 % 4_000_000 + 3_000_000)  # a pid that does not exist
    (studio.settings.models_dir / ".tmp-half-written").mkdir(parents=True)
    fresh = Studio(studio.settings.replace(esconv_file=DEMO_PATH))
    assert fresh.jobs.recover() == [job_id]
    job = fresh.store.job(job_id)
    assert job["state"] == "failed" and "the server stopped during the job" in job["error"]
    assert not (studio.settings.models_dir / ".tmp-half-written").exists()


def test_two_starts_give_one_running_and_one_queued(studio):
    root = studio.annotation.login("root", "pw")
    a = studio.jobs.submit(root, TrainRequest(model="tiny", epochs=2000, preset="paper", patience=0, name="first", **TINY).to_dict())
    b = studio.jobs.submit(root, TrainRequest(model="tiny", epochs=1, name="second", **TINY).to_dict())
    assert studio.store.job(a)["state"] == "running" and studio.store.job(b)["state"] == "queued"
    studio.jobs.cancel(root, a, grace=2)
    assert studio.jobs.wait(b, timeout=240)["state"] == "succeeded"


def test_non_admin_cannot_start_or_cancel(studio):
    ana = studio.annotation.login("ana", "pw")
    with pytest.raises(PermissionDenied):
        studio.jobs.submit(ana, TrainRequest(model="tiny").to_dict())
    with pytest.raises(PermissionDenied):
        studio.jobs.cancel(ana, 1)
    assert studio.store.jobs() == []


def test_no_evaluation_item_is_ever_trained_on(studio):
    ann = studio.annotation
    ana = ann.login("ana", "pw")
    splits = studio.esconv.splits
    for d in splits["test"] + splits["val"] + splits["train"][:3]:  # rate held-out items too
        ann.rate(ana, d.dialogue_id, 2, 1)
    held_out = {d.dialogue_id for d in splits["test"] + splits["val"]}
    for policy in ("gold", "gold+ratings", "ratings"):
        train = studio.finetune.training_set(TrainRequest(model="tiny", policy=policy, **TINY)).splits
        assert not ({ex.item_id for ex in train["train"]} & held_out), policy
    only = studio.finetune.training_set(TrainRequest(model="tiny", policy="ratings", **TINY)).splits["train"]
    assert len(only) == 3 and all(ex.initial == 2 for ex in only)


def test_in_process_jobs_for_zero_gpu_spaces(studio):
    from empathy_studio.jobs import JobRunner

    def here(params, reporter):
        return studio.train_and_register(TrainRequest.from_dict(params), progress=reporter)

    runner = JobRunner(studio.store, studio.settings, in_process=here)
    root = studio.annotation.login("root", "pw")
    done = runner.submit(root, TrainRequest(model="tiny", epochs=1, name="in-process", **TINY).to_dict())
    assert _wait_for(lambda: studio.store.job(done)["state"] == "succeeded", timeout=120), studio.store.job(done)
    assert studio.registry.get("in-process").parent == "tiny"
    slow = runner.submit(root, TrainRequest(model="tiny", epochs=2000, preset="paper", patience=0, name="stopped", **TINY).to_dict())
    assert _wait_for(lambda: (studio.store.job(slow)["progress"] or 0) > 0)
    runner.cancel(root, slow)
    # the job stops itself at its next step; its thread then starts the next job, of which there is none
    assert _wait_for(lambda: not any(t.name == "job-%d" % slow for t in threading.enumerate()), timeout=30)
    assert studio.store.job(slow)["state"] == "cancelled" and not (studio.settings.models_dir / "stopped").exists()


def test_a_rater_job_through_the_runner_ends_succeeded_and_says_its_own_metrics(studio, tiny_encoder, tmp_path, monkeypatch):
    """The job's child runs `train --job-id N` without --json, which printed a seeker metric a rater does not have."""
    from empathy_studio import registry

    from .conftest import EPITOME

    if not EPITOME.exists():
        pytest.skip("EPITOME is not beside the project (../shared/data)")
    hook = tmp_path / "hook"
    hook.mkdir()  # the child learns the tiny encoder's registry row the way this process does
    (hook / "sitecustomize.py").write_text(
        "import os\nif os.environ.get('EMPATHY_STUDIO_TINY_ENCODER'):\n    from empathy_studio import registry as r\n"
        "    r.BASE_MODELS['tiny-bert'] = r.ModelSpec('tiny-bert', 'encoder', os.environ['EMPATHY_STUDIO_TINY_ENCODER'])\n"
    )
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("EMPATHY_STUDIO_TINY_ENCODER", str(tiny_encoder))
    studio.registry.base["tiny-bert"] = registry.ModelSpec("tiny-bert", "encoder", str(tiny_encoder))
    root = studio.annotation.login("root", "pw")
    request = TrainRequest(model="tiny-bert", task="empathy", max_steps=2, max_length=32, batch_size=8, name="job-rater")
    job = studio.jobs.wait(studio.jobs.submit(root, request.to_dict()), timeout=300)
    assert job["state"] == "succeeded", job["log_tail"]
    assert studio.registry.get("job-rater").family == "rater" and job["model_name"] == "job-rater"
    assert "registered job-rater" in job["log_tail"] and "4-level F1 (weighted)" in job["log_tail"]
    assert " s in all (" in job["log_tail"]  # the whole job's time, not the training steps' alone


def test_a_jobs_eta_covers_the_work_after_the_training_steps(fresh_db):
    from empathy_studio.jobs import JobReporter
    from empathy_studio.progress import CALIBRATING, TESTING, TRAINING, ProgressEvent

    job_id = fresh_db.create_job({"model": "tiny"}, "root")
    fresh_db.update_job(job_id, state="running")
    reporter = JobReporter(fresh_db, job_id, every=0.0, after_training_s=120.0)
    reporter(ProgressEvent(TRAINING, 5, 10, eta_s=30.0))
    assert fresh_db.job(job_id)["eta_s"] == pytest.approx(150.0)  # the epochs' 30 s and the 120 s of work after them
    reporter(ProgressEvent(CALIBRATING, 0, 1))
    assert 100.0 < fresh_db.job(job_id)["eta_s"] <= 120.0
    reporter(ProgressEvent(TESTING, 0, 258))
    assert fresh_db.job(job_id)["eta_s"] > 100.0  # not the test pass's own pace alone
