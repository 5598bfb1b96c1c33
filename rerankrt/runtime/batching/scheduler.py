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

By role: this module admits, tokenizes, queues, finishes and closes; the worker thread's loop is
`rerankrt.runtime.batching.worker`, the wait loop `rerankrt.runtime.batching.waiting`, the admission checks
`rerankrt.runtime.batching.intake`.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import fields

import numpy as np

from rerankrt.encoding import Encoded, _as_list
from rerankrt.runtime.backends.base import Backend
from rerankrt.runtime.batching import admission, intake, policy, waiting
from rerankrt.runtime.batching.config import SchedulerConfig
from rerankrt.runtime.batching.policy import PendingRequest
from rerankrt.runtime.batching.turns import TurnLock
from rerankrt.runtime.batching.types import (
    BatchStats,
    DeadlineExceededError,
    RequestFuture,
    SchedulerClosedError,
    SchedulerStats,
    ScoreResult,
    WorkerDiedError,
)
from rerankrt.runtime.batching.worker import WorkerLoop

log = logging.getLogger("rerankrt.scheduler")

# How often a waiter checks that the worker is still alive (rerankrt.runtime.batching.waiting).
_LIVENESS_POLL_S = waiting.LIVENESS_POLL_S
# Looked up here at each call, so that a test can widen the gap between finishing a request and settling its future.
_settle = waiting.settle
# The counters of `SchedulerStats`: all its fields but the gauges.
_COUNTERS = tuple(
    f.name
    for f in fields(SchedulerStats)
    if f.name not in ("pending_pairs", "pending_requests", "running_pairs", "worker_alive", "error")
)

BatchListener = Callable[[BatchStats], None]


class Scheduler(WorkerLoop):
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
        rows = intake.rows_from_ids(ids, self._shape.longest_row)
        req = self._admit(len(rows), deadline)
        if rows:
            with self._failing(req):
                self._enqueue(req, 0, Encoded(rows, np.zeros(len(rows), dtype=bool)))
        return req.future

    def encode_in_turns(
        self, encode: Callable[[int, int], Encoded], n: int, *, deadline: float | None = None
    ) -> Encoded:
        """Tokenize `n` pairs for a caller that checks them before submitting ids (the server's token budgets):
        chunk by chunk through ``encode(start, stop)``, each chunk on the host-CPU turn as `submit` takes it (a
        request that fits one chunk first), so that the caller's tokenizing takes turns with batches instead of
        racing them for the cores.

        Raises:
            DeadlineExceededError: The deadline passed while waiting for the CPU.
            SchedulerClosedError, WorkerDiedError: The scheduler cannot serve.
        """
        chunk = self.config.tokenize_chunk
        parts: list[Encoded] = []
        for start in range(0, n, chunk):
            with self._caller_turn(deadline, urgent=n <= chunk) as turn:
                if not turn:
                    raise DeadlineExceededError("the deadline passed while the request waited to be tokenized")
                parts.append(encode(start, min(start + chunk, n)))
        if len(parts) == 1:
            return parts[0]
        flags = [
            np.concatenate([getattr(p, name) for p in parts]) if parts else np.zeros(0, bool)
            for name in ("truncated", "cut")
        ]
        return Encoded([row for p in parts for row in p.ids], *flags)

    def _caller_turn(self, deadline: float | None, *, urgent: bool):
        """The host-CPU turn for a caller's tokenizing chunk (nothing admitted yet); yields False past `deadline`."""

        def ended() -> bool:
            with self._cond:
                self._raise_if_unavailable()
            return False

        return self._turn(deadline, urgent, ended)

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

    def _host_turn(self, req: PendingRequest, *, urgent: bool = False):
        """Hold the host CPU for one tokenization chunk (where batches run on it).

        Yields False instead if the request's deadline passes first or the request ends meanwhile (cancelled, or
        failed by close). Raises WorkerDiedError if the worker dies meanwhile: nothing waits forever. A draining
        close lets the wait go on: the worker finishes admitted requests, their tokenizing included.
        """

        def ended() -> bool:
            with self._cond:
                if not req.finished:
                    self._raise_if_unavailable(admitted=True)
                return req.finished

        return self._turn(req.deadline, urgent, ended)

    @contextlib.contextmanager
    def _turn(self, deadline: float | None, urgent: bool, ended: Callable[[], bool]):
        if self._host_turns is None:  # not a host-CPU backend: no turns to take
            yield True
            return
        with self._host_turns.hold(deadline=deadline, urgent=urgent, ended=ended, poll_s=_LIVENESS_POLL_S) as turn:
            yield turn

    def _admit(self, n: int, deadline: float | None) -> PendingRequest:
        """Register a request of `n` pairs, or refuse it when the queue is full or the scheduler cannot serve."""
        with self._cond:
            self._raise_if_unavailable()
            refused = intake.refusal(
                self._requests.values(),
                n,
                deadline,
                pending_pairs=self._pending_pairs,
                max_pending_pairs=self.config.max_pending_pairs,
                goodput=self.config.goodput,
                running_pairs=self._running_pairs,
                throughput=self._meter.throughput,
                small=n <= self._shape.max_batch_size,
                now=time.monotonic(),
            )
            if refused is not None:
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
        """The one deadline loop under `wait` and `wait_async` (`waiting.wait_slices`), checking the worker."""
        return waiting.wait_slices(future, timeout, expire=self.expire, check_worker=self._check_worker)

    def wait(self, future: RequestFuture, timeout: float | None = None) -> ScoreResult:
        """Block until the request's result, its deadline (or `timeout`), or the worker's death.

        Args:
            future: What `submit` returned.
            timeout: Seconds to wait at most, on top of the request's own deadline. Defaults to None.

        Raises:
            DeadlineExceededError: When the deadline passes; the request's pending pairs are dropped.
            Whatever failed the request (BackendError, WorkerDiedError, CancelledError, ...).
        """
        return waiting.result_in_slices(future, self._wait_slices(future, timeout))

    async def wait_async(self, future: RequestFuture, timeout: float | None = None) -> ScoreResult:
        """`wait` for asyncio: awaits without blocking the event loop; cancelling the task cancels the request."""
        return await waiting.result_in_slices_async(future, self._wait_slices(future, timeout))

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
