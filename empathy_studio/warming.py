"""Warm Analyze: predictions for every ESConv dialogue, computed in the background for each published model.

A server's `Warmer` looks at the models folder every few seconds. A model that
predicts ESConv labels and has no cached prediction for some labelled dialogue,
or an empathy rater that has not scored every ESConv supporter turn whose seeker
rated the supporter's empathy, gets a child process, `empathy-studio warm --model
NAME` under `nice`, which predicts what is missing and writes it to the store's
prediction cache. One at a time, never while a training job or the starter build
runs, and a model whose warming failed is not retried until its folder changes.
Analyze then reads the cache: under 2 s for any split of any registered model
(bench/app.py measures it). `start_child` also starts the server's starter build.
A child opens the server's database and never creates one, and leaves when the
server is gone (`Settings.server_pid`).

A child process rather than a thread: niceness then covers torch's own worker
threads too, and the server's interpreter never waits on a model's forward pass.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable

from .settings import Settings

log = logging.getLogger(__name__)

NICENESS = 10
POLL_SECONDS = 10.0


def start_child(settings: Settings, args: list[str], stderr: int = subprocess.PIPE, python: str = sys.executable) -> subprocess.Popen:
    """`empathy-studio ARGS` as a niced child of the server: it opens the server's database (never creates one) and leaves
    when the server is gone (`Settings.child_env` passes the server's pid down)."""
    env = {**os.environ, **settings.child_env(), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [python, "-m", "empathy_studio.cli", *args], env=env, stdout=subprocess.DEVNULL, stderr=stderr, preexec_fn=lambda: os.nice(NICENESS)
    )


class Warmer:
    """Finds models whose predictions are not all cached and warms them, one child process at a time."""

    def __init__(
        self,
        settings: Settings,
        pending: Callable[[], list[tuple[str, Path]]],
        busy: Callable[[], bool],
        every: float = POLL_SECONDS,
        python: str = sys.executable,
    ):
        self.settings, self.pending, self.busy, self.every, self.python = settings, pending, busy, every, python
        self._stop = threading.Event()
        self._failed: dict[str, float] = {}  # model -> folder mtime when its warming failed
        self._proc: subprocess.Popen | None = None
        self._thread: threading.Thread | None = None
        self.warmed: list[str] = []

    def start(self) -> "Warmer":
        self._thread = threading.Thread(target=self._loop, name="warmer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.step()
            except Exception:  # noqa: BLE001 - the warmer must never take the server down
                log.exception("warming predictions failed")

    def step(self) -> str | None:
        """Warm the first model that needs it (blocking until its child exits); the name, or None when none did."""
        if self.busy():
            return None
        for name, folder in self.pending():
            stamp = _mtime(folder)
            if self._failed.get(name) == stamp:
                continue
            self._proc = start_child(self.settings, ["warm", "--model", name], python=self.python)
            _, err = self._proc.communicate()
            code, self._proc = self._proc.returncode, None
            if code != 0 and not self._stop.is_set():
                self._failed[name] = stamp
                log.warning("warming %s failed: %s", name, (err or b"").decode(errors="replace").strip().splitlines()[-1:])
                continue
            self.warmed.append(name)
            return name
        return None


def _mtime(folder: Path) -> float:
    try:
        return folder.stat().st_mtime
    except OSError:
        return 0.0
