"""``POST /v1/rerank`` and ``POST /v2/rerank``: Cohere v1/v2, Jina, vLLM and infinity style (the Cohere SDK's call).

``results`` are sorted by ``relevance_score`` = sigmoid(score) = P("1") (the raw score with infinity's ``raw_scores`` or
vLLM's ``use_activation: false``), with ``usage`` in tokens of the templated pairs and Cohere's ``meta``. A request's
``max_tokens_per_doc`` may lower the server's cap, never raise it; /v2/rerank defaults it to Cohere v2's 4096.
``document`` is present only with ``return_documents`` (Jina's and Cohere's default is false): never null. Errors carry
``message`` (what the Cohere SDK reads) besides ``error`` and ``error_type``.
"""

from __future__ import annotations

import math

from rerankrt._optional import require
from rerankrt.server.errors import ERROR_RESPONSES, ApiError
from rerankrt.server.routes.common import (
    answers_errors,
    check_count,
    note_ranked,
    ranked_scores,
    request_cap,
    run,
    serving_of,
)
from rerankrt.server.schemas import CohereRerankRequest, CohereRerankResponse, body_doc, documents_from, parse

require("fastapi", purpose="the HTTP server")  # before the imports below: a missing extra is named

from fastapi import APIRouter, Request  # noqa: E402
from fastapi.responses import JSONResponse, Response  # noqa: E402

router = APIRouter(tags=["rerank"])
_DOC = {
    "openapi_extra": body_doc("CohereRerankRequest"),
    "responses": {200: {"model": CohereRerankResponse}, **ERROR_RESPONSES},
}
V2_MAX_TOKENS_PER_DOC = 4096  # Cohere v2's default: documents are cut to their first 4096 tokens
_DOCS_PER_SEARCH_UNIT = 100  # Cohere bills one search unit per query over up to 100 documents


async def _rerank(request: Request, route: str, version: str) -> Response:
    serving = serving_of(request)
    req = await parse(CohereRerankRequest, request)
    if req.relevant_spans and req.relevant_spans.get("mode", "disabled") != "disabled":
        raise ApiError(422, "relevant_spans: not supported by this model; omit it", "validation")
    documents, returned = documents_from(req.documents, req.rank_fields)
    check_count(request, len(documents), "documents")
    top_n = min(req.top_n, len(documents)) if req.top_n is not None else None
    default_cap = V2_MAX_TOKENS_PER_DOC if version == "2" else None
    asked = req.max_tokens_per_doc if req.max_tokens_per_doc is not None else default_cap
    cap = request_cap(serving.settings.max_tokens_per_doc, asked)
    ranked = await run(
        serving.rank(
            req.query, documents, instruction=req.instruction, truncate=True, top_n=top_n, max_tokens_per_doc=cap
        ),
        request,
    )
    results = []
    for index, score in ranked_scores(ranked, raw=req.raw):
        item = {"index": index, "relevance_score": score}
        if req.return_documents:  # left out otherwise: strict clients reject "document": null
            item["document"] = returned[index]
        results.append(item)
    note_ranked(request, route, len(documents), ranked)
    body = {
        "id": request.state.request_id,
        "model": serving.model_name,
        "results": results,
        "usage": {"prompt_tokens": ranked.tokens, "total_tokens": ranked.tokens},
        "meta": {
            "api_version": {"version": version},
            "billed_units": {
                "search_units": max(1, math.ceil(len(documents) / _DOCS_PER_SEARCH_UNIT)),
                "input_tokens": ranked.tokens,
            },
            "tokens": {"input_tokens": ranked.tokens, "output_tokens": 0},
        },
    }
    return JSONResponse(body)


@router.post("/v1/rerank", **_DOC)
@answers_errors(family="cohere")
async def rerank_v1(request: Request) -> Response:
    """Cohere v1 / Jina / vLLM rerank: ``results`` sorted by ``relevance_score`` (a probability), with usage."""
    return await _rerank(request, "/v1/rerank", "1")


@router.post("/v2/rerank", **_DOC)
@answers_errors(family="cohere")
async def rerank_v2(request: Request) -> Response:
    """Cohere v2 rerank (the Cohere SDK's ``ClientV2.rerank``): as /v1/rerank, ``max_tokens_per_doc`` default 4096."""
    return await _rerank(request, "/v2/rerank", "2")
