"""Goodput admission: the throughput meter, the work ahead of a request, early refusal with a retry hint, and the
onnxruntime arena giving a one-off peak back."""

from __future__ import annotations

import numpy as np
import pytest

from rerankrt.runtime.batching import OverloadedError, Scheduler
from rerankrt.runtime.batching.admission import (
    PRIOR_BATCHES,
    Throughput,
    ThroughputMeter,
    estimate,
    pairs_ahead,
    refusal,
    tokens_ahead,
)
from rerankrt.runtime.batching.policy import PendingRequest
from rerankrt.runtime.batching.types import BatchStats
from tests.fakes import WAIT, FakeBackend, FakeEncoder


def stats(rows: int, seq: int, duration_s: float, pending: int = 0, error: str | None = None) -> BatchStats:
    return BatchStats(
        index=1,
        rows=rows,
        seq_len=seq,
        real_tokens=rows * seq,
        padded_tokens=rows * seq,
        request_ids=(1,),
        duration_s=duration_s,
        pending_pairs=pending,
        error=error,
    )


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def request(rid: int, pending: int, *, deadline: float | None, small: bool = False, unqueued: int = 0):
    req = PendingRequest(rid, pending + unqueued, deadline, 0 if small else 2 * rid + 1)
    req.lengths = [10] * pending
    req.pending = [(i, np.zeros(10, np.int64)) for i in range(pending)]
    req.unqueued = unqueued
    return req


def test_the_meter_sums_bulk_batches_by_busy_time_and_counts_gaps_while_work_waits():
    clock = Clock()
    meter = ThroughputMeter(half_life_s=1e9, clock=clock)  # no decay: plain sums
    assert meter.throughput is None
    meter.observe(stats(8, 100, 0.1, pending=50))  # 80 pairs/s, 8,000 tokens/s
    assert meter.throughput == Throughput(tokens_per_s=8000.0, tokens_per_pair=100.0)
    clock.now += 0.3  # work waited: the 0.3 s since the last batch count, not only the 0.1 s call
    meter.observe(stats(16, 100, 0.1, pending=0))
    # Weighted by time, not per batch: 2,400 tokens over 0.4 s, not the mean of 8,000 and 5,333 tokens/s.
    assert meter.throughput.tokens_per_s == pytest.approx(2400 / 0.4)
    assert meter.throughput.pairs_per_s == pytest.approx(24 / 0.4)
    before = meter.throughput
    meter.observe(stats(8, 100, 0.1, error="boom"))  # a failed batch measures nothing
    assert meter.throughput == before
    with pytest.raises(ValueError, match="half_life_s"):
        ThroughputMeter(half_life_s=0)
    with pytest.raises(ValueError, match="bulk_fraction"):
        ThroughputMeter(bulk_fraction=0)


def test_small_batches_do_not_drag_the_bulk_rate_but_take_their_share_while_work_waits():
    clock = Clock()
    meter = ThroughputMeter(half_life_s=1e9, clock=clock)
    for _ in range(4):  # large work: 64-row batches of 0.2 s, work waiting throughout
        clock.now += 0.2
        meter.observe(stats(64, 100, 0.2, pending=500))
        clock.now += 0.05  # one small batch between them: slow per pair, but short
        meter.observe(stats(3, 40, 0.05, pending=500))
    # A per-batch EWMA would land near the small batches' 2,400 tokens/s; the bulk rate stays 32,000.
    assert meter.throughput.tokens_per_s == pytest.approx(32_000.0)
    assert meter.throughput.tokens_per_pair == pytest.approx(100.0)
    assert meter.throughput.small_share == pytest.approx(0.2 / (0.2 + 0.8))
    assert meter.throughput.pairs_per_s == pytest.approx(320.0 * 0.8)
    # Small batches with nothing else waiting (the small stream alone) cost large work nothing.
    idle = ThroughputMeter(half_life_s=1e9, clock=clock)
    idle.observe(stats(64, 100, 0.2))
    for _ in range(10):
        clock.now += 5.0
        idle.observe(stats(3, 40, 0.05))
    assert idle.throughput.small_share == 0.0 and idle.throughput.pairs_per_s == pytest.approx(320.0)


def test_a_pair_is_sized_over_all_bulk_batches_while_the_rate_follows_recent_work():
    clock = Clock()
    meter = ThroughputMeter(half_life_s=1.0, clock=clock)
    meter.observe(stats(2, 1000, 1.0))  # a request's long pairs first: 2 pairs of 1,000 tokens
    meter.observe(stats(20, 100, 1.0))  # then its short ones: 20 of 100
    assert meter.throughput.tokens_per_pair == pytest.approx(4000 / 22)  # not 100: where the window fell
    assert meter.throughput.tokens_per_s == pytest.approx(2000.0)


