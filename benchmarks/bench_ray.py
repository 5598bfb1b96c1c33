"""Ray Serve vs `rerankrt serve`: the proxy's per-request overhead, 1 vs 2 replicas, and max_ongoing_requests.

Same engine directory (the tiny CPU engine by default: the serving path, not the model, is what is measured), same
machine, loopback only, every request with a timeout and every phase with a bounded request count.

1. Latency: one client sends small requests (3 documents) one after another: p50/p99 through `rerankrt serve` (a
   subprocess, onnxruntime on 2 threads) and through Serve's proxy to 1 replica (2 CPUs, 2 threads).
2. Throughput: C clients in a closed loop of 16-document requests: `rerankrt serve`, Serve with 1 replica (2
   threads) and with 2 replicas (1 thread each): the same cores split two ways.
3. max_ongoing_requests sweep (1 replica, C clients of 4-document requests): what Ray's default of 5 does to the
   in-flight batcher (pairs per batch, pairs/s) against larger caps.

    python -m benchmarks.bench_ray [--size quick|full] [--engine DIR] [--results DIR]

Needs ``rerankrt[ray]``. Writes ``ray.json`` and ``ray.md`` under the results folder.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import cache_dir, cpu_engine, latency_summary, log, markdown_table, results_dir, write_json

SIZES = {
    "quick": {"latency": 100, "throughput": 300, "sweep": 200},
    "full": {"latency": 400, "throughput": 1200, "sweep": 1200},
}
CLIENTS = 32
TIMEOUT_S = 60.0
WORDS = "words about novels and their authors "
CAVEAT = (
    "What 2 shared cores can show: the proxy's per-request overhead (one more hop: proxy -> replica actor), and "
    "what max_ongoing_requests does to the batcher. What they cannot show: scale-out. 2 replicas split the same 2 "
    "cores that 1 replica with 2 threads uses, beside the clients, the proxy and Ray's controller; where 2 replicas "
    "win here it is because each replica is one Python process whose GIL-bound work (HTTP, JSON, tokenization) "
    "caps it near one core on a tiny model, not because capacity was added. Real scale-out is one replica per GPU "
    "(or node) on hardware that is not shared, where throughput adds up per replica until the proxy is the limit."
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _body(n_docs: int, doc_words: int) -> bytes:
    texts = [f"document {i}: " + WORDS * doc_words for i in range(n_docs)]
    return json.dumps({"query": "Who wrote 'To Kill a Mockingbird'?", "texts": texts}).encode()


async def _closed_loop(url: str, body: bytes, total: int, clients: int) -> dict[str, Any]:
    """`clients` clients, each sending its next request when the last returns, until `total` are done."""
    import httpx

    latencies: list[float] = []
    failures = 0
    remaining = total
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=TIMEOUT_S, limits=limits) as client:

        async def worker() -> None:
            nonlocal remaining, failures
            while remaining > 0:
                remaining -= 1
                start = time.perf_counter()
                r = await client.post(f"{url}/rerank", content=body, headers={"content-type": "application/json"})
                latencies.append(time.perf_counter() - start)
                failures += r.status_code != 200

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - start
    return {**latency_summary(latencies), "requests_per_s": len(latencies) / elapsed, "failures": failures}


def _measure(url: str, body: bytes, total: int, clients: int, n_docs: int) -> dict[str, Any]:
    asyncio.run(_closed_loop(url, body, min(20, total), clients))  # warm-up: connections, first batches
    out = asyncio.run(_closed_loop(url, body, total, clients))
    out["pairs_per_s"] = out["requests_per_s"] * n_docs
    return out


def _batch_stats(url: str) -> float | None:
    """Mean pairs per backend batch, from the replica's /metrics (one replica answers; fine with one)."""
    import httpx

    text = httpx.get(f"{url}/metrics", timeout=10).text
    values = {}
    for line in text.splitlines():
        for key in ("rerankrt_batch_size_sum", "rerankrt_batch_size_count"):
            if line.startswith(key):
                values[key] = float(line.split()[-1])
    if values.get("rerankrt_batch_size_count"):
        return values["rerankrt_batch_size_sum"] / values["rerankrt_batch_size_count"]
    return None


