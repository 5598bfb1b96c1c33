"""One router per API family; `create_app` includes each of `ROUTERS`. Adding an API is adding a module here."""

from __future__ import annotations

from rerankrt.server.routes import cohere, models, nim, ops, predict, tei

ROUTERS = (tei.router, cohere.router, nim.router, predict.router, models.router, ops.router)

__all__ = ["ROUTERS"]
