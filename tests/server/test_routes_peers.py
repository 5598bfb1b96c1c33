"""Peer-API routes and fields: NIM /v1/ranking and health, /v1/models, Cohere v1/v2 meta and rank_fields, Jina's
omitted documents, vLLM/infinity switches, TEI Left truncation, and peer fields accepted where no API's are not."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")

from tests.server.helpers import DOCS, QUERY, assert_error  # noqa: E402

LONG = " ".join(f"w{i}" for i in range(2000))  # far over the test engine's 512 tokens


def test_nim_ranking_logits_are_raw_scores_best_first(client, reranker):
    expected = reranker.rank(QUERY, DOCS)
    body = {"model": "nvidia/x", "query": {"text": QUERY}, "passages": [{"text": d} for d in DOCS], "truncate": "END"}
    response = client.post("/v1/ranking", json=body)
    assert response.status_code == 200, response.text
    out = response.json()
    assert set(out) == {"rankings", "usage"}
    assert [r["index"] for r in out["rankings"]] == [r.index for r in expected]
    assert [r["logit"] for r in out["rankings"]] == pytest.approx([r.score for r in expected], rel=1e-5, abs=1e-6)
    tokens = int(reranker.encoder.encode(QUERY, DOCS).lengths.sum())
    assert out["usage"] == {"prompt_tokens": tokens, "total_tokens": tokens}
    assert int(response.headers["x-compute-tokens"]) == tokens


def test_nim_truncate_none_is_nims_400_and_end_cuts(client, reranker):
    body = {"query": {"text": QUERY}, "passages": [{"text": DOCS[0]}, {"text": LONG}]}
    refused = client.post("/v1/ranking", json=body)  # truncate absent: NIM's default NONE
    assert_error(refused, 400, "validation", contains="exceeds maximum allowed token size")
    assert_error(client.post("/v1/ranking", json={**body, "truncate": "NONE"}), 400, "validation")
    cut = client.post("/v1/ranking", json={**body, "truncate": "END"})
    assert cut.status_code == 200, cut.text
    expected = reranker.rank(QUERY, [DOCS[0], LONG])
    assert [r["logit"] for r in cut.json()["rankings"]] == pytest.approx([r.score for r in expected], rel=1e-5)


@pytest.mark.parametrize(
    ("body", "status", "names"),
    [
        ({"query": {"text": "q"}, "passages": []}, 400, "passages"),
        ({"query": "q", "passages": [{"text": "a"}]}, 422, "query"),
        ({"query": {"text": "q"}, "passages": ["a"]}, 422, "passages[0]"),
        ({"query": {"text": "q"}, "passages": [{"text": "a", "id": 1}]}, 422, "passages[0].id"),
        ({"query": {"text": "q"}, "passages": [{"text": "a"}], "truncate": "START"}, 422, "truncate"),
        ({"query": {"text": "q"}, "passages": [{"text": "a"}], "top_k": 2}, 422, "top_k"),
    ],
)
def test_nim_bad_inputs(client, body, status, names):
    error_type = "empty" if status == 400 else "validation"
    assert_error(client.post("/v1/ranking", json=body), status, error_type, contains=names)


def test_nim_health_and_openai_model_list(client):
    assert client.get("/v1/health/live").json() == {
        "object": "health.response",
        "message": "Service is live.",
        "status": "live",
    }
    ready = client.get("/v1/health/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    models = client.get("/v1/models").json()
    assert models["object"] == "list" and len(models["data"]) == 1
    entry = models["data"][0]
    assert entry["id"] == "tiny-mxbai" and entry["object"] == "model" and entry["owned_by"] == "rerankrt"
    assert isinstance(entry["created"], int)


def test_cohere_meta_per_version(client):
    for route, version in (("/v1/rerank", "1"), ("/v2/rerank", "2")):
        out = client.post(route, json={"model": "m", "query": QUERY, "documents": DOCS, "priority": 3}).json()
        meta = out["meta"]
        assert meta["api_version"] == {"version": version}
        assert meta["billed_units"]["search_units"] == 1
        assert meta["tokens"] == {"input_tokens": out["usage"]["total_tokens"], "output_tokens": 0}


def test_documents_are_left_out_not_null_without_return_documents(client):
    out = client.post("/v1/rerank", json={"query": QUERY, "documents": DOCS})
    assert all(set(r) == {"index", "relevance_score"} for r in out.json()["results"])
    assert b"null" not in out.content


def test_rank_fields_render_objects_as_yaml_lines_in_their_order(client, reranker):
    docs = [
        {"title": "Mockingbird", "author": "Harper Lee", "year": 1960},
        {"title": "Moby-Dick", "author": "Melville"},
    ]
    body = {"query": QUERY, "documents": docs, "rank_fields": ["author", "title"], "return_documents": True}
    out = client.post("/v1/rerank", json=body).json()
    texts = ["author: Harper Lee\ntitle: Mockingbird", "author: Melville\ntitle: Moby-Dick"]
    expected = reranker.rank(QUERY, texts, normalize=True)
    assert [r["relevance_score"] for r in out["results"]] == pytest.approx([r.score for r in expected], rel=1e-5)
    first = out["results"][0]
    assert first["document"] == {"text": texts[first["index"]], **docs[first["index"]]}
    plain = client.post("/v1/rerank", json={"query": QUERY, "documents": [{"text": DOCS[0], "id": 7}]}).json()
    assert plain["results"][0]["relevance_score"] == pytest.approx(
        reranker.rank(QUERY, DOCS[:1], normalize=True)[0].score
    )


@pytest.mark.parametrize("switch", [{"raw_scores": True}, {"use_activation": False}, {"softmax": False}])
def test_vllm_and_infinity_switches_give_raw_scores(client, reranker, switch):
    out = client.post("/v1/rerank", json={"query": QUERY, "documents": DOCS, **switch}).json()
    expected = reranker.rank(QUERY, DOCS)
    assert [r["relevance_score"] for r in out["results"]] == pytest.approx([r.score for r in expected], rel=1e-5)


def test_peer_fields_accepted_and_others_named(client):
    accepted = {
        "max_chunks_per_doc": 10,
        "truncate_prompt_tokens": -1,
        "mm_processor_kwargs": {},
        "additional_data": {"k": 1},
        "priority": 0,
    }
    assert client.post("/v2/rerank", json={"query": "q", "documents": ["a"], **accepted}).status_code == 200
    tei = client.post("/rerank", json={"query": QUERY, "texts": DOCS, "model": "m", "top_n": 2})
    assert tei.status_code == 200 and len(tei.json()) == 2
    body = assert_error(
        client.post("/v2/rerank", json={"query": "q", "documents": ["a"], "temperature": 1}),
        422,
        "validation",
        contains="temperature",
    )
    assert "return_documents" in body["error"]  # the message lists what the route accepts


def test_tei_left_truncation_cuts_the_documents_start(client, reranker):
    texts = [LONG, DOCS[0]]
    left = client.post(
        "/rerank", json={"query": QUERY, "texts": texts, "raw_scores": True, "truncation_direction": "Left"}
    )
    assert left.status_code == 200, left.text
    ids = reranker.encoder.encode(QUERY, texts, truncation_direction="left").ids
    expected = reranker.score_ids(ids)
    by_index = {r["index"]: r["score"] for r in left.json()}
    assert [by_index[0], by_index[1]] == pytest.approx(list(expected), rel=1e-5)
    right = {
        r["index"]: r["score"]
        for r in client.post("/rerank", json={"query": QUERY, "texts": texts, "raw_scores": True}).json()
    }
    assert right[1] == pytest.approx(by_index[1], rel=1e-5) and right[0] != pytest.approx(by_index[0], rel=1e-6)
