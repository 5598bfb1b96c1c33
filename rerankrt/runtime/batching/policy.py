"""The batching policy: which request leads the next batch, its padded length, and which pairs fill its rows.

Pure functions over plain data (the pending pool's `PendingRequest` records, a `BatchShape`, a `PolicyState`): no
locks, no threads, no clock. The scheduler calls them under its lock; the tests call them directly.

Forming a batch:

1. Lead: a small request (tokenized, and all its pairs fit one batch) that has not led yet leads first, oldest
   first, and keeps the lead until it is done. Otherwise requests take turns: the one that led longest ago leads,
   a new large request joins the round just ahead of the most recent leader, and every request leads once per
   round: nobody waits for a large request to finish, and a small request that arrives while large ones run leads
   the very next batch. Small leads go first at most `URGENT_IN_A_ROW` batches in a row while a large request
   (tokenized whole) waits; then the round's next such leader leads one batch: a stream of small requests cannot
   starve a large one. With `BatchShape.deadline_first` (the goodput policy), large requests lead earliest deadline
   first instead of in turns (requests without a deadline after those with one, in turns): under load the large
   requests then finish one after another, in time, instead of all together and late.
2. Shape: the lead's longest pending pair sets the padded length (rounded up to `pad_multiple`, capped at the
   longest row the backend takes); rows are capped by max_batch_size, by batch_tokens // padded length, by what
   the backend holds at that length (`Backend.max_rows`: TensorRT profiles) and by the memory budget
   (`max_batch_bytes` over `batch_bytes`: attention grows with the square of the length); one row always runs.
3. Rows: a small lead puts in all its pairs when they fill `fill_ratio` of the padded batch or pad it by at most
   two rows (`SMALL_PADDING_ROWS`); otherwise a lead puts in its longest pairs while they fill at least
   `fill_ratio` of the padded length, so a ragged request is cut into runs of similar length (a small one leads
   those runs back to back). Free rows go to other requests' pairs that fit under the padded length, longest first,
   again only those that fill at least `fill_ratio` of it: padding stays low.

Turns: a request's `turn` orders the round. 0 marks a small request that has not finished leading; a request that
led batch k gets 2k; a new request gets 2k - 1 with k the latest batch: just ahead of the latest leader.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from rerankrt.runtime.backends.base import ModelShape

# Small work (a small request's batch lead, an urgent CPU turn) goes before waiting large work at most this many times
# in a row; then the large work gets one: it slows large requests under a stream of small ones, never stops them.
URGENT_IN_A_ROW = 8
# Padding a small request may cost, in rows of its padded length, to run in one batch rather than one per length
# run. Measured with benchmarks/: p99 of 3-document requests under 1,000-document load fell from ~115 to ~85 ms on 2
# CPU cores, while padding efficiency on the mixed workload stayed at 0.92 (H100 limits) and 0.95 (CPU limits).
SMALL_PADDING_ROWS = 2
# The memory model of one batch on a host backend (onnxruntime, float32). Attention holds ATTENTION_COPIES tensors of
# rows x heads x seq^2 at once (scores, mask-added scores, softmax): measured on the tiny 4-head graph, one
# 8,192-token row took RSS from 0.11 to 3.1 GB, 2.9 x the 1.07 GB of one copy. Activations hold about
# ACTIVATION_WIDTHS tensors of rows x seq x hidden (residual, norms, q/k/v/o, the MLP's gate and up).
ATTENTION_COPIES = 3
ACTIVATION_WIDTHS = 16
HOST_BYTES_PER_VALUE = 4


class PendingRequest:
    """One request's place in the pending pool: its pairs waiting for a batch, its scores so far, its turn.

    The scheduler guards these records with its lock; the policy functions read and change them.
    """

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

    def __init__(self, rid: int, n: int, deadline: float | None, turn: int, future=None) -> None:
        self.id = rid
        self.future = future
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


@dataclass(frozen=True, kw_only=True)
class BatchShape:
    """The limits a batch is formed under, resolved against the backend (`SchedulerConfig.shape_for`).

    Attributes:
        max_batch_size: Most rows per batch.
        batch_tokens: Padded tokens to aim for per batch; a row longer than this still runs, alone.
        max_num_tokens: Most padded tokens per batch, the hard limit (at least batch_tokens).
        longest_row: Longest padded row the backend takes (min of max_seq_len and max_num_tokens).
        pad_multiple: The padded length is rounded up to a multiple of this.
        fill_ratio: Fewest real tokens, as a fraction of the padded length, for a pair to join a batch it does not
            set the length of.
        max_rows: Most rows the backend takes at a padded length (`Backend.max_rows`).
        max_batch_bytes: Most bytes of a batch's working memory (`batch_bytes`), or None: no memory bound. A row
            over it still runs, alone.
        model: The model's sizes the memory model needs; None leaves `max_batch_bytes` unused.
        deadline_first: Large requests lead earliest deadline first rather than in turns (the goodput policy).
    """

    max_batch_size: int
    batch_tokens: int
    max_num_tokens: int
    longest_row: int
    pad_multiple: int = 1
    fill_ratio: float = 0.8
    max_rows: Callable[[int], int] = lambda seq: 1 << 30
    max_batch_bytes: int | None = None
    model: ModelShape | None = None
    deadline_first: bool = False


@dataclass
class PolicyState:
    """What the policy remembers between batches.

    Attributes:
        batch_index: Number of the latest batch formed (0 before the first).
        small_leads: Batches in a row led by small requests while a large one waited.
    """

    batch_index: int = 0
    small_leads: int = 0


class Batch:
    """One formed batch: `rows` are (request, pair index, token ids), the lead's first."""

    __slots__ = ("index", "rows", "seq_len", "request_ids", "pending_after")

    def __init__(self, index: int, rows: list[tuple[PendingRequest, int, np.ndarray]], seq_len: int) -> None:
        self.index = index
        self.rows = rows
        self.seq_len = seq_len
        self.request_ids = tuple(dict.fromkeys(r.id for r, _, _ in rows))
        self.pending_after = 0  # pairs still pending once it was formed; the scheduler fills it in


