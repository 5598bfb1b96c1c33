"""The in-flight batching scheduler, with fake backends (tests/fakes.py) whose delays, gates and failures the tests
control.

Each behaviour test would fail without the behaviour: FIFO over pairs fails the fairness test, pending pairs that
outlive a cancel or a deadline show up in later batches, a worker death without failing its requests hangs the
waiters (every wait here is bounded), and so on.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import CancelledError

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rerankrt.prompt import Encoded, TruncationError
from rerankrt.runtime.backends.base import Backend, BackendError, BackendLimits
from rerankrt.runtime.batching import (
    BatchStats,
    DeadlineExceededError,
    OverloadedError,
    Scheduler,
    SchedulerClosedError,
    TurnLock,
    WorkerDiedError,
)
from rerankrt.runtime.batching.policy import URGENT_IN_A_ROW as _URGENT_IN_A_ROW
from rerankrt.runtime.batching.scheduler import _LIVENESS_POLL_S
from tests.fakes import (
    WAIT,
    FakeBackend,
    FakeEncoder,
    HostBackend,
    ProfiledBackend,
    RecordingEncoder,
    row_score,
)


def expected(query: str, documents: list[str], max_length: int = 64) -> np.ndarray:
    enc = FakeEncoder(max_length).encode(query, documents)
    return np.array([row_score(r) for r in enc.ids], dtype=np.float32)


def wait_until(predicate, timeout: float = WAIT) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "condition not reached in time"
        time.sleep(0.002)


@pytest.fixture
def make():
    """Build schedulers that are closed after the test, whatever happens."""
    made: list[Scheduler] = []

    def _make(backend: Backend, encoder=None, **options) -> Scheduler:
        sched = Scheduler(backend, encoder or FakeEncoder(backend.limits.max_seq_len), **options)
        made.append(sched)
        return sched

    yield _make
    for sched in made:
        if sched.backend.__dict__.get("gate") is not None:
            sched.backend.release(1000)
        sched.close(timeout=WAIT)


@pytest.fixture
def make_recording(make):
    """`make`, also returning the list every batch's `BatchStats` is appended to."""

    def _make(backend: Backend, encoder=None, **options) -> tuple[Scheduler, list[BatchStats]]:
        stats: list[BatchStats] = []
        return make(backend, encoder, on_batch=stats.append, **options), stats

    return _make


def lead_queries(backend: FakeBackend) -> list[str]:
    """The query of each batch's first row, in call order: the request that led it."""
    return [batch[0].split("|")[0] for batch in backend.batches]


def docs(prefix: str, n: int, length: int | None = None) -> list[str]:
    return [f"{prefix}{i}".ljust(length or 0, ".") for i in range(n)]


# -- results ---------------------------------------------------------------------------------------------------------


