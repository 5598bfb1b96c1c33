"""Checkpoint -> engine directory: the build flow behind ``rerankrt build`` and ``make engine``.

Stages, each reading and writing files in a work folder beside the engine directory (``<out>.work/``), so a failed
stage leaves the earlier artifacts intact and each can be rerun alone::

    config         configs/<gpu>.yaml, validated before any work            (rerankrt.build.config)
    data           calibration + held-out pairs, never random               (rerankrt.calibration.dataset)
    classifier     1-logit classifier folder            <work>/classifier/  (rerankrt.models.ensure_classifier1)
    fp32 graph     float32 ONNX                         <work>/model.fp32.onnx (export.onnx_from_checkpoint)
    fp8 graph      ModelOpt FP8 Q/DQ ONNX               <work>/model.fp8.onnx  (quantize.fp8_onnx_from_checkpoint)
    check          structure of the shipped graph       <work>/check.json      (check.check_graph)
    gate + report  held-out scores vs float32 reference <out>/report.*         (gate, report)
    compile        TensorRT engine                      <out>/engine.plan      (compile.engine_from_onnx)
    manifest       the contract with the runtime        <out>/manifest.json    (rerankrt.manifest)

The manifest is written last: a directory without one is not an engine directory, so a failed build is never
served. Exit codes: 0 success, 2 configuration or data error, 3 TensorRT or a CUDA GPU missing (the directory
is still written, served by onnxruntime), 4 accuracy gate failed, 5 graph structure check failed.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rerankrt.build.config import (
    BuildConfig,
    ConfigError,
    check_against_device,
    load_config,
    parse_capability,
    resolve_gpu,
)
from rerankrt.build.export import onnx_files, onnx_from_checkpoint, save_onnx
from rerankrt.build.gate import GateError, GateResult, gate_from_metrics, metrics_from_scores, scores_from_backend
from rerankrt.calibration.loop import encode_pairs
from rerankrt.manifest import MANIFEST, TOKENIZER_DIR, Manifest, write_manifest
from rerankrt.models import DEFAULT_MODEL, copy_tokenizer_files, sha256_file
from rerankrt.prompt import TEMPLATES, PromptEncoder

log = logging.getLogger("rerankrt.build")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_NO_TENSORRT = 3
EXIT_GATE = 4
EXIT_CHECK = 5

ONNX_NAME = "model.onnx"
INT8_NAME = "model.int8.onnx"
ENGINE_NAME = "engine.plan"
OUTPUTS = (MANIFEST, ONNX_NAME, ONNX_NAME + ".data", INT8_NAME, ENGINE_NAME, "report.json", "report.md", "report.png")
INSTALL_TENSORRT = (
    "install TensorRT 10.8+ and cuda-python on a machine with an NVIDIA driver and GPU "
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


@dataclass
class BuildResult:
    """What `build` did.

    Attributes:
        exit_code: 0 on success, else one of the EXIT_* codes.
        message: One paragraph for the user: what was built or what went wrong and what to do.
        out: The engine directory.
        manifest: The written manifest, None when the build stopped before it.
        gate: The accuracy-gate verdict, when the gate ran.
        check: The structural check, as a dict, when it ran.
        engine_built: Whether engine.plan was compiled.
        timings: Seconds per stage.
    """

    exit_code: int
    message: str
    out: Path
    manifest: Manifest | None = None
    gate: GateResult | None = None
    check: dict[str, Any] | None = None
    engine_built: bool = False
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.exit_code == EXIT_OK


class _Timer:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    def __call__(self, name: str):
        timer = self

        class _Stage:
            def __enter__(self):
                self.start = time.perf_counter()
                log.info("build: %s ...", name)

            def __exit__(self, *exc):
                timer.timings[name] = round(time.perf_counter() - self.start, 3)

        return _Stage()


# -- stages ------------------------------------------------------------------------------------------------------


def detected_capability() -> tuple[int, int] | None:
    """The local GPU's compute capability, or None without cuda-python, a driver or a device."""
    try:
        from rerankrt.runtime import cuda
    except ImportError:
        return None
    try:
        return cuda.compute_capability() if cuda.cuda_available() else None
    except Exception:  # noqa: BLE001 - any CUDA failure means "no usable GPU" for planning purposes
        return None


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


