"""In-flight batching: the pairs of all live requests share token-budget batches on one backend worker thread.

A request (one query over many documents, or many pairs) is admitted whole or refused (`OverloadedError`), then
tokenized in the submitting thread, chunk by chunk, each chunk joining the pending pool as soon as it is ready: the
fast tokenizer releases the GIL, so tokenizing runs while the worker thread runs the backend on earlier batches.

Forming a batch (the worker, under the lock):

1. Lead: a small request (tokenized, and all its pairs fit one batch) that has not led yet leads first, oldest
   first, and keeps the lead until it is done. Otherwise requests take turns: the one that led longest ago leads,
   a new large request joins the round just ahead of the most recent leader, and every request leads once per
   round: nobody waits for a large request to finish, and a small request that arrives while large ones run leads
   the very next batch. Small leads go first at most `_URGENT_IN_A_ROW` batches in a row while a large request
   (tokenized whole) waits; then the round's next such leader leads one batch: a stream of small requests cannot
   starve a large one.
2. Shape: the lead's longest pending pair sets the padded length (rounded up to `pad_multiple`, capped at the
   backend's max_seq_len); rows are capped by max_batch_size, by batch_tokens // padded length and by what the
   backend holds at that length (`Backend.max_rows`: TensorRT profiles).
3. Rows: a small lead puts in all its pairs when they fill `fill_ratio` of the padded batch or pad it by at most
   two rows (`_SMALL_PADDING_ROWS`); otherwise a lead puts in its longest pairs while they fill at least
   `fill_ratio` of the padded length, so a ragged request is cut into runs of similar length (a small one leads
   those runs back to back). Free rows go to other requests' pairs that fit under the padded length, longest first,
   again only those that fill at least `fill_ratio` of it: padding stays low.

Where the backend computes on the host's CPU (`Backend.runs_on_host`: onnxruntime, torch), tokenizing and running
batches take turns on the CPU, one tokenization chunk or one batch at a time: together they would fight for the same
cores. Turns go first come, first served, except that small work goes first: tokenizing a request that fits one chunk,
and a batch while a small request waits to lead (again at most `_URGENT_IN_A_ROW` turns in a row while other work
waits). The worker forms each batch once its turn has come, so that the
pairs tokenized just before are in it. With a GPU backend, tokenizing overlaps the GPU's work.

Each pair's score is written into its request's own slot, so every request gets its scores in its own order.
Cancelling a request's future, or its deadline passing, frees its pending pairs at once. A backend error fails the
requests in that batch and the worker keeps serving; if the worker itself dies, every live request fails at once and
`health()` reports why. Nothing waits forever: waits through `wait()` end at their deadline or when the worker dies.
"""

from __future__ import annotations

import bisect
import collections
import contextlib
import heapq
import itertools
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError, Future, InvalidStateError
from dataclasses import dataclass

import numpy as np

from rerankrt.prompt import TruncationError
from rerankrt.runtime.backends.base import Backend, BackendError

log = logging.getLogger("rerankrt.scheduler")

# How often a waiter checks that the worker is still alive; bounds how long a dead worker can go unnoticed.
_LIVENESS_POLL_S = 0.5
# How long `wait` gives a request that another thread just finished to have its future settled (it is immediate).
_SETTLE_S = 5.0
# Small work (a small request's batch lead, an urgent CPU turn) goes before waiting large work at most this many times
# in a row; then the large work gets one: it slows large requests under a stream of small ones, never stops them.
_URGENT_IN_A_ROW = 8
# Padding a small request may cost, in rows of its padded length, to run in one batch rather than one per length
# run. Measured with benchmarks/: p99 of 3-document requests under 1,000-document load fell from ~115 to ~85 ms on 2
# CPU cores, while padding efficiency on the mixed workload stayed at 0.92 (H100 limits) and 0.95 (CPU limits).
_SMALL_PADDING_ROWS = 2


class SchedulerError(RuntimeError):
    """The scheduler cannot take or finish a request."""


