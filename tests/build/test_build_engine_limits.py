"""Issue 13: the engine TensorRT compiles runs at the hardware's limit.

- profiles use the token budget at every length (the arithmetic, for every shipped config);
- memory is planned before the build and a config that cannot fit its card is refused;
- the engine inspector's layer information is read into a table and a verdict (on a hand-written JSON in NVIDIA's
  documented format: tests/build/data/layers_fp8.json; no GPU here);
- the TensorRT graph's tensor types: BF16 body, FP8 GEMM inputs, float32 final norm and head.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from rerankrt.build import pipeline
from rerankrt.build.config import ConfigError, load_config, profile_ladder
from rerankrt.build.memory import ModelShape, activation_bytes, check_memory, memory_plan, weights_bytes
from rerankrt.build.tactics import TacticError, body_linear_names, layer_rows, verdict_from_layers
from rerankrt.manifest import read_manifest
from tests.conftest import TINY_OVERRIDES

TENSORRT_TARGETS = ("h100", "l4", "a100")
QWEN_05B = ModelShape(hidden=896, intermediate=4864, layers=24, heads=14, kv_heads=2, vocab=151936)
LAYERS_JSON = Path(__file__).parent / "data" / "layers_fp8.json"


# -- profiles ---------------------------------------------------------------------------------------------------


def _runtime_rows(profiles, seq: int, limits) -> int:
    """What TensorRTBackend.max_rows returns (base limits, then the largest batch a profile holding seq allows),
    written out here independently of rerankrt.build.config."""
    fitting = [p.max[0] for p in profiles if p.min[1] <= seq <= p.max[1]]
    return min(limits.max_batch_size, limits.max_num_tokens // seq, max(fitting, default=0))


@pytest.mark.parametrize("gpu", TENSORRT_TARGETS)
def test_every_length_fills_three_quarters_of_the_budget(gpu):
    config = load_config(gpu)
    worst = 1.0
    for seq in range(1, config.max_seq_len + 1):
        rows = _runtime_rows(config.profiles, seq, config)
        assert rows >= 1, f"{gpu}: no profile holds seq {seq}"
        assert rows * seq <= config.max_num_tokens
        if rows < config.max_batch_size:
            worst = min(worst, rows * seq / config.max_num_tokens)
    assert worst >= 0.75, f"{gpu}: worst fill {worst:.3f}"
    # The runtime's profile choice holds every such batch: the smallest-area profile that contains it exists.
    for seq in (1, 497, 520, 2100, 6337, config.max_seq_len):
        rows = _runtime_rows(config.profiles, seq, config)
        assert any(p.max[0] >= rows and p.max[1] >= seq for p in config.profiles)


def test_ladder_shape_and_the_old_three_rungs_are_refused():
    ladder = profile_ladder(64, 8448, 32768)
    assert [p.max for p in ladder][:3] == [(3, 8448), (4, 8192), (5, 6144)]
    assert ladder[-1].max[0] == 64 and all(p.min == (1, 1) and p.opt == p.max for p in ladder)
    assert all(p.max[1] % 8 == 0 for p in ladder)
    old = [
        {"min": [1, 1], "opt": [32, 512], "max": [64, 512]},
        {"min": [1, 1], "opt": [8, 2048], "max": [16, 2048]},
        {"min": [1, 1], "opt": [1, 8192], "max": [4, 8448]},
    ]
    with pytest.raises(ConfigError, match=r"padded length 2049 the profiles hold 4 rows.*profiles: ladder"):
        load_config("h100", {"profiles": old})
    assert load_config("h100", {"profiles": old, "min_profile_fill": 0.0}).profiles[0].max == (64, 512)


def test_a_budget_under_three_rows_of_max_seq_len_cannot_fill_and_says_so():
    with pytest.raises(ConfigError, match=r"raise max_num_tokens to at least 3 x max_seq_len = 25344"):
        load_config("l4", {"max_num_tokens": 16384})


# -- memory -----------------------------------------------------------------------------------------------------


def test_memory_estimate_arithmetic():
    h, i, kv = 896, 4864, 128
    linears = 24 * (2 * h * h + 2 * h * kv + 3 * h * i)
    extras = 24 * (h + 2 * kv + 2 * h) * 2 + h * 4
    assert weights_bytes(QWEN_05B, "fp8") == 151936 * h * 2 + linears + extras + h * 4
    assert weights_bytes(QWEN_05B, "bf16") - weights_bytes(QWEN_05B, "fp8") == linears
    fused = activation_bytes(QWEN_05B, 3, 8448, "fp8", fused=True)
    unfused = activation_bytes(QWEN_05B, 3, 8448, "fp8", fused=False)
    per_token = (3 * h + 2 * kv + 3 * i) * 2 + (h + i) + 2 * 64 * 4
    assert fused == 3 * 8448 * per_token + 3 * 8448 * 16 + 3 * 14 * 8448 * 8
    # Unfused attention adds two [3, 14, 8448, 8448] BF16 tensors and the mask: ~12 GB at one profile.
    assert unfused - fused > 11.9e9


@pytest.mark.parametrize("gpu", TENSORRT_TARGETS)
def test_shipped_configs_fit_their_cards_with_fused_attention(gpu):
    config = load_config(gpu)
    plan = memory_plan(config, QWEN_05B)
    assert plan.fits and plan.total_bytes <= plan.usable_bytes
    assert plan.shared_total_bytes < plan.total_bytes < plan.unfused_total_bytes
    assert len(plan.profiles) == len(config.profiles)
    if gpu == "l4":
        assert plan.unfused_total_bytes > config.gpu_memory_bytes  # unfused attention could never run on L4


def test_a_config_that_cannot_fit_is_refused_naming_what_to_lower():
    config = load_config("l4", {"gpu_memory_bytes": 8 << 30})
    with pytest.raises(ConfigError, match=r"l4: the engine needs about .* lower max_num_tokens"):
        check_memory(config, QWEN_05B)


def test_build_refuses_before_any_work_and_records_the_plan(tiny_classifier_dir, tmp_path):
    out = tmp_path / "l4"
    result = pipeline.build(
        gpu="l4",
        model=str(tiny_classifier_dir),
        out=out,
        onnx_only=True,
        config_overrides={**TINY_OVERRIDES, "gpu_memory_bytes": 1 << 30},  # 4 GiB workspace alone exceeds it
    )
    assert result.exit_code == 2 and "gpu_memory_bytes" in result.message
    assert not out.exists() and "convert" not in result.timings


# -- tactics ----------------------------------------------------------------------------------------------------


def _tiny_linears() -> list[str]:
    names = []
    for layer in range(2):
        for proj in ("self_attn/q_proj", "self_attn/k_proj", "self_attn/v_proj", "self_attn/o_proj"):
            names.append(f"/body/layers.{layer}/{proj}/MatMul")
        for proj in ("mlp/gate_proj", "mlp/up_proj", "mlp/down_proj"):
            names.append(f"/body/layers.{layer}/{proj}/MatMul")
    return names


def test_inspector_json_with_fp8_gemms_and_fused_attention_passes():
    info = json.loads(LAYERS_JSON.read_text())
    verdict = verdict_from_layers(info, body_linears=_tiny_linears(), transformer_layers=2, fp8=True)
    assert verdict.passed, verdict.failures
    assert (verdict.fp8_gemms, verdict.fused_attention, verdict.unfused_softmax) == (14, 2, 0)
    rows = layer_rows(info)
    assert rows[1]["tactic"].startswith("sm90_xmma_gemm_e4m3") and rows[1]["precision"].endswith("BFloat16")
    assert rows[-1] == {
        "name": "/score/MatMul",
        "type": "gemm",
        "precision": "Row major linear FP32",
        "tactic": "sm90_xmma_gemm_f32f32_tf32f32_f32_tn_n_tilesize64x64x32_kernel",
    }


def test_inspector_names_a_dq_plus_bf16_gemm_and_unfused_attention():
    info = json.loads(LAYERS_JSON.read_text())
    bad = copy.deepcopy(info)
    gemm = next(layer for layer in bad["Layers"] if "down_proj/MatMul" in layer["Name"])
    gemm["Inputs"][0]["Format/Datatype"] = "Row major linear BFloat16"
    gemm["TacticName"] = "sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x128x64_kernel"
    attention = next(i for i, layer in enumerate(bad["Layers"]) if layer["LayerType"] == "kFMHA")
    bad["Layers"][attention] = {
        "Name": "/body/layers.0/self_attn/Softmax",
        "LayerType": "SoftMax",
        "Inputs": [],
        "Outputs": [{"Format/Datatype": "Row major linear BFloat16"}],
        "TacticName": "",
    }
    verdict = verdict_from_layers(bad, body_linears=_tiny_linears(), transformer_layers=2, fp8=True)
    assert not verdict.passed and verdict.fp8_gemms == 13
    assert "1 of 14 body linears are not FP8 GEMMs" in verdict.failures[0]
    assert "/body/layers.0/mlp/down_proj/MatMul" in verdict.failures[0]
    assert "attention did not fuse: 1 fused-attention layers for 2 decoder layers, 1 stand-alone" in verdict.failures[1]
    # A BF16 target (A100) does not ask for FP8 GEMMs, only fused attention.
    assert verdict_from_layers(info, body_linears=_tiny_linears(), transformer_layers=2, fp8=False).passed


def test_inspector_without_detailed_verbosity_is_an_error():
    with pytest.raises(TacticError, match="ProfilingVerbosity.DETAILED"):
        layer_rows({"Layers": ["/body/layers.0/self_attn/q_proj/MatMul", "/score/MatMul"]})


# -- the TensorRT graph -----------------------------------------------------------------------------------------


def test_fp8_build_writes_a_bf16_body_graph_for_tensorrt(fp8_engine_dir):
    from rerankrt.build.check import check_trt_graph

    manifest = read_manifest(fp8_engine_dir)
    assert manifest.artifacts.onnx == "model.onnx" and manifest.artifacts.onnx_tensorrt == "model.trt.onnx"
    typed = check_trt_graph(fp8_engine_dir / "model.trt.onnx", body="bf16", quantized=True)
    assert typed.passed, typed.failures
    assert typed.details["types"]["body_linears"] == typed.details["fp8_linear_layers"] == 14
    assert typed.details["types"]["attention_ops"] == 2 and typed.details["types"]["residual_adds"] == 4
    # The twin (onnxruntime's graph) keeps a float32 remainder: the same check names its FP32 tensors.
    twin = check_trt_graph(fp8_engine_dir / "model.onnx", body="bf16", quantized=True)
    assert not twin.passed and any("Softmax" in f and "FLOAT" in f for f in twin.failures)
    names, layers = body_linear_names(fp8_engine_dir / "model.trt.onnx")
    assert sorted(names) == sorted(_tiny_linears()) and layers == 2
    # Both fidelities: the gated twin and the CPU estimate of the BF16/FP8 numerics.
    estimate = manifest.gate.estimate
    assert estimate is not None and "BF16 body around FP8 fake quantization" in estimate["label"]
    assert estimate["metrics"]["pairs"] == manifest.gate.metrics["pairs"]
    report = json.loads((fp8_engine_dir / "report.json").read_text())
    assert report["fidelity"]["estimate"]["spearman"] == pytest.approx(estimate["metrics"]["spearman"])
    assert "## Fidelity: the gated twin and the estimate" in (fp8_engine_dir / "report.md").read_text()
    assert manifest.details["memory"]["fits"] and len(manifest.details["memory"]["profiles"]) == 13


@pytest.mark.slow
def test_half_billion_width_graph_types(tmp_path_factory):
    """0.5B widths (896/4864, 14/2 heads, the real 151936-token vocabulary), one layer: the typed FP8 graph at real
    widths. About 3 minutes on 2 busy cores (quantize 60 s, AutoCast 63 s, export 19 s): hence slow."""
    gpu = "h100"
    from rerankrt.build.check import check_trt_graph
    from rerankrt.models import write_tiny_model

    model = write_tiny_model(
        tmp_path_factory.mktemp("w05b"), form="classifier1", seed=0, shape="qwen2.5-0.5b", num_hidden_layers=1
    )
    out = tmp_path_factory.mktemp("engines") / gpu
    loose = {"min_spearman": 0.5, "min_kendall": 0.3, "min_top1": 0.3, "min_top5": 0.5}
    result = pipeline.build(
        gpu=gpu,
        model=str(model),
        out=out,
        onnx_only=True,
        max_calibration_pairs=32,
        config_overrides={
            "max_length": 256,
            "max_heldout_pairs": 24,
            "heldout_min_pairs": 8,
            "gate": {**loose, "max_abs_error": 5.0, "max_mean_abs_error": 2.0},
        },
    )
    assert result.exit_code == 0, result.message
    typed = check_trt_graph(out / "model.trt.onnx", body="bf16", quantized=True)
    assert typed.passed, typed.failures
    assert typed.details["types"]["body_linears"] == 7 and typed.details["types"]["attention_ops"] == 1
    assert read_manifest(out).gate.estimate is not None
