"""``POST /v1/rerank`` and ``POST /v2/rerank``: Cohere / Jina / vLLM style, the Cohere SDK's ``rerank`` call.

``results`` are sorted by ``relevance_score`` = sigmoid(score) = P("1"), with ``usage`` in tokens of the templated
pairs. A request's ``max_tokens_per_doc`` may lower the server's cap, never raise it.
"""

from __future__ import annotations

import numpy as np

from rerankrt._optional import require
from rerankrt.prompt import sigmoid
from rerankrt.server.errors import ERROR_RESPONSES, ApiError
from rerankrt.server.routes.common import answers_errors, check_count, finite, request_cap, run, serving_of
from rerankrt.server.schemas import CohereRerankRequest, CohereRerankResponse, body_doc, documents_from, parse

require("fastapi", purpose="the HTTP server")  # before the imports below: a missing extra is named

from fastapi import APIRouter, Request  # noqa: E402
from fastapi.responses import JSONResponse, Response  # noqa: E402

router = APIRouter(tags=["rerank"])
_DOC = {
    "openapi_extra": body_doc("CohereRerankRequest"),
    "responses": {200: {"model": CohereRerankResponse}, **ERROR_RESPONSES},
}


async def _rerank(request: Request, route: str) -> Response:
    serving = serving_of(request)
    req = await parse(CohereRerankRequest, request)
    if req.rank_fields not in (None, ["text"]):
        raise ApiError(422, 'rank_fields: only ["text"] is supported', "validation")
    if req.relevant_spans and req.relevant_spans.get("mode", "disabled") != "disabled":
        raise ApiError(422, "relevant_spans: not supported by this model; omit it", "validation")
    documents = documents_from(req.documents)
    check_count(request, len(documents), "documents")
    top_n = min(req.top_n, len(documents)) if req.top_n is not None else None
    cap = request_cap(serving.settings.max_tokens_per_doc, req.max_tokens_per_doc)
    ranked = await run(
        serving.rank(
            req.query, documents, instruction=req.instruction, truncate=True, top_n=top_n, max_tokens_per_doc=cap
        ),
        request,
    )
    raw = [s for _, s in ranked.order]
    finite(raw)
    probs = sigmoid(np.asarray(raw)).tolist()
    results = []
    for (index, _), p in zip(ranked.order, probs, strict=True):
        item = {"index": index, "relevance_score": p}
        if req.return_documents:
            item["document"] = {"text": documents[index]}
        results.append(item)
    request.state.note.update(documents=len(documents), tokens=ranked.tokens, cut_to_max_tokens=ranked.cut)
    serving.metrics.observe_cut("max_tokens_per_doc", ranked.cut)
    serving.metrics.observe_usage(route, len(documents), ranked.tokens)
    body = {
        "id": request.state.request_id,
        "model": serving.model_name,
        "results": results,
        "usage": {"prompt_tokens": ranked.tokens, "total_tokens": ranked.tokens},
        "meta": {"billed_units": {"input_tokens": ranked.tokens}},
    }
    return JSONResponse(body)


@router.post("/v1/rerank", **_DOC)
@answers_errors
async def rerank_v1(request: Request) -> Response:
    """Cohere / Jina / vLLM rerank: ``results`` sorted by ``relevance_score`` (a probability), with usage."""
    return await _rerank(request, "/v1/rerank")


@router.post("/v2/rerank", **_DOC)
@answers_errors
async def rerank_v2(request: Request) -> Response:
    """Cohere v2 rerank (the Cohere SDK's ``ClientV2.rerank``); the same body and answer as /v1/rerank."""
    return await _rerank(request, "/v2/rerank")
