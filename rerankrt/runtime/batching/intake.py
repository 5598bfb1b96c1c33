"""What a request goes through before its pairs join the scheduler's pool: the queue cap and goodput refusal
(`rerankrt.runtime.batching.admission`), and the checks on caller-tokenized rows.

Pure functions: the scheduler calls them under its lock with the numbers they need and keeps the bookkeeping.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from rerankrt.runtime.batching import admission
from rerankrt.runtime.batching.policy import PendingRequest
from rerankrt.runtime.batching.types import OverloadedError


def refusal(
    requests: Iterable[PendingRequest],
    n: int,
    deadline: float | None,
    *,
    pending_pairs: int,
    max_pending_pairs: int,
    goodput: bool,
    running_pairs: int,
    throughput: admission.Throughput | None,
    small: bool,
    now: float,
) -> OverloadedError | None:
    """Why a request of `n` pairs is refused now, or None when it is admitted.

    A full queue refuses it (though an empty one takes any request whole); with `goodput`, so does a deadline it
    would miss (`admission.refusal`).
    """
    if pending_pairs > 0 and pending_pairs + n > max_pending_pairs:
        return OverloadedError(
            f"overloaded: {pending_pairs} pairs are queued and this request adds {n}, over "
            f"max_pending_pairs={max_pending_pairs}; retry later"
        )
    if not goodput:
        return None
    return admission.refusal(
        requests, n, deadline, running_pairs=running_pairs, throughput=throughput, small=small, now=now
    )


def rows_from_ids(ids: Sequence, longest_row: int) -> list[np.ndarray]:
    """Caller-tokenized prompts as int64 rows, each checked to be 1-D integer ids, 1..`longest_row` long.

    Raises:
        ValueError: For an empty, too long or non-integer row, naming its index.
    """
    rows = []
    for i, row in enumerate(ids):
        arr = np.asarray(row)
        if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
            raise ValueError(f"ids[{i}] must be a 1-D sequence of integer token ids, got {arr.dtype} {arr.shape}")
        if not 1 <= arr.size <= longest_row:
            raise ValueError(f"ids[{i}] has {arr.size} tokens; the engine takes 1 to {longest_row}")
        rows.append(arr.astype(np.int64, copy=False))
    return rows


__all__ = ["refusal", "rows_from_ids"]