class _RerankrtServe:
    """`rerankrt serve ENGINE --port P` as a subprocess, 2 onnxruntime threads."""

    def __init__(self, engine: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        fd, self._config = tempfile.mkstemp(suffix=".yaml")
        os.write(fd, b"log_level: warning\nreranker:\n  threads: 2\n")
        os.close(fd)
        cmd = [sys.executable, "-m", "rerankrt", "serve", str(engine), "--port", str(self.port)]
        self._proc = subprocess.Popen([*cmd, "--workers-config", self._config], stderr=subprocess.DEVNULL)

    def __enter__(self) -> _RerankrtServe:
        import httpx

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("rerankrt serve did not come up")

    def __exit__(self, *exc) -> None:
        self._proc.terminate()
        self._proc.wait(30)
        os.unlink(self._config)


def _deploy(engine: Path, *, replicas: int, num_cpus: float, max_ongoing: int | None = None) -> None:
    from ray import serve

    from rerankrt.deploy.ray_serve import app_builder

    if "rerankrt" in serve.status().applications:
        serve.delete("rerankrt")  # a fresh replica: max_ongoing_requests alone would update it in place
    args: dict[str, Any] = {"engine_dir": str(engine), "num_replicas": replicas, "num_cpus": num_cpus}
    if max_ongoing:
        args["max_ongoing_requests"] = max_ongoing
    serve.run(app_builder({**args, "settings": {"log_level": "warning"}}), name="rerankrt", route_prefix="/")


def run(size: str, engine: Path | None, results: Path) -> dict[str, Any]:
    import ray
    from ray import serve

    n = SIZES[size]
    engine = engine or cpu_engine(cache_dir(results), "tiny")[1]
    small, medium, sweep_body = _body(3, 4), _body(16, 12), _body(4, 12)
    out: dict[str, Any] = {"engine": str(engine), "size": size, "clients": CLIENTS, "caveat": CAVEAT}

    log("rerankrt serve: latency and throughput")
    with _RerankrtServe(engine) as server:
        out["latency_rerankrt_serve"] = _measure(server.url, small, n["latency"], 1, 3)
        out["throughput_rerankrt_serve"] = _measure(server.url, medium, n["throughput"], CLIENTS, 16)

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port, "request_timeout_s": TIMEOUT_S})
        log("Ray Serve, 1 replica (2 threads): latency and throughput")
        _deploy(engine, replicas=1, num_cpus=2)
        out["latency_serve_1"] = _measure(url, small, n["latency"], 1, 3)
        out["throughput_serve_1"] = _measure(url, medium, n["throughput"], CLIENTS, 16)
        log("Ray Serve, 2 replicas (1 thread each): throughput")
        _deploy(engine, replicas=2, num_cpus=1)
        out["throughput_serve_2"] = _measure(url, medium, n["throughput"], CLIENTS, 16)
        sweep = {}
        for cap in (5, 16, 64, 256):
            log(f"Ray Serve, 1 replica, max_ongoing_requests={cap}")
            _deploy(engine, replicas=1, num_cpus=2, max_ongoing=cap)
            result = _measure(url, sweep_body, n["sweep"], 64, 4)
            result["mean_pairs_per_batch"] = _batch_stats(url)
            sweep[str(cap)] = result
        out["max_ongoing_sweep"] = sweep
    finally:
        serve.shutdown()
        ray.shutdown()
    return out


def _markdown(r: dict[str, Any]) -> str:
    def row(name: str, m: dict[str, Any]) -> list[Any]:
        return [name, f"{m['p50_ms']:.1f}", f"{m['p99_ms']:.1f}", f"{m['requests_per_s']:.1f}", m["failures"]]

    lat = markdown_table(
        ["small requests, 1 client", "p50 ms", "p99 ms", "req/s", "failures"],
        [row("rerankrt serve", r["latency_rerankrt_serve"]), row("Ray Serve, 1 replica", r["latency_serve_1"])],
    )
    thr = markdown_table(
        [f"16-doc requests, {r['clients']} clients", "p50 ms", "p99 ms", "req/s", "failures"],
        [
            row("rerankrt serve (2 threads)", r["throughput_rerankrt_serve"]),
            row("Ray Serve, 1 replica (2 threads)", r["throughput_serve_1"]),
            row("Ray Serve, 2 replicas (1 thread each)", r["throughput_serve_2"]),
        ],
    )
    sweep = markdown_table(
        ["max_ongoing_requests (1 replica, 64 clients, 4 docs)", "p50 ms", "p99 ms", "pairs/s", "pairs/batch"],
        [
            [cap, f"{m['p50_ms']:.1f}", f"{m['p99_ms']:.1f}", f"{m['pairs_per_s']:.0f}", m["mean_pairs_per_batch"]]
            for cap, m in r["max_ongoing_sweep"].items()
        ],
    )
    return f"# Ray Serve vs rerankrt serve\n\n{lat}\n\n{thr}\n\n{sweep}\n\n{r['caveat']}\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", choices=tuple(SIZES), default="quick")
    p.add_argument("--engine", type=Path, help="engine directory (default: the tiny CPU engine, built once)")
    p.add_argument("--results", type=Path, help="results folder (default benchmarks/results/)")
    args = p.parse_args(argv)
    folder = results_dir(args.results)
    result = run(args.size, args.engine, folder)
    write_json(folder / "ray.json", result)
    markdown = _markdown(result)
    (folder / "ray.md").write_text(markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
