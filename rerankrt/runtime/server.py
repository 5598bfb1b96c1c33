"""HTTP server: the request shapes existing reranker clients speak, in front of a `Reranker`.

Routes (shared/INTERFACES.md):

- ``POST /rerank``: text-embeddings-inference style; a bare JSON array of ``{"index", "score", "text"?}``.
- ``POST /v1/rerank`` and ``POST /v2/rerank``: Cohere / Jina / vLLM style; the Cohere SDK's ``rerank`` call.
- ``POST /predict``: classification style over caller-formatted prompts (the model card's template string); labels
  "0" and "1" of the 2-label form.
- ``GET /health``, ``GET /info``, ``GET /metrics``; OpenAPI at ``/docs`` and ``/openapi.json``.

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
429      overloaded    the scheduler's queue is full; ``Retry-After`` says when to retry
499      cancelled     the client disconnected first (its unscored pairs are dropped; nobody reads this)
500      backend       an unexpected error (logged with the request id)
503      unhealthy     the reranker cannot serve: closed, its worker died, or its health probe fails
504      timeout       the request did not finish within ``request_timeout_s``
=======  ============  ======================================================================================

Every response carries ``X-Request-Id`` (the caller's, when it sends a sane one, else a new one); every log line made
while serving a request carries the same id (`rerankrt.runtime.logs`). Usage is counted in tokens: the templated
pairs' real tokens (``usage`` in /v1/rerank, ``X-Compute-Tokens`` on /rerank and /predict).

Scores: ``/rerank`` returns sigmoid(score) unless ``raw_scores``; ``/v1/rerank`` returns ``relevance_score`` =
sigmoid(score), P("1"). ``/predict`` returns P("1") = sigmoid(s) and P("0") = 1 - P("1"); with ``raw_scores`` it
returns logits. The engine folds the head to one logit s = logit("1") - logit("0"), so the pair of logits is known
only up to a shared offset; the server reports the centred pair logit("1") = +s/2, logit("0") = -s/2, which keeps
their difference and their softmax exact (``/info`` says so under ``predict_raw_scores``).

The server knows nothing of batching: every route awaits the Reranker's async API, which batches the pairs of all
live requests together.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import logging.config
import math
import re
import signal
import socket
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal

import numpy as np

from rerankrt import __version__
from rerankrt._optional import require
from rerankrt.prompt import SEED_SUFFIX, TASK_PROMPT, TruncationError, sigmoid
from rerankrt.runtime.backends.base import BackendError
from rerankrt.runtime.batching import OverloadedError, SchedulerError
from rerankrt.runtime.logs import configure_json_logging, request_id_var
from rerankrt.runtime.metrics import ServerMetrics
from rerankrt.runtime.reranker import Reranker, rank_results

require("fastapi", purpose="the HTTP server")  # before the imports below: a missing extra is named, not a bare error

from fastapi import FastAPI, Request  # noqa: E402
from fastapi.openapi.utils import get_openapi  # noqa: E402
from fastapi.responses import JSONResponse, Response  # noqa: E402
from pydantic import BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema  # noqa: E402
from starlette.exceptions import HTTPException  # noqa: E402

logger = logging.getLogger("rerankrt.server")

ROUTES = ("/rerank", "/v1/rerank", "/v2/rerank", "/predict", "/health", "/info", "/metrics")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_PARSE_INLINE_BYTES = 256 * 1024
# What a workers config may pass to `Reranker.load`: scheduler knobs, backend limits and options, prompt cap.
RERANKER_OPTIONS = tuple(sorted(Reranker.OPTIONS))


# -- settings --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ServerSettings:
    """What the HTTP layer accepts and how it runs; validated on creation.

    Attributes:
        model_name: The name the server reports (``model`` in /v1/rerank, /info). Defaults to the engine's model.
        max_documents: Most documents per rerank request and most inputs per /predict batch. Defaults to 1000.
        max_body_bytes: Largest request body, in bytes. Defaults to 8 MiB.
        max_tokens_per_doc: Server cap on tokens per document; longer documents are cut to it (or refused with 413
            under ``truncate: false``). A request's ``max_tokens_per_doc`` may lower it, never raise it. Defaults to
            None: only the engine's max_length applies.
        truncate: What a request's ``truncate: null`` means. Defaults to True.
        request_timeout_s: Longest a request may take before a 504. Defaults to 60.
        retry_after_s: The ``Retry-After`` seconds sent with a 429. Defaults to 1.
        graceful_shutdown_s: How long shutdown waits for in-flight requests. Defaults to 30.
        log_level: Level of rerankrt's and uvicorn's JSON logs. Defaults to "info".
        reranker_options: Keyword options for `Reranker.load` (scheduler knobs such as the queue limit), as read from
            a workers config. Defaults to none.
    """

    model_name: str | None = None
    max_documents: int = 1000
    max_body_bytes: int = 8 * 1024 * 1024
    max_tokens_per_doc: int | None = None
    truncate: bool = True
    request_timeout_s: float = 60.0
    retry_after_s: int = 1
    graceful_shutdown_s: float = 30.0
    log_level: str = "info"
    reranker_options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        def positive_int(name: str, value) -> None:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ServerSettings.{name} must be a positive int, got {value!r}")

        positive_int("max_documents", self.max_documents)
        positive_int("max_body_bytes", self.max_body_bytes)
        positive_int("retry_after_s", self.retry_after_s)
        if self.max_tokens_per_doc is not None:
            positive_int("max_tokens_per_doc", self.max_tokens_per_doc)
        for name in ("request_timeout_s", "graceful_shutdown_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"ServerSettings.{name} must be a positive number of seconds, got {value!r}")
        if not isinstance(self.truncate, bool):
            raise ValueError(f"ServerSettings.truncate must be true or false, got {self.truncate!r}")
        if self.model_name is not None and (not isinstance(self.model_name, str) or not self.model_name):
            raise ValueError(f"ServerSettings.model_name must be a non-empty string, got {self.model_name!r}")
        if str(self.log_level).lower() not in ("critical", "error", "warning", "info", "debug"):
            raise ValueError(
                f"ServerSettings.log_level must be one of critical/error/warning/info/debug, got {self.log_level!r}"
            )
        if not isinstance(self.reranker_options, Mapping):
            raise ValueError("ServerSettings.reranker_options must be a mapping of Reranker.load options")
        unknown = sorted(set(self.reranker_options) - set(RERANKER_OPTIONS))
        if unknown:
            raise ValueError(f"unknown Reranker.load option(s) {unknown}; known: {list(RERANKER_OPTIONS)}")
        object.__setattr__(self, "reranker_options", MappingProxyType(dict(self.reranker_options)))

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides) -> ServerSettings:
        """Settings from a YAML file (``rerankrt serve --workers-config``), then `overrides` on top.

        The file maps the fields above; a ``reranker:`` (or ``scheduler:``) mapping holds the `Reranker.load`
        options (``max_pending_pairs``, ``max_batch_size``, ``threads``, ...). The fields may also sit under a
        ``server:`` mapping. Unknown keys are an error naming them. Example::

            max_documents: 1000
            max_tokens_per_doc: 4096
            request_timeout_s: 30
            reranker:
              max_pending_pairs: 8192

        Args:
            path: The YAML file.
            **overrides: Fields that win over the file (the command line's flags); None values are ignored.

        Raises:
            ValueError: Naming the file and the key that is wrong.
        """
        import yaml

        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ValueError(f"cannot read the workers config {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise ValueError(f"{path} must hold a mapping of server settings, got {type(data).__name__}")
        data = dict(data)
        if isinstance(data.get("server"), dict):
            data = {**data.pop("server"), **data}
        options = dict(data.get("reranker_options") or {})
        for section in ("reranker", "scheduler"):
            value = data.pop(section, None) or {}
            if not isinstance(value, dict):
                raise ValueError(f"{path}: {section} must be a mapping of Reranker.load options")
            options.update(value)
        data["reranker_options"] = options
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{path}: unknown server settings {unknown}; known: {sorted(known)}")
        data.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**data)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc


# -- errors ----------------------------------------------------------------------------------------------------------


class ApiError(Exception):
    """An error answer: HTTP status, message and TEI-style error type."""

    def __init__(self, status: int, error: str, error_type: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.error_type = error_type
        self.headers = dict(headers or {})


def _error_response(exc: ApiError) -> JSONResponse:
    return JSONResponse({"error": exc.error, "error_type": exc.error_type}, status_code=exc.status, headers=exc.headers)


def _api_error_from(exc: BaseException, settings: ServerSettings) -> ApiError:
    """Map an exception raised while scoring to the documented status and body."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, OverloadedError):
        return ApiError(429, f"model is overloaded: {exc}", "overloaded", {"Retry-After": str(settings.retry_after_s)})
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


# -- request bodies --------------------------------------------------------------------------------------------------


class _Body(BaseModel):
    """Request bodies refuse unknown fields and coerce nothing ("3" is not an int, 1 is not a bool)."""

    model_config = ConfigDict(extra="forbid", strict=True)


_DOCUMENTS_SCHEMA = {
    "type": "array",
    "items": {
        "anyOf": [
            {"type": "string"},
            {
                "type": "object",
                "properties": {"text": {"type": "string"}},
                "required": ["text"],
                "additionalProperties": False,
            },
        ]
    },
}
_INPUTS_SCHEMA = {
    "anyOf": [
        {"type": "string", "description": "One prompt"},
        {
            "type": "array",
            "items": {"type": "string"},
            "minItems": 1,
            "maxItems": 2,
            "description": "One input: a prompt, or a pair whose token ids are concatenated",
        },
        {
            "type": "array",
            "description": "A batch",
            "items": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2},
        },
    ],
    "examples": ["<|endoftext|><|im_start|>system\n..."],
}


