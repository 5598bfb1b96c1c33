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
import functools
import inspect
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from rerankrt import __version__
from rerankrt.manifest import Manifest, read_manifest
from rerankrt.prompt import ESTIMATED_MAX, PromptEncoder
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
from rerankrt.runtime.ranking import (
    Normalize,
    RankResult,
    check_normalize,
    check_request,
    check_top_k,
    deadline_of,
    normalized_scores,
    pair_columns,
    rank_results,
)

# TensorRT kernels prefer sequence lengths in multiples of 8; CPU backends gain nothing from extra padding.
DEFAULT_PAD_MULTIPLE = {"tensorrt": 8}

logger = logging.getLogger("rerankrt.runtime")


@dataclass(frozen=True)
class _Call:
    """One validated call, shared by a sync method and its async twin: how to submit it, how to shape its result."""

    submit: Callable[[], RequestFuture]
    finish: Callable[[ScoreResult], Any]


def _async_twin(method: Callable, prepare: str, doc: str) -> Callable:
    """The asyncio twin of a public scoring method: its signature, its arguments to the same `_prepare*`, awaited.

    The sync method spells the signature and the docs once; the twin binds a call to that signature (defaults and
    argument errors exactly as the sync method's) and hands the arguments, by name, to the `_Call` builder they share.
    """
    signature = inspect.signature(method)

    @functools.wraps(method)
    async def twin(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        del arguments["self"]
        return await self._arun(getattr(self, prepare)(**arguments))

    twin.__name__ = f"a{method.__name__}"
    twin.__qualname__ = f"Reranker.{twin.__name__}"
    twin.__doc__ = doc
    del twin.__wrapped__  # inspect.signature reads the twin's own (the same) signature, not the sync method
    twin.__signature__ = signature
    return twin


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

    # -- scoring: each public call is a thin shell over one `_Call`, run by `_run`; its asyncio twin runs it by `_arun`

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
        until = deadline_of(timeout, deadline)
        submit = partial(self._scheduler.submit, queries, documents, instructions, truncate=truncate, deadline=until)
        return _Call(submit, finish or (lambda result: result))

    def _prepare_score(self, query, documents, instruction, normalize, truncate, timeout, deadline) -> _Call:
        check_normalize(normalize)
        query, documents, instruction = check_request(query, documents, instruction)
        finish = partial(self._normalized, normalize=normalize)
        return self._prepare(query, documents, instruction, truncate, timeout, deadline, finish)

    def _prepare_pairs(self, pairs, normalize, truncate, timeout, deadline) -> _Call:
        check_normalize(normalize)
        queries, documents, instructions = pair_columns(pairs)
        finish = partial(self._normalized, normalize=normalize)
        return self._prepare(queries, documents, instructions, truncate, timeout, deadline, finish)

    def _prepare_rank(
        self, query, documents, top_k, return_documents, instruction, normalize, truncate, timeout, deadline
    ) -> _Call:
        check_normalize(normalize)
        query, documents, instruction = check_request(query, documents, instruction)
        check_top_k(top_k)

        def finish(result: ScoreResult) -> list[RankResult]:
            shown = normalized_scores(result.scores, normalize, self.estimated_max)
            return rank_results(result.scores, documents, top_k=top_k, return_documents=return_documents, shown=shown)

        return self._prepare(query, documents, instruction, truncate, timeout, deadline, finish)

    def _prepare_ids(self, ids, timeout, deadline) -> _Call:
        submit = partial(self._scheduler.submit_ids, ids, deadline=deadline_of(timeout, deadline))
        return _Call(submit, lambda result: [float(x) for x in result.scores])

    def _normalized(self, result: ScoreResult, *, normalize: Normalize) -> list[float]:
        return normalized_scores(result.scores, normalize, self.estimated_max)

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

    ascore_request = _async_twin(
        score_request,
        "_prepare",
        "`score_request` for asyncio: tokenizes in a worker thread and awaits the scheduler without blocking.",
    )

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

    ascore_ids = _async_twin(score_ids, "_prepare_ids", "`score_ids` for asyncio; never blocks the event loop.")

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

    ascore = _async_twin(
        score,
        "_prepare_score",
        "`score` for asyncio; never blocks the event loop. Cancelling the task drops the request's pairs.",
    )

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

    ascore_pairs = _async_twin(score_pairs, "_prepare_pairs", "`score_pairs` for asyncio; never blocks the event loop.")

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
        call = self._prepare_rank(
            query, documents, top_k, return_documents, instruction, normalize, truncate, timeout, deadline
        )
        return self._run(call)

    arank = _async_twin(rank, "_prepare_rank", "`rank` for asyncio; never blocks the event loop.")

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


__all__ = ["BatchStats", "DeadlineExceededError", "OverloadedError", "RankResult", "Reranker", "ScoreResult"]
