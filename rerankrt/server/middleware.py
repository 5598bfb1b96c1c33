"""ASGI middleware: request ids, API keys, content types, body limits, the catch-all error answer, request metrics and
the access log.

Every response carries ``X-Request-Id`` (the caller's, when it sends a sane one, else a new one); every log line made
while serving a request carries the same id (`rerankrt.server.logs`).

With ``api_keys`` set, every route but an open ``/health`` needs ``Authorization: Bearer <key>`` (what the Cohere SDK
and OpenAI-style clients send); the key is compared in constant time with each accepted key. A POST body must be
``application/json``: a browser's cross-site "simple" request (text/plain, form encodings) is refused before it is read.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import time
import uuid
from collections.abc import Sequence
from typing import Any

from rerankrt._optional import require
from rerankrt.server.errors import ApiError, error_response, family_of
from rerankrt.server.logs import request_id_var
from rerankrt.server.metrics import ServerMetrics
from rerankrt.server.settings import ServerSettings

require("fastapi", purpose="the HTTP server")  # before the imports below: a missing extra is named

from fastapi.responses import JSONResponse  # noqa: E402

logger = logging.getLogger("rerankrt.server")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_GONE = object()  # the client went away (or its body timed out) before its body was in


def _is_json(content_type: bytes) -> bool:
    """``application/json`` or a ``+json`` type, parameters (charset) allowed."""
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))


def unauthorized(message: str) -> JSONResponse:
    """The 401 answer: the TEI error shape, plus ``message`` (what the Cohere SDK shows of an error body)."""
    body = {"error": message, "error_type": "unauthorized", "message": message}
    return JSONResponse(body, status_code=401, headers={"WWW-Authenticate": 'Bearer realm="rerankrt"'})


class RequestGate:
    """ASGI middleware: request id, body-size limit, catch-all errors, request metrics and the access log line.

    The body is read here, before any JSON parsing: a ``Content-Length`` over the limit is refused at once, and a
    body without one is counted while it arrives and refused as soon as it passes the limit.

    Args:
        app: The ASGI app it wraps.
        settings: For the body limit.
        metrics: Where request counts and latency go.
        routes: The app's route paths; requests to any other path are counted as route "other".
    """

    def __init__(self, app, *, settings: ServerSettings, metrics: ServerMetrics, routes: Sequence[str]) -> None:
        self.app = app
        self.settings = settings
        self.metrics = metrics
        self.routes = frozenset(routes)
        self.keys = [k.encode() for k in settings.api_keys]
        self.open_paths = frozenset({"/health"} if settings.open_health else ())

    def _authorized(self, headers: dict[bytes, bytes], path: str) -> bool:
        if not self.keys or path in self.open_paths:
            return True
        scheme, _, given = headers.get(b"authorization", b"").partition(b" ")
        given = given.strip()
        # Compare with every key, whatever matched: the time taken says nothing about which key is close.
        matches = [hmac.compare_digest(given, key) for key in self.keys]
        return scheme.lower() == b"bearer" and any(matches)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        rid = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        token = request_id_var.set(rid)
        note: dict[str, Any] = {}
        scope.setdefault("state", {})
        scope["state"]["request_id"] = rid
        scope["state"]["note"] = note
        scope, head = self._canonical(scope)
        path = scope.get("path", "")
        route = path if path in self.routes else "other"
        start = time.perf_counter()
        started = False
        status = 500

        async def send_with_id(message) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started = True
                status = int(message["status"])
                message = dict(message)
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            elif head and message["type"] == "http.response.body":
                message = {**message, "body": b""}  # HEAD: the GET's headers (Content-Length included), no body
            await send(message)

        async def answer(exc: ApiError) -> None:
            response = error_response(exc, family_of(path))  # each API family's clients read their own shape
            await response(scope, receive, send_with_id)

        self.metrics.in_flight.inc()
        try:
            if not self._authorized(headers, path):
                note["error_type"] = "unauthorized"
                text = "missing or wrong API key: send Authorization: Bearer <key>"
                await unauthorized(text)(scope, receive, send_with_id)
                return
            app_receive = receive
            if scope.get("method") in _BODY_METHODS:
                body = await self._read_body(headers, receive)
                if body is _GONE:
                    status, note["error_type"] = 499, "cancelled"
                    return
                if isinstance(body, ApiError):
                    note["error_type"] = body.error_type
                    await answer(body)
                    return
                app_receive = _replay(body, receive)
                scope = _without_encoding(scope)  # the app reads the decoded body
            await self.app(scope, app_receive, send_with_id)
        except asyncio.CancelledError:
            # Only uvicorn cancels a request task: its graceful-shutdown period ran out. Answer (when nothing was sent
            # yet) and end quietly, instead of a CancelledError traceback and uvicorn's plain-text 500.
            logger.warning("request cancelled at shutdown", extra={"path": path})
            if not started:
                await answer(ApiError(503, "the server is shutting down; retry on another replica", "unhealthy"))
        except Exception as exc:  # noqa: BLE001 - the server must answer and stay up whatever a route raises
            logger.exception("unhandled error on %s %s", scope.get("method"), path)
            if not started:
                await answer(ApiError(500, f"internal error ({type(exc).__name__}); see the server log", "backend"))
        finally:
            self.metrics.in_flight.dec()
            self._log_request(scope, route, status, time.perf_counter() - start, note)
            request_id_var.reset(token)

    def _log_request(self, scope, route: str, status: int, elapsed: float, note: dict[str, Any]) -> None:
        """The request's metrics and its one JSON access-log line."""
        self.metrics.observe_request(route, status, elapsed)
        client = scope.get("client")
        logger.info(
            "request",
            extra={
                "method": scope.get("method"),
                "path": scope.get("path", ""),
                "status": status,
                "duration_ms": round(elapsed * 1000, 3),
                "client": f"{client[0]}:{client[1]}" if client else None,
                **note,
            },
        )

    def _canonical(self, scope) -> tuple[dict, bool]:
        """The scope routed as it is meant: ``POST /rerank/`` as ``/rerank`` (no 307 with an empty body), and HEAD as
        GET (its body dropped in `send`). Returns (scope, whether the request was HEAD)."""
        path = scope.get("path", "")
        changes: dict[str, Any] = {}
        if len(path) > 1 and path.endswith("/") and path.rstrip("/") in self.routes:
            changes["path"] = path.rstrip("/")
            changes["raw_path"] = changes["path"].encode()
        head = scope.get("method") == "HEAD"
        if head:
            changes["method"] = "GET"
        return ({**scope, **changes} if changes else scope), head

    async def _read_body(self, headers: dict[bytes, bytes], receive) -> bytes | ApiError | object:
        limit = self.settings.max_body_bytes
        too_large = ApiError(413, f"request body exceeds max_body_bytes={limit}", "validation")
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                if int(declared) > limit:
                    return too_large
            except ValueError:
                return ApiError(400, "invalid Content-Length header", "validation")
        content_type = headers.get(b"content-type")
        if content_type is None or not _is_json(content_type):
            given = "none" if content_type is None else repr(content_type.decode("latin-1"))
            return ApiError(415, f"Content-Type must be application/json, got {given}", "validation")
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return _GONE
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return too_large
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return _decoded(b"".join(chunks), headers.get(b"content-encoding", b"identity"), limit)


