"""Helpers for the server tests (not a test module): the shared query and documents, and the error-answer check."""

from __future__ import annotations

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
