"""1-logit classifier + real templated calibration pairs -> FP8 (E4M3) Q/DQ ONNX graph, with ModelOpt.

What is quantized: every linear layer of the transformer body (q/k/v/o projections and the gated MLP), weights and
input activations, FP8 E4M3 with one per-tensor scale each, set by max calibration (ModelOpt ``FP8_DEFAULT_CFG``).
What is not: the embedding table, the RMSNorms, rotary, attention's softmax and matmuls, and the score head. A
width-1 head in FP8 collapses the scores (its per-tensor scale is set by a single row, and every relevance
judgment passes through it), so ``score*`` quantizers are disabled explicitly: ModelOpt's default config excludes
only ``*lm_head*``.

Route chosen: ModelOpt torch PTQ (``mtq.quantize`` with a calibration forward loop over real templated pairs), then
the TorchScript ONNX export, then standard-ONNX fix-ups done here (`standard_qdq_from_trt_qdq`):

- ModelOpt's symbolic functions emit ``trt::TRT_FP8QuantizeLinear``/``TRT_FP8DequantizeLinear`` custom ops typed
  uint8; they become opset-19 ``QuantizeLinear``/``DequantizeLinear`` with an explicit FLOAT8E4M3FN zero point
  (saturating), the stale uint8 value_info entries are dropped and the ``trt`` domain import removed. Both
  TensorRT's strongly typed ONNX parser and onnxruntime accept the result.
- Weights are stored as FP8 initializers behind a DequantizeLinear (Q folded at build time, round-to-nearest-even
  as QuantizeLinear does), a quarter of the float32 size, and pre-transposed so TensorRT sees DQ -> MatMul.

Why this route, measured (fidelity of both routes against the float32 torch reference on the 265 held-out pairs of
the shipped set, 40 query groups, seed template, max_length 512, 128 calibration pairs; onnxruntime 1.32 CPU,
2 cores; random-weight Qwen2 models with the real tokenizer, since no trained checkpoint can be downloaded here):

=====================================  =========  =======  =====  =====  =======  ========  ==========
model, route                            Spearman   Kendall  top-1  top-5  max err  mean err  quantize s
=====================================  =========  =======  =====  =====  =======  ========  ==========
tiny (hidden 64, 2 layers), torch       0.939      0.877    0.875  0.955  0.233    0.059     18
tiny, ONNX PTQ                          0.945      0.886    0.875  0.965  0.202    0.057     11
0.5B widths (896/4864), 4 layers, torch 0.936      0.866    0.850  0.965  0.358    0.098     108
0.5B widths, 4 layers, ONNX PTQ         0.938      0.879    0.925  0.970  0.370    0.091     364
=====================================  =========  =======  =====  =====  =======  ========  ==========

The two are within noise of each other (the ONNX route quantizes weights per output channel, the torch route per
tensor as FP8_DEFAULT_CFG does; max errors go either way). The torch route stays the default: it calibrates in
float32 on length-bucketed batches of real prompts exactly as the runtime builds them, where the ONNX route needs a
calibration reader and defaults to FP16 for the non-quantized remainder and FP8 attention matmuls. (The ONNX numbers
above were taken with a stub for a missing dependency in a throwaway script; ``modelopt.onnx`` needs ``onnxscript``,
``lief`` and ``cppimport``, which the ``build`` extra now installs.) `fp8_onnx_from_onnx` keeps the ONNX route
(``quantization_route: onnx_ptq``) for those who want it, configured to match: float32 remainder, no attention Q/DQ,
the score head excluded.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from rerankrt._optional import MissingDependencyError, require
from rerankrt.build.export import load_classifier, onnx_files, onnx_from_module, save_onnx, scorer_module
from rerankrt.calibration.loop import Batch, calibration_arrays, forward_loop, length_batches

log = logging.getLogger("rerankrt.build")

FP8_MAX = 448.0  # largest finite E4M3 value
EXCLUDED = ("score*",)  # the head; embeddings, norms and attention have no linear quantizers to begin with
TRT_DOMAIN = "trt"
ZERO_POINT = "rerankrt_fp8_zero_point"
# What modelopt.onnx imports beyond the core install: the build extra has them all.
_MODELOPT_ONNX_DEPS = "pip install 'rerankrt[build]' (modelopt.onnx needs onnxscript, lief and cppimport)"


def fp8_quant_config() -> dict[str, Any]:
    """ModelOpt's FP8_DEFAULT_CFG (per-tensor E4M3, max calibration) with the score head excluded."""
    mtq = require("modelopt.torch.quantization", extra="build", purpose="FP8 quantization")
    config = copy.deepcopy(mtq.FP8_DEFAULT_CFG)
    entries = config["quant_cfg"]
    if isinstance(entries, dict):  # older ModelOpt: a mapping of pattern -> settings
        for pattern in EXCLUDED:
            entries[pattern] = {"enable": False}
    else:
        entries.extend({"quantizer_name": pattern, "enable": False} for pattern in EXCLUDED)
    return config


