"""The serving facade: what the routes need from a Reranker, in one place (scores, usage, raw prompts, health, info).

It calls only the Reranker's public async API and its prompt encoder; it knows nothing of batching or of HTTP shapes.
The app keeps one in ``app.state.serving``; every route reads it from there.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rerankrt.runtime.reranker import rank_results
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
        info = self.info()
        self.model_name = settings.model_name or str(info.get("model") or "rerankrt")

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
        """
        timeout = self.settings.request_timeout_s
        if max_tokens_per_doc is None and truncation_direction.lower() == "right":
            result = await self.reranker.ascore_request(
                query, documents, instruction, truncate=truncate, timeout=timeout
            )
            scores, tokens, cut = result.scores, int(result.num_tokens), 0
        else:
            # One tokenization per document both cuts it and builds its pair; the ids then share batches with
            # everyone else's pairs like any request.
            encoded = await asyncio.to_thread(
                self.encoder.encode,
                query,
                documents,
                instruction,
                truncate=truncate,
                max_tokens_per_doc=max_tokens_per_doc,
                truncation_direction=truncation_direction,
            )
            scores = await self.reranker.ascore_ids(encoded.ids, timeout=timeout)
            tokens, cut = int(encoded.lengths.sum()), int(np.count_nonzero(encoded.cut))
            # The scheduler counts max_length cuts of the pairs it tokenizes; these it did not.
            self.metrics.observe_cut("max_length", int(np.count_nonzero(encoded.truncated)))
        ranked = rank_results(scores, documents, top_k=top_n)
        return Ranked([(r.index, r.score) for r in ranked], tokens, cut)

    def raw_ids(self, inputs: Sequence[Sequence[str]], truncate: bool) -> tuple[list[np.ndarray], int]:
        """Token ids of caller-formatted prompts (`PromptEncoder.raw_ids`), its refusals as ApiErrors."""
        from rerankrt.prompt import TruncationError

        try:
            return self.encoder.raw_ids(inputs, truncate=truncate)
        except TruncationError as exc:
            raise ApiError(413, str(exc), "validation") from exc
        except ValueError as exc:
            raise ApiError(422, str(exc), "validation") from exc

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
