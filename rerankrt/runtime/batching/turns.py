"""The host-CPU turn lock: tokenizing and host-CPU batches take turns on the cores, first come, first served.

Where the backend computes on the host's CPU (`Backend.runs_on_host`: onnxruntime, torch), tokenizing and running
batches would fight for the same cores if they ran together. They take turns instead, one tokenization chunk or
one batch at a time, small work first (a request that fits one chunk, a batch while a small request waits to lead),
at most `URGENT_IN_A_ROW` turns in a row while other work waits.
"""

from __future__ import annotations

import collections
import contextlib
import threading
import time
from collections.abc import Callable, Iterator

from rerankrt.runtime.batching.policy import URGENT_IN_A_ROW


class TurnLock:
    """A lock handed out first come, first served, urgent askers first.

    `threading.Lock` promises no order: the worker, which asks again right after each batch, could keep it from a
    tokenizing thread indefinitely. Here a release hands the lock straight to the longest-waiting urgent asker, else
    to the longest waiter; after `urgent_in_a_row` urgent hand-offs in a row past a waiting regular asker, that
    asker gets the next one.
    """

    def __init__(self, urgent_in_a_row: int = URGENT_IN_A_ROW) -> None:
        self._mutex = threading.Lock()
        self._urgent: collections.deque[threading.Event] = collections.deque()
        self._waiters: collections.deque[threading.Event] = collections.deque()
        self._held = False
        self._urgent_in_a_row = urgent_in_a_row
        self._urgent_run = 0  # urgent hand-offs in a row while a regular asker waited

    def acquire(self, timeout: float | None = None, *, urgent: bool = False) -> bool:
        """Take the lock, waiting at most `timeout` seconds (None: no limit); True when taken."""
        with self._mutex:
            if not self._held:
                self._held = True
                return True
            turn = threading.Event()
            queue = self._urgent if urgent else self._waiters
            queue.append(turn)
        got = False
        try:
            got = turn.wait(timeout)
        finally:
            if not got:
                with self._mutex:
                    if turn.is_set():  # handed over just as we gave up: pass it on
                        self._release_locked()
                    else:
                        queue.remove(turn)
        return got

    def release(self) -> None:
        """Hand the lock to the next asker, or free it."""
        with self._mutex:
            if not self._held:
                raise RuntimeError("release of an unheld TurnLock")
            self._release_locked()

    @contextlib.contextmanager
    def hold(self, *, deadline: float | None, urgent: bool, ended: Callable[[], bool], poll_s: float) -> Iterator[bool]:
        """Hold the lock for a block: yields True with it held, or False without it once `deadline` (a
        `time.monotonic()` time, or None) passes or `ended()` returns True first.

        `ended` is asked every `poll_s` seconds of waiting; what it raises ends the wait too.
        """
        while True:
            slice_s = poll_s
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    yield False
                    return
                slice_s = min(slice_s, left)
            if self.acquire(timeout=slice_s, urgent=urgent):
                break
            if ended():
                yield False
                return
        try:
            yield True
        finally:
            self.release()

    def _release_locked(self) -> None:
        # Ownership passes directly to the next asker: nobody can take it in between.
        if self._urgent and (not self._waiters or self._urgent_run < self._urgent_in_a_row):
            self._urgent_run = self._urgent_run + 1 if self._waiters else 0
            self._urgent.popleft().set()
        elif self._waiters:
            self._urgent_run = 0
            self._waiters.popleft().set()
        else:
            self._held = False


__all__ = ["TurnLock"]
