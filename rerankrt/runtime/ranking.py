"""What `Reranker` checks on the way in and shapes on the way out: input checks, normalization and ranking.

Pure functions, no scheduler: the server's routes rank with `rank_results` too (`rerankrt.server.serving`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rerankrt.prompt import normalize_mxbai, sigmoid

Normalize = bool | str | None


@dataclass(frozen=True)
class RankResult:
    """One ranked document.

    Attributes:
        index: Position of the document in the input list.
        score: Its score (raw, or normalized as asked).
        document: The document text when `return_documents` was set, else None.
    """

    index: int
    score: float
    document: str | None = None


def check_text(value: Any, what: str) -> str:
    """`value` itself when it is a str; a TypeError naming `what` otherwise."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, got {type(value).__name__}")
    return value


def check_documents(documents: Sequence[str]) -> list[str]:
    """The documents as a list of str; a TypeError naming the first that is not (or a lone string)."""
    if isinstance(documents, str | bytes):
        raise TypeError("documents must be a list of str, not a single string")
    documents = list(documents)
    for i, doc in enumerate(documents):
        if not isinstance(doc, str):
            raise TypeError(f"documents[{i}] must be a str, got {type(doc).__name__}")
    return documents


def check_request(query: Any, documents: Sequence[str], instruction: Any) -> tuple[str, list[str], str | None]:
    """(query, documents, instruction) of one query's request, each checked to be text."""
    check_text(query, "query")
    if instruction is not None:
        check_text(instruction, "instruction")
    return query, check_documents(documents), instruction


def pair_columns(pairs) -> tuple[list[str], list[str], list[str]]:
    """(queries, documents, instructions) of (query, document[, instruction]) tuples, each checked, "" for none."""
    if isinstance(pairs, str | bytes):
        raise TypeError("pairs must be a list of (query, document) or (query, document, instruction) tuples")
    queries, documents, instructions = [], [], []
    for i, pair in enumerate(pairs):
        if isinstance(pair, str | bytes) or not isinstance(pair, Sequence) or len(pair) not in (2, 3):
            raise TypeError(f"pairs[{i}] must be a (query, document) or (query, document, instruction) tuple")
        query, document = pair[0], pair[1]
        instruction = pair[2] if len(pair) == 3 else None
        for name, value in (("query", query), ("document", document)):
            if not isinstance(value, str):
                raise TypeError(f"pairs[{i}] {name} must be a str, got {type(value).__name__}")
        if instruction is not None and not isinstance(instruction, str):
            raise TypeError(f"pairs[{i}] instruction must be a str or None, got {type(instruction).__name__}")
        queries.append(query)
        documents.append(document)
        instructions.append(instruction or "")
    return queries, documents, instructions


def check_top_k(top_k: int | None) -> None:
    """A ValueError unless `top_k` is None or a non-negative int."""
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int | np.integer) or top_k < 0):
        raise ValueError(f"top_k must be a non-negative int or None, got {top_k!r}")


def check_normalize(normalize: Normalize) -> None:
    """A ValueError unless `normalize` is one `normalized_scores` knows."""
    if not (normalize is None or isinstance(normalize, bool) or normalize in ("sigmoid", "mxbai")):
        raise ValueError(f'normalize must be False, True, "sigmoid" or "mxbai", got {normalize!r}')


def normalized_scores(scores: np.ndarray, normalize: Normalize, estimated_max: float) -> list[float]:
    """Raw scores as asked: raw (None, False), sigmoid (True, "sigmoid") or the reference's "mxbai" normalization."""
    if normalize is None or normalize is False:
        out = scores
    elif normalize is True or normalize == "sigmoid":
        out = sigmoid(scores)
    elif normalize == "mxbai":
        out = normalize_mxbai(scores, estimated_max)
    else:
        raise ValueError(f'normalize must be False, True, "sigmoid" or "mxbai", got {normalize!r}')
    return [float(x) for x in np.asarray(out)]


def deadline_of(timeout: float | None, deadline: float | None) -> float | None:
    """The `time.monotonic()` time a call must finish by: the earlier of `timeout` from now and `deadline`."""
    if timeout is None:
        return deadline
    if timeout <= 0:
        raise ValueError(f"timeout must be positive seconds, got {timeout}")
    until = time.monotonic() + float(timeout)
    return until if deadline is None else min(until, deadline)


def rank_results(
    scores: Sequence[float] | np.ndarray,
    documents: Sequence[str],
    *,
    top_k: int | None = None,
    return_documents: bool = False,
    shown: Sequence[float] | None = None,
) -> list[RankResult]:
    """Rank by score, highest first, ties by input index; keep `top_k`.

    Args:
        scores: Raw scores, one per document; the order is decided on these (a sigmoid can saturate and tie).
        documents: The documents, for `return_documents`.
        top_k: Keep the best `top_k`. Defaults to None (all).
        return_documents: Put each document's text in its result. Defaults to False.
        shown: The scores to report (e.g. normalized). Defaults to `scores`.
    """
    check_top_k(top_k)
    raw = [float(x) for x in scores]
    shown = raw if shown is None else [float(x) for x in shown]
    # NaN (a broken engine) ranks last instead of scrambling the sort.
    order = sorted(range(len(raw)), key=lambda i: (raw[i] != raw[i], -raw[i] if raw[i] == raw[i] else 0.0, i))
    if top_k is not None:
        order = order[: int(top_k)]
    return [RankResult(i, shown[i], documents[i] if return_documents else None) for i in order]


__all__ = [
    "Normalize",
    "RankResult",
    "check_documents",
    "check_normalize",
    "check_request",
    "check_text",
    "check_top_k",
    "deadline_of",
    "normalized_scores",
    "rank_results",
    "pair_columns",
]
