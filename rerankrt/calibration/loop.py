"""Real query-document pairs -> templated, length-bucketed batches -> calibration forward passes, with progress.

Every pair goes through the build's own `PromptEncoder` (the template and max_length the engine will serve), so
the activations that set the FP8 scales are those of real prompts. Batches group pairs of similar length under a
token budget: little padding, and no row is cut.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from rerankrt.calibration.dataset import Pair
from rerankrt.prompt import Encoded, PromptEncoder
from rerankrt.runtime.backends.base import attention_mask
from rerankrt.tokenizer import padded_batch


@dataclass(frozen=True)
class Batch:
    """One right-padded batch and where its rows came from.

    Attributes:
        input_ids: int64 [batch, seq], right-padded.
        lengths: int64 [batch], real tokens per row.
        index: int64 [batch], the rows' positions in the encoded input.
    """

    input_ids: np.ndarray
    lengths: np.ndarray
    index: np.ndarray

    @property
    def attention_mask(self) -> np.ndarray:
        return attention_mask(self.lengths, self.input_ids.shape[1])

    @property
    def tokens(self) -> int:
        return int(self.input_ids.size)


def encode_pairs(pairs: Sequence[Pair], encoder: PromptEncoder) -> Encoded:
    """Pairs -> token ids through the exact template of the build (instructions included, truncation as served)."""
    return encoder.encode(
        [p.query for p in pairs], [p.document for p in pairs], [p.instruction for p in pairs], truncate=True
    )


def length_batches(
    ids: Sequence[np.ndarray], pad_id: int, *, max_tokens: int, max_batch: int | None = None
) -> list[Batch]:
    """Token-id rows -> right-padded batches of similar lengths, each at most `max_tokens` padded tokens.

    Args:
        ids: One int64 array per row.
        pad_id: Padding token id.
        max_tokens: Budget of padded tokens per batch; a longer row than this gets a batch of its own.
        max_batch: Most rows per batch. Defaults to no limit.

    Returns:
        Batches covering every row once, shortest rows first.
    """
    lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
    order = np.argsort(lengths, kind="stable")
    batches: list[Batch] = []
    start = 0
    while start < len(order):
        stop = start + 1
        # Sorted ascending, so the newest row is the longest: rows x its length is the padded size.
        while stop < len(order) and (stop + 1 - start) * lengths[order[stop]] <= max_tokens:
            if max_batch is not None and stop - start >= max_batch:
                break
            stop += 1
        index = order[start:stop]
        input_ids, lens = padded_batch([ids[i] for i in index], pad_id)
        batches.append(Batch(input_ids=input_ids, lengths=lens, index=index.astype(np.int64)))
        start = stop
    return batches


def progress(iterable, *, total: int | None = None, desc: str = "", unit: str = "batch") -> Iterator:
    """tqdm over `iterable` on a terminal; elsewhere (a log file, a pipe) one line when the stage is done, as bars'
    carriage returns garble logs. A plain iterator where tqdm is missing."""
    import sys
    import time

    terminal = sys.stderr.isatty()
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is in the build extra; progress display is not worth failing for
        tqdm = None
    if terminal and tqdm is not None:
        yield from tqdm(iterable, total=total, desc=desc, unit=unit, dynamic_ncols=True, leave=False)
        return
    if not terminal:
        quiet_library_progress()
    start, n = time.perf_counter(), 0
    for n, item in enumerate(iterable, 1):  # noqa: B007 - n counts what was yielded
        yield item
    print(
        f"{desc}: {n} {unit}{'es' if unit.endswith('h') and n != 1 else 's' if n != 1 else ''} in "
        f"{time.perf_counter() - start:.1f} s",
        file=sys.stderr,
    )


def quiet_library_progress() -> None:
    """Off a terminal, transformers' own bars ("Loading weights", "Writing model shards") go too."""
    import sys

    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()


def forward_loop(batches: Sequence[Batch], *, desc: str = "calibrating") -> Callable:
    """A ModelOpt ``forward_loop(model)`` that runs a scorer module over every batch, showing progress.

    Args:
        batches: Calibration batches (see `length_batches`).
        desc: Progress bar label. Defaults to "calibrating".

    Returns:
        A callable taking the module `rerankrt.build.export.scorer_module` built.
    """

    def loop(model) -> None:
        import torch

        with torch.no_grad():
            for batch in progress(batches, total=len(batches), desc=desc):
                model(torch.from_numpy(batch.input_ids), torch.from_numpy(batch.attention_mask))

    return loop


def calibration_arrays(batches: Sequence[Batch]) -> list[dict[str, np.ndarray]]:
    """Batches -> ONNX input feeds (``input_ids``, ``attention_mask``), one dict per batch."""
    from rerankrt.manifest import ONNX_INPUTS

    return [{ONNX_INPUTS[0]: b.input_ids, ONNX_INPUTS[1]: b.attention_mask} for b in batches]