class TEIRerankRequest(_Body):
    """TEI's /rerank body."""

    query: str
    texts: list[str]
    truncate: bool | None = None
    truncation_direction: Literal["Right", "Left", "right", "left"] = "Right"
    raw_scores: bool = False
    return_text: bool = False
    instruction: str | None = Field(None, description="rerankrt extension: the mxbai instruction line")


class CohereRerankRequest(_Body):
    """The Cohere v1/v2, Jina and vLLM rerank body."""

    model: str | None = None
    query: str
    documents: Annotated[list[Any], WithJsonSchema(_DOCUMENTS_SCHEMA)]
    top_n: int | None = Field(None, ge=1, description="Results to return; more than the documents returns all")
    return_documents: bool = False
    max_tokens_per_doc: int | None = Field(None, ge=1)
    instruction: str | None = Field(None, description="rerankrt extension: the mxbai instruction line")
    # Sent by the official Cohere clients; accepted so that they work unmodified.
    priority: int | None = Field(None, description="Cohere v2 SDK; accepted and ignored (one priority here)")
    rank_fields: list[str] | None = Field(None, description='Cohere v1; only ["text"] is supported')
    max_chunks_per_doc: int | None = Field(None, ge=1, description="Cohere v1; accepted and ignored")
    relevant_spans: dict[str, Any] | None = Field(None, description="Cohere v2; only mode 'disabled'")


