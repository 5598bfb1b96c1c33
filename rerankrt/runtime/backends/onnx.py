"""onnxruntime on the CPU: serves the float32, INT8 (dynamic) and FP8 Q/DQ graphs of an engine directory.

The FP8 graph runs as simulated FP8 (onnxruntime has no FP8 kernels on the CPU): QuantizeLinear rounds to E4M3 and
DequantizeLinear scales back, so the numbers are those of the FP8 engine up to kernel accumulation order. It is
the build's accuracy gate and a way to check an FP8 engine directory on a machine without a GPU; it is slower
than the float32 graph.

Graph optimisation: float32 and INT8 graphs take ``ORT_ENABLE_ALL``. A graph with FP8 Q/DQ takes
``ORT_ENABLE_BASIC``, which keeps every Q/DQ pair as written, so its numbers are the FP8 engine's. The extended
levels rewrite FP8 Q/DQ chains: measured with onnxruntime 1.32 on a 0.5B-wide 4-layer FP8 graph, ``ORT_ENABLE_ALL``
ran 2.3x faster (569 vs 247 tokens/s on 2 cores) but moved scores by up to 2e-2 against ``BASIC`` (1.24 mis-fused
FP8 DequantizeLinear outright). For a fidelity check and a CPU stand-in for the engine, exact beats fast.

Memory: onnxruntime's CPU arena keeps the largest block it ever allocated. One 8,192-token pair on the tiny 4-head
graph took RSS from 0.11 to 3.1 GB and it stayed there. A batch whose attention tensors exceed `ARENA_SHRINK_BYTES`
therefore runs with the ``memory.enable_memory_arena_shrinkage`` run option, which hands the arena's free blocks back
after the call: RSS came back to 0.11 GB. Measured on 2 loaded cores (onnxruntime 1.32): with the arena off
(``enable_cpu_mem_arena=False``) RSS also returns, but that long pair ran in 9.1 s against 2.5-4.0 s with the arena,
and every batch pays for fresh allocations; shrinking only after big batches leaves ordinary batches the arena's speed.

The model's sizes (`ModelShape`, for the scheduler's memory bound) are read from the graph itself (`model_shape_of`):
an engine directory holds no checkpoint config, the build machine's checkpoint path may not exist where it is
served, and the graph is the very artifact that runs (hashed in the manifest). Reading them imports onnx and
parses the graph (~0.5 s of a CLI call), so they are cached per user under the graph's sha256 (`cached_model_shape`).
"""

from __future__ import annotations

import collections
import json
from pathlib import Path

import numpy as np

from rerankrt._cache import read_entry, write_entry
from rerankrt._device import FP8_TYPES
from rerankrt._optional import require
from rerankrt.manifest import ONNX_INPUTS, ONNX_OUTPUT
from rerankrt.runtime.backends.base import (
    Backend,
    BackendError,
    BackendLimits,
    ModelShape,
    attention_mask,
    check_batch,
)

# A batch whose attention tensors (rows x heads x seq^2 float32, three of them) exceed this runs with arena shrinkage.
ARENA_SHRINK_BYTES = 256 << 20
# Heads when the graph does not say: hidden / 64, the head size of the Qwen2 family (14 heads for the 896-wide
# mxbai-rerank-base-v2).
FALLBACK_HEAD_DIM = 64
_ATTENTION_OPS = ("Attention", "MultiHeadAttention", "GroupQueryAttention")


