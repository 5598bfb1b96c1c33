"""The typed sections of an engine directory's manifest (re-exported by `rerankrt.manifest`, which reads and
writes them): each a frozen dataclass validated on construction, raising a ValueError that names the field.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from rerankrt._device import Profile, capability_str, parse_capability

PRECISIONS = ("fp8", "bf16", "fp16", "fp32", "int8")


# -- field checks: each raises ValueError naming the field -------------------------------------------------------


def check_int(name: str, value: Any, *, minimum: int = 1, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}{' or null' if optional else ''}, got {value!r}")
    return value


def check_str(name: str, value: Any, *, optional: bool = False, choices: tuple[str, ...] = ()) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string{' or null' if optional else ''}, got {value!r}")
    if choices and value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def as_mapping(name: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{name} must be a JSON object, got {type(value).__name__}")
    return dict(value)


def relative_path(name: str, value: Any) -> str:
    """A path relative to the engine directory that cannot leave it."""
    text = check_str(name, value)
    path = PurePosixPath(text)
    if path.is_absolute() or ".." in path.parts or "\\" in text or text.startswith("~"):
        raise ValueError(f"{name} must be a path inside the engine directory, got {text!r}")
    return path.as_posix()


# -- the sections ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ModelInfo:
    """Where the served weights came from.

    Attributes:
        source: Hub id or local folder given to the build.
        revision: Hub revision (branch, tag or commit); None for a local folder.
        commit: The hub snapshot's commit, when the Hugging Face cache names one.
        local_path: The local folder, when `source` was one.
        form: "causal", "classifier2" or "classifier1": the checkpoint's form before conversion.
        sha256: Weight file name -> sha256 of the source checkpoint.
        converted: The conversion record (architecture, score rule), when the build converted the checkpoint.
    """

    source: str
    revision: str | None = None
    commit: str | None = None
    local_path: str | None = None
    form: str | None = None
    sha256: Mapping[str, str] = field(default_factory=dict)
    converted: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        check_str("model.source", self.source)
        for name in ("revision", "commit", "local_path", "form"):
            check_str(f"model.{name}", getattr(self, name), optional=True)
        digests = as_mapping("model.sha256", self.sha256)
        if not all(isinstance(v, str) for v in digests.values()):
            raise ValueError("model.sha256 must map file names to hex digests")
        object.__setattr__(self, "sha256", digests)
        if self.converted is not None:
            object.__setattr__(self, "converted", as_mapping("model.converted", self.converted))

    @property
    def name(self) -> str:
        """The model's name for `info` and logs: its hub id or folder."""
        return self.source


@dataclass(frozen=True, kw_only=True)
class Target:
    """What the directory was built for.

    Attributes:
        gpu: "h100", "l4", "a100" or "cpu".
        precision: The target's precision ("fp8", "bf16", "fp16", "fp32").
        compute_capability: "9.0" for a TensorRT target, None for the CPU.
        graph_precision: The precision of the shipped model.onnx (a BF16 target may ship the float32 graph when
            no engine was compiled). Defaults to `precision`.
        tensorrt_version: The TensorRT version that compiled engine.plan; None without an engine.
        profiles: The engine's optimization profiles.
        workspace_bytes: TensorRT builder workspace, None for the CPU.
        builder_optimization_level: TensorRT builder level, None for the CPU.
        config: The config file the build read.
    """

    gpu: str
    precision: str
    compute_capability: str | None = None
    graph_precision: str | None = None
    tensorrt_version: str | None = None
    profiles: tuple[Profile, ...] = ()
    workspace_bytes: int | None = None
    builder_optimization_level: int | None = None
    config: str | None = None

    def __post_init__(self) -> None:
        check_str("target.gpu", self.gpu)
        check_str("target.precision", self.precision, choices=PRECISIONS)
        object.__setattr__(self, "graph_precision", self.graph_precision or self.precision)
        check_str("target.graph_precision", self.graph_precision, choices=PRECISIONS)
        try:
            cc = parse_capability(self.compute_capability)
        except ValueError as exc:
            raise ValueError(f"target.compute_capability: {exc}") from None
        object.__setattr__(self, "compute_capability", capability_str(cc))
        check_str("target.tensorrt_version", self.tensorrt_version, optional=True)
        check_str("target.config", self.config, optional=True)
        check_int("target.workspace_bytes", self.workspace_bytes, minimum=0, optional=True)
        check_int("target.builder_optimization_level", self.builder_optimization_level, minimum=0, optional=True)
        if not isinstance(self.profiles, tuple | list):
            raise ValueError(f"target.profiles must be a list, got {type(self.profiles).__name__}")
        profiles = []
        for i, p in enumerate(self.profiles):
            try:
                profiles.append(p if isinstance(p, Profile) else Profile.from_dict(p))
            except ValueError as exc:
                raise ValueError(f"target.profiles[{i}]: {exc}") from None
        object.__setattr__(self, "profiles", tuple(profiles))

    @property
    def capability(self) -> tuple[int, int] | None:
        """`compute_capability` as (major, minor)."""
        return parse_capability(self.compute_capability)


