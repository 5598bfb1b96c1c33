"""The torch backend: the Hugging Face classifier, float32 on the CPU (the reference), or BF16 with SDPA on a GPU.

On the CPU it is the float32 reference later stages are checked against, and computes on the host's cores
(``runs_on_host``). With ``device="cuda"`` it is what a user would run instead of TensorRT, and the fallback where
TensorRT cannot be installed: weights in BF16, PyTorch's scaled-dot-product attention, and pipelined
(``pipeline_depth`` 2): `submit` queues the forward pass and a non-blocking copy of the scores into pinned memory
on a side stream and returns; `result` waits on that batch's event only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rerankrt._optional import require
from rerankrt.runtime.backends.base import Backend, BackendError, BackendLimits, attention_mask, check_batch


class TorchBackend(Backend):
    """Scores right-padded batches with a 1- or 2-label sequence classifier.

    Args:
        model_dir: A classifier checkpoint folder (the converted 1-logit form, or the 2-label form).
        max_batch_size: Most rows per call. Defaults to 64.
        max_seq_len: Longest row. Defaults to 8192 + template.
        max_num_tokens: Most padded tokens per call. Defaults to 16384.
        threads: torch intra-op threads. Defaults to torch's choice.
        device: "cpu" (float32) or "cuda[:N]" (BF16, SDPA). Defaults to "cpu".

    Raises:
        BackendError: For a head of another size, or a CUDA device this torch cannot use.
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
        device: str = "cpu",
    ) -> None:
        self._torch = torch = require("torch", purpose="the torch backend")
        transformers = require("transformers", purpose="the torch backend")
        if threads:
            torch.set_num_threads(int(threads))
        self.device = torch.device(device)
        kwargs = {"dtype": torch.float32}
        if self.device.type == "cuda":
            if not torch.cuda.is_available():
                raise BackendError(
                    f"the torch backend was asked for {device} but this torch ({torch.__version__}) sees no CUDA "
                    f"device; use device='cpu' or install a CUDA build of torch"
                )
            kwargs = {"dtype": torch.bfloat16, "attn_implementation": "sdpa"}
            self.precision, self.runs_on_host, self.pipeline_depth = "bf16", False, 2
        self.model = transformers.AutoModelForSequenceClassification.from_pretrained(model_dir, **kwargs)
        self.model = self.model.to(self.device).eval()
        labels = self.model.config.num_labels
        if labels not in (1, 2):
            raise BackendError(f"{model_dir}: a reranker head has 1 or 2 labels, this one has {labels}")
        self._two_labels = labels == 2
        self._limits = BackendLimits(
            max_batch_size=max_batch_size, max_seq_len=max_seq_len, max_num_tokens=max_num_tokens
        )
        self._stream = torch.cuda.Stream(self.device) if self.device.type == "cuda" else None

    @property
    def limits(self) -> BackendLimits:
        return self._limits

    def _forward(self, input_ids: np.ndarray, lengths: np.ndarray):
        """Queue the forward pass; returns the float32 scores tensor on the model's device."""
        check_batch(input_ids, lengths, self._limits)
        torch, dev = self._torch, self.device
        ids = torch.from_numpy(np.ascontiguousarray(input_ids, dtype=np.int64)).to(dev, non_blocking=True)
        n = torch.from_numpy(np.ascontiguousarray(lengths, dtype=np.int64)).to(dev, non_blocking=True)
        mask = torch.from_numpy(attention_mask(lengths, input_ids.shape[1])).to(dev, non_blocking=True)
        try:
            with torch.inference_mode():
                hidden = self.model.base_model(input_ids=ids, attention_mask=mask).last_hidden_state
                last = hidden[torch.arange(ids.shape[0], device=dev), n - 1]
                logits = self.model.score(last).float()
        except Exception as exc:  # noqa: BLE001 - any torch failure is this batch's failure
            raise BackendError(f"torch backend failed on a {tuple(ids.shape)} batch: {exc}") from exc
        return logits[:, 1] - logits[:, 0] if self._two_labels else logits[:, 0]

    def score(self, input_ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        if self._stream is not None:
            return self.result(self.submit(input_ids, lengths))
        return self._forward(input_ids, lengths).numpy().astype(np.float32)

    def submit(self, input_ids: np.ndarray, lengths: np.ndarray):
        if self._stream is None:
            return super().submit(input_ids, lengths)
        torch = self._torch
        with torch.cuda.stream(self._stream):
            out = self._forward(input_ids, lengths)
            host = torch.empty(out.shape, dtype=torch.float32, pin_memory=True)
            host.copy_(out, non_blocking=True)
            done = torch.cuda.Event()
            done.record(self._stream)
        return host, done

    def result(self, handle) -> np.ndarray:
        if self._stream is None:
            return super().result(handle)
        host, done = handle
        try:
            done.synchronize()
        except Exception as exc:  # noqa: BLE001 - a CUDA failure surfaces here, asynchronously
            raise BackendError(f"torch backend failed on a batch on {self.device}: {exc}") from exc
        return host.numpy().copy()

    def close(self) -> None:
        if self._stream is not None:
            self._stream.synchronize()  # nothing in flight when the model goes
