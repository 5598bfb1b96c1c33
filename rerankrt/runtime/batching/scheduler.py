"""In-flight batching: the pairs of all live requests share token-budget batches on one backend worker thread.

A request (one query over many documents, or many pairs) is admitted whole or refused (`OverloadedError`), then
tokenized in the submitting thread, chunk by chunk, each chunk joining the pending pool as soon as it is ready: the
fast tokenizer releases the GIL, so tokenizing runs while the worker thread runs the backend on earlier batches.

The worker forms each batch under the scheduler's lock with the pure policy of `rerankrt.runtime.batching.policy`
(lead choice, shape, row packing). Where the backend computes on the host's CPU, tokenizing and batches take turns
on it through a `TurnLock` (`rerankrt.runtime.batching.turns`); the worker forms each batch once its turn has come,
so that the pairs tokenized just before are in it. With a GPU backend, tokenizing overlaps the GPU's work.

Each pair's score is written into its request's own slot, so every request gets its scores in its own order.
Cancelling a request's future, or its deadline passing, frees its pending pairs at once. A backend error fails the
requests in that batch and the worker keeps serving; if the worker itself dies, every live request fails at once and
`health()` reports why. Nothing waits forever: waits through `wait()` end at their deadline or when the worker dies.
"""

from __future__ import annotations

import collections
import contextlib
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, InvalidStateError
from dataclasses import fields

import numpy as np

from rerankrt.encoding import Encoded, _as_list
from rerankrt.runtime.backends.base import Backend
from rerankrt.runtime.batching import admission, pipeline, policy
from rerankrt.runtime.batching.config import SchedulerConfig
from rerankrt.runtime.batching.policy import Batch, PendingRequest
from rerankrt.runtime.batching.turns import TurnLock
from rerankrt.runtime.batching.types import (
    BatchStats,
    DeadlineExceededError,
    OverloadedError,
    RequestFuture,
    SchedulerClosedError,
    SchedulerStats,
    ScoreResult,
    WorkerDiedError,
)

log = logging.getLogger("rerankrt.scheduler")

# How often a waiter checks that the worker is still alive; bounds how long a dead worker can go unnoticed.
_LIVENESS_POLL_S = 0.5
# How long `wait` gives a request that another thread just finished to have its future settled (it is immediate).
_SETTLE_S = 5.0
# The counters of `SchedulerStats`: all its fields but the gauges.
_COUNTERS = tuple(
    f.name
    for f in fields(SchedulerStats)
    if f.name not in ("pending_pairs", "pending_requests", "running_pairs", "worker_alive", "error")
)

BatchListener = Callable[[BatchStats], None]


def _settle(future: Future, *, result=None, exception: BaseException | None = None) -> None:
    """Complete a future unless a caller cancelled it first (which may race with us from another thread)."""
    try:
        if exception is not None:
            future.set_exception(exception)
        else:
            future.set_result(result)
    except InvalidStateError:
        pass


