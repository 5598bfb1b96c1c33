"""Goodput under concurrent large requests: how many finish within their timeout, and what small requests wait.

    python -m benchmarks.bench_goodput [--size tiny|quick|full]

On the CPU engine (in process, `Reranker` with the onnxruntime backend), C large requests (1,000 documents at full
size) start at once, C in `CONCURRENCY`, while one client sends 3-document requests back to back. Every request has
the same timeout: `TIMEOUT_FACTOR` times what one large request takes alone (with the small stream running), so
that with large requests taking turns (the goodput policy off: ``SchedulerConfig(goodput=False)``) all of them
finish late and their work is thrown away. With the policy on, large requests run earliest deadline first and
admission refuses at once (429 with a Retry-After in the server) those that measured throughput says cannot finish
in time. Before the cases, each policy serves one large request alone (the first sets the timeout), as a serving
process would have before a burst: it warms the throughput meter.

Reported per case, before (off) and after (on): large requests completed within the timeout, refused early, timed
out; small-request p50/p99 latency. Writes goodput.{json,md,png}.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.common import (
    Target,
    cache_dir,
    check_size,
    cli_main,
    cpu_engine,
    environment,
    fmt,
    latency_summary,
    log,
    markdown_table,
    mixed_requests,
    pyplot,
    results_dir,
    save_figure,
    write_outputs,
)

NAME = "goodput"
LARGE_DOCS = {"tiny": 48, "quick": 300, "full": 1000}
CONCURRENCY = {"tiny": (3,), "quick": (3, 8), "full": (3, 8)}
# The timeout, in units of one large request's time alone: 3 at once take ~3x under turns, so all miss it; earliest
# deadline first completes 2 of them and refuses the rest.
TIMEOUT_FACTOR = 2.5
SMALL_DOCS = 3
POLICIES = {"before (goodput off)": False, "after (goodput on)": True}


def _large_outcome(reranker, request, timeout: float, out: list, start: threading.Event) -> None:
    from rerankrt.runtime.batching import OverloadedError

    start.wait()
    t0 = time.perf_counter()
    try:
        reranker.score(request.query, request.documents, timeout=timeout)
        out.append({"outcome": "completed", "seconds": time.perf_counter() - t0})
    except OverloadedError as exc:
        out.append({"outcome": "refused", "seconds": time.perf_counter() - t0, "retry_after_s": exc.retry_after_s})
    except TimeoutError:
        out.append({"outcome": "timed out", "seconds": time.perf_counter() - t0})


def _small_stream(reranker, requests, timeout: float, stop: threading.Event, out: list) -> None:
    i = 0
    while not stop.is_set():
        req = requests[i % len(requests)]
        i += 1
        t0 = time.perf_counter()
        try:
            reranker.score(req.query, req.documents, timeout=timeout)
            out.append(time.perf_counter() - t0)
        except Exception:  # noqa: BLE001 - a lost small request counts as one, never hides the numbers
            out.append(float("inf"))
        time.sleep(0.01)  # a steady stream, not a second closed-loop load


def _case(reranker, large, small, concurrency: int, timeout: float) -> dict[str, Any]:
    outcomes: list[dict] = []
    small_s: list[float] = []
    start, stop = threading.Event(), threading.Event()
    threads = [
        threading.Thread(target=_large_outcome, args=(reranker, large[i % len(large)], timeout, outcomes, start))
        for i in range(concurrency)
    ]
    stream = threading.Thread(target=_small_stream, args=(reranker, small, timeout, stop, small_s))
    for t in threads:
        t.start()
    stream.start()
    t0 = time.perf_counter()
    start.set()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    stop.set()
    stream.join()
    counts = {k: sum(o["outcome"] == k for o in outcomes) for k in ("completed", "refused", "timed out")}
    finite = [s for s in small_s if s != float("inf")]
    return {
        "concurrency": concurrency,
        **counts,
        "wall_s": wall,
        "large": sorted(outcomes, key=lambda o: o["seconds"]),
        "small": {**latency_summary(finite or [0.0]), "count": len(small_s), "lost": len(small_s) - len(finite)},
    }


def run(size: str = "full", *, results: str | Path | None = None, threads: int | None = None) -> dict[str, Any]:
    """Run every (policy, concurrency) case; write goodput.{json,md,png}; return the result record."""
    from rerankrt import Reranker

    check_size(size)
    folder = results_dir(results)
    _, engine = cpu_engine(cache_dir(folder), "tiny", template="mxbai", max_length=512)
    n_large = LARGE_DOCS[size]
    concurrency = CONCURRENCY[size]
    large = mixed_requests(n_large * max(concurrency), docs_per_query=n_large, seed=1)
    small = mixed_requests(SMALL_DOCS * 50, docs_per_query=SMALL_DOCS, seed=2)
    options = {"threads": threads} if threads else {}
    cases: dict[str, list[dict[str, Any]]] = {}
    alone_s = timeout = None
    for label, goodput in POLICIES.items():
        with Reranker.load(engine, goodput=goodput, **options) as reranker:
            reranker.score(small[0].query, large[0].documents[:64])  # warm onnxruntime
            # One large request with the small stream running, under each policy: the same background as the cases,
            # and what a serving process has seen before a burst (it warms the throughput meter). The first one
            # sets the timeout.
            alone = _case(reranker, large, small, 1, 600.0)["large"][0]["seconds"]
            if alone_s is None:
                alone_s = alone
                timeout = TIMEOUT_FACTOR * alone_s
                log(f"{NAME}: one {n_large}-document request alone takes {alone_s:.2f} s; timeout {timeout:.2f} s")
            cases[label] = []
            for c in concurrency:
                case = _case(reranker, large, small, c, timeout)
                log(
                    f"{NAME}: {label}, {c} x {n_large} documents: {case['completed']} completed, {case['refused']} "
                    f"refused, {case['timed out']} timed out; small p99 {case['small']['p99_ms']:.0f} ms"
                )
                cases[label].append(case)
    before, after = (cases[k] for k in POLICIES)
    # Under earliest deadline first, floor(TIMEOUT_FACTOR) large requests fit their timeout; the rest must be
    # refused early, none left to time out; small requests keep their latency.
    fit = int(TIMEOUT_FACTOR)
    targets = []
    for b, a in zip(before, after, strict=True):
        c = b["concurrency"]
        detail = (
            f"before {b['completed']}/{c} ({b['timed out']} timed out); after {a['completed']} completed, "
            f"{a['refused']} refused early, {a['timed out']} timed out"
        )
        targets += [
            Target(
                f"large requests completed within the timeout, {c} x {n_large} documents at once",
                float(a["completed"]),
                float(min(c, fit)),
                ">=",
                unit="",
                detail=detail,
            ),
            Target(f"large requests timed out, {c} at once", float(a["timed out"]), 0.0, "<=", unit="", detail=detail),
            Target(
                f"small-request p99 with {c} large at once, after / before",
                a["small"]["p99_ms"] / max(b["small"]["p99_ms"], 1e-9),
                1.5,
                "<=",
                unit="x",
                detail=f"before {b['small']['p99_ms']:.0f} ms, after {a['small']['p99_ms']:.0f} ms",
            ),
        ]
    result = {
        "benchmark": NAME,
        "size": size,
        "environment": environment(),
        "workload": {
            "large_documents": n_large,
            "small_documents": SMALL_DOCS,
            "alone_s": alone_s,
            "timeout_s": timeout,
            "timeout_factor": TIMEOUT_FACTOR,
        },
        "cases": cases,
        "targets": [t.as_dict() for t in targets],
    }
    return write_outputs(
        folder,
        NAME,
        result,
        _markdown(result, targets),
        plot=lambda png: _plot(cases, png),
        lines=[t.line for t in targets],
    )


def _markdown(result: dict[str, Any], targets: list[Target]) -> str:
    w = result["workload"]
    rows = []
    for label, cases in result["cases"].items():
        for c in cases:
            rows.append(
                [
                    label,
                    f"{c['concurrency']} x {w['large_documents']:,}",
                    f"{c['completed']}/{c['concurrency']}",
                    c["refused"],
                    c["timed out"],
                    fmt(c["wall_s"]),
                    c["small"]["count"],
                    fmt(c["small"]["p50_ms"]),
                    fmt(c["small"]["p99_ms"]),
                ]
            )
    table = markdown_table(
        [
            "policy",
            "large requests",
            "completed in time",
            "refused early",
            "timed out",
            "wall s",
            "small requests",
            "small p50 ms",
            "small p99 ms",
        ],
        rows,
    )
    return "\n\n".join(
        [
            f"## Goodput ({result['size']})",
            f"One {w['large_documents']:,}-document request alone: {w['alone_s']:.2f} s; every request's timeout "
            f"{w['timeout_s']:.2f} s ({w['timeout_factor']:g} x); a stream of {w['small_documents']}-document "
            "requests runs meanwhile. Before: `SchedulerConfig(goodput=False)` (large requests take turns, all "
            "admitted); after: the default (earliest deadline first among large requests, early refusal).",
            table,
            "\n".join(f"- {t.line}" for t in targets),
        ]
    )


def _plot(cases: dict[str, list[dict[str, Any]]], path: Path) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    labels = list(cases)
    concurrency = [c["concurrency"] for c in cases[labels[0]]]
    width = 0.38
    for k, label in enumerate(labels):
        xs = [i + (k - 0.5) * width for i in range(len(concurrency))]
        axes[0].bar(xs, [c["completed"] for c in cases[label]], width, label=label)
        axes[1].bar(xs, [c["small"]["p99_ms"] for c in cases[label]], width, label=label)
    for ax, title in zip(axes, ("large requests completed in time", "small-request p99 (ms)"), strict=True):
        ax.set_xticks(range(len(concurrency)), [f"{c} at once" for c in concurrency])
        ax.set_title(title)
        ax.legend(fontsize=8)
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    return cli_main(
        argv,
        __doc__,
        NAME,
        lambda a: run(a.size, results=a.results, threads=a.threads),
        [("--threads", {"type": int, "default": None, "help": "onnxruntime intra-op threads"})],
    )


if __name__ == "__main__":
    sys.exit(main())
