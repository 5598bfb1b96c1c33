"""Request and response shapes (pydantic), and the parsing that turns a body into validated values.

Request bodies coerce nothing; a body that does not fit is an `ApiError` 422 naming the field. A field that a peer API
defines for the same operation (TEI, Cohere v1/v2, Jina, vLLM, infinity, NVIDIA NIM) is accepted, applied where it has a
meaning here and otherwise ignored (each field's description says which); a field no API defines stays a 422 naming
it. Answers are written as plain JSON by the routes; the response models here document them in OpenAPI.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from rerankrt._optional import require
from rerankrt.server.errors import ApiError

require("fastapi", purpose="the HTTP server")  # before the imports below: a missing extra is named, not a bare error

from fastapi import Request  # noqa: E402
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema  # noqa: E402

_PARSE_INLINE_BYTES = 256 * 1024
# Every character str.splitlines breaks on: the template's instruction line must stay one line for every reader.
LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


def _single_line(value: str | None) -> str | None:
    if value is not None and not LINE_BREAKS.isdisjoint(value):
        brk = next(c for c in value if c in LINE_BREAKS)
        raise ValueError(f"instruction must be a single line; it holds the line break {brk!r}")
    return value


Instruction = Annotated[str | None, AfterValidator(_single_line)]


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
                "additionalProperties": True,
                "description": "Cohere v1: an object; rank_fields names the fields ranked on (default: text)",
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


_IGNORED_PRIORITY = "accepted and ignored: the scheduler serves every request's pairs in one class, in arrival order"


class TEIRerankRequest(_Body):
    """TEI's /rerank body, and the fields vLLM's and infinity's /rerank share with it."""

    query: str
    texts: list[str]
    truncate: bool | None = None
    truncation_direction: Literal["Right", "Left", "right", "left"] = Field(
        "Right", description="TEI: Right cuts a document's end, Left its start (the template is always kept)"
    )
    raw_scores: bool = False
    return_text: bool = False
    instruction: Instruction = Field(None, description="rerankrt extension: the mxbai instruction line")
    model: str | None = Field(None, description="vLLM / infinity / Cohere: accepted and ignored (one model served)")
    top_n: int | None = Field(None, ge=1, description="vLLM / infinity / Cohere: applied, only the best n come back")


class CohereRerankRequest(_Body):
    """The Cohere v1/v2, Jina, vLLM and infinity rerank body."""

    model: str | None = Field(None, description="Cohere / Jina / vLLM: accepted and ignored (one model served)")
    query: str
    documents: Annotated[list[Any], WithJsonSchema(_DOCUMENTS_SCHEMA)]
    top_n: int | None = Field(None, ge=1, description="Results to return; more than the documents returns all")
    return_documents: bool = Field(
        False, description="Cohere v1 / Jina (default false): with false the document key is left out, never null"
    )
    max_tokens_per_doc: int | None = Field(
        None, ge=1, description="Cohere v2: cut each document to its first n tokens (/v2/rerank default 4096)"
    )
    instruction: Instruction = Field(None, description="rerankrt extension: the mxbai instruction line")
    priority: int | None = Field(None, description=f"Cohere v2 / vLLM: {_IGNORED_PRIORITY}")
    rank_fields: list[str] | None = Field(
        None, description="Cohere v1: the object fields ranked on, rendered as YAML 'field: value' lines in this order"
    )
    max_chunks_per_doc: int | None = Field(
        None, ge=1, description="Cohere v1: accepted and ignored; a long document is cut, not chunked"
    )
    relevant_spans: dict[str, Any] | None = Field(None, description="Cohere v2; only mode 'disabled'")
    raw_scores: bool | None = Field(None, description="infinity: true makes relevance_score the raw score")
    use_activation: bool | None = Field(None, description="vLLM: false makes relevance_score the raw score")
    softmax: bool | None = Field(None, description="vLLM (deprecated spelling of use_activation)")
    activation: bool | None = Field(None, description="vLLM (deprecated spelling of use_activation)")
    truncate_prompt_tokens: int | None = Field(
        None, ge=-1, description="vLLM: accepted and ignored; pairs are cut to the engine's max length, template kept"
    )
    mm_processor_kwargs: dict[str, Any] | None = Field(None, description="vLLM: accepted and ignored (text only)")
    additional_data: Any = Field(None, description="vLLM: accepted and ignored")

    @property
    def raw(self) -> bool:
        """Whether relevance_score is to be the raw score (infinity's raw_scores, vLLM's activation switches)."""
        off = [v for v in (self.use_activation, self.softmax, self.activation) if v is not None]
        return bool(self.raw_scores) or (bool(off) and not all(off))


