"""Engine-directory packaging: the files the runtime loads, and the typed manifest that hashes them.

The manifest is written last by `rerankrt.build.pipeline`: a directory without one is not an engine directory.
"""

from __future__ import annotations

import shutil

from rerankrt.build.config import BuildConfig
from rerankrt.build.stages import (
    ENGINE_NAME,
    INT8_NAME,
    ONNX_NAME,
    TRT_ONNX_NAME,
    BuildPlan,
    Compiled,
    Gated,
    Graphs,
    copy_onnx,
    model_info_from_checkpoint,
)
from rerankrt.manifest import (
    TOKENIZER_DIR,
    Artifacts,
    Calibration,
    Gate,
    Limits,
    Manifest,
    Serving,
    Target,
    TokenIds,
)
from rerankrt.models import copy_tokenizer_files


def package_engine_dir(plan: BuildPlan, graphs: Graphs, gated: Gated) -> None:
    """The engine directory's graph, tokenizer and (when it passed its gate) INT8 graph."""
    copy_onnx(graphs.shipped, plan.out / ONNX_NAME)
    if graphs.trt_onnx is not None:
        copy_onnx(graphs.trt_onnx, plan.out / TRT_ONNX_NAME)
    copy_tokenizer_files(graphs.classifier, plan.out / TOKENIZER_DIR)
    if gated.int8_ok:
        shutil.copyfile(plan.work / INT8_NAME, plan.out / INT8_NAME)


def shipped_graph_precision(config: BuildConfig, compiled: Compiled) -> str:
    """The precision of model.onnx, the twin onnxruntime runs: FP8 Q/DQ with a float32 remainder, or float32.
    (The BF16-body graph TensorRT compiles is model.trt.onnx, `Artifacts.onnx_tensorrt`.)"""
    del compiled  # model.onnx no longer changes with the compile
    return "fp8" if config.quantized else "fp32"


def manifest_from_build(
    plan: BuildPlan, graphs: Graphs, gated: Gated, compiled: Compiled, checks: dict, timings: dict
) -> Manifest:
    """The build's outcome as the typed manifest `write_manifest` hashes and writes."""
    config, encoder, engine = plan.config, plan.encoder, compiled.engine_info
    notes = list(compiled.notes)
    if config.gpu == "cpu" and config.int8_cpu and not gated.int8_ok:
        notes.append("the INT8 graph missed the accuracy gate and was not shipped (see report.md)")
    if config.is_tensorrt:
        notes.append(
            f"TensorRT compiles {TRT_ONNX_NAME} (BF16/FP16 body); the accuracy gate ran on its float32-remainder "
            f"twin {ONNX_NAME} in onnxruntime (no BF16 kernels on the CPU); gate.estimate is a CPU estimate of "
            "the engine's own numerics"
        )
    return Manifest(
        path=plan.out,
        backend="tensorrt" if engine is not None else "onnxruntime",
        template=plan.template,
        max_length=encoder.max_length,
        max_sequence_length=encoder.max_sequence_length,
        model_max_length=encoder.model_max_length,
        allow_special_tokens=False,
        limits=Limits(
            max_batch_size=config.max_batch_size,
            max_seq_len=config.max_seq_len,
            max_num_tokens=config.max_num_tokens,
        ),
        serving=Serving(batch_tokens=config.batch_tokens),
        target=Target(
            gpu=config.gpu,
            precision=config.precision,
            compute_capability=config.compute_capability,
            graph_precision=shipped_graph_precision(config, compiled),
            tensorrt_version=(engine or {}).get("tensorrt_version"),
            profiles=config.profiles,
            workspace_bytes=config.workspace_bytes or None,
            builder_optimization_level=config.builder_optimization_level if config.is_tensorrt else None,
            config=config.source or None,
        ),
        model=model_info_from_checkpoint(plan.model, plan.revision, plan.source_path, graphs.classifier),
        token_ids=TokenIds(yes=encoder.yes_id, no=encoder.no_id, pad=encoder.pad_id),
        artifacts=Artifacts(
            onnx=ONNX_NAME,
            engine=ENGINE_NAME if engine is not None else None,
            onnx_int8=INT8_NAME if gated.int8_ok else None,
            onnx_tensorrt=TRT_ONNX_NAME if graphs.trt_onnx is not None else None,
        ),
        calibration=Calibration(**plan.data_info),
        gate=Gate(
            graph=gated.label,
            precision=gated.precision,
            passed=gated.gate.passed,
            metrics=gated.gate.metrics,
            thresholds=gated.gate.thresholds,
            extra={k: v.as_dict() for k, v in gated.extra.items()},
            estimate={"label": gated.estimate_label, **gated.estimate.as_dict()} if gated.estimate else None,
        ),
        notes=tuple(notes),
        details={
            "quantization": compiled.quant_info,
            "tensorrt_graph": graphs.trt_info,
            "memory": plan.memory,
            "checks": checks,
            "tensorrt": engine,
            "timings_s": timings,
        },
    )