def test_the_first_batch_is_a_prior_dropped_once_more_are_measured():
    clock = Clock()
    meter = ThroughputMeter(half_life_s=1e9, clock=clock)
    meter.observe(stats(10, 100, 1.0))  # a cold first call: 1,000 tokens/s
    assert meter.throughput.tokens_per_s == pytest.approx(1000.0)  # the prior, before anything else
    for k in range(1, PRIOR_BATCHES + 1):
        meter.observe(stats(10, 100, 0.1))  # warm: 10,000 tokens/s
        assert meter.throughput.tokens_per_s == pytest.approx(1000 * (k + 1) / (1.0 + 0.1 * k))
    meter.observe(stats(10, 100, 0.1))
    assert meter.throughput.tokens_per_s == pytest.approx(10_000.0)


def test_the_meter_forgets_old_work_with_its_half_life():
    clock = Clock()
    meter = ThroughputMeter(half_life_s=1.0, clock=clock)
    meter.observe(stats(10, 100, 1.0))  # cold: 1,000 tokens/s
    for _ in range(10):
        meter.observe(stats(100, 100, 1.0))  # warm: 10,000 tokens/s
    assert meter.throughput.tokens_per_s == pytest.approx(10_000.0, rel=0.01)


def test_work_ahead_is_small_requests_and_large_ones_due_no_later():
    pool = [
        request(1, 100, deadline=10.0),
        request(2, 40, deadline=30.0, unqueued=60),  # still tokenizing: its unqueued pairs count too
        request(3, 2, deadline=50.0, small=True),
        request(4, 500, deadline=None),
    ]
    assert pairs_ahead(pool, 20.0, small=False) == 100 + 2
    assert pairs_ahead(pool, 30.0, small=False) == 100 + 100 + 2
    assert pairs_ahead(pool, 5.0, small=True) == 2  # a small request waits only for small ones
    pool[0].finished = True
    assert pairs_ahead(pool, 20.0, small=False) == 2


def test_work_ahead_counts_queued_pairs_by_length_and_untokenized_ones_at_the_mean():
    long, short = request(1, 10, deadline=10.0), request(2, 10, deadline=12.0, unqueued=5)
    long.lengths = [500] * 10
    assert tokens_ahead([long, short], 20.0, small=False, tokens_per_pair=50.0) == 5000 + 100 + 5 * 50
    # Behind 10 long pairs a request waits longer than behind 10 short ones, at the same pairs ahead.
    slow = refusal([long], 10, 104.0, running_pairs=0, throughput=FAST, small=False, now=100.0)
    assert isinstance(slow, OverloadedError)
    assert refusal([short], 10, 104.0, running_pairs=0, throughput=FAST, small=False, now=100.0) is None


FAST = Throughput(tokens_per_s=1000.0, tokens_per_pair=10.0)  # 100 pairs of 10 tokens per second


def test_refusal_says_when_a_late_request_could_fit():
    pool = [request(1, 900, deadline=104.0)]
    assert estimate(1000, 9000, 5.0, FAST).finish_in_s == pytest.approx(10.0)
    late = refusal(pool, 100, 105.0, running_pairs=0, throughput=FAST, small=False, now=100.0, margin=1.0)
    assert isinstance(late, OverloadedError) and late.retry_after_s == 5.0
    assert "900 pairs are ahead" in str(late) and "retry in 5 s" in str(late)
    assert refusal(pool, 100, 112.0, running_pairs=0, throughput=FAST, small=False, now=100.0) is None
    # The safety margin refuses one that would finish just in time: 10 s x 1.15 > 10.5 s.
    assert refusal(pool, 100, 110.5, running_pairs=0, throughput=FAST, small=False, now=100.0) is not None
    # Admitted whatever the estimate: no deadline, nothing measured yet, nothing ahead.
    assert refusal(pool, 100, None, running_pairs=0, throughput=FAST, small=False, now=100.0) is None
    assert refusal(pool, 100, 101.0, running_pairs=0, throughput=None, small=False, now=100.0) is None
    assert refusal([], 5000, 101.0, running_pairs=0, throughput=FAST, small=False, now=100.0) is None


def test_the_small_streams_share_slows_the_estimate():
    shared = Throughput(tokens_per_s=1000.0, tokens_per_pair=10.0, small_share=0.5)
    assert estimate(1000, 9000, 15.0, shared).finish_in_s == pytest.approx(20.0)
    pool = [request(1, 900, deadline=110.0)]
    assert refusal(pool, 100, 113.0, running_pairs=0, throughput=FAST, small=False, now=100.0) is None
    assert refusal(pool, 100, 113.0, running_pairs=0, throughput=shared, small=False, now=100.0) is not None


def test_three_large_requests_at_once_two_fit_and_the_third_is_refused():
    # One takes 10 s alone; each is due 25 s after it arrives (2.5 x): under earliest deadline first the first
    # finishes at 10 s, the second at 20 s, the third would at 30 s.
    pool: list = []
    outcomes = []
    for rid in range(1, 4):
        refused = refusal(pool, 1000, 125.0 + rid * 0.01, running_pairs=0, throughput=FAST, small=False, now=100.0)
        outcomes.append(refused is None)
        if refused is None:
            pool.append(request(rid, 1000, deadline=125.0 + rid * 0.01))
    assert outcomes == [True, True, False]


