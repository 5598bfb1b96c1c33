"""The graph TensorRT compiles: a BF16 body around the FP8 GEMMs, float32 where the numbers need it; and a CPU
estimate of what that graph computes.

Two graphs come out of every TensorRT-target build, the same network in two remainder precisions:

- the **twin** (``model.onnx``): the validated graph with a float32 remainder (FP8 Q/DQ on every body linear for
  FP8 targets, plain float32 for BF16 targets). onnxruntime runs it on the CPU: the gate checks it and an engine
  directory without engine.plan serves it.
- the **TensorRT graph** (``model.trt.onnx``): the twin with each layer's attention rewritten to one ONNX
  ``Attention`` (opset 23, ``is_causal=1``, K/V un-repeated; `rerankrt.build.export.fused_attention_model`
  has the evidence that TensorRT 10.14+ fuses this form), then converted with ModelOpt AutoCast
  (``modelopt.onnx.autocast.convert_to_mixed_precision``, bf16, every data/initializer bound off so nothing falls
  back by magnitude). A strongly typed network runs in the graph's own types, so this is what decides the
  engine's arithmetic: attention (the Attention op's Q, K, V and output), rotary's application, every RMSNorm's output,
  residual adds and the DQ outputs feeding the FP8 GEMMs are BF16. Kept in float32, by node name (`FP32_NODES`),
  as Hugging Face's BF16 Qwen2 does: each RMSNorm's statistics (Pow, ReduceMean, eps Add, Sqrt, Div and the
  x * rsqrt Mul; the weight Mul is BF16), rotary's angle computation (positions up to 8448 times the inverse
  frequencies lose whole radians in BF16's 8-bit mantissa; cos/sin are cast to BF16 afterwards), and everything
  from the final norm on (final norm, last-token pooling, score head).

Why BF16 and not FP16: Qwen2.5's residual stream carries activations in the thousands (the massive-activation
channels), beyond which FP16's 65504 leaves little headroom after a residual add or a squared norm statistic,
while BF16 has float32's range. AutoCast is ModelOpt's documented path for a strongly typed low-precision graph
("a FP32 ONNX produces a FP32 engine ... run AutoCast first"); it keeps the Q/DQ nodes and retypes their scales,
so each DQ outputs BF16 into its MatMul.

The **BF16 estimate** (`bf16_estimate_module`): the same network in torch, body in bfloat16 with ModelOpt's FP8
fake quantizers (already calibrated on the FP32 module), final norm and head in float32. It runs on the CPU and is
scored against the float32 reference next to the twin, so report.md shows both what the gate checked and what the
shipped numerics are expected to do. It is an estimate: torch's BF16 CPU kernels accumulate and round where
TensorRT's fused kernels may not.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import numpy as np

from rerankrt._optional import MissingDependencyError, require

TRT_ONNX_NAME = "model.trt.onnx"
# Node-name patterns (the TorchScript exporter names nodes by module path) that stay float32 in the TensorRT graph.
NORM_STATS = r"^/body/layers\.\d+/(input|post_attention)_layernorm/(Pow|ReduceMean|Add|Sqrt|Div|Mul)$"
ROTARY_ANGLES = r"^/body/rotary_emb/"
FP32_NODES = (NORM_STATS, ROTARY_ANGLES)
FINAL_NORM_PREFIX = "/body/norm/"
_DEPS = "pip install 'rerankrt[build]' (modelopt.onnx needs onnxscript, lief and cppimport)"


def fp32_tail_nodes(model) -> list[str]:
    """Names of the final norm and every node after it (pooling, score head, output cast), in graph order.

    The TorchScript exporter writes nodes in execution order, so everything from the final norm's first node on
    is the tail; the test on the written graph checks the head and the final norm really are float32.
    """
    names = [n.name for n in model.graph.node]
    start = next((i for i, name in enumerate(names) if name.startswith(FINAL_NORM_PREFIX)), None)
    if start is None:
        raise ValueError(f"no final norm ({FINAL_NORM_PREFIX}*) in the graph: cannot keep the score head in float32")
    return [name for name in names[start:] if name]


def trt_graph_from_twin(
    twin_onnx: str | Path, out_path: str | Path, feeds: dict[str, np.ndarray], *, precision: str = "bf16"
) -> tuple[Path, dict[str, Any]]:
    """float32-remainder graph (FP8 Q/DQ or plain) -> the BF16-body graph TensorRT compiles.

    Args:
        twin_onnx: The validated graph (``model.onnx`` of the engine directory).
        out_path: Where to write the TensorRT graph.
        feeds: One batch of real templated inputs for AutoCast's reference run.
        precision: "bf16" (default) or "fp16".

    Raises:
        MissingDependencyError: ``modelopt.onnx`` cannot be imported.
    """
    try:
        from modelopt.onnx.autocast import convert_to_mixed_precision
    except ImportError as exc:
        raise MissingDependencyError(
            f"the {precision} TensorRT graph is made with modelopt.onnx.autocast, which does not import here ({exc}); "
            f"{_DEPS}"
        ) from exc
    onnx = require("onnx", purpose="BF16 conversion")
    from rerankrt.build.export import fused_attention_onnx, onnx_files, save_onnx

    out_path = Path(out_path)
    # Attention in the form TensorRT fuses (one causal GQA ``Attention`` per layer, rerankrt.build.export),
    # written beside the output in float32 and converted from there; the twin keeps its decomposed attention.
    fused = fused_attention_onnx(twin_onnx, out_path.with_name(out_path.stem + ".attention.onnx"))
    tail = fp32_tail_nodes(onnx.load(str(fused), load_external_data=False))
    exclude = [*FP32_NODES, *(f"^{_escape(name)}$" for name in tail)]
    calibration = out_path.with_suffix(".autocast.npz")
    np.savez(calibration, **feeds)
    start = time.perf_counter()
    model = convert_to_mixed_precision(
        str(fused),
        low_precision_type=precision,
        keep_io_types=True,
        nodes_to_exclude=exclude,
        data_max=float("inf"),  # no magnitude fallbacks: the float32 islands are chosen by name, above
        init_max=float("inf"),
        calibration_data=str(calibration),
    )
    calibration.unlink(missing_ok=True)
    for path in onnx_files(fused):
        path.unlink()
    save_onnx(model, out_path)
    return out_path, {
        "tool": f"nvidia-modelopt {_modelopt_version()} modelopt.onnx.autocast.convert_to_mixed_precision",
        "body": precision,
        "attention": "ONNX Attention (opset 23), is_causal=1, un-repeated GQA K/V, no mask tensor",
        "float32": ["RMSNorm statistics", "rotary angles", "final norm", "pooling", "score head"],
        "opset": max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=None),
        "seconds": round(time.perf_counter() - start, 3),
    }


def _escape(name: str) -> str:
    import re

    return re.escape(name)


def _modelopt_version() -> str:
    try:
        import modelopt

        return str(modelopt.__version__)
    except Exception:  # noqa: BLE001 - a label only
        return "?"


# -- the CPU estimate of the shipped numerics ----------------------------------------------------------------


def bf16_estimate_module(scorer):
    """A scorer module (float32, ModelOpt-quantized or not) -> a BF16-body copy with float32 final norm and head.

    The quantizers' calibrated amax values travel with the copy, so FP8 fake quantization runs on BF16 inputs as
    the engine's Q/DQ do. Rotary keeps its float32 angles (transformers computes them in float32 and casts cos/sin
    to the activations' dtype), and each RMSNorm keeps float32 statistics, as in the TensorRT graph.
    """
    torch = require("torch", purpose="the BF16 estimate")
    module = copy.deepcopy(scorer).eval()
    body = module.body
    final_norm = body.norm
    body.to(torch.bfloat16)
    final_norm.to(torch.float32)
    body.rotary_emb.to(torch.float32)  # inv_freq stays float32

    class Float32Norm(torch.nn.Module):
        def __init__(self, inner) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, hidden):
            return self.inner(hidden.float())

    body.norm = Float32Norm(final_norm)
    module.score.to(torch.float32)
    return module


class TorchScorerBackend:
    """A scorer module as the minimal backend `scores_from_backend` drives: ``score(ids, lengths) -> float32``."""

    def __init__(self, module) -> None:
        self.module = module

    def score(self, input_ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        torch = require("torch", purpose="the BF16 estimate")
        ids = torch.from_numpy(np.ascontiguousarray(input_ids, dtype=np.int64))
        mask = (torch.arange(ids.shape[1])[None, :] < torch.from_numpy(np.asarray(lengths))[:, None]).long()
        with torch.no_grad():
            return self.module(ids, mask).float().numpy()


def bf16_estimate_scores(scorer, encoded, pad_id: int, *, max_tokens: int, max_batch: int) -> np.ndarray:
    """Held-out token ids -> scores of `bf16_estimate_module(scorer)` (torch on the CPU)."""
    from rerankrt.build.gate import scores_from_backend

    backend = TorchScorerBackend(bf16_estimate_module(scorer))
    return scores_from_backend(
        backend, encoded, pad_id, max_tokens=max_tokens, max_batch=max_batch, desc="BF16 estimate (torch)"
    )


__all__ = [
    "FP32_NODES",
    "TRT_ONNX_NAME",
    "MissingDependencyError",
    "bf16_estimate_module",
    "bf16_estimate_scores",
    "fp32_tail_nodes",
    "trt_graph_from_twin",
]
