"""ONNX graph -> structural verdict: the I/O contract, dynamic axes, and where FP8 Q/DQ sits.

Run on every build, before the accuracy gate:

- inputs ``input_ids``/``attention_mask`` int64 [batch, seq] and output ``scores`` float32 [batch], with symbolic
  (dynamic) batch and sequence axes;
- FP8 graphs: every linear layer of the transformer body (a MatMul/Gemm with a rank-2 weight) reads an FP8
  ``DequantizeLinear`` on both inputs, weights and activations;
- the score head (the MatMul/Gemm that feeds ``scores``) reads no DequantizeLinear: a quantized width-1 head
  collapses scores; the embedding Gather reads its table in full precision;
- float32 graphs carry no Q/DQ at all.

Activation-by-activation MatMuls (attention's QK^T and PV, rotary's frequencies) are counted and reported, not
required: ModelOpt's FP8 recipe quantizes linear layers.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rerankrt._device import FP8_TYPES
from rerankrt._optional import require
from rerankrt.manifest import ONNX_INPUTS, ONNX_OUTPUT

LINEAR_OPS = ("MatMul", "Gemm")
PASS_THROUGH = ("Identity", "Cast", "Reshape", "Squeeze", "Unsqueeze", "Transpose", "Flatten")


@dataclass(frozen=True)
class GraphCheck:
    """Structural verdict on one graph.

    Attributes:
        passed: Whether every rule held.
        details: Counts and names: linear layers, quantized ones, head, attention MatMuls, axes.
        failures: One line per broken rule.
    """

    passed: bool
    details: dict[str, Any]
    failures: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Graph:
    """An ONNX graph indexed for the structural rules: producers, consumers, constants and their types."""

    def __init__(self, model) -> None:
        onnx = require("onnx", purpose="graph checks")
        self.model = model
        self.graph = model.graph
        self.fp8 = {getattr(onnx.TensorProto, n) for n in FP8_TYPES if hasattr(onnx.TensorProto, n)}
        self.producer = {out: node for node in self.graph.node for out in node.output}
        self.consumers: dict[str, list] = {}
        for node in self.graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
        self.init_dims = {t.name: list(t.dims) for t in self.graph.initializer}
        self.init_type = {t.name: t.data_type for t in self.graph.initializer}
        for node in self.graph.node:
            if node.op_type == "Constant":
                for attr in node.attribute:
                    if attr.name == "value":
                        self.init_dims[node.output[0]] = list(attr.t.dims)
                        self.init_type[node.output[0]] = attr.t.data_type

    def is_constant(self, name: str) -> bool:
        return name in self.init_dims

    def source(self, name: str):
        """The first node above `name` that is not a pass-through (None at a graph input or initializer)."""
        node = self.producer.get(name)
        while node is not None and node.op_type in PASS_THROUGH:
            node = self.producer.get(node.input[0])
        return node

    def is_fp8_dq(self, node) -> bool:
        if node is None or node.op_type != "DequantizeLinear":
            return False
        x = node.input[0]
        zero_point = node.input[2] if len(node.input) > 2 else ""
        if self.init_type.get(x) in self.fp8 or self.init_type.get(zero_point) in self.fp8:
            return True
        q = self.producer.get(x)
        if q is not None and q.op_type == "QuantizeLinear":
            q_zero = q.input[2] if len(q.input) > 2 else ""
            if self.init_type.get(q_zero) in self.fp8:
                return True
            return any(a.name == "output_dtype" and a.i in self.fp8 for a in q.attribute)
        return False

    def weight_of(self, node) -> tuple[str | None, list[int] | None]:
        """The rank-2 constant weight a MatMul/Gemm reads (through Q, DQ and pass-throughs), or (None, None)."""
        name = node.input[1]
        for _ in range(6):
            if self.is_constant(name):
                dims = self.init_dims[name]
                return (name, dims) if len(dims) == 2 else (None, None)
            producer = self.producer.get(name)
            if producer is None or producer.op_type not in (*PASS_THROUGH, "DequantizeLinear", "QuantizeLinear"):
                return None, None
            name = producer.input[0]
        return None, None

    def head(self):
        """The MatMul/Gemm nearest above the output, walking through any op's inputs breadth first."""
        seen, frontier = set(), [ONNX_OUTPUT]
        while frontier:
            nxt = []
            for name in frontier:
                node = self.producer.get(name)
                if node is None or id(node) in seen:
                    continue
                seen.add(id(node))
                if node.op_type in LINEAR_OPS:
                    return node
                nxt.extend(node.input)
            frontier = nxt
        return None