def round_order(req: PendingRequest) -> tuple[int, int]:
    """Sort key of the round: lowest turn first, then oldest."""
    return req.turn, req.id


def deadline_order(req: PendingRequest) -> tuple[bool, float, int, int]:
    """Sort key of earliest deadline first: requests with a deadline by deadline, then the others by round order."""
    return req.deadline is None, req.deadline or 0.0, req.turn, req.id


def batch_bytes(rows: int, seq: int, model: ModelShape) -> int:
    """Working memory of a `rows` x `seq` batch on a host backend: the attention tensors of one layer (rows x heads x
    seq^2, `ATTENTION_COPIES` of them) plus the activations (rows x seq x hidden, `ACTIVATION_WIDTHS` of them).

    Layers run one after another and free their tensors, so the layer count does not multiply the peak.
    """
    per_row = seq * (ATTENTION_COPIES * model.heads * seq + ACTIVATION_WIDTHS * model.hidden)
    return rows * per_row * HOST_BYTES_PER_VALUE


def rows_within_bytes(seq: int, shape: BatchShape) -> int:
    """Most rows at padded length `seq` whose `batch_bytes` fit `shape.max_batch_bytes` (at least 1: a row over the
    budget still runs, alone); unbounded without a budget or a model shape."""
    if shape.max_batch_bytes is None or shape.model is None:
        return 1 << 30
    return max(1, shape.max_batch_bytes // batch_bytes(1, seq, shape.model))


def new_turn(state: PolicyState) -> int:
    """The turn of a request admitted now: just ahead of the latest leader."""
    return 2 * state.batch_index - 1


def padded(length: int, shape: BatchShape) -> int:
    """A batch's padded length for its longest row; rounding up never pushes it past what the backend takes."""
    return min(math.ceil(length / shape.pad_multiple) * shape.pad_multiple, shape.longest_row)


def cap(seq: int, shape: BatchShape) -> int:
    """Most rows of one batch at padded length `seq`.

    The backend may hold fewer rows at a length than the token budget allows (TensorRT profiles), and the memory
    budget fewer still at long lengths. batch_tokens is a soft target: a row longer than it still runs, alone
    (max_num_tokens is the hard limit); so does a row over the memory budget.
    """
    return max(
        1, min(shape.max_batch_size, shape.batch_tokens // seq, shape.max_rows(seq), rows_within_bytes(seq, shape))
    )


def queue_pairs(req: PendingRequest, start: int, ids: Sequence[np.ndarray], shape: BatchShape) -> int:
    """Merge tokenized pairs `start...` into the request's pending pairs; mark it small once it fits one batch.

    Returns:
        The real tokens the pairs hold.
    """
    new = [(len(row), start + i, row) for i, row in enumerate(ids)]
    merged = sorted(
        itertools.chain(zip(req.lengths, req.pending, strict=True), ((n, (i, row)) for n, i, row in new)),
        key=lambda p: (p[0], p[1][0]),
    )
    req.lengths = [n for n, _ in merged]
    req.pending = [item for _, item in merged]
    req.unqueued -= len(new)
    if not req.unqueued and not req.led and len(req.lengths) <= cap(padded(req.lengths[-1], shape), shape):
        req.turn = 0  # small: it goes before the round
    return sum(n for n, _, _ in new)


def choose_lead(
    active: Sequence[PendingRequest], state: PolicyState, *, deadline_first: bool = False
) -> PendingRequest:
    """The request that leads the next batch: the round's first small one, unless small leads have run
    `URGENT_IN_A_ROW` batches in a row past a large request tokenized whole; among large requests the round's first,
    or with `deadline_first` the one whose deadline comes first."""
    large_order = deadline_order if deadline_first else round_order
    lead = min(active, key=round_order)
    if lead.turn != 0:
        state.small_leads = 0
        return min(active, key=large_order) if deadline_first else lead
    # Only requests tokenized whole count: one still tokenizing may yet turn out small and lead as such.
    large = min((r for r in active if r.turn != 0 and not r.unqueued), key=large_order, default=None)
    if large is not None and state.small_leads >= URGENT_IN_A_ROW:
        state.small_leads = 0
        return large
    state.small_leads = 0 if large is None else state.small_leads + 1
    return lead


def lead_rows(lead: PendingRequest, seq: int, cap_rows: int, index: int, fill_ratio: float) -> list:
    """Take the lead's rows of batch `index` out of its pending pairs and update its turn."""
    floor = math.ceil(fill_ratio * seq)
    n = len(lead.lengths)
    small = n <= cap_rows and not lead.unqueued
    # A small request goes in whole (one batch) when that pads it by at most 1 - fill_ratio, or by at most
    # SMALL_PADDING_ROWS rows' worth; otherwise it is cut by length like a large one, but keeps its turn, so that
    # it leads the next batches until it is done.
    padding = n * seq - sum(lead.lengths)
    whole = small and padding <= max((1 - fill_ratio) * n * seq, SMALL_PADDING_ROWS * seq)
    take = n if whole else max(1, min(cap_rows, n - bisect.bisect_left(lead.lengths, floor)))
    if not small or take == n:
        lead.turn = 2 * index
    lead.led = True
    rows = [(lead, i, ids) for i, ids in reversed(lead.pending[n - take :])]
    del lead.pending[n - take :], lead.lengths[n - take :]
    return rows


def fill_rows(others: Iterable[PendingRequest], seq: int, floor: int, free: int) -> list:
    """Take up to `free` of the other requests' pairs with lengths in [floor, seq], longest first, ties by request.

    An exact merge: a heap holds each request's longest fitting pair not yet taken; a request gives the run
    pending[k:hi] of its longest fitting pairs.
    """
    heads = []
    for r in others:
        hi = bisect.bisect_right(r.lengths, seq)
        if hi and r.lengths[hi - 1] >= floor:
            heads.append((-r.lengths[hi - 1], r.id, hi - 1, hi, r))
    heapq.heapify(heads)
    rows, taken = [], []
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
    return rows


def form_batch(requests: Iterable[PendingRequest], state: PolicyState, shape: BatchShape) -> Batch | None:
    """The next batch from the pending pool, its rows taken out of their requests; None when no pair waits."""
    active = [r for r in requests if r.lengths]
    if not active:
        return None
    lead = choose_lead(active, state, deadline_first=shape.deadline_first)
    state.batch_index += 1
    seq = padded(lead.lengths[-1], shape)
    cap_rows = cap(seq, shape)
    rows = lead_rows(lead, seq, cap_rows, state.batch_index, shape.fill_ratio)
    if cap_rows > len(rows):
        floor = math.ceil(shape.fill_ratio * seq)
        rows += fill_rows((r for r in active if r is not lead), seq, floor, cap_rows - len(rows))
    return Batch(state.batch_index, rows, seq)


def record_scores(batch: Batch, scores: np.ndarray) -> tuple[list[PendingRequest], int]:
    """Write a batch's scores into their requests' slots, skipping finished requests.

    Returns:
        The requests now complete, and how many pairs were scored.
    """
    done, scored = [], 0
    for (req, index, _), score in zip(batch.rows, scores, strict=True):
        if req.finished:
            continue
        req.scores[index] = score
        req.remaining -= 1
        scored += 1
        if req.remaining == 0:
            done.append(req)
    return done, scored


def expired_requests(
    deadlines: list[tuple[float, int]], requests: dict[int, PendingRequest], now: float
) -> list[PendingRequest]:
    """Pop the live requests whose deadline is at or before `now` off the (deadline, request id) heap."""
    expired = []
    while deadlines and deadlines[0][0] <= now:
        req = requests.get(heapq.heappop(deadlines)[1])
        if req is not None:
            expired.append(req)
    return expired


def next_deadline_in(
    deadlines: list[tuple[float, int]], requests: dict[int, PendingRequest], now: float
) -> float | None:
    """Seconds from `now` to the next live request's deadline (None: none), dropping finished ones off the heap."""
    while deadlines and deadlines[0][1] not in requests:
        heapq.heappop(deadlines)
    return max(0.0, deadlines[0][0] - now) if deadlines else None


def padded_inputs(batch: Batch, pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """A batch's rows as the backend takes them: int64 input_ids [rows, seq_len] right-padded with `pad_id`, and
    int64 lengths [rows]."""
    input_ids = np.full((len(batch.rows), batch.seq_len), pad_id, dtype=np.int64)
    lengths = np.empty(len(batch.rows), dtype=np.int64)
    for i, (_, _, ids) in enumerate(batch.rows):
        input_ids[i, : len(ids)] = ids
        lengths[i] = len(ids)
    return input_ids, lengths


__all__ = [
    "ACTIVATION_WIDTHS",
    "ATTENTION_COPIES",
    "HOST_BYTES_PER_VALUE",
    "SMALL_PADDING_ROWS",
    "URGENT_IN_A_ROW",
    "Batch",
    "BatchShape",
    "PendingRequest",
    "PolicyState",
    "batch_bytes",
    "cap",
    "choose_lead",
    "deadline_order",
    "expired_requests",
    "fill_rows",
    "form_batch",
    "lead_rows",
    "new_turn",
    "next_deadline_in",
    "padded",
    "padded_inputs",
    "queue_pairs",
    "record_scores",
    "round_order",
    "rows_within_bytes",
]