@dataclass(frozen=True, kw_only=True)
class Limits:
    """The largest call the engine takes.

    Attributes:
        max_batch_size: Most rows per call.
        max_seq_len: Longest row, template included.
        max_num_tokens: Most padded tokens (batch x seq) per call.
    """

    max_batch_size: int
    max_seq_len: int
    max_num_tokens: int

    def __post_init__(self) -> None:
        for name in ("max_batch_size", "max_seq_len", "max_num_tokens"):
            check_int(f"limits.{name}", getattr(self, name))

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, kw_only=True)
class TokenIds:
    """The ids the score and the padding use: logit(yes) - logit(no); pad fills rows after their last token."""

    yes: int
    no: int
    pad: int

    def __post_init__(self) -> None:
        for name in ("yes", "no", "pad"):
            check_int(f"token_ids.{name}", getattr(self, name), minimum=0)


@dataclass(frozen=True, kw_only=True)
class Artifacts:
    """The files the backends load, as paths relative to the engine directory (each hashed in `Manifest.files`).

    Attributes:
        onnx: The graph onnxruntime serves (on TensorRT targets the float32-remainder twin of `onnx_tensorrt`).
        engine: The TensorRT engine (TensorRT targets that compiled one).
        onnx_int8: The INT8 dynamic graph (the CPU target with int8_cpu).
        onnx_tensorrt: The BF16/FP16-body graph engine.plan is compiled from (TensorRT targets); `onnx` is then
            its float32-remainder twin, which onnxruntime runs.
        checkpoint: A classifier checkpoint folder (the torch backend).
    """

    onnx: str | None = None
    engine: str | None = None
    onnx_int8: str | None = None
    onnx_tensorrt: str | None = None
    checkpoint: str | None = None

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is not None:
                object.__setattr__(self, f.name, relative_path(f"artifacts.{f.name}", value))

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    def get(self, key: str) -> str | None:
        return self.as_dict().get(key)


@dataclass(frozen=True, kw_only=True)
class Calibration:
    """The pairs the build calibrated and gated on.

    Attributes:
        source: "shipped" or the JSONL path given to the build.
        sha256: The dataset file's sha256.
        calibration_pairs: Pairs the FP8 calibration ran on (0 for unquantized targets).
        heldout_pairs: Held-out pairs the accuracy gate scored.
        heldout_groups: Queries among the held-out pairs.
    """

    source: str
    sha256: str
    calibration_pairs: int
    heldout_pairs: int
    heldout_groups: int

    def __post_init__(self) -> None:
        check_str("calibration.source", self.source)
        check_str("calibration.sha256", self.sha256)
        for name in ("calibration_pairs", "heldout_pairs", "heldout_groups"):
            check_int(f"calibration.{name}", getattr(self, name), minimum=0)


@dataclass(frozen=True, kw_only=True)
class Gate:
    """The accuracy gate's verdict against the float32 reference on the held-out pairs.

    Attributes:
        graph: Which graph the gate scored, e.g. "model.fp8.onnx (FP8 Q/DQ, onnxruntime)".
        precision: The precision of that graph ("fp8", "fp32"): a BF16 target is gated on its float32 graph.
        passed: Whether every threshold was met.
        metrics: The measured metrics.
        thresholds: The thresholds applied.
        extra: Other graphs gated (the INT8 CPU graph), by label -> {passed, metrics, thresholds, failures}.
        estimate: TensorRT targets: the CPU estimate of the engine's own numerics (torch, BF16 body, FP8 fake
            quantization), {label, passed, metrics, thresholds, failures}; informational, never fails a build.
            None elsewhere.
    """

    graph: str
    precision: str
    passed: bool
    metrics: Mapping[str, Any]
    thresholds: Mapping[str, float]
    extra: Mapping[str, Any] = field(default_factory=dict)
    estimate: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        check_str("gate.graph", self.graph)
        if self.estimate is not None:
            estimate = as_mapping("gate.estimate", self.estimate)
            if not isinstance(estimate.get("metrics"), Mapping):
                raise ValueError("gate.estimate must hold the estimate's metrics")
            object.__setattr__(self, "estimate", estimate)
        check_str("gate.precision", self.precision, choices=PRECISIONS)
        if not isinstance(self.passed, bool):
            raise ValueError(f"gate.passed must be true or false, got {self.passed!r}")
        for name in ("metrics", "thresholds", "extra"):
            object.__setattr__(self, name, as_mapping(f"gate.{name}", getattr(self, name)))


@dataclass(frozen=True, kw_only=True)
class Serving:
    """Runtime defaults the build chose for the target.

    Attributes:
        batch_tokens: Padded tokens per batch the scheduler aims for; None: the engine's max_num_tokens.
    """

    batch_tokens: int | None = None

    def __post_init__(self) -> None:
        check_int("serving.batch_tokens", self.batch_tokens, optional=True)