def reference_scores_from_checkpoint(
    classifier_dir: Path, encoded, pad_id: int, config: BuildConfig, *, desc: str = "reference (torch fp32)"
) -> np.ndarray:
    """Held-out token ids -> float32 torch reference scores of the 1-logit classifier."""
    from rerankrt.runtime.backends.torch import TorchBackend

    backend = TorchBackend(
        classifier_dir,
        max_batch_size=config.max_batch_size,
        max_seq_len=config.max_seq_len,
        max_num_tokens=max(config.max_num_tokens, config.max_seq_len),
    )
    return scores_from_backend(
        backend,
        encoded,
        pad_id,
        max_tokens=min(config.max_num_tokens, 8192),
        max_batch=config.max_batch_size,
        desc=desc,
    )


def onnx_scores_from_graph(
    onnx_path: Path, encoded, pad_id: int, config: BuildConfig, *, desc: str = "candidate (onnxruntime)"
) -> np.ndarray:
    """Held-out token ids -> scores of an ONNX graph in onnxruntime (simulated FP8 for a Q/DQ graph)."""
    from rerankrt.runtime.backends.onnx import OnnxBackend

    backend = OnnxBackend(
        onnx_path,
        max_batch_size=config.max_batch_size,
        max_seq_len=config.max_seq_len,
        max_num_tokens=max(config.max_num_tokens, config.max_seq_len),
    )
    try:
        return scores_from_backend(
            backend,
            encoded,
            pad_id,
            max_tokens=min(config.max_num_tokens, 8192),
            max_batch=config.max_batch_size,
            desc=desc,
        )
    finally:
        backend.close()


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

    from rerankrt.build.check import _Graph

    model = onnx.load(str(fp32_onnx), load_external_data=False)
    head = _Graph(model).head()
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


def _model_record(model: str, revision: str | None, path: Path, classifier: Path) -> dict[str, Any]:
    weights = sorted(p for p in path.iterdir() if p.suffix in (".safetensors", ".bin") and p.is_file())
    local = Path(model).expanduser().exists()
    record: dict[str, Any] = {
        "source": str(model),
        "revision": revision,
        "local_path": str(path.resolve()) if local else None,
        "sha256": {p.name: sha256_file(p) for p in weights},
    }
    if not local and path.parent.name == "snapshots":  # the Hugging Face cache names snapshots by commit
        record["revision"] = revision or path.name
        record["commit"] = path.name
    conversion = classifier / "conversion.json"
    if conversion.is_file():
        conv = json.loads(conversion.read_text())
        record["form"] = conv.get("form")
        record["converted"] = {"architecture": conv.get("architecture"), "score": conv.get("score")}
    else:
        record["form"] = "classifier1"
    return record


def _clear_outputs(out: Path) -> None:
    """Remove what an earlier build wrote, the manifest first so a half-rewritten directory is never served."""
    if out.exists() and not out.is_dir():
        raise BuildError(f"--out {out} exists and is not a directory", EXIT_CONFIG)
    out.mkdir(parents=True, exist_ok=True)
    for name in OUTPUTS:
        (out / name).unlink(missing_ok=True)
    if (out / TOKENIZER_DIR).is_dir():
        shutil.rmtree(out / TOKENIZER_DIR)


def tensorrt_status() -> tuple[bool, str]:
    """(True, version) where TensorRT's builder and a CUDA GPU are usable here, else (False, what is missing)."""
    try:
        from rerankrt.build import compile as trt_compile
    except ImportError as exc:
        return False, f"the TensorRT compile stage cannot be imported ({exc})"
    ok, why = trt_compile.tensorrt_status()
    if not ok:
        return False, why
    from rerankrt.runtime import cuda

    if not cuda.cuda_available():
        return False, f"no CUDA GPU is visible ({cuda.cuda_status()[1]})"
    return True, why


def engine_from_graph(onnx_path: Path, engine_path: Path, config: BuildConfig, timing_cache: Path | None) -> dict:
    """FP8 (or float32 for BF16) graph -> TensorRT engine.plan through rerankrt.build.compile."""
    from rerankrt.build import compile as trt_compile

    options = trt_compile.CompileOptions(
        precision=config.precision,
        profiles=[trt_compile.Profile(min=p.min, opt=p.opt, max=p.max) for p in config.profiles],
        workspace_bytes=config.workspace_bytes,
        builder_optimization_level=config.builder_optimization_level,
        timing_cache=timing_cache,
        compute_capability=parse_capability(config.compute_capability),
    )
    return dict(trt_compile.engine_from_onnx(onnx_path, engine_path, options) or {})


