"""``GET /health``, ``GET /info``, ``GET /metrics``: is it serving, what is served, and how it went."""

from __future__ import annotations

import asyncio

from rerankrt import __version__
from rerankrt._optional import require
from rerankrt.prompt import LABELS
from rerankrt.server.errors import ERROR_RESPONSES, ApiError, error_response
from rerankrt.server.routes.common import serving_of

require("fastapi", purpose="the HTTP server")  # before the imports below: a missing extra is named

from fastapi import APIRouter, Request  # noqa: E402
from fastapi.responses import JSONResponse, Response  # noqa: E402

router = APIRouter(tags=["operations"])


@router.get("/health", responses={503: ERROR_RESPONSES[503]})
async def health(request: Request) -> Response:
    """200 while the engine answers; 503 with error_type "unhealthy" otherwise."""
    try:
        report = await asyncio.to_thread(serving_of(request).check_health)
    except ApiError as exc:
        request.state.note["error_type"] = exc.error_type
        return error_response(exc)
    return JSONResponse({"status": "ok", **report})


@router.get("/info")
async def get_info(request: Request) -> Response:
    """Model, backend, precision, limits and version."""
    serving = serving_of(request)
    settings = serving.settings
    # The engine's host path is the operator's business, not the client's.
    info = {k: v for k, v in serving.info().items() if k not in ("engine_dir",)}
    body = {
        **info,
        "model": serving.model_name,
        "model_id": serving.model_name,
        "version": __version__,
        "max_input_length": serving.max_sequence_length or None,
        "max_client_batch_size": settings.max_documents,
        "max_documents": settings.max_documents,
        "max_body_bytes": settings.max_body_bytes,
        "max_tokens_per_doc": settings.max_tokens_per_doc,
        "auto_truncate": settings.truncate,
        "labels": list(LABELS),
        "predict_raw_scores": "centred logits: logit('1') = s/2, logit('0') = -s/2, s = logit('1') - logit('0')",
        "routes": list(request.app.state.routes),
    }
    return JSONResponse(body)


@router.get("/metrics")
async def get_metrics(request: Request) -> Response:
    """Prometheus text exposition."""
    payload, content_type = serving_of(request).metrics.render()
    return Response(payload, media_type=content_type)
