"""Connection limits: slow-loris clients are closed after the header or body timeout, a connection over the cap is a
503, the server stays healthy meanwhile, and its log says so in a few JSON lines (loopback, bounded)."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import socket
import time

import httpx
import pytest

pytest.importorskip("fastapi")

from rerankrt.server import BackgroundServer, ServerSettings, create_app  # noqa: E402
from rerankrt.server.logs import JsonFormatter  # noqa: E402


@contextlib.contextmanager
def captured_logs():
    """Every line rerankrt, uvicorn and asyncio log meanwhile, as JSON."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    loggers = [logging.getLogger(name) for name in ("rerankrt", "uvicorn", "asyncio")]
    levels = [log.level for log in loggers]
    for log in loggers:
        log.addHandler(handler)
        log.setLevel(logging.INFO)
    lines: list[dict] = []
    try:
        yield lines
    finally:
        for log, level in zip(loggers, levels, strict=True):
            log.removeHandler(handler)
            log.setLevel(level)
        lines.extend(json.loads(line) for line in stream.getvalue().splitlines())


def _stalled(url_port: int, data: bytes) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", url_port), timeout=10)
    s.sendall(data)
    return s


def _answer(s: socket.socket) -> bytes:
    """What the server sends before it closes the connection."""
    chunks = []
    while chunk := s.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_slow_loris_headers_are_closed_and_health_answers(scripted):
    r, _ = scripted()
    settings = ServerSettings(header_timeout_s=1.5, max_connections=400)
    with captured_logs() as lines, BackgroundServer(create_app(r, settings)) as server:
        stalled = [_stalled(server.port, b"POST /rerank HTTP/1.1\r\nHost: x\r\nContent-Le") for _ in range(300)]
        try:
            start = time.monotonic()
            assert httpx.get(server.url + "/health", timeout=1).status_code == 200
            assert time.monotonic() - start < 1.0
            answers = [_answer(s) for s in stalled]  # each is closed after the header timeout
            assert time.monotonic() - start < 6.0
        finally:
            for s in stalled:
                s.close()
        assert all(a.startswith(b"HTTP/1.1 408") for a in answers), answers[0]
        body = json.loads(answers[0].split(b"\r\n\r\n", 1)[1])
        assert body["error_type"] == "timeout" and "header_timeout_s=1.5" in body["error"]
        assert httpx.get(server.url + "/health", timeout=1).status_code == 200
        time.sleep(1.5)  # the summed log line is written about a second after the closes
    closed = [line for line in lines if line["msg"] == "connections closed"]
    assert sum(line["reasons"].get("header_timeout", 0) for line in closed) == 300
    loud = [line for line in lines if line["level"] != "info"]
    assert len(loud) <= 2, loud[:20]  # a line or two, not one per connection
    assert not any("exc" in line for line in lines), "no tracebacks"


def test_connections_over_the_cap_get_503_and_body_stalls_408(scripted):
    r, _ = scripted()
    settings = ServerSettings(max_connections=4, body_timeout_s=1.0)
    with captured_logs() as lines, BackgroundServer(create_app(r, settings)) as server:
        idle = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(4)]
        try:
            time.sleep(0.3)
            refused = httpx.get(server.url + "/health", timeout=2)
            assert refused.status_code == 503 and refused.json()["error_type"] == "overloaded"
            assert "max_connections=4" in refused.json()["error"]
        finally:
            for s in idle:
                s.close()
        time.sleep(0.3)
        assert httpx.get(server.url + "/health", timeout=2).status_code == 200

        head = b"POST /rerank HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        start = time.monotonic()
        with _stalled(server.port, head + b'{"query":') as s:
            answer = _answer(s)
        assert 0.9 < time.monotonic() - start < 4.0
        assert answer.startswith(b"HTTP/1.1 408") and b"body_timeout_s=1" in answer
        ok = httpx.post(server.url + "/rerank", json={"query": "q", "texts": ["a"]}, timeout=5)
        assert ok.status_code == 200
        server.server.config.http.notes.flush()  # lines are at least 5 s apart; write the pending one now
    assert not any("exc" in line for line in lines), "no tracebacks"
    reasons = {k for line in lines if line["msg"] == "connections closed" for k in line["reasons"]}
    assert reasons == {"max_connections", "body_timeout"}