class PredictRequest(_Body):
    """TEI's /predict body."""

    inputs: Annotated[Any, WithJsonSchema(_INPUTS_SCHEMA)]
    raw_scores: bool = False
    truncate: bool | None = None
    truncation_direction: Literal["Right", "Left", "right", "left"] = "Right"


class RankItem(BaseModel):
    """One entry of /rerank's answer (documentation only; answers are written as plain JSON)."""

    index: int
    score: float
    text: str | None = None


class DocumentOut(BaseModel):
    """A returned document."""

    text: str


class CohereResult(BaseModel):
    """One result of /v1/rerank: ``relevance_score`` is sigmoid(score), P("1")."""

    index: int
    relevance_score: float
    document: DocumentOut | None = None


class Usage(BaseModel):
    """Tokens of the templated pairs (no padding)."""

    prompt_tokens: int
    total_tokens: int


class CohereRerankResponse(BaseModel):
    """/v1/rerank's answer; ``id`` is the request id."""

    id: str
    model: str
    results: list[CohereResult]
    usage: Usage


class Prediction(BaseModel):
    """One label of /predict's answer."""

    label: str
    score: float


class ErrorBody(BaseModel):
    """Every error answer."""

    error: str
    error_type: str


_REQUEST_MODELS = {m.__name__: m for m in (TEIRerankRequest, CohereRerankRequest, PredictRequest)}


