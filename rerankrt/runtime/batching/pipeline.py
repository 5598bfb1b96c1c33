"""A batch between the scheduler and its backend: submitted (enqueued on the device), then collected (its scores).

The scheduler's worker keeps up to ``backend.pipeline_depth`` batches in flight: with a GPU backend (depth 2) it
forms and submits batch N+1 while batch N runs, so the device never waits for the host's batch forming, padding and
copies. A host-CPU backend (depth 1) computes inside `submit`, and the worker takes turns with tokenizing as before.
These functions touch no scheduler state: a batch's contents and its pairs' scores do not depend on the depth.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from rerankrt.runtime.backends.base import Backend, BackendError
from rerankrt.runtime.batching import policy
from rerankrt.runtime.batching.policy import Batch
from rerankrt.runtime.batching.types import BatchStats

log = logging.getLogger("rerankrt.scheduler")


@dataclass(kw_only=True)
class InFlight:
    """One submitted batch: its handle, or the error that stopped its submission.

    Attributes:
        batch: What the policy formed.
        real_tokens: Sum of its rows' real lengths.
        submitted: `time.perf_counter()` when `submit` was called.
        handle: What `backend.submit` returned (None when it raised).
        error: The submission's failure, as a BackendError.
        holds_turn: Whether the host-CPU turn is held until the batch is collected.
        done: `time.perf_counter()` when it was collected.
        duration: Its own run time, set by `collect`.
    """

    batch: Batch
    real_tokens: int
    submitted: float
    handle: object = None
    error: BackendError | None = None
    holds_turn: bool = False
    done: float = 0.0
    duration: float = 0.0


def backend_error(exc: Exception, batch: Batch) -> BackendError:
    """Any failure of a backend call -> the BackendError that fails this batch's requests (logged once)."""
    error = exc if isinstance(exc, BackendError) else BackendError(f"backend failed on a batch: {exc!r}")
    if error is not exc:
        error.__cause__ = exc
    log.error("batch %d (%dx%d) failed: %s", batch.index, len(batch.rows), batch.seq_len, error)
    return error


def launch(backend: Backend, batch: Batch, pad_id: int, *, holds_turn: bool = False) -> InFlight:
    """Pad a batch and submit it; a submission that raises is recorded on the returned `InFlight`, not raised."""
    input_ids, lengths = policy.padded_inputs(batch, pad_id)
    flight = InFlight(batch=batch, real_tokens=int(lengths.sum()), submitted=time.perf_counter(), holds_turn=holds_turn)
    try:
        flight.handle = backend.submit(input_ids, lengths)
    except Exception as exc:  # noqa: BLE001 - any failure of this call fails this batch only
        flight.error = backend_error(exc, batch)
    return flight


def collect(backend: Backend, flight: InFlight, previous_done: float) -> tuple[np.ndarray | None, BackendError | None]:
    """Wait for a submitted batch's scores: (scores, None), or (None, the error that failed it).

    Sets ``flight.duration`` to the batch's own run time: from its submission, or from when the batch before it
    finished (`previous_done`) if that was later, since a device runs them one after the other.
    """
    rows = len(flight.batch.rows)
    scores, error = None, flight.error
    if error is None:
        try:
            scores = np.asarray(backend.result(flight.handle), dtype=np.float32).reshape(-1)
            if scores.shape != (rows,):
                raise BackendError(f"the backend returned {scores.shape[0]} scores for a batch of {rows} rows")
        except Exception as exc:  # noqa: BLE001 - any failure of this call fails this batch only
            scores, error = None, backend_error(exc, flight.batch)
    flight.done = time.perf_counter()
    flight.duration = flight.done - max(flight.submitted, previous_done)
    return scores, error


def batch_stats(flight: InFlight, error: BackendError | None) -> BatchStats:
    """What batch listeners are told about a collected batch."""
    batch, rows = flight.batch, len(flight.batch.rows)
    return BatchStats(
        index=batch.index,
        rows=rows,
        seq_len=batch.seq_len,
        real_tokens=flight.real_tokens,
        padded_tokens=rows * batch.seq_len,
        request_ids=batch.request_ids,
        duration_s=flight.duration,
        pending_pairs=batch.pending_after,
        error=None if error is None else str(error),
    )


__all__ = ["InFlight", "backend_error", "batch_stats", "collect", "launch"]
