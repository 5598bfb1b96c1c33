"""Every scheduler knob in one frozen dataclass, validated where it is defined."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from rerankrt.runtime.backends.base import Backend
from rerankrt.runtime.batching.policy import BatchShape

# The memory budget of one batch on a host backend (`policy.batch_bytes`) when none is set: a 14-head model (the
# released mxbai-rerank-base-v2) then runs 4 rows of 1,024 tokens or 1 of 2,048 per batch, and a 4-head one 6 rows
# of 2,048; a longer row runs alone. GPU backends take no default: TensorRT sizes its memory for its profiles when
# the engine is built.
DEFAULT_HOST_BATCH_BYTES = 1 << 30


def _positive_int(name: str, value: Any, *, optional: bool = False) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        what = "a positive int or None" if optional else "a positive int"
        raise ValueError(f"SchedulerConfig.{name} must be {what}, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class SchedulerConfig:
    """How the scheduler batches: limits, queue size, padding and tokenizing steps.

    Attributes:
        max_batch_size: Rows per batch. Defaults to None: the backend's limit (never more than it).
        max_num_tokens: Padded tokens (rows x padded length) per batch. Defaults to None: the backend's limit (never
            more than it).
        max_pending_pairs: Admitted pairs not yet in a batch before new requests are refused with OverloadedError.
            A request arriving at an empty queue is always admitted, whatever its size. Defaults to 65536.
        pad_multiple: Round the padded length up to a multiple of this (8 or 16 can suit GPU kernels). Defaults to 1.
        fill_ratio: Fewest real tokens, as a fraction of the padded length, for a pair to join a batch it does not
            set the length of (and for a small request to go in whole); lower packs fuller batches, higher wastes
            less padding. Defaults to 0.8.
        tokenize_chunk: Pairs tokenized per step on submission; each step's pairs can run while the next tokenizes,
            and a request of at most this many pairs counts as small for turns on the host CPU. Defaults to 64: a
            smaller chunk frees the tokenizer (and the host CPU) sooner for small requests.
        batch_tokens: Padded tokens to aim for per batch, at most max_num_tokens; a row longer than this still runs,
            alone. Smaller batches cut the wait of small requests where one backend call is slow (CPU). Defaults to
            None: max_num_tokens.
        max_batch_bytes: Working memory of one batch (`policy.batch_bytes`: attention rows x heads x seq^2 plus
            activations rows x seq x hidden) to stay under, where the backend reports its model's sizes; a row over
            it still runs, alone. Defaults to None: `DEFAULT_HOST_BATCH_BYTES` (1 GiB) on host backends, no bound on
            GPU ones.
        goodput: Serve large requests so that they complete: earliest deadline first among large requests, and
            refuse a request with a deadline (OverloadedError with `retry_after_s`) when measured throughput says
            it cannot finish in time behind the work ahead of it. False: large requests take turns and every
            request within max_pending_pairs is admitted. Defaults to True.

    Raises:
        ValueError: Naming the field, for a value out of range or of the wrong type.
    """

    max_batch_size: int | None = None
    max_num_tokens: int | None = None
    max_pending_pairs: int = 65536
    pad_multiple: int = 1
    fill_ratio: float = 0.8
    tokenize_chunk: int = 64
    batch_tokens: int | None = None
    max_batch_bytes: int | None = None
    goodput: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.goodput, bool):
            raise ValueError(f"SchedulerConfig.goodput must be a bool, got {self.goodput!r}")
        for name in ("max_batch_size", "max_num_tokens", "batch_tokens", "max_batch_bytes"):
            _positive_int(name, getattr(self, name), optional=True)
        for name in ("max_pending_pairs", "pad_multiple", "tokenize_chunk"):
            _positive_int(name, getattr(self, name))
        ratio = self.fill_ratio
        if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0.0 <= ratio <= 1.0:
            raise ValueError(f"SchedulerConfig.fill_ratio must lie in [0, 1], got {ratio!r}")

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> SchedulerConfig:
        """A config from keyword options, refusing unknown names with a TypeError that lists the valid ones."""
        unknown = sorted(set(options) - OPTION_NAMES)
        if unknown:
            raise TypeError(f"unknown scheduler option(s) {unknown}; the scheduler takes {sorted(OPTION_NAMES)}")
        return cls(**options)

    def shape_for(self, backend: Backend, longest_sequence: int) -> BatchShape:
        """The batch limits this config gives on `backend`, for an encoder whose sequences reach `longest_sequence`.

        Raises:
            ValueError: When the encoder can produce a sequence the backend cannot take.
        """
        limits = backend.limits
        max_num_tokens = min(self.max_num_tokens or limits.max_num_tokens, limits.max_num_tokens)
        if longest_sequence > limits.max_seq_len:
            raise ValueError(
                f"the prompt encoder makes sequences of up to {longest_sequence} tokens but the backend takes at most "
                f"max_seq_len={limits.max_seq_len}; lower max_length or use an engine built for longer sequences"
            )
        if max_num_tokens < longest_sequence:
            raise ValueError(
                f"max_num_tokens={max_num_tokens} cannot hold one sequence of {longest_sequence} tokens; raise it"
            )
        return BatchShape(
            max_batch_size=min(self.max_batch_size or limits.max_batch_size, limits.max_batch_size),
            batch_tokens=min(self.batch_tokens or max_num_tokens, max_num_tokens),
            max_num_tokens=max_num_tokens,
            longest_row=min(limits.max_seq_len, max_num_tokens),
            pad_multiple=self.pad_multiple,
            fill_ratio=float(self.fill_ratio),
            max_rows=backend.max_rows,
            max_batch_bytes=self.max_batch_bytes
            or (DEFAULT_HOST_BATCH_BYTES if getattr(backend, "runs_on_host", False) else None),
            model=getattr(limits, "model", None),
            deadline_first=self.goodput,
        )


OPTION_NAMES = frozenset(f.name for f in fields(SchedulerConfig))

__all__ = ["DEFAULT_HOST_BATCH_BYTES", "OPTION_NAMES", "SchedulerConfig"]
