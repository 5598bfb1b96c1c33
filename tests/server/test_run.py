"""Serving on a socket: overload answers 429, disconnects cancel, Nagle is off, shutdown is graceful."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

pytest.importorskip("fastapi")

from rerankrt.server import BackgroundServer, ServerSettings, create_app  # noqa: E402
from tests.fakes import expected_scripted  # noqa: E402


def test_overload_is_429_with_retry_after(scripted):
    seen = []
    r, _ = scripted(0.05, max_pending_pairs=4, max_batch_size=2, on_batch=lambda s: seen.append(s.pending_pairs))
    app = create_app(r, ServerSettings(retry_after_s=2))
    statuses = []
    with BackgroundServer(app) as server:

        def call(i: int) -> None:
            docs = [f"document {i} {j}" for j in range(3)]
            resp = httpx.post(
                server.url + "/rerank", json={"query": "q", "texts": docs, "raw_scores": True}, timeout=30
            )
            statuses.append(resp.status_code)
            if resp.status_code == 429:
                assert resp.headers["retry-after"] == "2"
                assert resp.json()["error_type"] == "overloaded"
            else:
                assert resp.status_code == 200, resp.text
                ids = r.encoder.encode("q", docs).ids
                got = {x["index"]: x["score"] for x in resp.json()}
                assert got == {j: pytest.approx(expected_scripted(ids[j])) for j in range(3)}

        threads = [threading.Thread(target=call, args=(i,)) for i in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert httpx.get(server.url + "/health").status_code == 200
    assert len(statuses) == 12 and 429 in statuses and 200 in statuses
    assert max(seen) <= 4  # the queue never held more than its limit


def test_client_disconnect_cancels_the_request(scripted):
    r, _ = scripted(0.2, max_batch_size=1)
    with BackgroundServer(create_app(r)) as server:
        texts = [f"document {i}" for i in range(10)]
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(server.url + "/rerank", json={"query": "q", "texts": texts}, timeout=0.5)
        deadline = time.monotonic() + 5
        while r.stats().requests_cancelled == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        stats = r.stats()
        assert stats.requests_cancelled == 1 and stats.pending_pairs == 0
        assert stats.pairs_scored < len(texts)  # the rest was never computed
        while 'status="499"' not in httpx.get(server.url + "/metrics").text:  # counted once its answer is done
            assert time.monotonic() < deadline
            time.sleep(0.02)


def test_background_server_turns_nagle_off(scripted):
    """A listening socket made with proto 0 kept Nagle on (asyncio only sets TCP_NODELAY where proto is TCP): every
    response's body waited ~40 ms behind its headers for a delayed ACK, which the benchmarks measured as latency."""
    import socket

    r, _ = scripted(0.0)
    with BackgroundServer(create_app(r)) as server:
        listener = server._socket
        assert listener.proto == socket.IPPROTO_TCP
        assert listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        assert httpx.get(server.url + "/health").status_code == 200


def test_graceful_shutdown_finishes_in_flight_requests(scripted):
    r, _ = scripted(0.4, max_batch_size=1)
    server = BackgroundServer(create_app(r, ServerSettings(graceful_shutdown_s=10))).start()
    results = []

    def call() -> None:
        resp = httpx.post(server.url + "/rerank", json={"query": "q", "texts": ["a", "b", "c"]}, timeout=30)
        results.append(resp.status_code)

    worker = threading.Thread(target=call)
    worker.start()
    deadline = time.monotonic() + 10
    while r.stats().pending_requests == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert r.stats().pending_requests == 1
    server.stop()  # returns once in-flight requests are answered
    worker.join(10)
    assert results == [200]
    with pytest.raises(httpx.TransportError):
        httpx.get(server.url + "/health", timeout=2)


def test_serve_logs_loading_then_ready_with_url_and_load_time(cpu_engine_dir):
    import json
    import signal
    import subprocess
    import sys

    from tests.server.helpers import free_port, wait_for_health

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "rerankrt", "serve", str(cpu_engine_dir), "--port", str(port)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_for_health(f"http://127.0.0.1:{port}", proc), "rerankrt serve did not come up"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    messages = [line["msg"] for line in lines]
    assert messages.index("loading") < messages.index("Application startup complete.") < messages.index("ready")
    loading = lines[messages.index("loading")]
    ready = lines[messages.index("ready")]
    assert loading["engine_dir"] == ready["engine_dir"] == cpu_engine_dir.name  # the name, never the host path
    assert str(cpu_engine_dir.parent) not in err
    assert ready["url"] == f"http://127.0.0.1:{port}"
    assert ready["backend"] == "onnxruntime"
    assert 0 < ready["load_s"] <= ready["startup_s"] < 120
