"""What a caller may ask of a backend: limits below the engine's, and each backend's own options, as dataclasses."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from rerankrt.runtime.backends.base import BackendLimits


def _check_positive(owner: str, name: str, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{owner}.{name} must be a positive int or None, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class LimitOptions:
    """Limits lower than the engine's; None keeps the engine's.

    Attributes:
        max_batch_size: Most rows per call. Defaults to None.
        max_seq_len: Longest row, padding included. Defaults to None.
        max_num_tokens: Most padded tokens (rows x length) per call. Defaults to None.
    """

    max_batch_size: int | None = None
    max_seq_len: int | None = None
    max_num_tokens: int | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            _check_positive("LimitOptions", f.name, getattr(self, f.name))

    def within(self, engine: BackendLimits) -> BackendLimits:
        """The limits to serve with: these, each at most the engine's.

        Raises:
            ValueError: For a limit above the engine's.
        """
        out = {}
        for f in fields(self):
            value, limit = getattr(self, f.name), getattr(engine, f.name)
            if value is not None and value > limit:
                raise ValueError(f"{f.name}={value} must lie in [1, {limit}] (the engine's limit)")
            out[f.name] = limit if value is None else value
        return BackendLimits(**out)


@dataclass(frozen=True, kw_only=True)
class OnnxOptions:
    """The onnxruntime backend's options.

    Attributes:
        threads: Intra-op threads. Defaults to None: onnxruntime's choice.
        artifact: The manifest artifact to serve (e.g. "onnx_int8"). Defaults to "onnx".
    """

    threads: int | None = None
    artifact: str = "onnx"

    def __post_init__(self) -> None:
        _check_positive("OnnxOptions", "threads", self.threads)
        if not isinstance(self.artifact, str) or not self.artifact:
            raise ValueError(f"OnnxOptions.artifact must name a manifest artifact, got {self.artifact!r}")


@dataclass(frozen=True, kw_only=True)
class TorchOptions:
    """The torch reference backend's options.

    Attributes:
        threads: torch intra-op threads. Defaults to None: torch's choice.
        model_dir: A classifier checkpoint folder. Defaults to None: the manifest's "checkpoint" artifact.
        device: "cpu" (float32, the reference) or "cuda[:N]" (BF16 with SDPA attention, pipelined), or a CUDA
            index. Defaults to "cpu".
    """

    threads: int | None = None
    model_dir: str | Path | None = None
    device: str | int = "cpu"

    def __post_init__(self) -> None:
        _check_positive("TorchOptions", "threads", self.threads)
        if self.model_dir is not None and not isinstance(self.model_dir, str | Path):
            raise ValueError(f"TorchOptions.model_dir must be a path, got {self.model_dir!r}")
        if isinstance(self.device, int) and not isinstance(self.device, bool) and self.device >= 0:
            object.__setattr__(self, "device", f"cuda:{self.device}")  # a CUDA index, as TensorRTOptions takes
        if not isinstance(self.device, str) or not re.fullmatch(r"cpu|cuda(:\d+)?", self.device):
            raise ValueError(f"TorchOptions.device must be 'cpu', 'cuda' or 'cuda:<index>', got {self.device!r}")


@dataclass(frozen=True, kw_only=True)
class TensorRTOptions:
    """The TensorRT backend's options.

    Attributes:
        device: CUDA device index. Defaults to 0.
    """

    device: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.device, bool) or not isinstance(self.device, int) or self.device < 0:
            raise ValueError(f"TensorRTOptions.device must be a CUDA device index (int >= 0), got {self.device!r}")


BackendOptions = OnnxOptions | TorchOptions | TensorRTOptions
OPTIONS_TYPES: dict[str, type[BackendOptions]] = {
    "onnxruntime": OnnxOptions,
    "tensorrt": TensorRTOptions,
    "torch": TorchOptions,
}
LIMIT_NAMES = frozenset(f.name for f in fields(LimitOptions))
# Every backend's option names: what `Reranker.load` routes to the backend besides the limits.
OPTION_NAMES = frozenset(f.name for cls in OPTIONS_TYPES.values() for f in fields(cls))


def options_from(backend: str, options: dict[str, Any]) -> tuple[LimitOptions, BackendOptions]:
    """Keyword options -> (limits, the backend's options), refusing names the backend does not take.

    Raises:
        TypeError: For an unknown name, listing the valid ones.
        ValueError: For a value out of range, naming the field.
    """
    cls = OPTIONS_TYPES[backend]
    own = {f.name for f in fields(cls)}
    unknown = sorted(set(options) - own - LIMIT_NAMES)
    if unknown:
        raise TypeError(f"unknown option(s) {unknown} for the {backend} backend; it takes {sorted(LIMIT_NAMES | own)}")
    limits = LimitOptions(**{k: v for k, v in options.items() if k in LIMIT_NAMES})
    return limits, cls(**{k: v for k, v in options.items() if k in own})


__all__ = [
    "LIMIT_NAMES",
    "OPTIONS_TYPES",
    "OPTION_NAMES",
    "BackendOptions",
    "LimitOptions",
    "OnnxOptions",
    "TensorRTOptions",
    "TorchOptions",
    "options_from",
]
