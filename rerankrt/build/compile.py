"""Compile: an ONNX graph in, a serialized TensorRT engine (``engine.plan``) out. Needs TensorRT 10+ and a CUDA GPU.

The network is always strongly typed (``NetworkDefinitionCreationFlag.STRONGLY_TYPED``): every tensor keeps the type
the ONNX graph gives it, so the graph decides the precision, not builder flags. This is what NVIDIA documents for
TensorRT 10: weak typing (``BuilderFlag.FP16``/``BF16`` letting the builder pick lower-precision kernels) is
deprecated since 10.12 and removed in 11, where every network is strongly typed. Hence per precision:

- ``fp8``: the ModelOpt FP8 Q/DQ ONNX carries FP8 QuantizeLinear/DequantizeLinear pairs; TensorRT fuses them into
  FP8 GEMMs (compute capability 8.9 or newer).
- ``bf16``/``fp16``: the ONNX itself must be in that type. A plain float32 ONNX is converted first with ModelOpt
  AutoCast (``python -m modelopt.onnx.autocast --onnx_path model.onnx --low_precision_type bf16``), which keeps
  sensitive nodes in float32 and inserts the casts. Building a float32 ONNX as "bf16" is refused, not silently
  built in float32.
- ``fp32``: a graph without FP8/BF16/FP16 tensors.

The precision is checked on the parsed network's tensor types before the (long) build starts. The build runs with
``ProfilingVerbosity.DETAILED`` and writes the engine inspector's layer information beside the engine
(``layers.json``) with TensorRT's activation memory per profile (``get_device_memory_size_for_profile_v2``), for
`rerankrt.build.tactics` and the memory plan. All of this is written from NVIDIA's documentation and has not been
executed on a GPU from this repository yet.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rerankrt._device import Profile, parse_capability, tensorrt_status
from rerankrt.manifest import ONNX_INPUTS, ONNX_OUTPUT
from rerankrt.runtime.cuda import compute_capability, device_name, set_device

PRECISIONS = ("fp8", "bf16", "fp16", "fp32")
LAYERS_NAME = "layers.json"  # the engine inspector's layer information, beside engine.plan
# Oldest GPU generation with tensor-core kernels for each reduced precision (FP8: Ada/Hopper, BF16: Ampere).
MIN_COMPUTE_CAPABILITY = {"fp8": (8, 9), "bf16": (8, 0)}
_REDUCED = (("FP8", "fp8"), ("BF16", "bf16"), ("HALF", "fp16"))


class TensorRTUnavailable(RuntimeError):
    """The TensorRT builder or a CUDA GPU is missing here; the message says what and how to install it."""


class CompileError(RuntimeError):
    """TensorRT is here but this build cannot proceed: wrong GPU, a graph the parser rejects, a failed build."""


@dataclass(frozen=True, kw_only=True)
class CompileOptions:
    """How to compile one engine.

    Attributes:
        precision: "fp8", "bf16", "fp16" or "fp32"; must match the ONNX's own types (see the module docstring).
        profiles: One or more optimization profiles; each becomes one execution context at run time.
        workspace_bytes: Cap on the builder's scratch memory pool. Defaults to 4 GiB.
        builder_optimization_level: 0 (fast build) to 5 (slowest build, most tactics). Defaults to 3, TensorRT's.
        timing_cache: File to load tactic timings from and save them to, so rebuilds skip re-timing. Defaults to None.
        compute_capability: The GPU the engine is for, e.g. (9, 0); the build refuses any other GPU. Defaults to None
            (whatever GPU is present).
    """

    precision: str
    profiles: tuple[Profile, ...]
    workspace_bytes: int = 4 << 30
    builder_optimization_level: int = 3
    timing_cache: Path | None = None
    compute_capability: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"CompileOptions.precision must be one of {PRECISIONS}, got {self.precision!r}")
        profiles = tuple(p if isinstance(p, Profile) else Profile(**p) for p in self.profiles)
        if not profiles:
            raise ValueError("CompileOptions.profiles needs at least one Profile(min=..., opt=..., max=...)")
        object.__setattr__(self, "profiles", profiles)
        if isinstance(self.workspace_bytes, bool) or int(self.workspace_bytes) < (1 << 20):
            raise ValueError(f"CompileOptions.workspace_bytes must be at least 1 MiB, got {self.workspace_bytes}")
        if not 0 <= int(self.builder_optimization_level) <= 5:
            raise ValueError(
                f"CompileOptions.builder_optimization_level must be 0..5, got {self.builder_optimization_level}"
            )
        if self.timing_cache is not None:
            object.__setattr__(self, "timing_cache", Path(self.timing_cache))
        if self.compute_capability is not None:
            cc = _capability(self.compute_capability)
            object.__setattr__(self, "compute_capability", cc)
            need = MIN_COMPUTE_CAPABILITY.get(self.precision)
            if need and cc < need:
                raise ValueError(
                    f"CompileOptions.precision={self.precision!r} needs compute_capability >= {need}, got {cc}; "
                    f"choose precision 'fp16' or 'fp32' for this GPU"
                )


def _capability(value) -> tuple[int, int]:
    try:
        cc = parse_capability(value)
    except ValueError as exc:
        raise ValueError(f"CompileOptions.compute_capability: {exc}") from None
    if cc is None:
        raise ValueError(f"CompileOptions.compute_capability must be a pair of ints, got {value!r}")
    return cc


def _precision_problem(found: set[str], precision: str) -> str | None:
    """Compare the reduced-precision types found in the network with the requested precision."""
    if precision == "fp8":
        ok = "fp8" in found
    elif precision in ("bf16", "fp16"):
        ok = precision in found and "fp8" not in found
    else:
        ok = not found
    if ok:
        return None
    has = f"{', '.join(sorted(found))} tensors" if found else "only float32 tensors"
    fix = (
        f"convert it first with: python -m modelopt.onnx.autocast --onnx_path model.onnx "
        f"--low_precision_type {precision}"
        if precision in ("bf16", "fp16") and "fp8" not in found
        else f"set precision to match the graph, or compile the {precision} ONNX"
    )
    return (
        f"precision={precision!r} but the ONNX graph has {has}; a strongly typed network runs in the "
        f"graph's own types, so {fix}"
    )


def engine_from_onnx(
    onnx_path: str | Path,
    engine_path: str | Path,
    options: CompileOptions,
    *,
    device: int = 0,
    log: Callable[[str], None] = lambda line: print(f"[compile] {line}", flush=True),
) -> dict:
    """Compile an ONNX graph (inputs input_ids/attention_mask, output scores) into a serialized TensorRT engine.

    Args:
        onnx_path: The graph (external weight files next to it are found by the parser).
        engine_path: Where to write the engine; written atomically, parent folders created.
        options: Precision, profiles, memory and cache settings.
        device: The CUDA device to build on. Defaults to 0.
        log: Receives one progress line per phase. Defaults to printing.

    Returns:
        Build info for the manifest: tensorrt_version, compute_capability, device, precision, profiles,
        build_seconds, engine_bytes and the other options.

    Raises:
        TensorRTUnavailable: Before any work, when TensorRT or a GPU is missing.
        CompileError: On a GPU that does not match `options`, a graph the parser rejects, a graph whose types do
            not match `options.precision`, or a failed build.
    """
    ok, why = tensorrt_status(device)
    if not ok:
        raise TensorRTUnavailable(why)
    import tensorrt as trt

    onnx_path, engine_path = Path(onnx_path), Path(engine_path)
    if not onnx_path.is_file():
        raise FileNotFoundError(f"ONNX graph not found: {onnx_path}")
    cc, gpu = _check_device(options, device, log)
    set_device(device)  # the builder works on the calling thread's current device
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network, parser = _parse_network(trt, builder, logger, onnx_path, options.precision, log)
    config, cache_path = _builder_config(trt, builder, options, log)
    log(
        f"building {options.precision} engine, {len(options.profiles)} profile(s), "
        f"optimization level {options.builder_optimization_level}"
    )
    start = time.perf_counter()
    serialized = builder.build_serialized_network(network, config)
    seconds = time.perf_counter() - start
    del parser  # the network refers to the parser's weights until the build is done
    if serialized is None:
        raise CompileError(f"TensorRT failed to build an engine from {onnx_path}; see TensorRT's log lines above")
    engine_path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(engine_path, serialized)
    log(f"wrote {engine_path} ({serialized.nbytes} bytes) in {seconds:.1f} s")
    if cache_path is not None:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(cache_path, config.get_timing_cache().serialize())
        log(f"saved timing cache {cache_path}")
    from rerankrt.build.tactics import layer_information

    layers_json, engine = layer_information(serialized, trt)
    layers_path = engine_path.with_name(LAYERS_NAME)
    layers_path.write_text(layers_json)
    # TensorRT's own activation size per profile, for the memory plan's comparison (rerankrt.build.memory).
    device_memory = [int(engine.get_device_memory_size_for_profile_v2(k)) for k in range(len(options.profiles))]
    log(f"wrote {layers_path}; device memory per profile: {device_memory}")
    return {
        "layers_json": LAYERS_NAME,
        "device_memory_per_profile": device_memory,
        "tensorrt_version": trt.__version__,
        "compute_capability": list(cc),
        "device": gpu,
        "precision": options.precision,
        "strongly_typed": True,
        "profiles": [p.as_dict() for p in options.profiles],
        "workspace_bytes": int(options.workspace_bytes),
        "builder_optimization_level": int(options.builder_optimization_level),
        "timing_cache": str(cache_path) if cache_path is not None else None,
        "build_seconds": round(seconds, 3),
        "engine_bytes": int(serialized.nbytes),
    }


def _check_device(options: CompileOptions, device: int, log: Callable[[str], None]) -> tuple[tuple[int, int], str]:
    """Refuse a GPU the options do not target or that lacks the precision's kernels; (capability, name)."""
    import tensorrt as trt

    cc, gpu = compute_capability(device), device_name(device)
    log(f"TensorRT {trt.__version__} on {gpu} (compute capability {cc[0]}.{cc[1]})")
    if options.compute_capability is not None and cc != options.compute_capability:
        raise CompileError(
            f"options ask for compute capability {options.compute_capability}, but device {device} ({gpu}) is {cc}; "
            f"an engine only runs on the GPU generation it was built on, so build on a matching GPU"
        )
    need = MIN_COMPUTE_CAPABILITY.get(options.precision)
    if need and cc < need:
        raise CompileError(f"{options.precision} needs compute capability >= {need}; {gpu} is {cc}")
    return cc, gpu