class NimText(_Body):
    """A NIM query or passage."""

    text: str


class NimRankingRequest(_Body):
    """NVIDIA NIM's /v1/ranking body (what NVIDIA's LangChain and LlamaIndex connectors send)."""

    model: str | None = Field(None, description="NIM: accepted and ignored (one model served)")
    query: NimText
    passages: list[NimText]
    truncate: Literal["NONE", "END"] = Field(
        "NONE", description="NIM: END cuts an over-long pair (document first); NONE (the default) answers 400"
    )


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


class NimRanking(BaseModel):
    """One entry of /v1/ranking's answer: ``logit`` is the raw score."""

    index: int
    logit: float


class NimRankingResponse(BaseModel):
    """/v1/ranking's answer, best first; ``usage`` counts tokens of the templated pairs."""

    rankings: list[NimRanking]
    usage: dict[str, int]


class Usage(BaseModel):
    """Tokens of the templated pairs (no padding)."""

    prompt_tokens: int
    total_tokens: int


class CohereRerankResponse(BaseModel):
    """/v1/rerank's answer; ``id`` is the request id; ``meta`` is Cohere's (api_version, billed units, tokens)."""

    id: str
    model: str
    results: list[CohereResult]
    usage: Usage
    meta: dict[str, Any]


class Prediction(BaseModel):
    """One label of /predict's answer."""

    label: str
    score: float


_REQUEST_MODELS = {
    m.__name__: m for m in (TEIRerankRequest, CohereRerankRequest, PredictRequest, NimRankingRequest, NimText)
}


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
        if kind == "model_type" and not first["loc"]:
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


def documents_from(raw: list[Any], rank_fields: list[str] | None = None) -> tuple[list[str], list[dict[str, Any]]]:
    """(texts to rank, documents to return) of Cohere / Jina documents: strings, or objects (Cohere v1).

    An object is ranked on its ``rank_fields`` (default ``["text"]``). One field ``text`` is ranked as that text; any
    other choice is rendered Cohere's way, as YAML ``field: value`` lines in ``rank_fields`` order (Cohere's advice
    for semi-structured documents is ``yaml.dump(doc, sort_keys=False)``). A returned object is the document itself,
    with ``text`` set to the ranked text where it has none.
    """
    fields = list(rank_fields) if rank_fields else ["text"]
    if len(set(fields)) != len(fields) or not all(isinstance(f, str) and f for f in fields):
        raise ApiError(422, f"rank_fields must be distinct non-empty field names, got {fields}", "validation")
    texts, returned = [], []
    for i, doc in enumerate(raw):
        if isinstance(doc, str):
            texts.append(doc)
            returned.append({"text": doc})
            continue
        if not isinstance(doc, dict):
            raise ApiError(422, f"documents[{i}] must be a string or an object, got {_json_type(doc)}", "validation")
        missing = [f for f in fields if f not in doc]
        if missing:
            raise ApiError(422, f"documents[{i}] has no field(s) {missing} named by rank_fields", "validation")
        if fields == ["text"]:
            if not isinstance(doc["text"], str):
                raise ApiError(
                    422, f"documents[{i}].text must be a string, got {_json_type(doc['text'])}", "validation"
                )
            text = doc["text"]
        else:
            text = _yaml_lines({f: doc[f] for f in fields})
        texts.append(text)
        returned.append({"text": text, **doc})
    return texts, returned


def _yaml_lines(fields: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(fields, sort_keys=False, allow_unicode=True, width=math.inf).rstrip("\n")


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
    """Refuse a Left cut where caller-formatted prompts are cut (/predict cuts their middle, keeping the task line)."""
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
