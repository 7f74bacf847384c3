"""The core of `Studio`: settings, the lazily built pieces (data, store, annotation, fine-tuning, jobs), start and stop, data look-ups."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from .. import analysis
from .. import data as D
from ..annotation import Annotation
from ..campaigns import dialogue_of_item
from ..errors import DataError, InputError, ModelUnavailable, PermissionDenied
from ..jobs import JobRunner, zero_gpu
from ..progress import ProgressFn
from ..registry import QUICK_MODEL, Registry
from ..settings import Settings
from ..sources import DataSources, EsconvSource
from ..store import Annotator, Store
from ..training.request import TrainRequest

if TYPE_CHECKING:
    from ..models.predictor import BatchPredictor
    from ..training.finetune import Finetuner

log = logging.getLogger(__name__)
SPLITS = (*D.SPLITS, "all")


@dataclass(frozen=True)
class _Caller:
    actor: Annotator | None


_CALLER: contextvars.ContextVar[_Caller | None] = contextvars.ContextVar("caller", default=None)  # set for one call of the app
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


class StudioBase:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.registry = Registry(settings.models_dir, settings.allow_hub_downloads)
        self.sources = DataSources.from_settings(settings)
        self._lock = threading.RLock()
        self._starter_lock = threading.Lock()  # one starter model built at a time, without holding the studio's lock
        self._starter_proc: subprocess.Popen | None = None  # the server's child building the starter model
        self._predictors: dict[str, BatchPredictor] = {}  # model name -> its loaded predictor, of either family
        self._turn_hashes: dict[str, dict[str, str]] = {}  # dataset -> supporter turn -> text hash (the raters' external check)
        self._store: Store | None = None
        self._annotation: Annotation | None = None
        self._jobs: JobRunner | None = None
        self._finetune: "Finetuner | None" = None
        self.snapshots = None
        self.warmer = None

    # -- the pieces, built on first use -------------------------------------------

    @property
    def esconv(self) -> EsconvSource:
        return self.sources.esconv

    @property
    def store(self) -> Store:
        with self._lock:
            if self._store is None:
                # a server's child (settings.server_pid) opens the server's database, and never creates one
                self._store = Store(self.settings.effective_db_path, create=self.settings.server_pid is None)
            return self._store

    @property
    def annotation(self) -> Annotation:
        with self._lock:
            if self._annotation is None:
                self._annotation = Annotation(self.store, self.settings, self.registry)
            return self._annotation

    @property
    def finetune(self) -> Finetuner:
        from ..training.finetune import Finetuner  # torch loads with the first use of training, not at start-up

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
        from ..persistence import Snapshotter, restore_if_missing, target_for

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

    # -- who may start a build -------------------------------------------------------

    @contextlib.contextmanager
    def acting(self, actor: Annotator | None) -> Iterator[None]:
        """Within one call of the app: who is calling (resolved, or None for an anonymous caller), and the campaign rows it read."""
        token = _CALLER.set(_Caller(actor))
        try:
            with self.store.one_request():  # a campaign's row is read once per call
                yield
        finally:
            _CALLER.reset(token)

    def check_may_build(self, name: str) -> None:
        """A starter model is built by the server's start-up, an admin's first use, or the CLI; never by any other caller of the app."""
        caller = _CALLER.get()
        if caller is None or (caller.actor is not None and caller.actor.is_admin):
            return
        if self.starter_building():
            raise ModelUnavailable(
                f"{name} is being built by the server since it started (one time, under a minute on a free "
                "2-core machine): try again shortly"
            )
        raise ModelUnavailable(
            f"{name} is not built yet: an admin builds it by using it once (signed in), or on the server: "
            f"empathy-studio predict --model {name} ..."
        )

    def starter_building(self) -> bool:
        return self._starter_proc is not None and self._starter_proc.poll() is None

    def start(self) -> None:
        """What a server does once at start: restore a snapshot, items in the store, accounts, jobs left by a dead process,
        the warmer, and (with `settings.build_starter`) the starter model when it is missing, built by a niced child process
        (`empathy-studio warm --model minilm-quick`: it builds the model, then caches its ESConv predictions) that the
        server ends at shutdown."""
        self.snapshots = self.start_snapshots()
        self.sync_items()
        self.annotation.bootstrap_accounts()
        self.jobs.recover()
        if self.settings.build_starter and self._starter_proc is None and self.registry.get(QUICK_MODEL).kind != "finetuned":
            from ..warming import start_child

            self._starter_proc = start_child(self.settings, ["warm", "--model", QUICK_MODEL], stderr=subprocess.DEVNULL)
        if self.settings.warm_predictions and self.warmer is None:
            from ..warming import Warmer

            self.warmer = Warmer(self.settings, self.warm_pending, lambda: self.jobs_active() or self.starter_building()).start()

    def close(self) -> None:
        """At shutdown: the warmer stops, a last snapshot of anything not yet snapshotted, then the database closes."""
        if self.warmer is not None:
            self.warmer.stop()
            self.warmer = None
        if self.starter_building():
            self._starter_proc.terminate()
            try:
                self._starter_proc.wait(10)
            except subprocess.TimeoutExpired:
                self._starter_proc.kill()
        if self.snapshots is not None:
            self.snapshots.stop(final=True)
            self.snapshots = None
        if self._store is not None:
            self._store.close()

    def sync_items(self) -> int:
        """Put every labelled dialogue of the ESConv source into the store's items table."""
        rows = [
            {
                "id": d.dialogue_id,
                "source": d.source,
                "dialogue_id": d.dialogue_id,
                "text": d.seeker_text,
                "split": split,
                "gold_emotion": d.emotion,
                "gold_initial": d.initial,
                "gold_final": d.final,
                "gold_change": d.change,
            }
            for split, dialogues in self.esconv.splits.items()
            for d in dialogues
        ]
        return self.store.upsert_items(rows)

    # -- data -----------------------------------------------------------------------

    def oauth_enabled(self) -> bool:
        """Whether the page offers Hugging Face sign-in (a Space with OAuth)."""
        return bool(self.settings.hf_oauth)

    def data_note(self) -> tuple[str, bool]:
        """(what the seeker data is, in words; whether it is the demo set), as the page and the CLI say it."""
        return self.esconv.describe(), self.esconv.is_demo

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
            raise PermissionDenied(
                "this dialogue is in a blind rating campaign: its labels and predictions are hidden until the campaign closes"
            )

    def dialogue_choices(
        self,
        query: str = "",
        emotion: str = analysis.ANY,
        problem: str = analysis.ANY,
        split: str = analysis.ANY,
        initial: str = analysis.ANY,
        actor: Annotator | None = None,
    ) -> list[tuple[str, str]]:
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
            raise InputError(
                f"the file is over {MAX_UPLOAD_BYTES // 2**20} MB; use the CLI (empathy-studio predict --file) for large files"
            )
        try:
            return D.load_esconv(path)
        except DataError as exc:  # name the file as the user knows it, never the server's upload folder
            raise DataError(path.name, str(exc).removeprefix(f"{path}: ")) from None

    def load_dialogues(self, path: str | Path) -> list[D.Dialogue]:
        """Every dialogue of an ESConv-format file named on the command line (no upload size limit)."""
        return D.load_esconv(path)
