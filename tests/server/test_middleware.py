"""The request gate: body limits before parsing, request ids, structured access logs."""

from __future__ import annotations

import io
import json
import logging

import httpx
import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

from rerankrt.server import BackgroundServer, ServerSettings, create_app  # noqa: E402
from rerankrt.server.logs import JsonFormatter  # noqa: E402
from tests.server.helpers import assert_error  # noqa: E402


def test_body_limit_is_checked_before_parsing(reranker):
    settings = ServerSettings(max_body_bytes=1_000_000)
    with BackgroundServer(create_app(reranker, settings)) as server, httpx.Client(base_url=server.url) as http:
        ten_mb = json.dumps({"query": "q", "documents": ["y" * 1000] * 10_000}).encode()
        assert len(ten_mb) > 10_000_000
        assert_error(http.post("/v1/rerank", content=ten_mb), 413, "validation", contains="max_body_bytes")

        def chunks():  # no Content-Length: the server counts while reading
            for _ in range(100):
                yield b"z" * 100_000

        streamed = http.post("/rerank", content=chunks(), headers={"Content-Type": "application/json"})
        assert_error(streamed, 413, "validation", contains="max_body_bytes")
        assert http.get("/health").status_code == 200
        small = http.post("/rerank", json={"query": "q", "texts": ["a"]})
        assert small.status_code == 200


def test_request_ids_and_structured_logs(scripted):
    r, backend = scripted()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("rerankrt")
    old_level = log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        with TestClient(create_app(r)) as c:
            given = c.post("/rerank", json={"query": "q", "texts": ["a"]}, headers={"X-Request-Id": "req-42"})
            assert given.headers["x-request-id"] == "req-42"
            made = c.post("/rerank", json={"query": "q", "texts": ["a"]}).headers["x-request-id"]
            assert len(made) == 32
            odd = c.get("/health", headers={"X-Request-Id": "bad id with spaces"}).headers["x-request-id"]
            assert odd != "bad id with spaces" and len(odd) == 32
            backend.fail = True
            c.post("/rerank", json={"query": "q", "texts": ["a"]}, headers={"X-Request-Id": "req-fail"})
    finally:
        log.removeHandler(handler)
        log.setLevel(old_level)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert all({"ts", "level", "logger", "msg", "request_id"} <= set(line) for line in lines)
    access = {line["request_id"]: line for line in lines if line["msg"] == "request"}
    assert access["req-42"]["status"] == 200 and access["req-42"]["tokens"] > 0 and access["req-42"]["documents"] == 1
    assert access[made]["path"] == "/rerank"
    assert access["req-fail"]["status"] == 424 and access["req-fail"]["error_type"] == "backend"
    failure = [line for line in lines if line["request_id"] == "req-fail" and line["level"] == "error"]
    assert failure, "the backend failure is logged with its request id"
