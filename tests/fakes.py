"""Fake backends and encoders for the tests: rows, delays, gates and failures the tests control.

- `write_torch_engine_dir`, `write_fake_trt_dir`: engine directories written the way the build writes them.
- `FakeEncoder`: a pair is the code points of "query|document"; `RecordingEncoder` also logs and can hold calls.
- `ScriptedBackend`: speed and failures the test sets, a fixed score per row (`expected_scripted`).
- `FakeBackend`: scores a row by `row_score` (a checksum of its real tokens), records every batch, can wait on a
  gate, sleep, or fail; `HostBackend` says it computes on the host CPU; `ProfiledBackend` has TensorRT-like
  profiles; `GatedBackend` returns each row's length once a test opens its gate.
- `DeviceBackend`: a FakeBackend with pipeline depth 2, whose batches run one after the other on a "device" thread.
- `CountingTokenizer`: a real tokenizer that counts how many of its inputs held each document.
"""

from __future__ import annotations

import queue
import shutil
import threading
import time
from pathlib import Path

import numpy as np

from rerankrt.manifest import Manifest, write_manifest
from rerankrt.models import copy_tokenizer_files
from rerankrt.prompt import Encoded, TruncationError
from rerankrt.runtime.backends.base import Backend, BackendError, BackendLimits, check_batch
from rerankrt.tokenizer import bundled_tokenizer_dir

WAIT = 10.0  # seconds: an upper bound on every wait, so a broken scheduler fails a test instead of hanging it
# The fake engine directories' prompt cap and limits.
ENGINE_MAX_LENGTH = 256
ENGINE_LIMITS = {"max_batch_size": 8, "max_seq_len": ENGINE_MAX_LENGTH, "max_num_tokens": 1024}


class FakeEncoder:
    """Pair -> the code points of "query|document" (capped at max_length); lengths are whatever the test writes.

    Keeps `PromptEncoder.encode`'s contract: truncate=False raises TruncationError naming the pair.
    """

    template = "fake"
    pad_id = 0

    def __init__(self, max_length: int = 64, delay: float = 0.0) -> None:
        self.max_length = self.max_sequence_length = max_length
        self.delay = delay
        self.calls = 0

    def encode(self, queries, documents, instructions=None, *, truncate=True, first_index=0) -> Encoded:
        self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        queries = [queries] * len(documents) if isinstance(queries, str) else list(queries)
        ids, cut = [], []
        for q, d in zip(queries, documents, strict=True):
            if not isinstance(d, str):
                raise TypeError("documents must be str")
            row = np.array([ord(c) for c in f"{q}|{d}"], dtype=np.int64)
            cut.append(len(row) > self.max_length)
            ids.append(row[: self.max_length])
        if not truncate and any(cut):
            raise TruncationError(f"pair {first_index + cut.index(True)} needs more than max_length={self.max_length}")
        return Encoded(ids, np.array(cut, dtype=bool))


def row_score(ids: np.ndarray) -> float:
    """What FakeBackend returns for one row: a checksum of its real tokens, so a score depends on its row only."""
    ids = np.asarray(ids, dtype=np.int64)
    return float((ids * np.arange(1, len(ids) + 1)).sum() % 100_003) / 1000.0


def decode(ids: np.ndarray, length: int) -> str:
    return "".join(chr(int(c)) for c in ids[:length])