def quantized_module_from_checkpoint(classifier_dir: str | Path, batches: list[Batch]):
    """Classifier folder + calibration batches -> scorer module with calibrated ModelOpt FP8 quantizers.

    Raises:
        ValueError: No calibration batches: calibration never runs on nothing or on random data.
    """
    if not batches:
        raise ValueError("FP8 calibration needs real templated pairs; got none")
    mtq = require("modelopt.torch.quantization", extra="build", purpose="FP8 quantization")
    module = scorer_module(load_classifier(classifier_dir))
    printed = io.StringIO()  # ModelOpt prints "Inserted N quantizers" on stdout: a library's, not the command's output
    with warnings.catch_warnings(), contextlib.redirect_stdout(printed):
        warnings.simplefilter("ignore")
        mtq.quantize(module, fp8_quant_config(), forward_loop(batches, desc="calibrating FP8"))
    logging.getLogger(__name__).debug("modelopt: %s", " ".join(printed.getvalue().split()))
    return module


def quantizer_summary(module) -> dict[str, Any]:
    """Which quantizers are on, with their amax: for the manifest and for tests."""
    enabled, disabled = {}, []
    for name, sub in module.named_modules():
        if type(sub).__name__ != "TensorQuantizer":
            continue
        if getattr(sub, "is_enabled", False):
            amax = getattr(sub, "amax", None)
            enabled[name] = float(amax.max()) if amax is not None else None
        elif name.endswith(("weight_quantizer", "input_quantizer")):
            disabled.append(name)
    return {"enabled": enabled, "disabled": disabled}


def _to_fp8_bytes(values: np.ndarray) -> np.ndarray:
    """float32 array -> uint8 view of E4M3 values (round to nearest even, saturated to +-448)."""
    torch = require("torch", purpose="FP8 weight folding")
    tensor = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32)).clamp(-FP8_MAX, FP8_MAX)
    return tensor.to(torch.float8_e4m3fn).view(torch.uint8).numpy()


def _fold_fp8_weight(graph, dq, name: str, values: np.ndarray, consumers: dict, remove: list) -> None:
    """Replace a weight's Q with an FP8 initializer read by its DQ; fold a following [1, 0] Transpose into it too,
    so TensorRT sees DQ -> MatMul."""
    onnx = require("onnx", purpose="FP8 export")
    after = consumers.get(dq.output[0], [])
    transpose = after[0] if len(after) == 1 and after[0].op_type == "Transpose" else None
    if transpose is not None:
        perm = [a.ints for a in transpose.attribute if a.name == "perm"]
        if (perm and list(perm[0]) != [1, 0]) or not all(
            c.op_type == "MatMul" for c in consumers.get(transpose.output[0], [])
        ):
            transpose = None
    if transpose is not None:
        values = values.T
        dq.output[0] = transpose.output[0]
        remove.append(transpose)
    tensor = onnx.TensorProto()
    tensor.name = name + "_fp8"
    tensor.data_type = onnx.TensorProto.FLOAT8E4M3FN
    tensor.dims.extend(values.shape)
    tensor.raw_data = _to_fp8_bytes(values).tobytes()
    graph.initializer.append(tensor)
    dq.input[0] = tensor.name


