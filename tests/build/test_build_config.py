"""The shipped configs are validated before any work; FP8 where it cannot run and a missing TensorRT are refused."""

from __future__ import annotations

import pytest

from rerankrt._device import GPUS, tensorrt_status
from rerankrt.build import pipeline
from rerankrt.build.config import (
    ConfigError,
    check_against_device,
    config_path,
    load_config,
    resolve_gpu,
)
from rerankrt.manifest import read_manifest
from tests.conftest import TINY_FP8_GATE, TINY_OVERRIDES


@pytest.mark.parametrize("gpu", GPUS)
def test_shipped_configs_load(gpu):
    config = load_config(gpu)
    assert config_path(gpu).is_file() and config.gpu == gpu
    assert config.max_num_tokens >= config.max_seq_len >= config.max_length
    assert 0 < config.gate.min_spearman <= 1


def test_targets_say_what_they_are():
    h100, l4, a100, cpu = (load_config(g) for g in ("h100", "l4", "a100", "cpu"))
    assert (h100.precision, h100.compute_capability, h100.max_num_tokens) == ("fp8", "9.0", 32768)
    assert (l4.precision, l4.compute_capability) == ("fp8", "8.9")
    assert (a100.precision, a100.compute_capability) == ("bf16", "8.0")
    assert (cpu.precision, cpu.compute_capability, cpu.profiles) == ("fp32", None, ())
    for config in (h100, l4, a100):
        assert config.profiles and config.workspace_bytes >= 1 << 30 and 0 <= config.builder_optimization_level <= 5
        assert max(p.max[1] for p in config.profiles) == config.max_seq_len


def test_fp8_on_a100_is_refused_naming_bf16():
    with pytest.raises(ConfigError, match=r"sm80.*bf16"):
        load_config("a100", {"precision": "fp8"})


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"max_batch_size": 0}, "max_batch_size must be a positive int"),
        ({"max_num_tokens": 100}, "max_num_tokens=100 cannot hold one row"),
        ({"profiles": [{"min": [1, 1], "opt": [64, 1], "max": [8, 8448]}]}, "min <= opt <= max"),
        ({"profiles": [{"min": [1, 1], "opt": [1, 8], "max": [4, 512]}]}, "no profile reaches max_seq_len"),
        ({"precision": "int4"}, "precision must be one of"),
        ({"compute_capability": "nine"}, "not of the form"),
        ({"gate": {"min_spearman": 3}}, r"gate.min_spearman must lie in \[-1, 1\]"),
        ({"builder_optimization_level": 9}, "builder_optimization_level"),
        ({"quantization_route": "magic"}, "quantization_route"),
        ({"tokens": 3}, "unknown keys"),
    ],
)
def test_invalid_configs_say_what_to_change(overrides, match):
    with pytest.raises(ConfigError, match=match):
        load_config("h100", overrides)


def test_cpu_target_takes_no_gpu_settings():
    with pytest.raises(ConfigError, match="cpu target"):
        load_config("cpu", {"precision": "fp8"})
    with pytest.raises(ConfigError, match="no compute_capability"):
        load_config("cpu", {"compute_capability": "9.0"})


def test_unknown_gpu_and_missing_file():
    with pytest.raises(ConfigError, match="--gpu must be one of"):
        load_config("v100")
    with pytest.raises(ConfigError, match="no config file"):
        load_config("/nowhere/custom.yaml")


def test_auto_reads_the_compute_capability():
    assert resolve_gpu("auto", None) == ("cpu", {})
    assert resolve_gpu("auto", (9, 0)) == ("h100", {"compute_capability": "9.0"})
    assert resolve_gpu("auto", (8, 9)) == ("l4", {"compute_capability": "8.9"})
    assert resolve_gpu("auto", (8, 6)) == ("a100", {"compute_capability": "8.6"})
    assert resolve_gpu("h100", (8, 0)) == ("h100", {})
    with pytest.raises(ConfigError, match="sm75"):
        resolve_gpu("auto", (7, 5))


def test_device_checks_name_the_alternative():
    with pytest.raises(ConfigError, match=r"sm80, which has no FP8.*--gpu a100.*--onnx-only"):
        check_against_device(load_config("h100"), (8, 0))
    with pytest.raises(ConfigError, match="targets sm90 but the GPU here is sm89"):
        check_against_device(load_config("h100"), (8, 9))
    check_against_device(load_config("h100"), (9, 0))
    check_against_device(load_config("h100"), None)  # no GPU: nothing will be compiled here