def _field_path(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def _parse_body(model, body: bytes):
    """Validate a JSON body against `model`; errors become 422s that name the field."""
    if not body:
        raise ApiError(422, "the request body is empty; send a JSON object", "validation")
    try:
        return model.model_validate_json(body, strict=True)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = errors[0]
        kind = first["type"]
        if kind == "json_invalid":
            reason = first.get("ctx", {}).get("error", first["msg"])
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as bad:
                raise ApiError(422, f"the request body is not valid UTF-8 (byte {bad.start})", "validation") from None
            raise ApiError(422, f"the request body is not valid JSON: {reason}", "validation") from None
        if kind == "model_type":
            raise ApiError(422, "the request body must be a JSON object", "validation") from None
        unknown = [_field_path(e["loc"]) for e in errors if e["type"] == "extra_forbidden"]
        if unknown:
            known = ", ".join(model.model_fields)
            raise ApiError(
                422, f"unknown field(s) {', '.join(unknown)}; this route accepts: {known}", "validation"
            ) from None
        detail = "; ".join(f"{_field_path(e['loc'])}: {e['msg']}" for e in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        raise ApiError(422, detail + more, "validation") from None


def _documents(raw: list[Any]) -> list[str]:
    out = []
    for i, doc in enumerate(raw):
        if isinstance(doc, str):
            out.append(doc)
        elif isinstance(doc, dict) and isinstance(doc.get("text"), str) and len(doc) == 1:
            out.append(doc["text"])
        elif isinstance(doc, dict) and "text" in doc and len(doc) == 1:
            raise ApiError(422, f"documents[{i}].text must be a string, got {type(doc['text']).__name__}", "validation")
        elif isinstance(doc, dict):
            extra = sorted(set(doc) - {"text"})
            what = f"unknown field(s) {extra}" if extra else "no 'text' field"
            raise ApiError(
                422, f'documents[{i}] has {what}; a document is a string or {{"text": string}}', "validation"
            )
        else:
            raise ApiError(
                422, f'documents[{i}] must be a string or {{"text": string}}, got {_json_type(doc)}', "validation"
            )
    return out


def _predict_inputs(raw: Any) -> tuple[list[list[str]], bool]:
    """(inputs, is_batch): each input a list of 1-2 strings, as TEI reads ``inputs``."""
    shape = "inputs must be a string, a list of 1-2 strings, or a list of such lists"
    if isinstance(raw, str):
        return [[raw]], False
    if not isinstance(raw, list):
        raise ApiError(422, f"{shape}; got {_json_type(raw)}", "validation")
    if not raw:
        return [], True
    if all(isinstance(x, str) for x in raw):
        if len(raw) > 2:
            raise ApiError(
                422, f"{shape}; got a list of {len(raw)} strings (wrap each input in its own list)", "validation"
            )
        return [list(raw)], False
    batch = []
    for i, item in enumerate(raw):
        if not isinstance(item, list) or not all(isinstance(x, str) for x in item):
            raise ApiError(422, f"inputs[{i}] must be a list of 1-2 strings; got {_json_type(item)}", "validation")
        if not 1 <= len(item) <= 2:
            raise ApiError(422, f"inputs[{i}] must hold 1 or 2 strings, it holds {len(item)}", "validation")
        batch.append(list(item))
    return batch, True


def _json_type(value: Any) -> str:
    return {
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        list: "an array",
        dict: "an object",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _check_direction(direction: str) -> None:
    if direction.lower() != "right":
        raise ApiError(
            422,
            "truncation_direction: only 'Right' is supported; the prompt template is always kept and "
            "documents are cut at their end",
            "validation",
        )


# -- the engine behind the routes ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ranked:
    order: list[tuple[int, float]]  # (document index, raw score), best first
    tokens: int


class _Engine:
    """What the routes need from a Reranker, in one place: scores, token usage, raw prompts, health, info.

    It only calls the Reranker's public async API and its encoder's tokenizer; it knows nothing of batching.
    """

    def __init__(self, reranker, settings: ServerSettings) -> None:
        self.reranker = reranker
        self.settings = settings
        self.encoder = reranker.encoder
        self._raw_tokenizer = self.encoder.static_tokenizer
        self._user_tokenizer = self.encoder.user_tokenizer
        self.max_sequence_length = int(getattr(self.encoder, "max_sequence_length", 0) or 0)
        # The prompt's protected end: the task line and the assistant turn the score is read after. A caller-formatted
        # prompt that ends with it can be cut in the middle (the document's end) and keep its meaning.
        self._tail = self._encode_raw(TASK_PROMPT + SEED_SUFFIX)

    # tokenization -----------------------------------------------------------------------------------------------

    def _encode_raw(self, text: str) -> np.ndarray:
        return np.asarray(self._raw_tokenizer.encode(text, add_special_tokens=False).ids, dtype=np.int64)

    def raw_ids(self, inputs: list[list[str]], truncate: bool) -> tuple[list[np.ndarray], int]:
        """Token ids of caller-formatted prompts, special tokens parsed (as HF's tokenizer, add_special_tokens=False).

        A pair's ids are the concatenation of its two strings' ids (HF's, for a tokenizer without a pair template).
        """
        texts = [t for item in inputs for t in item]
        encodings = self._raw_tokenizer.encode_batch(texts, add_special_tokens=False) if texts else []
        ids, k, cut = [], 0, 0
        for i, item in enumerate(inputs):
            parts = [encodings[k + j].ids for j in range(len(item))]
            k += len(item)
            row = np.asarray([t for p in parts for t in p], dtype=np.int64)
            if row.size == 0:
                raise ApiError(422, f"inputs[{i}] is empty: it has no tokens to score", "validation")
            limit = self.max_sequence_length
            if limit and row.size > limit:
                if not truncate:
                    raise ApiError(
                        413,
                        f"inputs[{i}] has {row.size} tokens, more than the engine's {limit}, and truncate is false",
                        "validation",
                    )
                row = self._cut_prompt(i, row, limit)
                cut += 1
            ids.append(row)
        return ids, cut

    def _cut_prompt(self, i: int, row: np.ndarray, limit: int) -> np.ndarray:
        tail = self._tail
        keep_tail = len(tail) + 1  # and the separator token before the task line
        if len(row) < keep_tail or not np.array_equal(row[-len(tail) :], tail) or limit <= keep_tail:
            raise ApiError(
                413,
                f"inputs[{i}] has {len(row)} tokens, more than the engine's {limit}, and does not end with the model "
                "card's task line and assistant turn, so it cannot be truncated without cutting the tokens the score "
                "is read from; shorten it",
                "validation",
            )
        return np.concatenate([row[: limit - keep_tail], row[-keep_tail:]])

    def cut_documents(self, documents: list[str], max_tokens: int | None, truncate: bool) -> tuple[list[str], int]:
        """Documents cut to their first `max_tokens` tokens (the text up to that token boundary); how many were cut.

        The cut text re-tokenizes to `max_tokens` tokens, give or take the last word; the template's own cap still
        applies after it.
        """
        if max_tokens is None:
            return documents, 0
        # A token covers at least one UTF-8 byte after NFC normalization, which at most triples a text: documents
        # under a third of max_tokens bytes cannot be too long and skip tokenization.
        long = [i for i, d in enumerate(documents) if 3 * len(d.encode()) > max_tokens]
        if not long:
            return documents, 0
        encodings = self._user_tokenizer.encode_batch([documents[i] for i in long], add_special_tokens=False)
        out, cut = list(documents), 0
        for i, enc in zip(long, encodings, strict=True):
            if len(enc.ids) <= max_tokens:
                continue
            if not truncate:
                raise ApiError(
                    413,
                    f"documents[{i}] has {len(enc.ids)} tokens, more than max_tokens_per_doc="
                    f"{max_tokens}, and truncate is false",
                    "validation",
                )
            out[i] = documents[i][: enc.offsets[max_tokens][0]]
            cut += 1
        return out, cut

    # scoring ----------------------------------------------------------------------------------------------------

    async def rank(
        self, query: str, documents: list[str], *, instruction: str | None, truncate: bool, top_n: int | None
    ) -> _Ranked:
        """Raw scores ranked as `Reranker.rank` ranks them, and the request's usage in tokens."""
        result = await self.reranker.ascore_request(
            query, documents, instruction, truncate=truncate, timeout=self.settings.request_timeout_s
        )
        ranked = rank_results(result.scores, documents, top_k=top_n)
        return _Ranked([(r.index, r.score) for r in ranked], int(result.num_tokens))

    async def score_ids(self, ids: list[np.ndarray]) -> list[float]:
        """Raw scores of pre-tokenized prompts, batched with everyone else's pairs."""
        return await self.reranker.ascore_ids(ids, timeout=self.settings.request_timeout_s)

    # state ------------------------------------------------------------------------------------------------------

    def check_health(self) -> dict[str, Any]:
        """The Reranker's health report; an ApiError 503 when it cannot serve."""
        try:
            report = self.reranker.health()
        except Exception as exc:  # noqa: BLE001 - any failure of the health probe means unhealthy
            raise ApiError(503, f"unhealthy: {exc}", "unhealthy") from exc
        return dict(report) if isinstance(report, Mapping) else {}

    def info(self) -> dict[str, Any]:
        try:
            base = dict(self.reranker.info())
        except Exception as exc:  # noqa: BLE001 - /info must answer even when the engine does not
            base = {"info_error": str(exc)}
        return base


# -- the app ---------------------------------------------------------------------------------------------------------


class _Gate:
    """ASGI middleware: request id, body-size limit, catch-all errors, request metrics and the access log line.

    The body is read here, before any JSON parsing: a ``Content-Length`` over the limit is refused at once, and a
    body without one is counted while it arrives and refused as soon as it passes the limit.
    """

    def __init__(self, app, *, settings: ServerSettings, metrics: ServerMetrics) -> None:
        self.app = app
        self.settings = settings
        self.metrics = metrics

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
        path = scope.get("path", "")
        route = path if path in ROUTES else "other"
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
            await send(message)

        async def answer(exc: ApiError) -> None:
            response = _error_response(exc)
            await response(scope, receive, send_with_id)

        self.metrics.in_flight.inc()
        try:
            app_receive = receive
            if scope.get("method") in _BODY_METHODS:
                body = await self._read_body(headers, receive)
                if isinstance(body, ApiError):
                    await answer(body)
                    return
                app_receive = _replay(body, receive)
            await self.app(scope, app_receive, send_with_id)
        except Exception as exc:  # noqa: BLE001 - the server must answer and stay up whatever a route raises
            logger.exception("unhandled error on %s %s", scope.get("method"), path)
            if not started:
                await answer(ApiError(500, f"internal error ({type(exc).__name__}); see the server log", "backend"))
        finally:
            self.metrics.in_flight.dec()
            elapsed = time.perf_counter() - start
            self.metrics.observe_request(route, status, elapsed)
            client = scope.get("client")
            logger.info(
                "request",
                extra={
                    "method": scope.get("method"),
                    "path": path,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3),
                    "client": f"{client[0]}:{client[1]}" if client else None,
                    **note,
                },
            )
            request_id_var.reset(token)

    async def _read_body(self, headers: dict[bytes, bytes], receive) -> bytes | ApiError:
        limit = self.settings.max_body_bytes
        too_large = ApiError(413, f"request body exceeds max_body_bytes={limit}", "validation")
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                if int(declared) > limit:
                    return too_large
            except ValueError:
                return ApiError(400, "invalid Content-Length header", "validation")
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return too_large
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _replay(body: bytes, receive):
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def create_app(reranker, settings: ServerSettings | None = None):
    """A FastAPI app serving `reranker` with the routes and limits of shared/INTERFACES.md.

    The app does not own the reranker: closing it is the caller's job (`serve` does it after shutdown).

    Args:
        reranker: A `rerankrt.Reranker` (or anything with its async API, ``encoder``, ``health``, ``info``,
            ``stats``).
        settings: Limits and names. Defaults to `ServerSettings()`.

    Returns:
        The FastAPI application; ``app.state.metrics`` holds its `ServerMetrics`.
    """
    settings = settings or ServerSettings()
    engine = _Engine(reranker, settings)
    metrics = ServerMetrics(reranker.stats)
    _attach_batch_hook(reranker, metrics)
    info = engine.info()
    model_name = settings.model_name or str(info.get("model") or info.get("model_name") or "rerankrt")

    app = FastAPI(
        title="rerankrt",
        version=__version__,
        description="mxbai-rerank v2 reranking with in-flight batching: TEI, Cohere/Jina and classification routes.",
    )
    app.state.metrics = metrics
    app.state.settings = settings
    app.state.reranker = reranker
    app.add_middleware(_Gate, settings=settings, metrics=metrics)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        """Unknown routes (404) and wrong methods (405) answer in the same JSON shape as every other error."""
        return _error_response(ApiError(exc.status_code, str(exc.detail), "validation", exc.headers))

    error_responses = {
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

    def body_doc(name: str) -> dict:
        return {
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
            }
        }

    async def run(coro, request: Request):
        """Await a Reranker call, mapping its errors to their documented answers.

        If the client disconnects first, the call is cancelled (the scheduler drops its unscored pairs) and the
        answer, which nobody reads, is a 499.
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
            error = _api_error_from(exc, settings)
            if error.status >= 500 or error.status == 424:
                logger.error("scoring failed: %s", exc, exc_info=error.status == 500)
            raise error from exc
        finally:
            watcher.cancel()
            if not task.done():
                task.cancel()

    def check_count(n: int, what: str) -> None:
        if n == 0:
            raise ApiError(400, f"`{what}` cannot be empty", "empty")
        if n > settings.max_documents:
            raise ApiError(413, f"{n} {what} > max_documents={settings.max_documents}; split the request", "validation")

    def finite(scores: Sequence[float]) -> None:
        if not all(math.isfinite(s) for s in scores):
            raise ApiError(424, "the backend returned a non-finite score", "backend")

    async def parse(model, request: Request):
        body = await request.body()
        if len(body) > _PARSE_INLINE_BYTES:  # keep the event loop free for other requests while a big body parses
            return await asyncio.to_thread(_parse_body, model, body)
        return _parse_body(model, body)

    async def cut(documents: list[str], cap: int | None, truncate: bool) -> tuple[list[str], int]:
        if cap is None:
            return documents, 0
        return await asyncio.to_thread(engine.cut_documents, documents, cap, truncate)

    def fail(exc: ApiError, request: Request) -> Response:
        request.state.note["error_type"] = exc.error_type
        return _error_response(exc)

    @app.post(
        "/rerank",
        tags=["rerank"],
        openapi_extra=body_doc("TEIRerankRequest"),
        responses={200: {"model": list[RankItem]}, **error_responses},
    )
    async def rerank_tei(request: Request) -> Response:
        """TEI-style rerank: a bare array sorted by score, highest first (sigmoid unless ``raw_scores``)."""
        try:
            req = await parse(TEIRerankRequest, request)
            _check_direction(req.truncation_direction)
            check_count(len(req.texts), "texts")
            truncate = settings.truncate if req.truncate is None else req.truncate
            texts, n_cut = await cut(req.texts, settings.max_tokens_per_doc, truncate)
            ranked = await run(
                engine.rank(req.query, texts, instruction=req.instruction, truncate=truncate, top_n=None), request
            )
            raw = [s for _, s in ranked.order]
            finite(raw)
            scores = raw if req.raw_scores else sigmoid(np.asarray(raw)).tolist()
            out = []
            for (index, _), score in zip(ranked.order, scores, strict=True):
                item = {"index": index, "score": score}
                if req.return_text:
                    item["text"] = req.texts[index]
                out.append(item)
            request.state.note.update(documents=len(texts), tokens=ranked.tokens, cut_to_max_tokens=n_cut)
            metrics.observe_cut("max_tokens_per_doc", n_cut)
            metrics.observe_usage("/rerank", len(texts), ranked.tokens)
            return JSONResponse(out, headers={"X-Compute-Tokens": str(ranked.tokens)})
        except ApiError as exc:
            return fail(exc, request)

    async def rerank_cohere(request: Request, route: str) -> Response:
        try:
            req = await parse(CohereRerankRequest, request)
            if req.rank_fields not in (None, ["text"]):
                raise ApiError(422, 'rank_fields: only ["text"] is supported', "validation")
            if req.relevant_spans and req.relevant_spans.get("mode", "disabled") != "disabled":
                raise ApiError(422, "relevant_spans: not supported by this model; omit it", "validation")
            documents = _documents(req.documents)
            check_count(len(documents), "documents")
            caps = [c for c in (settings.max_tokens_per_doc, req.max_tokens_per_doc) if c is not None]
            scored, n_cut = await cut(documents, min(caps) if caps else None, True)
            top_n = min(req.top_n, len(documents)) if req.top_n is not None else None
            ranked = await run(
                engine.rank(req.query, scored, instruction=req.instruction, truncate=True, top_n=top_n), request
            )
            raw = [s for _, s in ranked.order]
            finite(raw)
            probs = sigmoid(np.asarray(raw)).tolist()
            results = []
            for (index, _), p in zip(ranked.order, probs, strict=True):
                item = {"index": index, "relevance_score": p}
                if req.return_documents:
                    item["document"] = {"text": documents[index]}
                results.append(item)
            request.state.note.update(documents=len(documents), tokens=ranked.tokens, cut_to_max_tokens=n_cut)
            metrics.observe_cut("max_tokens_per_doc", n_cut)
            metrics.observe_usage(route, len(documents), ranked.tokens)
            body = {
                "id": request.state.request_id,
                "model": model_name,
                "results": results,
                "usage": {"prompt_tokens": ranked.tokens, "total_tokens": ranked.tokens},
                "meta": {"billed_units": {"input_tokens": ranked.tokens}},
            }
            return JSONResponse(body)
        except ApiError as exc:
            return fail(exc, request)

    cohere_doc = dict(
        tags=["rerank"],
        openapi_extra=body_doc("CohereRerankRequest"),
        responses={200: {"model": CohereRerankResponse}, **error_responses},
    )

    @app.post("/v1/rerank", **cohere_doc)
    async def rerank_v1(request: Request) -> Response:
        """Cohere / Jina / vLLM rerank: ``results`` sorted by ``relevance_score`` (a probability), with usage."""
        return await rerank_cohere(request, "/v1/rerank")

    @app.post("/v2/rerank", **cohere_doc)
    async def rerank_v2(request: Request) -> Response:
        """Cohere v2 rerank (the Cohere SDK's ``ClientV2.rerank``); the same body and answer as /v1/rerank."""
        return await rerank_cohere(request, "/v2/rerank")

    @app.post(
        "/predict",
        tags=["classify"],
        openapi_extra=body_doc("PredictRequest"),
        responses={200: {"model": list[Prediction] | list[list[Prediction]]}, **error_responses},
    )
    async def predict(request: Request) -> Response:
        """Labels "0" and "1" of caller-formatted prompts: P("1") = sigmoid(s), sorted by score.

        With ``raw_scores`` the logits come back centred: logit("1") = s/2, logit("0") = -s/2 (the folded head keeps
        only their difference s; the softmax of the pair is exact).
        """
        try:
            req = await parse(PredictRequest, request)
            _check_direction(req.truncation_direction)
            inputs, is_batch = _predict_inputs(req.inputs)
            check_count(len(inputs), "inputs")
            truncate = settings.truncate if req.truncate is None else req.truncate
            ids, n_cut = await asyncio.to_thread(engine.raw_ids, inputs, truncate)
            raw = await run(engine.score_ids(ids), request)
            finite(raw)
            tokens = int(sum(len(x) for x in ids))
            out = [_predictions(s, req.raw_scores) for s in raw]
            request.state.note.update(documents=len(inputs), tokens=tokens, truncated=n_cut)
            metrics.observe_cut("predict_prompt", n_cut)
            metrics.observe_usage("/predict", len(inputs), tokens)
            return JSONResponse(out if is_batch else out[0], headers={"X-Compute-Tokens": str(tokens)})
        except ApiError as exc:
            return fail(exc, request)

    @app.get("/health", tags=["operations"], responses={503: error_responses[503]})
    async def health(request: Request) -> Response:
        """200 while the engine answers; 503 with error_type "unhealthy" otherwise."""
        try:
            report = await asyncio.to_thread(engine.check_health)
        except ApiError as exc:
            return fail(exc, request)
        return JSONResponse({"status": "ok", **report})

    @app.get("/info", tags=["operations"])
    async def get_info() -> Response:
        """Model, backend, precision, limits and version."""
        current = engine.info()
        body = {
            **current,
            "model": model_name,
            "model_id": model_name,
            "version": __version__,
            "max_input_length": engine.max_sequence_length or None,
            "max_client_batch_size": settings.max_documents,
            "max_documents": settings.max_documents,
            "max_body_bytes": settings.max_body_bytes,
            "max_tokens_per_doc": settings.max_tokens_per_doc,
            "auto_truncate": settings.truncate,
            "labels": ["0", "1"],
            "predict_raw_scores": "centred logits: logit('1') = s/2, logit('0') = -s/2, s = logit('1') - logit('0')",
            "routes": list(ROUTES),
        }
        return JSONResponse(body)

    @app.get("/metrics", tags=["operations"])
    async def get_metrics() -> Response:
        """Prometheus text exposition."""
        payload, content_type = metrics.render()
        return Response(payload, media_type=content_type)

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name in ("TEIRerankRequest", "CohereRerankRequest", "PredictRequest"):
            body = _REQUEST_MODELS[name].model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(body.pop("$defs", {}))
            components[name] = body
        app.openapi_schema = schema
        return schema

    app.openapi = openapi
    return app


async def _disconnected(request: Request) -> None:
    """Return when the client goes away (the body has been read, so the next ASGI message is the disconnect)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _predictions(score: float, raw_scores: bool) -> list[dict[str, Any]]:
    if raw_scores:
        yes, no = score / 2.0, -score / 2.0
    else:
        yes = float(sigmoid(score))
        no = 1.0 - yes
    pairs = [{"label": "1", "score": yes}, {"label": "0", "score": no}]
    return sorted(pairs, key=lambda p: p["score"], reverse=True)


def _attach_batch_hook(reranker, metrics: ServerMetrics) -> None:
    """Feed the batch histograms from the Reranker's batch listeners."""
    if hasattr(reranker, "add_batch_listener"):
        reranker.add_batch_listener(metrics.observe_batch)
    else:
        logger.warning("the reranker takes no batch listener: batch histograms stay empty")


# -- running it ------------------------------------------------------------------------------------------------------


def uvicorn_config(app, *, host: str, port: int, settings: ServerSettings, json_logs: bool = True, **kwargs):
    """The uvicorn `Config` the server runs under: no uvicorn access log (the server writes its own), graceful shutdown.

    Args:
        app: The ASGI app.
        host: Interface to bind.
        port: TCP port.
        settings: For the log level and the graceful-shutdown timeout.
        json_logs: Configure rerankrt's and uvicorn's loggers for JSON lines on stderr (process-wide). Defaults to
            True; False leaves the host process's logging alone.
        **kwargs: More `uvicorn.Config` arguments.
    """
    uvicorn = require("uvicorn", purpose="the HTTP server")
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=configure_json_logging(settings.log_level) if json_logs else None,
        log_level=settings.log_level.lower(),
        access_log=False,
        timeout_graceful_shutdown=settings.graceful_shutdown_s,
        **kwargs,
    )


def serve(
    engine_dir: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    settings: ServerSettings | None = None,
    backend: str | None = None,
) -> None:
    """Load an engine directory and serve it until SIGINT/SIGTERM (``rerankrt serve``).

    On a signal the server stops accepting connections, finishes the requests in flight (up to
    ``settings.graceful_shutdown_s``), then closes the reranker.

    Args:
        engine_dir: The engine directory to serve.
        host: Interface to bind. Defaults to "127.0.0.1" (use "0.0.0.0" to serve other machines).
        port: TCP port. Defaults to 8000.
        settings: Server limits and names. Defaults to `ServerSettings()`.
        backend: Backend override for `Reranker.load` ("tensorrt", "onnxruntime", "torch"). Defaults to the
            manifest's.
    """
    uvicorn = require("uvicorn", purpose="the HTTP server")
    from rerankrt.runtime.reranker import Reranker

    settings = settings or ServerSettings()
    logging.config.dictConfig(configure_json_logging(settings.log_level))
    reranker = Reranker.load(engine_dir, backend=backend, **dict(settings.reranker_options))
    try:
        app = create_app(reranker, settings)
        logger.info("serving", extra={"engine_dir": str(engine_dir), "host": host, "port": port})
        server = _server_class(uvicorn)(uvicorn_config(app, host=host, port=port, settings=settings))
        server.run()
    finally:
        reranker.close()
    logger.info("stopped", extra={"signals": [signal.Signals(s).name for s in getattr(server, "signals", [])]})


def _server_class(uvicorn):
    """uvicorn's Server, except that a SIGTERM/SIGINT ends `run()` normally instead of re-raising the signal.

    uvicorn re-raises the signal it shut down on, which kills the process before the caller can close the engine;
    here the caller closes the reranker, logs, and the command exits 0 after a graceful stop.
    """

    class GracefulServer(uvicorn.Server):
        signals: list[int]

        @contextlib.contextmanager
        def capture_signals(self):
            with super().capture_signals():
                yield
                captured = getattr(self, "_captured_signals", [])
                self.signals = list(captured)
                captured.clear()

    return GracefulServer


class BackgroundServer:
    """Serve an app on a loopback port from a background thread (tests, benchmarks, notebooks).

    Use as a context manager: ``with BackgroundServer(app) as server: httpx.get(server.url + "/health")``.
    Leaving stops the server gracefully (in-flight requests finish).

    Args:
        app: The ASGI app (from `create_app`).
        host: Interface to bind. Defaults to "127.0.0.1".
        port: Port; 0 picks a free one. Defaults to 0.
        settings: For the graceful-shutdown timeout and logs. Defaults to the app's settings.
        start_timeout_s: How long to wait for the server to come up. Defaults to 20.
        json_logs: Reconfigure the process's logging for JSON lines (see `uvicorn_config`). Defaults to False: a
            background server leaves its host's logging alone.
    """

    def __init__(
        self,
        app,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        settings: ServerSettings | None = None,
        start_timeout_s: float = 20.0,
        json_logs: bool = False,
    ) -> None:
        uvicorn = require("uvicorn", purpose="the HTTP server")
        settings = settings or getattr(getattr(app, "state", None), "settings", None) or ServerSettings()
        # proto must say TCP: asyncio sets TCP_NODELAY only on sockets whose proto is IPPROTO_TCP, and a socket made
        # with proto 0 leaves Nagle on, so a response's body waits ~40 ms behind its headers for a delayed ACK.
        # Accepted connections inherit TCP_NODELAY from the listener on Linux; asyncio sets it on them too.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._socket.bind((host, port))
        self.host, self.port = self._socket.getsockname()[:2]
        self.url = f"http://{self.host}:{self.port}"
        config = uvicorn_config(app, host=self.host, port=self.port, settings=settings, json_logs=json_logs)
        self.server = uvicorn.Server(config)
        self._start_timeout_s = start_timeout_s
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self._socket]}, name=f"rerankrt-server-{self.port}", daemon=True
        )

    def start(self) -> BackgroundServer:
        """Start serving and wait until the server accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + self._start_timeout_s
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server on {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop accepting connections, let in-flight requests finish, and join the thread."""
        self.server.should_exit = True
        self._thread.join(timeout_s)
        self._socket.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


__all__ = ["ApiError", "BackgroundServer", "ServerSettings", "create_app", "serve", "uvicorn_config"]
