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

import hashlib
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
from .progress import EVALUATING, PUBLISHING, TRAINING, ProgressEvent
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

    def __init__(self, store: Store, job_id: int, every: float = 1.0, after_training_s: float | None = None):
        """`after_training_s`: the estimate's seconds for the work after the training steps (heads, calibration, testing,
        publishing), added to the running ETA so that it covers the whole job, not the epochs alone."""
        self.store, self.job_id, self.every = store, job_id, every
        self.after = after_training_s
        self._post_start: float | None = None
        self._last = 0.0
        self._phase = ""
        self._fields: dict[str, Any] = {}
        self.store.update_job(job_id, pid=os.getpid())

    def __call__(self, event: ProgressEvent) -> None:
        now = time.monotonic()
        if event.label != getattr(self, "_label", None):
            self._label, self._started = event.label, now
        self._fields["phase"] = event.label + (
            f": {event.done:,} of {event.total:,}" if event.total and event.phase not in self.LOOP else ""
        )
        if event.phase not in self.LOOP and self._phase == TRAINING and self._post_start is None:
            self._post_start = now  # the training steps are over; what follows was estimated as a whole
        if event.phase not in self.LOOP and event.total:
            # outside the training loop: this phase's own pace so far, or what the estimate leaves of the work after training
            elapsed = now - self._started
            own = elapsed / event.done * (event.total - event.done) if event.done and elapsed > 0.5 else None
            left = self.after - (now - self._post_start) if self.after is not None and self._post_start is not None else None
            self._fields["eta_s"] = max((v for v in (own, left) if v is not None), default=None)
        if event.phase == TRAINING:
            eta = event.eta_s + (self.after or 0) if event.eta_s is not None else None
            self._fields.update(progress=round(100 * event.fraction, 1), epoch=event.epoch, step=event.done, eta_s=eta)
        if event.phase == PUBLISHING and event.detail:
            self._fields["model_name"] = event.detail  # before the rename: a restart can then tell whether it happened
        if event.metrics:
            self._fields["metrics"] = {
                "last_eval": {k: v for k, v in event.metrics.items() if isinstance(v, (int, float))},
                "epoch": event.epoch,
            }
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
        self.store.update_job(
            self.job_id,
            model_name=manifest["name"],
            phase="done",
            metrics={
                "test": manifest["metrics"],
                "delta": manifest["delta"],
                "parent": manifest["parent_metrics"],
                "compared_with": manifest.get("compared_with"),
                "compared_on": manifest.get("compared_on"),
                "release": (manifest.get("release") or {}).get("id"),
                "phases_s": manifest.get("phases_s"),
            },
        )


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
    def __init__(
        self,
        store: Store,
        settings: Settings,
        python: str = sys.executable,
        in_process: Callable[[dict[str, Any], JobReporter], dict[str, Any]] | None = None,
    ):
        self.store, self.settings, self.models_dir = store, settings, Path(settings.models_dir)
        self.in_process = in_process  # ZeroGPU: run the job in a thread of this process, under spaces.GPU
        self.python = python
        # one server's logs never meet another's, even when two share a models folder
        self.logs_dir = self.models_dir / ".logs" / hashlib.sha1(str(Path(settings.effective_db_path).resolve()).encode()).hexdigest()[:10]
        self._lock = threading.Lock()
        self._procs: dict[int, subprocess.Popen] = {}

    # -- lifecycle ----------------------------------------------------------------

    def recover(self, grace: float = GRACE_SECONDS) -> list[int]:
        """After a restart: settle every job a dead server left running, clear its leftovers, start the next job.

        A child that outlived its server (it stops by itself within a second or two, see `exit_with_parent`)
        is stopped if it is still there. The job then ends as what happened: succeeded if its model was
        published, failed otherwise; so the queue moves on and the row matches the registry.
        """
        settled = []
        for job in self.store.jobs(states=["running"]):
            if job["id"] in self._procs:
                continue
            pid = job["pid"]
            if _alive(pid) and _is_job_process(pid, job["id"]):
                _signal(pid, signal.SIGTERM)
                deadline = time.monotonic() + grace
                while time.monotonic() < deadline and _alive(pid):
                    time.sleep(0.1)
                if _alive(pid):
                    _signal(pid, signal.SIGKILL)
            published = bool(job["model_name"]) and (self.models_dir / job["model_name"] / "manifest.json").is_file()
            if published:
                self.store.update_job(job["id"], state="succeeded", progress=100.0, ended=_now(), phase="done")
            else:
                self.store.update_job(
                    job["id"],
                    state="failed",
                    ended=_now(),
                    error=f"the server stopped during the job, and its training process (pid {pid}) with it",
                )
            log = self.logs_dir / f"job-{job['id']}.log"
            if log.exists():  # keep its tail in the row, as for a job that ended under watch
                self._tail(job["id"], log)
                log.unlink(missing_ok=True)
            settled.append(job["id"])
        remove_leftovers(self.models_dir)
        self.kick()
        return settled

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
        log_path.unlink(missing_ok=True)  # its tail is in the job's row
        with self._lock:
            self._procs.pop(job_id, None)
            job = self.store.job(job_id)
            if job and job["state"] == "running":
                if proc.returncode == 0:
                    self.store.update_job(job_id, state="succeeded", progress=100.0, ended=_now())
                else:
                    last = [ln for ln in (job.get("log_tail") or "").splitlines() if ln.strip()]
                    self.store.update_job(
                        job_id, state="failed", ended=_now(), error=f"exit code {proc.returncode}: {last[-1] if last else 'no output'}"
                    )
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


def _is_job_process(pid: int, job_id: int) -> bool:
    """Whether `pid` is the training child of this job (and not an unrelated process that reused the pid)."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"--job-id" in args and args[args.index(b"--job-id") + 1 : args.index(b"--job-id") + 2] == [str(job_id).encode()]


def leftover_pid(folder: Path) -> int | None:
    """The pid a work folder (`.trainer-PID-…`, `.tmp-PID-…`) was made by."""
    parts = folder.name.split("-")
    return int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else None


def remove_leftovers(models_dir: Path) -> list[Path]:
    """Work folders whose process is gone: half-written models and trainer scratch space."""
    removed = []
    if models_dir.is_dir():
        for folder in [*models_dir.glob(".tmp-*"), *models_dir.glob(".trainer-*")]:
            if not _alive(leftover_pid(folder)):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
    return removed


def exit_with_parent(parent: int | None = None, every: float = 1.0) -> None:
    """In a server's child (a job, the warmer's `warm`): leave cleanly on SIGTERM (cancel), and when the server dies.

    A job's child leads its own session so that cancel can signal its whole group, which also means
    the server's death does not reach it; it watches for being re-parented instead. `parent` is the
    server's pid as the server passed it down (`Settings.server_pid`): a server that died while the
    child was still starting is noticed at once, not taken for the parent. Leaving goes through
    SystemExit, so the run's temporary folders are removed on the way out.
    """
    parent = parent or os.getppid()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


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
