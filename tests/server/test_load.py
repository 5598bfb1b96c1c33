"""Bounded load on loopback: many concurrent clients, mixed request sizes, nothing lost or mixed up; a full queue
answers 429 instead of growing.
"""

from __future__ import annotations

import asyncio
import random
import time

import numpy as np
import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from rerankrt.prompt import PromptEncoder, seed_prompt  # noqa: E402
from rerankrt.runtime.reranker import Reranker  # noqa: E402
from rerankrt.server import BackgroundServer, ServerSettings, create_app  # noqa: E402
from rerankrt.tokenizer import bundled_tokenizer_dir  # noqa: E402
from tests.fakes import ScriptedBackend, expected_scripted  # noqa: E402

CLIENTS = 64
REQUESTS_PER_CLIENT = 2
WORDS = ["harper", "lee", "novel", "mockingbird", "alabama", "whale", "melville", "gatsby", "jazz", "austen"]


def _document(rng: random.Random, tag: str) -> str:
    return f"{tag}: " + " ".join(rng.choice(WORDS) for _ in range(rng.choice([3, 10, 20, 40])))


def _workload(seed: int = 0):
    """Per client, a list of (route, query, documents): 1 to 16 documents (one request of 100), 5 to 40 words each."""
    rng = random.Random(seed)
    routes = ["/rerank", "/v1/rerank", "/v2/rerank", "/predict"]
    plan = []
    for c in range(CLIENTS):
        requests = []
        for k in range(REQUESTS_PER_CLIENT):
            n = 100 if (c, k) == (7, 0) else rng.choice([1, 2, 4, 8, 16])
            query = f"query {c}-{k} " + " ".join(rng.choice(WORDS) for _ in range(3))
            docs = [_document(rng, f"doc {c}-{k}-{j}") for j in range(n)]
            requests.append((routes[(c + k) % len(routes)], query, docs))
        plan.append(requests)
    return plan


def _http(url: str):
    """An async client that opens up to CLIENTS connections at once (one per concurrent client)."""
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    return httpx.AsyncClient(base_url=url, timeout=60, limits=limits)


async def _call(http, route: str, query: str, docs: list[str]) -> dict[int, float]:
    """One request; returns {document index: P("1")} whatever the route's shape."""
    if route == "/rerank":
        r = await http.post(route, json={"query": query, "texts": docs})
        r.raise_for_status()
        body = r.json()
        assert [x["score"] for x in body] == sorted((x["score"] for x in body), reverse=True)
        return {x["index"]: x["score"] for x in body}
    if route == "/predict":
        r = await http.post(route, json={"inputs": [[seed_prompt(query, d)] for d in docs]})
        r.raise_for_status()
        return {i: {p["label"]: p["score"] for p in item}["1"] for i, item in enumerate(r.json())}
    r = await http.post(route, json={"model": "m", "query": query, "documents": docs})
    r.raise_for_status()
    body = r.json()
    assert body["usage"]["total_tokens"] > 0
    return {x["index"]: x["relevance_score"] for x in body["results"]}


def test_64_concurrent_clients_lose_and_mismatch_nothing(cpu_engine_dir):
    plan = _workload()
    requests_per_batch = []
    with Reranker.load(cpu_engine_dir, on_batch=lambda b: requests_per_batch.append(len(b.request_ids))) as served:
        # Expected P("1") of every pair, one request at a time through the Python API, before the server starts.
        expected = [[np.asarray(served.score(q, docs, normalize=True)) for _, q, docs in reqs] for reqs in plan]
        before = served.stats()
        requests_per_batch.clear()
        app = create_app(served, ServerSettings())
        with BackgroundServer(app) as server:

            async def client(http, requests) -> list[dict[int, float]]:
                return [await _call(http, *req) for req in requests]

            async def main():
                # One connection per client: CLIENTS concurrent connections on loopback.
                async with _http(server.url) as http:
                    runs = asyncio.gather(*(client(http, reqs) for reqs in plan))
                    return await asyncio.wait_for(runs, timeout=240)

            start = time.perf_counter()
            got = asyncio.run(main())
            elapsed = time.perf_counter() - start
            stats = served.stats()
            metrics = httpx.get(server.url + "/metrics").text
            assert httpx.get(server.url + "/health").status_code == 200

    pairs = sum(len(docs) for requests in plan for _, _, docs in requests)
    assert stats.pairs_scored - before.pairs_scored == pairs
    assert stats.pending_pairs == 0 and stats.requests_failed == 0
    for requests, answers, wants in zip(plan, got, expected, strict=True):
        for (route, _, docs), answer, want in zip(requests, answers, wants, strict=True):
            assert sorted(answer) == list(range(len(docs))), route  # nothing lost, nothing extra
            assert [answer[i] for i in range(len(docs))] == pytest.approx(want.tolist(), rel=1e-4, abs=1e-6), route
    # Requests shared batches (in-flight batching), and the server counted every request.
    assert max(requests_per_batch) > 1
    assert f'rerankrt_requests_total{{route="/predict",status="200"}} {CLIENTS * REQUESTS_PER_CLIENT // 4}' in metrics
    print(f"{CLIENTS} clients, {pairs} pairs in {elapsed:.1f} s, up to {max(requests_per_batch)} requests a batch")


def test_full_queue_answers_429_instead_of_growing():
    encoder = PromptEncoder(bundled_tokenizer_dir(), template="seed", max_length=1024)
    limit = 32
    depth = []
    served = Reranker(
        ScriptedBackend(delay_s=0.02),
        encoder,
        max_pending_pairs=limit,
        on_batch=lambda s: depth.append(s.pending_pairs),
    )
    try:
        with BackgroundServer(create_app(served, ServerSettings(retry_after_s=1))) as server:

            async def client(http, i: int):
                docs = [f"burst document {i} {j} " + "word " * (i % 7) for j in range(8)]
                r = await http.post("/rerank", json={"query": "q", "texts": docs, "raw_scores": True})
                return docs, r

            async def main():
                async with _http(server.url) as http:
                    runs = asyncio.gather(*(client(http, i) for i in range(CLIENTS)))
                    return await asyncio.wait_for(runs, timeout=120)

            results = asyncio.run(main())
            assert httpx.get(server.url + "/health").status_code == 200
            metrics = httpx.get(server.url + "/metrics").text
    finally:
        served.close()

    statuses = [r.status_code for _, r in results]
    assert set(statuses) <= {200, 429}
    assert statuses.count(429) > 0 and statuses.count(200) > 0
    for docs, r in results:
        if r.status_code == 429:
            assert r.headers["retry-after"] == "1" and r.json()["error_type"] == "overloaded"
            continue
        ids = encoder.encode("q", docs).ids
        got = {x["index"]: x["score"] for x in r.json()}
        assert got == {j: pytest.approx(expected_scripted(ids[j])) for j in range(len(docs))}
    assert max(depth) <= limit  # the queue stayed bounded
    assert served.stats().requests_rejected == statuses.count(429)
    assert f'rerankrt_requests_total{{route="/rerank",status="429"}} {statuses.count(429)}.0' in metrics