def _axes(value_info) -> list[str | int]:
    dims = value_info.type.tensor_type.shape.dim
    return [d.dim_param if d.dim_param else (d.dim_value if d.HasField("dim_value") else "?") for d in dims]


def _io_failures(g: Graph) -> tuple[dict[str, list], list[str]]:
    """The engine contract's inputs and output: names, element types, dynamic axes -> (axes, failures)."""
    onnx = require("onnx", purpose="graph checks")
    failures: list[str] = []
    inputs = {i.name: i for i in g.graph.input}
    outputs = {o.name: o for o in g.graph.output}
    axes: dict[str, list] = {}
    for name in ONNX_INPUTS:
        if name not in inputs:
            failures.append(f"input {name!r} is missing (inputs: {sorted(inputs)})")
            continue
        info = inputs[name]
        axes[name] = _axes(info)
        if info.type.tensor_type.elem_type != onnx.TensorProto.INT64:
            failures.append(f"input {name!r} must be int64")
        if len(axes[name]) != 2 or not all(isinstance(a, str) and a for a in axes[name]):
            failures.append(f"input {name!r} must have dynamic [batch, seq] axes, has {axes[name]}")
    if ONNX_OUTPUT not in outputs:
        failures.append(f"output {ONNX_OUTPUT!r} is missing (outputs: {sorted(outputs)})")
    else:
        info = outputs[ONNX_OUTPUT]
        axes[ONNX_OUTPUT] = _axes(info)
        if info.type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
            failures.append(f"output {ONNX_OUTPUT!r} must be float32")
        if len(axes[ONNX_OUTPUT]) != 1 or not isinstance(axes[ONNX_OUTPUT][0], str):
            failures.append(f"output {ONNX_OUTPUT!r} must have one dynamic [batch] axis, has {axes[ONNX_OUTPUT]}")
    return axes, failures


def check_model(model, *, quantized: bool) -> GraphCheck:
    """An ONNX ModelProto -> `GraphCheck` (see the module docstring for the rules).

    Args:
        model: The graph (weights need not be loaded).
        quantized: Whether the graph must carry FP8 Q/DQ on the body's linear layers.
    """
    g = Graph(model)
    axes, failures = _io_failures(g)
    head = g.head()
    linears, quantized_linears, unquantized, attention, attention_q = [], [], [], [], 0
    for node in g.graph.node:
        if node.op_type not in LINEAR_OPS or node is head:
            continue
        weight, _ = g.weight_of(node)
        if weight is None:
            # Activation x activation: attention's QK^T and PV, and rotary's frequency product.
            attention.append(node.name)
            attention_q += all(g.is_fp8_dq(g.source(i)) for i in node.input[:2])
            continue
        linears.append(node.name)
        if all(g.is_fp8_dq(g.source(i)) for i in node.input[:2]):
            quantized_linears.append(node.name)
        else:
            unquantized.append(node.name)

    qdq = sum(node.op_type in ("QuantizeLinear", "DequantizeLinear") for node in g.graph.node)
    head_quantized = head is not None and any(
        g.source(i) is not None and g.source(i).op_type == "DequantizeLinear" for i in head.input
    )
    if head is None:
        failures.append(f"no MatMul/Gemm feeds {ONNX_OUTPUT!r}: the score head is missing")
    elif head_quantized:
        failures.append(f"the score head {head.name!r} reads a DequantizeLinear: it must stay in high precision")
    embedding_quantized = any(
        node.op_type == "Gather"
        and g.source(node.input[0]) is not None
        and g.source(node.input[0]).op_type == "DequantizeLinear"
        for node in g.graph.node
    )
    if embedding_quantized:
        failures.append("the embedding table is read through a DequantizeLinear: embeddings must stay unquantized")
    if not linears:
        failures.append("no linear layers (MatMul/Gemm with a weight) found in the body")
    if quantized:
        if unquantized:
            shown = ", ".join(unquantized[:4]) + (" ..." if len(unquantized) > 4 else "")
            failures.append(
                f"{len(unquantized)} of {len(linears)} body linear layers do not read an FP8 DequantizeLinear on "
                f"both inputs: {shown}"
            )
    elif qdq:
        failures.append(f"an unquantized graph must hold no Q/DQ nodes, found {qdq}")
    details = {
        "axes": axes,
        "linear_layers": len(linears),
        "fp8_linear_layers": len(quantized_linears),
        "activation_matmuls": len(attention),
        "fp8_activation_matmuls": attention_q,
        "qdq_nodes": qdq,
        "head": head.name if head is not None else None,
        "head_quantized": head_quantized,
        "embedding_quantized": embedding_quantized,
        "opset": max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=None),
        "custom_domains": sorted({n.domain for n in g.graph.node if n.domain not in ("", "ai.onnx")}),
    }
    if details["custom_domains"]:
        failures.append(
            f"nodes in custom domains {details['custom_domains']}: TensorRT and onnxruntime need standard ops"
        )
    return GraphCheck(passed=not failures, details=details, failures=failures)


