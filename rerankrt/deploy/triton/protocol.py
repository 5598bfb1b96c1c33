"""The Triton model's wire protocol as plain functions: request tensors and parameters in, output tensors out.

Nothing here imports Triton. The functions take the ``triton_python_backend_utils`` module (``pb``) as an argument, so
the tests run them on the CPU with a small fake of it.

A request carries ``query`` BYTES [B, 1], ``documents`` BYTES [B, n] and optionally ``instruction`` BYTES [B, 1]: row
``b`` asks to score the n documents of row b against query b. Most clients send B = 1. Request parameters (KServe v2
parameters extension): ``top_n`` (int >= 1), ``normalize`` (false, true, "sigmoid" or "mxbai") and ``truncate``
(bool). The response has ``scores`` FP32 [B, n] in input order, ``token_count`` INT64 [B, 1] (real tokens of the
row's pairs, template included) and ``ranking`` INT64 [B, k]: document indices by score, highest first, the best
``top_n`` of them (all without it).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rerankrt.prompt import normalize_mxbai, sigmoid

NORMALIZE = (False, True, "sigmoid", "mxbai")
PARAMETERS = ("normalize", "top_n", "truncate")


class RequestError(ValueError):
    """A request the model cannot serve; the message starts with the input or parameter at fault."""


@dataclass(frozen=True, kw_only=True)
class RerankRow:
    """One (query, documents) row of a request, decoded and checked.

    Attributes:
        query: The query.
        documents: The documents, at least one.
        instruction: The instruction, or None.
        top_n: How many indices ``ranking`` keeps, or None for all.
        normalize: False (raw logits), True / "sigmoid" or "mxbai".
        truncate: Whether over-long pairs are cut (else refused).
    """

    query: str
    documents: tuple[str, ...]
    instruction: str | None = None
    top_n: int | None = None
    normalize: bool | str = False
    truncate: bool = True

    def __post_init__(self) -> None:
        if not self.documents:
            raise RequestError("documents: at least one document is required")
        if self.top_n is not None and (isinstance(self.top_n, bool) or self.top_n < 1):
            raise RequestError(f"top_n: must be an integer >= 1, got {self.top_n!r}")
        if self.normalize not in NORMALIZE or isinstance(self.normalize, int) and not isinstance(self.normalize, bool):
            raise RequestError(f'normalize: must be false, true, "sigmoid" or "mxbai", got {self.normalize!r}')


def parameters_from_json(text: str | None) -> dict[str, Any]:
    """``request.parameters()`` (a JSON object string) -> checked ``{top_n, normalize, truncate}`` keyword values.

    Raises:
        RequestError: For unknown keys or values of the wrong type, naming the parameter.
    """
    try:
        params = json.loads(text) if text else {}
    except json.JSONDecodeError as exc:
        raise RequestError(f"parameters: not a JSON object: {exc}") from None
    if not isinstance(params, dict):
        raise RequestError(f"parameters: not a JSON object: {text!r}")
    unknown = sorted(set(params) - set(PARAMETERS))
    if unknown:
        raise RequestError(f"parameters: unknown parameter(s) {unknown}; this model takes {list(PARAMETERS)}")
    out: dict[str, Any] = {}
    if "top_n" in params:
        top_n = params["top_n"]
        if isinstance(top_n, bool) or not isinstance(top_n, int):
            raise RequestError(f"top_n: must be an integer >= 1, got {top_n!r}")
        out["top_n"] = top_n
    if "normalize" in params:
        value = params["normalize"]
        if isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        out["normalize"] = value
    if "truncate" in params:
        if not isinstance(params["truncate"], bool):
            raise RequestError(f"truncate: must be true or false, got {params['truncate']!r}")
        out["truncate"] = params["truncate"]
    return out


def _texts(array: Any, name: str) -> np.ndarray:
    if array is None:
        raise RequestError(f"{name}: missing required input")
    array = np.asarray(array)
    if array.dtype != np.object_ and array.dtype.kind not in "SU":
        raise RequestError(f"{name}: must be BYTES (TYPE_STRING) text, got {array.dtype}")
    if array.ndim != 2:
        raise RequestError(f"{name}: expected shape [batch, n], got {list(array.shape)}")
    return array


def _text(value: Any, where: str) -> str:
    if isinstance(value, bytes | np.bytes_):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise RequestError(f"{where}: not valid UTF-8") from None
    if isinstance(value, str):
        return value
    raise RequestError(f"{where}: must be text, got {type(value).__name__}")


def rows_from_arrays(
    query: Any, documents: Any, instruction: Any = None, parameters: str | None = None
) -> list[RerankRow]:
    """Input arrays (numpy, as ``pb_utils.Tensor.as_numpy()`` gives them) and parameters -> checked rows.

    Args:
        query: [B, 1] BYTES.
        documents: [B, n] BYTES.
        instruction: [B, 1] BYTES, or None.
        parameters: ``request.parameters()``, a JSON object string. Defaults to None.

    Raises:
        RequestError: Naming the input (with its index) or parameter at fault.
    """
    params = parameters_from_json(parameters)
    queries = _texts(query, "query")
    docs = _texts(documents, "documents")
    instructions = None if instruction is None else _texts(instruction, "instruction")
    batch = queries.shape[0]
    if queries.shape[1] != 1:
        raise RequestError(f"query: expected one query per row (shape [batch, 1]), got {list(queries.shape)}")
    if docs.shape[0] != batch:
        raise RequestError(f"documents: {docs.shape[0]} rows for {batch} queries")
    if instructions is not None and instructions.shape != (batch, 1):
        raise RequestError(f"instruction: expected shape [{batch}, 1], got {list(instructions.shape)}")
    rows = []
    for b in range(batch):
        suffix = f"[{b}]" if batch > 1 else ""
        rows.append(
            RerankRow(
                query=_text(queries[b, 0], f"query{suffix}"),
                documents=tuple(_text(d, f"documents{suffix}[{i}]") for i, d in enumerate(docs[b])),
                instruction=None if instructions is None else _text(instructions[b, 0], f"instruction{suffix}"),
                **params,
            )
        )
    return rows


def rows_from_request(request: Any, pb: Any) -> list[RerankRow]:
    """A ``pb_utils.InferenceRequest`` -> checked rows (see `rows_from_arrays`)."""

    def array(name: str) -> Any:
        tensor = pb.get_input_tensor_by_name(request, name)
        return None if tensor is None else tensor.as_numpy()

    return rows_from_arrays(array("query"), array("documents"), array("instruction"), request.parameters())


def shown_scores(raw: np.ndarray, normalize: bool | str, estimated_max: float) -> np.ndarray:
    """Raw logits -> what the client asked for: raw, sigmoid (True / "sigmoid") or mxbai normalization, float32."""
    if normalize is True or normalize == "sigmoid":
        out = sigmoid(raw)
    elif normalize == "mxbai":
        out = normalize_mxbai(raw, estimated_max)
    else:
        out = raw
    return np.asarray(out, dtype=np.float32)


def ranking_from_scores(raw: np.ndarray, top_n: int | None) -> np.ndarray:
    """Document indices sorted by raw score, highest first (ties keep input order), cut to ``top_n``; int64."""
    order = np.argsort(-np.asarray(raw, dtype=np.float64), kind="stable").astype(np.int64)
    return order if top_n is None else order[:top_n]


def outputs_from_results(
    rows: Sequence[RerankRow], results: Sequence[tuple[np.ndarray, int]], estimated_max: float
) -> dict[str, np.ndarray]:
    """Rows and their (raw scores, real tokens) -> the output arrays ``scores``, ``token_count`` and ``ranking``.

    Rows of one request share their document count (the tensor is dense); ``ranking`` rows are cut to the smallest
    ``top_n``, which is the same for every row of a request.
    """
    pairs = list(zip(rows, results, strict=True))
    scores = np.stack([shown_scores(raw, row.normalize, estimated_max) for row, (raw, _) in pairs])
    tokens = np.array([[int(n)] for _, n in results], dtype=np.int64)
    ranking = np.stack([ranking_from_scores(raw, row.top_n) for row, (raw, _) in pairs])
    return {"scores": scores, "token_count": tokens, "ranking": ranking}


def response_from_outputs(outputs: dict[str, np.ndarray], pb: Any) -> Any:
    """Output arrays -> a ``pb_utils.InferenceResponse``."""
    return pb.InferenceResponse(output_tensors=[pb.Tensor(name, array) for name, array in outputs.items()])


def error_response(message: str, pb: Any, *, code: str = "INVALID_ARG") -> Any:
    """A message -> a ``pb_utils.InferenceResponse`` with a ``TritonError`` of that code (for this request only)."""
    return pb.InferenceResponse(error=pb.TritonError(message, getattr(pb.TritonError, code)))
