"""Waiting on a request's future: the one deadline loop under `Scheduler.wait` and `Scheduler.wait_async`, and
settling a future that a caller may cancel at the same moment.

Nothing here holds scheduler state: the loop is given what to call at the deadline (expire the request) and between
slices (check that the worker lives), so that nothing waits forever.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, InvalidStateError

from rerankrt.runtime.batching.types import RequestFuture, ScoreResult

# How often a waiter checks that the worker is still alive; bounds how long a dead worker can go unnoticed.
LIVENESS_POLL_S = 0.5
# How long a wait gives a request that another thread just finished to have its future settled (it is immediate).
SETTLE_S = 5.0


def settle(future: Future, *, result=None, exception: BaseException | None = None) -> None:
    """Complete a future unless a caller cancelled it first (which may race with us from another thread)."""
    try:
        if exception is not None:
            future.set_exception(exception)
        else:
            future.set_result(result)
    except InvalidStateError:
        pass


def wait_slices(
    future: RequestFuture,
    timeout: float | None,
    *,
    expire: Callable[[RequestFuture], None],
    check_worker: Callable[[], None],
) -> Iterator[float | None]:
    """Yield how long to wait on the future next, until the request's deadline (or `timeout`, if sooner).

    Between slices it calls `check_worker`. At the deadline it calls `expire(future)` and yields None: the future is
    finished then (by `expire`, or by a thread that may still be settling it), and the caller waits for it.
    """
    deadline = future.deadline
    if timeout is not None:
        until = time.monotonic() + timeout
        deadline = until if deadline is None else min(deadline, until)
    while True:
        slice_s = LIVENESS_POLL_S
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                expire(future)
                yield None
                return
            slice_s = min(slice_s, left)
        yield slice_s
        check_worker()


def result_in_slices(future: RequestFuture, slices: Iterator[float | None]) -> ScoreResult:
    """Block on the future slice by slice (`wait_slices`) until it has a result or an error, and return or raise it."""
    for slice_s in slices:
        if slice_s is None:
            return future.result(timeout=SETTLE_S)
        try:
            return future.result(timeout=slice_s)
        except TimeoutError:
            if future.done():  # it failed with DeadlineExceededError, itself a TimeoutError
                raise
    raise AssertionError("unreachable: the wait loop ends by returning")


async def result_in_slices_async(future: RequestFuture, slices: Iterator[float | None]) -> ScoreResult:
    """`result_in_slices` for asyncio: awaits without blocking the event loop; cancelling the task cancels the
    request."""
    import asyncio

    waiter = asyncio.wrap_future(future)
    try:
        for slice_s in slices:
            if slice_s is None:
                return await waiter
            done, _ = await asyncio.wait({waiter}, timeout=slice_s)
            if done:
                return waiter.result()
    except asyncio.CancelledError:
        future.cancel()
        raise
    raise AssertionError("unreachable: the wait loop ends by returning")


__all__ = ["LIVENESS_POLL_S", "SETTLE_S", "result_in_slices", "result_in_slices_async", "settle", "wait_slices"]