def check_graph(onnx_path: str | Path, *, quantized: bool) -> GraphCheck:
    """An ONNX file -> `GraphCheck`, reading the graph without its weights' external data."""
    onnx = require("onnx", purpose="graph checks")
    return check_model(onnx.load(str(onnx_path), load_external_data=False), quantized=quantized)


# -- the TensorRT graph's tensor types -------------------------------------------------------------------------

RESIDUAL_ADD = re.compile(r"^/body/layers\.\d+/Add(_1)?$")
NORM_OUTPUT = re.compile(r"^/body/layers\.\d+/(input|post_attention)_layernorm/Mul_1$")
FINAL_NORM = "/body/norm/"


def _tensor_types(model) -> dict[str, int]:
    """Every tensor's element type, by ONNX type inference over the graph (weights need not be loaded)."""
    onnx = require("onnx", purpose="graph checks")
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    graph = inferred.graph
    types = {v.name: v.type.tensor_type.elem_type for v in (*graph.value_info, *graph.input, *graph.output)}
    types.update({t.name: t.data_type for t in graph.initializer})
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    types[node.output[0]] = attr.t.data_type
    return types


def check_tensor_types(model, *, body: str, quantized: bool) -> GraphCheck:
    """The TensorRT graph's types -> `GraphCheck`: a strongly typed engine runs in exactly these types.

    Rules: attention (both activation MatMuls, Softmax), each RMSNorm's output, the residual adds and every body
    linear's output are `body` ("bf16"/"fp16"); on FP8 graphs each body linear reads FP8 DequantizeLinears whose
    outputs are `body`; the final norm and the score head are float32.
    """
    onnx = require("onnx", purpose="graph checks")
    want = {"bf16": onnx.TensorProto.BFLOAT16, "fp16": onnx.TensorProto.FLOAT16}[body]
    fp32 = onnx.TensorProto.FLOAT
    g = Graph(model)
    types = _tensor_types(model)
    head = g.head()
    name = onnx.TensorProto.DataType.Name
    failures: list[str] = []
    counts = {
        "softmax": 0,
        "attention_ops": 0,
        "norm_outputs": 0,
        "residual_adds": 0,
        "body_linears": 0,
        "attention_matmuls": 0,
    }

    def expect(node, kind: str, dtype: int, tensors: list[str]) -> None:
        got = [types.get(t, 0) for t in tensors]
        if any(t != dtype for t in got):
            failures.append(f"{kind} {node.name!r}: {[name(t) for t in got]}, expected {name(dtype)}")

    for node in g.graph.node:
        if node.op_type == "Softmax":
            counts["softmax"] += 1
            expect(node, "Softmax", want, [*node.input[:1], *node.output])
        elif node.op_type == "Attention":
            counts["attention_ops"] += 1
            expect(node, "Attention", want, [*node.input[:3], *node.output[:1]])
        elif NORM_OUTPUT.match(node.name):
            counts["norm_outputs"] += 1
            expect(node, "RMSNorm output", want, list(node.output))
        elif RESIDUAL_ADD.match(node.name):
            counts["residual_adds"] += 1
            expect(node, "residual Add", want, [*node.input[:2], *node.output])
        elif node.name.startswith(FINAL_NORM) and node.op_type != "Constant":
            floats = [t for t in (*node.input, *node.output) if types.get(t) in (fp32, want)]
            expect(node, "final norm", fp32, floats)
        elif node.op_type in LINEAR_OPS and node is head:
            expect(node, "score head", fp32, [*node.input[:2], *node.output])
        elif node.op_type in LINEAR_OPS and g.weight_of(node)[0] is not None:
            counts["body_linears"] += 1
            expect(node, "body linear", want, [*node.input[:2], *node.output])
            if quantized and not all(g.is_fp8_dq(g.producer.get(i)) for i in node.input[:2]):
                failures.append(f"body linear {node.name!r} is not fed by an FP8 DequantizeLinear on both inputs")
        elif node.op_type in LINEAR_OPS:
            counts["attention_matmuls"] += 1
            expect(node, "attention MatMul", want, [*node.input[:2], *node.output])
    if not counts["softmax"] and not counts["attention_ops"]:
        failures.append("no attention (Softmax or Attention) found: the graph does not look like the exported body")
    for kind in ("norm_outputs", "residual_adds", "body_linears"):
        if not counts[kind]:
            failures.append(f"no {kind.replace('_', ' ')} found: the graph does not look like the exported body")
    if head is None:
        failures.append("no score head found")
    return GraphCheck(passed=not failures, details={"body": body, **counts}, failures=failures)