class OverloadedError(SchedulerError):
    """The queue is full (max_pending_pairs); retry later. Maps to HTTP 429."""


class SchedulerClosedError(SchedulerError):
    """The scheduler was closed; its pending requests fail with this."""


class WorkerDiedError(SchedulerError):
    """The backend worker thread died; every live request fails with this and health turns red."""


class DeadlineExceededError(TimeoutError):
    """A request's deadline passed before all its pairs were scored; its pending pairs were dropped."""


@dataclass(frozen=True)
class ScoreResult:
    """What one request gets back.

    Attributes:
        scores: float32 [n] raw scores (logit("1") - logit("0")), in the request's own order.
        num_tokens: Real tokens of all its pairs, template included (no padding): the usage to report.
        truncated: bool [n], whether each pair lost query or document tokens to max_length.
    """

    scores: np.ndarray
    num_tokens: int
    truncated: np.ndarray


@dataclass(frozen=True)
class BatchStats:
    """One backend call, as passed to the `on_batch` hook.

    Attributes:
        index: Batch number, from 1.
        rows: Pairs in the batch.
        seq_len: Padded sequence length.
        real_tokens: Sum of the pairs' lengths.
        padded_tokens: rows * seq_len, what the backend computed on.
        request_ids: The requests with pairs in this batch, lead first.
        duration_s: Wall time of the backend call.
        pending_pairs: Pairs still waiting after this batch was formed.
        error: The backend error's message when the batch failed, else None.
    """

    index: int
    rows: int
    seq_len: int
    real_tokens: int
    padded_tokens: int
    request_ids: tuple[int, ...]
    duration_s: float
    pending_pairs: int
    error: str | None = None

    @property
    def padding_efficiency(self) -> float:
        """real / padded tokens: 1.0 means no padding."""
        return self.real_tokens / self.padded_tokens if self.padded_tokens else 1.0


@dataclass(frozen=True)
class SchedulerStats:
    """A snapshot of the scheduler's counters, for metrics.

    Attributes:
        pending_pairs: Admitted pairs not yet in a batch (those still being tokenized included): the queue depth.
        pending_requests: Requests admitted and not yet finished.
        running_pairs: Pairs in the batch the backend is running now.
        requests_submitted: Requests admitted (empty ones included).
        requests_completed: Requests that got their scores.
        requests_failed: Requests failed by a backend error, the worker's death, a tokenizer error or closing.
        requests_cancelled: Requests whose future was cancelled.
        requests_expired: Requests whose deadline passed.
        requests_rejected: Requests refused with OverloadedError.
        pairs_scored: Pairs scored successfully.
        truncated_pairs: Pairs that lost tokens to max_length.
        batches: Backend calls made.
        failed_batches: Backend calls that raised.
        batch_rows: Rows over all backend calls (batch sizes; mean = batch_rows / batches).
        real_tokens: Real tokens over all backend calls.
        padded_tokens: Padded tokens (rows x padded length) over all backend calls.
        worker_alive: Whether the worker thread runs.
        error: Why the scheduler cannot serve (closed, worker died), else None.
    """

    pending_pairs: int
    pending_requests: int
    running_pairs: int
    requests_submitted: int
    requests_completed: int
    requests_failed: int
    requests_cancelled: int
    requests_expired: int
    requests_rejected: int
    pairs_scored: int
    truncated_pairs: int
    batches: int
    failed_batches: int
    batch_rows: int
    real_tokens: int
    padded_tokens: int
    worker_alive: bool
    error: str | None

    @property
    def mean_batch_size(self) -> float:
        return self.batch_rows / self.batches if self.batches else 0.0

    @property
    def padding_efficiency(self) -> float:
        """real / padded tokens over all batches so far: 1.0 means no padding."""
        return self.real_tokens / self.padded_tokens if self.padded_tokens else 1.0