class Scheduler:
    """Runs the pairs of all concurrent requests through one backend in shared, length-bucketed batches.

    Args:
        backend: Scores right-padded token-id batches; called from the worker thread only.
        encoder: A `rerankrt.prompt.PromptEncoder` (anything with its ``encode`` signature, ``pad_id`` and
            ``max_sequence_length``).
        config: The batching knobs. Defaults to `SchedulerConfig()` built from `**options`.
        on_batch: A first batch listener (see `add_batch_listener`). Defaults to None.
        **options: `SchedulerConfig` fields (max_batch_size, max_num_tokens, max_pending_pairs, pad_multiple,
            fill_ratio, tokenize_chunk, batch_tokens), when no `config` is given.

    Raises:
        ValueError: When the encoder can produce a sequence the backend cannot take, or a knob is out of range.
        TypeError: For an unknown option.
    """

    def __init__(
        self,
        backend: Backend,
        encoder,
        config: SchedulerConfig | None = None,
        *,
        on_batch: BatchListener | None = None,
        **options,
    ) -> None:
        if config is not None and options:
            raise TypeError(f"pass either a SchedulerConfig or keyword options, not both (got {sorted(options)})")
        self.config = config if config is not None else SchedulerConfig.from_options(options)
        self._shape = self.config.shape_for(backend, int(encoder.max_sequence_length))
        self.backend = backend
        self.encoder = encoder
        # Measured throughput, for the goodput admission (rerankrt.runtime.batching.admission).
        self._meter = admission.ThroughputMeter()
        self._listeners: tuple[BatchListener, ...] = (self._meter.observe,) + (() if on_batch is None else (on_batch,))
        # Tokenizing and host-CPU batches take turns (rerankrt.runtime.batching.turns); None where the backend runs
        # elsewhere.
        self._host_turns = TurnLock() if getattr(backend, "runs_on_host", False) else None

        self._cond = threading.Condition(threading.RLock())
        self._requests: dict[int, PendingRequest] = {}
        self._deadlines: list[tuple[float, int]] = []  # heap of (deadline, request id); finished ones linger
        self._ids = itertools.count(1)
        self._policy = policy.PolicyState()
        self._pending_pairs = 0
        self._running_pairs = 0
        self._closing = False
        self._drain = False
        self._dead = False
        self._error: str | None = None
        self._counts = dict.fromkeys(_COUNTERS, 0)
        self._worker = threading.Thread(target=self._run, name="rerankrt-scheduler", daemon=True)
        self._worker.start()

    # The limits in force, resolved against the backend's.
    max_batch_size = property(lambda self: self._shape.max_batch_size)
    max_num_tokens = property(lambda self: self._shape.max_num_tokens)
    batch_tokens = property(lambda self: self._shape.batch_tokens)
    max_seq_len = property(lambda self: self.backend.limits.max_seq_len)
    max_pending_pairs = property(lambda self: self.config.max_pending_pairs)

    def add_batch_listener(self, listener: BatchListener) -> None:
        """Call `listener` with a `BatchStats` in the worker thread after every backend call.

        Exceptions it raises are logged and ignored; listeners run in the order they were added.
        """
        with self._cond:
            self._listeners = (*self._listeners, listener)

    # -- submission ------------------------------------------------------------------------------------------------

    def submit(
        self,
        queries: Sequence[str] | str,
        documents: Sequence[str],
        instructions: Sequence[str] | str | None = None,
        *,
        truncate: bool = True,
        deadline: float | None = None,
    ) -> RequestFuture:
        """Admit one request, tokenize it here (in the caller's thread), and queue its pairs as they are ready.

        Args:
            queries: One query for all documents, or one per document.
            documents: The documents (strings, already validated by the caller).
            instructions: None, one for all, or one per pair. Defaults to None.
            truncate: Cut over-long pairs as the template says; False refuses them with TruncationError.
            deadline: `time.monotonic()` time after which the request fails with DeadlineExceededError.
                Defaults to None (no deadline).

        Returns:
            A future of the request's `ScoreResult`; cancel it to drop the request's pending pairs.

        Raises:
            OverloadedError: When the queue holds too many pairs to take this request.
            SchedulerClosedError, WorkerDiedError: When the scheduler cannot serve.
            TruncationError, TypeError, ValueError: From the prompt encoder; the request is then dropped.
        """
        documents = list(documents)
        n = len(documents)
        queries = _as_list("queries", queries, n)
        instructions = None if instructions is None else _as_list("instructions", instructions, n)
        req = self._admit(n, deadline)
        fut = req.future
        chunk = self.config.tokenize_chunk
        for start in range(0, n, chunk):
            if fut.done():  # cancelled, expired or failed while we tokenized: stop spending work on it
                break
            stop = min(start + chunk, n)
            note = f"(while tokenizing or queueing pairs {start}..{stop - 1} of the request)" if start else ""
            with self._failing(req, note):
                with self._host_turn(req, urgent=n <= chunk) as turn:
                    if not turn:  # the deadline passed, or the request ended, while waiting for the CPU
                        self.expire(fut)
                        break
                    encoded = self.encoder.encode(
                        queries[start:stop],
                        documents[start:stop],
                        None if instructions is None else instructions[start:stop],
                        truncate=truncate,
                        first_index=start,
                    )
                self._enqueue(req, start, encoded)
        return fut

    def submit_ids(self, ids: Sequence[np.ndarray], *, deadline: float | None = None) -> RequestFuture:
        """Admit one request of already tokenized prompts (caller-formatted, template included) and queue it.

        Args:
            ids: One 1-D integer array (or list) of token ids per prompt, each 1..max_seq_len long.
            deadline: As in `submit`. Defaults to None.

        Raises:
            ValueError: For an empty or too long row, naming its index.
            OverloadedError, SchedulerClosedError, WorkerDiedError: As in `submit`.
        """
        rows = []
        for i, row in enumerate(ids):
            arr = np.asarray(row)
            if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
                raise ValueError(f"ids[{i}] must be a 1-D sequence of integer token ids, got {arr.dtype} {arr.shape}")
            if not 1 <= arr.size <= self._shape.longest_row:
                raise ValueError(f"ids[{i}] has {arr.size} tokens; the engine takes 1 to {self._shape.longest_row}")
            rows.append(arr.astype(np.int64, copy=False))
        req = self._admit(len(rows), deadline)
        if rows:
            with self._failing(req):
                self._enqueue(req, 0, Encoded(rows, np.zeros(len(rows), dtype=bool)))
        return req.future

    @contextlib.contextmanager
    def _failing(self, req: PendingRequest, note: str = ""):
        """Fail the request with whatever escapes (after adding `note` to it): a request that cannot be tokenized or
        queued must not hold its pairs' places."""
        try:
            yield
        except BaseException as exc:
            if note and isinstance(exc, Exception):
                exc.add_note(note)
            self._finish(req, exception=exc, counter="requests_failed")
            raise

    @contextlib.contextmanager
    def _host_turn(self, req: PendingRequest, *, urgent: bool = False):
        """Hold the host CPU for one tokenization chunk (where batches run on it).

        Yields False instead if the request's deadline passes first or the request ends meanwhile (cancelled, or
        failed by close). Raises WorkerDiedError if the worker dies meanwhile: nothing waits forever. A draining
        close lets the wait go on: the worker finishes admitted requests, their tokenizing included.
        """
        if self._host_turns is None:
            yield True
            return

        def ended() -> bool:
            with self._cond:
                if not req.finished:
                    self._raise_if_unavailable(admitted=True)
                return req.finished

        with self._host_turns.hold(deadline=req.deadline, urgent=urgent, ended=ended, poll_s=_LIVENESS_POLL_S) as turn:
            yield turn

    def _admit(self, n: int, deadline: float | None) -> PendingRequest:
        """Register a request of `n` pairs, or refuse it when the queue is full or the scheduler cannot serve."""
        limit = self.config.max_pending_pairs
        with self._cond:
            self._raise_if_unavailable()
            if self._pending_pairs > 0 and self._pending_pairs + n > limit:
                self._counts["requests_rejected"] += 1
                raise OverloadedError(
                    f"overloaded: {self._pending_pairs} pairs are queued and this request adds {n}, over "
                    f"max_pending_pairs={limit}; retry later"
                )
            refused = self.config.goodput and admission.refusal(
                self._requests.values(),
                n,
                deadline,
                running_pairs=self._running_pairs,
                throughput=self._meter.throughput,
                small=n <= self._shape.max_batch_size,
                now=time.monotonic(),
            )
            if refused:
                self._counts["requests_rejected"] += 1
                raise refused
            rid = next(self._ids)
            req = PendingRequest(rid, n, deadline, policy.new_turn(self._policy), RequestFuture(rid, n, deadline))
            self._counts["requests_submitted"] += 1
            if n == 0:
                req.finished = True
                self._counts["requests_completed"] += 1
            else:
                self._requests[req.id] = req
                self._pending_pairs += n
                if deadline is not None:
                    heapq.heappush(self._deadlines, (deadline, req.id))
                    self._cond.notify_all()  # the worker may need to wake earlier than it planned
        if n == 0:
            req.future.set_result(ScoreResult(np.zeros(0, np.float32), 0, np.zeros(0, bool)))
        else:
            req.future.add_done_callback(lambda f, req=req: self._on_done(req, f))
        return req

    def _enqueue(self, req: PendingRequest, start: int, encoded) -> None:
        with self._cond:
            if req.finished:
                return
            stop = start + len(encoded.ids)
            req.truncated[start:stop] = encoded.truncated
            req.num_tokens += policy.queue_pairs(req, start, encoded.ids, self._shape)
            self._counts["truncated_pairs"] += int(np.count_nonzero(encoded.truncated))
            self._cond.notify_all()

    # -- waiting, cancelling ---------------------------------------------------------------------------------------

    def _wait_slices(self, future: RequestFuture, timeout: float | None) -> Iterator[float | None]:
        """The one deadline loop under `wait` and `wait_async`: yields how long to wait on the future next.

        Between slices it checks that the worker lives. At the deadline it expires the request and yields None: the
        future is finished then (by us, or by a thread that may still be settling it), and the caller waits for it.
        """
        deadline = future.deadline
        if timeout is not None:
            until = time.monotonic() + timeout
            deadline = until if deadline is None else min(deadline, until)
        while True:
            slice_s = _LIVENESS_POLL_S
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.expire(future)
                    yield None
                    return
                slice_s = min(slice_s, left)
            yield slice_s
            self._check_worker()

    def wait(self, future: RequestFuture, timeout: float | None = None) -> ScoreResult:
        """Block until the request's result, its deadline (or `timeout`), or the worker's death.

        Args:
            future: What `submit` returned.
            timeout: Seconds to wait at most, on top of the request's own deadline. Defaults to None.

        Raises:
            DeadlineExceededError: When the deadline passes; the request's pending pairs are dropped.
            Whatever failed the request (BackendError, WorkerDiedError, CancelledError, ...).
        """
        for slice_s in self._wait_slices(future, timeout):
            if slice_s is None:
                return future.result(timeout=_SETTLE_S)
            try:
                return future.result(timeout=slice_s)
            except TimeoutError:
                if future.done():  # it failed with DeadlineExceededError, itself a TimeoutError
                    raise
        raise AssertionError("unreachable: the wait loop ends by returning")

    async def wait_async(self, future: RequestFuture, timeout: float | None = None) -> ScoreResult:
        """`wait` for asyncio: awaits without blocking the event loop; cancelling the task cancels the request."""
        import asyncio

        waiter = asyncio.wrap_future(future)
        try:
            for slice_s in self._wait_slices(future, timeout):
                if slice_s is None:
                    return await waiter
                done, _ = await asyncio.wait({waiter}, timeout=slice_s)
                if done:
                    return waiter.result()
        except asyncio.CancelledError:
            future.cancel()
            raise
        raise AssertionError("unreachable: the wait loop ends by returning")

    def expire(self, future: RequestFuture) -> None:
        """Fail a request with DeadlineExceededError now (if it is not done) and drop its pending pairs."""
        req = self._requests.get(future.request_id)
        if req is not None and req.future is future:
            self._finish(
                req,
                exception=DeadlineExceededError(
                    f"request {req.id} missed its deadline with {req.remaining} of {future.num_pairs} pairs unscored"
                ),
                counter="requests_expired",
            )

    def _on_done(self, req: PendingRequest, future: Future) -> None:
        if future.cancelled():
            self._finish(req, counter="requests_cancelled")

    def _finish(
        self, req: PendingRequest, *, exception: BaseException | None = None, counter: str, result=None
    ) -> bool:
        """Mark a request finished, drop its queued pairs, then settle its future outside the lock."""
        with self._cond:
            if req.finished:
                return False
            req.finished = True
            self._pending_pairs -= len(req.pending) + req.unqueued
            req.pending = []
            req.lengths = []
            req.unqueued = 0
            self._requests.pop(req.id, None)
            self._counts[counter] += 1
            self._cond.notify_all()
        if exception is not None:
            _settle(req.future, exception=exception)
        elif counter == "requests_completed":
            _settle(req.future, result=result)
        return True

    def _check_worker(self) -> None:
        """Fail every live request if the worker thread is gone: the last line of 'nothing waits forever'."""
        if self._worker.is_alive():
            return
        with self._cond:
            if not self._closing:
                self._dead = True
                self._error = self._error or "the scheduler's worker thread is not running"
            exc = WorkerDiedError(self._error) if self._dead else SchedulerClosedError("the scheduler is closed")
        self._fail_all(exc)

    def _fail_all(self, exc: BaseException) -> None:
        with self._cond:
            live = list(self._requests.values())
        for req in live:
            self._finish(req, exception=exc, counter="requests_failed")

    def _raise_if_unavailable(self, *, admitted: bool = False) -> None:
        """Raise if the scheduler cannot serve; `admitted`: for a request already taken, which a draining close
        still serves."""
        if self._closing and not (admitted and self._drain):
            raise SchedulerClosedError("the scheduler is closed")
        if self._dead or not self._worker.is_alive():
            raise WorkerDiedError(self._error or "the scheduler's worker thread is not running")

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

    # -- status ----------------------------------------------------------------------------------------------------

    def stats(self) -> SchedulerStats:
        """A consistent snapshot of the counters."""
        with self._cond:
            return SchedulerStats(
                pending_pairs=self._pending_pairs,
                pending_requests=len(self._requests),
                running_pairs=self._running_pairs,
                worker_alive=self._worker.is_alive(),
                error=self._error or ("the scheduler is closed" if self._closing else None),
                **self._counts,
            )

    def health(self) -> None:
        """Raise SchedulerError (WorkerDiedError, SchedulerClosedError) when the scheduler cannot serve."""
        with self._cond:
            self._raise_if_unavailable()

    def close(self, *, drain: bool = False, timeout: float | None = 30.0) -> None:
        """Stop taking requests and stop the worker; idempotent.

        Args:
            drain: Finish the requests already admitted first; otherwise they fail with SchedulerClosedError.
                Defaults to False.
            timeout: Seconds to wait for the worker to stop (a running batch is never interrupted). Defaults to 30.
        """
        with self._cond:
            self._closing = True
            self._drain = drain
            self._cond.notify_all()
        if not drain:
            self._fail_all(SchedulerClosedError("the scheduler was closed before this request finished"))
        if self._worker is not threading.current_thread():
            self._worker.join(timeout)
        if drain:  # whatever the worker did not finish in time
            self._fail_all(SchedulerClosedError("the scheduler was closed before this request finished"))


__all__ = ["Scheduler"]