def _parse_network(trt, builder, logger, onnx_path: Path, precision: str, log: Callable[[str], None]):
    """ONNX -> strongly typed network with the engine contract's I/O and the requested precision; (network, parser)."""
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    parser = trt.OnnxParser(network, logger)
    log(f"parsing {onnx_path} (strongly typed)")
    if not parser.parse_from_file(str(onnx_path)):
        errors = []
        for i in range(parser.num_errors):
            err = parser.get_error(i)
            node = getattr(err, "node_name", lambda: "")() or f"#{err.node()}"
            op = getattr(err, "node_operator", lambda: "")()
            errors.append(f"  - node {node}{f' ({op})' if op else ''}: {err.desc()}")
        raise CompileError(f"TensorRT's ONNX parser rejected {onnx_path}:\n" + "\n".join(errors))
    inputs = {network.get_input(i).name for i in range(network.num_inputs)}
    outputs = {network.get_output(i).name for i in range(network.num_outputs)}
    if inputs != set(ONNX_INPUTS) or outputs != {ONNX_OUTPUT}:
        raise CompileError(
            f"{onnx_path} has inputs {sorted(inputs)} and outputs {sorted(outputs)}; "
            f"expected inputs {list(ONNX_INPUTS)} and output {ONNX_OUTPUT!r}"
        )
    reduced = {getattr(trt.DataType, n, None): p for n, p in _REDUCED}
    found = set()
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        for j in range(layer.num_outputs):
            dtype = layer.get_output(j).dtype
            if dtype in reduced:
                found.add(reduced[dtype])
    problem = _precision_problem(found, precision)
    if problem:
        raise CompileError(f"{onnx_path}: {problem}")
    log(f"parsed {network.num_layers} layers; reduced-precision tensors: {sorted(found) or 'none'}")
    return network, parser


