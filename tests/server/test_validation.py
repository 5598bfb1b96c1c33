"""Bad request bodies get their documented status, error type and a message naming what is wrong."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")

from tests.server.helpers import assert_error  # noqa: E402

BIG = ["x"] * 5000


BAD_INPUTS = [
    # (route, json body or raw bytes, status, error_type, text the error names)
    ("/v1/rerank", {"query": "q", "documents": []}, 400, "empty", "documents"),
    ("/rerank", {"query": "q", "texts": []}, 400, "empty", "texts"),
    ("/predict", {"inputs": []}, 400, "empty", "inputs"),
    ("/v1/rerank", {"query": "q", "documents": "just a string"}, 422, "validation", "documents"),
    ("/v1/rerank", {"query": "q", "documents": [1, 2]}, 422, "validation", "documents[0]"),
    ("/v1/rerank", {"query": "q", "documents": [{"txt": "a"}]}, 422, "validation", "documents[0]"),
    ("/v1/rerank", {"query": 5, "documents": ["a"]}, 422, "validation", "query"),
    ("/v1/rerank", {"query": "q", "documents": ["a"], "top_n": "3"}, 422, "validation", "top_n"),
    (
        "/v1/rerank",
        {"query": "q", "documents": ["a"], "return_documents": "yes"},
        422,
        "validation",
        "return_documents",
    ),
    ("/rerank", {"query": "q", "texts": [None]}, 422, "validation", "texts[0]"),
    ("/rerank", {"texts": ["a"]}, 422, "validation", "query"),
    ("/predict", {"inputs": 5}, 422, "validation", "inputs"),
    ("/predict", {"inputs": [["a", "b", "c"]]}, 422, "validation", "inputs[0]"),
    ("/predict", {"inputs": ["a", "b", "c"]}, 422, "validation", "inputs"),
    ("/v1/rerank", {"query": "q", "documents": BIG}, 413, "validation", "max_documents"),
    ("/rerank", {"query": "q", "texts": BIG}, 413, "validation", "max_documents"),
    ("/predict", {"inputs": [[s] for s in BIG]}, 413, "validation", "max_documents"),
    ("/v1/rerank", b'{"query": "q", "documents": ["a"', 422, "validation", "not valid JSON"),
    ("/rerank", b'{"query": "caf\xe9", "texts": ["a"]}', 422, "validation", "UTF-8"),
    ("/v1/rerank", b"[1, 2]", 422, "validation", "JSON object"),
    ("/v1/rerank", b"", 422, "validation", "empty"),
    ("/v1/rerank", {"query": "q", "documents": ["a"], "colour": "red"}, 422, "validation", "colour"),
    ("/rerank", {"query": "q", "texts": ["a"], "top_n": 0}, 422, "validation", "top_n"),
    ("/rerank", {"query": "q", "texts": ["a"], "colour": "red"}, 422, "validation", "colour"),
    ("/predict", {"inputs": "a", "extra": 1}, 422, "validation", "extra"),
    ("/v1/rerank", {"query": "q", "documents": ["a"], "top_n": -1}, 422, "validation", "top_n"),
    ("/v1/rerank", {"query": "q", "documents": ["a"], "top_n": 0}, 422, "validation", "top_n"),
    (
        "/v1/rerank",
        {"query": "q", "documents": ["a"], "max_tokens_per_doc": 0},
        422,
        "validation",
        "max_tokens_per_doc",
    ),
    ("/v1/rerank", {"query": "q", "documents": [{"a": "b"}], "rank_fields": ["t"]}, 422, "validation", "rank_fields"),
    (
        "/rerank",
        {"query": "q", "texts": ["a"], "truncation_direction": "Middle"},
        422,
        "validation",
        "truncation_direction",
    ),
    ("/rerank", {"query": "q", "texts": ["a"], "instruction": "two\nlines"}, 422, "validation", "instruction"),
]


@pytest.mark.parametrize(("route", "body", "status", "error_type", "names"), BAD_INPUTS)
def test_bad_inputs_get_documented_answers(client, route, body, status, error_type, names):
    if isinstance(body, bytes):
        response = client.post(route, content=body, headers={"Content-Type": "application/json"})
    else:
        response = client.post(route, json=body)
    assert_error(response, status, error_type, contains=names)
    assert client.get("/health").status_code == 200
