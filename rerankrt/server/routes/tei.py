"""``POST /rerank``: text-embeddings-inference style; a bare JSON array of ``{"index", "score", "text"?}``.

Scores are sigmoid(score) = P("1") unless ``raw_scores``; ``X-Compute-Tokens`` carries the request's usage.
``truncation_direction: "Left"`` cuts an over-long document at its start (template and prompt end kept). vLLM's and
infinity's ``model`` is ignored, their ``top_n`` applied.
"""

from __future__ import annotations

from rerankrt._optional import require
from rerankrt.server.errors import ERROR_RESPONSES
from rerankrt.server.routes.common import (
    answers_errors,
    check_count,
    note_ranked,
    ranked_scores,
    request_cap,
    run,
    serving_of,
)
from rerankrt.server.schemas import RankItem, TEIRerankRequest, body_doc, parse

require("fastapi", purpose="the HTTP server")  # before the imports below: a missing extra is named

from fastapi import APIRouter, Request  # noqa: E402
from fastapi.responses import JSONResponse, Response  # noqa: E402

router = APIRouter(tags=["rerank"])


@router.post(
    "/rerank",
    openapi_extra=body_doc("TEIRerankRequest"),
    responses={200: {"model": list[RankItem]}, **ERROR_RESPONSES},
)
@answers_errors
async def rerank_tei(request: Request) -> Response:
    """TEI-style rerank: a bare array sorted by score, highest first (sigmoid unless ``raw_scores``)."""
    serving = serving_of(request)
    settings = serving.settings
    req = await parse(TEIRerankRequest, request)
    check_count(request, len(req.texts), "texts")
    truncate = settings.truncate if req.truncate is None else req.truncate
    ranked = await run(
        serving.rank(
            req.query,
            req.texts,
            instruction=req.instruction,
            truncate=truncate,
            top_n=min(req.top_n, len(req.texts)) if req.top_n is not None else None,
            max_tokens_per_doc=request_cap(settings.max_tokens_per_doc),
            truncation_direction=req.truncation_direction,
        ),
        request,
    )
    out = []
    for index, score in ranked_scores(ranked, raw=req.raw_scores):
        item = {"index": index, "score": score}
        if req.return_text:
            item["text"] = req.texts[index]
        out.append(item)
    note_ranked(request, "/rerank", len(req.texts), ranked)
    return JSONResponse(out, headers={"X-Compute-Tokens": str(ranked.tokens)})
