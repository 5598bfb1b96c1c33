"""The serving facade: what the routes need from a Reranker, in one place (scores, usage, prompts, health, info).

It calls only the Reranker's public async API and its prompt encoder; it knows nothing of batching or of HTTP shapes.
The app keeps one in ``app.state.serving``; every route reads it from there.

Every request is tokenized here, once, and its token budgets are checked before any scoring (413 naming the numbers):
the query line against ``max_query_tokens`` and, times the documents, against ``max_query_document_tokens`` (both
before the documents are tokenized: a 24 KB body must not buy minutes of work), then the templated pairs against
``max_request_tokens``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rerankrt.prompt import Encoded
from rerankrt.runtime.ranking import rank_results
from rerankrt.server.errors import ApiError
from rerankrt.server.metrics import ServerMetrics
from rerankrt.server.settings import ServerSettings

logger = logging.getLogger("rerankrt.server")


@dataclass(frozen=True)
class Ranked:
    """One request's ranking.

    Attributes:
        order: (document index, raw score), best first.
        tokens: Real tokens of the request's templated pairs (the usage to report).
        cut: Documents cut to ``max_tokens_per_doc``.
    """

    order: list[tuple[int, float]]
    tokens: int
    cut: int = 0


def served_model_name(reranker) -> str:
    """The name responses report by default: the manifest's hub id, or a local checkpoint folder's name (never a
    host path)."""
    manifest = getattr(reranker, "manifest", None)
    if manifest is not None:
        model = manifest.model
        return Path(model.source).name if model.local_path or Path(model.source).is_absolute() else model.source
    name = str(dict(reranker.info()).get("model") or "rerankrt")
    return Path(name).name if Path(name).exists() else name


class Serving:
    """A Reranker as the routes see it.

    Args:
        reranker: A `rerankrt.Reranker` (or anything with its async API, ``encoder``, ``health``, ``info``, ``stats``
            and ``add_batch_listener``).
        settings: Limits and names.
    """

    def __init__(self, reranker, settings: ServerSettings) -> None:
        self.reranker = reranker
        self.settings = settings
        self.encoder = reranker.encoder
        self.max_sequence_length = int(self.encoder.max_sequence_length)
        self.metrics = ServerMetrics(reranker.stats)
        reranker.add_batch_listener(self.metrics.observe_batch)
        self.model_name = settings.model_name or served_model_name(reranker)
        # mxbai-rerank gives the query at most 3/4 of max_length.
        self.max_query_tokens = settings.max_query_tokens or max(1, int(self.encoder.max_length) * 3 // 4)

    async def rank(
        self,
        query: str,
        documents: list[str],
        *,
        instruction: str | None,
        truncate: bool,
        top_n: int | None,
        max_tokens_per_doc: int | None = None,
        truncation_direction: str = "right",
    ) -> Ranked:
        """Raw scores ranked as `Reranker.rank` ranks them, and the request's usage in tokens.

        ``truncation_direction="left"`` cuts documents at their start (`PromptEncoder.encode`).

        Raises:
            ApiError: 413 for a request over a token budget (nothing is scored).
        """
        # One tokenization per document both cuts it and builds its pair; the ids then share batches with everyone
        # else's pairs like any request.
        encoded = await asyncio.to_thread(
            self.encode_within_budget, query, documents, instruction, truncate, max_tokens_per_doc, truncation_direction
        )
        scores = await self.reranker.ascore_ids(encoded.ids, timeout=self.settings.request_timeout_s)
        tokens, cut = int(encoded.lengths.sum()), int(np.count_nonzero(encoded.cut))
        # The scheduler counts max_length cuts of the pairs it tokenizes; these it did not.
        self.metrics.observe_cut("max_length", int(np.count_nonzero(encoded.truncated)))
        ranked = rank_results(scores, documents, top_k=top_n)
        return Ranked([(r.index, r.score) for r in ranked], tokens, cut)

    def encode_within_budget(
        self,
        query: str,
        documents: list[str],
        instruction: str | None,
        truncate: bool,
        max_tokens_per_doc: int | None,
        truncation_direction: str = "right",
    ) -> Encoded:
        """The request's pairs tokenized, or a 413 ApiError as soon as a token budget is passed."""
        settings = self.settings
        line = f"instruction: {instruction}\nquery: {query}" if instruction else f"query: {query}"
        n_query = len(self.encoder.user_tokenizer.encode(line, add_special_tokens=False).ids)
        if n_query > self.max_query_tokens:
            raise ApiError(
                413, f"the query has {n_query} tokens > max_query_tokens={self.max_query_tokens}", "validation"
            )
        product = n_query * len(documents)
        if product > settings.max_query_document_tokens:
            raise ApiError(
                413,
                f"{len(documents)} documents x {n_query} query tokens = {product} > "
                f"max_query_document_tokens={settings.max_query_document_tokens}; send fewer documents per request",
                "validation",
            )

        def encode(start: int, stop: int):
            return self.encoder.encode(
                query,
                documents[start:stop],
                instruction,
                truncate=truncate,
                max_tokens_per_doc=max_tokens_per_doc,
                truncation_direction=truncation_direction,
                first_index=start,
            )

        # In chunks, each on the scheduler's host-CPU turn (small requests first), as the scheduler tokenizes its own
        # requests: a 1,000-document request's tokenizing then takes turns with small requests' batches.
        deadline = time.monotonic() + settings.request_timeout_s
        encoded = self.reranker.scheduler.encode_in_turns(encode, len(documents), deadline=deadline)
        self.check_request_tokens(int(encoded.lengths.sum()))
        return encoded

    def check_request_tokens(self, tokens: int) -> None:
        """Refuse (413) a request whose templated prompts hold more than ``max_request_tokens``."""
        limit = self.settings.max_request_tokens
        if tokens > limit:
            raise ApiError(
                413, f"the request has {tokens} tokens > max_request_tokens={limit}; split the request", "validation"
            )

    def predict_ids(self, inputs: Sequence[Sequence[str]], truncate: bool) -> tuple[list[np.ndarray], int]:
        """Token ids of /predict inputs and how many were cut; 422/413 ApiErrors for what is refused.

        Inputs that follow the model card's template are parsed back into query, document and instruction and
        tokenized as /rerank tokenizes them (the same ids; control-token spellings in their text stay plain text).
        Others are refused unless ``allow_raw_prompts``, and then tokenized as given (`PromptEncoder.raw_ids`).
        """
        from rerankrt.prompt import parse_seed_prompt

        parsed: list[tuple[int, tuple[str, str, str]]] = []
        raw: list[int] = []
        for i, item in enumerate(inputs):
            parts = parse_seed_prompt("".join(item))
            if parts is not None:
                parsed.append((i, parts))
            elif self.settings.allow_raw_prompts:
                raw.append(i)
            else:
                raise ApiError(
                    422,
                    f"inputs[{i}] does not follow the model card's template (rerankrt.prompt.seed_prompt); this "
                    "server scores only templated prompts (start it with --allow-raw-prompts to score others as given)",
                    "validation",
                )
        ids: list[np.ndarray] = [None] * len(inputs)  # type: ignore[list-item]
        n_cut = 0
        if parsed:
            queries, documents, instructions = (list(x) for x in zip(*(p for _, p in parsed), strict=True))
            encoded = self.encoder.encode(
                queries, documents, instructions, truncate=True, max_tokens_per_doc=self.settings.max_tokens_per_doc
            )
            cut = encoded.truncated | encoded.cut
            if not truncate and cut.any():
                i = parsed[int(np.flatnonzero(cut)[0])][0]
                raise ApiError(413, f"inputs[{i}] is over the engine's token limit and truncate is false", "validation")
            n_cut += int(np.count_nonzero(cut))
            for (i, _), row in zip(parsed, encoded.ids, strict=True):
                ids[i] = row
        if raw:
            n_cut += self._raw_ids_into(ids, inputs, raw, truncate)
        self.check_request_tokens(sum(len(x) for x in ids))
        return ids, n_cut

    def _raw_ids_into(self, ids: list, inputs: Sequence[Sequence[str]], rows: list[int], truncate: bool) -> int:
        """Raw prompts' ids (`PromptEncoder.raw_ids`) into `ids` at `rows`; how many were cut."""
        from rerankrt.prompt import TruncationError

        try:
            raw_ids, n_cut = self.encoder.raw_ids([inputs[i] for i in rows], truncate=truncate)
        except TruncationError as exc:
            raise ApiError(413, str(exc), "validation") from exc
        except ValueError as exc:
            raise ApiError(422, str(exc), "validation") from exc
        for i, row in zip(rows, raw_ids, strict=True):
            ids[i] = row
        return n_cut

    async def score_ids(self, ids: list[np.ndarray]) -> list[float]:
        """Raw scores of pre-tokenized prompts, batched with everyone else's pairs."""
        return await self.reranker.ascore_ids(ids, timeout=self.settings.request_timeout_s)

    def check_health(self) -> dict[str, Any]:
        """The Reranker's health report; an ApiError 503 when it cannot serve."""
        try:
            return dict(self.reranker.health())
        except Exception as exc:  # noqa: BLE001 - any failure of the health probe means unhealthy
            raise ApiError(503, f"unhealthy: {exc}", "unhealthy") from exc

    def info(self) -> dict[str, Any]:
        """The Reranker's info; ``info_error`` instead when it fails (/info must answer even then)."""
        try:
            return dict(self.reranker.info())
        except Exception as exc:  # noqa: BLE001 - /info must answer even when the engine does not
            return {"info_error": str(exc)}


__all__ = ["Ranked", "Serving"]
