"""/health, /info, /metrics, the OpenAPI document, unknown routes; and the documented answers of failures."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

from rerankrt.prompt import seed_prompt  # noqa: E402
from rerankrt.server import ServerSettings, create_app  # noqa: E402
from tests.fakes import expected_scripted  # noqa: E402
from tests.server.helpers import DOCS, QUERY, assert_error  # noqa: E402


def test_health_info_metrics_docs(client):
    health = client.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    info = client.get("/info").json()
    assert info["model"] == "tiny-mxbai" and info["backend"] == "onnxruntime"
    assert info["max_client_batch_size"] == 1000 and info["labels"] == ["0", "1"]
    for key in ("precision", "max_input_length", "version"):
        assert info[key] is not None
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert {"/rerank", "/v1/rerank", "/v2/rerank", "/predict", "/health", "/info", "/metrics"} <= set(spec["paths"])
    assert "CohereRerankRequest" in spec["components"]["schemas"]
    client.post("/rerank", json={"query": QUERY, "texts": DOCS})
    text = client.get("/metrics").text
    for name in (
        'rerankrt_requests_total{route="/rerank",status="200"}',
        "rerankrt_request_duration_seconds_bucket",
        "rerankrt_queue_depth",
        "rerankrt_batch_size_bucket",
        "rerankrt_batch_tokens_bucket",
        "rerankrt_padding_efficiency_bucket",
        "rerankrt_padding_efficiency_ratio",
        "rerankrt_tokens_processed_total",
        'rerankrt_truncations_total{reason="max_length"}',
        'rerankrt_usage_tokens_total{route="/rerank"}',
    ):
        assert name in text, name


def test_unknown_route_and_method_are_json(client):
    assert_error(client.get("/nope"), 404, "validation")
    assert_error(client.get("/rerank"), 405, "validation")


def test_backend_failure_is_424_and_the_server_stays_up(scripted):
    r, backend = scripted()
    with TestClient(create_app(r)) as c:
        backend.fail = True
        assert_error(c.post("/rerank", json={"query": "q", "texts": ["a", "b"]}), 424, "backend", contains="scripted")
        assert_error(c.post("/predict", json={"inputs": seed_prompt("q", "a")}), 424, "backend")
        backend.fail = False
        assert c.get("/health").status_code == 200
        ok = c.post("/rerank", json={"query": "q", "texts": ["a"], "raw_scores": True})
        assert ok.status_code == 200
        assert ok.json()[0]["score"] == pytest.approx(expected_scripted(r.encoder.encode("q", ["a"]).ids[0]))


def test_timeout_is_504_and_frees_the_queue(scripted):
    r, _ = scripted(0.5)
    with TestClient(create_app(r, ServerSettings(request_timeout_s=0.1))) as c:
        assert_error(c.post("/rerank", json={"query": "q", "texts": ["a"] * 3}), 504, "timeout")
        assert c.get("/health").status_code == 200
    assert r.stats().pending_pairs == 0


def test_unhealthy_is_503(scripted):
    r, _ = scripted()
    with TestClient(create_app(r)) as c:
        r.close()
        assert_error(c.get("/health"), 503, "unhealthy")
        assert_error(c.post("/v1/rerank", json={"query": "q", "documents": ["a"]}), 503, "unhealthy")
