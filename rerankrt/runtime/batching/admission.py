"""Goodput admission: refuse a request at once when it cannot finish before its deadline, rather than late.

Under concurrent large requests, work that finishes after its deadline is thrown away (the client got 504). The
scheduler therefore estimates, when a request with a deadline arrives, when it would finish under the goodput policy
(every small request first, then large requests earliest deadline first): the tokens of the running batch, of the
small requests waiting, of the large requests due no later than it, plus its own, at the rate the backend has been
measured to serve large work (`ThroughputMeter`, fed with every `BatchStats`). It is admitted only if that finish,
times `SAFETY_MARGIN`, is before its deadline, and only if it does not push an admitted request with a later
deadline (which it now goes before) from in time to late. Otherwise it is refused with `OverloadedError`, its
`retry_after_s` the time the work ahead needs to drain enough, which the server sends as ``Retry-After`` with 429.

The meter does not average per batch: a 3-row batch of a small request and a full batch of a large one would then
weigh alike, and the rate would swing with the mix. It sums real tokens and busy seconds over bulk batches (those
at least `BULK_FRACTION` of the largest batch seen, in padded tokens) in a window of the last `HALF_LIFE_S` seconds
of work. Work is counted in tokens, not pairs (a request's long pairs run first, so pairs per second swing tenfold
along one request while tokens per second hold): queued pairs by their lengths, pairs not yet tokenized (the
newcomer's) at the mean tokens per pair of all bulk batches. The meter also measures the share of busy time that
small batches take while other work waits (the small stream's share, which delays large requests); large work
proceeds at the bulk rate times one minus that share. The first bulk batch is the prior: on a cold backend it is
the slowest, so the first estimates err toward refusing; it is dropped once `PRIOR_BATCHES` more are measured.

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

# The meter's memory, in seconds of worker busy time: long enough to span several full batches and the small
# batches between them (so one slow batch does not swing it), short enough to follow a change of load in seconds.
HALF_LIFE_S = 5.0
# A batch counts toward the bulk rate when it holds at least this fraction of the largest batch's padded tokens
# seen: full batches of large requests do, the 3-row batches of small ones (and a large request's short tail) do not.
BULK_FRACTION = 0.5
# Admit only when the estimated finish times this is before the deadline: the estimate is an average, and a
# request admitted to finish just in time that finishes late wastes all its work.
SAFETY_MARGIN = 1.15
# The first bulk batch is the prior only until this many more have been measured: on a cold backend it runs several
# times slower than the next ones (first-call allocation), and within a short window it would weigh for seconds.
PRIOR_BATCHES = 4
# The small stream's share of the worker is capped here: small leads run at most 8 batches in a row before a large
# one (policy.URGENT_IN_A_ROW), and a share near 1 would refuse every large request on a noisy measurement.
MAX_SMALL_SHARE = 0.8


@dataclass(frozen=True, kw_only=True)
class Throughput:
    """What the backend has been serving lately.

    Attributes:
        tokens_per_s: Real tokens scored per second of busy time in bulk batches (the rate of large work alone;
            padding's cost is in it). Steady along a request, unlike pairs per second: its long pairs go first.
        tokens_per_pair: Real tokens per pair of those batches, over all of them (the size of a pair not yet
            tokenized).
        small_share: Fraction of busy time that small batches took while other work waited, in [0, MAX_SMALL_SHARE].
    """

    tokens_per_s: float
    tokens_per_pair: float
    small_share: float = 0.0

    def __post_init__(self) -> None:
        for name in ("tokens_per_s", "tokens_per_pair"):
            if not getattr(self, name) > 0:
                raise ValueError(f"Throughput.{name} must be > 0, got {getattr(self, name)!r}")
        if not 0.0 <= self.small_share < 1.0:
            raise ValueError(f"Throughput.small_share must lie in [0, 1), got {self.small_share!r}")

    @property
    def large_tokens_per_s(self) -> float:
        """The rate at which large requests' tokens are served with the small stream taking its share."""
        return self.tokens_per_s * (1.0 - self.small_share)

    @property
    def pairs_per_s(self) -> float:
        """Large requests' pairs per second, for an average pair."""
        return self.large_tokens_per_s / self.tokens_per_pair


class ThroughputMeter:
    """Served throughput over a window of recent work, from the scheduler's batch listener calls.

    A batch's time is its wall time since the previous batch ended when work was waiting then (so that time spent
    tokenizing and forming batches counts: it delays the queue too), else the backend call's own duration.

    Args:
        half_life_s: Busy seconds after which a batch counts half. Defaults to `HALF_LIFE_S`.
        bulk_fraction: See `BULK_FRACTION`.
        clock: Seconds, monotonic. Defaults to `time.monotonic`.
    """

    def __init__(
        self,
        half_life_s: float = HALF_LIFE_S,
        bulk_fraction: float = BULK_FRACTION,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not half_life_s > 0:
            raise ValueError(f"half_life_s must be > 0, got {half_life_s!r}")
        if not 0.0 < bulk_fraction <= 1.0:
            raise ValueError(f"bulk_fraction must lie in (0, 1], got {bulk_fraction!r}")
        self._half_life_s = half_life_s
        self._bulk_fraction = bulk_fraction
        self._clock = clock
        self._lock = threading.Lock()
        self._last_end: float | None = None
        self._last_pending = 0
        self._largest = 0
        # Decayed sums: bulk real tokens and seconds; seconds of small batches while work waited.
        self._tokens = self._bulk_s = self._small_s = 0.0
        # All bulk batches' real tokens and pairs, undecayed: a request's long pairs run first, so a recent
        # window would size a pair by where in a request the window fell.
        self._all_tokens = self._all_pairs = 0
        self._bulk_batches = 0
        self._prior: tuple[float, float] | None = None  # the first bulk batch's (real tokens, busy seconds)
        self.throughput: Throughput | None = None  # replaced whole: readers need no lock

    def observe(self, stats: BatchStats) -> None:
        """Fold one batch in (a `Scheduler` batch listener); failed batches only move the clock."""
        now = self._clock()
        with self._lock:
            busy_s = stats.duration_s
            backlog = self._last_end is not None and self._last_pending > 0
            if backlog:
                busy_s = max(busy_s, now - self._last_end)
            self._last_end, self._last_pending = now, stats.pending_pairs
            if stats.error is not None or busy_s <= 0 or stats.rows < 1:
                return
            keep = 0.5 ** (busy_s / self._half_life_s)
            self._tokens, self._bulk_s, self._small_s = (keep * v for v in (self._tokens, self._bulk_s, self._small_s))
            self._largest = max(self._largest, stats.padded_tokens)
            if stats.padded_tokens >= self._bulk_fraction * self._largest:
                self._bulk_batches += 1
                if self._prior is None:
                    self._prior = (stats.real_tokens, busy_s)
                else:
                    self._tokens += stats.real_tokens
                    self._bulk_s += busy_s
                self._all_tokens += stats.real_tokens
                self._all_pairs += stats.rows
            elif backlog or stats.pending_pairs > 0:  # a small batch that made waiting work wait
                self._small_s += busy_s
            tokens, bulk_s = self._tokens, self._bulk_s
            if self._prior is not None and self._bulk_batches <= 1 + PRIOR_BATCHES:
                tokens, bulk_s = tokens + self._prior[0], bulk_s + self._prior[1]
            if bulk_s <= 0:
                return
            share = min(MAX_SMALL_SHARE, self._small_s / (self._small_s + bulk_s))
            self.throughput = Throughput(
                tokens_per_s=tokens / bulk_s,
                tokens_per_pair=self._all_tokens / self._all_pairs,
                small_share=share,
            )


def _due_first(r: PendingRequest, deadline: float, small: bool) -> bool:
    return not r.finished and (r.turn == 0 or (not small and r.deadline is not None and r.deadline <= deadline))


def pairs_ahead(requests: Iterable[PendingRequest], deadline: float, *, small: bool) -> int:
    """Pairs not yet in a batch that go before a new request due at `deadline`, under the goodput policy.

    Small requests (turn 0) go first; a small newcomer waits only for them. A large newcomer also waits for the
    large requests due no later than it (earliest deadline first; ties keep arrival order); those without a
    deadline go after it.
    """
    return sum(_left(r) for r in requests if _due_first(r, deadline, small))


def tokens_ahead(requests: Iterable[PendingRequest], deadline: float, *, small: bool, tokens_per_pair: float) -> float:
    """The real tokens of the pairs `pairs_ahead` counts: those tokenized by their lengths, the others (still
    being tokenized) at `tokens_per_pair` each."""
    return sum(_work(r, tokens_per_pair) for r in requests if _due_first(r, deadline, small))


def _left(req: PendingRequest) -> int:
    return len(req.lengths) + req.unqueued


def _work(req: PendingRequest, tokens_per_pair: float) -> float:
    return sum(req.lengths) + req.unqueued * tokens_per_pair


@dataclass(frozen=True, kw_only=True)
class Estimate:
    """When a request would finish, against when it must.

    Attributes:
        finish_in_s: Seconds from now until its last pair is scored, at the measured throughput.
        time_left_s: Seconds from now until its deadline.
        margin: The safety factor `in_time` applies to `finish_in_s`.
    """

    finish_in_s: float
    time_left_s: float
    margin: float = SAFETY_MARGIN

    @property
    def in_time(self) -> bool:
        return self.finish_in_s * self.margin <= self.time_left_s

    @property
    def retry_after_s(self) -> float:
        """Seconds after which the work ahead has drained by what this request is late by (at least 1)."""
        return max(1.0, float(math.ceil(self.finish_in_s * self.margin - self.time_left_s)))


def estimate(
    tokens: float, ahead: float, time_left_s: float, throughput: Throughput, *, margin: float = SAFETY_MARGIN
) -> Estimate:
    """A request of `tokens` (real tokens) behind `ahead` tokens, served at the throughput's large-work rate."""
    return Estimate(
        finish_in_s=(ahead + tokens) / throughput.large_tokens_per_s, time_left_s=time_left_s, margin=margin
    )


def spoiled(
    requests: Iterable[PendingRequest],
    tokens: float,
    deadline: float,
    *,
    base_tokens: float,
    throughput: Throughput,
    now: float,
    margin: float = SAFETY_MARGIN,
) -> tuple[PendingRequest, Estimate] | None:
    """The admitted large request that a new large one due at `deadline` would push from in time to late, if any.

    Under earliest deadline first the newcomer goes before every large request due after it, delaying each by its
    own `tokens`; one that would finish in time without it and late with it is spoiled (returned with its estimate
    without the newcomer). `base_tokens`: the work that
    goes before all large requests (the running batch and small requests).
    """
    requests = [r for r in requests if not r.finished and r.turn != 0 and r.deadline is not None]
    later = sorted((r for r in requests if r.deadline > deadline), key=lambda r: (r.deadline, r.id))
    per_pair = throughput.tokens_per_pair
    cumulative = base_tokens + sum(_work(r, per_pair) for r in requests if r.deadline <= deadline)
    for r in later:
        cumulative += _work(r, per_pair)
        before = estimate(0, cumulative, r.deadline - now, throughput, margin=margin)
        after = estimate(tokens, cumulative, r.deadline - now, throughput, margin=margin)
        if before.in_time and not after.in_time:
            return r, before
    return None


def refusal(
    requests: Iterable[PendingRequest],
    pairs: int,
    deadline: float | None,
    *,
    running_pairs: int,
    throughput: Throughput | None,
    small: bool,
    now: float,
    margin: float = SAFETY_MARGIN,
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
        margin: See `SAFETY_MARGIN`.
    """
    if deadline is None or throughput is None or pairs == 0:
        return None
    requests = list(requests)
    per_pair = throughput.tokens_per_pair
    ahead = running_pairs * per_pair + tokens_ahead(requests, deadline, small=small, tokens_per_pair=per_pair)
    guess = estimate(pairs * per_pair, ahead, deadline - now, throughput, margin=margin)
    if ahead and not guess.in_time:  # with nothing ahead it is tried whatever the estimate says
        n_ahead = running_pairs + pairs_ahead(requests, deadline, small=small)
        return OverloadedError(
            f"overloaded: {n_ahead} pairs are ahead of this request's {pairs}; at the measured "
            f"{throughput.pairs_per_s:.0f} pairs/s it would finish in {guess.finish_in_s:.1f} s, too close to "
            f"its deadline in {max(guess.time_left_s, 0.0):.1f} s; retry in {guess.retry_after_s:.0f} s",
            retry_after_s=guess.retry_after_s,
        )
    if small:  # small requests take the small stream's share, already counted: they never spoil large ones
        return None
    base = running_pairs * per_pair + sum(_work(r, per_pair) for r in requests if not r.finished and r.turn == 0)
    found = spoiled(
        requests, pairs * per_pair, deadline, base_tokens=base, throughput=throughput, now=now, margin=margin
    )
    if found is None:
        return None
    victim, victim_finish = found
    # It goes after the victim once the victim is done: by then the victim's pairs and those ahead have drained.
    wait = max(1.0, float(math.ceil(victim_finish.finish_in_s)))
    return OverloadedError(
        f"overloaded: this request's {pairs} pairs would go before request {victim.id}, due later, and make it "
        f"finish after its deadline; retry in {wait:.0f} s",
        retry_after_s=wait,
    )


__all__ = [
    "BULK_FRACTION",
    "HALF_LIFE_S",
    "MAX_SMALL_SHARE",
    "PRIOR_BATCHES",
    "SAFETY_MARGIN",
    "Estimate",
    "Throughput",
    "ThroughputMeter",
    "estimate",
    "pairs_ahead",
    "refusal",
    "spoiled",
    "tokens_ahead",
]