def graph_precision(model_path: str | Path) -> str:
    """ "fp8", "int8", "bf16", "fp16" or "fp32": the precision an ONNX graph holds, read without loading its weights.

    Quantized graphs are told by their Q/DQ nodes; otherwise the floating-point type most weights have decides
    (AutoCast's BF16/FP16 graphs for TensorRT keep a few float32 tensors).
    """
    onnx = require("onnx", extra="cpu", purpose="inspecting an ONNX graph")
    model = onnx.load(str(model_path), load_external_data=False)
    fp8 = {getattr(onnx.TensorProto, name) for name in FP8_TYPES if hasattr(onnx.TensorProto, name)}
    typed = {t.name: t.data_type for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.t is not None and attr.t.data_type:
                    typed[node.output[0]] = attr.t.data_type
    for node in model.graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            zero_point = node.input[2] if len(node.input) > 2 else ""
            if typed.get(zero_point) in fp8 or (node.op_type == "DequantizeLinear" and typed.get(node.input[0]) in fp8):
                return "fp8"
            for attr in node.attribute:
                if attr.name == "output_dtype" and attr.i in fp8:
                    return "fp8"
    if any(
        node.op_type in ("DynamicQuantizeLinear", "MatMulInteger", "DynamicQuantizeMatMul") for node in model.graph.node
    ):
        return "int8"
    if any(node.op_type in ("QuantizeLinear", "DequantizeLinear") for node in model.graph.node):
        return "int8"
    kinds = {onnx.TensorProto.FLOAT: "fp32", onnx.TensorProto.BFLOAT16: "bf16", onnx.TensorProto.FLOAT16: "fp16"}
    counts = collections.Counter(kinds[t] for t in typed.values() if t in kinds)
    return max(("fp32", "bf16", "fp16"), key=counts.__getitem__)  # a tie (or no weights) reads as fp32


def _constant_ints(model, name: str) -> list[int] | None:
    """The integer values behind graph tensor `name` when it is a constant (through Unsqueeze/Cast/Identity)."""
    from onnx import numpy_helper

    producers = {out: node for node in model.graph.node for out in node.output}
    initializers = {t.name: t for t in model.graph.initializer}
    for _ in range(8):
        if name in initializers:
            return [int(v) for v in numpy_helper.to_array(initializers[name]).reshape(-1)]
        node = producers.get(name)
        if node is None:
            return None
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    return [int(v) for v in numpy_helper.to_array(attr.t).reshape(-1)]
            return None
        if node.op_type not in ("Unsqueeze", "Cast", "Identity") or not node.input:
            return None
        name = node.input[0]
    return None


def model_shape_of(model_path: str | Path) -> ModelShape | None:
    """The layers, hidden width and attention heads of an exported Qwen2-style graph, read without its weights.

    hidden: the embedding table's width. layers: the attention blocks (fused attention ops, else Softmax nodes).
    heads: a fused op's ``num_heads``; else the query projection's width over the head size that its Reshape to
    heads names (``view(..., -1, head_dim)``), else hidden / `FALLBACK_HEAD_DIM`. None when the graph has no
    embedding table or attention to read.
    """
    onnx = require("onnx", extra="cpu", purpose="inspecting an ONNX graph")
    model = onnx.load(str(model_path), load_external_data=False)
    dims = {t.name: list(t.dims) for t in model.graph.initializer}
    hidden = next((d[1] for n, d in dims.items() if n.endswith("embed_tokens.weight") and len(d) == 2), None)
    fused = [n for n in model.graph.node if n.op_type in _ATTENTION_OPS]
    layers = len(fused) or sum(n.op_type == "Softmax" for n in model.graph.node)
    if not hidden or not layers:
        return None
    heads = next((a.i for n in fused for a in n.attribute if a.name == "num_heads" and a.i > 0), None)
    if heads is None:
        q_width = next((d[0] for n, d in dims.items() if "q_proj" in n and n.endswith("bias") and len(d) == 1), hidden)
        producers = {out: node for node in model.graph.node for out in node.output}
        for node in model.graph.node:
            shape = producers.get(node.input[1]) if node.op_type == "Reshape" and len(node.input) > 1 else None
            if shape is None or "q_proj" not in node.input[0] or shape.op_type != "Concat":
                continue
            head_dim = _constant_ints(model, shape.input[-1])
            if head_dim and len(head_dim) == 1 and head_dim[0] > 0 and q_width % head_dim[0] == 0:
                heads = q_width // head_dim[0]
                break
    return ModelShape(layers=int(layers), hidden=int(hidden), heads=int(heads or max(1, hidden // FALLBACK_HEAD_DIM)))


_SHAPE_CACHE_VERSION = 1


def cached_model_shape(model_path: str | Path, sha256: str | None) -> ModelShape | None:
    """`model_shape_of`, from the per-user cache when the graph's sha256 is known (a corrupt entry is re-read)."""
    if not sha256:
        return model_shape_of(model_path)
    name = f"graph-shape-v{_SHAPE_CACHE_VERSION}-{sha256}.json"
    data = read_entry(name)
    if data is not None:
        try:
            entry = json.loads(data)
            if entry["sha256"] == sha256:
                return None if entry["shape"] is None else ModelShape(**entry["shape"])
        except (ValueError, KeyError, TypeError):  # corrupt or foreign: read the graph again
            pass
    shape = model_shape_of(model_path)
    fields = None if shape is None else {"layers": shape.layers, "hidden": shape.hidden, "heads": shape.heads}
    write_entry(name, json.dumps({"sha256": sha256, "shape": fields}).encode())
    return shape


class OnnxBackend(Backend):
    """Scores right-padded batches with an ONNX graph on onnxruntime's CPUExecutionProvider.

    Args:
        model_path: The .onnx file (its external ``.data`` file, if any, beside it).
        max_batch_size: Most rows per call.
        max_seq_len: Longest row, padding included.
        max_num_tokens: Most padded tokens (batch x seq) per call.
        threads: Intra-op threads. Defaults to onnxruntime's choice (one per physical core).
        precision: "fp32", "int8" or "fp8". Defaults to what the graph holds (`graph_precision`); a BF16 graph
            (an A100 engine directory's, made for TensorRT) is refused: onnxruntime's CPU provider cannot run it.
        sha256: The graph file's sha256 (the manifest's, verified on read): its model sizes are then cached.
    """

    name = "onnxruntime"
    runs_on_host = True

    def __init__(
        self,
        model_path: str | Path,
        *,
        max_batch_size: int,
        max_seq_len: int,
        max_num_tokens: int,
        threads: int | None = None,
        precision: str | None = None,
        sha256: str | None = None,
    ) -> None:
        ort = require("onnxruntime", extra="cpu", purpose="the onnxruntime backend")
        model_path = Path(model_path)
        if not model_path.is_file():
            raise BackendError(f"no ONNX graph at {model_path}")
        self.precision = precision or graph_precision(model_path)
        if self.precision == "bf16":
            raise BackendError(
                f"{model_path} is a BF16 graph, made for a TensorRT BF16 engine; onnxruntime's CPU provider has no "
                "BF16 kernels for it. Serve its engine directory with backend='tensorrt' on a GPU, or build one "
                "for --gpu cpu to serve on onnxruntime"
            )
        options = ort.SessionOptions()
        options.graph_optimization_level = (
            ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
            if self.precision == "fp8"
            else ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        )
        if threads:
            options.intra_op_num_threads = int(threads)
            options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises several unrelated types
            raise BackendError(f"onnxruntime cannot load {model_path}: {exc}") from exc
        names = [i.name for i in self.session.get_inputs()]
        outputs = [o.name for o in self.session.get_outputs()]
        if sorted(names) != sorted(ONNX_INPUTS) or ONNX_OUTPUT not in outputs:
            raise BackendError(
                f"{model_path} has inputs {names} and outputs {outputs}; "
                f"the engine contract is inputs {list(ONNX_INPUTS)} and output {ONNX_OUTPUT!r}"
            )
        self.model_path = model_path
        self._limits = BackendLimits(
            max_batch_size=int(max_batch_size),
            max_seq_len=int(max_seq_len),
            max_num_tokens=int(max_num_tokens),
            model=cached_model_shape(model_path, sha256),
        )
        self._shrink = ort.RunOptions()
        self._shrink.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")

    @property
    def limits(self) -> BackendLimits:
        return self._limits

    def score(self, input_ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        input_ids = np.ascontiguousarray(input_ids, dtype=np.int64)
        lengths = np.asarray(lengths, dtype=np.int64)
        check_batch(input_ids, lengths, self._limits)
        mask = attention_mask(lengths, input_ids.shape[1])
        run_options = self._shrink if self.attention_bytes(*input_ids.shape) > ARENA_SHRINK_BYTES else None
        try:
            (scores,) = self.session.run([ONNX_OUTPUT], {ONNX_INPUTS[0]: input_ids, ONNX_INPUTS[1]: mask}, run_options)
        except Exception as exc:  # noqa: BLE001 - any onnxruntime failure is this batch's failure
            raise BackendError(f"onnxruntime failed on a {input_ids.shape} batch: {exc}") from exc
        return np.asarray(scores, dtype=np.float32).reshape(-1)

    def attention_bytes(self, rows: int, seq: int) -> int:
        """The float32 attention tensors of one layer of a rows x seq batch (three copies of rows x heads x seq^2)."""
        model = self._limits.model
        heads = model.heads if model is not None else 1
        return 3 * rows * heads * seq * seq * 4

    def health(self) -> None:
        if self.session is None:
            raise BackendError("onnxruntime session is closed")

    def close(self) -> None:
        self.session = None
