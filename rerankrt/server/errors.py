"""Error answers: `ApiError`, the one exception -> HTTP mapping, and the JSON body every error has.

Errors are JSON ``{"error": str, "error_type": str}``:

=======  ============  ======================================================================================
status   error_type    when
=======  ============  ======================================================================================
400      empty         no documents / no inputs
404/405  validation    unknown route, wrong method
413      validation    body over ``max_body_bytes``; more documents than ``max_documents``; an input
                       over the token limit with ``truncate: false``
422      validation    invalid JSON or UTF-8, wrong types, unknown fields, out-of-range values
424      backend       the backend failed on the request's batch (the server keeps serving)
429      overloaded    the scheduler's queue is full, or the request cannot finish within its timeout behind the
                       work ahead of it; ``Retry-After`` says when to retry
499      cancelled     the client disconnected first (its unscored pairs are dropped; nobody reads this)
500      backend       an unexpected error (logged with the request id)
503      unhealthy     the reranker cannot serve: closed, its worker died, or its health probe fails
504      timeout       the request did not finish within ``request_timeout_s``
=======  ============  ======================================================================================

Each API family's client reads its own error shape, so the body depends on the route (`family_of`):

- TEI routes (``/rerank``, ``/predict``, operations): ``{"error", "error_type"}``.
- Cohere-family routes (``/v1/rerank``, ``/v2/rerank``): the same plus ``message`` (what the Cohere SDK reads).
- NIM routes (``/v1/ranking``, ``/v1/health/*``, ``/v1/models``): ``{"error", "error_type"}``, which holds NIM's own
  ``{"error": str}``; an over-long pair with ``truncate: "NONE"`` is NIM's 400 "Input length ... exceeds maximum
  allowed token size ...".
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

from rerankrt._optional import require
from rerankrt.prompt import TruncationError
from rerankrt.runtime.backends.base import BackendError
from rerankrt.runtime.batching import OverloadedError, SchedulerError
from rerankrt.server.settings import ServerSettings

require("fastapi", purpose="the HTTP server")  # before the imports below: a missing extra is named, not a bare error

from fastapi import Request  # noqa: E402
from fastapi.responses import JSONResponse, Response  # noqa: E402
from pydantic import BaseModel  # noqa: E402
from starlette.exceptions import HTTPException  # noqa: E402

logger = logging.getLogger("rerankrt.server")


class ApiError(Exception):
    """An error answer: HTTP status, message and TEI-style error type."""

    def __init__(self, status: int, error: str, error_type: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.error_type = error_type
        self.headers = dict(headers or {})


class ErrorBody(BaseModel):
    """Every error answer (Cohere-family routes add ``message``, the same text)."""

    error: str
    error_type: str
    message: str | None = None


# For the OpenAPI document: the errors a scoring route can answer.
ERROR_RESPONSES = {
    code: {"model": ErrorBody, "description": text}
    for code, text in {
        400: "No documents or inputs (error_type empty)",
        413: "Body, document count or input length over a limit (validation)",
        422: "Invalid JSON, wrong types, unknown fields (validation)",
        424: "Backend failure (backend)",
        429: "Queue full; see Retry-After (overloaded)",
        503: "Unhealthy (unhealthy)",
        504: "Timed out (timeout)",
    }.items()
}


FAMILIES = ("tei", "cohere", "nim")
_COHERE_PATHS = frozenset({"/v1/rerank", "/v2/rerank"})


def family_of(path: str) -> str:
    """The API family whose error shape a route answers in: "cohere" for the Cohere-family routes, else "tei"."""
    return "cohere" if path.rstrip("/") in _COHERE_PATHS else "tei"


def error_body(exc: ApiError, family: str = "tei") -> dict[str, str]:
    """The JSON body of an ApiError in `family`'s shape (see the module docstring)."""
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    body = {"error": exc.error, "error_type": exc.error_type}
    if family == "cohere":
        body["message"] = exc.error
    return body


def error_response(exc: ApiError, family: str = "tei") -> JSONResponse:
    """The JSON answer of an ApiError, in `family`'s shape."""
    return JSONResponse(error_body(exc, family), status_code=exc.status, headers=exc.headers)


def retry_after(exc: OverloadedError, settings: ServerSettings) -> str:
    """The ``Retry-After`` seconds of a 429: the scheduler's estimate when it made one (whole seconds, at least 1),
    else ``settings.retry_after_s``."""
    hint = getattr(exc, "retry_after_s", None)
    if hint is None:
        return str(settings.retry_after_s)
    return str(max(1, math.ceil(hint)))


def api_error_from(exc: BaseException, settings: ServerSettings) -> ApiError:
    """Map an exception raised while scoring to the documented status and body."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, OverloadedError):
        return ApiError(429, str(exc), "overloaded", {"Retry-After": retry_after(exc, settings)})
    if isinstance(exc, TruncationError):
        return ApiError(413, f"input too long and truncation is off: {exc}", "validation")
    if isinstance(exc, SchedulerError):  # closed, or its worker died: nothing here can serve
        return ApiError(503, f"unhealthy: {exc}", "unhealthy")
    if isinstance(exc, BackendError):
        return ApiError(424, f"inference failed: {exc}", "backend")
    if isinstance(exc, TimeoutError):
        return ApiError(504, f"request did not finish within {settings.request_timeout_s:g} s", "timeout")
    if isinstance(exc, TypeError | ValueError):
        return ApiError(422, str(exc), "validation")
    return ApiError(500, f"internal error ({type(exc).__name__}); see the server log", "backend")


async def http_error(request: Request, exc: HTTPException) -> Response:
    """Unknown routes (404) and wrong methods (405) answer in the same JSON shape as every other error."""
    error = ApiError(exc.status_code, str(exc.detail), "validation", exc.headers)
    return error_response(error, family_of(request.url.path))


__all__ = [
    "ERROR_RESPONSES",
    "FAMILIES",
    "ApiError",
    "ErrorBody",
    "api_error_from",
    "error_body",
    "error_response",
    "family_of",
    "http_error",
    "retry_after",
]