def _drop_unused(model, q_outputs: set[str]) -> None:
    """Drop the fp32 weights and the Q-side scale constants nothing reads any more, and their stale type info."""
    onnx = require("onnx", purpose="FP8 export")
    graph = model.graph
    used = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    for node in [n for n in graph.node if n.op_type == "Constant" and n.output[0] not in used]:
        graph.node.remove(node)
    for tensor in [t for t in graph.initializer if t.name not in used]:
        graph.initializer.remove(tensor)
    stale = [
        v for v in graph.value_info if v.name in q_outputs or v.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    ]
    for info in stale:
        graph.value_info.remove(info)
    for opset in [o for o in model.opset_import if o.domain == TRT_DOMAIN]:
        model.opset_import.remove(opset)


def standard_qdq_from_trt_qdq(model):
    """ModelOpt's TorchScript FP8 export (``trt::`` custom Q/DQ) -> standard opset-19 FP8 Q/DQ, weights in FP8.

    Args:
        model: An ONNX ModelProto with weights loaded.

    Returns:
        The same ModelProto, rewritten in place (see the module docstring for what changes).
    """
    onnx = require("onnx", purpose="FP8 export")
    from onnx import helper, numpy_helper

    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    constants = {n.output[0]: n for n in graph.node if n.op_type == "Constant"}

    def const_value(name: str) -> np.ndarray | None:
        if name in inits:
            return numpy_helper.to_array(inits[name])
        node = constants.get(name)
        if node is not None:
            for attr in node.attribute:
                if attr.name == "value":
                    return numpy_helper.to_array(attr.t)
        return None

    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    zero = onnx.TensorProto()
    zero.name, zero.data_type, zero.raw_data = ZERO_POINT, onnx.TensorProto.FLOAT8E4M3FN, b"\x00"
    graph.initializer.append(zero)

    remove, q_outputs, folded = [], set(), 0
    for node in list(graph.node):
        if node.domain != TRT_DOMAIN or node.op_type != "TRT_FP8QuantizeLinear":
            continue
        weight, scale = const_value(node.input[0]), const_value(node.input[1])
        dqs = consumers.get(node.output[0], [])
        is_weight = node.input[0] in inits and weight is not None and weight.ndim == 2
        if is_weight and scale is not None and scale.size == 1 and len(dqs) == 1:
            _fold_fp8_weight(graph, dqs[0], node.input[0], weight / float(scale.reshape(-1)[0]), consumers, remove)
            remove.append(node)
            folded += 1
            continue
        node.op_type, node.domain = "QuantizeLinear", ""
        del node.input[2:]
        node.input.append(ZERO_POINT)
        node.attribute.append(helper.make_attribute("saturate", 1))
        q_outputs.add(node.output[0])
    for node in graph.node:
        if node.domain == TRT_DOMAIN and node.op_type == "TRT_FP8DequantizeLinear":
            node.op_type, node.domain = "DequantizeLinear", ""
            del node.input[2:]
            node.input.append(ZERO_POINT)
    for node in remove:
        graph.node.remove(node)
    _drop_unused(model, q_outputs)
    leftover = sorted({n.op_type for n in graph.node if n.domain == TRT_DOMAIN})
    if leftover:
        raise RuntimeError(f"custom TensorRT ops left after the FP8 fix-ups: {leftover}")
    model.doc_string = f"rerankrt FP8 E4M3 Q/DQ ({folded} FP8 weight initializers)"
    return model