class RequestFuture(Future):
    """A `concurrent.futures.Future` of a `ScoreResult`; `cancel()` frees the request's pending pairs.

    Attributes:
        request_id: The scheduler's id for the request (as in `BatchStats.request_ids`).
        num_pairs: Pairs in the request.
        deadline: `time.monotonic()` time after which the request fails, or None.
    """

    def __init__(self, request_id: int, num_pairs: int, deadline: float | None) -> None:
        super().__init__()
        self.request_id = request_id
        self.num_pairs = num_pairs
        self.deadline = deadline


class _Request:
    """Scheduler-side state of one request; guarded by the scheduler's lock."""

    __slots__ = (
        "id",
        "future",
        "deadline",
        "turn",
        "pending",
        "lengths",
        "unqueued",
        "remaining",
        "scores",
        "truncated",
        "num_tokens",
        "finished",
        "led",
    )

    def __init__(self, rid: int, n: int, deadline: float | None, turn: int) -> None:
        self.id = rid
        self.future = RequestFuture(rid, n, deadline)
        self.deadline = deadline
        self.turn = turn
        # (pair index, token ids) of the pairs waiting for a batch, sorted by (length, index): longest at the end.
        self.pending: list[tuple[int, np.ndarray]] = []
        # The pending pairs' lengths, ascending, aligned with `pending`: plain ints keep bisect in C.
        self.lengths: list[int] = []
        self.unqueued = n  # admitted, not yet tokenized
        self.remaining = n  # not yet scored
        self.scores = np.zeros(n, dtype=np.float32)
        self.truncated = np.zeros(n, dtype=bool)
        self.num_tokens = 0
        self.finished = False
        self.led = False  # has led a batch


@dataclass(frozen=True)
class _Tokenized:
    """Pre-tokenized rows in the shape of `rerankrt.prompt.Encoded`."""

    ids: list[np.ndarray]
    truncated: np.ndarray


def _round_order(req: _Request) -> tuple[int, int]:
    return req.turn, req.id


class _Batch:
    __slots__ = ("index", "rows", "seq_len", "request_ids", "pending_after")

    def __init__(self, index: int, rows: list[tuple[_Request, int, np.ndarray]], seq_len: int, pending_after: int):
        self.index = index
        self.rows = rows
        self.seq_len = seq_len
        self.request_ids = tuple(dict.fromkeys(r.id for r, _, _ in rows))
        self.pending_after = pending_after


def _settle(future: Future, *, result=None, exception: BaseException | None = None) -> None:
    """Complete a future unless a caller cancelled it first (which may race with us from another thread)."""
    try:
        if exception is not None:
            future.set_exception(exception)
        else:
            future.set_result(result)
    except InvalidStateError:
        pass


class _TurnLock:
    """A lock handed out first come, first served, urgent askers first.

    `threading.Lock` promises no order: the worker, which asks again right after each batch, could keep it from a
    tokenizing thread indefinitely. Here a release hands the lock straight to the longest-waiting urgent asker, else
    to the longest waiter; after `urgent_in_a_row` urgent hand-offs in a row past a waiting regular asker, that
    asker gets the next one.
    """

    def __init__(self, urgent_in_a_row: int = _URGENT_IN_A_ROW) -> None:
        self._mutex = threading.Lock()
        self._urgent: collections.deque[threading.Event] = collections.deque()
        self._waiters: collections.deque[threading.Event] = collections.deque()
        self._held = False
        self._urgent_in_a_row = urgent_in_a_row
        self._urgent_run = 0  # urgent hand-offs in a row while a regular asker waited

    def acquire(self, timeout: float | None = None, *, urgent: bool = False) -> bool:
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
        with self._mutex:
            if not self._held:
                raise RuntimeError("release of an unheld _TurnLock")
            self._release_locked()

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


