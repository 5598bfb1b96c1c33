"""/rerank (TEI) and /v1, /v2/rerank (Cohere): shapes, usage and scores equal to `Reranker.rank` on the same engine."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")

from rerankrt.prompt import seed_prompt, sigmoid  # noqa: E402
from tests.server.helpers import DOCS, QUERY  # noqa: E402


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
    # A document cut to 8 tokens scores as the pair holding only its first 8 tokens, as the prompt tokenizes it
    # (one tokenization cuts the document and builds the pair); the tokenizer itself says which tokens are the
    # document's.
    long = "Harper Lee wrote the novel in Monroeville, Alabama, long before it became a classic of literature."
    text = seed_prompt(QUERY, long)
    full = reranker.encoder.static_tokenizer.encode(text, add_special_tokens=False)
    start = text.index("document: ") + len("document: ")
    doc = [k for k, (a, b) in enumerate(full.offsets) if b > start and a < start + len(long)]
    kept = full.ids[: doc[0] + 8] + full.ids[doc[-1] + 1 :]
    cut = client.post("/v1/rerank", json={"query": QUERY, "documents": [long], "max_tokens_per_doc": 8}).json()
    assert cut["results"][0]["relevance_score"] == pytest.approx(float(sigmoid(reranker.score_ids([kept])[0])))
    assert cut["usage"]["total_tokens"] == len(kept)
    whole = reranker.score(QUERY, [long], normalize=True)[0]
    assert cut["results"][0]["relevance_score"] != pytest.approx(whole)


def test_huge_top_n_returns_everything(client):
    for top_n in (len(DOCS), 10**6, 10**30):
        out = client.post("/v1/rerank", json={"query": "q", "documents": DOCS, "top_n": top_n})
        assert out.status_code == 200, out.text
        assert sorted(r["index"] for r in out.json()["results"]) == list(range(len(DOCS)))
