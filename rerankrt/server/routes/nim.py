"""NVIDIA NIM ranking: ``POST /v1/ranking``, ``GET /v1/health/live``, ``GET /v1/health/ready``.

The API of NVIDIA's reranking NIMs, which NVIDIA's LangChain (``NVIDIARerank``) and LlamaIndex connectors post to
``{base_url}/ranking``. ``rankings`` come best first with ``logit`` = the raw score, ``usage`` in tokens of the
templated pairs (also ``X-Compute-Tokens``). ``truncate: "END"`` cuts an over-long pair (the document first, the
template kept); ``"NONE"``, NIM's default, answers NIM's 400 "Input length ... exceeds maximum allowed token size ...".
Errors are ``{"error", "error_type"}``, which holds NIM's ``{"error": str}``.
"""

from __future__ import annotations

import asyncio

from rerankrt._optional import require
from rerankrt.prompt import TruncationError
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
from rerankrt.server.schemas import NimRankingRequest, NimRankingResponse, body_doc, parse

require("fastapi", purpose="the HTTP server")  # before the imports below: a missing extra is named

from fastapi import APIRouter, Request  # noqa: E402
from fastapi.responses import JSONResponse, Response  # noqa: E402

router = APIRouter(tags=["nim"])


@router.post(
    "/v1/ranking",
    openapi_extra=body_doc("NimRankingRequest"),
    responses={200: {"model": NimRankingResponse}, **ERROR_RESPONSES},
)
@answers_errors(family="nim")
async def ranking(request: Request) -> Response:
    """NIM ranking: ``{"rankings": [{"index", "logit"}]}`` best first, ``logit`` the raw score."""
    serving = serving_of(request)
    req = await parse(NimRankingRequest, request)
    passages = [p.text for p in req.passages]
    check_count(request, len(passages), "passages")
    try:
        ranked = await run(
            serving.rank(
                req.query.text,
                passages,
                instruction=None,
                truncate=req.truncate == "END",
                top_n=None,
                max_tokens_per_doc=request_cap(serving.settings.max_tokens_per_doc),
            ),
            request,
        )
    except ApiError as exc:
        if isinstance(exc.__cause__, TruncationError):  # NIM's status and wording for an over-long input
            limit = serving.max_sequence_length
            raise ApiError(
                400, f"Input length exceeds maximum allowed token size {limit}: {exc.__cause__}", "validation"
            ) from exc
        raise
    logits = ranked_scores(ranked, raw=True)
    note_ranked(request, "/v1/ranking", len(passages), ranked)
    body = {
        "rankings": [{"index": index, "logit": score} for index, score in logits],
        "usage": {"prompt_tokens": ranked.tokens, "total_tokens": ranked.tokens},
    }
    return JSONResponse(body, headers={"X-Compute-Tokens": str(ranked.tokens)})


def _health(status: str, message: str) -> JSONResponse:
    return JSONResponse({"object": "health.response", "message": message, "status": status})


@router.get("/v1/health/live")
async def health_live() -> Response:
    """NIM liveness: 200 while the process answers."""
    return _health("live", "Service is live.")


@router.get("/v1/health/ready", responses={503: ERROR_RESPONSES[503]})
@answers_errors(family="nim")
async def health_ready(request: Request) -> Response:
    """NIM readiness: 200 while the engine answers; 503 with error_type "unhealthy" otherwise."""
    await asyncio.to_thread(serving_of(request).check_health)
    return _health("ready", "Service is ready.")
