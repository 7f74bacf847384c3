"""Sign-in back-off: after a few failures, each further attempt for an account or from an address waits longer.

Five failures are free (typos happen); then an account, and separately a client
address, must wait 1 s, 2 s, 4 s and so on up to 5 minutes before the next
attempt is even checked, so a guesser gets a handful of tries a minute instead
of ten a second. A successful sign-in clears both. The refusal is the same
whether the account exists or not, and refused attempts never reach the
password hash, so they cost the server nothing.

Checking and counting are one step (`admit`): an attempt is counted as a failure
when it is let through, under the same lock as the check, and a right password
takes the count back. Simultaneous guesses therefore cannot all pass the check
before any of them is counted: at most FREE_FAILURES are checked at once.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Hashable, Sequence

from .errors import PermissionDenied

FREE_FAILURES = 5
FIRST_WAIT_S = 1.0
MAX_WAIT_S = 300.0
MAX_TRACKED = 50_000  # keys remembered at most (oldest forgotten first), so random names cannot fill memory


@dataclass
class _Record:
    failures: int = 0
    until: float = 0.0


class SignInThrottle:
    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._records: OrderedDict[Hashable, _Record] = OrderedDict()
        self._lock = threading.Lock()

    def admit(self, keys: Sequence[Hashable]) -> None:
        """Let one attempt through, counted as a failure until `succeeded` says otherwise; or raise PermissionDenied
        if any key must still wait. The check and the count are one step under one lock."""
        now = self.clock()
        with self._lock:
            wait = max((r.until - now for k in keys if (r := self._records.get(k))), default=0.0)
            if wait <= 0:
                self._count(keys, now)
        if wait > 0:
            raise PermissionDenied(f"too many failed sign-ins for this account or address; try again in {math.ceil(wait)} s")

    def _count(self, keys: Sequence[Hashable], now: float) -> None:
        for k in keys:
            r = self._records.pop(k, None) or _Record()
            r.failures += 1
            if r.failures >= FREE_FAILURES:
                r.until = now + min(MAX_WAIT_S, FIRST_WAIT_S * 2 ** (r.failures - FREE_FAILURES))
            self._records[k] = r
        while len(self._records) > MAX_TRACKED:
            self._records.popitem(last=False)

    def succeeded(self, keys: Sequence[Hashable]) -> None:
        with self._lock:
            for k in keys:
                self._records.pop(k, None)