def fp8_onnx_from_checkpoint(
    classifier_dir: str | Path, out_path: str | Path, batches: list[Batch], *, pad_id: int, keep: dict | None = None
) -> tuple[Path, dict[str, Any]]:
    """Classifier folder + calibration batches -> FP8 Q/DQ ONNX (torch route: mtq.quantize, export, fix-ups).

    Args:
        classifier_dir: The 1-logit classifier.
        out_path: The .onnx file to write; the raw ModelOpt export is kept beside it as ``*.trt_qdq.onnx``.
        batches: Calibration batches of real templated pairs.
        pad_id: Padding token id.

        keep: When given, ``keep["module"]`` receives the calibrated scorer module (for the BF16 estimate).

    Returns:
        (`out_path`, quantization record for the manifest).
    """
    onnx = require("onnx", purpose="FP8 export")
    out_path = Path(out_path)
    start = time.perf_counter()
    module = quantized_module_from_checkpoint(classifier_dir, batches)
    calibrated = time.perf_counter() - start
    summary = quantizer_summary(module)
    if keep is not None:
        keep["module"] = module
    raw = out_path.with_name(out_path.stem + ".trt_qdq.onnx")
    onnx_from_module(module, raw, pad_id=pad_id)
    model = standard_qdq_from_trt_qdq(onnx.load(str(raw)))
    save_onnx(model, out_path)
    info = {
        "route": "torch",
        "tool": f"nvidia-modelopt {_modelopt_version()} mtq.quantize + TorchScript export + standard Q/DQ fix-ups",
        "format": "FP8 E4M3 (FLOAT8E4M3FN), per-tensor scales, QuantizeLinear/DequantizeLinear opset 19",
        "calibration": "max",
        "quantized": "every linear layer of the body: weights and input activations",
        "excluded": ["embeddings", "norms", "attention matmuls and softmax", "score head"],
        "calibration_batches": len(batches),
        "calibration_tokens": int(sum(int(b.lengths.sum()) for b in batches)),
        "quantizers_enabled": len(summary["enabled"]),
        "calibrate_seconds": round(calibrated, 3),
    }
    return out_path, info