def test_an_earlier_deadline_is_refused_when_it_would_make_an_admitted_request_late():
    pool = [request(1, 1000, deadline=122.0)]  # finishes at 10 s of its 22 s
    # A newcomer due at 111 s fits itself (5 s) but pushes request 1 to 15 s (x 1.15 = 17.25 s, of 22 s): admitted.
    assert refusal(pool, 500, 111.0, running_pairs=0, throughput=FAST, small=False, now=100.0) is None
    # One of 1,000 due at 112 s, with nothing ahead of it, would finish in time but push request 1 to 20 s
    # (x 1.15 = 23 s, past its 22 s): refused.
    spoiler = refusal(pool, 1000, 112.0, running_pairs=0, throughput=FAST, small=False, now=100.0)
    assert isinstance(spoiler, OverloadedError) and "request 1" in str(spoiler)
    assert spoiler.retry_after_s >= 1
    # Small requests are the small stream's share: they never count as spoiling a large one.
    assert refusal(pool, 3, 101.0, running_pairs=0, throughput=FAST, small=True, now=100.0) is None


def test_a_request_due_first_only_waits_for_the_running_batch_and_small_ones():
    pool = [request(1, 900, deadline=200.0), request(2, 2, deadline=150.0, small=True)]
    assert refusal(pool, 100, 103.0, running_pairs=8, throughput=FAST, small=False, now=100.0) is None
    assert refusal(pool, 3, 100.2, running_pairs=8, throughput=FAST, small=True, now=100.0) is None


def _scheduler(**options) -> Scheduler:
    return Scheduler(FakeBackend(8, 64, 512, delay=0.02), FakeEncoder(max_length=32), **options)


@pytest.mark.parametrize("goodput", [True, False])
def test_the_scheduler_refuses_a_request_that_cannot_finish_in_time_unless_goodput_is_off(goodput):
    import time

    scheduler = _scheduler(goodput=goodput)
    try:
        scheduler.wait(scheduler.submit("q", [f"warm {i}" for i in range(16)]), timeout=WAIT)  # measures throughput
        now = time.monotonic()
        scheduler.submit("q", [f"doc {i}" for i in range(400)], deadline=now + 3.0)
        # Due after the 400 pairs queued ahead, at 8 pairs per >= 20 ms batch (<= 400 pairs/s, slower on a loaded
        # machine): 1,400 pairs need >= 3.5 s, past its deadline in 3.05 s.
        late = {"deadline": now + 3.05}
        if goodput:
            with pytest.raises(OverloadedError, match="ahead of this request") as refused:
                scheduler.submit("q", [f"late {i}" for i in range(1000)], **late)
            assert refused.value.retry_after_s >= 1
            assert scheduler.stats().requests_rejected == 1
        else:
            scheduler.submit("q", [f"late {i}" for i in range(1000)], **late)  # admitted, to expire later
            assert scheduler.stats().requests_rejected == 0
    finally:
        scheduler.close()


def test_the_server_sends_the_schedulers_retry_hint():
    pytest.importorskip("fastapi")
    from rerankrt.server.errors import api_error_from
    from rerankrt.server.settings import ServerSettings

    settings = ServerSettings(retry_after_s=7)
    hinted = api_error_from(OverloadedError("late", retry_after_s=2.2), settings)
    assert (hinted.status, hinted.headers["Retry-After"]) == (429, "3")
    plain = api_error_from(OverloadedError("queue full"), settings)
    assert (plain.status, plain.headers["Retry-After"]) == (429, "7")


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/status"), reason="RSS is read from /proc")
def test_one_long_pair_on_onnxruntime_does_not_keep_its_peak(cpu_engine_dir):
    pytest.importorskip("onnxruntime")
    from rerankrt.runtime.backends.base import ModelShape
    from rerankrt.runtime.backends.onnx import OnnxBackend

    seq = 4096  # 3 x 4 heads x 4096^2 float32: ~0.8 GB of attention, which the arena would otherwise keep
    backend = OnnxBackend(
        cpu_engine_dir / "model.onnx", max_batch_size=16, max_seq_len=seq, max_num_tokens=seq, threads=2
    )
    assert backend.limits.model == ModelShape(layers=2, hidden=64, heads=4)  # read from the graph
    small = np.full((4, 64), 100, np.int64), np.full(4, 64, np.int64)
    for _ in range(3):
        backend.score(*small)
    before = _rss_mb()
    backend.score(np.full((1, seq), 100, np.int64), np.array([seq]))
    backend.score(*small)
    grown = _rss_mb() - before
    # Without shrinkage RSS stays ~800 MB up; the bound leaves room for allocator noise on a loaded machine.
    assert grown < 300, f"RSS grew by {grown:.0f} MB after one {seq}-token pair"
    backend.close()
