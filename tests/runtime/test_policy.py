"""The batching policy on plain data: no scheduler, no threads, no clock.

Each test builds a pending pool of `PendingRequest` records with chosen pair lengths and checks what
`form_batch` makes of it: who leads, the padded length, which rows go in.
"""

from __future__ import annotations

import numpy as np
import pytest

from rerankrt.runtime.backends.base import ModelShape
from rerankrt.runtime.batching import policy
from rerankrt.runtime.batching.policy import (
    SMALL_PADDING_ROWS,
    URGENT_IN_A_ROW,
    BatchShape,
    PendingRequest,
    PolicyState,
    batch_bytes,
    cap,
    form_batch,
    padded,
    queue_pairs,
    rows_within_bytes,
)


def shape(**overrides) -> BatchShape:
    values = {"max_batch_size": 8, "batch_tokens": 1024, "max_num_tokens": 1024, "longest_row": 128}
    return BatchShape(**{**values, **overrides})


class Pool:
    """A pending pool as the scheduler keeps it: requests by id, admitted with the policy's turns."""

    def __init__(self, batch_shape: BatchShape | None = None) -> None:
        self.shape = batch_shape or shape()
        self.state = PolicyState()
        self.requests: dict[int, PendingRequest] = {}

    def add(self, lengths: list[int], *, queued: int | None = None, deadline: float | None = None) -> PendingRequest:
        """Admit a request of len(lengths) pairs; queue the first `queued` of them (all by default)."""
        rid = len(self.requests) + 1
        req = PendingRequest(rid, len(lengths), deadline, policy.new_turn(self.state))
        self.requests[rid] = req
        queued = len(lengths) if queued is None else queued
        if queued:
            rows = [np.full(n, rid, dtype=np.int64) for n in lengths[:queued]]
            queue_pairs(req, 0, rows, self.shape)
        return req

    def warm(self) -> None:
        """Run one batch first: a request admitted before any batch gets turn -1, ahead of small ones (turn 0)."""
        self.add([1])
        self.batch()

    def batch(self) -> policy.Batch | None:
        batch = form_batch(self.requests.values(), self.state, self.shape)
        for req in list(self.requests.values()):
            if not req.lengths and not req.unqueued:
                del self.requests[req.id]  # all its pairs are in batches: it leaves the pool
        return batch

    def leads(self, n: int) -> list[int]:
        return [self.batch().request_ids[0] for _ in range(n)]


def test_padding_rounds_up_to_the_multiple_but_never_past_the_longest_row():
    s = shape(pad_multiple=8, longest_row=100)
    assert [padded(n, s) for n in (1, 8, 9, 95, 97, 100)] == [8, 8, 16, 96, 100, 100]


def test_rows_are_capped_by_batch_size_token_budget_and_backend_profiles():
    s = shape(max_batch_size=8, batch_tokens=256, max_rows=lambda seq: 8 if seq <= 16 else 2)
    assert cap(16, s) == 8  # 256 // 16 = 16 rows, capped at 8
    assert cap(64, s) == 2  # the backend's profile holds 2 rows past 16 tokens
    assert cap(300, s) == 1  # a row longer than the token target still runs, alone


def test_a_request_that_fits_one_batch_is_marked_small_once_tokenized_whole():
    pool = Pool(shape(max_batch_size=4))
    small = pool.add([10, 10, 10])
    large = pool.add([10] * 5)
    partly = pool.add([10, 10], queued=1)
    assert small.turn == 0 and large.turn != 0 and partly.turn != 0
    assert small.lengths == [10, 10, 10] and partly.unqueued == 1


def test_pending_pairs_stay_sorted_by_length_then_index():
    pool = Pool()
    req = pool.add([30, 5, 30, 12])
    assert req.lengths == [5, 12, 30, 30]
    assert [i for i, _ in req.pending] == [1, 3, 0, 2]
    assert req.num_tokens == 0  # queue_pairs returns the tokens, the scheduler counts them


