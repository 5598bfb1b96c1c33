"""The build's stage functions: data, tokenizer, scoring, graph copies, the INT8 CPU graph, the TensorRT compile.

`rerankrt.build.pipeline` runs them in order; each reads and writes files, and raises `BuildError` with the exit code
of its kind of failure (see the pipeline's docstring).
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rerankrt._device import parse_capability
from rerankrt.build.config import BuildConfig, check_against_device, load_config, resolve_gpu
from rerankrt.build.export import onnx_files, save_onnx
from rerankrt.build.gate import GateResult, gate_from_metrics, metrics_from_scores, scores_from_backend
from rerankrt.manifest import MANIFEST, TOKENIZER_DIR, ModelInfo, sha256_file
from rerankrt.prompt import PromptEncoder

log = logging.getLogger("rerankrt.build")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_NO_TENSORRT = 3
EXIT_GATE = 4
EXIT_CHECK = 5
EXIT_TACTICS = 7  # the engine built, but a body linear is not an FP8 GEMM or attention did not fuse

ONNX_NAME = "model.onnx"
TRT_ONNX_NAME = "model.trt.onnx"  # the graph TensorRT compiles (rerankrt.build.precision)
INT8_NAME = "model.int8.onnx"
ENGINE_NAME = "engine.plan"
OUTPUTS = (
    MANIFEST,
    ONNX_NAME,
    ONNX_NAME + ".data",
    TRT_ONNX_NAME,
    TRT_ONNX_NAME + ".data",
    INT8_NAME,
    ENGINE_NAME,
    "report.json",
    "report.md",
    "report.png",
)
INSTALL_TENSORRT = (
    "install TensorRT 10.14+ and cuda-python on a machine with an NVIDIA driver and GPU "
    "(pip install 'rerankrt[gpu]', which pulls tensorrt from NVIDIA's index), or pass --onnx-only"
)


class BuildError(RuntimeError):
    """A build stage failed; `exit_code` says which kind of failure."""

    def __init__(
        self,
        message: str,
        exit_code: int = EXIT_FAILED,
        *,
        gate: GateResult | None = None,
        check: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.gate = gate
        self.check = check


def config_from_args(
    gpu: str,
    *,
    overrides: dict[str, Any] | None = None,
    detected: tuple[int, int] | None = None,
    onnx_only: bool = False,
) -> BuildConfig:
    """--gpu and overrides -> validated `BuildConfig`, refusing FP8 on GPUs without it.

    Args:
        gpu: "h100", "l4", "a100", "cpu", "auto", or a YAML path.
        overrides: Config keys to replace. Defaults to None.
        detected: The local GPU's compute capability (None: no GPU here).
        onnx_only: The build stops before compiling, so the local GPU need not match the target.

    Raises:
        ConfigError: An invalid file or override, FP8 asked of sm80, or a target this GPU cannot build.
    """
    name, auto = resolve_gpu(gpu, detected)
    config = load_config(name, {**auto, **(overrides or {})})
    if not onnx_only:
        check_against_device(config, detected)
    return config


def _select_spread(pairs: list, limit: int | None) -> list:
    """At most `limit` pairs spread evenly over the list (languages and domains come in blocks)."""
    if limit is None or len(pairs) <= limit:
        return pairs
    index = np.linspace(0, len(pairs) - 1, int(limit)).round().astype(int)
    return [pairs[i] for i in sorted(set(index.tolist()))]


def _select_groups(pairs: list, limit: int | None) -> list:
    """Whole query groups, in order, until at least `limit` pairs (a ranking metric needs whole groups)."""
    if limit is None or len(pairs) <= limit:
        return pairs
    groups: dict[str, list] = {}
    for p in pairs:
        groups.setdefault(p.group, []).append(p)
    chosen: list = []
    for members in groups.values():
        if len(chosen) >= limit:
            break
        chosen.extend(members)
    return chosen


def pairs_for_build(calibration: Path | None, config: BuildConfig) -> tuple[list, list, dict[str, Any]]:
    """Calibration file (None: the shipped set) -> (calibration pairs, held-out pairs, provenance for the manifest).

    Raises:
        BuildError: (exit 2) a missing, malformed or too small set: calibration never falls back to random data.
    """
    from rerankrt.calibration import dataset

    source = Path(calibration) if calibration is not None else dataset.SHIPPED_PATH
    try:
        if not source.is_file():
            raise FileNotFoundError(
                f"no calibration file at {source}"
                + ("" if calibration is not None else " (the shipped set is missing from this install)")
            )
        cal = _select_spread(dataset.load_pairs(source, split="calibration"), config.max_calibration_pairs)
        held = _select_groups(dataset.load_pairs(source, split="heldout"), config.max_heldout_pairs)
        if config.quantized:
            dataset.require_enough(cal, config.calibration_min_pairs, what="FP8 calibration", source=source)
        dataset.require_enough(held, config.heldout_min_pairs, what="the accuracy gate (held-out split)", source=source)
    except (ValueError, FileNotFoundError) as exc:
        raise BuildError(str(exc), EXIT_CONFIG) from exc
    info = {
        "source": "shipped" if calibration is None else str(source),
        "sha256": dataset.dataset_sha256(source),
        "calibration_pairs": len(cal) if config.quantized else 0,
        "heldout_pairs": len(held),
        "heldout_groups": len({p.group for p in held}),
    }
    return cal, held, info


def encoder_for_build(tokenizer_dir: Path, template: str, config: BuildConfig) -> PromptEncoder:
    """The build's `PromptEncoder`, checked to fit the engine's max_seq_len.

    Raises:
        BuildError: (exit 2) the template's longest sequence exceeds max_seq_len.
    """
    try:
        encoder = PromptEncoder(tokenizer_dir, template=template, max_length=config.max_length)
    except ValueError as exc:
        raise BuildError(str(exc), EXIT_CONFIG) from exc
    if encoder.max_sequence_length > config.max_seq_len:
        raise BuildError(
            f"template {template!r} with max_length={config.max_length} makes sequences of up to "
            f"{encoder.max_sequence_length} tokens, more than max_seq_len={config.max_seq_len}; lower max_length to "
            f"{config.max_length - (encoder.max_sequence_length - config.max_seq_len)} or raise max_seq_len",
            EXIT_CONFIG,
        )
    return encoder


def _host_limits(config: BuildConfig) -> dict[str, int]:
    # A held-out pair longer than max_num_tokens still scores, alone.
    return {
        "max_batch_size": config.max_batch_size,
        "max_seq_len": config.max_seq_len,
        "max_num_tokens": max(config.max_num_tokens, config.max_seq_len),
    }


def scores_then_close(backend, encoded, pad_id: int, config: BuildConfig, desc: str, *, max_tokens: int | None = None):
    """Held-out token ids -> float32 scores through `backend` in length-bucketed batches; the backend is closed after.

    `max_tokens` caps the padded tokens per batch. Defaults to min(max_num_tokens, 8192) (host backends).
    """
    try:
        return scores_from_backend(
            backend,
            encoded,
            pad_id,
            max_tokens=min(config.max_num_tokens, 8192) if max_tokens is None else max_tokens,
            max_batch=config.max_batch_size,
            desc=desc,
        )
    finally:
        backend.close()


def reference_scores_from_checkpoint(
    classifier_dir: Path, encoded, pad_id: int, config: BuildConfig, *, desc: str = "reference (torch fp32)"
) -> np.ndarray:
    """Held-out token ids -> float32 torch reference scores of the 1-logit classifier."""
    from rerankrt.runtime.backends.torch import TorchBackend

    return scores_then_close(TorchBackend(classifier_dir, **_host_limits(config)), encoded, pad_id, config, desc)


def onnx_scores_from_graph(
    onnx_path: Path, encoded, pad_id: int, config: BuildConfig, *, desc: str = "candidate (onnxruntime)"
) -> np.ndarray:
    """Held-out token ids -> scores of an ONNX graph in onnxruntime (simulated FP8 for a Q/DQ graph)."""
    from rerankrt.runtime.backends.onnx import OnnxBackend

    return scores_then_close(OnnxBackend(onnx_path, **_host_limits(config)), encoded, pad_id, config, desc)


def gate_from_graph(
    onnx_path: Path, reference: np.ndarray, encoded, groups: list[str], pad_id: int, config: BuildConfig, label: str
) -> tuple[GateResult, np.ndarray]:
    """A graph and the reference scores of the held-out pairs -> (gate verdict, the graph's scores)."""
    candidate = onnx_scores_from_graph(onnx_path, encoded, pad_id, config, desc=f"gate: {label}")
    metrics = metrics_from_scores(reference, candidate, groups)
    return gate_from_metrics(metrics, config.gate), candidate


def copy_onnx(src: Path, dst: Path) -> list[Path]:
    """Copy a graph under a new name; an external weights file is rewritten to follow the new name."""
    files = onnx_files(src)
    if len(files) == 1:
        shutil.copyfile(src, dst)
        return [dst]
    import onnx

    save_onnx(onnx.load(str(src)), dst)
    return onnx_files(dst)


def int8_onnx_from_onnx(fp32_onnx: Path, out_path: Path) -> Path:
    """float32 graph -> onnxruntime dynamic INT8 graph (weights INT8 per channel, activations quantized at run time).

    Only the body's MatMuls are quantized; the score head (the last MatMul) stays float32.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from rerankrt.build.check import Graph

    model = onnx.load(str(fp32_onnx), load_external_data=False)
    head = Graph(model).head()
    quantize_dynamic(
        str(fp32_onnx),
        str(out_path),
        weight_type=QuantType.QInt8,
        op_types_to_quantize=["MatMul"],
        per_channel=True,
        nodes_to_exclude=[head.name] if head is not None else [],
        extra_options={"MatMulConstBOnly": True},
    )
    return out_path


def model_info_from_checkpoint(model: str, revision: str | None, path: Path, classifier: Path) -> ModelInfo:
    weights = sorted(p for p in path.iterdir() if p.suffix in (".safetensors", ".bin") and p.is_file())
    local = Path(model).expanduser().exists()
    commit = None
    if not local and path.parent.name == "snapshots":  # the Hugging Face cache names snapshots by commit
        commit = path.name
        revision = revision or path.name
    conversion = classifier / "conversion.json"
    conv = json.loads(conversion.read_text()) if conversion.is_file() else None
    return ModelInfo(
        source=str(model),
        revision=revision,
        commit=commit,
        local_path=str(path.resolve()) if local else None,
        form=conv.get("form") if conv else "classifier1",
        sha256={p.name: sha256_file(p) for p in weights},
        converted={"architecture": conv.get("architecture"), "score": conv.get("score")} if conv else None,
    )


def clear_outputs(out: Path) -> None:
    """Remove what an earlier build wrote, the manifest first so a half-rewritten directory is never served."""
    if out.exists() and not out.is_dir():
        raise BuildError(f"--out {out} exists and is not a directory", EXIT_CONFIG)
    out.mkdir(parents=True, exist_ok=True)
    for name in OUTPUTS:
        (out / name).unlink(missing_ok=True)
    if (out / TOKENIZER_DIR).is_dir():
        shutil.rmtree(out / TOKENIZER_DIR)


def engine_from_graph(onnx_path: Path, engine_path: Path, config: BuildConfig, timing_cache: Path | None) -> dict:
    """The TensorRT graph (BF16 body, FP8 Q/DQ on FP8 targets) -> engine.plan through rerankrt.build.compile."""
    from rerankrt.build import compile as trt_compile

    options = trt_compile.CompileOptions(
        precision=config.precision,
        profiles=config.profiles,
        workspace_bytes=config.workspace_bytes,
        builder_optimization_level=config.builder_optimization_level,
        timing_cache=timing_cache,
        compute_capability=parse_capability(config.compute_capability),
    )
    return dict(trt_compile.engine_from_onnx(onnx_path, engine_path, options) or {})


def body_precision(config: BuildConfig) -> str:
    """The TensorRT graph's body precision: BF16 around FP8 GEMMs (fp8), BF16 (bf16), FP16 (fp16)."""
    return "fp16" if config.precision == "fp16" else "bf16"


def trt_graph_for_target(twin: Path, work: Path, encoded, pad_id: int, config: BuildConfig) -> tuple[Path, dict]:
    """The validated float32-remainder graph -> the BF16/FP16-body graph TensorRT compiles (`rerankrt.build.precision`).

    Raises:
        BuildError: (exit 1) ``modelopt.onnx`` cannot be imported.
    """
    from rerankrt._optional import MissingDependencyError
    from rerankrt.build import precision
    from rerankrt.calibration.loop import calibration_arrays, length_batches

    batch = length_batches(encoded.ids, pad_id, max_tokens=2048, max_batch=8)[0]
    try:
        return precision.trt_graph_from_twin(
            twin, work / precision.TRT_ONNX_NAME, calibration_arrays([batch])[0], precision=body_precision(config)
        )
    except MissingDependencyError as exc:
        raise BuildError(str(exc), EXIT_FAILED) from exc


def estimate_scores_from_module(scorer, encoded, pad_id: int, config: BuildConfig) -> np.ndarray:
    """Held-out token ids -> the CPU estimate of the engine's numerics (BF16 torch body, FP8 fake quantization)."""
    from rerankrt.build.precision import bf16_estimate_scores

    return bf16_estimate_scores(
        scorer, encoded, pad_id, max_tokens=min(config.max_num_tokens, 8192), max_batch=config.max_batch_size
    )


# -- what the stages hand each other ------------------------------------------------------------------------


@dataclass
class BuildPlan:
    """What the planning stage settled: the config, the data, the tokenizer, the folders."""

    config: BuildConfig
    model: str
    revision: str | None
    template: str
    out: Path
    work: Path
    source_path: Path
    encoder: PromptEncoder
    cal_pairs: list
    held_pairs: list
    data_info: dict[str, Any]
    memory: dict[str, Any] | None = None  # rerankrt.build.memory's estimate (TensorRT targets)


@dataclass
class Graphs:
    """The graphs the build made: the float32 one, the one it ships, and how it was quantized."""

    classifier: Path
    fp32_onnx: Path
    shipped: Path
    quant_info: dict[str, Any] | None = None
    trt_onnx: Path | None = None
    trt_info: dict[str, Any] | None = None
    scorer: Any = None  # the calibrated (or plain) torch scorer module, for the BF16 estimate


@dataclass
class Gated:
    """The accuracy gate's outcome: which graph, in which precision, its verdict, and the INT8 CPU graph's."""

    gate: GateResult
    graph: str
    precision: str
    label: str
    extra: dict[str, GateResult]
    int8_ok: bool
    estimate: GateResult | None = None
    estimate_label: str = ""
    reference: np.ndarray | None = None  # the float32 reference scores of the held-out pairs
    groups: list[str] = field(default_factory=list)


@dataclass
class Compiled:
    """The compile stage's outcome: the TensorRT build record, or why there is none."""

    engine_info: dict[str, Any] | None = None
    missing: str = ""
    notes: list[str] = field(default_factory=list)
    quant_info: dict[str, Any] | None = None


def summary_message(plan: BuildPlan, gated: Gated, compiled: Compiled) -> str:
    """One paragraph for the user: what was built, which graph the gate ran in which precision, what is missing."""
    config, out, m = plan.config, plan.out, gated.gate.metrics
    summary = (
        f"gate passed on the {gated.label}: spearman {m['spearman']:.4f}, top1 {m['top1']:.3f}, "
        f"max |err| {m['max_abs_error']:.4g}"
    )
    if gated.estimate is not None:
        e = gated.estimate.metrics
        summary += (
            f"; CPU estimate of the {config.precision.upper()} engine's numerics: spearman {e['spearman']:.4f}, "
            f"max |err| {e['max_abs_error']:.4g}"
        )
    if compiled.missing:
        hint = "" if "pip install" in compiled.missing else f" To compile, {INSTALL_TENSORRT}."
        return (
            f"{out}: ONNX graph and gate done ({summary}), but the TensorRT engine was not built. "
            f"{compiled.missing}{hint} The directory is written with backend onnxruntime for checking on the CPU; "
            "pass --onnx-only to make stopping before TensorRT a success (exit 0)."
        )
    if compiled.engine_info is not None:
        return f"{out}: TensorRT engine built ({config.gpu}, {config.precision}); {summary}"
    return f"{out}: onnxruntime engine directory built ({config.gpu}, {config.precision}); {summary}"


def engine_gate_from_build(plan: BuildPlan, gated: Gated, held_encoded) -> GateResult:
    """The engine just built scores the held-out pairs against the float32 reference, on this GPU, with the
    thresholds of the twin's gate: the engine's own BF16/FP8 rounding is what is judged.

    Raises:
        BackendUnavailableError: The engine cannot run here (e.g. cuda-python missing).
    """
    from rerankrt.runtime.backends.tensorrt import TensorRTBackend

    config = plan.config
    backend = TensorRTBackend(
        plan.out / ENGINE_NAME,
        max_batch_size=config.max_batch_size,
        max_seq_len=config.max_seq_len,
        max_num_tokens=config.max_num_tokens,
        precision=config.precision,
    )
    desc = "gate: TensorRT engine"
    scores = scores_then_close(
        backend, held_encoded, plan.encoder.pad_id, config, desc, max_tokens=config.max_num_tokens
    )
    return gate_from_metrics(metrics_from_scores(gated.reference, scores, gated.groups), config.gate)


def side_gates(plan: BuildPlan, graphs: Graphs, reference, held_encoded, groups, timer):
    """What the report shows beside the gate: the CPU estimate of the engine's own numerics (informational) and,
    on CPU targets with ``int8_cpu``, the INT8 graph's own gate.

    Returns:
        (estimate label, estimate `GateResult` or None, {label: INT8 `GateResult`}).
    """
    config, encoder = plan.config, plan.encoder
    extra: dict[str, GateResult] = {}
    estimate, estimate_label = None, ""
    if graphs.scorer is not None:
        body = "BF16 body around FP8 fake quantization" if config.quantized else "BF16 body"
        estimate_label = f"estimate of the engine's numerics: torch, {body}, float32 norm and head (CPU)"
        with timer("estimate"):
            est = estimate_scores_from_module(graphs.scorer, held_encoded, encoder.pad_id, config)
        estimate = gate_from_metrics(metrics_from_scores(reference, est, groups), config.gate)
    if config.gpu == "cpu" and config.int8_cpu:
        with timer("int8"):
            int8_path = int8_onnx_from_onnx(graphs.fp32_onnx, plan.work / INT8_NAME)
            int8_scores = onnx_scores_from_graph(int8_path, held_encoded, encoder.pad_id, config, desc="gate: INT8")
            extra[f"INT8 dynamic graph {INT8_NAME} (onnxruntime)"] = gate_from_metrics(
                metrics_from_scores(reference, int8_scores, groups), config.int8_gate
            )
    return estimate_label, estimate, extra
