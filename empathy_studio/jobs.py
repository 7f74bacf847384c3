"""Training jobs: one subprocess each (`empathy-studio train --job-id N`), one at a time.

The `jobs` table is the source of truth, so a page reload or a second browser
sees the same state, and a server restart can tell what happened: a job left
"running" by a process that no longer exists is marked failed, with the
reason. A job carries its request (the `TrainRequest` fields) in its row; the
child reads it from there, and its settings from the environment the runner
gives it (`Settings.child_env`), so nothing goes through command-line text and
back. Cancel sends SIGTERM, then SIGKILL after a grace period. The child writes
its model to a hidden temporary folder and renames it into place only on
success, so a failed or killed job never changes the registry.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from .errors import NotFound
from .progress import EVALUATING, TRAINING, ProgressEvent
from .settings import Settings
from .store import Annotator, Store, require

GRACE_SECONDS = 5.0
LOG_TAIL_CHARS = 4000


def gpu_wrapped(fn: Callable[..., Any], duration: int = 600) -> Callable[..., Any]:
    """On a ZeroGPU Space, run `fn` under `spaces.GPU`; elsewhere return it unchanged."""
    try:
        import spaces  # type: ignore[import-not-found]
    except ImportError:
        return fn
    return spaces.GPU(duration=duration)(fn)


class JobCancelled(RuntimeError):
    """Raised inside an in-process job when its row says cancelled (there is no process to signal)."""


def zero_gpu(settings: Settings) -> bool:
    """On a ZeroGPU Space the GPU is reachable only from the app process, under `spaces.GPU`."""
    if not settings.zero_gpu:
        return False
    try:
        import spaces  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        return False
    return True


class JobReporter:
    """The progress callback of a running job: keeps the latest state and writes it to the job row.

    Writes happen at most once a second while training (steps and evaluations alternate many times
    a second on small data), and at once when the job enters a phase outside the training loop.
    Each write also checks whether the job was cancelled.
    """

    LOOP = (TRAINING, EVALUATING)

    def __init__(self, store: Store, job_id: int, every: float = 1.0):
        self.store, self.job_id, self.every = store, job_id, every
        self._last = 0.0
        self._phase = ""
        self._fields: dict[str, Any] = {}
        self.store.update_job(job_id, pid=os.getpid())

    def __call__(self, event: ProgressEvent) -> None:
        self._fields["phase"] = event.label
        if event.phase == TRAINING:
            self._fields.update(progress=round(100 * event.fraction, 1), epoch=event.epoch, step=event.done, eta_s=event.eta_s)
        if event.metrics:
            self._fields["metrics"] = {"last_eval": {k: v for k, v in event.metrics.items() if isinstance(v, (int, float))}, "epoch": event.epoch}
        entered = event.phase != self._phase and event.phase not in self.LOOP
        self._phase = event.phase
        if entered or time.monotonic() - self._last >= self.every:
            self.flush()

    def flush(self) -> None:
        self._last = time.monotonic()
        if self.store.job(self.job_id)["state"] == "cancelled":
            raise JobCancelled(f"job {self.job_id} was cancelled")
        if self._fields:
            self.store.update_job(self.job_id, **self._fields)
            self._fields = {}

    def finished(self, manifest: dict[str, Any]) -> None:
        self.store.update_job(self.job_id, model_name=manifest["name"], phase="done", metrics={
            "test": manifest["metrics"], "delta": manifest["delta"], "parent": manifest["parent_metrics"]})


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie of ours counts as dead
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return True


class JobRunner:
    def __init__(self, store: Store, settings: Settings, python: str = sys.executable,
                 in_process: Callable[[dict[str, Any], JobReporter], dict[str, Any]] | None = None):
        self.store, self.settings, self.models_dir = store, settings, Path(settings.models_dir)
        self.in_process = in_process  # ZeroGPU: run the job in a thread of this process, under spaces.GPU
        self.python = python
        self.logs_dir = self.models_dir / ".logs"
        self._lock = threading.Lock()
        self._procs: dict[int, subprocess.Popen] = {}

    # -- lifecycle ----------------------------------------------------------------

    def recover(self) -> list[int]:
        """After a restart: fail jobs whose process is gone, drop half-written model folders, start the next job."""
        failed = []
        for job in self.store.jobs(states=["running"]):
            if job["id"] not in self._procs and not _alive(job["pid"]):
                self.store.update_job(job["id"], state="failed", ended=_now(),
                                      error=f"the server restarted and the training process (pid {job['pid']}) is gone")
                failed.append(job["id"])
        if self.models_dir.is_dir():
            for tmp in self.models_dir.glob(".tmp-*"):
                shutil.rmtree(tmp, ignore_errors=True)
        self.kick()
        return failed

    def submit(self, actor: Annotator | None, params: dict[str, Any]) -> int:
        """Queue a job for a request (the fields of a `TrainRequest`, already validated by the caller)."""
        require(actor, "admin")
        job_id = self.store.create_job(params, actor.name if actor else None)
        self.kick()
        return job_id

    def kick(self) -> int | None:
        """Start the oldest queued job if none runs. Safe to call from several threads."""
        with self._lock:
            job = self.store.claim_next_job()
            if job is None:
                return None
            if self.in_process is not None:
                threading.Thread(target=self._run_here, args=(job,), name=f"job-{job['id']}", daemon=True).start()
                return job["id"]
            self.logs_dir.mkdir(parents=True, exist_ok=True)
            log_path = self.logs_dir / f"job-{job['id']}.log"
            cmd = [self.python, "-m", "empathy_studio.cli", "train", "--job-id", str(job["id"])]
            log = log_path.open("wb")
            env = {**os.environ, **self.settings.child_env(), "PYTHONUNBUFFERED": "1", "TQDM_MININTERVAL": "2"}
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
            log.close()
            self._procs[job["id"]] = proc
            self.store.update_job(job["id"], pid=proc.pid)
            threading.Thread(target=self._watch, args=(job["id"], proc, log_path), daemon=True).start()
            return job["id"]

    def _watch(self, job_id: int, proc: subprocess.Popen, log_path: Path) -> None:
        while proc.poll() is None:
            self._tail(job_id, log_path)
            time.sleep(1.0)
        self._tail(job_id, log_path)
        with self._lock:
            self._procs.pop(job_id, None)
            job = self.store.job(job_id)
            if job and job["state"] == "running":
                if proc.returncode == 0:
                    self.store.update_job(job_id, state="succeeded", progress=100.0, ended=_now())
                else:
                    last = [ln for ln in _read_tail(log_path).splitlines() if ln.strip()]
                    self.store.update_job(job_id, state="failed", ended=_now(),
                                          error=f"exit code {proc.returncode}: {last[-1] if last else 'no output'}")
        self.kick()

    def _run_here(self, job: dict[str, Any]) -> None:
        reporter = JobReporter(self.store, job["id"])
        try:
            manifest = gpu_wrapped(self.in_process)(job["params"], reporter)
            reporter.finished(manifest)
            self.store.update_job(job["id"], state="succeeded", progress=100.0, ended=_now())
        except JobCancelled:
            pass  # the row already says cancelled
        except Exception as exc:  # noqa: BLE001 - the job row carries the reason to the user
            self.store.update_job(job["id"], state="failed", ended=_now(), error=f"{exc.__class__.__name__}: {exc}")
        self.kick()

    def _tail(self, job_id: int, log_path: Path) -> None:
        self.store.update_job(job_id, log_tail=_read_tail(log_path))

    # -- control --------------------------------------------------------------------

    def cancel(self, actor: Annotator | None, job_id: int, grace: float = GRACE_SECONDS) -> str:
        require(actor, "admin")
        job = self.store.job(job_id)
        if job is None:
            raise NotFound(f"no job {job_id}")
        if job["state"] == "queued":
            self.store.update_job(job_id, state="cancelled", ended=_now())
            return "cancelled"
        if job["state"] != "running":
            return job["state"]
        self.store.update_job(job_id, state="cancelled", ended=_now(), error=f"cancelled by {actor.name if actor else 'admin'}")
        proc = self._procs.get(job_id)
        pid = proc.pid if proc else job["pid"]
        if self.in_process is not None or pid == os.getpid():
            return "cancelled"  # an in-process job stops itself at its next step; never signal our own process
        _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and (proc.poll() is None if proc else _alive(pid)):
            time.sleep(0.1)
        if proc.poll() is None if proc else _alive(pid):
            _signal(pid, signal.SIGKILL)
        return "cancelled"

    def wait(self, job_id: int, timeout: float = 600) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.store.job(job_id)
            if job and job["state"] in ("succeeded", "failed", "cancelled") and job_id not in self._procs:
                return job
            time.sleep(0.2)
        raise TimeoutError(f"job {job_id} did not finish in {timeout} s")


def _signal(pid: int | None, sig: int) -> None:
    if not pid:
        return
    try:
        os.killpg(pid, sig)  # the child leads its own session, so this reaches its helpers too
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _read_tail(path: Path) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - LOG_TAIL_CHARS))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return text.replace("\r", "\n")


def _now() -> str:
    from .store import now

    return now()
