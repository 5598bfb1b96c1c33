"""Unmodified third-party clients from PyPI against a live server on loopback, one per API family.

Each compares its scores with `Reranker.rank` on the same engine directory and drives a bad input through the
client's own error path. The clients (pinned in pyproject's ``dev`` extra, so ``make setup`` installs them):

- NVIDIA NIM: langchain-nvidia-ai-endpoints 1.5.0 ``NVIDIARerank(base_url=...)`` (it lists ``/v1/models`` first).
- Cohere v1 / v2: cohere ``Client`` / ``ClientV2`` (``rank_fields``, ``meta``, errors with ``message``).
- TEI: haystack-ai 2.31 ``HuggingFaceTEIRanker(url=...)`` (3.x dropped it), which posts TEI's ``/rerank`` body
  (``Left`` included).
- OpenAI-style model listing: openai 3.51 ``OpenAI(base_url=...).models.list()``.
- Jina: no Jina client on PyPI lets its URL be set (langchain-community's ``JinaRerank``, llama-index's and
  jina-haystack's rankers post to a hard-coded api.jina.ai), so httpx sends Jina's body and a strict model of Jina's
  answer (no extra keys, ``document`` absent rather than null) parses the reply.
"""

from __future__ import annotations

import warnings

import httpx
import pytest

pytest.importorskip("fastapi")

from rerankrt.runtime.reranker import Reranker  # noqa: E402
from rerankrt.server import BackgroundServer, ServerSettings, create_app  # noqa: E402
from tests.server.helpers import DOCS, QUERY  # noqa: E402

LONG = " ".join(f"w{i}" for i in range(2000))  # far over the test engine's 512 tokens
MODEL = "tiny-mxbai"


@pytest.fixture(scope="module")
def server(cpu_engine_dir):
    with Reranker.load(cpu_engine_dir) as r, BackgroundServer(create_app(r, ServerSettings(model_name=MODEL))) as s:
        yield s


def test_nim_langchain_nvidia_rerank(server, reference):
    nvidia = pytest.importorskip("langchain_nvidia_ai_endpoints")
    from langchain_core.documents import Document

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Default model is set as ..." after it read /v1/models
        ranker = nvidia.NVIDIARerank(base_url=f"{server.url}/v1", top_n=3, truncate="END")
    assert ranker.model == MODEL
    out = ranker.compress_documents(documents=[Document(page_content=d) for d in DOCS], query=QUERY)
    expected = reference.rank(QUERY, DOCS, top_k=3)
    assert [d.page_content for d in out] == [DOCS[r.index] for r in expected]
    assert [d.metadata["relevance_score"] for d in out] == pytest.approx([r.score for r in expected], rel=1e-5)

    strict = nvidia.NVIDIARerank(base_url=f"{server.url}/v1", model=MODEL, truncate="NONE")
    with pytest.raises(Exception, match="exceeds maximum allowed token size"):
        strict.compress_documents(documents=[Document(page_content=LONG)], query=QUERY)


def test_cohere_v1_client_rank_fields(server, reference):
    cohere = pytest.importorskip("cohere")
    co = cohere.Client(api_key="unused", base_url=server.url, timeout=30)
    plain = DOCS[1:]  # texts YAML writes unquoted, so that "body: <text>" is the rendering
    docs = [{"title": t, "body": d} for t, d in zip("abcd", plain, strict=True)]
    response = co.rerank(
        model="m", query=QUERY, documents=docs, rank_fields=["body"], return_documents=True, max_chunks_per_doc=4
    )
    texts = [f"body: {d}" for d in plain]
    expected = reference.rank(QUERY, [t for t in texts], normalize=True)
    assert [r.index for r in response.results] == [r.index for r in expected]
    assert [r.relevance_score for r in response.results] == pytest.approx([r.score for r in expected], rel=1e-5)
    assert response.results[0].document.text == texts[expected[0].index]
    assert response.meta.api_version.version == "1"
    with pytest.raises(cohere.core.api_error.ApiError) as caught:
        co.rerank(model="m", query=QUERY, documents=docs, rank_fields=["missing"])
    assert caught.value.status_code == 422 and "rank_fields" in caught.value.body["message"]


