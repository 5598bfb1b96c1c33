"""What the scheduler hands back and raises: the errors, a request's result and future, batch and counter snapshots."""

from __future__ import annotations

from concurrent.futures import CancelledError, Future
from dataclasses import dataclass

import numpy as np


class SchedulerError(RuntimeError):
    """The scheduler cannot take or finish a request."""


class OverloadedError(SchedulerError):
    """The queue is full (max_pending_pairs), or the request cannot finish before its deadline behind the work
    ahead of it (the goodput admission); retry later. Maps to HTTP 429.

    Attributes:
        retry_after_s: Seconds after which the work ahead should have drained enough, where the scheduler can
            estimate it (the server sends it as ``Retry-After``); None: unknown.
    """

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


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
    """One backend call, as passed to each batch listener (`Scheduler.add_batch_listener`).

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


__all__ = [
    "BatchStats",
    "CancelledError",
    "DeadlineExceededError",
    "OverloadedError",
    "RequestFuture",
    "SchedulerClosedError",
    "SchedulerError",
    "SchedulerStats",
    "ScoreResult",
    "WorkerDiedError",
]