def test_the_lead_choice_follows_the_round_and_a_small_request_goes_first():
    pool = Pool(shape(max_batch_size=2, batch_tokens=64))
    one = pool.add([20] * 10)
    two = pool.add([20] * 10)
    assert pool.leads(2) == [one.id, two.id]  # large requests take turns
    small = pool.add([20, 20])
    assert pool.batch().request_ids == (small.id,)  # small goes before both, which already led
    assert pool.leads(4) == [one.id, two.id, one.id, two.id]


def test_a_new_large_request_joins_the_round_just_ahead_of_the_latest_leader():
    pool = Pool(shape(max_batch_size=2, batch_tokens=64))
    one = pool.add([20] * 10)
    two = pool.add([20] * 10)
    assert pool.leads(2) == [one.id, two.id]
    three = pool.add([20] * 10)
    assert pool.leads(3) == [one.id, three.id, two.id]


def test_small_leads_cannot_starve_a_large_request():
    pool = Pool(shape(max_batch_size=2, batch_tokens=64))
    large = pool.add([10] * 6)
    assert pool.leads(1) == [large.id]
    small = [pool.add([10, 10]) for _ in range(URGENT_IN_A_ROW + 2)]
    leads = pool.leads(URGENT_IN_A_ROW + 4)
    expected = [r.id for r in small[:URGENT_IN_A_ROW]] + [large.id] + [r.id for r in small[URGENT_IN_A_ROW:]]
    assert leads == [*expected, large.id]


def test_a_request_still_tokenizing_does_not_count_as_waiting_large_work():
    pool = Pool(shape(max_batch_size=2, batch_tokens=64))
    pool.warm()
    tokenizing = pool.add([10] * 4, queued=2)  # may yet turn out small
    small = [pool.add([10, 10]) for _ in range(URGENT_IN_A_ROW + 1)]
    assert pool.leads(URGENT_IN_A_ROW + 1) == [r.id for r in small]
    assert pool.state.small_leads == 0 and tokenizing.led is False


def test_length_bucketing_cuts_a_ragged_request_into_runs_of_similar_length():
    pool = Pool(shape(max_batch_size=8, fill_ratio=0.8))
    req = pool.add([100, 98, 95, 60, 58, 10, 9, 9, 8, 40, 41, 42, 43, 44, 45, 46, 47, 48])
    seen = []
    while pool.requests:
        batch = pool.batch()
        lengths = [len(ids) for _, _, ids in batch.rows]
        assert min(lengths) >= 0.8 * batch.seq_len or len(lengths) == 1, (batch.seq_len, lengths)
        seen.append((batch.seq_len, len(lengths)))
    assert seen[0] == (100, 3)  # 100, 98, 95: 60 would fill under 80% of 100
    assert sum(rows for _, rows in seen) == 18 and req.lengths == []


def test_a_small_request_padded_by_at_most_two_rows_goes_in_whole():
    pool = Pool()
    req = pool.add([2, 41, 112])  # 3 rows of 112 for 155 real tokens: 181 padding, under 2 x 112
    batch = pool.batch()
    assert (len(batch.rows), batch.seq_len) == (3, 112) and req.lengths == []
    assert SMALL_PADDING_ROWS == 2


def test_a_small_request_that_would_pad_more_is_cut_but_keeps_the_lead():
    pool = Pool()
    big = pool.add([50] * 20)
    pool.batch()  # big leads the first batch
    small = pool.add([1, 2, 3, 40, 110])
    runs = [(pool.batch(), None)[0] for _ in range(3)]
    assert [b.request_ids[0] for b in runs] == [small.id] * 3
    assert [b.seq_len for b in runs] == [110, 40, 3]
    assert small.lengths == [] and big.lengths


def test_free_rows_take_other_requests_pairs_longest_first_above_the_fill_ratio():
    pool = Pool(shape(max_batch_size=6, fill_ratio=0.5))
    pool.warm()
    other = pool.add([10, 20, 30, 35, 41, 50] + [5] * 6)  # large: 12 pairs
    lead = pool.add([40] * 3)  # small: it leads, and sets the padded length
    batch = pool.batch()
    assert batch.request_ids == (lead.id, other.id)
    # The lead's 3 rows, then the other's longest pairs that fit under 40 and fill at least 20 of it.
    assert [len(ids) for _, _, ids in batch.rows] == [40, 40, 40, 35, 30, 20]
    assert other.lengths == [5] * 6 + [10, 41, 50]