class FakeBackend(Backend):
    """Scores rows with `row_score`; records every batch; can wait on a gate, sleep, or fail on chosen rows."""

    name = "fake"

    def __init__(
        self,
        max_batch_size: int = 8,
        max_seq_len: int = 64,
        max_num_tokens: int = 256,
        *,
        delay: float = 0.0,
        gated: bool = False,
        fail_on: str | None = None,
        fail_with: BaseException | None = None,
    ) -> None:
        self._limits = BackendLimits(
            max_batch_size=max_batch_size, max_seq_len=max_seq_len, max_num_tokens=max_num_tokens
        )
        self.delay = delay
        self.gate = threading.Semaphore(0) if gated else None
        self.fail_on = fail_on
        self.fail_with = fail_with or BackendError("fake backend failure")
        self.batches: list[list[str]] = []  # decoded rows of each batch, in call order
        self.shapes: list[tuple[int, int]] = []
        self.started = threading.Event()
        self.lock = threading.Lock()

    @property
    def limits(self) -> BackendLimits:
        return self._limits

    def release(self, n: int = 1) -> None:
        for _ in range(n):
            self.gate.release()

    def score(self, input_ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        check_batch(input_ids, lengths, self._limits)
        rows = [decode(r, n) for r, n in zip(input_ids, lengths, strict=True)]
        with self.lock:
            self.batches.append(rows)
            self.shapes.append(input_ids.shape)
        self.started.set()
        if self.gate is not None:
            assert self.gate.acquire(timeout=WAIT), "test never released the gate"
        if self.delay:
            time.sleep(self.delay)
        if self.fail_on is not None and any(self.fail_on in r for r in rows):
            raise self.fail_with
        return np.array([row_score(r[:n]) for r, n in zip(input_ids, lengths, strict=True)], dtype=np.float32)


class HostBackend(FakeBackend):
    """A FakeBackend that says it computes on the host CPU, and records when each call runs."""

    runs_on_host = True

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.spans: list[tuple[float, float]] = []

    def score(self, input_ids, lengths):
        start = time.monotonic()
        try:
            return super().score(input_ids, lengths)
        finally:
            self.spans.append((start, time.monotonic()))


class DeviceBackend(FakeBackend):
    """A FakeBackend that runs like a GPU: `submit` enqueues, a device thread runs batches in order, `result` waits.

    Each batch takes `delay` seconds on the device (or waits on the gate); `fail_on` fails the batch at `result`,
    `fail_submit_on` at `submit`. `outstanding_max` is the most batches submitted and not yet collected at once;
    `events` logs ("submit" | "result", batch number) in order.
    """

    pipeline_depth = 2

    def __init__(self, *args, fail_submit_on: str | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fail_submit_on = fail_submit_on
        self.events: list[tuple[str, int]] = []
        self.outstanding = 0
        self.outstanding_max = 0
        self._queue: queue.Queue = queue.Queue()
        self._device = threading.Thread(target=self._run_device, daemon=True)
        self._device.start()

    def _run_device(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            input_ids, lengths, box, done = job
            try:
                box["scores"] = FakeBackend.score(self, input_ids, lengths)
            except BaseException as exc:  # noqa: BLE001 - handed to result()
                box["error"] = exc
            done.set()

    def submit(self, input_ids, lengths):
        rows = [decode(r, n) for r, n in zip(input_ids, lengths, strict=True)]
        if self.fail_submit_on is not None and any(self.fail_submit_on in r for r in rows):
            raise BackendError("fake enqueue failure")
        with self.lock:
            number = sum(1 for e in self.events if e[0] == "submit")
            self.events.append(("submit", number))
            self.outstanding += 1
            self.outstanding_max = max(self.outstanding_max, self.outstanding)
        box, done = {"number": number}, threading.Event()
        # Copies: the caller may reuse its arrays once submit returns.
        self._queue.put((input_ids.copy(), lengths.copy(), box, done))
        return box, done

    def result(self, handle):
        box, done = handle
        assert done.wait(WAIT), "the fake device never finished a batch"
        with self.lock:
            self.outstanding -= 1
            self.events.append(("result", box["number"]))
        if "error" in box:
            raise box["error"]
        return box["scores"]

    def score(self, input_ids, lengths):
        return self.result(self.submit(input_ids, lengths))

    def close(self) -> None:
        self._queue.put(None)


class RecordingEncoder(FakeEncoder):
    """A FakeEncoder that records each call (query, start, end) and can hold the calls of chosen queries."""

    def __init__(self, max_length: int = 64, delay: float = 0.0, hold: dict[str, threading.Semaphore] | None = None):
        super().__init__(max_length, delay)
        self.hold = hold or {}
        self.log: list[tuple[str, float, float]] = []
        self.entered: list[str] = []

    def encode(self, queries, documents, instructions=None, *, truncate=True, first_index=0):
        query = queries if isinstance(queries, str) else queries[0]
        self.entered.append(query)
        start = time.monotonic()
        if query in self.hold:
            assert self.hold[query].acquire(timeout=WAIT), "test never released the encoder"
        try:
            return super().encode(queries, documents, instructions, truncate=truncate, first_index=first_index)
        finally:
            self.log.append((query, start, time.monotonic()))


class ProfiledBackend(FakeBackend):
    """Like a TensorRT engine with profiles: short rows up to 8 at a time, rows past 16 tokens only 2 at a time."""

    def max_rows(self, seq_len: int) -> int:
        return min(super().max_rows(seq_len), 8 if seq_len <= 16 else 2)

    def score(self, input_ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        assert input_ids.shape[0] <= self.max_rows(input_ids.shape[1]), "a batch no profile holds"
        return super().score(input_ids, lengths)


class GatedBackend(Backend):
    """Returns the row length as the score once the test opens the gate."""

    name = "gated"

    def __init__(self, max_seq_len: int = 256) -> None:
        self.max_seq_len = max_seq_len
        self.gate = threading.Event()
        self.started = threading.Event()
        self.rows = 0

    @property
    def limits(self) -> BackendLimits:
        return BackendLimits(max_batch_size=2, max_seq_len=self.max_seq_len, max_num_tokens=4096)

    def score(self, input_ids, lengths):
        self.started.set()
        assert self.gate.wait(WAIT)
        self.rows += len(lengths)
        return lengths.astype(np.float32)


def write_torch_engine_dir(out: Path, checkpoint: Path) -> Path:
    """An engine directory served by the torch backend (checkpoint inside it), written the way the build writes."""
    shutil.copytree(checkpoint, out / "checkpoint")
    copy_tokenizer_files(checkpoint, out / "tokenizer")
    data = {
        "backend": "torch",
        "template": "seed",
        "max_length": ENGINE_MAX_LENGTH,
        "limits": dict(ENGINE_LIMITS),
        "target": {"gpu": "cpu", "precision": "fp32"},
        "model": {"source": "tiny-test-model"},
        "token_ids": {"yes": 16, "no": 15, "pad": 151643},
        "artifacts": {"checkpoint": "checkpoint"},
    }
    write_manifest(Manifest.from_dict(out, data))
    return out


def write_fake_trt_dir(tmp_path: Path, *, version="10.9.0.34", capability="9.0") -> Path:
    """A TensorRT engine directory whose engine.plan is not a real engine: for the refusals before loading."""
    (tmp_path / "tokenizer").mkdir()
    copy_tokenizer_files(bundled_tokenizer_dir(), tmp_path / "tokenizer")
    (tmp_path / "engine.plan").write_bytes(b"not a real engine")
    data = {
        "backend": "tensorrt",
        "template": "seed",
        "max_length": ENGINE_MAX_LENGTH,
        "limits": dict(ENGINE_LIMITS),
        "target": {"gpu": "h100", "precision": "fp8", "compute_capability": capability, "tensorrt_version": version},
        "model": {"source": "tiny"},
        "token_ids": {"yes": 16, "no": 15, "pad": 151643},
        "artifacts": {"engine": "engine.plan"},
    }
    write_manifest(Manifest.from_dict(tmp_path, data))
    return tmp_path


class ScriptedBackend(Backend):
    """A backend whose speed and failures the test sets; its score is a fixed function of each row's ids."""

    name = "scripted"

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.fail = False
        self._limits = BackendLimits(max_batch_size=8, max_seq_len=1024, max_num_tokens=8192)

    @property
    def limits(self) -> BackendLimits:
        return self._limits

    def score(self, input_ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        check_batch(input_ids, lengths, self._limits)
        time.sleep(self.delay_s)
        if self.fail:
            raise BackendError("scripted failure")
        return np.array([expected_scripted(row[:n]) for row, n in zip(input_ids, lengths, strict=True)], np.float32)


def expected_scripted(ids) -> float:
    ids = np.asarray(ids, dtype=np.int64)
    return float(np.float32(((ids * 31 + np.arange(len(ids))) % 1009).mean() / 100.0 - 5.0))


class CountingTokenizer:
    """Wraps a tokenizer and counts, per document, how many tokenizer inputs held it."""

    def __init__(self, inner, documents):
        self.inner = inner
        self.documents = [d for d in documents if d]
        self.seen = dict.fromkeys(self.documents, 0)

    def encode_batch(self, texts, add_special_tokens=False):
        for text in texts:
            for d in self.documents:
                self.seen[d] += d in text
        return self.inner.encode_batch(texts, add_special_tokens=add_special_tokens)