def test_build_refuses_before_any_work(tmp_path, monkeypatch):
    out = tmp_path / "engine"
    result = pipeline.build(gpu="a100", model="/nowhere", out=out, config_overrides={"precision": "fp8"})
    assert result.exit_code == pipeline.EXIT_CONFIG == 2
    assert "configuration error" in result.message and "bf16" in result.message
    assert not out.exists()

    monkeypatch.setattr(pipeline, "detected_capability", lambda: (8, 0))
    result = pipeline.build(gpu="h100", model="/nowhere", out=out)
    assert result.exit_code == 2 and "--gpu a100" in result.message and "--onnx-only" in result.message
    assert not out.exists()

    result = pipeline.build(gpu="cpu", model="/nowhere", out=out, template="chatml")
    assert result.exit_code == 2 and "--template" in result.message


def test_no_or_too_little_calibration_data_is_an_error(tiny_classifier_dir, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    result = pipeline.build(
        gpu="h100", model=str(tiny_classifier_dir), out=tmp_path / "a", calibration=empty, onnx_only=True
    )
    assert result.exit_code == 2 and "never calibrate on random data" in result.message
    result = pipeline.build(
        gpu="h100",
        model=str(tiny_classifier_dir),
        out=tmp_path / "b",
        calibration=tmp_path / "missing.jsonl",
        onnx_only=True,
    )
    assert result.exit_code == 2 and "no calibration file" in result.message
    few = tmp_path / "few.jsonl"
    few.write_text(
        '{"query": "q", "document": "d", "split": "calibration"}\n' * 3
        + '{"query": "p", "document": "e", "split": "heldout"}\n' * 20
    )
    result = pipeline.build(
        gpu="h100", model=str(tiny_classifier_dir), out=tmp_path / "c", calibration=few, onnx_only=True
    )
    assert result.exit_code == 2 and "FP8 calibration needs at least" in result.message


def test_max_length_must_fit_the_engine(tiny_classifier_dir, tmp_path):
    result = pipeline.build(
        gpu="cpu",
        model=str(tiny_classifier_dir),
        out=tmp_path / "e",
        template="mxbai",
        config_overrides={"max_length": 8192, "max_seq_len": 8200},
    )
    assert result.exit_code == 2 and "lower max_length" in result.message


@pytest.mark.skipif(tensorrt_status()[0], reason="TensorRT and a GPU are present: this is the refusal path")
def test_missing_tensorrt_stops_after_the_gate_with_exit_3(tiny_classifier_dir, tmp_path):
    out = tmp_path / "engine"
    result = pipeline.build(
        gpu="h100",
        model=str(tiny_classifier_dir),
        out=out,
        max_calibration_pairs=32,
        config_overrides={**TINY_OVERRIDES, "max_heldout_pairs": 40, "gate": TINY_FP8_GATE},
    )
    assert result.exit_code == pipeline.EXIT_NO_TENSORRT == 3
    assert "TensorRT" in result.message and "pip install" in result.message and "--onnx-only" in result.message
    assert not result.engine_built and result.gate is not None and result.gate.passed
    manifest = read_manifest(out)  # still a valid directory, honest about the missing engine
    assert manifest.backend == "onnxruntime" and manifest.artifacts.engine is None
    assert any("no TensorRT engine" in note for note in manifest.notes)
    assert manifest.target.precision == "fp8"
    # Which graph the directory serves instead, in its own precision, and which graph the gate ran.
    assert any("the FP8 Q/DQ graph" in note for note in manifest.notes)
    assert "gate passed on the FP8 Q/DQ graph model.fp8.onnx" in result.message


def test_a100_build_says_it_gated_the_float32_graph(tiny_classifier_dir, tmp_path):
    """Issue 17: a BF16 target's gate runs on the float32 graph; the message, manifest and info say so."""
    out = tmp_path / "a100"
    result = pipeline.build(
        gpu="a100",
        model=str(tiny_classifier_dir),
        out=out,
        onnx_only=True,
        config_overrides={**TINY_OVERRIDES, "max_heldout_pairs": 40},
    )
    assert result.exit_code == 0, result.message
    assert "gate passed on the float32 graph model.fp32.onnx (onnxruntime)" in result.message
    assert "CPU estimate of the BF16 engine's numerics" in result.message
    manifest = read_manifest(out)
    assert manifest.target.precision == "bf16" and manifest.target.graph_precision == "fp32"
    assert manifest.gate.precision == "fp32" and "model.fp32.onnx" in manifest.gate.graph
    assert any("the accuracy gate ran on its float32-remainder twin model.onnx" in n for n in manifest.notes)
    # Issue 13: the graph TensorRT compiles is BF16 (model.trt.onnx); the estimate of its numerics is recorded.
    assert manifest.artifacts.onnx_tensorrt == "model.trt.onnx" and (out / "model.trt.onnx").is_file()
    assert manifest.gate.estimate is not None and manifest.gate.estimate["metrics"]["pairs"] >= 40
    from rerankrt.build.check import check_trt_graph

    typed = check_trt_graph(out / "model.trt.onnx", body="bf16", quantized=False)
    assert typed.passed, typed.failures