def test_the_fill_ratio_of_batches_stays_high_on_a_mixed_pool():
    rng = np.random.default_rng(3)
    pool = Pool(shape(max_batch_size=16, batch_tokens=2048, longest_row=256))
    for _ in range(6):
        pool.add([int(n) for n in rng.integers(4, 250, size=int(rng.integers(1, 60)))])
    real = padded_tokens = 0
    while pool.requests:
        batch = pool.batch()
        real += sum(len(ids) for _, _, ids in batch.rows)
        padded_tokens += len(batch.rows) * batch.seq_len
        assert len(batch.rows) <= cap(batch.seq_len, pool.shape)
    assert real / padded_tokens > 0.85


@pytest.mark.parametrize("fill_ratio", [0.0, 0.5, 1.0])
def test_every_pair_goes_in_exactly_one_batch_within_the_limits(fill_ratio):
    rng = np.random.default_rng(4)
    s = shape(max_batch_size=5, batch_tokens=160, longest_row=64, pad_multiple=8, fill_ratio=fill_ratio)
    pool = Pool(s)
    reqs = [pool.add([int(n) for n in rng.integers(1, 64, size=int(rng.integers(1, 30)))]) for _ in range(5)]
    seen: dict[int, list[int]] = {r.id: [] for r in reqs}
    while pool.requests:
        batch = pool.batch()
        assert len(batch.rows) <= 5 and (len(batch.rows) * batch.seq_len <= 160 or len(batch.rows) == 1)
        assert all(len(ids) <= batch.seq_len for _, _, ids in batch.rows)
        for req, index, _ in batch.rows:
            seen[req.id].append(index)
    assert all(sorted(seen[r.id]) == list(range(len(r.scores))) for r in reqs)


def test_scores_land_in_their_requests_slots_and_deadlines_pop_in_order():
    pool = Pool()
    req = pool.add([3, 1, 2])
    batch = pool.batch()
    done, scored = policy.record_scores(batch, np.array([30.0, 20.0, 10.0], dtype=np.float32))
    assert done == [req] and scored == 3
    assert req.scores.tolist() == [30.0, 10.0, 20.0]  # rows go longest first: pair 0, pair 2, pair 1
    heap = [(1.0, 7), (2.0, req.id), (3.0, 9)]
    requests = {req.id: req}
    assert policy.next_deadline_in(heap, requests, now=1.5) == 0.5  # request 7 is gone: dropped off the heap
    assert policy.expired_requests(heap, requests, now=2.5) == [req] and heap == [(3.0, 9)]


# -- the memory model --------------------------------------------------------------------------------------------

TINY = ModelShape(layers=2, hidden=64, heads=4)
BASE = ModelShape(layers=24, hidden=896, heads=14)  # mxbai-rerank-base-v2


def test_batch_bytes_grow_with_the_square_of_the_length_and_with_heads():
    assert batch_bytes(2, 1024, TINY) == 2 * batch_bytes(1, 1024, TINY)
    # Attention dominates long rows: doubling the length nearly quadruples the bytes.
    assert 3.8 < batch_bytes(1, 8192, TINY) / batch_bytes(1, 4096, TINY) <= 4.0
    assert batch_bytes(1, 4096, BASE) > 3 * batch_bytes(1, 4096, TINY)
    # One 8,192-token row of the 4-head model: about the 3 GB the issue measured.
    assert 2.9e9 < batch_bytes(1, 8192, TINY) < 3.5e9


def test_the_memory_budget_splits_batches_but_a_row_over_it_still_runs_alone():
    budget = shape(max_batch_size=64, batch_tokens=1 << 20, max_num_tokens=1 << 20, longest_row=8192)
    bounded = shape(**{**budget.__dict__, "max_batch_bytes": 1 << 30, "model": BASE})
    assert cap(512, budget) == 64 and cap(2048, budget) == 64  # rows x length alone would allow them
    assert cap(512, bounded) == (1 << 30) // batch_bytes(1, 512, BASE) < 64
    assert cap(2048, bounded) == 1  # one 2,048-token row of the 14-head model is ~0.7 GiB
    assert cap(8192, bounded) == 1 and batch_bytes(1, 8192, BASE) > 1 << 30  # over the budget: alone, not refused
    for seq in (256, 512, 1024, 2048):
        rows = cap(seq, bounded)
        assert rows == 1 or batch_bytes(rows, seq, BASE) <= 1 << 30
    # No budget, or no model to apply it to: unbounded.
    assert rows_within_bytes(2048, shape(**{**budget.__dict__, "max_batch_bytes": 1 << 30})) == 1 << 30


