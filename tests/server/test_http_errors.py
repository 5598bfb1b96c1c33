"""Requests h11 cannot parse (uvicorn's own 400s) are answered in the server's JSON error shape with a request id,
and the server keeps answering (loopback, raw sockets)."""

from __future__ import annotations

import json
import socket

import httpx
import pytest

pytest.importorskip("fastapi")

from rerankrt.server import BackgroundServer, ServerSettings, create_app  # noqa: E402


def _exchange(port: int, data: bytes) -> bytes:
    """Send `data` on a fresh connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _parse(answer: bytes) -> tuple[str, dict[str, str], dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    assert int(headers["content-length"]) == len(body)
    return status, headers, json.loads(body)


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",  # a TLS ClientHello on the plain port
        b"GET /health HTTP/1.1\r\nHost: x\r\nbad header line\r\n\r\n",  # a header without a colon
        b"NOT A REQUEST LINE\r\n\r\n",
    ],
    ids=["tls-hello", "header-without-colon", "bad-request-line"],
)
def test_malformed_requests_are_json_400_with_a_request_id(scripted, garbage):
    r, _ = scripted()
    with BackgroundServer(create_app(r, ServerSettings())) as server:
        status, headers, body = _parse(_exchange(server.port, garbage))
        assert status.startswith("HTTP/1.1 400"), status
        assert headers["content-type"] == "application/json"
        assert headers["connection"] == "close"
        assert len(headers["x-request-id"]) == 32
        assert body["error_type"] == "validation"
        assert set(body) == {"error", "error_type"}
        assert "malformed HTTP request" in body["error"]
        assert httpx.get(server.url + "/health", timeout=5).status_code == 200


def test_headers_over_the_size_limit_are_json_400(scripted):
    r, _ = scripted()
    settings = ServerSettings(max_header_bytes=4096)
    with BackgroundServer(create_app(r, settings)) as server:
        # Unfinished headers past the limit: h11 refuses them before they end.
        big = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 8192
        status, headers, body = _parse(_exchange(server.port, big))
        assert status.startswith("HTTP/1.1 400"), status
        assert headers["x-request-id"]
        assert body["error_type"] == "validation"