def test_each_request_gets_its_scores_in_its_own_order(make):
    sched = make(FakeBackend(max_batch_size=4, max_num_tokens=128))
    rng = np.random.default_rng(0)
    requests = [
        (f"q{k}", [f"r{k}d{i}" + "x" * int(rng.integers(0, 40)) for i in range(int(rng.integers(1, 15)))])
        for k in range(12)
    ]
    futures: list = [None] * len(requests)

    def submit(k):
        futures[k] = sched.submit(*requests[k])

    threads = [threading.Thread(target=submit, args=(k,)) for k in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    for (query, documents), fut in zip(requests, futures, strict=True):
        result = sched.wait(fut, timeout=WAIT)
        np.testing.assert_array_equal(result.scores, expected(query, documents))
        assert result.num_tokens == sum(len(f"{query}|{d}") for d in documents)
    stats = sched.stats()
    assert stats.requests_completed == len(requests)
    assert stats.pairs_scored == sum(len(d) for _, d in requests)
    assert stats.pending_pairs == 0 and stats.pending_requests == 0


@settings(max_examples=25, deadline=None)
@given(
    lengths=st.lists(st.lists(st.integers(0, 60), max_size=30), min_size=1, max_size=6),
    max_batch_size=st.integers(1, 9),
    max_num_tokens=st.integers(64, 400),
    pad_multiple=st.sampled_from([1, 8, 16]),
    fill_ratio=st.sampled_from([0.0, 0.5, 1.0]),
    tokenize_chunk=st.integers(1, 40),
)
def test_any_mix_of_requests_is_scored_exactly_within_the_limits(
    lengths, max_batch_size, max_num_tokens, pad_multiple, fill_ratio, tokenize_chunk
):
    backend = FakeBackend(max_batch_size=max_batch_size, max_seq_len=64, max_num_tokens=max_num_tokens)
    sched = Scheduler(
        backend, FakeEncoder(62), pad_multiple=pad_multiple, fill_ratio=fill_ratio, tokenize_chunk=tokenize_chunk
    )
    try:
        requests = [(f"q{k}", [f"{i}".ljust(n, "~") for i, n in enumerate(ns)]) for k, ns in enumerate(lengths)]
        futures: list = [None] * len(requests)
        threads = [
            threading.Thread(target=lambda k=k: futures.__setitem__(k, sched.submit(*requests[k])))
            for k in range(len(requests))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(WAIT)
        for (query, documents), fut in zip(requests, futures, strict=True):
            np.testing.assert_array_equal(sched.wait(fut, timeout=WAIT).scores, expected(query, documents, 62))
        for rows, seq in backend.shapes:
            assert rows <= max_batch_size and rows * seq <= max_num_tokens and seq <= 64
        assert sum(rows for rows, _ in backend.shapes) == sum(len(d) for _, d in requests)
        assert sched.stats().pending_pairs == 0
    finally:
        sched.close(timeout=WAIT)


def test_empty_request_returns_at_once(make):
    sched = make(FakeBackend())
    result = sched.wait(sched.submit("q", []), timeout=WAIT)
    assert result.scores.shape == (0,) and result.num_tokens == 0
    assert sched.stats().batches == 0


def test_batches_respect_the_token_budget_batch_cap_and_pad_multiple(make):
    backend = FakeBackend(max_batch_size=5, max_seq_len=64, max_num_tokens=160)
    sched = make(backend, pad_multiple=8)
    rng = np.random.default_rng(1)
    documents = ["y" * int(rng.integers(0, 60)) for _ in range(120)]
    result = sched.wait(sched.submit("q", documents), timeout=WAIT)
    np.testing.assert_array_equal(result.scores, expected("q", documents))
    for rows, seq in backend.shapes:
        assert rows <= 5 and rows * seq <= 160 and seq <= 64
        assert seq % 8 == 0 or seq == 64
    assert sum(rows for rows, _ in backend.shapes) == 120


def test_concurrent_requests_share_batches(make_recording):
    backend = FakeBackend(max_batch_size=8, max_num_tokens=512, gated=True)
    sched, stats = make_recording(backend)
    first = sched.submit("q", ["warm"])
    assert backend.started.wait(WAIT)
    futures = [sched.submit(f"q{k}", docs(f"r{k}-", 2, length=20)) for k in range(3)]
    short = sched.submit("q", ["s"])  # too short to ride along (under fill_ratio of the padded length)
    backend.release(1000)
    for fut in [first, short, *futures]:
        sched.wait(fut, timeout=WAIT)
    wait_until(lambda: len(stats) == 3)
    assert set(stats[1].request_ids) == {f.request_id for f in futures}
    assert stats[2].request_ids == (short.request_id,)


def test_length_bucketing_keeps_padding_low(make):
    backend = FakeBackend(max_batch_size=8, max_seq_len=128, max_num_tokens=1024)
    sched = make(backend, encoder=FakeEncoder(128))
    rng = np.random.default_rng(2)
    documents = ["z" * int(rng.integers(0, 120)) for _ in range(400)]
    sched.wait(sched.submit("q", documents), timeout=WAIT)
    stats = sched.stats()
    # The same pairs cut into batches of 8 in input order would pad to each batch's longest.
    lengths = np.array([len(f"q|{d}") for d in documents])
    fifo = lengths.sum() / sum(8 * lengths[i : i + 8].max() for i in range(0, len(lengths), 8))
    assert stats.padding_efficiency > 0.95 > fifo + 0.2, (stats.padding_efficiency, fifo)


def test_tokenizing_overlaps_running(make):
    """The first batch runs while the rest of a large request is still being tokenized in the caller's thread."""
    backend = FakeBackend(max_batch_size=4, max_num_tokens=256)
    encoder = FakeEncoder(64, delay=0.02)
    sched = make(backend, encoder=encoder, tokenize_chunk=4)
    first_batch_at: list[float] = []
    sched.add_batch_listener(lambda stats: first_batch_at.append(time.monotonic()))
    fut = sched.submit("q", docs("d", 60))
    submitted_at = time.monotonic()
    assert encoder.calls == 15
    assert first_batch_at and first_batch_at[0] < submitted_at - 0.1
    sched.wait(fut, timeout=WAIT)


# -- fairness --------------------------------------------------------------------------------------------------------


def test_small_request_waits_about_one_batch_behind_a_large_one(make_recording):
    backend = FakeBackend(max_batch_size=4, max_num_tokens=256, gated=True)
    sched, stats = make_recording(backend)
    big = sched.submit("big", docs("b", 400))
    assert backend.started.wait(WAIT)  # batch 1 (big's) is running
    small = sched.submit("small", docs("s", 3))
    backend.release(3)
    assert sched.wait(small, timeout=WAIT).scores.shape == (3,)
    wait_until(lambda: len(stats) >= 2)
    # Batch 1 was running when the small request arrived; batch 2 is the small one's.
    assert small.request_id in stats[1].request_ids
    assert all(small.request_id not in s.request_ids for s in stats[2:])
    assert not big.done()
    backend.release(1000)
    np.testing.assert_array_equal(sched.wait(big, timeout=WAIT).scores, expected("big", docs("b", 400)))


def test_large_requests_take_turns(make_recording):
    """Two large requests alternate batches instead of one finishing before the other starts."""
    backend = FakeBackend(max_batch_size=2, max_num_tokens=256, gated=True)
    sched, stats = make_recording(backend)
    first = sched.submit("one", docs("a", 40))
    assert backend.started.wait(WAIT)
    second = sched.submit("two", docs("b", 40, length=30))  # another length, so the two never share a batch
    backend.release(1000)
    sched.wait(first, timeout=WAIT)
    sched.wait(second, timeout=WAIT)
    wait_until(lambda: len(stats) == 40)
    leads = [s.request_ids[0] for s in stats]
    assert leads[:6] == [first.request_id, second.request_id] * 3


def test_a_small_request_leads_before_large_ones_that_already_led(make_recording):
    """With two large requests taking turns, a new small request leads the next batch, not the one after."""
    backend = FakeBackend(max_batch_size=2, max_num_tokens=256, gated=True)
    sched, stats = make_recording(backend)
    first = sched.submit("one", docs("a", 40))
    assert backend.started.wait(WAIT)  # batch 1: one's
    second = sched.submit("two", docs("b", 40, length=30))
    backend.release(1)
    wait_until(lambda: len(backend.batches) == 2)  # batch 2: two's; both have led now
    small = sched.submit("small", docs("s", 2, length=20))
    backend.release(1000)
    sched.wait(small, timeout=WAIT)
    wait_until(lambda: len(stats) >= 3)
    assert [s.request_ids[0] for s in stats[:3]] == [first.request_id, second.request_id, small.request_id]
    sched.wait(first, timeout=WAIT)
    sched.wait(second, timeout=WAIT)


def test_a_small_ragged_request_leads_its_length_runs_back_to_back(make_recording):
    """Cut by length to keep padding low, a small request still finishes before a waiting large one leads again."""
    backend = FakeBackend(max_batch_size=8, max_seq_len=128, max_num_tokens=1024, gated=True)
    sched, stats = make_recording(backend, encoder=FakeEncoder(128))
    big = sched.submit("big", docs("b", 40))
    assert backend.started.wait(WAIT)  # batch 1: big's
    documents = ["a", "b", "c", "y" * 40, "z" * 110]  # in one batch: 5 rows of 112 for 163 real tokens
    small = sched.submit("q", documents)
    backend.release(1000)
    np.testing.assert_array_equal(sched.wait(small, timeout=WAIT).scores, expected("q", documents, 128))
    sched.wait(big, timeout=WAIT)
    wait_until(lambda: len(stats) >= 4)
    assert [s.request_ids[0] for s in stats[:4]] == [big.request_id] + [small.request_id] * 3
    assert [s.seq_len for s in stats[1:4]] == [112, 42, 3]
    assert all(small.request_id not in s.request_ids for s in stats[4:])


def test_a_small_request_padded_by_at_most_two_rows_runs_in_one_batch(make_recording):
    backend = FakeBackend(max_batch_size=8, max_seq_len=128, max_num_tokens=1024)
    sched, stats = make_recording(backend, encoder=FakeEncoder(128))
    documents = ["x", "y" * 40, "z" * 110]  # 3 rows of 112 for 157 real tokens: 179 padding, under 2 x 112
    np.testing.assert_array_equal(
        sched.wait(sched.submit("q", documents), timeout=WAIT).scores, expected("q", documents, 128)
    )
    assert [(s.rows, s.seq_len) for s in stats] == [(3, 112)]


# -- the host CPU: tokenizing and batches take turns -----------------------------------------------------------------


def test_tokenizing_and_host_batches_never_overlap(make):
    backend = HostBackend(max_batch_size=4, max_num_tokens=256, delay=0.005)
    encoder = RecordingEncoder(64, delay=0.005)
    sched = make(backend, encoder=encoder, tokenize_chunk=4)
    requests = {}
    threads = [
        threading.Thread(target=lambda k=k: requests.__setitem__(k, sched.submit(f"q{k}", docs(f"d{k}", 24))))
        for k in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    for k, fut in requests.items():
        np.testing.assert_array_equal(sched.wait(fut, timeout=WAIT).scores, expected(f"q{k}", docs(f"d{k}", 24)))
    assert len(encoder.log) == 18 and backend.spans
    for _, t0, t1 in encoder.log:
        for b0, b1 in backend.spans:
            assert t1 <= b0 or b1 <= t0, "a tokenization chunk ran while a host batch ran"


def test_a_small_request_tokenizes_before_large_ones_waiting_for_the_cpu(make):
    gate = threading.Semaphore(0)
    backend = HostBackend(max_batch_size=4, max_num_tokens=256)
    encoder = RecordingEncoder(64, hold={"big-a": gate})
    sched = make(backend, encoder=encoder, tokenize_chunk=4)
    futures = {}

    def submit(query: str, n: int) -> threading.Thread:
        thread = threading.Thread(target=lambda: futures.__setitem__(query, sched.submit(query, docs(query, n))))
        thread.start()
        return thread

    threads = [submit("big-a", 8)]
    wait_until(lambda: encoder.entered == ["big-a"])  # big-a tokenizes its first chunk, holding the CPU
    threads.append(submit("big-b", 8))
    wait_until(lambda: len(sched._host_turns._waiters) == 1)  # big-b waits its turn
    threads.append(submit("small", 2))
    wait_until(lambda: len(sched._host_turns._urgent) == 1)  # the small one asks after, as urgent
    gate.release(1000)
    for t in threads:
        t.join(WAIT)
    assert [query for query, _, _ in encoder.log[:3]] == ["big-a", "small", "big-b"]
    for query, fut in futures.items():
        n = 2 if query == "small" else 8
        np.testing.assert_array_equal(sched.wait(fut, timeout=WAIT).scores, expected(query, docs(query, n)))


def test_a_deadline_ends_the_wait_for_the_cpu(make):
    backend = HostBackend(max_batch_size=2, max_num_tokens=256, gated=True)
    sched = make(backend)
    big = sched.submit("big", docs("b", 10))
    assert backend.started.wait(WAIT)  # a host batch runs, holding the CPU until released
    started = time.monotonic()
    late = sched.submit("late", docs("l", 2), deadline=time.monotonic() + 0.2)
    assert time.monotonic() - started < WAIT / 2
    with pytest.raises(DeadlineExceededError):
        sched.wait(late, timeout=WAIT)
    assert sched.stats().requests_expired == 1
    backend.release(1000)
    np.testing.assert_array_equal(sched.wait(big, timeout=WAIT).scores, expected("big", docs("b", 10)))


def test_turns_go_to_urgent_askers_first_then_in_order():
    lock = TurnLock()
    assert lock.acquire()
    assert not lock.acquire(timeout=0.01)  # a waiter that gives up leaves no trace
    order: list[str] = []

    def ask(name: str, urgent: bool) -> threading.Thread:
        def run() -> None:
            assert lock.acquire(timeout=WAIT, urgent=urgent)
            order.append(name)
            lock.release()

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    threads = []
    for name, urgent in (("n1", False), ("n2", False), ("u1", True), ("n3", False), ("u2", True)):
        threads.append(ask(name, urgent))
        wait_until(lambda n=len(threads): len(lock._waiters) + len(lock._urgent) == n)
    lock.release()
    for t in threads:
        t.join(WAIT)
    assert order == ["u1", "u2", "n1", "n2", "n3"]
    assert lock.acquire(timeout=0)  # free again
    lock.release()
    with pytest.raises(RuntimeError):
        lock.release()


def test_urgent_askers_pass_a_waiting_regular_one_only_so_many_times_in_a_row():
    lock = TurnLock(urgent_in_a_row=2)
    assert lock.acquire()
    order: list[str] = []

    def run(name: str, urgent: bool) -> None:
        assert lock.acquire(timeout=WAIT, urgent=urgent)
        order.append(name)
        lock.release()

    threads = []
    for name, urgent in (("n1", False), ("u1", True), ("u2", True), ("u3", True), ("u4", True)):
        threads.append(threading.Thread(target=run, args=(name, urgent)))
        threads[-1].start()
        wait_until(lambda n=len(threads): len(lock._waiters) + len(lock._urgent) == n)
    lock.release()
    for t in threads:
        t.join(WAIT)
    assert order == ["u1", "u2", "n1", "u3", "u4"]


def test_a_stream_of_small_requests_cannot_starve_a_large_one(make):
    backend = FakeBackend(max_batch_size=2, max_num_tokens=256, gated=True)
    sched = make(backend)
    large = sched.submit("L0", docs("d", 6, length=10))
    assert backend.started.wait(WAIT)  # the large request leads the first batch
    small = [sched.submit(f"s{i}", docs("d", 2, length=10)) for i in range(_URGENT_IN_A_ROW + 2)]
    backend.release(1000)
    sched.wait(large, timeout=WAIT)
    for fut in small:
        sched.wait(fut, timeout=WAIT)
    # Every pair has the same length and each small request fills a batch: the large one gets no free rows.
    leads = lead_queries(backend)
    first_small = [f"s{i}" for i in range(_URGENT_IN_A_ROW)]
    assert leads == ["L0", *first_small, "L0", f"s{_URGENT_IN_A_ROW}", f"s{_URGENT_IN_A_ROW + 1}", "L0"]


# -- cancellation, deadlines, overload -------------------------------------------------------------------------------


def test_cancel_frees_pending_pairs(make_recording):
    backend = FakeBackend(max_batch_size=2, max_num_tokens=256, gated=True)
    sched, stats = make_recording(backend)
    doomed = sched.submit("doomed", docs("x", 50))
    assert backend.started.wait(WAIT)
    assert sched.stats().pending_pairs == 48
    assert doomed.cancel()
    assert sched.stats().pending_pairs == 0
    after = sched.submit("after", docs("y", 3))
    backend.release(1000)
    np.testing.assert_array_equal(sched.wait(after, timeout=WAIT).scores, expected("after", docs("y", 3)))
    with pytest.raises(CancelledError):
        doomed.result(timeout=0)
    wait_until(lambda: len(stats) == 3)  # the running batch, then "after" in two
    assert all(doomed.request_id not in s.request_ids for s in stats[1:])
    assert sched.stats().requests_cancelled == 1


def test_deadline_fails_the_waiter_on_time_and_drops_its_pairs(make):
    backend = FakeBackend(max_batch_size=2, max_num_tokens=256, delay=0.05)
    sched = make(backend)
    start = time.monotonic()
    late = sched.submit("late", docs("x", 100), deadline=start + 0.3)  # needs 50 batches: 2.5 s
    with pytest.raises(DeadlineExceededError):
        sched.wait(late, timeout=WAIT)
    assert time.monotonic() - start < 1.0
    assert sched.stats().pending_pairs == 0
    batches = len(backend.batches)
    time.sleep(0.15)
    assert len(backend.batches) <= batches + 1  # at most the batch that was running
    assert sched.stats().requests_expired == 1


def test_deadline_is_enforced_by_the_worker_without_a_waiter(make):
    backend = FakeBackend(max_batch_size=1, max_num_tokens=256, delay=0.02)
    sched = make(backend)
    fut = sched.submit("late", docs("x", 200), deadline=time.monotonic() + 0.1)
    assert isinstance(fut.exception(timeout=WAIT), DeadlineExceededError)
    wait_until(lambda: sched.stats().pending_pairs == 0)
    wait_until(lambda: sched.stats().running_pairs == 0)
    assert len(backend.batches) < 20


def test_overload_refuses_when_the_queue_is_full(make):
    backend = FakeBackend(max_batch_size=2, max_num_tokens=256, gated=True)
    sched = make(backend, max_pending_pairs=10)
    first = sched.submit("q", docs("a", 10))
    assert backend.started.wait(WAIT)  # 2 running, 8 queued
    second = sched.submit("q", docs("b", 2))  # 10 queued: at the limit
    with pytest.raises(OverloadedError, match="max_pending_pairs=10"):
        sched.submit("q", docs("c", 1))
    assert sched.stats().requests_rejected == 1
    backend.release(1000)
    sched.wait(first, timeout=WAIT)
    sched.wait(second, timeout=WAIT)
    # A request alone is never refused for its size.
    assert sched.wait(sched.submit("q", docs("d", 50)), timeout=WAIT).scores.shape == (50,)


# -- failures --------------------------------------------------------------------------------------------------------


def test_backend_error_fails_that_batch_and_the_scheduler_keeps_serving(make):
    backend = FakeBackend(max_batch_size=4, max_num_tokens=256, fail_on="BOOM")
    sched = make(backend)
    with pytest.raises(BackendError, match="fake backend failure"):
        sched.wait(sched.submit("q", ["fine", "BOOM", "fine too"]), timeout=WAIT)
    ok = sched.wait(sched.submit("q", ["fine", "fine too"]), timeout=WAIT)
    np.testing.assert_array_equal(ok.scores, expected("q", ["fine", "fine too"]))
    stats = sched.stats()
    assert stats.failed_batches == 1 and stats.requests_failed == 1 and stats.requests_completed == 1
    sched.health()


def test_backend_error_fails_only_the_requests_in_that_batch(make):
    backend = FakeBackend(max_batch_size=1, max_num_tokens=256, gated=True, fail_on="BOOM")
    sched = make(backend)
    bad = sched.submit("q", ["BOOM"])
    assert backend.started.wait(WAIT)
    good = sched.submit("q", ["good"])
    backend.release(2)
    with pytest.raises(BackendError):
        sched.wait(bad, timeout=WAIT)
    assert sched.wait(good, timeout=WAIT).scores.shape == (1,)


def test_unexpected_backend_exception_becomes_a_backend_error(make):
    backend = FakeBackend(fail_on="odd", fail_with=ValueError("shape trouble"))
    sched = make(backend)
    with pytest.raises(BackendError, match="shape trouble") as info:
        sched.wait(sched.submit("q", ["odd"]), timeout=WAIT)
    assert isinstance(info.value.__cause__, ValueError)
    assert sched.wait(sched.submit("q", ["even"]), timeout=WAIT).scores.shape == (1,)


class Fatal(BaseException):
    """Not an Exception: escapes the per-batch handler and kills the worker thread."""


def test_worker_death_fails_every_pending_request_and_turns_health_red(make):
    backend = FakeBackend(max_batch_size=1, max_num_tokens=256, gated=True, fail_on="die", fail_with=Fatal("gone"))
    sched = make(backend)
    dying = sched.submit("q", ["die"])
    assert backend.started.wait(WAIT)
    bystanders = [sched.submit("q", docs("p", 3)), sched.submit("q2", docs("r", 5))]
    backend.release(1)
    for fut in [dying, *bystanders]:  # settled by the dying worker itself, not by a waiter's liveness poll
        assert isinstance(fut.exception(timeout=WAIT), WorkerDiedError)
        assert "gone" in str(fut.exception())
    with pytest.raises(WorkerDiedError):
        sched.health()
    with pytest.raises(WorkerDiedError):
        sched.submit("q", ["again"])
    stats = sched.stats()
    assert not stats.worker_alive and "gone" in stats.error and stats.pending_pairs == 0


def test_waiters_notice_a_worker_that_vanished(make, monkeypatch):
    """Even a worker that exits without failing anyone cannot leave a waiter hanging."""
    backend = FakeBackend()
    release = threading.Event()

    def vanish(self):
        release.wait(WAIT)
        return None

    monkeypatch.setattr(Scheduler, "_next_batch", vanish)
    sched = make(backend)
    fut = sched.submit("q", ["a", "b"])
    release.set()
    start = time.monotonic()
    with pytest.raises(WorkerDiedError):
        sched.wait(fut, timeout=WAIT)
    assert time.monotonic() - start < 2.0


def test_a_failing_on_batch_hook_does_not_stop_the_worker(make):
    sched = make(FakeBackend())

    def hook(stats: BatchStats) -> None:
        raise RuntimeError("metrics are down")

    sched.add_batch_listener(hook)
    for _ in range(3):
        assert sched.wait(sched.submit("q", ["a"]), timeout=WAIT).scores.shape == (1,)
    sched.health()


# -- inputs, lifetime ------------------------------------------------------------------------------------------------


def test_truncate_false_names_the_pair_and_drops_the_request(make):
    sched = make(FakeBackend(), encoder=FakeEncoder(32), tokenize_chunk=2)
    documents = ["short"] * 5 + ["long" * 20] + ["short"]
    with pytest.raises(TruncationError, match="pair 5 "):
        sched.submit("q", documents, truncate=False)
    assert sched.stats().pending_pairs == 0 and sched.stats().pending_requests == 0
    result = sched.wait(sched.submit("q", documents), timeout=WAIT)
    assert result.truncated.tolist() == [False] * 5 + [True, False]
    assert sched.stats().truncated_pairs >= 1


def test_submit_ids_scores_pre_tokenized_rows(make):
    sched = make(FakeBackend())
    rows = [np.array([5, 6, 7]), [8], np.arange(1, 40)]
    result = sched.wait(sched.submit_ids(rows), timeout=WAIT)
    np.testing.assert_array_equal(result.scores, np.float32([row_score(np.asarray(r)) for r in rows]))
    with pytest.raises(ValueError, match=r"ids\[1\] has 0 tokens"):
        sched.submit_ids([[1], []])
    with pytest.raises(ValueError, match=r"ids\[0\] has 65 tokens"):
        sched.submit_ids([np.ones(65, dtype=np.int64)])


def test_limits_the_encoder_cannot_meet_are_refused():
    with pytest.raises(ValueError, match="max_seq_len=32"):
        Scheduler(FakeBackend(max_seq_len=32), FakeEncoder(64))


def test_close_fails_pending_requests_and_refuses_new_ones(make):
    backend = FakeBackend(max_batch_size=1, max_num_tokens=256, gated=True)
    sched = make(backend)
    fut = sched.submit("q", docs("a", 5))
    assert backend.started.wait(WAIT)
    backend.release(1000)
    sched.close(timeout=WAIT)
    with pytest.raises(SchedulerClosedError):
        fut.result(timeout=WAIT)
    with pytest.raises(SchedulerClosedError):
        sched.submit("q", ["a"])
    with pytest.raises(SchedulerClosedError):
        sched.health()


def test_close_with_drain_finishes_admitted_requests(make):
    backend = FakeBackend(max_batch_size=1, max_num_tokens=256, delay=0.01)
    sched = make(backend)
    fut = sched.submit("q", docs("a", 5))
    sched.close(drain=True, timeout=WAIT)
    np.testing.assert_array_equal(fut.result(timeout=0).scores, expected("q", docs("a", 5)))


def test_a_draining_close_serves_requests_waiting_for_the_cpu(make):
    backend = HostBackend(max_batch_size=2, max_num_tokens=256, gated=True)
    encoder = RecordingEncoder(64)
    sched = make(backend, encoder)
    big = sched.submit("big", docs("b", 4))
    assert backend.started.wait(WAIT)  # a host batch holds the CPU turn until released
    late: dict[str, object] = {}
    waiter = threading.Thread(target=lambda: late.setdefault("future", sched.submit("late", docs("l", 2))))
    waiter.start()
    wait_until(lambda: sched.stats().requests_submitted == 2)  # admitted, waiting for the turn to tokenize
    closer = threading.Thread(target=lambda: sched.close(drain=True, timeout=WAIT))
    closer.start()
    wait_until(lambda: sched._closing)
    time.sleep(_LIVENESS_POLL_S * 1.6)  # the waiter looks at the scheduler's state at least once meanwhile
    backend.release(1000)
    waiter.join(WAIT)
    closer.join(WAIT)
    np.testing.assert_array_equal(late["future"].result(timeout=0).scores, expected("late", docs("l", 2)))
    np.testing.assert_array_equal(big.result(timeout=0).scores, expected("big", docs("b", 4)))


def test_a_request_that_cannot_be_queued_gives_back_its_places(make):
    class WrongFlags(FakeEncoder):
        def encode(self, queries, documents, instructions=None, *, truncate=True, first_index=0):
            out = super().encode(queries, documents, instructions, truncate=truncate, first_index=first_index)
            return Encoded(out.ids, out.truncated[:-1])  # one flag short: the queue refuses it

    sched = make(FakeBackend(), WrongFlags(64))
    with pytest.raises(ValueError):
        sched.submit("q", docs("a", 3))
    stats = sched.stats()
    assert (stats.pending_pairs, stats.pending_requests, stats.requests_failed) == (0, 0, 1)
    started = time.monotonic()
    sched.close(drain=True, timeout=WAIT)  # nothing is left to drain
    assert time.monotonic() - started < WAIT / 2


def test_wait_at_the_deadline_returns_the_result_another_thread_is_settling(make, monkeypatch):
    import rerankrt.runtime.batching.scheduler as scheduler

    settle = scheduler._settle
    settling = threading.Event()

    def slow_settle(future, **kwargs):  # widens the gap between finishing a request and settling its future
        settling.set()
        time.sleep(0.3)
        settle(future, **kwargs)

    monkeypatch.setattr(scheduler, "_settle", slow_settle)
    sched = make(FakeBackend())
    row = np.arange(1, 5)
    fut = sched.submit_ids([row])
    assert settling.wait(WAIT)  # finished by the worker, not yet settled
    np.testing.assert_array_equal(sched.wait(fut, timeout=0).scores, np.float32([row_score(row)]))


def test_a_request_still_tokenizing_is_not_forced_to_lead_past_small_ones(make):
    backend = FakeBackend(max_batch_size=4, max_num_tokens=256, gated=True)
    encoder = RecordingEncoder(64, hold={"M0": threading.Semaphore(1)})  # M0's second chunk waits for the test
    sched = make(backend, encoder, tokenize_chunk=2)
    large = sched.submit("L0", docs("d", 10, length=10))
    assert backend.started.wait(WAIT)
    medium: dict[str, object] = {}
    thread = threading.Thread(target=lambda: medium.setdefault("future", sched.submit("M0", docs("d", 4, length=10))))
    thread.start()
    wait_until(lambda: encoder.entered.count("M0") == 2)  # first chunk queued, second held
    small = [sched.submit(f"s{i}", docs("d", 4, length=10)) for i in range(_URGENT_IN_A_ROW + 1)]
    backend.release(1000)
    wait_until(lambda: len(backend.batches) >= _URGENT_IN_A_ROW + 3)
    encoder.hold["M0"].release()
    thread.join(WAIT)
    for fut in [large, medium["future"], *small]:
        sched.wait(fut, timeout=WAIT)
    leads = lead_queries(backend)
    # After 8 small leads the large request tokenized whole leads, not M0, which may yet turn out small.
    assert leads[: _URGENT_IN_A_ROW + 2] == ["L0", *[f"s{i}" for i in range(_URGENT_IN_A_ROW)], "L0"]


def test_the_cpu_turn_is_given_back_when_forming_a_batch_kills_the_worker(make, monkeypatch):
    sched = make(HostBackend())
    form_batch = sched._form_batch

    def broken():  # fails once pairs wait, that is, with the turn held
        if any(r.lengths for r in sched._requests.values()):
            raise Fatal("form_batch")
        return form_batch()

    monkeypatch.setattr(sched, "_form_batch", broken)
    fut = sched.submit("q", docs("a", 2))
    with pytest.raises(WorkerDiedError):
        sched.wait(fut, timeout=WAIT)
    assert sched._host_turns.acquire(timeout=WAIT)
    sched._host_turns.release()


def test_batches_fit_the_backends_shapes_not_only_its_token_budget(make):
    backend = ProfiledBackend(max_batch_size=8, max_seq_len=64, max_num_tokens=512)
    sched = make(backend)
    documents = docs("d", 12, length=20) + docs("s", 12, length=4)
    np.testing.assert_allclose(sched.submit("q", documents).result(timeout=WAIT).scores, expected("q", documents))
    assert max(s[0] for s in backend.shapes if s[1] > 16) <= 2
    assert any(s[0] > 2 for s in backend.shapes), "short rows still batch widely"


def test_tensorrt_rows_follow_its_profiles():
    from rerankrt.runtime.backends.tensorrt import TensorRTBackend

    engine = object.__new__(TensorRTBackend)  # no engine here: the method reads only profiles and limits
    engine._limits = BackendLimits(max_batch_size=64, max_seq_len=8448, max_num_tokens=32768)
    engine._profiles = [((1, 1), (64, 512)), ((1, 1), (16, 2048)), ((1, 1), (4, 8448))]
    assert [engine.max_rows(s) for s in (100, 512, 513, 2048, 2049, 8448)] == [64, 64, 16, 16, 4, 3]


def test_batch_tokens_is_a_soft_target(make):
    backend = FakeBackend(max_batch_size=8, max_seq_len=64, max_num_tokens=512)
    sched = make(backend, batch_tokens=40)
    documents = docs("a", 6, length=8) + docs("long", 1, length=50)
    np.testing.assert_allclose(sched.submit("q", documents).result(timeout=WAIT).scores, expected("q", documents))
    assert all(rows * seq <= 40 or rows == 1 for rows, seq in backend.shapes), backend.shapes
    assert any(seq > 40 for _, seq in backend.shapes), "a row longer than the target still runs"
    with pytest.raises(ValueError, match="batch_tokens"):
        make(FakeBackend(), batch_tokens=-1)


def test_a_callers_own_tokenizing_takes_the_host_turn_in_chunks(make):
    """The server tokenizes before submitting ids (its token budgets): it takes turns like `submit` does."""
    backend = HostBackend(max_batch_size=4, max_num_tokens=256)
    encoder = FakeEncoder(64)
    sched = make(backend, encoder=encoder, tokenize_chunk=4)
    documents = docs("q", 10)
    calls = []

    def encode(start: int, stop: int):
        calls.append((start, stop, sched._host_turns._held))
        return encoder.encode("q", documents[start:stop], first_index=start)

    whole = encoder.encode("q", documents)
    joined = sched.encode_in_turns(encode, len(documents))
    assert calls == [(0, 4, True), (4, 8, True), (8, 10, True)]  # in chunks, each holding the host CPU
    assert [list(r) for r in joined.ids] == [list(r) for r in whole.ids]
    np.testing.assert_array_equal(joined.truncated, whole.truncated)
    assert sched._host_turns.acquire(timeout=WAIT)  # held by another: the caller waits, then gives up at its deadline
    try:
        with pytest.raises(DeadlineExceededError):
            sched.encode_in_turns(encode, len(documents), deadline=time.monotonic() + 0.2)
    finally:
        sched._host_turns.release()