def test_cohere_v2_client_meta_and_priority(server, reference):
    cohere = pytest.importorskip("cohere")
    co = cohere.ClientV2(api_key="unused", base_url=server.url, timeout=30)
    response = co.rerank(model="m", query=QUERY, documents=DOCS, top_n=2, priority=1, max_tokens_per_doc=64)
    expected = reference.rank(QUERY, DOCS, top_k=2, normalize=True)
    assert [r.index for r in response.results] == [r.index for r in expected]
    assert [r.relevance_score for r in response.results] == pytest.approx([r.score for r in expected], rel=1e-5)
    tokens = int(reference.encoder.encode(QUERY, DOCS).lengths.sum())
    assert response.meta.api_version.version == "2"
    assert response.meta.tokens.input_tokens == tokens and response.meta.tokens.output_tokens == 0
    assert response.meta.billed_units.search_units == 1
    with pytest.raises(cohere.core.api_error.ApiError) as caught:
        co.rerank(model="m", query=QUERY, documents=DOCS, top_n=0)
    assert caught.value.status_code == 422 and "top_n" in caught.value.body["message"]


def test_tei_haystack_ranker(server, reference):
    rankers = pytest.importorskip("haystack.components.rankers")
    from haystack import Document
    from haystack.components.rankers.hugging_face_tei import TruncationDirection

    ranker = rankers.HuggingFaceTEIRanker(url=server.url, top_k=3, raw_scores=True, token=None)
    out = ranker.run(query=QUERY, documents=[Document(content=d) for d in DOCS])["documents"]
    expected = reference.rank(QUERY, DOCS, top_k=3)
    assert [d.content for d in out] == [DOCS[r.index] for r in expected]
    assert [d.score for d in out] == pytest.approx([r.score for r in expected], rel=1e-5)

    texts = [LONG, DOCS[0]]
    left = ranker.run(
        query=QUERY, documents=[Document(content=t) for t in texts], truncation_direction=TruncationDirection.LEFT
    )["documents"]
    scores = reference.score_ids(reference.encoder.encode(QUERY, texts, truncation_direction="left").ids)
    assert sorted(d.score for d in left) == pytest.approx(sorted(scores), rel=1e-5)
    with pytest.raises(Exception, match="422"):
        ranker.run(query=QUERY, documents=[Document(content=None)])


def test_openai_model_listing(server):
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)
    models = client.models.list()
    assert [m.id for m in models.data] == [MODEL]
    assert models.data[0].object == "model" and models.data[0].owned_by == "rerankrt"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")


def test_jina_body_and_strict_answer(server, reference):
    from typing import Literal

    from pydantic import BaseModel, ConfigDict, ValidationError

    class Strict(BaseModel):
        model_config = ConfigDict(extra="forbid")

    class JinaDocument(Strict):
        text: str

    class JinaResult(Strict):
        index: int
        relevance_score: float
        document: JinaDocument = None  # absent is fine; an explicit null is not a JinaDocument

    class JinaUsage(Strict):
        total_tokens: int
        prompt_tokens: int

    class JinaAnswer(BaseModel):
        model: str
        results: list[JinaResult]
        usage: JinaUsage
        object: Literal["list"] | None = None

    with httpx.Client(base_url=server.url, timeout=30) as http:
        body = {"model": "jina-reranker-v2-base-multilingual", "query": QUERY, "documents": DOCS, "top_n": 3}
        answer = JinaAnswer.model_validate(http.post("/v1/rerank", json=body).json())
        expected = reference.rank(QUERY, DOCS, top_k=3, normalize=True)
        assert [r.index for r in answer.results] == [r.index for r in expected]
        assert [r.relevance_score for r in answer.results] == pytest.approx([r.score for r in expected], rel=1e-5)
        assert all(r.document is None for r in answer.results)  # left out: the model never saw a null
        with_docs = JinaAnswer.model_validate(http.post("/v1/rerank", json={**body, "return_documents": True}).json())
        assert [r.document.text for r in with_docs.results] == [DOCS[r.index] for r in expected]
        with pytest.raises(ValidationError):  # the strict model does reject a null: the check above means something
            JinaResult.model_validate({"index": 0, "relevance_score": 0.5, "document": None})
        bad = http.post("/v1/rerank", json={**body, "documents": []})
        assert bad.status_code == 400 and bad.json()["message"] == "`documents` cannot be empty"
