"""Helpers for the server tests (not a test module): the shared query and documents, the error-answer check, and
starting `rerankrt serve` in a subprocess (a free port, waiting for /health)."""

from __future__ import annotations

import socket
import time

QUERY = "Who wrote 'To Kill a Mockingbird'?"


DOCS = [
    "'To Kill a Mockingbird' is a novel by Harper Lee published in 1960.",
    "The novel 'Moby-Dick' was written by Herman Melville and first published in 1851.",
    "Harper Lee, an American novelist, was born in 1926 in Monroeville, Alabama.",
    "Jane Austen was an English novelist known primarily for her six major novels.",
    "The 'Harry Potter' series consists of seven fantasy novels written by J.K. Rowling.",
]


def assert_error(response, status: int, error_type: str, *, contains: str = "") -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    cohere_family = response.request.url.path.rstrip("/") in ("/v1/rerank", "/v2/rerank")
    # Cohere-family routes add "message" (what the Cohere SDK reads), the same text.
    assert set(body) == ({"error", "error_type", "message"} if cohere_family else {"error", "error_type"}), body
    assert body.get("message", body["error"]) == body["error"]
    assert body["error_type"] == error_type, body
    assert contains.lower() in body["error"].lower(), body
    assert response.headers.get("x-request-id")
    return body


def free_port() -> int:
    """A loopback TCP port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_health(url: str, proc, timeout: float = 60.0) -> bool:
    """Poll ``url/health`` until it answers 200 (True), or until `proc` exits or `timeout` s pass (False)."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.1)