def test_form_batch_keeps_long_rows_within_the_memory_budget():
    limit = 2 * batch_bytes(1, 1024, TINY)
    pool = Pool(
        shape(batch_tokens=1 << 16, max_num_tokens=1 << 16, longest_row=8192, max_batch_bytes=limit, model=TINY)
    )
    pool.warm()
    long = pool.add([8000])
    pool.add([1000] * 6)
    first = pool.batch()
    assert first.request_ids == (long.id,) and len(first.rows) == 1  # alone
    sizes = [len(b.rows) for b in iter(pool.batch, None)]
    assert sizes == [2, 2, 2]
    assert batch_bytes(2, 1000, TINY) <= limit < batch_bytes(3, 1000, TINY)


# -- earliest deadline first among large requests ----------------------------------------------------------------


def test_deadline_first_serves_large_requests_one_after_another_by_deadline():
    edf = shape(max_batch_size=2, batch_tokens=64, deadline_first=True)
    pool = Pool(edf)
    late = pool.add([20] * 6, deadline=30.0)
    early = pool.add([20] * 6, deadline=10.0)
    none = pool.add([20] * 6)
    assert pool.leads(9) == [early.id] * 3 + [late.id] * 3 + [none.id] * 3
    # The same pool without the policy takes turns: every request finishes late.
    rr = Pool(shape(max_batch_size=2, batch_tokens=64))
    a, b = rr.add([20] * 6, deadline=30.0), rr.add([20] * 6, deadline=10.0)
    assert rr.leads(4) == [a.id, b.id, a.id, b.id]


def test_deadline_first_keeps_small_first_and_the_starvation_bound():
    pool = Pool(shape(max_batch_size=2, batch_tokens=64, deadline_first=True))
    pool.warm()
    late = pool.add([10] * 6, deadline=20.0)
    early = pool.add([10] * 6, deadline=5.0)
    assert pool.leads(1) == [early.id]
    small = [pool.add([10, 10], deadline=100.0) for _ in range(URGENT_IN_A_ROW + 1)]
    leads = pool.leads(URGENT_IN_A_ROW + 2)
    # Small requests lead first (their late deadlines do not matter), then the earliest large one gets its batch.
    assert leads == [r.id for r in small[:URGENT_IN_A_ROW]] + [early.id] + [small[-1].id]
    assert late.led is False


def test_the_config_gives_host_backends_a_memory_budget_and_gpu_backends_none():
    from rerankrt.runtime.backends.base import BackendLimits
    from rerankrt.runtime.batching.config import DEFAULT_HOST_BATCH_BYTES, SchedulerConfig
    from tests.fakes import FakeBackend, HostBackend

    host, gpu = HostBackend(8, 64, 512), FakeBackend(8, 64, 512)
    host._limits = BackendLimits(max_batch_size=8, max_seq_len=64, max_num_tokens=512, model=BASE)
    on_host = SchedulerConfig().shape_for(host, 64)
    assert (on_host.max_batch_bytes, on_host.model, on_host.deadline_first) == (DEFAULT_HOST_BATCH_BYTES, BASE, True)
    assert SchedulerConfig().shape_for(gpu, 64).max_batch_bytes is None
    assert SchedulerConfig(max_batch_bytes=1 << 20, goodput=False).shape_for(gpu, 64).max_batch_bytes == 1 << 20
    assert SchedulerConfig(goodput=False).shape_for(host, 64).deadline_first is False
    with pytest.raises(ValueError, match="max_batch_bytes"):
        SchedulerConfig(max_batch_bytes=0)
    with pytest.raises(ValueError, match="goodput"):
        SchedulerConfig(goodput="yes")
