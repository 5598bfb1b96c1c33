"""On a machine that builds engine.plan, the engine itself is gated against the float32 reference (issue 13).

No TensorRT here: the compile is faked to write a placeholder engine.plan, and the TensorRT backend is replaced by
one that scores with onnxruntime on the directory's twin graph (close to the reference: the gate passes) or with
noise (the gate must fail the build with exit 4). The real `TensorRTBackend` path runs only on a GPU.
"""

from __future__ import annotations

import numpy as np
import pytest

from rerankrt.build import pipeline
from rerankrt.manifest import read_manifest
from rerankrt.runtime.backends import tensorrt as trt_backend
from rerankrt.runtime.backends.onnx import OnnxBackend
from tests.conftest import TINY_CALIBRATION_PAIRS, TINY_FP8_GATE, TINY_OVERRIDES


def _fake_engine_scores(noise: bool):
    class EngineOnOnnx:
        """Stands in for TensorRTBackend: the twin graph's scores (or noise) for the engine's."""

        def __init__(self, engine_path, *, max_batch_size, max_seq_len, max_num_tokens, precision=None, device=0):
            self.graph = OnnxBackend(
                engine_path.parent / "model.onnx",
                max_batch_size=max_batch_size,
                max_seq_len=max_seq_len,
                max_num_tokens=max_num_tokens,
            )
            self.rng = np.random.default_rng(0)

        def score(self, input_ids, lengths):
            if noise:
                return self.rng.normal(0.0, 3.0, len(lengths)).astype(np.float32)
            return self.graph.score(input_ids, lengths)

        def close(self):
            self.graph.close()

    return EngineOnOnnx


@pytest.fixture
def fake_tensorrt(monkeypatch):
    def compile_placeholder(onnx_path, engine_path, config, timing_cache):
        engine_path.write_bytes(b"placeholder engine: the scores come from the fake backend")
        return {}

    monkeypatch.setattr(pipeline, "tensorrt_status", lambda: (True, ""))
    monkeypatch.setattr(pipeline, "engine_from_graph", compile_placeholder)
    monkeypatch.setattr(pipeline, "_verify_engine", lambda plan, info: None)

    def use(noise: bool) -> None:
        monkeypatch.setattr(trt_backend, "TensorRTBackend", _fake_engine_scores(noise))

    return use


def _build(tiny_classifier_dir, out):
    return pipeline.build(
        gpu="h100",
        model=str(tiny_classifier_dir),
        out=out,
        max_calibration_pairs=TINY_CALIBRATION_PAIRS,
        config_overrides={**TINY_OVERRIDES, "max_heldout_pairs": 48, "gate": TINY_FP8_GATE},
    )


def test_the_engine_itself_is_gated_and_recorded(tiny_classifier_dir, tmp_path, fake_tensorrt):
    fake_tensorrt(noise=False)
    result = _build(tiny_classifier_dir, tmp_path / "h100")
    assert result.exit_code == 0, result.message
    assert result.engine_built
    record = read_manifest(tmp_path / "h100").details["tensorrt"]["engine_gate"]
    assert record["ran"] is True and record["passed"] is True
    assert record["metrics"]["pairs"] > 0


def test_an_engine_that_misses_the_gate_fails_the_build(tiny_classifier_dir, tmp_path, fake_tensorrt):
    fake_tensorrt(noise=True)
    result = _build(tiny_classifier_dir, tmp_path / "h100")
    assert result.exit_code == pipeline.EXIT_GATE, result.message
    assert "TensorRT engine itself" in result.message
