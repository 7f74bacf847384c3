"""Fine-tuning and its jobs: the `TrainingServices` part of `Studio`."""

from __future__ import annotations

import dataclasses
from typing import Any

from ..errors import NotFound, UserError
from ..jobs import JobReporter, exit_with_parent
from ..progress import ProgressFn, fan_out
from ..store import Annotator, require
from ..training.config import preset
from ..training.request import EnsembleRequest, TrainRequest


class TrainingServices:
    def dataset_choices(self) -> list[str]:
        """The seeker's named datasets here: esconv, and where FailedESConv is configured, failed and esconv+failed."""
        return self.sources.esconv_datasets()

    def training_defaults(self, name: str = "default") -> dict[str, Any]:
        """The values a preset trains with here (TrainConfig defaults, then space_config.yaml, then the preset)."""
        return preset(name, "", defaults=self.settings.training).to_dict()

    def comparison_for(self, req: TrainRequest) -> TrainRequest:
        """The request with the model to compare against filled in: the parent when it has test metrics, else today's default."""
        if req.compare_with is not None:
            self.registry.get(req.compare_with)
            return req
        parent = self.registry.get(req.model)
        if parent.metrics:
            return dataclasses.replace(req, compare_with=parent.name)
        default = self.default_model()
        if default and default != req.name and self.registry.get(default).metrics:
            return dataclasses.replace(req, compare_with=default)
        return req

    def train_and_register(self, req: TrainRequest, progress: ProgressFn | None = None, description: str = "") -> dict[str, Any]:
        manifest = self.finetune.train_and_register(self.comparison_for(req), progress, description)
        with self._lock:
            self._predictors.pop(manifest["name"], None)
        return manifest

    def publish_ensemble(self, actor: Annotator | None, req: EnsembleRequest, progress: ProgressFn | None = None) -> dict[str, Any]:
        """Admins: seeker models trained with different seeds, calibrated, tested and published as one model
        (`training/ensemble.py`)."""
        require(actor, "admin")
        from ..training.ensemble import publish_ensemble  # torch loads with the first use of training, not at start-up

        manifest = publish_ensemble(self.finetune, req, progress)
        with self._lock:
            self._predictors.pop(manifest["name"], None)
        return manifest

    def estimate_training(self, actor: Annotator | None, req: TrainRequest) -> dict[str, Any]:
        require(actor, "admin")
        return self.finetune.estimate(req)

    def submit_training(self, actor: Annotator | None, req: TrainRequest) -> int:
        require(actor, "admin")
        self.registry.get(req.model)
        return self.jobs.submit(actor, self.comparison_for(req).to_dict())  # the default *now* is what the job compares with

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
        exit_with_parent(self.settings.server_pid)
        job = self.store.job(job_id)
        if job is None:
            raise NotFound(f"no job {job_id}")
        req = TrainRequest.from_dict(job["params"])
        try:  # the estimate's work after the training steps, from a probe kept on this machine (never timed here)
            plan = self.finetune.estimate(req, cached_only=True)
        except UserError:
            plan = None
        after = plan["after_training_s"] if plan else None
        reporter = JobReporter(self.store, job_id, after_training_s=after)
        manifest = self.train_and_register(req, progress=fan_out([progress, reporter]))
        reporter.finished(manifest)
        return manifest