def _low_precision_graph(fp32_onnx: Path, work: Path, out: Path, encoded, pad_id: int, config: BuildConfig) -> dict:
    """BF16/FP16 targets: the engine is compiled from an AutoCast graph, which replaces out/model.onnx."""
    from rerankrt._optional import MissingDependencyError
    from rerankrt.build import quantize
    from rerankrt.calibration.loop import length_batches

    batch = length_batches(encoded.ids, pad_id, max_tokens=2048, max_batch=8)[0]
    try:
        path, info = quantize.low_precision_onnx_from_onnx(
            fp32_onnx, work / f"model.{config.precision}.onnx", batch, precision=config.precision
        )
    except MissingDependencyError as exc:
        raise BuildError(str(exc), EXIT_FAILED) from exc
    for stale in onnx_files(out / ONNX_NAME):
        stale.unlink()
    copy_onnx(path, out / ONNX_NAME)
    return info


# -- the flow ----------------------------------------------------------------------------------------------------


def build(
    *,
    gpu: str,
    model: str = DEFAULT_MODEL,
    out: Path,
    calibration: Path | None = None,
    template: str = "seed",
    onnx_only: bool = False,
    revision: str | None = None,
    max_calibration_pairs: int | None = None,
    config_overrides: dict[str, Any] | None = None,
    work_dir: Path | None = None,
) -> BuildResult:
    """Checkpoint -> engine directory (see the module docstring); never raises for an expected failure.

    Args:
        gpu: "h100", "l4", "a100", "cpu", "auto" (the local GPU's compute capability; cpu without one) or a YAML path.
        model: Hub id or local folder, causal-LM or classifier form. Defaults to michaelfeil/mxbai-rerank-base-v2-seq.
        out: The engine directory to write.
        calibration: JSONL of query-document pairs. Defaults to the shipped set.
        template: "seed" (the model card's string template) or "mxbai" (the reference library's). Defaults to "seed".
        onnx_only: Stop before the TensorRT compile; a TensorRT target then succeeds without TensorRT.
        revision: Hub revision of `model`. Defaults to the hub's default branch.
        max_calibration_pairs: Use at most this many calibration pairs (a spread subset). Defaults to the config's.
        config_overrides: Config keys to replace (e.g. ``{"max_length": 512}``). Defaults to None.
        work_dir: Folder for intermediate artifacts. Defaults to ``<out>.work`` beside the engine directory.

    Returns:
        A `BuildResult`; `exit_code` is 0 on success, else one of the EXIT_* codes, with a message.
    """
    out = Path(out)
    timer = _Timer()
    try:
        return _build(
            gpu=gpu,
            model=model,
            out=out,
            calibration=calibration,
            template=template,
            onnx_only=onnx_only,
            revision=revision,
            max_calibration_pairs=max_calibration_pairs,
            config_overrides=config_overrides,
            work_dir=work_dir,
            timer=timer,
        )
    except ConfigError as exc:
        return BuildResult(EXIT_CONFIG, f"configuration error: {exc}", out, timings=timer.timings)
    except BuildError as exc:
        return BuildResult(exc.exit_code, str(exc), out, gate=exc.gate, check=exc.check, timings=timer.timings)


