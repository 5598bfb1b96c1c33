"""Pipelined execution: a depth-2 backend takes batch N+1 while N runs; a host backend keeps turn-taking at depth 1.

What a batch contains and a pair's score must not depend on the depth.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from rerankrt.runtime.backends.base import Backend, BackendError, BackendLimits
from rerankrt.runtime.batching import Scheduler
from tests.fakes import WAIT, DeviceBackend, FakeBackend, FakeEncoder, HostBackend, row_score


def expected(query: str, documents: list[str], max_length: int = 64) -> np.ndarray:
    enc = FakeEncoder(max_length).encode(query, documents)
    return np.array([row_score(r) for r in enc.ids], dtype=np.float32)


@pytest.fixture
def make():
    made: list[Scheduler] = []

    def _make(backend: Backend, **options) -> Scheduler:
        sched = Scheduler(backend, FakeEncoder(backend.limits.max_seq_len), **options)
        made.append(sched)
        return sched

    yield _make
    for sched in made:
        if getattr(sched.backend, "gate", None) is not None:
            sched.backend.release(1000)
        sched.close(timeout=WAIT)
        sched.backend.close()


def _docs(n: int, tag: str = "d") -> list[str]:
    return [f"{tag}{i:03d}" for i in range(n)]


def test_the_default_submit_and_result_run_score():
    backend = FakeBackend()
    ids = np.array([[5, 6, 0]], dtype=np.int64)
    handle = backend.submit(ids, np.array([2]))
    assert backend.batches == [["\x05\x06"]]  # computed at submission: host backends keep their timing
    assert backend.result(handle).tolist() == pytest.approx([row_score(ids[0, :2])])
    with pytest.raises(TypeError):
        backend.result(object())
    assert Backend.pipeline_depth == 1 and DeviceBackend.pipeline_depth == 2


def test_a_depth_2_backend_gets_the_next_batch_while_one_runs(make):
    """The worker submits batch 2 before it collects batch 1: the device never waits for the host."""
    backend = DeviceBackend(max_batch_size=4, gated=True)
    sched = make(backend)
    futures = [sched.submit("q", _docs(4, tag)) for tag in "abc"]
    assert _wait(lambda: backend.outstanding == 2), backend.events
    assert backend.events[:2] == [("submit", 0), ("submit", 1)]  # two in flight, none collected yet
    assert sched.stats().running_pairs == 8
    backend.release(1000)
    for fut, tag in zip(futures, "abc", strict=True):
        np.testing.assert_array_equal(sched.wait(fut, timeout=WAIT).scores, expected("q", _docs(4, tag)))
    assert backend.outstanding_max == 2
    assert [e for e in backend.events if e[0] == "result"] == [("result", i) for i in range(len(backend.batches))]
    assert sched.stats().running_pairs == 0


def test_a_host_backend_never_has_two_batches_in_flight(make):
    class DeepHost(HostBackend):
        pipeline_depth = 2  # a host backend asking for more is still run one batch at a time

    backend = DeepHost(max_batch_size=2, delay=0.01)
    sched = make(backend)
    futures = [sched.submit("q", _docs(4, t)) for t in "xyz"]
    for fut in futures:
        sched.wait(fut, timeout=WAIT)
    spans = sorted(backend.spans)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False)), "host batches overlapped"


def test_batches_and_scores_do_not_depend_on_the_depth(make):
    """Same requests queued behind a held batch: the same batches, the same scores, at depth 1 and 2."""
    seen = {}
    for depth in (1, 2):
        backend = DeviceBackend(max_batch_size=4, max_num_tokens=64, gated=True)
        backend.pipeline_depth = depth
        sched = make(backend)
        blocker = sched.submit("q", ["block"])
        assert _wait(lambda backend=backend: backend.outstanding == 1)
        docs = {tag: _docs(n, tag) for tag, n in (("a", 7), ("b", 3), ("c", 10))}
        futures = {tag: sched.submit("query", d) for tag, d in docs.items()}
        backend.release(1000)
        sched.wait(blocker, timeout=WAIT)
        for tag, fut in futures.items():
            np.testing.assert_array_equal(sched.wait(fut, timeout=WAIT).scores, expected("query", docs[tag]))
        seen[depth] = backend.batches
    assert seen[1] == seen[2] and len(seen[1]) > 3


def test_a_failure_at_submit_or_at_result_fails_that_batch_only(make):
    backend = DeviceBackend(max_batch_size=1, fail_on="bad", fail_submit_on="worse")
    sched = make(backend)
    bad, worse, good = (sched.submit("q", [d]) for d in ("bad", "worse", "good"))
    with pytest.raises(BackendError, match="fake backend failure"):
        sched.wait(bad, timeout=WAIT)
    with pytest.raises(BackendError, match="fake enqueue failure"):
        sched.wait(worse, timeout=WAIT)
    np.testing.assert_array_equal(sched.wait(good, timeout=WAIT).scores, expected("q", ["good"]))
    stats = sched.stats()
    assert stats.failed_batches == 2 and stats.worker_alive


def test_close_collects_the_batches_in_flight_before_the_worker_ends(make):
    """A backend closed after the scheduler never frees memory under a running batch."""
    backend = DeviceBackend(max_batch_size=2, gated=True)
    sched = make(backend)
    for tag in "ab":
        sched.submit("q", _docs(2, tag))
    assert _wait(lambda: backend.outstanding == 2)
    closer = threading.Thread(target=sched.close, kwargs={"timeout": WAIT})
    closer.start()
    backend.release(1000)
    closer.join(WAIT)
    assert not sched._worker.is_alive() and backend.outstanding == 0


def test_the_scores_of_a_wrong_length_fail_the_batch(make):
    class Short(Backend):
        pipeline_depth = 2
        limits = BackendLimits(max_batch_size=4, max_seq_len=64, max_num_tokens=256)

        def score(self, input_ids, lengths):
            return np.zeros(len(lengths) - 1, np.float32)

    sched = make(Short())
    with pytest.raises(BackendError, match="scores for a batch"):
        sched.wait(sched.submit("q", ["a", "b"]), timeout=WAIT)


def _wait(predicate, timeout: float = WAIT) -> bool:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            return False
        time.sleep(0.002)
    return True