def _decoded(body: bytes, encoding: bytes, limit: int) -> bytes | ApiError:
    """The body under its Content-Encoding: identity or gzip (decoded to at most `limit` bytes: a gzip bomb is a
    413); any other encoding is a 415."""
    import zlib

    name = encoding.decode("latin-1").strip().lower()
    if name in ("", "identity"):
        return body
    if name not in ("gzip", "x-gzip"):
        return ApiError(415, f"Content-Encoding must be gzip or identity, got {name!r}", "validation")
    inflate = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflate.decompress(body, limit + 1)
    except zlib.error as exc:
        return ApiError(400, f"the gzip body does not decode: {exc}", "validation")
    if len(out) > limit:
        return ApiError(413, f"request body exceeds max_body_bytes={limit} once decoded (gzip)", "validation")
    if not inflate.eof:
        return ApiError(400, "the gzip body is truncated", "validation")
    return out


def _without_encoding(scope) -> dict:
    """The scope with Content-Encoding and Content-Length dropped, as the decoded body no longer matches them."""
    drop = (b"content-encoding", b"content-length")
    if not any(k in drop for k, _ in scope.get("headers") or []):
        return scope
    return {**scope, "headers": [(k, v) for k, v in scope["headers"] if k not in drop]}


def _replay(body: bytes, receive):
    """A `receive` that hands the app the body already read, then passes on to the real one."""
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


__all__ = ["RequestGate"]
