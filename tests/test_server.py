"""The HTTP server: routes and shapes of shared/INTERFACES.md, limits and errors, metrics, logs, shutdown.

Scores are checked against `Reranker.rank` on the same engine directory (the session's CPU engine). Failure modes
(overload, backend errors, timeouts, shutdown) use a scripted backend whose speed and failures the test controls.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time

import httpx
import numpy as np
import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

from rerankrt.prompt import PromptEncoder, bundled_tokenizer_dir, seed_prompt, sigmoid  # noqa: E402
from rerankrt.runtime.backends.base import Backend, BackendError, BackendLimits, check_batch  # noqa: E402
from rerankrt.runtime.logs import JsonFormatter  # noqa: E402
from rerankrt.runtime.reranker import Reranker  # noqa: E402
from rerankrt.runtime.server import BackgroundServer, ServerSettings, create_app  # noqa: E402

QUERY = "Who wrote 'To Kill a Mockingbird'?"
DOCS = [
    "'To Kill a Mockingbird' is a novel by Harper Lee published in 1960.",
    "The novel 'Moby-Dick' was written by Herman Melville and first published in 1851.",
    "Harper Lee, an American novelist, was born in 1926 in Monroeville, Alabama.",
    "Jane Austen was an English novelist known primarily for her six major novels.",
    "The 'Harry Potter' series consists of seven fantasy novels written by J.K. Rowling.",
]


class ScriptedBackend(Backend):
    """A backend whose speed and failures the test sets; its score is a fixed function of each row's ids."""

    name = "scripted"

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.fail = False
        self._limits = BackendLimits(max_batch_size=8, max_seq_len=1024, max_num_tokens=8192)

    @property
    def limits(self) -> BackendLimits:
        return self._limits

    def score(self, input_ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        check_batch(input_ids, lengths, self._limits)
        time.sleep(self.delay_s)
        if self.fail:
            raise BackendError("scripted failure")
        return np.array([expected_scripted(row[:n]) for row, n in zip(input_ids, lengths, strict=True)], np.float32)


def expected_scripted(ids) -> float:
    ids = np.asarray(ids, dtype=np.int64)
    return float(np.float32(((ids * 31 + np.arange(len(ids))) % 1009).mean() / 100.0 - 5.0))


@pytest.fixture(scope="module")
def encoder() -> PromptEncoder:
    return PromptEncoder(bundled_tokenizer_dir(), template="seed", max_length=1024)


@pytest.fixture(scope="module")
def reranker(cpu_engine_dir):
    with Reranker.load(cpu_engine_dir) as r:
        yield r


@pytest.fixture(scope="module")
def client(reranker):
    app = create_app(reranker, ServerSettings(model_name="tiny-mxbai"))
    with TestClient(app) as c:
        yield c


@pytest.fixture()
def scripted(encoder):
    """A Reranker over a ScriptedBackend, closed after the test."""
    made = []

    def make(delay_s: float = 0.0, **options) -> tuple[Reranker, ScriptedBackend]:
        backend = ScriptedBackend(delay_s)
        r = Reranker(backend, encoder, **options)
        made.append(r)
        return r, backend

    yield make
    for r in made:
        r.close()


def assert_error(response, status: int, error_type: str, *, contains: str = "") -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "error_type"}, body
    assert body["error_type"] == error_type, body
    assert contains.lower() in body["error"].lower(), body
    assert response.headers.get("x-request-id")
    return body


# -- shapes and scores ----------------------------------------------------------------------------------------------


def test_tei_rerank_equals_reranker_rank(client, reranker):
    expected = reranker.rank(QUERY, DOCS, normalize=True)
    response = client.post("/rerank", json={"query": QUERY, "texts": DOCS, "return_text": True})
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body, list)
    assert [r["index"] for r in body] == [r.index for r in expected]
    assert [r["score"] for r in body] == pytest.approx([r.score for r in expected], rel=1e-5, abs=1e-6)
    assert [r["text"] for r in body] == [DOCS[r.index] for r in expected]
    assert int(response.headers["x-compute-tokens"]) == int(reranker.encoder.encode(QUERY, DOCS).lengths.sum())

    raw = client.post("/rerank", json={"query": QUERY, "texts": DOCS, "raw_scores": True}).json()
    expected_raw = reranker.rank(QUERY, DOCS)
    assert [r["score"] for r in raw] == pytest.approx([r.score for r in expected_raw], rel=1e-5, abs=1e-6)
    assert all("text" not in r for r in raw)