def _build(
    *,
    gpu: str,
    model: str,
    out: Path,
    calibration: Path | None,
    template: str,
    onnx_only: bool,
    revision: str | None,
    max_calibration_pairs: int | None,
    config_overrides: dict[str, Any] | None,
    work_dir: Path | None,
    timer: _Timer,
) -> BuildResult:
    from rerankrt.models import ensure_classifier1, resolve_checkpoint

    # 1. Plan: everything that can be refused is refused before any work.
    if template not in TEMPLATES:
        raise ConfigError(f"--template must be one of {TEMPLATES}, got {template!r}")
    overrides = dict(config_overrides or {})
    if max_calibration_pairs is not None:
        overrides["max_calibration_pairs"] = int(max_calibration_pairs)
    detected = detected_capability()
    config = config_from_args(gpu, overrides=overrides, detected=detected, onnx_only=onnx_only)
    cal_pairs, held_pairs, data_info = pairs_for_build(calibration, config)
    with timer("checkpoint"):
        try:
            source_path = resolve_checkpoint(model, revision=revision)
        except (FileNotFoundError, ValueError) as exc:
            raise BuildError(f"model {model!r}: {exc}", EXIT_CONFIG) from exc
        encoder = encoder_for_build(source_path, template, config)
    work = Path(work_dir) if work_dir is not None else out.with_name(out.name + ".work")
    work.mkdir(parents=True, exist_ok=True)
    _clear_outputs(out)
    log.info("build: %s -> %s (%s, %s, template %s)", model, out, config.gpu, config.precision, template)

    # 2. Model: 1-logit classifier and its float32 graph.
    with timer("convert"):
        classifier = ensure_classifier1(source_path, work / "classifier", revision=revision)
    with timer("export_fp32"):
        fp32_onnx = onnx_from_checkpoint(classifier, work / "model.fp32.onnx")

    # 3. Quantize (FP8 targets): calibrate on real templated pairs, export the Q/DQ graph.
    quant_info: dict[str, Any] | None = None
    shipped = fp32_onnx
    if config.quantized:
        from rerankrt.build import quantize

        with timer("quantize_fp8"):
            calib_encoded = encode_pairs(cal_pairs, encoder)
            shipped, quant_info = quantize.fp8_onnx(
                route=config.quantization_route,
                classifier_dir=classifier,
                fp32_onnx=fp32_onnx,
                out_path=work / "model.fp8.onnx",
                encoded=calib_encoded,
                pad_id=encoder.pad_id,
                batch_tokens=config.calibration_batch_tokens,
            )

    # 4. Structure.
    from rerankrt.build.check import check_graph

    with timer("check"):
        check = check_graph(shipped, quantized=config.quantized)
        (work / "check.json").write_text(json.dumps(check.as_dict(), indent=2) + "\n")
    if not check.passed:
        raise BuildError(
            "graph structure check failed: " + "; ".join(check.failures), EXIT_CHECK, check=check.as_dict()
        )

    # 5. Accuracy gate on the held-out split, and the report.
    from rerankrt.build.report import report_from_scores

    held_encoded = encode_pairs(held_pairs, encoder)
    groups = [p.group for p in held_pairs]
    with timer("reference"):
        reference = reference_scores_from_checkpoint(classifier, held_encoded, encoder.pad_id, config)
    label = {"fp8": "FP8 Q/DQ graph (onnxruntime)", "fp32": "float32 graph (onnxruntime)"}.get(
        config.precision, f"float32 graph for {config.precision.upper()} (onnxruntime)"
    )
    with timer("gate"):
        gate, candidate = gate_from_graph(shipped, reference, held_encoded, groups, encoder.pad_id, config, label)
    extra_gates: dict[str, GateResult] = {}
    int8_ok = False
    if config.gpu == "cpu" and config.int8_cpu:
        with timer("int8"):
            int8_path = int8_onnx_from_onnx(fp32_onnx, work / "model.int8.onnx")
            int8_scores = onnx_scores_from_graph(int8_path, held_encoded, encoder.pad_id, config, desc="gate: INT8")
            int8_gate = gate_from_metrics(metrics_from_scores(reference, int8_scores, groups), config.int8_gate)
            extra_gates["INT8 dynamic graph (onnxruntime)"] = int8_gate
            int8_ok = int8_gate.passed
    meta = {
        "target": config.as_dict(),
        "template": template,
        "model": str(model),
        "calibration": data_info,
        "quantization": quant_info,
        "check": check.as_dict(),
        "timings_s": timer.timings,
    }
    report_from_scores(
        out,
        reference=reference,
        candidate=candidate,
        groups=groups,
        gate=gate,
        label=label,
        meta=meta,
        extra_gates=extra_gates,
    )
    if not gate.passed:
        raise BuildError(
            f"accuracy gate failed ({label} vs float32 reference on {len(held_pairs)} held-out pairs): "
            + "; ".join(gate.failures)
            + f". See {out / 'report.md'}",
            EXIT_GATE,
            gate=gate,
            check=check.as_dict(),
        )

    # 6. Engine directory: graph, tokenizer, engine.
    with timer("assemble"):
        copy_onnx(shipped, out / ONNX_NAME)
        copy_tokenizer_files(classifier, out / TOKENIZER_DIR)
        if int8_ok:
            shutil.copyfile(work / "model.int8.onnx", out / INT8_NAME)
    notes: list[str] = []
    engine_info: dict[str, Any] | None = None
    exit_code, missing = EXIT_OK, ""
    if config.is_tensorrt:
        if onnx_only:
            notes.append("built with --onnx-only: no TensorRT engine; model.onnx is served by onnxruntime on the CPU")
        else:
            ok, why = tensorrt_status()
            if ok:
                if config.precision in ("bf16", "fp16"):
                    quant_info = _low_precision_graph(fp32_onnx, work, out, held_encoded, encoder.pad_id, config)
                from rerankrt.build import compile as trt_compile

                try:
                    with timer("compile"):
                        engine_info = engine_from_graph(
                            out / ONNX_NAME, out / ENGINE_NAME, config, work / "timing.cache"
                        )
                except trt_compile.TensorRTUnavailable as exc:
                    ok, why = False, str(exc)
                except trt_compile.CompileError as exc:
                    raise BuildError(f"TensorRT compile failed: {exc}", EXIT_FAILED) from exc
            if not ok:
                missing = why
                exit_code = EXIT_NO_TENSORRT
                notes.append(
                    f"no TensorRT engine: {why}. model.onnx ({config.precision.upper()}) is served by onnxruntime "
                    "on the CPU for checking; rebuild on the target GPU for engine.plan"
                )
    if config.gpu == "cpu" and config.int8_cpu and not int8_ok:
        notes.append("the INT8 graph missed the accuracy gate and was not shipped (see report.md)")

    if config.precision in ("bf16", "fp16"):
        notes.append(
            f"the accuracy gate ran on the float32 graph: onnxruntime on the CPU has no {config.precision.upper()} "
            "kernels, so the engine's own rounding is not simulated here"
        )
    graph_precision = "fp8" if config.quantized else "fp32"
    if engine_info is not None and config.precision in ("bf16", "fp16"):
        graph_precision = config.precision

    # 7. Manifest, last.
    backend = "tensorrt" if engine_info is not None else "onnxruntime"
    artifacts: dict[str, str] = {"onnx": ONNX_NAME}
    if engine_info is not None:
        artifacts["engine"] = ENGINE_NAME
    if int8_ok:
        artifacts["onnx_int8"] = INT8_NAME
    manifest = write_manifest(
        out,
        {
            "backend": backend,
            "template": template,
            "max_length": encoder.max_length,
            "max_sequence_length": encoder.max_sequence_length,
            "model_max_length": encoder.model_max_length,
            "allow_special_tokens": False,
            "limits": {
                "max_batch_size": config.max_batch_size,
                "max_seq_len": config.max_seq_len,
                "max_num_tokens": config.max_num_tokens,
            },
            "serving": {"batch_tokens": config.batch_tokens},
            "target": {
                "gpu": config.gpu,
                "precision": config.precision,
                "compute_capability": config.compute_capability,
                "graph_precision": graph_precision,
                "tensorrt_version": (engine_info or {}).get("tensorrt_version"),
                "profiles": [p.as_dict() for p in config.profiles],
                "workspace_bytes": config.workspace_bytes or None,
                "builder_optimization_level": config.builder_optimization_level if config.is_tensorrt else None,
                "config": config.source,
            },
            "model": _model_record(model, revision, source_path, classifier),
            "token_ids": {"yes": encoder.yes_id, "no": encoder.no_id, "pad": encoder.pad_id},
            "onnx_io": {"inputs": ["input_ids", "attention_mask"], "output": "scores", "padding": "right"},
            "artifacts": artifacts,
            **({"tensorrt": engine_info} if engine_info is not None else {}),
            "calibration": data_info,
            "quantization": quant_info,
            "checks": check.details,
            "gate": {
                "passed": gate.passed,
                "metrics": gate.metrics,
                "thresholds": gate.thresholds,
                "extra": {k: v.as_dict() for k, v in extra_gates.items()},
            },
            "notes": notes,
            "timings_s": timer.timings,
        },
    )
    summary = (
        f"gate passed: spearman {gate.metrics['spearman']:.4f}, top1 {gate.metrics['top1']:.3f}, "
        f"max |err| {gate.metrics['max_abs_error']:.4g}"
    )
    if exit_code == EXIT_NO_TENSORRT:
        hint = "" if "pip install" in missing else f" To compile, {INSTALL_TENSORRT}."
        message = (
            f"{out}: ONNX graph and gate done ({summary}), but the TensorRT engine was not built. {missing}{hint} "
            "The directory is written with backend onnxruntime for checking on the CPU; pass --onnx-only to make "
            "stopping before TensorRT a success (exit 0)."
        )
    else:
        what = "TensorRT engine" if engine_info is not None else f"{backend} engine directory"
        message = f"{out}: {what} built ({config.gpu}, {config.precision}); {summary}"
    return BuildResult(
        exit_code,
        message,
        out,
        manifest=manifest,
        gate=gate,
        check=check.as_dict(),
        engine_built=engine_info is not None,
        timings=timer.timings,
    )


__all__ = [
    "EXIT_CHECK",
    "EXIT_CONFIG",
    "EXIT_FAILED",
    "EXIT_GATE",
    "EXIT_NO_TENSORRT",
    "EXIT_OK",
    "BuildError",
    "BuildResult",
    "GateError",
    "build",
]
