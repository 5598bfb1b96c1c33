"""Checkpoint -> engine directory: the build flow behind ``rerankrt build`` and ``make engine``.

Stages, each reading and writing files in a work folder beside the engine directory (``<out>.work/``), so a failed
stage leaves the earlier artifacts intact and each can be rerun alone::

    config         rerankrt/configs/<gpu>.yaml, validated first             (rerankrt.build.config)
    data           calibration + held-out pairs, never random               (rerankrt.calibration.dataset)
    classifier     1-logit classifier folder            <work>/classifier/  (rerankrt.models.ensure_classifier1)
    fp32 graph     float32 ONNX                         <work>/model.fp32.onnx (export.onnx_from_checkpoint)
    fp8 graph      ModelOpt FP8 Q/DQ ONNX               <work>/model.fp8.onnx  (quantize.fp8_onnx_from_checkpoint)
    tensorrt graph BF16 body (FP8 Q/DQ kept), fp32 tail <work>/model.trt.onnx  (precision.trt_graph_from_twin)
    check          structure + the TensorRT graph's types <work>/check.json    (check.check_graph, check_trt_graph)
    gate + report  held-out scores vs float32 reference <out>/report.*         (gate, report)
    package        graph, tokenizer (, INT8 graph)      <out>/model.onnx ...   (engine_dir.package_engine_dir)
    compile        TensorRT engine from model.trt.onnx  <out>/engine.plan      (compile.engine_from_onnx)
    tactics        FP8 GEMMs and fused attention present <out>/layers.json    (tactics.verdict_from_layers)
    manifest       the contract with the runtime        <out>/manifest.json    (engine_dir, rerankrt.manifest)

Which graph goes where: TensorRT targets write two graphs of one network. ``model.trt.onnx`` (BF16 body around the
FP8 GEMMs, float32 final norm and head) is what TensorRT compiles; ``model.onnx`` is its float32-remainder twin
(the FP8 Q/DQ graph, or the float32 graph for BF16 targets), which onnxruntime runs: the gate scores it (onnxruntime
has no BF16 kernels on the CPU) and a directory without engine.plan serves it. Beside the gate, a CPU estimate of the
engine's numerics (torch, BF16 body, FP8 fake quantization) is scored and reported (informational). Before any
work, the memory plan (`rerankrt.build.memory`) refuses profiles that cannot fit the target card. The stage
functions live in `rerankrt.build.stages`; this module runs them.

The manifest is written last: a directory without one is not an engine directory, so a failed build is never
served. Exit codes: 0 success, 2 configuration or data error, 3 TensorRT or a CUDA GPU missing (the directory
is still written, served by onnxruntime), 4 accuracy gate failed, 5 graph structure check failed.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rerankrt._device import DEFAULT_MODEL, detected_capability, tensorrt_status
from rerankrt.build.config import ConfigError
from rerankrt.build.engine_dir import manifest_from_build, package_engine_dir
from rerankrt.build.export import onnx_from_checkpoint
from rerankrt.build.gate import GateResult
from rerankrt.build.stages import (
    ENGINE_NAME,
    EXIT_CHECK,
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_GATE,
    EXIT_NO_TENSORRT,
    EXIT_OK,
    EXIT_TACTICS,
    TRT_ONNX_NAME,
    BuildError,
    BuildPlan,
    Compiled,
    Gated,
    Graphs,
    clear_outputs,
    config_from_args,
    encoder_for_build,
    engine_from_graph,
    engine_gate_from_build,
    gate_from_graph,
    pairs_for_build,
    reference_scores_from_checkpoint,
    side_gates,
    summary_message,
    trt_graph_for_target,
)
from rerankrt.calibration.loop import encode_pairs
from rerankrt.manifest import Manifest, write_manifest
from rerankrt.prompt import TEMPLATES

log = logging.getLogger("rerankrt.build")


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


def _build(*, timer: _Timer, **args: Any) -> BuildResult:
    plan = _plan(timer=timer, **args)
    graphs = _graphs(plan, timer)
    from rerankrt.build.check import GraphCheck, check_graph, check_trt_graph
    from rerankrt.build.stages import body_precision

    with timer("check"):
        check = check_graph(graphs.shipped, quantized=plan.config.quantized)
        if graphs.trt_onnx is not None:
            # The graph TensorRT compiles: the same structure, plus the tensor types the engine will run in.
            trt = check_trt_graph(graphs.trt_onnx, body=body_precision(plan.config), quantized=plan.config.quantized)
            check = GraphCheck(
                passed=check.passed and trt.passed,
                details={**check.details, "tensorrt_graph": trt.details},
                failures=[*check.failures, *(f"TensorRT graph: {f}" for f in trt.failures)],
            )
        (plan.work / "check.json").write_text(json.dumps(check.as_dict(), indent=2) + "\n")
    if not check.passed:
        raise BuildError(
            "graph structure check failed: " + "; ".join(check.failures), EXIT_CHECK, check=check.as_dict()
        )
    gated, held_encoded = _gate_stage(plan, graphs, check.as_dict(), timer)
    package_engine_dir(plan, graphs, gated)
    compiled = _compile_stage(plan, graphs, gated, held_encoded, timer, onnx_only=args["onnx_only"])
    manifest = write_manifest(manifest_from_build(plan, graphs, gated, compiled, check.details, timer.timings))
    exit_code = EXIT_NO_TENSORRT if compiled.missing else EXIT_OK
    return BuildResult(
        exit_code,
        summary_message(plan, gated, compiled),
        plan.out,
        manifest=manifest,
        gate=gated.gate,
        check=check.as_dict(),
        engine_built=compiled.engine_info is not None,
        timings=timer.timings,
    )


def _plan(
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
) -> BuildPlan:
    """Everything that can be refused is refused here, before any work; the outputs of an earlier build go."""
    from rerankrt.models import resolve_checkpoint

    if template not in TEMPLATES:
        raise ConfigError(f"--template must be one of {TEMPLATES}, got {template!r}")
    overrides = dict(config_overrides or {})
    if max_calibration_pairs is not None:
        overrides["max_calibration_pairs"] = int(max_calibration_pairs)
    config = config_from_args(gpu, overrides=overrides, detected=detected_capability(), onnx_only=onnx_only)
    cal_pairs, held_pairs, data_info = pairs_for_build(calibration, config)
    with timer("checkpoint"):
        try:
            source_path = resolve_checkpoint(model, revision=revision)
        except (FileNotFoundError, ValueError) as exc:
            raise BuildError(f"model {model!r}: {exc}", EXIT_CONFIG) from exc
        encoder = encoder_for_build(source_path, template, config)
    memory = None
    if config.is_tensorrt:
        from rerankrt.build.memory import ModelShape, check_memory

        # Refused here, before any work: weights + every profile's activations + workspace on the planned card.
        memory = check_memory(config, ModelShape.from_checkpoint(source_path)).as_dict()
    work = Path(work_dir) if work_dir is not None else out.with_name(out.name + ".work")
    work.mkdir(parents=True, exist_ok=True)
    clear_outputs(out)
    log.info("build: %s -> %s (%s, %s, template %s)", model, out, config.gpu, config.precision, template)
    return BuildPlan(
        config=config,
        model=str(model),
        revision=revision,
        template=template,
        out=out,
        work=work,
        source_path=source_path,
        encoder=encoder,
        cal_pairs=cal_pairs,
        held_pairs=held_pairs,
        data_info=data_info,
        memory=memory,
    )


def _graphs(plan: BuildPlan, timer: _Timer) -> Graphs:
    """The 1-logit classifier, its float32 graph, and on FP8 targets the Q/DQ graph calibrated on real pairs."""
    from rerankrt.models import ensure_classifier1

    with timer("convert"):
        classifier = ensure_classifier1(plan.source_path, plan.work / "classifier", revision=plan.revision)
    with timer("export_fp32"):
        fp32_onnx = onnx_from_checkpoint(classifier, plan.work / "model.fp32.onnx")
    graphs = Graphs(classifier=classifier, fp32_onnx=fp32_onnx, shipped=fp32_onnx)
    encoded = encode_pairs(plan.cal_pairs or plan.held_pairs, plan.encoder)
    if plan.config.quantized:
        from rerankrt.build import quantize

        keep: dict = {}
        with timer("quantize_fp8"):
            graphs.shipped, graphs.quant_info = quantize.fp8_onnx(
                route=plan.config.quantization_route,
                classifier_dir=classifier,
                fp32_onnx=fp32_onnx,
                out_path=plan.work / "model.fp8.onnx",
                encoded=encoded,
                pad_id=plan.encoder.pad_id,
                batch_tokens=plan.config.calibration_batch_tokens,
                keep=keep,
            )
        graphs.scorer = keep.get("module")
    elif plan.config.is_tensorrt:
        from rerankrt.build.export import load_classifier, scorer_module

        graphs.scorer = scorer_module(load_classifier(classifier))
    if plan.config.is_tensorrt:
        with timer("tensorrt_graph"):
            graphs.trt_onnx, graphs.trt_info = trt_graph_for_target(
                graphs.shipped, plan.work, encoded, plan.encoder.pad_id, plan.config
            )
    return graphs


def _gate_stage(plan: BuildPlan, graphs: Graphs, check: dict[str, Any], timer: _Timer):
    """The held-out pairs scored by the shipped graph against the float32 torch reference, and the report.

    Returns:
        (`Gated`, the encoded held-out pairs).

    Raises:
        BuildError: (exit 4) the gate failed; the report is still written.
    """
    from rerankrt.build.report import report_from_scores

    config, encoder = plan.config, plan.encoder
    held_encoded = encode_pairs(plan.held_pairs, encoder)
    groups = [p.group for p in plan.held_pairs]
    with timer("reference"):
        reference = reference_scores_from_checkpoint(graphs.classifier, held_encoded, encoder.pad_id, config)
    # The gate scores the graph this stage has: the FP8 Q/DQ graph, or the float32 graph for every other target
    # (a BF16/FP16 engine's own rounding cannot be simulated by onnxruntime on the CPU).
    precision = "fp8" if config.quantized else "fp32"
    graph = graphs.shipped.name
    label = f"{'FP8 Q/DQ' if config.quantized else 'float32'} graph {graph} (onnxruntime)"
    with timer("gate"):
        gate, candidate = gate_from_graph(
            graphs.shipped, reference, held_encoded, groups, encoder.pad_id, config, label
        )
    estimate_label, estimate, extra = side_gates(plan, graphs, reference, held_encoded, groups, timer)
    meta = {
        "target": config.as_dict(),
        "template": plan.template,
        "model": plan.model,
        "calibration": plan.data_info,
        "quantization": graphs.quant_info,
        "tensorrt_graph": graphs.trt_info,
        "check": check,
        "timings_s": timer.timings,
    }
    report_from_scores(
        plan.out,
        reference=reference,
        candidate=candidate,
        groups=groups,
        gate=gate,
        label=label,
        meta=meta,
        extra_gates=extra,
        estimate=(estimate_label, estimate) if estimate is not None else None,
    )
    if not gate.passed:
        raise BuildError(
            f"accuracy gate failed ({label} vs float32 reference on {len(plan.held_pairs)} held-out pairs): "
            + "; ".join(gate.failures)
            + f". See {plan.out / 'report.md'}",
            EXIT_GATE,
            gate=gate,
            check=check,
        )
    int8_ok = all(g.passed for g in extra.values()) and bool(extra)
    gated = Gated(
        reference=reference,
        groups=groups,
        gate=gate,
        graph=graph,
        precision=precision,
        label=label,
        extra=extra,
        int8_ok=int8_ok,
        estimate=estimate,
        estimate_label=estimate_label,
    )
    return gated, held_encoded


def _compile_stage(
    plan: BuildPlan, graphs: Graphs, gated: Gated, held_encoded, timer: _Timer, *, onnx_only: bool
) -> Compiled:
    """TensorRT targets: engine.plan from model.onnx (an AutoCast graph replaces it for BF16/FP16), or the reason
    there is none; the notes say what was not built and what the directory serves instead."""
    config = plan.config
    compiled = Compiled(quant_info=graphs.quant_info)
    if not config.is_tensorrt:
        return compiled
    if onnx_only:
        compiled.notes.append(
            "built with --onnx-only: no TensorRT engine; model.onnx is served by onnxruntime on the CPU"
        )
        return compiled
    ok, why = tensorrt_status()
    if ok:
        from rerankrt.build import compile as trt_compile

        try:
            with timer("compile"):
                compiled.engine_info = engine_from_graph(
                    plan.out / TRT_ONNX_NAME, plan.out / ENGINE_NAME, config, plan.work / "timing.cache"
                )
            _verify_engine(plan, compiled.engine_info)
            _gate_engine(plan, gated, held_encoded, compiled, timer)
        except trt_compile.TensorRTUnavailable as exc:
            ok, why = False, str(exc)
        except trt_compile.CompileError as exc:
            raise BuildError(f"TensorRT compile failed: {exc}", EXIT_FAILED) from exc
    if not ok:
        compiled.missing = why
        shipped = "FP8 Q/DQ" if config.quantized else "float32"
        compiled.notes.append(
            f"no TensorRT engine: {why}. model.onnx (the {shipped} graph, not {config.precision.upper()}) is "
            "served by onnxruntime on the CPU for checking; rebuild on the target GPU for engine.plan"
        )
    return compiled


def _gate_engine(plan: BuildPlan, gated: Gated, held_encoded, compiled: Compiled, timer: _Timer) -> None:
    """The engine itself against the float32 reference on the held-out pairs; a miss fails the build (exit 4)."""
    from rerankrt.runtime.backends import BackendUnavailableError

    try:
        with timer("engine gate"):
            verdict = engine_gate_from_build(plan, gated, held_encoded)
    except BackendUnavailableError as exc:
        compiled.engine_info["engine_gate"] = {"ran": False, "why": str(exc)}
        compiled.notes.append(f"the engine itself was not gated: {exc}")
        return
    compiled.engine_info["engine_gate"] = {"ran": True, **verdict.as_dict()}
    if not verdict.passed:
        raise BuildError(
            f"accuracy gate failed on the TensorRT engine itself ({plan.config.precision}, this GPU) vs the float32 "
            f"reference on {len(plan.held_pairs)} held-out pairs: " + "; ".join(verdict.failures),
            EXIT_GATE,
            gate=verdict,
        )


def _verify_engine(plan: BuildPlan, engine_info: dict[str, Any]) -> None:
    """The built engine's layers -> report.md's layer table and a verdict; a miss fails the build (exit 7).

    Also puts TensorRT's own per-profile memory beside the plan's estimate in the engine record.
    """
    from rerankrt.build import tactics
    from rerankrt.build.report import append_layer_table

    info = (plan.out / engine_info["layers_json"]).read_text()
    names, layers = tactics.body_linear_names(plan.out / TRT_ONNX_NAME)
    verdict = tactics.verdict_from_layers(
        info, body_linears=names, transformer_layers=layers, fp8=plan.config.quantized
    )
    append_layer_table(plan.out, tactics.layer_rows(info), verdict.as_dict())
    engine_info["tactics"] = verdict.as_dict()
    if plan.memory is not None:
        engine_info["memory_vs_estimate"] = [
            {"max": row["max"], "estimate_bytes": row["fused_bytes"], "tensorrt_bytes": actual}
            for row, actual in zip(
                plan.memory["profiles"], engine_info.get("device_memory_per_profile", []), strict=False
            )
        ]
    if not verdict.passed:
        raise BuildError(
            "the TensorRT engine does not run at the target's precision: "
            + "; ".join(verdict.failures)
            + f". See the layer table in {plan.out / 'report.md'}",
            EXIT_TACTICS,
        )


__all__ = [
    "EXIT_CHECK",
    "EXIT_CONFIG",
    "EXIT_FAILED",
    "EXIT_GATE",
    "EXIT_NO_TENSORRT",
    "EXIT_OK",
    "EXIT_TACTICS",
    "BuildError",
    "BuildResult",
    "build",
]