class Scheduler:
    """Runs the pairs of all concurrent requests through one backend in shared, length-bucketed batches.

    Args:
        backend: Scores right-padded token-id batches; called from the worker thread only.
        encoder: A `rerankrt.prompt.PromptEncoder` (anything with ``encode``, ``pad_id``, ``max_sequence_length``).
        max_batch_size: Rows per batch. Defaults to the backend's limit (and never exceeds it).
        max_num_tokens: Padded tokens (rows x padded length) per batch. Defaults to the backend's limit (and never
            exceeds it).
        max_pending_pairs: Admitted pairs not yet in a batch before new requests are refused with OverloadedError.
            A request arriving at an empty queue is always admitted, whatever its size. Defaults to 65536.
        pad_multiple: Round the padded length up to a multiple of this (8 or 16 can suit GPU kernels). Defaults to 1.
        fill_ratio: Fewest real tokens, as a fraction of the padded length, for a pair to join a batch it does not
            set the length of (and for a small request to go in whole); lower packs fuller batches, higher wastes
            less padding. Defaults to 0.8.
        tokenize_chunk: Pairs tokenized per step on submission; each step's pairs can run while the next tokenizes,
            and a request of at most this many pairs counts as small for turns on the host CPU. Defaults to 64: a
            smaller chunk frees the tokenizer (and the host CPU) sooner for small requests.
        on_batch: Called in the worker thread with a `BatchStats` after every backend call; exceptions it raises
            are logged and ignored. Defaults to None.
        batch_tokens: Padded tokens to aim for per batch, at most max_num_tokens; a row longer than this still runs,
            alone. Smaller batches cut the wait of small requests where one backend call is slow (CPU). Defaults to
            max_num_tokens.

    Raises:
        ValueError: When the encoder can produce a sequence the backend cannot take, or the limits are inconsistent.
    """

    def __init__(
        self,
        backend: Backend,
        encoder,
        *,
        max_batch_size: int | None = None,
        max_num_tokens: int | None = None,
        max_pending_pairs: int = 65536,
        pad_multiple: int = 1,
        fill_ratio: float = 0.8,
        tokenize_chunk: int = 64,
        on_batch: Callable[[BatchStats], None] | None = None,
        batch_tokens: int | None = None,
    ) -> None:
        limits = backend.limits
        self.max_batch_size = min(int(max_batch_size or limits.max_batch_size), limits.max_batch_size)
        self.max_num_tokens = min(int(max_num_tokens or limits.max_num_tokens), limits.max_num_tokens)
        self.batch_tokens = min(int(batch_tokens or self.max_num_tokens), self.max_num_tokens)
        self.max_seq_len = int(limits.max_seq_len)
        longest = int(encoder.max_sequence_length)
        if longest > self.max_seq_len:
            raise ValueError(
                f"the prompt encoder makes sequences of up to {longest} tokens but the backend takes at most "
                f"max_seq_len={self.max_seq_len}; lower max_length or use an engine built for longer sequences"
            )
        if self.max_num_tokens < longest:
            raise ValueError(
                f"max_num_tokens={self.max_num_tokens} cannot hold one sequence of {longest} tokens; raise it"
            )
        if self.batch_tokens < 1:
            raise ValueError(f"batch_tokens must be at least 1, got {self.batch_tokens}")
        if self.max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1, got {self.max_batch_size}")
        if int(max_pending_pairs) < 1:
            raise ValueError(f"max_pending_pairs must be at least 1, got {max_pending_pairs}")
        if int(pad_multiple) < 1:
            raise ValueError(f"pad_multiple must be at least 1, got {pad_multiple}")
        if not 0.0 <= float(fill_ratio) <= 1.0:
            raise ValueError(f"fill_ratio must lie in [0, 1], got {fill_ratio}")
        if int(tokenize_chunk) < 1:
            raise ValueError(f"tokenize_chunk must be at least 1, got {tokenize_chunk}")
        self._longest_row = min(self.max_seq_len, self.max_num_tokens)
        self.backend = backend
        self.encoder = encoder
        self.max_pending_pairs = int(max_pending_pairs)
        self.pad_multiple = int(pad_multiple)
        self.fill_ratio = float(fill_ratio)
        self.tokenize_chunk = int(tokenize_chunk)
        self.on_batch = on_batch
        # Tokenizing and host-CPU batches take turns (module docstring); None where the backend runs elsewhere.
        self._host_turns = _TurnLock() if getattr(backend, "runs_on_host", False) else None

        self._cond = threading.Condition(threading.RLock())
        self._requests: dict[int, _Request] = {}
        self._deadlines: list[tuple[float, int]] = []  # heap of (deadline, request id); finished ones linger
        self._ids = itertools.count(1)
        self._batch_index = 0
        self._small_leads = 0  # batches in a row led by small requests while a large one waited
        self._pending_pairs = 0
        self._running_pairs = 0
        self._closing = False
        self._drain = False
        self._dead = False
        self._error: str | None = None
        self._counts = dict.fromkeys(
            (
                "requests_submitted",
                "requests_completed",
                "requests_failed",
                "requests_cancelled",
                "requests_expired",
                "requests_rejected",
                "pairs_scored",
                "truncated_pairs",
                "batches",
                "failed_batches",
                "batch_rows",
                "real_tokens",
                "padded_tokens",
            ),
            0,
        )
        self._worker = threading.Thread(target=self._run, name="rerankrt-scheduler", daemon=True)
        self._worker.start()

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
        queries = _per_pair(queries, n, "queries")
        instructions = None if instructions is None else _per_pair(instructions, n, "instructions")
        req = self._admit(n, deadline)
        fut = req.future
        if n == 0:
            return fut
        for start in range(0, n, self.tokenize_chunk):
            if fut.done():  # cancelled, expired or failed while we tokenized: stop spending work on it
                break
            stop = min(start + self.tokenize_chunk, n)
            note = f"(while tokenizing or queueing pairs {start}..{stop - 1} of the request)" if start else ""
            with self._failing(req, note):
                with self._host_turn(req, urgent=n <= self.tokenize_chunk) as turn:
                    if not turn:  # the deadline passed, or the request ended, while waiting for the CPU
                        self.expire(fut)
                        break
                    encoded = self.encoder.encode(
                        queries[start:stop],
                        documents[start:stop],
                        None if instructions is None else instructions[start:stop],
                        truncate=True,
                    )
                if not truncate and encoded.truncated.any():
                    first = start + int(np.flatnonzero(encoded.truncated)[0])
                    raise TruncationError(
                        f"pair {first} needs more than max_length={self.encoder.max_length} tokens "
                        f"({self.encoder.template} template) and truncate=False"
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
            if not 1 <= arr.size <= self._longest_row:
                raise ValueError(f"ids[{i}] has {arr.size} tokens; the engine takes 1 to {self._longest_row}")
            rows.append(arr.astype(np.int64, copy=False))
        req = self._admit(len(rows), deadline)
        if rows:
            with self._failing(req):
                self._enqueue(req, 0, _Tokenized(rows, np.zeros(len(rows), dtype=bool)))
        return req.future

    @contextlib.contextmanager
    def _failing(self, req: _Request, note: str = ""):
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
    def _host_turn(self, req: _Request, *, urgent: bool = False):
        """Hold the host CPU for one tokenization chunk (where batches run on it).

        Yields False instead if the request's deadline passes first or the request ends meanwhile (cancelled, or
        failed by close). Raises WorkerDiedError if the worker dies meanwhile: nothing waits forever. A draining
        close lets the wait go on: the worker finishes admitted requests, their tokenizing included.
        """
        if self._host_turns is None:
            yield True
            return
        while True:
            slice_s = _LIVENESS_POLL_S
            if req.deadline is not None:
                left = req.deadline - time.monotonic()
                if left <= 0:
                    yield False
                    return
                slice_s = min(slice_s, left)
            if self._host_turns.acquire(timeout=slice_s, urgent=urgent):
                break
            with self._cond:
                ended = req.finished
                if not ended:
                    self._raise_if_unavailable(admitted=True)
            if ended:
                yield False
                return
        try:
            yield True
        finally:
            self._host_turns.release()

    def _admit(self, n: int, deadline: float | None) -> _Request:
        """Register a request of `n` pairs, or refuse it when the queue is full or the scheduler cannot serve."""
        with self._cond:
            self._raise_if_unavailable()
            if self._pending_pairs > 0 and self._pending_pairs + n > self.max_pending_pairs:
                self._counts["requests_rejected"] += 1
                raise OverloadedError(
                    f"overloaded: {self._pending_pairs} pairs are queued and this request adds {n}, over "
                    f"max_pending_pairs={self.max_pending_pairs}; retry later"
                )
            # A new request joins the round just ahead of the latest leader (see the module docstring).
            req = _Request(next(self._ids), n, deadline, turn=2 * self._batch_index - 1)
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

    def _enqueue(self, req: _Request, start: int, encoded) -> None:
        with self._cond:
            if req.finished:
                return
            new = [(len(ids), start + i, ids) for i, ids in enumerate(encoded.ids)]
            merged = sorted(
                itertools.chain(zip(req.lengths, req.pending, strict=True), ((n, (i, ids)) for n, i, ids in new)),
                key=lambda p: (p[0], p[1][0]),
            )
            req.lengths = [n for n, _ in merged]
            req.pending = [item for _, item in merged]
            req.unqueued -= len(new)
            stop = start + len(new)
            req.truncated[start:stop] = encoded.truncated
            req.num_tokens += sum(n for n, _, _ in new)
            self._counts["truncated_pairs"] += int(np.count_nonzero(encoded.truncated))
            if not req.unqueued and not req.led and len(req.lengths) <= self._cap(self._padded(req.lengths[-1])):
                req.turn = 0  # small: it goes before the round (see the module docstring)
            self._cond.notify_all()

    # -- waiting, cancelling ---------------------------------------------------------------------------------------

    def wait(self, future: RequestFuture, timeout: float | None = None) -> ScoreResult:
        """Block until the request's result, its deadline (or `timeout`), or the worker's death.

        Args:
            future: What `submit` returned.
            timeout: Seconds to wait at most, on top of the request's own deadline. Defaults to None.

        Raises:
            DeadlineExceededError: When the deadline passes; the request's pending pairs are dropped.
            Whatever failed the request (BackendError, WorkerDiedError, CancelledError, ...).
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
                    # Finished now, by us or by a thread that may still be settling the future: wait for that.
                    return future.result(timeout=_SETTLE_S)
                slice_s = min(slice_s, left)
            try:
                return future.result(timeout=slice_s)
            except TimeoutError:
                self._check_worker()

    async def wait_async(self, future: RequestFuture, timeout: float | None = None) -> ScoreResult:
        """`wait` for asyncio: awaits without blocking the event loop; cancelling the task cancels the request."""
        import asyncio

        deadline = future.deadline
        if timeout is not None:
            until = time.monotonic() + timeout
            deadline = until if deadline is None else min(deadline, until)
        waiter = asyncio.wrap_future(future)
        try:
            while True:
                slice_s = _LIVENESS_POLL_S
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        self.expire(future)
                        return await waiter
                    slice_s = min(slice_s, left)
                done, _ = await asyncio.wait({waiter}, timeout=slice_s)
                if done:
                    return waiter.result()
                self._check_worker()
        except asyncio.CancelledError:
            future.cancel()
            raise

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

    def _on_done(self, req: _Request, future: Future) -> None:
        if future.cancelled():
            self._finish(req, counter="requests_cancelled")

    def _finish(self, req: _Request, *, exception: BaseException | None = None, counter: str, result=None) -> bool:
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

    # -- the worker ------------------------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                batch = self._next_batch()
                if batch is None:
                    return
                self._run_batch(batch)
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

    def _next_batch(self) -> _Batch | None:
        """Wait for pending pairs and form the next batch; None when closing with nothing left to run.

        Where batches take turns with tokenizing, the batch is formed once the turn is ours, so that it holds the
        pairs tokenized just before; it is returned with the turn held, and `_run_batch` gives it back.
        """
        while True:
            with self._cond:
                expired = self._expired_requests()
                if not expired:
                    if self._closing and not (self._drain and self._pending_pairs):
                        return None
                    # Only where batches take turns on the host: a GPU backend's worker skips this scan.
                    waiting = self._host_turns is not None and [r for r in self._requests.values() if r.lengths]
                    if not waiting:
                        batch = self._form_batch()
                        if batch is not None:
                            return batch
                        self._cond.wait(timeout=self._next_deadline_in())
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

    def _expired_requests(self) -> list[_Request]:
        now = time.monotonic()
        expired = []
        while self._deadlines and self._deadlines[0][0] <= now:
            req = self._requests.get(heapq.heappop(self._deadlines)[1])
            if req is not None:
                expired.append(req)
        return expired

    def _next_deadline_in(self) -> float | None:
        while self._deadlines and self._deadlines[0][1] not in self._requests:
            heapq.heappop(self._deadlines)
        return max(0.0, self._deadlines[0][0] - time.monotonic()) if self._deadlines else None

    def _padded(self, length: int) -> int:
        # Rounding up must never push one row past what the backend takes (length itself always fits).
        return min(math.ceil(length / self.pad_multiple) * self.pad_multiple, self._longest_row)

    def _cap(self, seq: int) -> int:
        """Most rows of one batch at padded length `seq`.

        The backend may hold fewer rows at a length than the token budget allows (TensorRT profiles). batch_tokens is
        a soft target: a row longer than it still runs, alone (max_num_tokens is the hard limit).
        """
        return max(1, min(self.max_batch_size, self.batch_tokens // seq, self.backend.max_rows(seq)))

    def _form_batch(self) -> _Batch | None:
        active = [r for r in self._requests.values() if r.lengths]
        if not active:
            return None
        lead = min(active, key=_round_order)
        if lead.turn == 0:  # a small request; large ones get a batch after _URGENT_IN_A_ROW small leads in a row
            # Only requests tokenized whole count: one still tokenizing may yet turn out small and lead as such.
            large = min((r for r in active if r.turn != 0 and not r.unqueued), key=_round_order, default=None)
            if large is not None and self._small_leads >= _URGENT_IN_A_ROW:
                lead = large
                self._small_leads = 0
            else:
                self._small_leads = 0 if large is None else self._small_leads + 1
        else:
            self._small_leads = 0
        self._batch_index += 1
        seq = self._padded(lead.lengths[-1])
        cap = self._cap(seq)
        floor = math.ceil(self.fill_ratio * seq)
        n = len(lead.lengths)
        small = n <= cap and not lead.unqueued
        # A small request goes in whole (one batch) when that pads it by at most 1 - fill_ratio, or by at most
        # _SMALL_PADDING_ROWS rows' worth; otherwise it is cut by length like a large one, but keeps its turn, so that
        # it leads the next batches until it is done.
        padding = n * seq - sum(lead.lengths)
        whole = small and padding <= max((1 - self.fill_ratio) * n * seq, _SMALL_PADDING_ROWS * seq)
        take = n if whole else max(1, min(cap, n - bisect.bisect_left(lead.lengths, floor)))
        if not small or take == n:
            lead.turn = 2 * self._batch_index
        lead.led = True
        rows = [(lead, index, ids) for index, ids in reversed(lead.pending[n - take :])]
        del lead.pending[n - take :], lead.lengths[n - take :]
        free = cap - len(rows)
        if free > 0:
            # Exact longest-first merge over the other requests' pairs in [floor, seq]: a heap holds each request's
            # longest fitting pair not yet taken; a request gives the run pending[k:hi] of its longest fitting pairs.
            heads = []
            for r in active:
                if r is not lead:
                    hi = bisect.bisect_right(r.lengths, seq)
                    if hi and r.lengths[hi - 1] >= floor:
                        heads.append((-r.lengths[hi - 1], r.id, hi - 1, hi, r))
            heapq.heapify(heads)
            taken = []
            while heads and free:
                _, rid, k, hi, r = heapq.heappop(heads)
                index, ids = r.pending[k]
                rows.append((r, index, ids))
                free -= 1
                if k > 0 and r.lengths[k - 1] >= floor and free:
                    heapq.heappush(heads, (-r.lengths[k - 1], rid, k - 1, hi, r))
                else:
                    taken.append((r, k, hi))
            taken.extend((r, k + 1, hi) for _, _, k, hi, r in heads if hi > k + 1)
            for r, k, hi in taken:
                del r.pending[k:hi], r.lengths[k:hi]
        self._pending_pairs -= len(rows)
        self._running_pairs = len(rows)
        return _Batch(self._batch_index, rows, seq, self._pending_pairs)

    def _run_batch(self, batch: _Batch) -> None:
        rows = len(batch.rows)
        error: BackendError | None = None
        try:
            input_ids = np.full((rows, batch.seq_len), self.encoder.pad_id, dtype=np.int64)
            lengths = np.empty(rows, dtype=np.int64)
            for i, (_, _, ids) in enumerate(batch.rows):
                input_ids[i, : len(ids)] = ids
                lengths[i] = len(ids)
            start = time.perf_counter()
            try:
                scores = np.asarray(self.backend.score(input_ids, lengths), dtype=np.float32).reshape(-1)
                if scores.shape != (rows,):
                    raise BackendError(f"the backend returned {scores.shape[0]} scores for a batch of {rows} rows")
            except Exception as exc:  # noqa: BLE001 - any failure of this call fails this batch only
                error = exc if isinstance(exc, BackendError) else BackendError(f"backend failed on a batch: {exc!r}")
                if error is not exc:
                    error.__cause__ = exc
                log.error("batch %d (%dx%d) failed: %s", batch.index, rows, batch.seq_len, error)
            duration = time.perf_counter() - start
        finally:
            if self._host_turns is not None:
                self._host_turns.release()
        real = int(lengths.sum())
        done: list[_Request] = []
        with self._cond:
            self._running_pairs = 0
            self._counts["batches"] += 1
            self._counts["batch_rows"] += rows
            self._counts["real_tokens"] += real
            self._counts["padded_tokens"] += rows * batch.seq_len
            if error is None:
                for (req, index, _), score in zip(batch.rows, scores, strict=True):
                    if req.finished:
                        continue
                    req.scores[index] = score
                    req.remaining -= 1
                    self._counts["pairs_scored"] += 1
                    if req.remaining == 0:
                        done.append(req)
            else:
                self._counts["failed_batches"] += 1
        if error is None:
            for req in done:
                result = ScoreResult(req.scores, req.num_tokens, req.truncated)
                self._finish(req, counter="requests_completed", result=result)
        else:
            for req in {id(r): r for r, _, _ in batch.rows}.values():
                self._finish(req, exception=error, counter="requests_failed")
        if self.on_batch is not None:
            stats = BatchStats(
                index=batch.index,
                rows=rows,
                seq_len=batch.seq_len,
                real_tokens=real,
                padded_tokens=rows * batch.seq_len,
                request_ids=batch.request_ids,
                duration_s=duration,
                pending_pairs=batch.pending_after,
                error=None if error is None else str(error),
            )
            try:
                self.on_batch(stats)
            except Exception:  # noqa: BLE001 - a metrics hook must never take the worker down
                log.exception("on_batch hook raised; ignored")

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

    @property
    def alive(self) -> bool:
        return self._worker.is_alive() and not self._closing

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


def _per_pair(value, n: int, name: str) -> list:
    if isinstance(value, str):
        return [value] * n
    values = list(value)
    if len(values) != n:
        raise ValueError(f"{name} has {len(values)} entries for {n} documents")
    return values


__all__ = [
    "BatchStats",
    "CancelledError",
    "DeadlineExceededError",
    "OverloadedError",
    "RequestFuture",
    "Scheduler",
    "SchedulerClosedError",
    "SchedulerError",
    "SchedulerStats",
    "ScoreResult",
    "WorkerDiedError",
]
