"""Pipelining: does the device wait for the host? Device busy fraction and pairs/s at pipeline depth 1 and 2.

No GPU is needed: a simulated device backend runs each batch on a "device" thread that sleeps (releasing the GIL,
as a GPU runs without the host) for a fixed launch cost plus a cost per padded token (about an H100 running the
0.5B model in FP8, as in the scheduler benchmark). Its `submit` does what the TensorRT backend's does on the host
(copy the ids and mask into a pinned staging buffer, a short GIL-holding enqueue) and returns; `result` waits for
the device. At depth 1 the scheduler's worker submits a batch and waits for it before forming the next (the runtime
before pipelining); at depth 2 it forms and submits batch N+1 while N runs.

The workload: closed-loop clients send the scheduler benchmark's mixed requests (1 to 1,000 documents of the shipped
pairs, pre-tokenized) for a fixed time, so the queue never runs dry. Reported, over that window: device busy
fraction (device time / wall time), pairs/s, padded tokens/s, batches; target: busy >= 0.95 at depth 2.

    python -m benchmarks.bench_pipeline [--size tiny|quick|full]
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench_scheduler import LIMITS, MAX_SEQ_LEN, SIZE_MIX, TINY_SIZE_MIX, LookupEncoder, _workload
from benchmarks.common import (
    Target,
    check_size,
    cli_main,
    environment,
    log,
    markdown_table,
    pyplot,
    results_dir,
    save_figure,
    write_outputs,
)
from rerankrt.runtime.backends.base import Backend, BackendLimits

NAME = "pipeline"
REQUESTS = {"tiny": 16, "quick": 120, "full": 300}
SECONDS = {"tiny": 1.0, "quick": 4.0, "full": 10.0}  # per depth
CLIENTS = 16
DEVICE_CALL_S = 0.0005  # launch cost per batch on the device
DEVICE_TOKEN_S = 0.5e-6  # per padded token
HOST_ENQUEUE_S = 0.0002  # the GIL-holding part of an enqueue (TensorRT's set_input_shape, execute_async_v3 ...)
TARGET_BUSY = 0.95


class SimulatedDevice(Backend):
    """A backend that runs like a GPU: a serial device thread, a pinned staging copy and an enqueue on the host.

    Args:
        limits: (max_batch_size, max_num_tokens, pad_multiple).
        depth: Its ``pipeline_depth``.
    """

    name = "simulated-device"
    precision = "fp8"
    runs_on_host = False

    def __init__(self, limits: tuple[int, int, int], depth: int) -> None:
        self.pipeline_depth = depth
        self._limits = BackendLimits(max_batch_size=limits[0], max_seq_len=MAX_SEQ_LEN, max_num_tokens=limits[1])
        self._staging = [np.empty(limits[1], np.int64) for _ in range(2 * depth)]
        self._turn = 0
        self._jobs: queue.Queue = queue.Queue()
        self.spans: list[tuple[float, float]] = []  # (start, end) of every batch on the device
        self._thread = threading.Thread(target=self._device, name="simulated-device", daemon=True)
        self._thread.start()

    @property
    def limits(self) -> BackendLimits:
        return self._limits

    def _device(self) -> None:
        while (job := self._jobs.get()) is not None:
            tokens, done = job
            start = time.perf_counter()
            time.sleep(DEVICE_CALL_S + DEVICE_TOKEN_S * tokens)
            self.spans.append((start, time.perf_counter()))
            done.set()

    def submit(self, input_ids: np.ndarray, lengths: np.ndarray):
        n = input_ids.size
        ids, mask = self._staging[self._turn : self._turn + 2]
        self._turn = (self._turn + 2) % len(self._staging)
        np.copyto(ids[:n].reshape(input_ids.shape), input_ids)
        np.copyto(mask[:n].reshape(input_ids.shape), np.arange(input_ids.shape[1])[None, :] < lengths[:, None])
        until = time.perf_counter() + HOST_ENQUEUE_S
        while time.perf_counter() < until:  # holds the GIL, as the Python side of an enqueue does
            pass
        done = threading.Event()
        self._jobs.put((n, done))
        return done, input_ids.shape[0]

    def result(self, handle) -> np.ndarray:
        done, rows = handle
        if not done.wait(60):
            raise TimeoutError("the simulated device never finished a batch")
        return np.zeros(rows, np.float32)

    def score(self, input_ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        return self.result(self.submit(input_ids, lengths))

    def close(self) -> None:
        self._jobs.put(None)


def measure(keys, ids, pad_id, limits, depth: int, seconds: float) -> dict[str, Any]:
    """Closed-loop clients for `seconds` against a Scheduler over a `SimulatedDevice` at `depth`."""
    from rerankrt.runtime.batching import Scheduler

    device = SimulatedDevice(limits, depth)
    encoder = LookupEncoder(ids, pad_id, MAX_SEQ_LEN)
    sched = Scheduler(device, encoder, pad_multiple=limits[2])
    pairs = [0] * CLIENTS
    started = time.perf_counter()
    stop = started + seconds

    def client(c: int) -> None:
        i = c
        while time.perf_counter() < stop:
            docs = [str(k) for k in keys[i % len(keys)]]
            sched.wait(sched.submit("q", docs), timeout=120)
            if time.perf_counter() <= stop:
                pairs[c] += len(docs)
            i += CLIENTS

    threads = [threading.Thread(target=client, args=(c,)) for c in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ended = time.perf_counter()
    stats = sched.stats()
    sched.close(timeout=30)
    device.close()
    window = stop - started
    # Device time inside the saturated window [started, stop]; the device is serial, so spans never overlap.
    busy = sum(max(0.0, min(e, stop) - max(s, started)) for s, e in device.spans)
    return {
        "depth": depth,
        "window_s": window,
        "tail_s": ended - stop,
        "device_busy_fraction": busy / window,
        "pairs_per_s": sum(pairs) / window,
        "padded_tokens_per_s": stats.padded_tokens / (ended - started),
        "batches": stats.batches,
        "mean_batch_device_ms": 1e3 * float(np.mean([e - s for s, e in device.spans])) if device.spans else 0.0,
        "spans": device.spans,
        "started": started,
    }


def run(size: str = "full", *, results: str | Path | None = None, seconds: float | None = None) -> dict[str, Any]:
    """Measure device busy fraction and pairs/s at depth 1 and 2; write pipeline.{json,md,png}.

    Args:
        size: "tiny", "quick" or "full". Defaults to "full".
        results: Results folder. Defaults to benchmarks/results/.
        seconds: Measured window per depth. Defaults to the size's.

    Returns:
        The result record (also written as JSON), with ``targets`` holding the PASS/FAIL line.
    """
    check_size(size)
    folder = results_dir(results)
    keys, ids, pad_id = _workload(REQUESTS[size], TINY_SIZE_MIX if size == "tiny" else SIZE_MIX)
    limits = LIMITS["h100"]
    window = float(seconds or SECONDS[size])
    runs = {}
    for depth in (1, 2):
        log(f"{NAME}: depth {depth}, {CLIENTS} closed-loop clients, {window:.0f} s, h100 limits {limits[:2]}")
        runs[depth] = measure(keys, ids, pad_id, limits, depth, window)
        r = runs[depth]
        log(f"{NAME}:   device busy {r['device_busy_fraction']:.3f}, {r['pairs_per_s']:.0f} pairs/s")
    before, after = runs[1], runs[2]
    targets = [
        Target(
            "device busy fraction, pipelined (depth 2), simulated GPU",
            after["device_busy_fraction"],
            TARGET_BUSY,
            ">=",
            unit="",
            detail=f"depth 1: {before['device_busy_fraction']:.3f}; pairs/s {before['pairs_per_s']:.0f} -> "
            f"{after['pairs_per_s']:.0f}",
        )
    ]
    result = {
        "benchmark": NAME,
        "size": size,
        "environment": environment(),
        "workload": {
            "requests": len(keys),
            "pairs": len(ids),
            "clients": CLIENTS,
            "limits": {"max_batch_size": limits[0], "max_num_tokens": limits[1], "pad_multiple": limits[2]},
            "device": {"per_call_s": DEVICE_CALL_S, "per_padded_token_s": DEVICE_TOKEN_S},
            "host_enqueue_s": HOST_ENQUEUE_S,
        },
        "depths": {str(d): {k: v for k, v in r.items() if k not in ("spans", "started")} for d, r in runs.items()},
        "targets": [t.as_dict() for t in targets],
    }
    return write_outputs(
        folder,
        NAME,
        result,
        _markdown(result, targets),
        plot=lambda png: _plot(runs, png),
        lines=[t.line for t in targets],
    )


def _markdown(result: dict[str, Any], targets: list[Target]) -> str:
    rows = [
        [
            "1 (submit, wait, form the next)" if d == "1" else "2 (form and submit N+1 while N runs)",
            f"{r['device_busy_fraction']:.3f}",
            f"{r['pairs_per_s']:.0f}",
            f"{r['padded_tokens_per_s'] / 1e6:.2f}",
            r["batches"],
            f"{r['mean_batch_device_ms']:.2f}",
        ]
        for d, r in result["depths"].items()
    ]
    w = result["workload"]
    return "\n\n".join(
        [
            f"## Pipelining (simulated GPU: {w['device']['per_call_s'] * 1e3:.1f} ms + "
            f"{w['device']['per_padded_token_s'] * 1e6:.1f} us per padded token; {w['clients']} closed-loop clients, "
            f"{w['requests']} mixed requests, {w['limits']['max_batch_size']} rows / "
            f"{w['limits']['max_num_tokens']} tokens per batch)",
            markdown_table(
                ["pipeline depth", "device busy", "pairs/s", "M padded tokens/s", "batches", "device ms/batch"], rows
            ),
            "Device busy = device time / wall time over the saturated window; the host side is the real scheduler "
            "plus a pinned staging copy and a GIL-holding enqueue per batch.",
            "\n".join(f"- {t.line}" for t in targets),
        ]
    )


def _plot(runs: dict[int, dict[str, Any]], path: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, 2.4))
    for row, (depth, r) in enumerate(runs.items()):
        t0 = r["started"]
        spans = [(s - t0, e - s) for s, e in r["spans"] if s - t0 < 0.25]  # the first quarter second
        ax.broken_barh(spans, (row - 0.4, 0.8), color="#4477aa" if depth == 1 else "#228833")
    ax.set_yticks(range(len(runs)), [f"depth {d}" for d in runs])
    ax.set_xlabel("seconds (first 0.25 s): device busy")
    ax.set_title("simulated device timeline: gaps are the device waiting for the host")
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    return cli_main(
        argv,
        __doc__,
        NAME,
        lambda a: run(a.size, results=a.results, seconds=a.seconds),
        [("--seconds", {"type": float, "default": None, "help": "measured window per depth"})],
    )


if __name__ == "__main__":
    sys.exit(main())
