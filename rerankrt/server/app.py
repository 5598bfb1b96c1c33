"""`create_app`: the wiring of one FastAPI app over a Reranker (routes, middleware, error shapes, OpenAPI).

Routes (the README's "Serving" section): ``/rerank`` (TEI), ``/v1/rerank`` and ``/v2/rerank`` (Cohere / Jina / vLLM),
``/predict`` (classification over caller-formatted prompts), ``/v1/ranking`` and ``/v1/health/*`` (NIM),
``/v1/models`` (OpenAI model listing), ``/health``, ``/info``, ``/metrics``; OpenAPI at ``/docs`` and ``/openapi.json``.
Each API family is one router in `rerankrt.server.routes`; error answers are listed in `rerankrt.server.errors`.

The server knows nothing of batching: every route awaits the Reranker's async API, which batches the pairs of all live
requests together.
"""

from __future__ import annotations

import logging

from rerankrt import __version__
from rerankrt._optional import require
from rerankrt.server.errors import http_error
from rerankrt.server.middleware import RequestGate
from rerankrt.server.routes import ROUTERS
from rerankrt.server.schemas import request_schemas
from rerankrt.server.serving import Serving
from rerankrt.server.settings import ServerSettings

require("fastapi", purpose="the HTTP server")  # before the imports below: a missing extra is named

from fastapi import FastAPI  # noqa: E402
from fastapi.openapi.utils import get_openapi  # noqa: E402
from starlette.exceptions import HTTPException  # noqa: E402

logger = logging.getLogger("rerankrt.server")


def create_app(reranker, settings: ServerSettings | None = None) -> FastAPI:
    """A FastAPI app serving `reranker` with the routes of `rerankrt.server.routes` and the limits of `settings`.

    The app does not own the reranker: closing it is the caller's job (`serve` does it after shutdown).

    Args:
        reranker: A `rerankrt.Reranker` (or anything with its async API, ``encoder``, ``health``, ``info``,
            ``stats`` and ``add_batch_listener``).
        settings: Limits and names. Defaults to `ServerSettings()`.

    Returns:
        The FastAPI application; ``app.state.metrics`` holds its `ServerMetrics`, ``app.state.serving`` the facade
        its routes call.
    """
    settings = settings or ServerSettings()
    serving = Serving(reranker, settings)
    app = FastAPI(
        title="rerankrt",
        version=__version__,
        description="mxbai-rerank v2 reranking with in-flight batching: TEI, Cohere/Jina and classification routes.",
        docs_url=None,  # FastAPI's pages load their assets from a CDN: /docs is served from local files instead
        redoc_url=None,
    )
    _add_offline_docs(app)
    for router in ROUTERS:
        app.include_router(router)
    routes = tuple(route.path for router in ROUTERS for route in router.routes)
    app.state.serving = serving
    app.state.metrics = serving.metrics
    app.state.settings = settings
    app.state.reranker = reranker
    app.state.routes = routes
    app.add_middleware(RequestGate, settings=settings, metrics=serving.metrics, routes=routes)
    app.add_exception_handler(HTTPException, http_error)
    app.openapi = lambda: _openapi(app)
    return app


DOCS_ASSETS = "/docs-assets"


def _add_offline_docs(app: FastAPI) -> None:
    """``/docs`` without a network: Swagger UI from the ``swagger-ui-bundle`` package (the serve extra) served under
    `DOCS_ASSETS`, or, where it is missing, a plain HTML list of the routes from the OpenAPI document."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse

    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        swagger_ui_path = None
    if swagger_ui_path is not None:
        from starlette.staticfiles import StaticFiles

        app.mount(DOCS_ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        if swagger_ui_path is not None:
            return get_swagger_ui_html(
                openapi_url="/openapi.json",
                title=f"{app.title} - API",
                swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
                swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
                swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
            )
        return HTMLResponse(_routes_page(app))


def _routes_page(app: FastAPI) -> str:
    """A self-contained page (no script, no remote asset) listing every route of the OpenAPI document."""
    import html

    items = []
    for path, operations in app.openapi()["paths"].items():
        for method, op in operations.items():
            summary = html.escape(op.get("summary") or op.get("description") or "")
            items.append(f"<li><code>{method.upper()} {html.escape(path)}</code> {summary}</li>")
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(app.title)} API</title></head><body>"
        f"<h1>{html.escape(app.title)} {html.escape(app.version)}</h1><p>The OpenAPI document: "
        f"<a href='/openapi.json'>/openapi.json</a> (install swagger-ui-bundle for Swagger UI here).</p>"
        f"<ul>{''.join(items)}</ul></body></html>"
    )


def _openapi(app: FastAPI) -> dict:
    """The OpenAPI document, with the request bodies the routes parse themselves."""
    if not app.openapi_schema:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schema.setdefault("components", {}).setdefault("schemas", {}).update(request_schemas())
        app.openapi_schema = schema
    return app.openapi_schema


__all__ = ["create_app"]
