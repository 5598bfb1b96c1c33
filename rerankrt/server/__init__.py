"""The HTTP wing: the request shapes existing reranker clients speak, in front of a `Reranker`.

One role per module: `settings` (what the server accepts), `errors` (the one exception -> HTTP mapping), `schemas`
(request and response shapes), `middleware` (request ids, body limits, access log), `serving` (the facade the routes
call), `routes` (one router per API family), `app` (`create_app`, the wiring), `run` (uvicorn, `serve`,
`BackgroundServer`), `metrics` (Prometheus) and `logs` (JSON lines with request ids).
"""

from __future__ import annotations

from rerankrt.server.settings import ServerSettings


def __getattr__(name: str):
    # The app and its runner need the server extra (fastapi, uvicorn); settings do not.
    if name == "create_app":
        from rerankrt.server.app import create_app

        return create_app
    if name in ("serve", "BackgroundServer", "uvicorn_config"):
        from rerankrt.server import run

        return getattr(run, name)
    raise AttributeError(f"module 'rerankrt.server' has no attribute {name!r}")


__all__ = ["BackgroundServer", "ServerSettings", "create_app", "serve", "uvicorn_config"]
