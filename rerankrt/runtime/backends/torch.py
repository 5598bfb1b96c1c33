"""The float32 reference: the Hugging Face classifier in torch, on the CPU. Later stages are checked against it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rerankrt._optional import require
from rerankrt.runtime.backends.base import Backend, BackendError, BackendLimits, attention_mask, check_batch


class TorchBackend(Backend):
    """Scores right-padded batches with a 1- or 2-label sequence classifier in float32.

    Args:
        model_dir: A classifier checkpoint folder (the converted 1-logit form, or the 2-label form).
        max_batch_size: Most rows per call. Defaults to 64.
        max_seq_len: Longest row. Defaults to 8192 + template.
        max_num_tokens: Most padded tokens per call. Defaults to 16384.
        threads: torch intra-op threads. Defaults to torch's choice.
    """

    name = "torch"
    precision = "fp32"
    runs_on_host = True  # the reference runs on the CPU

    def __init__(
        self,
        model_dir: str | Path,
        *,
        max_batch_size: int = 64,
        max_seq_len: int = 8448,
        max_num_tokens: int = 16384,
        threads: int | None = None,
    ) -> None:
        self._torch = require("torch", purpose="the torch reference backend")
        transformers = require("transformers", purpose="the torch reference backend")
        if threads:
            self._torch.set_num_threads(int(threads))
        self.model = transformers.AutoModelForSequenceClassification.from_pretrained(
            model_dir, dtype=self._torch.float32
        ).eval()
        labels = self.model.config.num_labels
        if labels not in (1, 2):
            raise BackendError(f"{model_dir}: a reranker head has 1 or 2 labels, this one has {labels}")
        self._two_labels = labels == 2
        self._limits = BackendLimits(
            max_batch_size=max_batch_size, max_seq_len=max_seq_len, max_num_tokens=max_num_tokens
        )

    @property
    def limits(self) -> BackendLimits:
        return self._limits

    def score(self, input_ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        check_batch(input_ids, lengths, self._limits)
        torch = self._torch
        ids = torch.from_numpy(np.ascontiguousarray(input_ids, dtype=np.int64))
        n = torch.from_numpy(np.ascontiguousarray(lengths, dtype=np.int64))
        mask = torch.from_numpy(attention_mask(lengths, ids.shape[1]))
        try:
            with torch.inference_mode():
                hidden = self.model.base_model(input_ids=ids, attention_mask=mask).last_hidden_state
                last = hidden[torch.arange(ids.shape[0]), n - 1]
                logits = self.model.score(last).float()
        except Exception as exc:  # noqa: BLE001 - any torch failure is this batch's failure
            raise BackendError(f"torch backend failed on a {tuple(ids.shape)} batch: {exc}") from exc
        out = logits[:, 1] - logits[:, 0] if self._two_labels else logits[:, 0]
        return out.numpy().astype(np.float32)
