"""Request and response shapes (pydantic), and the parsing that turns a body into validated values.

Request bodies refuse unknown fields and coerce nothing; a body that does not fit is an `ApiError` 422 naming the
field. Answers are written as plain JSON by the routes; the response models here document them in OpenAPI.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from rerankrt._optional import require
from rerankrt.server.errors import ApiError

require("fastapi", purpose="the HTTP server")  # before the imports below: a missing extra is named, not a bare error

from fastapi import Request  # noqa: E402
from pydantic import BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema  # noqa: E402

_PARSE_INLINE_BYTES = 256 * 1024


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


def documents_from(raw: list[Any]) -> list[str]:
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


def predict_inputs(raw: Any) -> tuple[list[list[str]], bool]:
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


def check_direction(direction: str) -> None:
    if direction.lower() != "right":
        raise ApiError(
            422,
            "truncation_direction: only 'Right' is supported; the prompt template is always kept and "
            "documents are cut at their end",
            "validation",
        )


async def parse(model, request: Request):
    """The request's body validated against `model` (big bodies parse in a thread, keeping the event loop free)."""
    body = await request.body()
    if len(body) > _PARSE_INLINE_BYTES:
        return await asyncio.to_thread(_parse_body, model, body)
    return _parse_body(model, body)


def body_doc(name: str) -> dict:
    """OpenAPI ``requestBody`` pointing at the request model `name` (the routes read raw bodies themselves)."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
        }
    }


def request_schemas() -> dict[str, Any]:
    """The request models' JSON schemas, for the OpenAPI document's components."""
    components: dict[str, Any] = {}
    for name, model in _REQUEST_MODELS.items():
        body = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(body.pop("$defs", {}))
        components[name] = body
    return components
