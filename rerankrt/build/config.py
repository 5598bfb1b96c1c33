"""rerankrt/configs/<gpu>.yaml -> a validated, frozen `BuildConfig`, before any work starts.

One file per target: precision, target compute capability, token and batch limits, TensorRT optimization profiles,
workspace, builder optimization level, calibration sizes and accuracy-gate thresholds. Every check raises a
`ConfigError` (a ValueError) that says what to change. ``auto`` picks the file from the GPU's compute capability.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from rerankrt import _device
from rerankrt._device import FP8_MIN_CAPABILITY, GPUS, Profile, capability_str, has_fp8

# The shipped configs are package data (found through importlib.resources, so a wheel install has them too).
CONFIG_PACKAGE = "rerankrt"
CONFIG_FOLDER = "configs"
GPU_CHOICES = (*GPUS, "auto")
PRECISIONS = ("fp8", "bf16", "fp16", "fp32")
CPU_PRECISIONS = ("fp32",)
ROUTES = ("onnx_ptq", "torch")
GPU_NAMES = {"h100": "H100", "l4": "L4", "a100": "A100", "cpu": "CPU"}


class ConfigError(ValueError):
    """A build configuration that cannot work; the message says what to change."""


PROFILE_LADDER = "ladder"  # profiles: ladder -> computed from the limits by `profile_ladder`
DEFAULT_PROFILE_FILL = 0.75


def profile_ladder(
    max_batch_size: int, max_seq_len: int, max_num_tokens: int, *, fill: float = DEFAULT_PROFILE_FILL
) -> tuple[Profile, ...]:
    """Limits -> optimization profiles whose rows x padded length reach `fill` of max_num_tokens at every length.

    Rungs from max_seq_len down: a rung at padded length ``top`` allows ``rows = min(max_batch_size,
    max_num_tokens // top)`` rows, which fill the budget down to ``ceil(fill * max_num_tokens / rows)``; the next
    rung starts just below that, rounded up to a multiple of 8 (overlapping rungs are harmless: the runtime takes
    the profile with the most rows at a length). The ladder stops at the first rung that allows max_batch_size
    rows: below it the batch, not the budget, is the limit. Each profile spans [1, 1] .. [rows, top] and is
    tuned (opt) for its full-budget batch.
    """
    if min(max_batch_size, max_seq_len, max_num_tokens) < 1:
        raise ConfigError("profile_ladder needs positive limits")
    rungs: list[tuple[int, int]] = []
    top = max_seq_len
    while top >= 1:
        rows = min(max_batch_size, max_num_tokens // top)
        if rows < 1:
            raise ConfigError(f"max_num_tokens={max_num_tokens} cannot hold one row of {top} tokens")
        rungs.append((rows, top))
        if rows == max_batch_size:
            break
        low = math.ceil(fill * max_num_tokens / rows)  # shortest length this rung still fills
        below = min(top - 1, math.ceil((low - 1) / 8) * 8)
        if below < 1:
            break
        top = below
    return tuple(Profile(min=(1, 1), opt=(rows, top), max=(rows, top)) for rows, top in rungs)


def rows_at(profiles: tuple[Profile, ...], seq: int, *, max_batch_size: int, max_num_tokens: int) -> int:
    """Most rows one call holds at padded length `seq`: the limits, and a profile that holds the batch whole
    (the TensorRT backend's `max_rows`)."""
    fitting = [p.max[0] for p in profiles if p.min[1] <= seq <= p.max[1]]
    return min(max_batch_size, max_num_tokens // max(seq, 1), max(fitting, default=0))


def worst_profile_fill(
    profiles: tuple[Profile, ...], *, max_batch_size: int, max_seq_len: int, max_num_tokens: int
) -> tuple[float, int]:
    """(lowest budget fill, the padded length where it occurs) over every length 1..max_seq_len; a length that
    reaches max_batch_size rows counts as full."""
    worst, where = 1.0, 0
    for seq in range(1, max_seq_len + 1):
        rows = rows_at(profiles, seq, max_batch_size=max_batch_size, max_num_tokens=max_num_tokens)
        fill = 1.0 if rows >= max_batch_size else rows * seq / max_num_tokens
        if fill < worst:
            worst, where = fill, seq
    return worst, where


def parse_capability(value: str | float | tuple | None) -> tuple[int, int] | None:
    """ "9.0", 9.0, "sm90" or (9, 0) -> (9, 0); None stays None (`rerankrt._device.parse_capability`).

    Raises:
        ConfigError: For anything else.
    """
    try:
        return _device.parse_capability(value)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


@dataclass(frozen=True, kw_only=True)
class GateThresholds:
    """What the quantized graph must reach against the float32 reference on the held-out pairs.

    Attributes:
        min_spearman: Mean per-query Spearman rank correlation.
        min_kendall: Mean per-query Kendall tau.
        min_top1: Fraction of queries whose top document is the reference's.
        min_top5: Mean overlap of each query's top-5 with the reference's top-5.
        max_abs_error: Largest absolute score difference (raw logit units).
        max_mean_abs_error: Mean absolute score difference.
    """

    min_spearman: float
    min_kendall: float
    min_top1: float
    min_top5: float
    max_abs_error: float
    max_mean_abs_error: float

    def __post_init__(self) -> None:
        for name in ("min_spearman", "min_kendall", "min_top1", "min_top5"):
            value = float(getattr(self, name))
            if not -1.0 <= value <= 1.0:
                raise ConfigError(f"gate.{name} must lie in [-1, 1], got {value}")
            object.__setattr__(self, name, value)
        for name in ("max_abs_error", "max_mean_abs_error"):
            value = float(getattr(self, name))
            if value <= 0:
                raise ConfigError(f"gate.{name} must be > 0, got {value}")
            object.__setattr__(self, name, value)


@dataclass(frozen=True, kw_only=True)
class BuildConfig:
    """Everything one build target needs, validated on construction.

    Attributes:
        gpu: Target name: "h100", "l4", "a100" or "cpu".
        precision: "fp8", "bf16", "fp16" (TensorRT targets) or "fp32" (CPU).
        compute_capability: Target GPU's compute capability, e.g. "9.0"; None for the CPU.
        max_length: Prompt token cap, as the template defines it (rerankrt.prompt).
        max_batch_size: Most rows per engine call.
        max_seq_len: Longest row the engine takes, template included.
        max_num_tokens: Most padded tokens (batch x seq) per engine call.
        batch_tokens: Padded tokens the runtime aims for per batch (None: max_num_tokens). A row longer than this
            still runs, alone. Smaller batches keep small requests' latency low where one call is slow (CPU).
        profiles: TensorRT optimization profiles; empty for the CPU.
        workspace_bytes: TensorRT builder workspace.
        builder_optimization_level: TensorRT builder optimization level, 0-5.
        gate: Accuracy-gate thresholds.
        quantization_route: "onnx_ptq" (ModelOpt ONNX PTQ) or "torch" (ModelOpt torch PTQ + export).
        calibration_min_pairs: Fewer calibration pairs than this is an error.
        max_calibration_pairs: Use at most this many calibration pairs (None: all).
        calibration_batch_tokens: Padded tokens per calibration batch.
        heldout_min_pairs: Fewer held-out pairs than this is an error.
        max_heldout_pairs: Gate on at most this many held-out pairs, whole queries kept (None: all).
        int8_cpu: CPU target only: also write and gate an INT8 dynamic-quantized graph.
        int8_gate: Thresholds for that INT8 graph (required with int8_cpu).
        min_profile_fill: TensorRT targets: at every padded length up to max_seq_len, the rows some profile
            holds times the length must reach this fraction of max_num_tokens (or max_batch_size rows).
            ``profiles: ladder`` computes profiles that do (`profile_ladder`). 0 turns the check off.
        gpu_memory_bytes: TensorRT targets: the device memory the build plans for (the smallest card of the
            target: L4 24 GB, H100 80 GB, A100 40 GB); a config whose estimate exceeds it is refused
            (`rerankrt.build.memory`). None: not planned.
        description: One line for the manifest and logs.
        source: The file the config came from.
    """

    gpu: str
    precision: str
    compute_capability: str | None
    max_length: int
    max_batch_size: int
    max_seq_len: int
    max_num_tokens: int
    batch_tokens: int | None = None
    profiles: tuple[Profile, ...] = ()
    workspace_bytes: int = 0
    builder_optimization_level: int = 3
    gate: GateThresholds
    quantization_route: str = "torch"
    calibration_min_pairs: int = 32
    max_calibration_pairs: int | None = None
    calibration_batch_tokens: int = 4096
    heldout_min_pairs: int = 16
    max_heldout_pairs: int | None = None
    int8_cpu: bool = False
    int8_gate: GateThresholds | None = None
    min_profile_fill: float = DEFAULT_PROFILE_FILL
    gpu_memory_bytes: int | None = None
    description: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        if self.gpu not in GPUS:
            raise ConfigError(f"gpu must be one of {GPUS}, got {self.gpu!r}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        cc = parse_capability(self.compute_capability)
        object.__setattr__(self, "compute_capability", capability_str(cc))
        for name in ("max_length", "max_batch_size", "max_seq_len", "max_num_tokens", "calibration_batch_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive int, got {value!r}")
        for name in ("calibration_min_pairs", "heldout_min_pairs"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be at least 1: calibration and the gate never run on nothing")
        for name in ("max_calibration_pairs", "max_heldout_pairs"):
            value = getattr(self, name)
            if value is not None and int(value) < 1:
                raise ConfigError(f"{name} must be a positive int or null, got {value!r}")
        if self.batch_tokens is not None and not (1 <= int(self.batch_tokens) <= self.max_num_tokens):
            raise ConfigError(f"batch_tokens must lie in [1, max_num_tokens={self.max_num_tokens}] or be null")
        if self.max_num_tokens < self.max_seq_len:
            raise ConfigError(
                f"max_num_tokens={self.max_num_tokens} cannot hold one row of max_seq_len={self.max_seq_len}; "
                f"raise max_num_tokens to at least {self.max_seq_len}"
            )
        if self.quantization_route not in ROUTES:
            raise ConfigError(f"quantization_route must be one of {ROUTES}, got {self.quantization_route!r}")
        if self.gpu == "cpu":
            self._check_cpu()
        else:
            self._check_gpu(cc)

    def _check_cpu(self) -> None:
        if self.precision not in CPU_PRECISIONS:
            raise ConfigError(
                f"the cpu target serves {CPU_PRECISIONS} graphs with onnxruntime, got precision {self.precision!r}; "
                "set precision: fp32 (int8_cpu: true adds an INT8 graph)"
            )
        if self.compute_capability is not None or self.profiles:
            raise ConfigError("the cpu target takes no compute_capability and no TensorRT profiles; remove them")
        if self.int8_cpu and self.int8_gate is None:
            raise ConfigError("int8_cpu: true needs an int8_gate: section with the INT8 graph's thresholds")

    def _check_gpu(self, cc: tuple[int, int] | None) -> None:
        name = GPU_NAMES[self.gpu]
        if cc is None:
            raise ConfigError(f"{self.gpu}: compute_capability is required for a TensorRT target (e.g. '9.0')")
        if self.precision == "fp32":
            raise ConfigError(f"{self.gpu}: a TensorRT target builds fp8, bf16 or fp16, not fp32 (use --gpu cpu)")
        if self.precision == "fp8" and not has_fp8(cc):
            raise ConfigError(
                f"{self.gpu}: precision fp8 needs FP8 tensor cores (sm89 or later) but {name} is "
                f"sm{cc[0]}{cc[1]}, which has none; use precision: bf16 for this GPU (rerankrt/configs/a100.yaml)"
            )
        if not self.profiles:
            raise ConfigError(f"{self.gpu}: a TensorRT target needs at least one optimization profile")
        if self.workspace_bytes < 1 << 20:
            raise ConfigError(f"{self.gpu}: workspace_bytes must be at least 1 MiB, got {self.workspace_bytes}")
        if not 0 <= self.builder_optimization_level <= 5:
            raise ConfigError(f"builder_optimization_level must lie in 0..5, got {self.builder_optimization_level}")
        for i, profile in enumerate(self.profiles):
            batch, seq = profile.max
            if batch > self.max_batch_size or seq > self.max_seq_len:
                raise ConfigError(
                    f"profiles[{i}].max = {list(profile.max)} exceeds max_batch_size={self.max_batch_size} or "
                    f"max_seq_len={self.max_seq_len}"
                )
        if max(p.max[1] for p in self.profiles) != self.max_seq_len:
            raise ConfigError(f"no profile reaches max_seq_len={self.max_seq_len}; extend the last profile's max seq")
        if max(p.max[0] for p in self.profiles) != self.max_batch_size:
            raise ConfigError(f"no profile reaches max_batch_size={self.max_batch_size}; extend a profile's max batch")
        if min(p.min[1] for p in self.profiles) != 1 or min(p.min[0] for p in self.profiles) != 1:
            raise ConfigError("profiles must reach down to batch 1 and seq 1 (min [1, 1])")
        if not 0.0 <= float(self.min_profile_fill) <= 1.0:
            raise ConfigError(f"min_profile_fill must lie in [0, 1], got {self.min_profile_fill}")
        if self.gpu_memory_bytes is not None and int(self.gpu_memory_bytes) < 1 << 30:
            raise ConfigError(f"gpu_memory_bytes must be at least 1 GiB or null, got {self.gpu_memory_bytes}")
        worst, seq = worst_profile_fill(
            self.profiles,
            max_batch_size=self.max_batch_size,
            max_seq_len=self.max_seq_len,
            max_num_tokens=self.max_num_tokens,
        )
        if worst < self.min_profile_fill:
            rows = rows_at(self.profiles, seq, max_batch_size=self.max_batch_size, max_num_tokens=self.max_num_tokens)
            raise ConfigError(
                f"{self.gpu}: at padded length {seq} the profiles hold {rows} rows, {rows * seq} of "
                f"max_num_tokens={self.max_num_tokens} ({worst:.0%} < min_profile_fill={self.min_profile_fill:g}); "
                + (
                    f"use profiles: {PROFILE_LADDER} (computed from the limits) or add rungs"
                    if (rows + 1) * seq <= self.max_num_tokens
                    else f"no profiles can: {rows} rows just above max_num_tokens/{rows + 1} fill {rows}/{rows + 1}; "
                    f"raise max_num_tokens to at least 3 x max_seq_len = {3 * self.max_seq_len}"
                )
            )

    @property
    def is_tensorrt(self) -> bool:
        """Whether this target compiles a TensorRT engine."""
        return self.gpu != "cpu"

    @property
    def quantized(self) -> bool:
        """Whether the graph this target exports carries FP8 Q/DQ."""
        return self.precision == "fp8"

    def as_dict(self) -> dict[str, Any]:
        """The resolved plan, as written into the manifest."""
        out = dataclasses.asdict(self)
        out["profiles"] = [p.as_dict() for p in self.profiles]
        return out


_FIELDS = {f.name for f in dataclasses.fields(BuildConfig)}


def shipped_config(gpu: str):
    """The shipped config file of a target, as an importlib.resources Traversable (a wheel install has it)."""
    return resources.files(CONFIG_PACKAGE).joinpath(CONFIG_FOLDER, f"{gpu}.yaml")


def config_path(gpu: str):
    """The shipped rerankrt/configs/<gpu>.yaml, or `gpu` itself when it is a path to a YAML file."""
    path = Path(gpu)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise ConfigError(f"no config file at {path}")
        return path
    if gpu not in GPUS:
        raise ConfigError(f"--gpu must be one of {GPU_CHOICES} or a YAML file, got {gpu!r}")
    return shipped_config(gpu)


def config_from_dict(data: dict[str, Any], *, source: str = "") -> BuildConfig:
    """A mapping (parsed YAML plus overrides) -> `BuildConfig`; unknown keys are an error naming them."""
    data = dict(data)
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise ConfigError(f"{source or 'config'}: unknown keys {unknown}; known keys are {sorted(_FIELDS)}")
    gate = data.get("gate")
    if not isinstance(gate, dict):
        raise ConfigError(f"{source or 'config'}: a gate: section with the accuracy thresholds is required")
    try:
        data["gate"] = GateThresholds(**gate)
    except TypeError as exc:
        raise ConfigError(f"{source or 'config'}: gate: {exc}") from None
    profiles = data.get("profiles") or []
    if profiles == PROFILE_LADDER:
        try:
            data["profiles"] = profile_ladder(
                int(data["max_batch_size"]),
                int(data["max_seq_len"]),
                int(data["max_num_tokens"]),
                fill=float(data.get("min_profile_fill", DEFAULT_PROFILE_FILL)),
            )
        except KeyError as exc:
            raise ConfigError(f"{source or 'config'}: profiles: {PROFILE_LADDER} needs the limits: {exc}") from None
        except (TypeError, ValueError):
            data["profiles"] = ()  # invalid limits: BuildConfig names the field
        profiles = []
    elif isinstance(profiles, str):
        raise ConfigError(f"{source or 'config'}: profiles must be a list or {PROFILE_LADDER!r}, got {profiles!r}")
    try:
        if not isinstance(data.get("profiles"), tuple):
            data["profiles"] = tuple(Profile.from_dict(p) for p in profiles)
    except ValueError as exc:
        raise ConfigError(f"{source or 'config'}: profiles: {exc}") from None
    if isinstance(data.get("int8_gate"), dict):
        try:
            data["int8_gate"] = GateThresholds(**data["int8_gate"])
        except TypeError as exc:
            raise ConfigError(f"{source or 'config'}: int8_gate: {exc}") from None
    data.setdefault("source", source)
    try:
        return BuildConfig(**data)
    except TypeError as exc:
        raise ConfigError(f"{source or 'config'}: {exc}") from None


def load_config(gpu: str, overrides: dict[str, Any] | None = None) -> BuildConfig:
    """The shipped <gpu>.yaml (or a YAML path) with `overrides` applied on top -> validated `BuildConfig`.

    Args:
        gpu: "h100", "l4", "a100", "cpu", or a path to a YAML file. ("auto" is resolved by `resolve_gpu` first.)
        overrides: Keys to replace; ``gate`` may be a partial mapping merged into the file's. Defaults to None.

    Raises:
        ConfigError: Naming the file and what to change.
    """
    import yaml

    path = config_path(gpu)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of keys")
    for key, value in (overrides or {}).items():
        if key in ("gate", "int8_gate") and isinstance(value, dict):
            data[key] = {**(data.get(key) or {}), **value}
        else:
            data[key] = value
    return config_from_dict(data, source=str(path))


def gpu_for_capability(cc: tuple[int, int]) -> str:
    """The config that fits a compute capability: sm90+ -> h100, sm89 -> l4, sm80-sm88 -> a100.

    Raises:
        ConfigError: Below sm80 (no BF16 or FP8 tensor cores for this model's precision plans).
    """
    if cc >= (9, 0):
        return "h100"
    if cc >= FP8_MIN_CAPABILITY:
        return "l4"
    if cc >= (8, 0):
        return "a100"
    raise ConfigError(
        f"this GPU is sm{cc[0]}{cc[1]}; rerankrt's TensorRT targets need sm80 or later (BF16) or sm89+ (FP8). "
        "Use --gpu cpu to build an onnxruntime engine directory"
    )


def resolve_gpu(gpu: str, detected: tuple[int, int] | None) -> tuple[str, dict[str, Any]]:
    """--gpu value and the detected compute capability -> (config name, overrides), refusing what cannot run.

    ``auto`` takes the config for the detected GPU and its exact compute capability, and the CPU target where no
    CUDA GPU is visible. A named TensorRT target on a detected GPU checks that the GPU can run its precision and
    that the engine (tied to one compute capability) will run where it is built.

    Args:
        gpu: "auto", a GPU name, or a YAML path.
        detected: The local GPU's compute capability, or None without one.

    Returns:
        The config name (or path) to load and overrides such as the detected ``compute_capability``.

    Raises:
        ConfigError: FP8 asked of a GPU without FP8, or a target built on a different GPU generation.
    """
    if gpu != "auto":
        return gpu, {}
    if detected is None:
        return "cpu", {}
    return gpu_for_capability(detected), {"compute_capability": capability_str(detected)}


def check_against_device(config: BuildConfig, detected: tuple[int, int] | None) -> None:
    """Refuse to compile a TensorRT engine here when this GPU cannot run it or is not the target.

    Args:
        config: The validated config.
        detected: The local GPU's compute capability, or None (then nothing to check: no compile will happen).

    Raises:
        ConfigError: Naming the alternative target or ``--onnx-only``.
    """
    if not config.is_tensorrt or detected is None:
        return
    here = f"sm{detected[0]}{detected[1]}"
    if config.precision == "fp8" and not has_fp8(detected):
        raise ConfigError(
            f"{config.gpu} builds an FP8 engine but the GPU here is {here}, which has no FP8 tensor cores; "
            f"use --gpu {gpu_for_capability(detected)} (BF16) or --gpu auto to build for this GPU, "
            "or --onnx-only to write the FP8 graph without compiling it"
        )
    target = parse_capability(config.compute_capability)
    if target != detected:
        raise ConfigError(
            f"{config.gpu} targets sm{target[0]}{target[1]} but the GPU here is {here}; a TensorRT engine runs "
            f"only on the compute capability it was built on: build on the target GPU, use --gpu auto for this "
            "one, or --onnx-only to stop before compiling"
        )