@pytest.mark.parametrize("route", ["/v1/rerank", "/v2/rerank"])
def test_cohere_rerank_shape_usage_and_top_n(client, reranker, route):
    expected = reranker.rank(QUERY, DOCS, normalize=True)
    documents = [DOCS[0], {"text": DOCS[1]}, *DOCS[2:]]
    body = {"model": "anything", "query": QUERY, "documents": documents, "top_n": 3, "return_documents": True}
    response = client.post(route, json=body, headers={"X-Request-Id": "abc-123"})
    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"] == "abc-123"
    out = response.json()
    assert out["id"] == "abc-123" and out["model"] == "tiny-mxbai"
    assert [r["index"] for r in out["results"]] == [r.index for r in expected[:3]]
    scores = [r["relevance_score"] for r in out["results"]]
    assert scores == pytest.approx([r.score for r in expected[:3]], rel=1e-5, abs=1e-6)
    assert all(0.0 <= s <= 1.0 for s in scores) and scores == sorted(scores, reverse=True)
    assert [r["document"] for r in out["results"]] == [{"text": DOCS[r.index]} for r in expected[:3]]
    tokens = int(reranker.encoder.encode(QUERY, DOCS).lengths.sum())
    assert out["usage"] == {"prompt_tokens": tokens, "total_tokens": tokens}

    plain = client.post(route, json={"query": QUERY, "documents": DOCS}).json()
    assert len(plain["results"]) == len(DOCS) and all("document" not in r for r in plain["results"])


def test_instruction_and_max_tokens_per_doc(client, reranker):
    ins = "Rank documents about American novelists first."
    expected = reranker.rank(QUERY, DOCS, instruction=ins, normalize=True)
    out = client.post("/v1/rerank", json={"query": QUERY, "documents": DOCS, "instruction": ins}).json()
    assert [r["relevance_score"] for r in out["results"]] == pytest.approx(
        [r.score for r in expected], rel=1e-5, abs=1e-6
    )
    # A document cut to 8 tokens scores as its first 8 tokens do.
    long = "Harper Lee wrote the novel in Monroeville, Alabama, long before it became a classic of literature."
    user = reranker.encoder.user_tokenizer  # the test checks against the tokenizer itself
    first8 = long[: user.encode(long, add_special_tokens=False).offsets[8][0]]
    cut = client.post("/v1/rerank", json={"query": QUERY, "documents": [long], "max_tokens_per_doc": 8}).json()
    assert cut["results"][0]["relevance_score"] == pytest.approx(reranker.score(QUERY, [first8], normalize=True)[0])


def test_predict_labels_single_pair_and_batch(client, reranker):
    prompts = [seed_prompt(QUERY, d) for d in DOCS[:3]]
    raw = reranker.score(QUERY, DOCS[:3])
    one = client.post("/predict", json={"inputs": prompts[0]})
    assert one.status_code == 200, one.text
    labels = one.json()
    assert {p["label"] for p in labels} == {"0", "1"}
    assert labels == sorted(labels, key=lambda p: p["score"], reverse=True)
    by_label = {p["label"]: p["score"] for p in labels}
    assert by_label["1"] == pytest.approx(float(sigmoid(raw[0])), rel=1e-5)
    assert by_label["0"] == pytest.approx(1.0 - by_label["1"], abs=1e-9)

    batch = client.post("/predict", json={"inputs": [[p] for p in prompts], "raw_scores": True}).json()
    assert len(batch) == 3
    for item, s in zip(batch, raw, strict=True):
        logits = {p["label"]: p["score"] for p in item}
        assert logits["1"] - logits["0"] == pytest.approx(s, rel=1e-5, abs=1e-6)
        assert logits["1"] == pytest.approx(-logits["0"])

    # A pair [a, b] is the concatenation of the two strings' ids, as HF's tokenizer makes it.
    split = prompts[0].index("document:")
    pair = client.post("/predict", json={"inputs": [prompts[0][:split], prompts[0][split:]]}).json()
    assert {p["label"]: p["score"] for p in pair}["1"] == pytest.approx(by_label["1"], rel=1e-5)


def test_predict_truncation_keeps_the_template(client, reranker):
    limit = reranker.encoder.max_sequence_length
    long_prompt = seed_prompt(QUERY, "word " * (2 * limit))
    out = client.post("/predict", json={"inputs": long_prompt, "raw_scores": True})
    assert out.status_code == 200, out.text
    assert_error(
        client.post("/predict", json={"inputs": long_prompt, "truncate": False}),
        413,
        "validation",
        contains="truncate is false",
    )
    assert_error(
        client.post("/predict", json={"inputs": "word " * (2 * limit)}),
        413,
        "validation",
        contains="cannot be truncated",
    )


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


