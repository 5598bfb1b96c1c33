"""Config + model shape -> device memory the engine needs, per profile, before any build work; refusal if it
cannot fit the target GPU.

What is counted (bytes; an upper-bound style estimate, not TensorRT's allocator):

- weights: embedding table in the body precision (BF16), body linears in FP8 (1 byte) or BF16 (2 bytes), their
  biases, norms and the float32 score head;
- activations, per profile at its max shape (batch x seq = tokens): the tensors live at the widest point of one
  layer, BF16: residual, norm output, q, k, v and attention output (see `_per_token`), and the
  MLP's gate, up and product (3 x intermediate), plus their FP8 copies on FP8 targets and float32 rotary cos/sin
  per position. TensorRT reuses activation memory across layers, so one layer's worth bounds the peak;
- attention: fused (the kernel TensorRT's MHA fusion or IAttention runs; flash-style, O(seq) memory: softmax
  statistics per row and head in float32), or unfused (the [batch, heads, seq, seq] scores and probabilities in
  BF16, two tensors). The plan assumes fused attention, which compile.py verifies in the built engine; the
  unfused figure is recorded beside it;
- workspace: the builder's workspace limit, once (tactic scratch comes out of it).

Contexts: the runtime creates one execution context per profile, each owning the memory of its own profile
(ON_PROFILE_CHANGE), so the plan sums the profiles; with one shared user-managed buffer
(IExecutionContext.set_device_memory, sized to the largest get_device_memory_size_for_profile_v2) the figure
becomes the largest profile's, recorded as ``shared_total_bytes``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rerankrt.build.config import BuildConfig, ConfigError

BF16, FP8, FP32 = 2, 1, 4
HEADROOM = 0.9  # of the card: the CUDA context, cuBLAS/cuDNN handles and fragmentation take the rest


@dataclass(frozen=True, kw_only=True)
class ModelShape:
    """The transformer widths the estimate needs, from a checkpoint's config.json."""

    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    vocab: int

    def __post_init__(self) -> None:
        for name in ("hidden", "intermediate", "layers", "heads", "kv_heads", "vocab"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ModelShape.{name} must be a positive int, got {value!r}")
        if self.hidden % self.heads or self.heads % self.kv_heads:
            raise ValueError(f"ModelShape: hidden {self.hidden} / heads {self.heads} / kv_heads {self.kv_heads}")

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    @classmethod
    def from_checkpoint(cls, path: str | Path) -> ModelShape:
        """A checkpoint folder's config.json (causal or classifier form) -> `ModelShape`."""
        data = json.loads((Path(path) / "config.json").read_text())
        data = data.get("text_config", data)
        return cls(
            hidden=int(data["hidden_size"]),
            intermediate=int(data["intermediate_size"]),
            layers=int(data["num_hidden_layers"]),
            heads=int(data["num_attention_heads"]),
            kv_heads=int(data.get("num_key_value_heads") or data["num_attention_heads"]),
            vocab=int(data["vocab_size"]),
        )


def weights_bytes(shape: ModelShape, precision: str) -> int:
    """Engine weights: BF16 embedding table, body linears in FP8 or BF16 (+ BF16 biases, norms), FP32 head."""
    h, i, kv = shape.hidden, shape.intermediate, shape.kv_dim
    per_layer = h * h + 2 * h * kv + h * h + 3 * h * i  # q, k, v, o, gate, up, down
    linear = FP8 if precision == "fp8" else BF16
    extras = shape.layers * (h + 2 * kv + 2 * h) * BF16 + h * FP32  # qkv biases, two norms; final norm
    return shape.vocab * h * BF16 + shape.layers * per_layer * linear + extras + h * FP32


def _per_token(shape: ModelShape, precision: str) -> int:
    """Bytes per token live at one layer's widest point (see the module docstring)."""
    h, i, kv = shape.hidden, shape.intermediate, shape.kv_dim
    live = (3 * h + 2 * kv + 3 * i) * BF16  # residual, norm out, q, k, v, attention out; gate, up, act*up
    if precision == "fp8":
        live += (h + i) * FP8  # the quantized inputs of the widest GEMMs
    return live + 2 * shape.head_dim * FP32  # rotary cos and sin, float32, per position


def activation_bytes(shape: ModelShape, batch: int, seq: int, precision: str, *, fused: bool) -> int:
    """Activation memory of one profile at (batch, seq)."""
    tokens = batch * seq
    base = tokens * _per_token(shape, precision) + batch * seq * 2 * 8  # + int64 ids and mask
    if fused:
        return base + batch * shape.heads * seq * FP32 * 2  # softmax max and sum per row and head
    return base + 2 * batch * shape.heads * seq * seq * BF16 + seq * seq * BF16  # scores, probabilities, mask


@dataclass(frozen=True)
class MemoryPlan:
    """The estimate written into the manifest (details.memory) and checked against the card."""

    gpu_memory_bytes: int | None
    usable_bytes: int | None
    weights_bytes: int
    workspace_bytes: int
    profiles: list[dict[str, Any]]
    total_bytes: int
    shared_total_bytes: int
    unfused_total_bytes: int
    fits: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def memory_plan(config: BuildConfig, shape: ModelShape) -> MemoryPlan:
    """Config + shape -> `MemoryPlan` (sum over profiles: one context per profile owns its memory)."""
    weights = weights_bytes(shape, config.precision)
    rows = []
    for p in config.profiles:
        batch, seq = p.max
        rows.append(
            {
                "max": [batch, seq],
                "fused_bytes": activation_bytes(shape, batch, seq, config.precision, fused=True),
                "unfused_bytes": activation_bytes(shape, batch, seq, config.precision, fused=False),
            }
        )
    fused = [r["fused_bytes"] for r in rows]
    unfused = [r["unfused_bytes"] for r in rows]
    fixed = weights + config.workspace_bytes
    total = fixed + sum(fused)
    usable = int(config.gpu_memory_bytes * HEADROOM) if config.gpu_memory_bytes else None
    return MemoryPlan(
        gpu_memory_bytes=config.gpu_memory_bytes,
        usable_bytes=usable,
        weights_bytes=weights,
        workspace_bytes=config.workspace_bytes,
        profiles=rows,
        total_bytes=total,
        shared_total_bytes=fixed + max(fused, default=0),
        unfused_total_bytes=fixed + sum(unfused),
        fits=usable is None or total <= usable,
    )


def _gib(n: int) -> str:
    return f"{n / (1 << 30):.2f} GiB"


def check_memory(config: BuildConfig, shape: ModelShape) -> MemoryPlan:
    """Refuse a config whose profiles cannot fit the card it plans for.

    Raises:
        ConfigError: The estimate (weights + every profile's activations + workspace) exceeds the usable memory,
            naming the largest profile and what to lower.
    """
    plan = memory_plan(config, shape)
    if not plan.fits:
        worst = max(plan.profiles, key=lambda r: r["fused_bytes"])
        activations = plan.total_bytes - plan.weights_bytes - plan.workspace_bytes
        raise ConfigError(
            f"{config.gpu}: the engine needs about {_gib(plan.total_bytes)} (weights {_gib(plan.weights_bytes)}, "
            f"{len(plan.profiles)} profiles' activations {_gib(activations)}, workspace "
            f"{_gib(plan.workspace_bytes)}) but gpu_memory_bytes={config.gpu_memory_bytes} leaves "
            f"{_gib(plan.usable_bytes or 0)} usable; lower max_num_tokens (the largest profile, max "
            f"{worst['max']}, needs {_gib(worst['fused_bytes'])}) or workspace_bytes"
        )
    return plan


def compare_with_engine(plan: MemoryPlan, engine) -> list[dict[str, Any]]:
    """The estimate beside TensorRT's own figure per profile (a built ICudaEngine; GPU machines only).

    Written from TensorRT's documented API (``ICudaEngine.get_device_memory_size_for_profile_v2``, TensorRT 10.1+),
    not executed here.
    """
    out = []
    for k, row in enumerate(plan.profiles):
        actual = int(engine.get_device_memory_size_for_profile_v2(k))
        out.append({**row, "tensorrt_bytes": actual, "ratio": round(row["fused_bytes"] / max(actual, 1), 3)})
    return out
