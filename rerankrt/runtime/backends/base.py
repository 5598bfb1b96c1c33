"""The one small interface between the scheduler and an execution engine.

A backend turns right-padded token-id batches into float32 relevance scores. It knows nothing of prompts,
requests, tokenizers or HTTP. The score is logit("1") - logit("0") read at each row's last real token.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np


class BackendError(RuntimeError):
    """A backend failed to score a batch; the batch's requests fail, the scheduler keeps serving."""


@dataclass(frozen=True, kw_only=True)
class ModelShape:
    """The transformer sizes that set a batch's memory (the scheduler's memory model, `batching.policy.batch_bytes`).

    Attributes:
        layers: Transformer layers.
        hidden: Hidden width.
        heads: Attention (query) heads: attention scores take rows x heads x seq^2 values per layer.
    """

    layers: int
    hidden: int
    heads: int

    def __post_init__(self) -> None:
        for name in ("layers", "hidden", "heads"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ModelShape.{name} must be a positive int, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class BackendLimits:
    """What a backend can take in one call.

    Attributes:
        max_batch_size: Most rows in one call.
        max_seq_len: Longest row, in tokens (padding included).
        max_num_tokens: Most tokens in one call, counted as batch * padded sequence length.
        model: The model's sizes, where the backend can read them (for the scheduler's memory bound); None: unknown.
    """

    max_batch_size: int
    max_seq_len: int
    max_num_tokens: int
    model: ModelShape | None = None


class Backend(abc.ABC):
    """Token ids in, scores out.

    `score` takes `input_ids` int64 [batch, seq], right-padded with `pad_id`, and `lengths` int64 [batch]
    (1 <= length <= seq); it returns float32 [batch]. Rows never see each other: a row's score does not depend on
    what else is in the batch. Implementations are called from one worker thread at a time.
    """

    name: str = "abstract"
    precision: str = "fp32"
    # Whether `score` computes on the host's CPU cores (onnxruntime, torch on the CPU). The scheduler then never
    # tokenizes while a batch runs: both would fight for the same cores and slow each other down several times.
    # A GPU backend leaves it False, so that tokenizing on the CPU overlaps the GPU's work.
    runs_on_host: bool = False
    # How many batches the scheduler may have submitted and not yet collected. 1: `submit` computes the batch
    # (host backends, where the worker thread is the compute). 2: `submit` only enqueues on a device and returns,
    # so the worker forms and enqueues batch N+1 while N runs, and the device never waits for the host.
    pipeline_depth: int = 1

    @property
    @abc.abstractmethod
    def limits(self) -> BackendLimits:
        """The batch limits this backend was built for."""

    @abc.abstractmethod
    def score(self, input_ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Score a right-padded batch.

        Args:
            input_ids: int64 [batch, seq] token ids, right-padded.
            lengths: int64 [batch] number of real tokens per row.

        Returns:
            float32 [batch] raw scores (logits; sigmoid gives P("1")).

        Raises:
            BackendError: When the engine fails on this batch.
        """

    def submit(self, input_ids: np.ndarray, lengths: np.ndarray) -> object:
        """Start scoring a batch; `result(handle)` returns its scores. Defaults to running `score` now.

        A backend with ``pipeline_depth`` > 1 enqueues the batch and returns at once; up to ``pipeline_depth``
        handles are outstanding, collected in the order they were submitted. The arrays may be reused by the caller
        once this returns (a backend copies what it needs).

        Raises:
            BackendError: When the batch cannot be enqueued (its `result` is then never asked for).
        """
        return _Done(self.score(input_ids, lengths))

    def result(self, handle: object) -> np.ndarray:
        """Wait for a submitted batch and return its float32 [batch] scores.

        Raises:
            BackendError: When the engine failed on this batch.
        """
        if not isinstance(handle, _Done):
            raise TypeError(f"{type(self).__name__}.result takes what its submit returned, got {handle!r}")
        return handle.scores

    def max_rows(self, seq_len: int) -> int:
        """Most rows one call takes at padded length `seq_len`. Defaults to what the limits allow.

        Engines with optimization profiles allow fewer at some lengths: a batch must fit one profile whole.
        """
        limits = self.limits
        return min(limits.max_batch_size, limits.max_num_tokens // max(seq_len, 1))

    def health(self) -> None:  # noqa: B027 - healthy unless a backend says otherwise
        """Raise BackendError when the backend cannot serve. Defaults to healthy."""

    def close(self) -> None:  # noqa: B027 - nothing to release unless a backend holds memory
        """Release engine memory. Defaults to nothing."""


class _Done:
    """The handle of a batch scored at submission (the default `submit`)."""

    __slots__ = ("scores",)

    def __init__(self, scores: np.ndarray) -> None:
        self.scores = scores


def attention_mask(lengths: np.ndarray, seq_len: int) -> np.ndarray:
    """Row lengths int [batch] -> the int64 [batch, seq_len] attention mask of right-padded rows (1 = real token)."""
    return (np.arange(seq_len)[None, :] < np.asarray(lengths)[:, None]).astype(np.int64)


def check_batch(input_ids: np.ndarray, lengths: np.ndarray, limits: BackendLimits) -> None:
    """Validate a batch against the interface contract and `limits`; raise ValueError naming what is wrong."""
    if input_ids.ndim != 2:
        raise ValueError(f"input_ids must be 2-D [batch, seq], got shape {input_ids.shape}")
    batch, seq = input_ids.shape
    if lengths.shape != (batch,):
        raise ValueError(f"lengths must have shape ({batch},), got {lengths.shape}")
    if batch == 0 or seq == 0:
        raise ValueError("empty batch")
    if lengths.min() < 1 or lengths.max() > seq:
        raise ValueError(f"lengths must lie in [1, {seq}], got [{lengths.min()}, {lengths.max()}]")
    if batch > limits.max_batch_size:
        raise ValueError(f"batch of {batch} rows exceeds max_batch_size={limits.max_batch_size}")
    if seq > limits.max_seq_len:
        raise ValueError(f"sequence of {seq} tokens exceeds max_seq_len={limits.max_seq_len}")
    if batch * seq > limits.max_num_tokens:
        raise ValueError(f"batch of {batch}x{seq} tokens exceeds max_num_tokens={limits.max_num_tokens}")