# -- bad inputs -----------------------------------------------------------------------------------------------------

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
    ("/rerank", {"query": "q", "texts": ["a"], "top_n": 1}, 422, "validation", "top_n"),
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
    ("/v1/rerank", {"query": "q", "documents": ["a"], "rank_fields": ["title"]}, 422, "validation", "rank_fields"),
    (
        "/rerank",
        {"query": "q", "texts": ["a"], "truncation_direction": "Left"},
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


def test_huge_top_n_returns_everything(client):
    for top_n in (len(DOCS), 10**6, 10**30):
        out = client.post("/v1/rerank", json={"query": "q", "documents": DOCS, "top_n": top_n})
        assert out.status_code == 200, out.text
        assert sorted(r["index"] for r in out.json()["results"]) == list(range(len(DOCS)))


def test_body_limit_is_checked_before_parsing(reranker):
    settings = ServerSettings(max_body_bytes=1_000_000)
    with BackgroundServer(create_app(reranker, settings)) as server, httpx.Client(base_url=server.url) as http:
        ten_mb = json.dumps({"query": "q", "documents": ["y" * 1000] * 10_000}).encode()
        assert len(ten_mb) > 10_000_000
        assert_error(http.post("/v1/rerank", content=ten_mb), 413, "validation", contains="max_body_bytes")

        def chunks():  # no Content-Length: the server counts while reading
            for _ in range(100):
                yield b"z" * 100_000

        assert_error(http.post("/rerank", content=chunks()), 413, "validation", contains="max_body_bytes")
        assert http.get("/health").status_code == 200
        small = http.post("/rerank", json={"query": "q", "texts": ["a"]})
        assert small.status_code == 200


def test_unknown_route_and_method_are_json(client):
    assert_error(client.get("/nope"), 404, "validation")
    assert_error(client.get("/rerank"), 405, "validation")


# -- failure modes ---------------------------------------------------------------------------------------------------


def test_backend_failure_is_424_and_the_server_stays_up(scripted):
    r, backend = scripted()
    with TestClient(create_app(r)) as c:
        backend.fail = True
        assert_error(c.post("/rerank", json={"query": "q", "texts": ["a", "b"]}), 424, "backend", contains="scripted")
        assert_error(c.post("/predict", json={"inputs": "a"}), 424, "backend")
        backend.fail = False
        assert c.get("/health").status_code == 200
        ok = c.post("/rerank", json={"query": "q", "texts": ["a"], "raw_scores": True})
        assert ok.status_code == 200
        assert ok.json()[0]["score"] == pytest.approx(expected_scripted(r.encoder.encode("q", ["a"]).ids[0]))


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


# -- request ids and logs -------------------------------------------------------------------------------------------


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


# -- settings --------------------------------------------------------------------------------------------------------


def test_settings_validate_and_load_from_yaml(tmp_path):
    with pytest.raises(ValueError, match="max_documents"):
        ServerSettings(max_documents=0)
    with pytest.raises(ValueError, match="request_timeout_s"):
        ServerSettings(request_timeout_s=-1)
    with pytest.raises(TypeError):
        ServerSettings(1000)  # keyword-only
    path = tmp_path / "workers.yaml"
    path.write_text("max_documents: 50\nmax_tokens_per_doc: 512\nreranker:\n  max_pending_pairs: 128\n")
    settings = ServerSettings.from_yaml(path, model_name="m")
    assert settings.max_documents == 50 and settings.max_tokens_per_doc == 512 and settings.model_name == "m"
    assert dict(settings.reranker_options) == {"max_pending_pairs": 128}
    path.write_text("server:\n  request_timeout_s: 5\nscheduler:\n  max_batch_size: 8\n")
    nested = ServerSettings.from_yaml(path)
    assert nested.request_timeout_s == 5 and dict(nested.reranker_options) == {"max_batch_size": 8}
    path.write_text("max_documnets: 5\n")
    with pytest.raises(ValueError, match="max_documnets"):
        ServerSettings.from_yaml(path)
    path.write_text("reranker:\n  max_pendng_pairs: 5\n")
    with pytest.raises(ValueError, match="max_pendng_pairs"):
        ServerSettings.from_yaml(path)