def fp8_onnx_from_onnx(
    fp32_onnx: str | Path, out_path: str | Path, batches: list[Batch], *, head_node: str | None = None
) -> tuple[Path, dict[str, Any]]:
    """float32 graph + calibration batches -> FP8 Q/DQ graph with ModelOpt ONNX PTQ (``modelopt.onnx``).

    Configured to match the torch route: MatMul only, the score head excluded, float32 remainder, no attention Q/DQ.

    Raises:
        MissingDependencyError: ``modelopt.onnx`` cannot be imported (see `_MODELOPT_ONNX_DEPS`).
    """
    try:
        from modelopt.onnx.quantization import quantize as onnx_quantize
    except ImportError as exc:
        raise MissingDependencyError(
            f"the onnx_ptq route needs modelopt.onnx, which does not import here ({exc}); "
            f"use quantization_route: torch, or {_MODELOPT_ONNX_DEPS}"
        ) from exc
    onnx = require("onnx", purpose="FP8 export")
    from onnxruntime.quantization import CalibrationDataReader

    from rerankrt.build.check import Graph

    feeds = calibration_arrays(batches)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(feeds)

        def get_next(self):
            return next(self._it, None)

        def rewind(self) -> None:
            self._it = iter(feeds)

        def get_first(self):  # ModelOpt probes the graph with the first feed
            return feeds[0]

    if head_node is None:
        head = Graph(onnx.load(str(fp32_onnx), load_external_data=False)).head()
        head_node = head.name if head is not None else None
    start = time.perf_counter()
    # ModelOpt rewrites the graph file it is given; quantize a copy, so the input stays as its manifest hashed it.
    scratch = Path(tempfile.mkdtemp(prefix="ptq-", dir=Path(out_path).parent))
    try:
        for file in onnx_files(fp32_onnx):
            shutil.copyfile(file, scratch / file.name)
        onnx_quantize(
            str(scratch / Path(fp32_onnx).name),
            quantize_mode="fp8",
            calibration_method="max",
            calibration_data_reader=Reader(),
            calibration_eps=["cpu"],
            op_types_to_quantize=["MatMul", "Gemm"],
            nodes_to_exclude=[head_node] if head_node else None,
            high_precision_dtype="fp32",
            disable_mha_qdq=True,
            output_path=str(out_path),
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return Path(out_path), {
        "route": "onnx_ptq",
        "tool": f"nvidia-modelopt {_modelopt_version()} modelopt.onnx.quantization",
        "format": "FP8 E4M3 (FLOAT8E4M3FN), per-tensor scales, QuantizeLinear/DequantizeLinear",
        "calibration": "max",
        "excluded": [head_node, "attention matmuls"],
        "calibration_batches": len(batches),
        "calibrate_seconds": round(time.perf_counter() - start, 3),
    }


def low_precision_onnx_from_onnx(
    fp32_onnx: str | Path, out_path: str | Path, batch: Batch, *, precision: str = "bf16"
) -> tuple[Path, dict[str, Any]]:
    """float32 graph -> BF16 (or FP16) graph for a strongly typed TensorRT build, with ModelOpt AutoCast.

    TensorRT 10's strongly typed networks run in the graph's own types, so a BF16 engine (A100) needs a BF16 graph.
    AutoCast keeps numerically sensitive nodes and the score head in float32 and keeps the I/O types; its reference
    run uses one batch of real templated pairs (not random inputs: a random attention mask indexes out of range).
    onnxruntime's CPU provider has no BF16 kernels for this graph, so the gate runs on the float32 graph.

    Raises:
        MissingDependencyError: ``modelopt.onnx`` cannot be imported (see `_MODELOPT_ONNX_DEPS`).
    """
    try:
        from modelopt.onnx.autocast import convert_to_mixed_precision
    except ImportError as exc:
        raise MissingDependencyError(
            f"a {precision} TensorRT graph is made with modelopt.onnx.autocast, which does not import here ({exc}); "
            f"{_MODELOPT_ONNX_DEPS}"
        ) from exc
    onnx = require("onnx", purpose="BF16 conversion")
    from rerankrt.build.check import Graph

    out_path = Path(out_path)
    head = Graph(onnx.load(str(fp32_onnx), load_external_data=False)).head()
    feeds = out_path.with_suffix(".autocast.npz")
    np.savez(feeds, **calibration_arrays([batch])[0])
    start = time.perf_counter()
    model = convert_to_mixed_precision(
        str(fp32_onnx),
        low_precision_type=precision,
        keep_io_types=True,
        nodes_to_exclude=[f"^{head.name}$"] if head is not None else None,
        calibration_data=str(feeds),
    )
    save_onnx(model, out_path)
    return out_path, {
        "route": "autocast",
        "tool": f"nvidia-modelopt {_modelopt_version()} modelopt.onnx.autocast",
        "format": f"{precision.upper()} with float32 for sensitive nodes and the score head",
        "seconds": round(time.perf_counter() - start, 3),
    }


def _modelopt_version() -> str:
    try:
        import modelopt

        return str(modelopt.__version__)
    except Exception:  # noqa: BLE001 - the version is a label only
        return "?"


def fp8_onnx(
    *,
    route: str,
    classifier_dir: Path,
    fp32_onnx: Path,
    out_path: Path,
    encoded,
    pad_id: int,
    batch_tokens: int,
    keep: dict | None = None,
) -> tuple[Path, dict[str, Any]]:
    """The build's quantize stage: encoded calibration pairs -> FP8 graph through the configured route.

    ``keep`` (torch route only) receives the calibrated module under "module"."""
    batches = length_batches(encoded.ids, pad_id, max_tokens=batch_tokens)
    if route == "torch":
        return fp8_onnx_from_checkpoint(classifier_dir, out_path, batches, pad_id=pad_id, keep=keep)
    if route == "onnx_ptq":
        return fp8_onnx_from_onnx(fp32_onnx, out_path, batches)
    raise ValueError(f"unknown quantization route {route!r}")