def _builder_config(trt, builder, options: CompileOptions, log: Callable[[str], None]):
    """Options -> TensorRT builder config with profiles and the timing cache loaded; (config, cache path)."""
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(options.workspace_bytes))
    config.builder_optimization_level = int(options.builder_optimization_level)
    # No cross-generation compatibility: tactics are chosen for this GPU, and the runtime checks the manifest's
    # compute capability against the GPU it loads on.
    config.hardware_compatibility_level = trt.HardwareCompatibilityLevel.NONE
    # DETAILED keeps each layer's fused ONNX node names, types and tactic in the engine, so the build can check
    # that the body's GEMMs are FP8 and attention fused (rerankrt.build.tactics). Costs a few KB in engine.plan.
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
    for p in options.profiles:
        profile = builder.create_optimization_profile()
        for name in ONNX_INPUTS:
            profile.set_shape(name, p.min, p.opt, p.max)
        config.add_optimization_profile(profile)
    cache_path = options.timing_cache
    cache_bytes = cache_path.read_bytes() if cache_path is not None and cache_path.is_file() else b""
    if cache_path is not None:
        cache = config.create_timing_cache(cache_bytes)
        if not config.set_timing_cache(cache, ignore_mismatch=False):
            # A cache from another TensorRT version or GPU is useless here, not fatal: start a fresh one.
            log(f"timing cache {cache_path} does not match this TensorRT/GPU; starting a new one")
            cache_bytes = b""
            config.set_timing_cache(config.create_timing_cache(b""), ignore_mismatch=False)
        log(f"timing cache {cache_path}: {len(cache_bytes)} bytes loaded")
    return config, cache_path


def _write_atomic(path: Path, data) -> None:
    """Write a bytes-like object so a crash never leaves a half-written file at `path`."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(memoryview(data))
    os.replace(tmp, path)
