"""``GET /v1/models``: the OpenAI-style model list that gateways, the OpenAI SDK and NVIDIA's connectors read first.

``{"object": "list", "data": [{"id", "object": "model", "created", "owned_by", "root"}]}`` with the one served model;
``root`` (as vLLM and NIM answer) is the same id, which NVIDIA's connectors read as "this is a base model".
"""

from __future__ import annotations

import time

from rerankrt._optional import require
from rerankrt.server.routes.common import serving_of

require("fastapi", purpose="the HTTP server")  # before the imports below: a missing extra is named

from fastapi import APIRouter, Request  # noqa: E402
from fastapi.responses import JSONResponse, Response  # noqa: E402

router = APIRouter(tags=["operations"])
_STARTED = int(time.time())  # "created": when this server process loaded its routes


@router.get("/v1/models")
async def list_models(request: Request) -> Response:
    """The served model, OpenAI style."""
    name = serving_of(request).model_name
    entry = {"id": name, "object": "model", "created": _STARTED, "owned_by": "rerankrt", "root": name}
    return JSONResponse({"object": "list", "data": [entry]})
