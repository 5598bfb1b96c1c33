"""Scheduler: padding efficiency and batch shapes on a realistic length mix, and its own cost per batch.

The workload: rank requests whose sizes mix many small ones and a few very large ones (1 to 1,000 documents), the
documents drawn from the shipped pairs (11 languages; 88 to 3,300 tokens through the seed template, the default).
Pairs are tokenized once up front; the scheduler gets a lookup encoder, so what is timed is the scheduler alone.

1. Padding and batch shapes: client threads submit the requests in a closed loop (each sends its next request when
   the last returns) to a `Scheduler` over a simulated backend whose call takes time in proportion to the padded
   tokens, so that queues form as they do in service. Reported: padding efficiency (real tokens / computed tokens),
   the distributions of rows, sequence lengths and tokens per batch, and, for comparison, the efficiency of
   per-request batching in arrival order and in length-sorted order (what mxbai-rerank's ``rank`` does).
   Run under the CPU engine's limits and the H100 config's (with the TensorRT backend's pad multiple of 8).
2. Overhead: a backend that returns at once. The worker is held in a first batch until every request is queued,
   then released; wall time until the last request completes, divided by the batches, is the scheduler's cost per
   batch (forming it, padding the ids, scattering the scores, completing futures).

    python -m benchmarks.bench_scheduler [--size tiny|quick|full]
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import (
    Target,
    check_size,
    cli_main,
    environment,
    fmt,
    log,
    markdown_table,
    mixed_requests,
    pyplot,
    request_sizes_mix,
    results_dir,
    save_figure,
    write_outputs,
)

NAME = "scheduler"
REQUESTS = {"tiny": 16, "quick": 120, "full": 300}
SIZE_MIX = (1, 3, 10, 30, 100, 300, 1000)  # documents per request; weights in common.request_sizes_mix
TINY_SIZE_MIX = (1, 3, 5, 10, 20, 50, 100)
CLIENTS = 8
# (max_batch_size, max_num_tokens, pad_multiple): the CPU engine's limits and the H100 config's
# (rerankrt/configs/*.yaml).
LIMITS = {"cpu": (16, 16384, 1), "h100": (64, 32768, 8)}
MAX_SEQ_LEN = 8448
# Simulated backend: a fixed cost per call plus a cost per padded token (about an H100 running the 0.5B model in FP8).
SIM_CALL_S = 0.0005
SIM_TOKEN_S = 0.5e-6
TARGET_PADDING = 0.9


class LookupEncoder:
    """Documents are keys into pre-tokenized pairs: the scheduler gets ids without tokenizer cost."""

    template = "seed"

    def __init__(self, ids: list[np.ndarray], pad_id: int, max_length: int) -> None:
        self.ids = ids
        self.pad_id = pad_id
        self.max_length = self.max_sequence_length = max_length

    def encode(self, queries, documents, instructions=None, *, truncate: bool = True, first_index: int = 0):
        from rerankrt.prompt import Encoded

        rows = [self.ids[int(d)] for d in documents]
        return Encoded(rows, np.zeros(len(rows), dtype=bool))


def _backend(limits: tuple[int, int, int], *, sim: bool, gate: threading.Event | None = None):
    from rerankrt.runtime.backends.base import Backend, BackendLimits

    class SimBackend(Backend):
        name = "simulated"

        def __init__(self) -> None:
            self._limits = BackendLimits(max_batch_size=limits[0], max_seq_len=MAX_SEQ_LEN, max_num_tokens=limits[1])
            self.first = True

        @property
        def limits(self) -> BackendLimits:
            return self._limits

        def score(self, input_ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
            if gate is not None and self.first:
                self.first = False
                if not gate.wait(60):
                    raise TimeoutError("the benchmark never released the first batch")
            if sim:
                time.sleep(SIM_CALL_S + SIM_TOKEN_S * input_ids.size)
            return np.zeros(input_ids.shape[0], dtype=np.float32)

    return SimBackend()


def _workload(num_requests: int, size_mix=SIZE_MIX) -> tuple[list[list[int]], list[np.ndarray], int]:
    """(document keys per request, ids per pair, pad id): requests of mixed sizes over the shipped pairs."""
    from rerankrt.prompt import PromptEncoder
    from rerankrt.tokenizer import bundled_tokenizer_dir

    sizes = request_sizes_mix(num_requests, seed=5, sizes=size_mix)
    encoder = PromptEncoder(bundled_tokenizer_dir(), template="seed")
    # Whole shipped documents (min_fraction 1.0): their natural length mix.
    pool = mixed_requests(sum(sizes), docs_per_query=max(sizes), seed=6, min_fraction=1.0)
    ids: list[np.ndarray] = []
    for r in pool:
        ids.extend(encoder.encode(r.query, r.documents).ids)
    keys, start = [], 0
    for n in sizes:
        keys.append(list(range(start, start + n)))
        start += n
    return keys, ids, encoder.pad_id


def _naive_efficiency(keys: list[list[int]], lengths: np.ndarray, batch: int, *, sort: bool) -> float:
    """Per-request batches of `batch` pairs padded to their longest, in input or length-sorted order."""
    real = padded = 0
    for req in keys:
        lens = lengths[req]
        if sort:
            lens = np.sort(lens)
        for i in range(0, len(lens), batch):
            chunk = lens[i : i + batch]
            real += int(chunk.sum())
            padded += int(chunk.max()) * len(chunk)
    return real / padded


def _closed_loop(keys, ids, pad_id, limits) -> dict[str, Any]:
    from rerankrt.runtime.batching import Scheduler

    batches: list[Any] = []
    encoder = LookupEncoder(ids, pad_id, MAX_SEQ_LEN)
    scheduler = Scheduler(
        _backend(limits, sim=True),
        encoder,
        max_batch_size=limits[0],
        max_num_tokens=limits[1],
        pad_multiple=limits[2],
        on_batch=batches.append,
    )
    latencies: list[tuple[int, float]] = []
    tickets = iter(range(len(keys)))
    lock = threading.Lock()

    def client() -> None:
        while True:
            with lock:
                i = next(tickets, None)
            if i is None:
                return
            start = time.perf_counter()
            future = scheduler.submit("q", [str(k) for k in keys[i]])
            scheduler.wait(future, timeout=120)
            latencies.append((len(keys[i]), time.perf_counter() - start))

    start = time.perf_counter()
    threads = [threading.Thread(target=client, daemon=True) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    wall = time.perf_counter() - start
    stats = scheduler.stats()
    scheduler.close()
    rows = np.array([b.rows for b in batches])
    seq = np.array([b.seq_len for b in batches])
    padded = np.array([b.padded_tokens for b in batches])
    real = np.array([b.real_tokens for b in batches])
    return {
        "limits": {"max_batch_size": limits[0], "max_num_tokens": limits[1], "pad_multiple": limits[2]},
        "wall_s": wall,
        "batches": len(batches),
        "padding_efficiency": float(real.sum() / padded.sum()),
        "padding_efficiency_stats": stats.padding_efficiency,
        "rows": _dist(rows),
        "seq_len": _dist(seq),
        "padded_tokens": _dist(padded),
        "per_batch_efficiency": _dist(real / padded),
        "rows_hist": rows.tolist(),
        "seq_len_hist": seq.tolist(),
        "padded_tokens_hist": padded.tolist(),
        "per_batch_efficiency_hist": (real / padded).tolist(),
        "requests_completed": stats.requests_completed,
        "small_request_latency_ms": _small_latency(latencies),
    }


def _small_latency(latencies: list[tuple[int, float]]) -> dict[str, float]:
    small = [s for n, s in latencies if n <= 3]
    if not small:
        return {}
    ms = np.asarray(small) * 1e3
    return {"count": len(small), "p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99))}


def _dist(values: np.ndarray) -> dict[str, float]:
    values = np.asarray(values, dtype=np.float64)
    return {
        "mean": float(values.mean()),
        "p10": float(np.percentile(values, 10)),
        "p50": float(np.percentile(values, 50)),
        "p90": float(np.percentile(values, 90)),
        "max": float(values.max()),
    }


def _overhead(keys, ids, pad_id, limits) -> dict[str, Any]:
    from rerankrt.runtime.batching import Scheduler

    gate = threading.Event()
    encoder = LookupEncoder(ids, pad_id, MAX_SEQ_LEN)
    batches: list[Any] = []
    scheduler = Scheduler(
        _backend(limits, sim=False, gate=gate),
        encoder,
        max_batch_size=limits[0],
        max_num_tokens=limits[1],
        pad_multiple=limits[2],
        max_pending_pairs=10**9,
        on_batch=batches.append,
    )
    first = scheduler.submit("q", ["0"])  # holds the worker in its first backend call
    time.sleep(0.05)
    start = time.perf_counter()
    futures = [scheduler.submit("q", [str(k) for k in req]) for req in keys]
    submit_s = time.perf_counter() - start
    start = time.perf_counter()
    gate.set()
    for f in [first, *futures]:
        scheduler.wait(f, timeout=120)
    drain_s = time.perf_counter() - start
    stats = scheduler.stats()
    scheduler.close()
    n_batches = stats.batches - 1  # the held first batch is not part of the drain
    pairs = sum(len(r) for r in keys)
    return {
        "batches": n_batches,
        "pairs": pairs,
        "drain_s": drain_s,
        "us_per_batch": 1e6 * drain_s / max(n_batches, 1),
        "us_per_pair": 1e6 * drain_s / max(pairs, 1),
        "submit_us_per_pair": 1e6 * submit_s / max(pairs, 1),
        "backend_s": float(sum(b.duration_s for b in batches)),
    }


def run(size: str = "full", *, results: str | Path | None = None, num_requests: int | None = None) -> dict[str, Any]:
    """Measure padding efficiency, batch distributions and per-batch overhead; write scheduler.{json,md,png}.

    Args:
        size: "tiny", "quick" or "full". Defaults to "full".
        results: Results folder. Defaults to benchmarks/results/.
        num_requests: Requests in the mixed workload. Defaults to the size's.

    Returns:
        The result record (also written as JSON), with ``targets`` holding the PASS/FAIL lines.
    """
    check_size(size)
    folder = results_dir(results)
    keys, ids, pad_id = _workload(int(num_requests or REQUESTS[size]), TINY_SIZE_MIX if size == "tiny" else SIZE_MIX)
    lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
    sizes = [len(k) for k in keys]
    log(
        f"{NAME}: {len(keys)} requests ({min(sizes)}-{max(sizes)} documents, {len(ids)} pairs, "
        f"pair length p50 {np.percentile(lengths, 50):.0f} / p99 {np.percentile(lengths, 99):.0f} tokens)"
    )
    per_limits: dict[str, Any] = {}
    for name, limits in LIMITS.items():
        log(f"{NAME}: closed loop, {CLIENTS} clients, {name} limits {limits[:2]}, pad multiple {limits[2]}")
        loop = _closed_loop(keys, ids, pad_id, limits)
        log(f"{NAME}:   padding efficiency {loop['padding_efficiency']:.3f} over {loop['batches']} batches")
        log(f"{NAME}: overhead with an instant backend, {name} limits")
        over = _overhead(keys, ids, pad_id, limits)
        log(f"{NAME}:   {over['us_per_batch']:.0f} us per batch, {over['us_per_pair']:.1f} us per pair")
        per_limits[name] = {
            "closed_loop": loop,
            "overhead": over,
            "naive_in_order": _naive_efficiency(keys, lengths, limits[0], sort=False),
            "naive_sorted": _naive_efficiency(keys, lengths, limits[0], sort=True),
        }
    targets = [
        Target(
            f"scheduler padding efficiency, mixed workload [{name} limits]",
            r["closed_loop"]["padding_efficiency"],
            TARGET_PADDING,
            ">=",
            unit="",
            detail=f"{r['closed_loop']['batches']} batches; per-request batching in order "
            f"{r['naive_in_order']:.3f}, length-sorted {r['naive_sorted']:.3f}",
        )
        for name, r in per_limits.items()
    ]
    result = {
        "benchmark": NAME,
        "size": size,
        "environment": environment(),
        "workload": {
            "requests": len(keys),
            "pairs": len(ids),
            "request_sizes": _dist(np.asarray(sizes)),
            "pair_tokens": _dist(lengths),
            "clients": CLIENTS,
            "simulated_backend": {"per_call_s": SIM_CALL_S, "per_padded_token_s": SIM_TOKEN_S},
        },
        "limits": per_limits,
        "targets": [t.as_dict() for t in targets],
    }
    return write_outputs(
        folder,
        NAME,
        result,
        _markdown(result, targets),
        plot=lambda png: _plot(per_limits, lengths, png),
        lines=[t.line for t in targets],
    )


def _markdown(result: dict[str, Any], targets: list[Target]) -> str:
    rows = []
    for name, r in result["limits"].items():
        loop, over = r["closed_loop"], r["overhead"]
        rows.append(
            [
                f"{name} ({loop['limits']['max_batch_size']} rows, {loop['limits']['max_num_tokens']} tokens, "
                f"pad x{loop['limits']['pad_multiple']})",
                f"{loop['padding_efficiency']:.3f}",
                f"{r['naive_in_order']:.3f}",
                f"{r['naive_sorted']:.3f}",
                loop["batches"],
                f"{loop['rows']['mean']:.1f} / {loop['rows']['p50']:.0f} / {loop['rows']['max']:.0f}",
                f"{loop['padded_tokens']['mean']:.0f} / {loop['padded_tokens']['p50']:.0f} / "
                f"{loop['padded_tokens']['max']:.0f}",
                fmt(over["us_per_batch"]),
                fmt(over["us_per_pair"]),
            ]
        )
    w = result["workload"]
    return "\n\n".join(
        [
            f"## Scheduler ({w['requests']} requests, {w['pairs']:,} pairs, request sizes "
            f"{w['request_sizes']['p10']:.0f}-{w['request_sizes']['max']:.0f} documents, pair length p50 "
            f"{w['pair_tokens']['p50']:.0f} / p90 {w['pair_tokens']['p90']:.0f} / max {w['pair_tokens']['max']:.0f} "
            f"tokens, {w['clients']} closed-loop clients)",
            markdown_table(
                [
                    "limits",
                    "padding eff.",
                    "per-request, in order",
                    "per-request, sorted",
                    "batches",
                    "rows mean/p50/max",
                    "tokens mean/p50/max",
                    "overhead us/batch",
                    "us/pair",
                ],
                rows,
            ),
            "Padding efficiency = real tokens / computed (padded) tokens. Overhead: a backend that returns at once.",
            "\n".join(f"- {t.line}" for t in targets),
        ]
    )


def _plot(per_limits: dict[str, Any], lengths: np.ndarray, path: Path) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.4))
    axes[0].hist(lengths, bins=40, color="#999933")
    axes[0].set_title("pair length (tokens)")
    colors = {"cpu": "#4477aa", "h100": "#cc6677"}
    for name, r in per_limits.items():
        loop = r["closed_loop"]
        kw = {"alpha": 0.6, "color": colors.get(name), "label": name}
        axes[1].hist(loop["rows_hist"], bins=30, **kw)
        axes[2].hist(loop["padded_tokens_hist"], bins=30, **kw)
        axes[3].hist(loop["per_batch_efficiency_hist"], bins=30, range=(0, 1), **kw)
    axes[1].set_title("rows per batch")
    axes[2].set_title("padded tokens per batch")
    axes[3].set_title("padding efficiency per batch")
    for ax in axes[1:]:
        ax.legend()
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    return cli_main(
        argv,
        __doc__,
        NAME,
        lambda a: run(a.size, results=a.results, num_requests=a.requests),
        [("--requests", {"type": int, "default": None, "help": "requests in the mixed workload"})],
    )


if __name__ == "__main__":
    sys.exit(main())