def check_fused_attention(model) -> GraphCheck:
    """The TensorRT graph's attention -> `GraphCheck`: the form TensorRT's fused attention takes.

    Rules (see `rerankrt.build.export.fused_attention_model` for why this form): every layer's attention is one
    ONNX ``Attention`` with ``is_causal=1`` and no mask input, so no [1, 1, S, S] mask reaches it; no Softmax is
    left (an unfused attention with its runtime mask); no Expand feeds an Attention's K or V (repeat_kv), and no
    Expand or Where remains in the body's attention at all; the opset is at least 23.
    """
    g = Graph(model)
    failures: list[str] = []
    ops = [n for n in g.graph.node if n.op_type == "Attention"]
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if not ops:
        failures.append("no ONNX Attention node: attention is not in the form TensorRT fuses")
    if opset < 23:
        failures.append(f"opset {opset}: the ONNX Attention op needs opset 23")
    for node in ops:
        causal = next((a.i for a in node.attribute if a.name == "is_causal"), 0)
        if not causal:
            failures.append(f"Attention {node.name!r} is not causal (is_causal=0)")
        if len(node.input) > 3 and any(node.input[3:]):
            failures.append(f"Attention {node.name!r} reads a mask or past K/V: {list(node.input[3:])}")
        for name in node.input[1:3]:
            upstream = g.producer.get(name)
            while upstream is not None and upstream.op_type in (*PASS_THROUGH, "Expand"):
                if upstream.op_type == "Expand":
                    failures.append(f"Attention {node.name!r} reads a repeated (Expand) K/V {name!r}")
                    break
                upstream = g.producer.get(upstream.input[0])
    softmax = [n.name for n in g.graph.node if n.op_type == "Softmax"]
    if softmax:
        failures.append(f"{len(softmax)} Softmax node(s) remain outside Attention: {softmax[:3]}")
    leftovers = [n.name for n in g.graph.node if n.op_type in ("Expand", "Where") and "/self_attn/" in n.name]
    if leftovers:
        failures.append(f"repeat_kv or mask nodes remain in attention: {leftovers[:3]}")
    details = {"attention_ops": len(ops), "softmax": len(softmax), "opset": opset}
    return GraphCheck(passed=not failures, details=details, failures=failures)


def check_trt_graph(onnx_path: str | Path, *, body: str, quantized: bool, fused_attention: bool = True) -> GraphCheck:
    """The TensorRT graph file -> structural check (as `check_model`), its tensor types and (by default) its fused
    attention form (`check_fused_attention`), in one verdict."""
    onnx = require("onnx", purpose="graph checks")
    model = onnx.load(str(onnx_path), load_external_data=False)
    parts = [check_model(model, quantized=quantized), check_tensor_types(model, body=body, quantized=quantized)]
    if fused_attention:
        parts.append(check_fused_attention(model))
    details = dict(parts[0].details, types=parts[1].details)
    if fused_attention:
        details["attention"] = parts[2].details
    return GraphCheck(
        passed=all(p.passed for p in parts), details=details, failures=[f for p in parts for f in p.failures]
    )
