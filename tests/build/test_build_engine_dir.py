"""The CPU-reachable build chain on tiny models: engine directories that load, score and say what they are."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rerankrt.build.check import check_graph
from rerankrt.calibration.dataset import dataset_sha256, load_pairs
from rerankrt.manifest import ManifestError, read_manifest
from rerankrt.prompt import PromptEncoder
from rerankrt.runtime.backends.base import BackendError
from rerankrt.runtime.backends.onnx import OnnxBackend, graph_precision
from rerankrt.runtime.backends.torch import TorchBackend
from rerankrt.tokenizer import padded_batch

LIMITS = {"max_batch_size": 16, "max_seq_len": 1024, "max_num_tokens": 8192}


def _batch(engine_dir, n=12):
    encoder = PromptEncoder(engine_dir / "tokenizer", template="seed", max_length=512)
    pairs = load_pairs(split="heldout")[:n]
    encoded = encoder.encode([p.query for p in pairs], [p.document for p in pairs], [p.instruction for p in pairs])
    return padded_batch(encoded.ids, encoder.pad_id)


def test_cpu_engine_dir_is_a_verified_onnxruntime_directory(cpu_engine_dir):
    manifest = read_manifest(cpu_engine_dir)
    assert manifest.backend == "onnxruntime"
    assert manifest.precision == "fp32"
    assert manifest.target.gpu == "cpu" and manifest.target.compute_capability is None
    assert manifest.artifacts.as_dict() == {"onnx": "model.onnx"}
    assert manifest.artifacts.engine is None and manifest.target.tensorrt_version is None
    assert set(manifest.limits.as_dict()) == {"max_batch_size", "max_seq_len", "max_num_tokens"}
    assert (manifest.token_ids.yes, manifest.token_ids.no, manifest.token_ids.pad) == (16, 15, 151643)
    assert manifest.template == "seed" and manifest.max_length == 512
    assert manifest.model.form == "causal" and manifest.model.sha256
    assert manifest.calibration.sha256 == dataset_sha256()
    assert manifest.gate.passed and manifest.gate.metrics["max_abs_error"] < 1e-3
    # The gate says which graph it scored and in which precision.
    assert manifest.gate.precision == "fp32" and "model.fp32.onnx" in manifest.gate.graph
    assert manifest.serving.batch_tokens == 2048  # rerankrt/configs/cpu.yaml
    for name in ("model.onnx", "report.json", "report.md", "report.png", "tokenizer/tokenizer.json"):
        assert name in manifest.files, name
    assert (cpu_engine_dir / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert check_graph(cpu_engine_dir / "model.onnx", quantized=False).passed


def test_tampered_directory_is_refused(cpu_engine_dir, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(cpu_engine_dir, copy)
    (copy / "report.md").write_text("changed")
    with pytest.raises(ManifestError, match="report.md"):
        read_manifest(copy)


def test_fp32_graph_equals_torch_reference(cpu_engine_dir, tiny_classifier_dir):
    ids, lengths = _batch(cpu_engine_dir)
    onnx_scores = OnnxBackend(cpu_engine_dir / "model.onnx", **LIMITS).score(ids, lengths)
    reference = TorchBackend(tiny_classifier_dir, **LIMITS).score(ids, lengths)
    assert onnx_scores.dtype == np.float32 and onnx_scores.shape == (len(ids),)
    np.testing.assert_allclose(onnx_scores, reference, atol=1e-4, rtol=0)
    assert np.ptp(reference) > 0.01  # the comparison is not between two constants


def test_onnx_backend_rows_do_not_see_each_other(cpu_engine_dir):
    backend = OnnxBackend(cpu_engine_dir / "model.onnx", threads=1, **LIMITS)
    ids, lengths = _batch(cpu_engine_dir, n=4)
    together = backend.score(ids, lengths)
    alone = np.array([backend.score(ids[i : i + 1, : lengths[i]], lengths[i : i + 1])[0] for i in range(4)])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    padded = np.concatenate([ids, np.full((4, 9), 151643, dtype=np.int64)], axis=1)
    np.testing.assert_allclose(backend.score(padded, lengths), together, atol=1e-5)
    assert backend.name == "onnxruntime" and backend.precision == "fp32"


def test_onnx_backend_enforces_limits_and_contract(cpu_engine_dir, tmp_path):
    backend = OnnxBackend(cpu_engine_dir / "model.onnx", max_batch_size=2, max_seq_len=32, max_num_tokens=48)
    with pytest.raises(ValueError, match="max_batch_size"):
        backend.score(np.ones((3, 8), dtype=np.int64), np.full(3, 8))
    with pytest.raises(ValueError, match="max_num_tokens"):
        backend.score(np.ones((2, 30), dtype=np.int64), np.full(2, 30))
    with pytest.raises(BackendError, match="no ONNX graph"):
        OnnxBackend(tmp_path / "missing.onnx", **LIMITS)
    backend.close()
    with pytest.raises(BackendError):
        backend.health()


def test_fp8_engine_dir_is_honest_about_its_engine(fp8_engine_dir):
    manifest = read_manifest(fp8_engine_dir)
    assert manifest.backend == "onnxruntime"  # no TensorRT engine: served on the CPU for checking
    assert manifest.target.precision == "fp8" and manifest.target.compute_capability == "9.0"
    assert manifest.target.graph_precision == "fp8"
    assert manifest.limits.max_num_tokens == 32768
    assert len(manifest.target.profiles) >= 1
    assert manifest.artifacts.engine is None and not (fp8_engine_dir / "engine.plan").exists()
    assert any("--onnx-only" in note for note in manifest.notes)
    assert manifest.calibration.calibration_pairs == 64
    assert manifest.calibration.sha256 == dataset_sha256()
    assert manifest.details["quantization"]["route"] in ("torch", "onnx_ptq")
    assert manifest.gate.precision == "fp8" and "model.fp8.onnx" in manifest.gate.graph
    assert manifest.model.form == "causal"  # the classifier folder carries its conversion record
    assert graph_precision(fp8_engine_dir / "model.onnx") == "fp8"
    report = json.loads((fp8_engine_dir / "report.json").read_text())
    assert report["passed"] and report["gate"]["metrics"]["pairs"] >= 16


def test_fp8_graph_structure(fp8_engine_dir):
    check = check_graph(fp8_engine_dir / "model.onnx", quantized=True)
    assert check.passed, check.failures
    d = check.details
    assert d["linear_layers"] == 2 * 7 and d["fp8_linear_layers"] == 14  # q, k, v, o, gate, up, down per layer
    assert not d["head_quantized"] and not d["embedding_quantized"]
    assert d["axes"]["input_ids"] == ["batch", "seq"] and d["axes"]["scores"] == ["batch"]
    assert d["opset"] >= 19 and d["custom_domains"] == []


def test_fp8_graph_runs_any_shape_and_tracks_reference(fp8_engine_dir, tiny_classifier_dir):
    backend = OnnxBackend(fp8_engine_dir / "model.onnx", **LIMITS)
    assert backend.precision == "fp8"
    for batch, seq in ((1, 5), (3, 40)):
        ids = np.random.default_rng(batch).integers(100, 5000, size=(batch, seq))
        assert backend.score(ids, np.full(batch, seq)).shape == (batch,)
    ids, lengths = _batch(fp8_engine_dir, n=16)
    fp8 = backend.score(ids, lengths)
    reference = TorchBackend(tiny_classifier_dir, **LIMITS).score(ids, lengths)
    assert np.corrcoef(fp8, reference)[0, 1] > 0.95
    assert np.abs(fp8 - reference).max() > 0  # it really is quantized


def test_int8_cpu_graph_keeps_the_head_in_float32(cpu_engine_dir, tiny_classifier_dir, tmp_path):
    from rerankrt.build.stages import int8_onnx_from_onnx

    path = int8_onnx_from_onnx(cpu_engine_dir / "model.onnx", tmp_path / "model.int8.onnx")
    backend = OnnxBackend(path, **LIMITS)
    assert backend.precision == "int8"
    ids, lengths = _batch(cpu_engine_dir, n=16)
    int8 = backend.score(ids, lengths)
    reference = TorchBackend(tiny_classifier_dir, **LIMITS).score(ids, lengths)
    assert np.corrcoef(int8, reference)[0, 1] > 0.8
    import onnx

    model = onnx.load(str(path))
    head = next(n for n in model.graph.node if n.output and "score" in n.name and n.op_type == "MatMul")
    assert head.op_type == "MatMul"  # not MatMulInteger: excluded from quantization


def test_int8_cpu_option_needs_its_own_thresholds():
    from rerankrt.build.config import ConfigError, load_config

    assert load_config("cpu", {"int8_cpu": True}).int8_gate.min_spearman > 0
    with pytest.raises(ConfigError, match="int8_gate"):
        load_config("cpu", {"int8_cpu": True, "int8_gate": None})


def test_onnx_ptq_route_makes_a_checked_fp8_graph(cpu_engine_dir, tmp_path):
    from rerankrt.build.quantize import fp8_onnx_from_onnx
    from rerankrt.calibration.loop import length_batches

    encoder = PromptEncoder(cpu_engine_dir / "tokenizer", template="seed", max_length=512)
    pairs = load_pairs(split="calibration")[:32]
    encoded = encoder.encode([p.query for p in pairs], [p.document for p in pairs])
    batches = length_batches(encoded.ids, encoder.pad_id, max_tokens=4096)
    path, info = fp8_onnx_from_onnx(cpu_engine_dir / "model.onnx", tmp_path / "ptq.onnx", batches)
    read_manifest(cpu_engine_dir)  # the input graph is left exactly as its manifest hashed it
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("ptq-")], "the scratch copy is removed"
    check = check_graph(path, quantized=True)
    assert check.passed, check.failures
    assert info["route"] == "onnx_ptq" and graph_precision(path) == "fp8"


def test_autocast_makes_the_a100_bf16_graph_and_onnxruntime_refuses_it_clearly(cpu_engine_dir, tmp_path):
    import onnx

    from rerankrt.build.check import Graph
    from rerankrt.build.quantize import low_precision_onnx_from_onnx
    from rerankrt.calibration.loop import length_batches

    encoder = PromptEncoder(cpu_engine_dir / "tokenizer", template="seed", max_length=512)
    pairs = load_pairs(split="calibration")[:8]
    encoded = encoder.encode([p.query for p in pairs], [p.document for p in pairs])
    batch = length_batches(encoded.ids, encoder.pad_id, max_tokens=2048, max_batch=8)[0]
    path, info = low_precision_onnx_from_onnx(cpu_engine_dir / "model.onnx", tmp_path / "bf16.onnx", batch)
    read_manifest(cpu_engine_dir)  # the float32 graph is left exactly as its manifest hashed it
    assert info["route"] == "autocast" and graph_precision(path) == "bf16"
    assert graph_precision(cpu_engine_dir / "model.onnx") == "fp32"
    model = onnx.load(str(path))
    io = {v.name: v.type.tensor_type.elem_type for v in [*model.graph.input, *model.graph.output]}
    f32, i64 = onnx.TensorProto.FLOAT, onnx.TensorProto.INT64
    assert io == {"input_ids": i64, "attention_mask": i64, "scores": f32}  # the engine contract's I/O types
    weights = {t.name: t.data_type for t in model.graph.initializer}
    head = Graph(model).head()
    assert head is not None and [weights[i] for i in head.input if i in weights] == [f32]  # the score head: float32
    assert sum(t == onnx.TensorProto.BFLOAT16 for t in weights.values()) > len(weights) // 2
    with pytest.raises(BackendError, match="BF16 graph.*backend='tensorrt'"):
        OnnxBackend(path, max_batch_size=1, max_seq_len=64, max_num_tokens=64)
