"""The built engine's layer information (TensorRT engine inspector, DETAILED) -> a table and a verdict: did every
body linear become an FP8 GEMM, and did attention fuse?

Strongly typed networks run what the graph says, but a DQ -> MatMul pair TensorRT cannot fuse runs as a
dequantize followed by a BF16/FP32 GEMM, and attention TensorRT does not recognise runs as separate MatMul,
Softmax and MatMul kernels with a [batch, heads, seq, seq] tensor in between: both silently. With
``ProfilingVerbosity.DETAILED`` the engine inspector (``ICudaEngine.create_engine_inspector().
get_engine_information(LayerInformationFormat.JSON)``) lists each layer with its fused ONNX node names, types and
tactic, and this module reads that JSON.

The format read here is the one NVIDIA documents for the engine inspector (TensorRT developer guide, "Engine
Inspector"; the keys ``Layers``, ``Name``, ``LayerType``, ``Inputs``/``Outputs`` with ``Format/Datatype``,
``TacticName``, ``Metadata``). The parsing is tested on a layer-information JSON written by hand in that format
(tests/build/data/layers_fp8.json), not on one recorded from a real engine: no GPU was available.

Rules (each miss is named): on FP8 targets every body linear's ONNX MatMul name appears in a layer whose
inputs are FP8 or whose tactic is an FP8 (e4m3) GEMM; attention fused means one fused-attention layer (tactic or
type naming mha/fmha/flash/attention) per transformer layer and no stand-alone Softmax layer left.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

FP8_TOKENS = ("fp8", "float8", "e4m3")
FUSED_ATTENTION_TOKENS = ("fmha", "mha", "flash", "attention")
SOFTMAX = re.compile(r"softmax", re.IGNORECASE)


class TacticError(RuntimeError):
    """The engine built, but not with the kernels the target needs (see `TacticVerdict.failures`)."""


@dataclass(frozen=True)
class TacticVerdict:
    """What the engine inspector showed.

    Attributes:
        passed: Every rule held.
        fp8_gemms: Body linears found inside FP8 GEMM layers.
        body_linears_expected: Body linears the graph has.
        fused_attention: Fused-attention layers.
        unfused_softmax: Stand-alone Softmax layers (attention that did not fuse).
        failures: One line per broken rule.
    """

    passed: bool
    fp8_gemms: int
    body_linears_expected: int
    fused_attention: int
    unfused_softmax: int
    failures: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _layers(info: str | dict) -> list[dict[str, Any]]:
    data = json.loads(info) if isinstance(info, str) else info
    layers = data.get("Layers", []) if isinstance(data, dict) else data
    # Without DETAILED verbosity TensorRT lists layer names only (strings): nothing to verify.
    if any(not isinstance(layer, dict) for layer in layers):
        raise TacticError(
            "the engine's layer information has names only: build with ProfilingVerbosity.DETAILED to verify tactics"
        )
    return layers


def _datatype(tensors: list[dict[str, Any]] | None) -> str:
    return ", ".join(str(t.get("Format/Datatype", "?")) for t in tensors or [])


def _text(layer: dict[str, Any]) -> str:
    return " ".join(str(layer.get(k, "")) for k in ("Name", "LayerType", "TacticName", "Metadata")).lower()


def layer_rows(info: str | dict) -> list[dict[str, str]]:
    """Layer information JSON -> rows (layer, type, precision = output formats, tactic) for report.md."""
    return [
        {
            "name": str(layer.get("Name", "?")),
            "type": str(layer.get("LayerType", "?")),
            "precision": _datatype(layer.get("Outputs")),
            "tactic": str(layer.get("TacticName", "")),
        }
        for layer in _layers(info)
    ]


def _is_fp8_gemm(layer: dict[str, Any]) -> bool:
    inputs = _datatype(layer.get("Inputs")).lower()
    tactic = str(layer.get("TacticName", "")).lower()
    return any(t in inputs for t in FP8_TOKENS) or any(t in tactic for t in FP8_TOKENS)


def verdict_from_layers(
    info: str | dict, *, body_linears: list[str], transformer_layers: int, fp8: bool
) -> TacticVerdict:
    """Layer information + the graph's body linear node names -> `TacticVerdict`.

    Args:
        info: ``get_engine_information(LayerInformationFormat.JSON)`` output (str or parsed).
        body_linears: ONNX node names of the body's linear MatMuls (TensorRT keeps them in fused layer names).
        transformer_layers: Decoder layers in the model (one fused attention each).
        fp8: Whether every body linear must be an FP8 GEMM.
    """
    layers = _layers(info)
    found: set[str] = set()
    for layer in layers:
        if fp8 and _is_fp8_gemm(layer):
            name = str(layer.get("Name", "")) + " " + str(layer.get("Metadata", ""))
            found.update(n for n in body_linears if n in name)
    fused = sum(any(t in _text(layer) for t in FUSED_ATTENTION_TOKENS) for layer in layers)
    softmax = sum(
        bool(SOFTMAX.search(str(layer.get("LayerType", ""))))
        or (bool(SOFTMAX.search(str(layer.get("Name", "")))) and not any(t in _text(layer) for t in ("mha", "flash")))
        for layer in layers
    )
    failures = []
    if fp8 and len(found) < len(body_linears):
        missing = [n for n in body_linears if n not in found]
        failures.append(
            f"{len(missing)} of {len(body_linears)} body linears are not FP8 GEMMs (a DQ followed by a "
            f"higher-precision GEMM?): {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}"
        )
    if fused < transformer_layers or softmax:
        failures.append(
            f"attention did not fuse: {fused} fused-attention layers for {transformer_layers} decoder layers, "
            f"{softmax} stand-alone Softmax layers"
        )
    return TacticVerdict(
        passed=not failures,
        fp8_gemms=len(found),
        body_linears_expected=len(body_linears) if fp8 else 0,
        fused_attention=fused,
        unfused_softmax=softmax,
        failures=failures,
    )


def body_linear_names(onnx_path: str | Path) -> tuple[list[str], int]:
    """The TensorRT graph -> (its body linear MatMul names, decoder layer count)."""
    import onnx

    from rerankrt.build.check import LINEAR_OPS, Graph

    g = Graph(onnx.load(str(onnx_path), load_external_data=False))
    head = g.head()
    names = [
        n.name for n in g.graph.node if n.op_type in LINEAR_OPS and n is not head and g.weight_of(n)[0] is not None
    ]
    layers = {m.group(1) for n in names if (m := re.match(r"^/body/layers\.(\d+)/", n))}
    return names, len(layers)


def layer_information(engine_bytes, trt) -> tuple[str, Any]:
    """A serialized engine -> (its layer information JSON, the deserialized engine). GPU machines only; written
    from NVIDIA's API docs (``IEngineInspector.get_engine_information``), not executed here."""
    runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
    engine = runtime.deserialize_cuda_engine(engine_bytes)
    inspector = engine.create_engine_inspector()
    return inspector.get_engine_information(trt.LayerInformationFormat.JSON), engine
