"""The Python API: strings in, scores and rankings out, over one engine directory.

``Reranker`` validates inputs, hands pairs to the in-flight batching `Scheduler` and applies ranking and
normalization at the edge. One instance serves many threads and asyncio tasks at once; their pairs share batches.

Example::

    from rerankrt import Reranker

    with Reranker.load("engines/h100") as reranker:
        results = reranker.rank("what is a panda?", ["The giant panda is a bear.", "Paris is in France."], top_k=1)
        print(results[0].index, results[0].score)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from rerankrt import __version__
from rerankrt.manifest import Manifest, read_manifest
from rerankrt.prompt import ESTIMATED_MAX, PromptEncoder, normalize_mxbai, sigmoid
from rerankrt.runtime.backends import load_backend
from rerankrt.runtime.backends.base import Backend
from rerankrt.runtime.backends.options import LIMIT_NAMES
from rerankrt.runtime.backends.options import OPTION_NAMES as BACKEND_OPTION_NAMES
from rerankrt.runtime.batching import (
    BatchListener,
    BatchStats,
    DeadlineExceededError,
    OverloadedError,
    RequestFuture,
    Scheduler,
    SchedulerConfig,
    SchedulerStats,
    ScoreResult,
)
from rerankrt.runtime.batching.config import OPTION_NAMES as SCHEDULER_OPTION_NAMES

# TensorRT kernels prefer sequence lengths in multiples of 8; CPU backends gain nothing from extra padding.
DEFAULT_PAD_MULTIPLE = {"tensorrt": 8}

Normalize = bool | str | None
logger = logging.getLogger("rerankrt.runtime")


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


def _check_text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, got {type(value).__name__}")
    return value


def _documents(documents: Sequence[str]) -> list[str]:
    if isinstance(documents, str | bytes):
        raise TypeError("documents must be a list of str, not a single string")
    documents = list(documents)
    for i, doc in enumerate(documents):
        if not isinstance(doc, str):
            raise TypeError(f"documents[{i}] must be a str, got {type(doc).__name__}")
    return documents


def _pairs(pairs) -> tuple[list[str], list[str], list[str]]:
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


def _check_top_k(top_k: int | None) -> None:
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int | np.integer) or top_k < 0):
        raise ValueError(f"top_k must be a non-negative int or None, got {top_k!r}")


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
    _check_top_k(top_k)
    raw = [float(x) for x in scores]
    shown = raw if shown is None else [float(x) for x in shown]
    # NaN (a broken engine) ranks last instead of scrambling the sort.
    order = sorted(range(len(raw)), key=lambda i: (raw[i] != raw[i], -raw[i] if raw[i] == raw[i] else 0.0, i))
    if top_k is not None:
        order = order[: int(top_k)]
    return [RankResult(i, shown[i], documents[i] if return_documents else None) for i in order]


def _deadline(timeout: float | None, deadline: float | None) -> float | None:
    if timeout is None:
        return deadline
    if timeout <= 0:
        raise ValueError(f"timeout must be positive seconds, got {timeout}")
    until = time.monotonic() + float(timeout)
    return until if deadline is None else min(until, deadline)


@dataclass(frozen=True)
class _Call:
    """One validated call, shared by a sync method and its async twin: how to submit it, how to shape its result."""

    submit: Callable[[], RequestFuture]
    finish: Callable[[ScoreResult], Any]


class Reranker:
    """Scores (query, document) pairs with an engine directory's model; thread-safe and asyncio-friendly.

    Scores are raw logits, logit("1") - logit("0"): higher means more relevant. ``normalize=True`` (or
    ``"sigmoid"``) returns sigmoid(score), the probability that the document is relevant, in [0, 1], as TEI,
    vLLM and Cohere-style APIs report it. ``normalize="mxbai"`` returns the reference library's
    sigmoid(score - estimated_max / 2) (estimated_max 9.0 for base models, 12.0 for large ones).

    Every call also takes ``timeout`` (seconds from now) and ``deadline`` (a `time.monotonic()` time): when it passes
    the call raises DeadlineExceededError (a TimeoutError) and its unscored pairs are dropped. A full queue raises
    OverloadedError; a failed backend call raises BackendError to the requests in that batch only.

    Construct with `Reranker.load` (an engine directory) or ``Reranker(backend, encoder, ...)`` (any backend and
    encoder: tests, demos, custom engines). Close it (or use ``with``) to stop the worker thread and release the
    engine.

    Args:
        backend: Scores token-id batches. The Reranker owns it and closes it on `close`.
        encoder: Turns pairs into token ids (`rerankrt.prompt.PromptEncoder`).
        manifest: The engine directory's manifest, for `info`. Defaults to None.
        model_name: Model name for `info` and mxbai normalization. Defaults to the manifest's, else "unknown".
        estimated_max: The mxbai normalization's estimated maximum score. Defaults to 12.0 for "large" models, else
            9.0.
        config: The scheduler's knobs. Defaults to `SchedulerConfig` built from `**scheduler_options`.
        on_batch: A first batch listener (see `add_batch_listener`). Defaults to None.
        **scheduler_options: `SchedulerConfig` fields (max_batch_size, max_num_tokens, max_pending_pairs,
            pad_multiple, fill_ratio, tokenize_chunk, batch_tokens), when no `config` is given.

    Attributes:
        OPTIONS: The keyword options `Reranker.load` takes that a config file may hold (no callables): the scheduler
            knobs, the backend limits and options, ``max_length`` and ``estimated_max``.
    """

    OPTIONS = frozenset(SCHEDULER_OPTION_NAMES | LIMIT_NAMES | BACKEND_OPTION_NAMES | {"max_length", "estimated_max"})

    def __init__(
        self,
        backend: Backend,
        encoder: PromptEncoder,
        *,
        manifest: Manifest | None = None,
        model_name: str | None = None,
        estimated_max: float | None = None,
        config: SchedulerConfig | None = None,
        on_batch: BatchListener | None = None,
        **scheduler_options: Any,
    ) -> None:
        self.backend = backend
        self.encoder = encoder
        self.manifest = manifest
        self.model_name = model_name or (manifest.model_name if manifest is not None else "unknown")
        if estimated_max is None:
            estimated_max = ESTIMATED_MAX.get(self.model_name, 12.0 if "large" in self.model_name.lower() else 9.0)
        self.estimated_max = float(estimated_max)
        self._scheduler = Scheduler(backend, encoder, config, on_batch=on_batch, **scheduler_options)
        self._closed = False

    # -- construction ----------------------------------------------------------------------------------------------

    @classmethod
    def load(cls, engine_dir: str | Path, *, backend: str | None = None, **options: Any) -> Reranker:
        """Open an engine directory: check its manifest and file hashes, and start the backend it names.

        Args:
            engine_dir: A directory written by `rerankrt build`.
            backend: "tensorrt", "onnxruntime" or "torch". Defaults to the manifest's backend.
            **options: The names in `Reranker.OPTIONS`, routed into their dataclasses: `SchedulerConfig` fields,
                the limits (`LimitOptions`: max_batch_size, max_seq_len, max_num_tokens, each at most the engine's),
                the backend's own options (`OnnxOptions`, `TorchOptions`, `TensorRTOptions`: threads, artifact,
                model_dir, device), ``max_length`` (at most the manifest's) and ``estimated_max``; and ``on_batch``,
                a first batch listener.

        Raises:
            TypeError: For an unknown option, naming it and listing the valid ones.
            ValueError: For an option out of range, naming it.
            ManifestError: For a missing, malformed or tampered directory, or an engine that does not fit this GPU.
            BackendUnavailableError: When the backend cannot run here (e.g. a TensorRT engine without a GPU).
        """
        unknown = sorted(set(options) - cls.OPTIONS - {"on_batch"})
        if unknown:
            raise TypeError(f"unknown option(s) {unknown} for Reranker.load; it takes {sorted(cls.OPTIONS)}")
        manifest = read_manifest(engine_dir, verify=True)
        options = dict(options)
        on_batch = options.pop("on_batch", None)
        estimated_max = options.pop("estimated_max", None)
        max_length = options.pop("max_length", None)
        # The limits both take go to the backend, whose limits the scheduler then reads.
        scheduler = {k: options.pop(k) for k in SCHEDULER_OPTION_NAMES - LIMIT_NAMES if k in options}
        if max_length is not None and int(max_length) > manifest.max_length:
            raise ValueError(f"max_length={max_length} exceeds the engine's max_length={manifest.max_length}")
        # The backend first: a machine that cannot run the engine is told so before the tokenizer loads.
        engine = load_backend(manifest, backend, **options)
        try:
            encoder = PromptEncoder(
                manifest.tokenizer_dir,
                template=manifest.template,
                max_length=int(max_length or manifest.max_length),
                model_max_length=manifest.model_max_length,
                allow_special_tokens=manifest.allow_special_tokens,
            )
            scheduler.setdefault("pad_multiple", DEFAULT_PAD_MULTIPLE.get(engine.name, 1))
            # The build's serving budget, unless the caller sets the token budget itself.
            if "max_num_tokens" not in options:
                scheduler.setdefault("batch_tokens", manifest.serving.batch_tokens)
            config = SchedulerConfig(**scheduler)
            return cls(
                engine, encoder, manifest=manifest, estimated_max=estimated_max, config=config, on_batch=on_batch
            )
        except BaseException:
            engine.close()
            raise

    def add_batch_listener(self, listener: BatchListener) -> None:
        """Call `listener` with a `BatchStats` after every backend call, in the worker thread (metrics, tracing).

        Exceptions it raises are logged and ignored; several listeners run in the order they were added.
        """
        self._scheduler.add_batch_listener(listener)

    # -- scoring: each public call is a thin shell over one `_Call`, run by `_run` (sync) or `_arun` (asyncio) ------

    def _run(self, call: _Call):
        return call.finish(self._scheduler.wait(call.submit()))

    async def _arun(self, call: _Call):
        """Tokenize in a worker thread (the submit) and await the scheduler without blocking the event loop."""
        submitted = asyncio.get_running_loop().run_in_executor(None, call.submit)
        try:
            # Shielded: if this task is cancelled mid-tokenization, the request still gets cancelled once admitted.
            future = await asyncio.shield(submitted)
        except asyncio.CancelledError:
            submitted.add_done_callback(lambda s: s.cancelled() or s.exception() or s.result().cancel())
            raise
        return call.finish(await self._scheduler.wait_async(future))

    def _prepare(self, queries, documents, instructions, truncate, timeout, deadline, finish=None) -> _Call:
        until = _deadline(timeout, deadline)
        submit = partial(self._scheduler.submit, queries, documents, instructions, truncate=truncate, deadline=until)
        return _Call(submit, finish or (lambda result: result))

    def _prepare_score(self, query, documents, instruction, normalize, truncate, timeout, deadline) -> _Call:
        self._check_normalize(normalize)
        query, documents, instruction = self._request(query, documents, instruction)
        finish = partial(self._normalized, normalize=normalize)
        return self._prepare(query, documents, instruction, truncate, timeout, deadline, finish)

    def _prepare_pairs(self, pairs, normalize, truncate, timeout, deadline) -> _Call:
        self._check_normalize(normalize)
        queries, documents, instructions = _pairs(pairs)
        finish = partial(self._normalized, normalize=normalize)
        return self._prepare(queries, documents, instructions, truncate, timeout, deadline, finish)

    def _prepare_rank(
        self, query, documents, top_k, return_documents, instruction, normalize, truncate, timeout, deadline
    ) -> _Call:
        self._check_normalize(normalize)
        query, documents, instruction = self._request(query, documents, instruction)
        _check_top_k(top_k)

        def finish(result: ScoreResult) -> list[RankResult]:
            shown = self._normalize(result.scores, normalize)
            return rank_results(result.scores, documents, top_k=top_k, return_documents=return_documents, shown=shown)

        return self._prepare(query, documents, instruction, truncate, timeout, deadline, finish)

    def _prepare_ids(self, ids, timeout, deadline) -> _Call:
        submit = partial(self._scheduler.submit_ids, ids, deadline=_deadline(timeout, deadline))
        return _Call(submit, lambda result: [float(x) for x in result.scores])

    def _normalized(self, result: ScoreResult, *, normalize: Normalize) -> list[float]:
        return self._normalize(result.scores, normalize)

    def _normalize(self, scores: np.ndarray, normalize: Normalize) -> list[float]:
        if normalize is None or normalize is False:
            out = scores
        elif normalize is True or normalize == "sigmoid":
            out = sigmoid(scores)
        elif normalize == "mxbai":
            out = normalize_mxbai(scores, self.estimated_max)
        else:
            raise ValueError(f'normalize must be False, True, "sigmoid" or "mxbai", got {normalize!r}')
        return [float(x) for x in np.asarray(out)]

    @staticmethod
    def _check_normalize(normalize: Normalize) -> None:
        if not (normalize is None or isinstance(normalize, bool) or normalize in ("sigmoid", "mxbai")):
            raise ValueError(f'normalize must be False, True, "sigmoid" or "mxbai", got {normalize!r}')

    def _request(self, query, documents, instruction) -> tuple[str, list[str], str | None]:
        _check_text(query, "query")
        if instruction is not None:
            _check_text(instruction, "instruction")
        return query, _documents(documents), instruction

    def score_request(
        self,
        queries: Sequence[str] | str,
        documents: Sequence[str],
        instructions: Sequence[str] | str | None = None,
        *,
        truncate: bool = True,
        timeout: float | None = None,
        deadline: float | None = None,
    ) -> ScoreResult:
        """The low-level call under `score`: raw float32 scores plus usage (real tokens) and truncation flags.

        Args:
            queries: One query for all documents, or one per document.
            documents: The documents.
            instructions: None, one for all, or one per pair. Defaults to None.
            truncate: Cut over-long pairs as the template says; False raises TruncationError instead.
            timeout: Seconds from now before DeadlineExceededError. Defaults to None.
            deadline: `time.monotonic()` time before DeadlineExceededError. Defaults to None.
        """
        return self._run(self._prepare(queries, documents, instructions, truncate, timeout, deadline))

    async def ascore_request(
        self,
        queries: Sequence[str] | str,
        documents: Sequence[str],
        instructions: Sequence[str] | str | None = None,
        *,
        truncate: bool = True,
        timeout: float | None = None,
        deadline: float | None = None,
    ) -> ScoreResult:
        """`score_request` for asyncio: tokenizes in a worker thread and awaits the scheduler without blocking."""
        return await self._arun(self._prepare(queries, documents, instructions, truncate, timeout, deadline))

    def score_ids(
        self, ids: Sequence[Sequence[int]], *, timeout: float | None = None, deadline: float | None = None
    ) -> list[float]:
        """Raw scores of prompts the caller already templated and tokenized (e.g. the model card's string).

        Args:
            ids: One sequence of token ids per prompt, template included, each at most max_seq_len long.
            timeout: As in `score`. Defaults to None.
            deadline: As in `score`. Defaults to None.

        Returns:
            One raw score per prompt, in the input order.
        """
        return self._run(self._prepare_ids(ids, timeout, deadline))

    async def ascore_ids(
        self, ids: Sequence[Sequence[int]], *, timeout: float | None = None, deadline: float | None = None
    ) -> list[float]:
        """`score_ids` for asyncio; never blocks the event loop."""
        return await self._arun(self._prepare_ids(ids, timeout, deadline))

    def score(
        self,
        query: str,
        documents: Sequence[str],
        *,
        instruction: str | None = None,
        normalize: Normalize = False,
        truncate: bool = True,
        timeout: float | None = None,
        deadline: float | None = None,
    ) -> list[float]:
        """Score each document against one query.

        Args:
            query: The search query.
            documents: The documents; empty strings are valid, an empty list returns [].
            instruction: Optional instruction for the prompt. Defaults to None.
            normalize: False for raw logits; True or "sigmoid" for sigmoid(score) = P(relevant) in [0, 1];
                "mxbai" for the reference library's sigmoid(score - estimated_max / 2). Defaults to False.
            truncate: Cut over-long pairs as the template says (the template itself is always kept); False raises
                TruncationError naming the first pair that does not fit.
            timeout: Seconds from now before DeadlineExceededError. Defaults to None (no limit).
            deadline: `time.monotonic()` time before DeadlineExceededError. Defaults to None.

        Returns:
            One score per document, in the input order.

        Raises:
            TypeError: For a non-string query, instruction or document (naming its index).
            TruncationError: For an over-long pair with truncate=False.
            OverloadedError, DeadlineExceededError, BackendError: See the class docstring.
        """
        return self._run(self._prepare_score(query, documents, instruction, normalize, truncate, timeout, deadline))

    async def ascore(
        self,
        query: str,
        documents: Sequence[str],
        *,
        instruction: str | None = None,
        normalize: Normalize = False,
        truncate: bool = True,
        timeout: float | None = None,
        deadline: float | None = None,
    ) -> list[float]:
        """`score` for asyncio; never blocks the event loop. Cancelling the task drops the request's pairs."""
        call = self._prepare_score(query, documents, instruction, normalize, truncate, timeout, deadline)
        return await self._arun(call)

    def score_pairs(
        self,
        pairs: Sequence[tuple[str, str] | tuple[str, str, str | None]],
        *,
        normalize: Normalize = False,
        truncate: bool = True,
        timeout: float | None = None,
        deadline: float | None = None,
    ) -> list[float]:
        """Score (query, document) or (query, document, instruction) pairs, each with its own query.

        Args:
            pairs: The pairs; an empty list returns [].
            normalize: As in `score`. Defaults to False.
            truncate: As in `score`. Defaults to True.
            timeout: As in `score`. Defaults to None.
            deadline: As in `score`. Defaults to None.

        Returns:
            One score per pair, in the input order.
        """
        return self._run(self._prepare_pairs(pairs, normalize, truncate, timeout, deadline))

    async def ascore_pairs(
        self,
        pairs: Sequence[tuple[str, str] | tuple[str, str, str | None]],
        *,
        normalize: Normalize = False,
        truncate: bool = True,
        timeout: float | None = None,
        deadline: float | None = None,
    ) -> list[float]:
        """`score_pairs` for asyncio; never blocks the event loop."""
        return await self._arun(self._prepare_pairs(pairs, normalize, truncate, timeout, deadline))

    def rank(
        self,
        query: str,
        documents: Sequence[str],
        *,
        top_k: int | None = None,
        return_documents: bool = False,
        instruction: str | None = None,
        normalize: Normalize = False,
        truncate: bool = True,
        timeout: float | None = None,
        deadline: float | None = None,
    ) -> list[RankResult]:
        """Rank documents by relevance to a query.

        Args:
            query: The search query.
            documents: The documents; an empty list returns [].
            top_k: Keep the best `top_k`. Defaults to None (all).
            return_documents: Put each document's text in its result. Defaults to False.
            instruction: As in `score`. Defaults to None.
            normalize: As in `score`; ranking is the same either way. Defaults to False.
            truncate: As in `score`. Defaults to True.
            timeout: As in `score`. Defaults to None.
            deadline: As in `score`. Defaults to None.

        Returns:
            RankResults sorted by score, highest first; equal scores keep their input order.
        """
        return self._run(
            self._prepare_rank(
                query, documents, top_k, return_documents, instruction, normalize, truncate, timeout, deadline
            )
        )

    async def arank(
        self,
        query: str,
        documents: Sequence[str],
        *,
        top_k: int | None = None,
        return_documents: bool = False,
        instruction: str | None = None,
        normalize: Normalize = False,
        truncate: bool = True,
        timeout: float | None = None,
        deadline: float | None = None,
    ) -> list[RankResult]:
        """`rank` for asyncio; never blocks the event loop."""
        return await self._arun(
            self._prepare_rank(
                query, documents, top_k, return_documents, instruction, normalize, truncate, timeout, deadline
            )
        )

    # -- status ----------------------------------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """What is served: model, backend, precision, template, max_length, limits, version."""
        limits = self.backend.limits
        info = {
            "model": self.model_name,
            "backend": self.backend.name,
            "precision": getattr(self.backend, "precision", None)
            or (self.manifest.precision if self.manifest else None),
            "template": self.encoder.template,
            "max_length": self.encoder.max_length,
            "max_sequence_length": self.encoder.max_sequence_length,
            "limits": {
                "max_batch_size": self._scheduler.max_batch_size,
                "max_seq_len": limits.max_seq_len,
                "max_num_tokens": self._scheduler.max_num_tokens,
                "max_pending_pairs": self._scheduler.max_pending_pairs,
            },
            "version": __version__,
        }
        if self.manifest is not None:
            info["engine_dir"] = str(self.manifest.path)
            info["engine_version"] = self.manifest.rerankrt_version
        return info

    def health(self) -> dict[str, Any]:
        """Check that requests can be served now, for a health probe.

        Returns:
            ``{"ok": True, "backend": ..., "worker_alive": True, "pending_pairs": ..., "pending_requests": ...}``.

        Raises:
            WorkerDiedError, SchedulerClosedError: When the scheduler cannot serve (the message says why).
            BackendError: When the backend reports it cannot serve.
        """
        self._scheduler.health()
        self.backend.health()
        stats = self._scheduler.stats()
        return {
            "ok": True,
            "backend": self.backend.name,
            "worker_alive": stats.worker_alive,
            "pending_pairs": stats.pending_pairs,
            "pending_requests": stats.pending_requests,
        }

    def stats(self) -> SchedulerStats:
        """A snapshot of the scheduler's counters (queue depth, batches, padding efficiency, truncations)."""
        return self._scheduler.stats()

    @property
    def scheduler(self) -> Scheduler:
        return self._scheduler

    # -- lifetime --------------------------------------------------------------------------------------------------

    def close(self, *, drain: bool = False, timeout: float | None = 30.0) -> None:
        """Stop the worker thread and release the backend; idempotent.

        Args:
            drain: Finish admitted requests first; otherwise they fail with SchedulerClosedError. Defaults to False.
            timeout: Seconds to wait for the worker. Defaults to 30.
        """
        if self._closed:
            return
        self._closed = True
        try:
            self._scheduler.close(drain=drain, timeout=timeout)
        finally:
            self.backend.close()

    def __enter__(self) -> Reranker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Reranker(model={self.model_name!r}, backend={self.backend.name!r}, template={self.encoder.template!r})"


__all__ = [
    "BatchStats",
    "DeadlineExceededError",
    "OverloadedError",
    "RankResult",
    "Reranker",
    "ScoreResult",
    "rank_results",
]
