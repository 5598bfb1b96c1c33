"""``POST /predict``: classification style over caller-formatted prompts (the model card's template string).

A prompt in the model card's template is parsed back into query, document and instruction and tokenized as /rerank
tokenizes the pair, so its text cannot spell control tokens; other prompts are a 422 unless the server runs with
``allow_raw_prompts`` (``--allow-raw-prompts``).

Labels "0" and "1" of the 2-label form: P("1") = sigmoid(s) and P("0") = 1 - P("1"); with ``raw_scores`` the centred
logits +s/2 and -s/2 (`rerankrt.prompt.label_scores`). ``X-Compute-Tokens`` carries the request's usage.
"""

from __future__ import annotations

import asyncio

from rerankrt._optional import require
from rerankrt.prompt import label_scores
from rerankrt.server.errors import ERROR_RESPONSES
from rerankrt.server.routes.common import answers_errors, check_count, finite, run, serving_of
from rerankrt.server.schemas import Prediction, PredictRequest, body_doc, check_direction, parse, predict_inputs

require("fastapi", purpose="the HTTP server")  # before the imports below: a missing extra is named

from fastapi import APIRouter, Request  # noqa: E402
from fastapi.responses import JSONResponse, Response  # noqa: E402

router = APIRouter(tags=["classify"])


@router.post(
    "/predict",
    openapi_extra=body_doc("PredictRequest"),
    responses={200: {"model": list[Prediction] | list[list[Prediction]]}, **ERROR_RESPONSES},
)
@answers_errors
async def predict(request: Request) -> Response:
    """Labels "0" and "1" of caller-formatted prompts: P("1") = sigmoid(s), sorted by score.

    With ``raw_scores`` the logits come back centred: logit("1") = s/2, logit("0") = -s/2 (the folded head keeps
    only their difference s; the softmax of the pair is exact).
    """
    serving = serving_of(request)
    req = await parse(PredictRequest, request)
    check_direction(req.truncation_direction)
    inputs, is_batch = predict_inputs(req.inputs)
    check_count(request, len(inputs), "inputs")
    truncate = serving.settings.truncate if req.truncate is None else req.truncate
    ids, n_cut = await asyncio.to_thread(serving.predict_ids, inputs, truncate)
    raw = await run(serving.score_ids(ids), request)
    finite(raw)
    tokens = int(sum(len(x) for x in ids))
    out = [[{"label": label, "score": p} for label, p in label_scores(s, logits=req.raw_scores)] for s in raw]
    request.state.note.update(documents=len(inputs), tokens=tokens, truncated=n_cut)
    serving.metrics.observe_cut("predict_prompt", n_cut)
    serving.metrics.observe_usage("/predict", len(inputs), tokens)
    return JSONResponse(out if is_batch else out[0], headers={"X-Compute-Tokens": str(tokens)})
