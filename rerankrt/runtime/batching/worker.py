"""The scheduler's worker thread: keeps up to the backend's pipeline depth of batches in flight, forms each batch
under the lock with the pure policy (`rerankrt.runtime.batching.policy`), taking the host-CPU turn first where
batches take turns with tokenizing, and writes each batch's scores into its requests or fails them.

`WorkerLoop` is the worker-thread half of `rerankrt.runtime.batching.scheduler.Scheduler`, mixed into it: it works on
the lock-guarded pool that `Scheduler.__init__` sets up (the attributes annotated below) and calls back the
scheduler's request bookkeeping (`expire`, `_finish`, `_fail_all`).
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable

from rerankrt.runtime.backends.base import Backend
from rerankrt.runtime.batching import pipeline, policy
from rerankrt.runtime.batching.policy import Batch, BatchShape, PendingRequest
from rerankrt.runtime.batching.turns import TurnLock
from rerankrt.runtime.batching.types import BatchStats, RequestFuture, ScoreResult, WorkerDiedError

log = logging.getLogger("rerankrt.scheduler")


class WorkerLoop:
    """The worker thread's methods; `Scheduler` sets the state they share with the submitting threads."""

    backend: Backend
    encoder: object
    _shape: BatchShape
    _listeners: tuple[Callable[[BatchStats], None], ...]
    _host_turns: TurnLock | None
    _cond: threading.Condition
    _requests: dict[int, PendingRequest]
    _deadlines: list[tuple[float, int]]
    _policy: policy.PolicyState
    _pending_pairs: int
    _running_pairs: int
    _closing: bool
    _drain: bool
    _dead: bool
    _error: str | None
    _counts: dict[str, int]

    # The scheduler's request bookkeeping, which the worker calls back.
    expire: Callable[[RequestFuture], None]
    _finish: Callable[..., bool]
    _fail_all: Callable[[BaseException], None]

    def _run(self) -> None:
        """The worker: keep up to the backend's pipeline depth of batches in flight, collecting the oldest first.

        While one batch runs on a device the next is formed and submitted; when nothing can be formed yet, the
        worker waits for the oldest batch instead. A host-CPU backend keeps depth 1 (its batches take turns).
        """
        depth = 1 if self._host_turns is not None else max(1, int(getattr(self.backend, "pipeline_depth", 1)))
        flights: collections.deque[pipeline.InFlight] = collections.deque()
        previous_done = 0.0
        try:
            while True:
                if len(flights) < depth:
                    batch = self._next_batch(wait=False) if flights else self._next_batch()
                    if batch is not None:
                        flights.append(self._launch(batch))
                        continue
                    if not flights:
                        return
                previous_done = self._run_batch(flights.popleft(), previous_done)
        except BaseException as exc:  # noqa: BLE001 - whatever kills the worker must fail everyone, loudly
            message = f"the scheduler's worker thread died: {exc!r}"
            log.critical(message, exc_info=True)
            with self._cond:
                self._dead = True
                self._error = message
                self._running_pairs = 0
            died = WorkerDiedError(message)
            died.__cause__ = exc
            self._fail_all(died)

    def _next_batch(self, *, wait: bool = True) -> Batch | None:
        """Form the next batch, waiting for pending pairs when `wait`; None when closing with nothing left to run,
        or (not `wait`) when nothing can be formed now.

        Where batches take turns with tokenizing, the batch is formed once the turn is ours, so that it holds the
        pairs tokenized just before; it is returned with the turn held, and `_run_batch` gives it back.
        """
        while True:
            with self._cond:
                expired = policy.expired_requests(self._deadlines, self._requests, time.monotonic())
                if not expired:
                    if self._closing and not (self._drain and self._pending_pairs):
                        return None
                    # Only where batches take turns on the host: a GPU backend's worker skips this scan.
                    waiting = self._host_turns is not None and [r for r in self._requests.values() if r.lengths]
                    if not waiting:
                        batch = self._form_batch()
                        if batch is not None or not wait:
                            return batch
                        now = time.monotonic()
                        self._cond.wait(timeout=policy.next_deadline_in(self._deadlines, self._requests, now))
                        continue
                    # A small request waiting to lead makes the batch urgent: before large requests' tokenizing.
                    urgent = any(r.turn == 0 for r in waiting)
            if expired:
                for req in expired:
                    self.expire(req.future)
                continue
            self._host_turns.acquire(urgent=urgent)
            try:
                with self._cond:
                    batch = self._form_batch()
            except BaseException:
                self._host_turns.release()
                raise
            if batch is not None:
                return batch
            self._host_turns.release()  # the pairs went (cancelled, expired) while we waited

    def _form_batch(self) -> Batch | None:
        """The policy's next batch (called under the lock); its pairs leave the pending count."""
        batch = policy.form_batch(self._requests.values(), self._policy, self._shape)
        if batch is not None:
            self._pending_pairs -= len(batch.rows)
            self._running_pairs += len(batch.rows)
            batch.pending_after = self._pending_pairs
        return batch

    def _launch(self, batch: Batch) -> pipeline.InFlight:
        holds_turn = self._host_turns is not None
        try:
            return pipeline.launch(self.backend, batch, self.encoder.pad_id, holds_turn=holds_turn)
        except BaseException:
            if holds_turn:
                self._host_turns.release()
            raise

    def _run_batch(self, flight: pipeline.InFlight, previous_done: float) -> float:
        """Collect a submitted batch, write its scores or fail its requests, tell the listeners; returns when it
        finished."""
        batch, rows = flight.batch, len(flight.batch.rows)
        try:
            scores, error = pipeline.collect(self.backend, flight, previous_done)
        finally:
            if flight.holds_turn:
                self._host_turns.release()
        done: list[PendingRequest] = []
        with self._cond:
            self._running_pairs -= rows
            self._counts["batches"] += 1
            self._counts["batch_rows"] += rows
            self._counts["real_tokens"] += flight.real_tokens
            self._counts["padded_tokens"] += rows * batch.seq_len
            if error is None:
                done, scored = policy.record_scores(batch, scores)
                self._counts["pairs_scored"] += scored
            else:
                self._counts["failed_batches"] += 1
        if error is None:
            for req in done:
                result = ScoreResult(req.scores, req.num_tokens, req.truncated)
                self._finish(req, counter="requests_completed", result=result)
        else:
            for req in {id(r): r for r, _, _ in batch.rows}.values():
                self._finish(req, exception=error, counter="requests_failed")
        stats = pipeline.batch_stats(flight, error)
        for listener in self._listeners:
            try:
                listener(stats)
            except Exception:  # noqa: BLE001 - a metrics listener must never take the worker down
                log.exception("batch listener %r raised; ignored", listener)
        return flight.done


__all__ = ["WorkerLoop"]
