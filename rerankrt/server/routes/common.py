"""What every route shares: the serving facade of the app, awaiting a scoring call, count and score checks, a
ranking's scores and usage notes, and turning an `ApiError` into its answer."""

from __future__ import annotations

import asyncio
import functools
import logging
import math
from collections.abc import Sequence

import numpy as np

from rerankrt._optional import require
from rerankrt.prompt import sigmoid
from rerankrt.server.errors import ApiError, api_error_from, error_response
from rerankrt.server.serving import Ranked, Serving

require("fastapi", purpose="the HTTP server")  # before the imports below: a missing extra is named

from fastapi import Request  # noqa: E402
from fastapi.responses import Response  # noqa: E402

logger = logging.getLogger("rerankrt.server")


def serving_of(request: Request) -> Serving:
    """The app's serving facade (set by `create_app`)."""
    return request.app.state.serving


def answers_errors(handler=None, *, family: str = "tei"):
    """A route handler whose ApiErrors become their JSON answers in `family`'s shape (and the access log's
    ``error_type``). Use bare (``@answers_errors``) or with a family (``@answers_errors(family="cohere")``)."""
    if handler is None:
        return functools.partial(answers_errors, family=family)

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as exc:
            request.state.note["error_type"] = exc.error_type
            return error_response(exc, family)

    return wrapped


async def run(coro, request: Request):
    """Await a Reranker call, mapping its errors to their documented answers.

    If the client disconnects first, the call is cancelled (the scheduler drops its unscored pairs) and the answer,
    which nobody reads, is a 499.
    """
    task = asyncio.ensure_future(coro)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            task.cancel()
            raise ApiError(499, "the client disconnected; the request was cancelled", "cancelled")
        return task.result()
    except ApiError:
        raise
    except Exception as exc:  # noqa: BLE001 - each error class has its documented answer
        error = api_error_from(exc, serving_of(request).settings)
        if error.status >= 500 or error.status == 424:
            logger.error("scoring failed: %s", exc, exc_info=error.status == 500)
        raise error from exc
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()


async def _disconnected(request: Request) -> None:
    """Return when the client goes away (the body has been read, so the next ASGI message is the disconnect)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def check_count(request: Request, n: int, what: str) -> None:
    """Refuse an empty request (400) or one over ``max_documents`` (413)."""
    limit = serving_of(request).settings.max_documents
    if n == 0:
        raise ApiError(400, f"`{what}` cannot be empty", "empty")
    if n > limit:
        raise ApiError(413, f"{n} {what} > max_documents={limit}; split the request", "validation")


def finite(scores: Sequence[float]) -> None:
    """Refuse (424) scores a broken backend made non-finite."""
    if not all(math.isfinite(s) for s in scores):
        raise ApiError(424, "the backend returned a non-finite score", "backend")


def request_cap(*caps: int | None) -> int | None:
    """The smallest of the token caps that are set (the server's and the request's ``max_tokens_per_doc``)."""
    given = [c for c in caps if c is not None]
    return min(given) if given else None


def ranked_scores(ranked: Ranked, *, raw: bool) -> list[tuple[int, float]]:
    """(document index, score) best first: raw scores, or sigmoid(score) = P("1") unless `raw`.

    Raises:
        ApiError: 424 when the backend made a score non-finite (`finite`).
    """
    scores = [s for _, s in ranked.order]
    finite(scores)
    if not raw:
        scores = sigmoid(np.asarray(scores)).tolist()
    return [(index, score) for (index, _), score in zip(ranked.order, scores, strict=True)]


def note_ranked(request: Request, route: str, documents: int, ranked: Ranked) -> None:
    """Record a ranking's usage: in the access log's note and in the cut and usage metrics of `route`."""
    request.state.note.update(documents=documents, tokens=ranked.tokens, cut_to_max_tokens=ranked.cut)
    metrics = serving_of(request).metrics
    metrics.observe_cut("max_tokens_per_doc", ranked.cut)
    metrics.observe_usage(route, documents, ranked.tokens)
