"""The accuracy gate and the structural checks catch damaged graphs, and a damaged build fails naming the metric."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from rerankrt.build import pipeline, quantize, stages
from rerankrt.build.check import Graph, check_model
from rerankrt.build.config import load_config
from rerankrt.build.gate import gate_from_metrics, metrics_from_scores
from rerankrt.calibration.dataset import load_pairs
from rerankrt.calibration.loop import encode_pairs
from rerankrt.prompt import PromptEncoder
from tests.conftest import TINY_FP8_GATE, TINY_OVERRIDES


@pytest.fixture(scope="module")
def config():
    return load_config("h100", {**TINY_OVERRIDES, "gate": TINY_FP8_GATE})


@pytest.fixture(scope="module")
def heldout(fp8_engine_dir, tiny_classifier_dir, config):
    """Held-out pairs (whole groups), their ids and the float32 reference scores."""
    pairs = stages._select_groups(load_pairs(split="heldout"), 60)
    encoder = PromptEncoder(fp8_engine_dir / "tokenizer", template="seed", max_length=config.max_length)
    encoded = encode_pairs(pairs, encoder)
    reference = stages.reference_scores_from_checkpoint(tiny_classifier_dir, encoded, encoder.pad_id, config)
    return encoded, [p.group for p in pairs], encoder.pad_id, reference


def _scale_weight_dq(model, factor: float):
    """Multiply the scale of the first FP8 weight DequantizeLinear by `factor` (a wrong FP8 scale)."""
    g = Graph(model)
    for node in model.graph.node:
        if node.op_type == "DequantizeLinear" and g.init_type.get(node.input[0]) in g.fp8:
            scale = node.input[1]
            for c in model.graph.node:
                if c.op_type == "Constant" and c.output[0] == scale:
                    value = numpy_helper.to_array(c.attribute[0].t) * factor
                    c.attribute[0].t.CopyFrom(numpy_helper.from_array(value.astype(np.float32), scale))
                    return model
            for t in model.graph.initializer:
                if t.name == scale:
                    t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t) * np.float32(factor), scale))
                    return model
    raise AssertionError("no FP8 weight DequantizeLinear found")


def _quantize_head(model, amax: float):
    """Put FP8 Q/DQ with a tiny amax on the score head's weight, as a careless FP8 recipe would."""
    head = Graph(model).head()
    weight = head.input[1]
    scale = numpy_helper.from_array(np.array(amax / 448.0, dtype=np.float32), "head_scale")
    model.graph.initializer.append(scale)
    q = helper.make_node("QuantizeLinear", [weight, "head_scale", quantize.ZERO_POINT], ["head_q"], saturate=1)
    dq = helper.make_node("DequantizeLinear", ["head_q", "head_scale", quantize.ZERO_POINT], ["head_dq"])
    head.input[1] = "head_dq"
    index = list(model.graph.node).index(head)
    model.graph.node.insert(index, dq)
    model.graph.node.insert(index, q)
    return model


def _gate(path, heldout, config):
    encoded, groups, pad_id, reference = heldout
    result, _ = stages.gate_from_graph(path, reference, encoded, groups, pad_id, config, "damaged")
    return result


def test_metrics_and_verdicts():
    ref = np.array([3.0, 2.0, 1.0, 0.0, -1.0, -2.0, 5.0, 4.0])
    groups = ["a"] * 6 + ["b"] * 2
    same = metrics_from_scores(ref, ref.copy(), groups)
    assert same["spearman"] == pytest.approx(1.0) and same["top1"] == 1.0 and same["max_abs_error"] == 0
    assert same["top5"] == 1.0 and same["groups_top5"] == 1
    thresholds = load_config("h100").gate
    assert gate_from_metrics(same, thresholds).passed
    reversed_ = metrics_from_scores(ref, -ref, groups)
    verdict = gate_from_metrics(reversed_, thresholds)
    assert not verdict.passed
    assert any(f.startswith("spearman -1.0000 < min 0.95") for f in verdict.failures)
    assert any(f.startswith("top1") for f in verdict.failures)  # every missed metric is named
    nan = metrics_from_scores(ref, np.full_like(ref, np.nan), groups)
    assert not gate_from_metrics(nan, thresholds).passed


def test_intact_fp8_graph_passes(fp8_engine_dir, heldout, config):
    assert _gate(fp8_engine_dir / "model.onnx", heldout, config).passed


def test_gate_catches_an_fp8_scale_times_1000(fp8_engine_dir, heldout, config, tmp_path):
    path = tmp_path / "scaled.onnx"
    onnx.save(_scale_weight_dq(onnx.load(str(fp8_engine_dir / "model.onnx")), 1000.0), str(path))
    assert check_model(onnx.load(str(path)), quantized=True).passed  # structurally fine: only numbers are wrong
    result = _gate(path, heldout, config)
    assert not result.passed
    assert any(f.startswith(("spearman", "max_abs_error", "mean_abs_error", "scores")) for f in result.failures)


def test_quantized_head_is_caught_by_check_and_gate(fp8_engine_dir, heldout, config, tmp_path):
    path = tmp_path / "head.onnx"
    model = _quantize_head(onnx.load(str(fp8_engine_dir / "model.onnx")), amax=1e-3)
    onnx.save(model, str(path))
    check = check_model(onnx.load(str(path)), quantized=True)
    assert not check.passed and any("score head" in f for f in check.failures)
    result = _gate(path, heldout, config)
    assert not result.passed
    assert any("abs_error" in f for f in result.failures)


def test_unquantized_layer_fails_the_structure_check(fp8_engine_dir):
    model = onnx.load(str(fp8_engine_dir / "model.onnx"))
    g = Graph(model)
    target = next(n for n in model.graph.node if n.op_type == "MatMul" and g.weight_of(n)[0] and n is not g.head())
    # Bypass the activation's Q/DQ: the MatMul now reads a float32 activation.
    dq = g.producer[target.input[0]]
    target.input[0] = g.producer[dq.input[0]].input[0]
    check = check_model(model, quantized=True)
    assert not check.passed and any("do not read an FP8 DequantizeLinear" in f for f in check.failures)
    assert not check_model(onnx.load(str(fp8_engine_dir / "model.onnx")), quantized=False).passed


def test_damaged_build_fails_naming_the_metric(tiny_classifier_dir, tmp_path, monkeypatch):
    original = quantize.fp8_onnx

    def damaged(**kwargs):
        path, info = original(**kwargs)
        onnx.save(_scale_weight_dq(onnx.load(str(path)), 1000.0), str(path))
        return path, info

    monkeypatch.setattr(quantize, "fp8_onnx", damaged)
    out = tmp_path / "engine"
    result = pipeline.build(
        gpu="h100",
        model=str(tiny_classifier_dir),
        out=out,
        onnx_only=True,
        max_calibration_pairs=32,
        config_overrides={**TINY_OVERRIDES, "max_heldout_pairs": 40, "gate": TINY_FP8_GATE},
    )
    assert result.exit_code == pipeline.EXIT_GATE == 4
    assert "accuracy gate failed" in result.message
    assert any(m in result.message for m in ("spearman", "max_abs_error", "mean_abs_error"))
    assert result.gate is not None and not result.gate.passed
    assert (out / "report.md").is_file() and "FAILED" in (out / "report.md").read_text()
    assert not (out / "manifest.json").exists()  # a failed build is never an engine directory
    assert (out.parent / "engine.work" / "model.fp8.onnx").is_file()  # earlier artifacts stay for a rerun
