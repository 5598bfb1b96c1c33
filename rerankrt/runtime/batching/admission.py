"""Goodput admission: refuse a request at once when it cannot finish before its deadline, rather than late.

Under concurrent large requests, work that finishes after its deadline is thrown away (the client got 504). The
scheduler therefore estimates, when a request with a deadline arrives, when it would finish: the pairs queued ahead
of it (under earliest-deadline-first, those of requests due no later, and every small request) plus its own, at the
throughput the backend has been measured to serve (`ThroughputMeter`, fed with every `BatchStats`). A request that
would finish late is refused with `OverloadedError`, its `retry_after_s` the time the work ahead needs to drain
enough, which the server sends as ``Retry-After`` with its 429.

A request is always admitted when nothing is ahead of it (an idle scheduler tries whatever comes), before the first
batch has been measured, and when it has no deadline. Pure functions and one small meter: no scheduler state here.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from rerankrt.runtime.batching.policy import PendingRequest
from rerankrt.runtime.batching.types import BatchStats, OverloadedError

# Weight of the newest batch in the throughput average: about the last 5 batches count, enough to follow a change of
# load (small batches vs long ones) within a second or two on a CPU, not so few that one slow batch swings it.
EWMA_ALPHA = 0.2


@dataclass(frozen=True, kw_only=True)
class Throughput:
    """What the backend has been serving lately.

    Attributes:
        tokens_per_s: Padded tokens scored per second of busy wall time (tokenizing turns on the host included).
        tokens_per_row: Padded tokens per row (pair) of those batches.
    """

    tokens_per_s: float
    tokens_per_row: float

    @property
    def pairs_per_s(self) -> float:
        return self.tokens_per_s / self.tokens_per_row


class ThroughputMeter:
    """An exponentially weighted average of served throughput, from the scheduler's batch listener calls.

    A batch's time is its wall time since the previous batch ended when work was waiting then (so that time spent
    tokenizing and forming batches counts: it delays the queue too), else the backend call's own duration.

    Args:
        alpha: Weight of the newest batch. Defaults to `EWMA_ALPHA`.
        clock: Seconds, monotonic. Defaults to `time.monotonic`.
    """

    def __init__(self, alpha: float = EWMA_ALPHA, clock: Callable[[], float] = time.monotonic) -> None:
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"alpha must lie in (0, 1], got {alpha!r}")
        self._alpha = alpha
        self._clock = clock
        self._lock = threading.Lock()
        self._last_end: float | None = None
        self._last_pending = 0
        self.throughput: Throughput | None = None  # replaced whole: readers need no lock

    def observe(self, stats: BatchStats) -> None:
        """Fold one batch in (a `Scheduler` batch listener); failed batches only move the clock."""
        now = self._clock()
        with self._lock:
            busy_s = stats.duration_s
            if self._last_end is not None and self._last_pending > 0:
                busy_s = max(busy_s, now - self._last_end)
            self._last_end, self._last_pending = now, stats.pending_pairs
            if stats.error is not None or busy_s <= 0 or stats.rows < 1:
                return
            rate, per_row = stats.padded_tokens / busy_s, stats.padded_tokens / stats.rows
            old, a = self.throughput, self._alpha
            if old is not None:
                rate, per_row = a * rate + (1 - a) * old.tokens_per_s, a * per_row + (1 - a) * old.tokens_per_row
            self.throughput = Throughput(tokens_per_s=rate, tokens_per_row=per_row)


def pairs_ahead(requests: Iterable[PendingRequest], deadline: float, *, small: bool) -> int:
    """Pairs not yet in a batch that go before a new request due at `deadline`, under the goodput policy.

    Small requests (turn 0) go first; a small newcomer waits only for them. A large newcomer also waits for the
    large requests due no later than it (earliest deadline first); those without a deadline go after it.
    """
    ahead = 0
    for r in requests:
        if r.finished:
            continue
        due_first = r.turn == 0 or (not small and r.deadline is not None and r.deadline <= deadline)
        if due_first:
            ahead += len(r.lengths) + r.unqueued
    return ahead


@dataclass(frozen=True, kw_only=True)
class Estimate:
    """When a request would finish, against when it must.

    Attributes:
        finish_in_s: Seconds from now until its last pair is scored, at the measured throughput.
        time_left_s: Seconds from now until its deadline.
    """

    finish_in_s: float
    time_left_s: float

    @property
    def in_time(self) -> bool:
        return self.finish_in_s <= self.time_left_s

    @property
    def retry_after_s(self) -> float:
        """Seconds after which the work ahead has drained by what this request is late by (at least 1)."""
        return max(1.0, float(math.ceil(self.finish_in_s - self.time_left_s)))


def estimate(pairs: int, ahead: int, time_left_s: float, throughput: Throughput) -> Estimate:
    """A request of `pairs` behind `ahead` pairs, served at `throughput`."""
    return Estimate(finish_in_s=(ahead + pairs) / throughput.pairs_per_s, time_left_s=time_left_s)


def refusal(
    requests: Iterable[PendingRequest],
    pairs: int,
    deadline: float | None,
    *,
    running_pairs: int,
    throughput: Throughput | None,
    small: bool,
    now: float,
) -> OverloadedError | None:
    """The OverloadedError to refuse a new request with, or None to admit it (see the module docstring).

    Args:
        requests: The live requests of the pending pool.
        pairs: The new request's pairs.
        deadline: Its `time.monotonic()` deadline, or None.
        running_pairs: Pairs of the batch running now (they finish before anything queued).
        throughput: The meter's measurement, or None before the first batch.
        small: Whether the new request fits one batch (it goes before large requests).
        now: `time.monotonic()` now.
    """
    if deadline is None or throughput is None or pairs == 0:
        return None
    ahead = running_pairs + pairs_ahead(requests, deadline, small=small)
    if ahead == 0:
        return None
    guess = estimate(pairs, ahead, deadline - now, throughput)
    if guess.in_time:
        return None
    return OverloadedError(
        f"overloaded: {ahead} pairs are ahead of this request's {pairs}; at the measured "
        f"{throughput.pairs_per_s:.0f} pairs/s it would finish in {guess.finish_in_s:.1f} s, after its deadline in "
        f"{max(guess.time_left_s, 0.0):.1f} s; retry in {guess.retry_after_s:.0f} s",
        retry_after_s=guess.retry_after_s,
    )


__all__ = ["EWMA_ALPHA", "Estimate", "Throughput", "ThroughputMeter", "estimate", "pairs_ahead", "refusal"]
